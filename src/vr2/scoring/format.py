"""The model output format: `<think> ... </think><answer> ... </answer>`.

Tags are found with plain substring searches, not `<think>(.*?)</think>` patterns: such a pattern
restarts at every unclosed `<think>` and scans to the end each time, which is quadratic (200 KB
of repeated `<think>` took 24 s). Every function here is linear in the length of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN_THINK = re.compile(re.escape("<think>"), re.I)
_CLOSE_THINK = re.compile(re.escape("</think>"), re.I)
_OPEN_ANSWER = re.compile(re.escape("<answer>"), re.I)
_CLOSE_ANSWER = re.compile(re.escape("</answer>"), re.I)


@dataclass(frozen=True)
class Completion:
    """A completion split into its parts. Missing parts are None."""

    text: str
    think: str | None
    answer: str | None

    @property
    def format_ok(self) -> bool:
        return format_ok(self.text)


def blocks(text: str, opening: re.Pattern, closing: re.Pattern) -> list[tuple[re.Match, re.Match]]:
    """The (opening tag, closing tag) matches of every block, left to right, each closed by the
    nearest closing tag (tags in any letter case).

    Once an opening tag has no closing tag after it, no later one has either: the scan stops,
    so the work is one pass over the text.
    """
    found = []
    position = 0
    while True:
        start = opening.search(text, position)
        if start is None:
            return found
        end = closing.search(text, start.end())
        if end is None:
            return found
        found.append((start, end))
        position = end.end()


def without_think_blocks(text: str, replacement: str = " ") -> str:
    """The text with every closed `<think>...</think>` block (tags included) replaced."""
    parts = []
    position = 0
    for start, end in blocks(text, _OPEN_THINK, _CLOSE_THINK):
        parts += [text[position:start.start()], replacement]
        position = end.end()
    return "".join(parts) + text[position:]


def parse_completion(text: str) -> Completion:
    """Split a completion; the first closed <think> counts and the last <answer> wins when a
    model writes several."""
    think = _first_block(text, _OPEN_THINK, _CLOSE_THINK)
    answers = blocks(text, _OPEN_ANSWER, _CLOSE_ANSWER)
    return Completion(
        text=text,
        think=think.strip() if think is not None else None,
        answer=text[answers[-1][0].end():answers[-1][1].start()].strip() if answers else None,
    )


def _first_block(text: str, opening: re.Pattern, closing: re.Pattern) -> str | None:
    start = opening.search(text)
    end = closing.search(text, start.end()) if start else None
    return text[start.end():end.start()] if end else None


def unclosed_think(completion: str) -> str | None:
    """The reasoning of a <think> block that is never closed: from its opening tag to the first
    <answer> (or the end). None when there is no <think>, or when it is closed."""
    opening = _OPEN_THINK.search(completion)
    if opening is None or _CLOSE_THINK.search(completion, opening.end()):
        return None
    answer = _OPEN_ANSWER.search(completion, opening.end())
    return completion[opening.end():answer.start() if answer else len(completion)]


def format_ok(text: str) -> bool:
    """True when the whole completion is exactly one think block then one answer block
    (lower-case tags, only whitespace around and between them)."""
    if text.count("<think>") != 1 or text.count("<answer>") != 1:
        return False
    body = text.strip()
    if not body.startswith("<think>") or not body.endswith("</answer>"):
        return False
    split = body.index("<answer>")
    head = body[:split].rstrip()
    # Both blocks need room for their own opening and closing tags (no shared characters).
    return (head.endswith("</think>") and len(head) >= len("<think></think>")
            and len(body) - split >= len("<answer></answer>"))
