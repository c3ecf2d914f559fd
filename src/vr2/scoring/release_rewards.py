"""The release's accuracy and format rewards: the rules the Video-R2 release trained with.

vr2's own rewards (`vr2.scoring.rewards`) deliberately differ from the release's reward code
(`train/src/train/reward_funcs.py` and `reward_utils.py`); docs/method.md ("Differences from the
release's reward code") lists each difference. The recipe keys `accuracy.rules = "release"` and
`format.rules = "release"` swap in these functions, restated here from the release's rules:

- The answer is the first `<answer>...</answer>` block with lower-case tags, stripped ("" when none).
- The answer type is guessed from the gold answer's text alone (the row's `answer_type` and
  `options` are not read): text starting with a letter a-e is multiple choice; a plain number
  (thousands commas allowed) is numerical, or regression with more than three decimals; at most
  five words of ASCII letters, digits, whitespace, `-` and `:` are OCR; anything else free form.
- Multiple choice: the first character when it is a-e (upper-cased), else the whole stripped text;
  1.0 when both sides read the same.
- Numerical: 0 when only one side has a `.` or `,`; else 1.0 when both read as numbers (commas
  dropped, then Python's `float`) that are equal after rounding to two decimals.
- Regression: clip(1 - (|pred - gold| + 1e-9) / (|gold| + 1e-9), 0, 1); 0 when either side is no number.
- OCR: 1 - word error rate on words split at whitespace (case and punctuation count), clipped.
- Free form: the mean of ROUGE-1, ROUGE-2 and ROUGE-L F1 (`rouge-score`, Porter stemming), clipped.
- Format: 1.0 when the whole text is `<think>`, anything, `</think>`, whitespace, `<answer>`,
  anything, `</answer>`, lower-case tags, nothing before or after (the release's full match of
  `<think>.*?</think>\\s*<answer>.*?</answer>`, so extra blocks inside still pass).

The gold answer is the row's `answer` column: the text of the gold reply's `<answer>` block, which
is what the release read (a multiple-choice gold is its option letter, which reads the same).
A row without a gold answer gets None, as under vr2's rules.

Every function here is linear in the length of the completion (the release's regular expressions,
run as written, are quadratic on text with many unclosed tags); `tests/scoring/
test_release_differences.py` checks them against the release's own functions.
"""

from __future__ import annotations

import re
from typing import Sequence

from vr2.scoring.answers import rouge_scorer
from vr2.scoring.rewards import column, completion_text

THINK, END_THINK, ANSWER, END_ANSWER = "<think>", "</think>", "<answer>", "</answer>"
RELEASE_ANSWER_TYPES = ("multiple choice", "numerical", "regression", "OCR", "free-form")  # the release's names

_CHOICE_LETTERS = "ABCDEabcde"
# A plain number: optional sign, digits (either free or in comma groups of three), optional decimals.
# `\d` and `\s` are Unicode classes, as in the release's patterns.
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?")
_OCR_TEXT = re.compile(r"[A-Za-z0-9\s\-:]+")


def first_answer(text: str) -> str:
    """The first `<answer>` block's text, stripped; "" when no `<answer>` is followed by `</answer>`."""
    start = text.find(ANSWER)
    if start < 0:
        return ""
    end = text.find(END_ANSWER, start + len(ANSWER))
    return text[start + len(ANSWER):end].strip() if end >= 0 else ""


def guess_answer_type(gold: str) -> str:
    """The answer type the release infers from the gold answer's text (one of `RELEASE_ANSWER_TYPES`)."""
    gold = gold.strip()
    if gold[:1] and gold[0] in _CHOICE_LETTERS:
        return "multiple choice"
    if _NUMBER.fullmatch(gold):
        return "regression" if "." in gold and len(gold.split(".")[-1]) > 3 else "numerical"
    if len(gold.split()) <= 5 and _OCR_TEXT.fullmatch(gold):
        return "OCR"
    return "free-form"


def choice_letter(text: str) -> str:
    """The option letter: the first character when it is a-e (upper-cased), else the stripped text."""
    text = text.strip()
    return text[0].upper() if text[:1] and text[0] in _CHOICE_LETTERS else text


def release_number(text: str) -> float | None:
    """The text as a number: commas dropped, then Python's `float` ("1_000", " 7 ", "inf" read too)."""
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def word_error_rate(gold: str, predicted: str) -> float:
    """Word-level edit distance over the gold's word count (at least 1); words split at whitespace."""
    ref, hyp = gold.split(), predicted.split()
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            diagonal, row[j] = row[j], diagonal if word == other else 1 + min(diagonal, row[j], row[j - 1])
    return row[-1] / max(1, len(ref))


def _clip(value: float) -> float:
    # In this order, as the release clips: a NaN comes out as 1.0 (min(1.0, nan) is 1.0).
    return max(0.0, min(1.0, value))


def score_release_answer(predicted: str, gold: str) -> float:
    """The release's accuracy of an answer text against a gold answer text."""
    kind = guess_answer_type(gold)
    if kind == "multiple choice":
        return 1.0 if choice_letter(predicted) == choice_letter(gold) else 0.0
    if kind == "numerical":
        if ("." in gold or "," in gold) != ("." in predicted or "," in predicted):
            return 0.0
        want, got = release_number(gold), release_number(predicted)
        return 1.0 if want is not None and got is not None and round(want, 2) == round(got, 2) else 0.0
    if kind == "regression":
        want, got = release_number(gold), release_number(predicted)
        if want is None or got is None:
            return 0.0
        return _clip(1 - (abs(got - want) + 1e-9) / (abs(want) + 1e-9))
    if kind == "OCR":
        return _clip(1 - word_error_rate(gold, predicted))
    scores = rouge_scorer().score(gold, predicted)
    return _clip((scores["rouge1"].fmeasure + scores["rouge2"].fmeasure + scores["rougeL"].fmeasure) / 3)


def release_accuracy_reward(completions: Sequence, **kwargs) -> list[float | None]:
    """The release's accuracy reward (`accuracy.rules = "release"`): the first answer block scored
    by the type guessed from the gold text; None when the row has no gold answer."""
    answers = column(kwargs, "answer", len(completions))
    scores: list[float | None] = []
    for completion, gold in zip(completions, answers):
        gold = "" if gold is None else str(gold).strip()
        scores.append(score_release_answer(first_answer(completion_text(completion)), gold) if gold else None)
    return scores


def release_format_ok(text: str) -> bool:
    """The release's format: the whole text is `<think>`...`</think>`, whitespace, `<answer>`...`</answer>`.

    The same language as its full match of `<think>.*?</think>\\s*<answer>.*?</answer>` (any
    character, newlines included, in the blocks), decided in one pass: some `</think>` after the
    opening tag is followed by whitespace and an `<answer>` whose end leaves room for the final
    `</answer>`.
    """
    if not text.startswith(THINK) or not text.endswith(END_ANSWER):
        return False
    last = len(text) - len(END_ANSWER)  # where the final `</answer>` starts
    close = text.find(END_THINK, len(THINK))
    while close >= 0:
        opening = close + len(END_THINK)
        while opening < len(text) and text[opening].isspace():
            opening += 1
        if text.startswith(ANSWER, opening) and opening + len(ANSWER) <= last:
            return True
        close = text.find(END_THINK, close + 1)
    return False


def release_format_reward(completions: Sequence, **kwargs) -> list[float | None]:
    """The release's format reward (`format.rules = "release"`): 1.0 when `release_format_ok`."""
    return [1.0 if release_format_ok(completion_text(c)) else 0.0 for c in completions]
