"""The sample: one video question with everything needed to prompt, score and train on it.

Every data source (the released Video-R2 dataset, plain JSONL, the 11 benchmarks) is turned into
this one shape, so prompting, rewards and evaluation read the same fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ANSWER_TYPES = ("multiple_choice", "numeric", "regression", "ocr", "free_form")


@dataclass
class Sample:
    """One video question.

    `options` are the option texts in order (letters A, B, ... are implied by position).
    `temporal_grounding` is the reference `{timestamp: sentence}` dict when the sample has one.
    `start`/`end` (seconds) restrict the video to a window when a benchmark asks for it.
    """

    id: str
    video: str
    question: str
    options: list[str] = field(default_factory=list)
    answer: str | None = None
    answer_type: str | None = None
    reasoning: str | None = None
    temporal_grounding: dict[str, Any] | None = None  # a sentence that is not text is dropped when read
    start: float | None = None
    end: float | None = None
    subtitles: str | None = None
    benchmark: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
