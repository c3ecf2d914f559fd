"""Reading the user's files: every failure becomes one line that names the file."""

from __future__ import annotations

from pathlib import Path

from vr2.errors import Vr2Error


def read_bytes(path: str | Path, what: str = "file") -> bytes:
    """The file's bytes; `what` names it in errors."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise Vr2Error(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise Vr2Error(f"{path}: is a directory, not a {what}") from None
    except OSError as error:
        raise Vr2Error(f"{path}: cannot read {what} ({error.strerror or error})") from None


def read_text(path: str | Path, what: str = "file", *, encoding: str = "utf-8-sig") -> str:
    """The file's text (a UTF-8 byte-order mark is dropped); `what` names it in errors."""
    try:
        return read_bytes(path, what).decode(encoding)
    except UnicodeDecodeError:
        raise Vr2Error(f"{path}: {what} is not UTF-8 text") from None


def drop_partial_line(path: Path) -> bytes:
    """Cut a half-written last line (left by a crash) off an append-only JSONL file and return
    what remains, so a resumed run neither loses nor repeats a record."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        with path.open("r+b") as handle:
            handle.truncate(len(data))
    return data
