"""The model output format: `<think> ... </think><answer> ... </answer>`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_STRICT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.S)


@dataclass(frozen=True)
class Completion:
    """A completion split into its parts. Missing parts are None."""

    text: str
    think: str | None
    answer: str | None

    @property
    def format_ok(self) -> bool:
        return format_ok(self.text)


def parse_completion(text: str) -> Completion:
    """Split a completion; the last <answer> wins when a model writes several."""
    think = _THINK.search(text)
    answers = _ANSWER.findall(text)
    return Completion(
        text=text,
        think=think.group(1).strip() if think else None,
        answer=answers[-1].strip() if answers else None,
    )


def format_ok(text: str) -> bool:
    """True when the whole completion is exactly one think block then one answer block."""
    if not _STRICT.fullmatch(text):
        return False
    return text.count("<think>") == 1 and text.count("<answer>") == 1
