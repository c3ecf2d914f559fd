"""The one exception type the CLI turns into a one-line message and exit code 2."""


class Vr2Error(Exception):
    """A problem with the user's input or set-up, stated in one line.

    The message must name the file (or option) and what is wrong with it; the CLI prints
    it without a traceback.
    """


class MissingExtra(Vr2Error):
    """An optional dependency is not installed; the message names the pip command."""

    def __init__(self, module: str, install: str):
        super().__init__(f"this needs the optional package '{module}': run `{install}`")
        self.module = module
        self.install = install


class JudgeFailure(Exception):
    """A remote judge (LLM extractor or consistency checker) gave no usable answer.

    Callers mask the affected sample and count it; it must never turn into a score of 0.
    """


def first_line(error: BaseException, limit: int = 300) -> str:
    """An exception's message cut to its first line (at most `limit` characters) for a one-line
    Vr2Error; the exception's type name when it has no message."""
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:limit]
