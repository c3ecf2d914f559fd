"""Think-answer consistency (TAC): does the final <answer> say what the <think> concluded?

Rule-based. The reasoning's answer is read by `vr2.scoring.conclusion.think_conclusion` (its
concluding statement, negation and rejection resolved, then the option or value it commits to;
the rules are in that module and in docs/method.md, "Reading real traces"). The <answer> block is
read in the same normalised form by `final_answer`, and `answers_agree` compares the two:

- multiple choice: the same letter;
- numeric/regression: equal numbers (1e-6 relative); when neither side holds a number ("\\boxed{B}"
  against "B") the same normalised text;
- free form / OCR: the same normalised words, or the answer's words as a phrase of the conclusion
  ("the man is cooking" vs "cooking"), not negated outside the answer's own words; for OCR the
  answer's characters inside the conclusion's, spacing and punctuation aside ("ABC 123"); for free form
  also the same content stems ("the boy is kicking a ball" vs "He kicks the ball.") or, given an
  embedder, the same meaning ("primarily anger" vs "angry", `paraphrase.same_meaning`).

`tac` (same choice) is `check_consistency(...).consistent`; `tac_correctness` is the official
summary's notion (the think answer is correct exactly when the final answer is correct).
`RuleConsistency` is the built-in ``rule`` consistency-checker plugin (the TAR gate); `vr2 score`
and training give it the TAR embedder, so free-form answers are compared by meaning there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vr2.scoring.answers import (
    check_answer_type,
    format_number,
    normalize_words,
    numbers_equal,
    ocr_words,
    parse_choice,
    parse_number,
    score_answer,
)
from vr2.scoring.conclusion import think_conclusion
from vr2.scoring.format import parse_completion, unclosed_think
from vr2.scoring.paraphrase import same_meaning

__all__ = ["Consistency", "RuleConsistency", "answers_agree", "check_consistency", "check_parts",
           "final_answer", "is_correct", "tac_correctness", "think_conclusion"]

_NUMERIC_TYPES = ("numeric", "regression")
# Negations on normalised words (apostrophes removed: "doesn't" -> "doesnt").
_NEGATION_WORDS = re.compile(
    r"\b(?:not|never|no|incorrect|wrong|unlikely|cannot|(?:do|does|did|is|are|was|were|ca|could"
    r"|wo|would|should|has|have|had)nt)\b")


@dataclass(frozen=True)
class Consistency:
    """The think's conclusion, the final answer (both normalised), and whether they agree.

    `consistent` is None when the completion has no <think> or no <answer> block.
    """

    think_answer: str | None
    final_answer: str | None
    consistent: bool | None


def final_answer(answer: Any, answer_type: str, options: Any = None) -> str | None:
    """The <answer> content in the same normalised form as `think_conclusion` (a numeric answer
    with no number in it is kept as its text, so "B" can be compared with a boxed "B")."""
    check_answer_type(answer_type)
    if not isinstance(answer, str):
        return None
    if answer_type == "multiple_choice":
        return parse_choice(answer, options)
    if answer_type in _NUMERIC_TYPES:
        value = parse_number(answer)
        return format_number(value) if value is not None else (answer.strip() or None)
    text = answer.strip()
    return text or None


def answers_agree(think_answer: str | None, answer: str | None, answer_type: str,
                  embedder=None) -> bool:
    """Whether two normalised answers say the same thing (the module docstring's rules).

    `embedder` (an object with `encode(texts) -> unit vectors`) lets free-form answers agree by
    meaning; without one they agree by words and stems only.
    """
    if think_answer is None or answer is None:
        return False
    if answer_type == "multiple_choice":
        return think_answer == answer
    if answer_type in _NUMERIC_TYPES:
        think_value, answer_value = parse_number(think_answer), parse_number(answer)
        if think_value is None and answer_value is None:
            return bool(normalize_words(answer)) and normalize_words(think_answer) == normalize_words(answer)
        return numbers_equal(think_value, answer_value)
    think_words, answer_words = normalize_words(think_answer), normalize_words(answer)
    if not answer_words:
        return False
    if think_words == answer_words:
        return True
    think_text, answer_text = f" {' '.join(think_words)} ", f" {' '.join(answer_words)} "
    # Negated only by words outside the answer's own phrase: an answer that itself says
    # "does not" is compared like any other text.
    if answer_text in think_text:
        return not _NEGATION_WORDS.search(think_text.replace(answer_text, " "))
    if answer_type == "ocr":  # read text: spacing and punctuation do not count ("ABC 123" = "ABC123")
        return "".join(ocr_words(answer)) in "".join(ocr_words(think_answer))
    if answer_type != "free_form" or _NEGATION_WORDS.search(think_text) != _NEGATION_WORDS.search(answer_text):
        return False
    return same_meaning(think_answer, answer, embedder)


def check_consistency(completion: str, answer_type: str, options: Any = None,
                      embedder=None) -> Consistency:
    """Judge one completion: the think conclusion, the final answer, and whether they agree.

    A <think> block that is never closed (a cut-off rollout) may still state its answer ("the
    correct answer is H"): only such explicit statements are read from it, from its opening tag up
    to the <answer> block; it cannot be judged (`consistent` None).
    """
    text = completion if isinstance(completion, str) else ""
    parts = parse_completion(text)
    result = check_parts(parts.think, parts.answer, answer_type, options, embedder)
    if parts.think is None and result.think_answer is None:
        reasoning = unclosed_think(text)
        if reasoning is not None:
            return Consistency(think_conclusion(reasoning, answer_type, options, explicit_only=True),
                               result.final_answer, None)
    return result


def check_parts(
    think: str | None, answer: str | None, answer_type: str, options: Any = None, embedder=None
) -> Consistency:
    """`check_consistency` for an already split completion (None = block missing)."""
    check_answer_type(answer_type)
    think_answer = think_conclusion(think, answer_type, options)
    answer_value = final_answer(answer, answer_type, options)
    if think is None or answer is None:
        return Consistency(think_answer, answer_value, None)
    agree = answers_agree(think_answer, answer_value, answer_type, embedder)
    return Consistency(think_answer, answer_value, agree)


class RuleConsistency:
    """Consistency checker plugin ``rule`` (the default TAR gate): this module's rules.

    `check` answers None only when the think or the answer block is missing; the rules
    themselves always decide. With an `embedder` (the TAR reward hands it its own, see
    `use_embedder`) free-form answers are compared by meaning too.
    """

    name = "rule"

    def __init__(self, embedder=None):
        self.embedder = embedder

    def use_embedder(self, embedder) -> None:
        """Compare free-form answers by meaning with this embedder (the TAR one: loaded lazily,
        cached, so a batch without free-form answers never loads it)."""
        self.embedder = embedder

    def check(self, think: str | None, answer: str | None, answer_type: str | None = None,
              options: Any = None) -> bool | None:
        if answer_type is None:  # callers normally pass the sample's resolved type
            answer_type = "multiple_choice" if options else "free_form"
        return check_parts(think, answer, answer_type, options, self.embedder).consistent


def is_correct(answer: str | None, gold: str, answer_type: str, options: Any = None) -> bool:
    """Correct means a full score for choices and numbers, a score of at least 0.5 for the
    graded types (regression MRA, ocr 1-WER, free_form ROUGE)."""
    score = score_answer(answer, gold, answer_type, options)
    if answer_type in ("multiple_choice", "numeric"):
        return score == 1.0
    return score >= 0.5


def tac_correctness(
    consistency: Consistency, gold: str, answer_type: str, options: Any = None
) -> bool | None:
    """True when the think conclusion is correct exactly when the final answer is (the official
    summary's notion of TAC); None when the completion could not be judged. A missing think
    conclusion counts as incorrect."""
    if consistency.consistent is None:
        return None
    think_ok = is_correct(consistency.think_answer, gold, answer_type, options)
    answer_ok = is_correct(consistency.final_answer, gold, answer_type, options)
    return think_ok == answer_ok
