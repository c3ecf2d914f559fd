"""Think-answer consistency (TAC): does the final <answer> say what the <think> concluded?

Rule-based. The reasoning's answer is its LAST explicit conclusion. A sentence is a conclusion
when it contains a conclusion marker:
- forward markers, the answer follows: "the answer is / answer:", "the correct / best option is",
  "therefore", "thus", "hence", "consequently", "in conclusion", "overall", "so" (at the start of
  a sentence or after a comma; not "so far", "so that", "so let's", "so now"), "I choose / pick /
  select / go with / opt for" and "my choice is" (the speaker's own choice only: in "he will pick
  up the red cup" the verb is content), "corresponds to", "matches option"; for numbers also
  "total", "altogether", "in all", "sum", "result";
- backward markers, the answer precedes: "... is correct / right / the best / the answer",
  "... fits best", "... best matches".
Mentions without such a marker ("Option A shows a dog, option B shows a cat") are not
conclusions. Sentences that are questions or start with "if" are skipped, and for multiple choice
a negated pick ("option C is incorrect", "the answer is not A") is not a conclusion; a negation
inside an option's own text ("D. The car never turns") is not a negated pick, and "B is
incorrect and C is correct" concludes C (clauses split at and / but / while).

What is read from the conclusion: multiple choice -> the option letter (`parse_choice` on the text
after the last forward marker, or the clause before a backward marker); numeric/regression -> the
last number after the marker (`parse_number`, negated parts such as "not 13" removed);
free_form/ocr -> the text after the marker. Time mentions are never the number ("so there are 5
people at 00:20" concludes 5). A text answer that says "does not ..." itself agrees with a
conclusion containing it; only negations outside the answer's own words disagree. When the last marked sentence yields nothing, the
previous one is tried.

`tac` (same choice) is `check_consistency(...).consistent`; `tac_correctness` is the official
summary's notion (the think answer is correct exactly when the final answer is correct).
`RuleConsistency` is the built-in ``rule`` consistency-checker plugin (the TAR gate).
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
    parse_choice,
    parse_number,
    remove_option_texts,
    score_answer,
)
from vr2.scoring.format import parse_completion

_NUMERIC_TYPES = ("numeric", "regression")
_TEXT_TYPES = ("free_form", "ocr")

_FORWARD = [
    r"\banswer\s*(?:is|would be|should be|must be|will be|=|:)",
    r"\b(?:correct|best|right|final|likely|appropriate|suitable)\s+(?:option|choice|one)\s*"
    r"(?:is|would be|should be|must be|=|:)",
    r"\b(?:therefore|thus|hence|consequently|in conclusion|to conclude|in summary|overall)\b",
    # "so" concludes, except in "so far", "so that", "so let's look at ...", "so now ..."
    r"(?:^|[,;]\s*)so\b(?![\s,]+(?:far|that|much|many|as|let|now|next|first)\b)",
    # the speaker's own choice only: "I choose B", "we'll go with C", not "he will pick up X"
    r"\b(?:I|we)(?:['’]ll|['’]d|\s+(?:would|will|should|must|can|now|then|finally))?\s+"
    r"(?:choose|chose|pick|picked|select|selected|go with|am going with|opt for|settle on)\b",
    r"\b(?:my|our)\s+(?:choice|pick|selection)\s+(?:is|would be|=|:)",
    r"\bcorrespond(?:s|ing)?\s+(?:to|with)\b",
    r"\bmatch(?:es)?\s+(?=(?:option|choice)\b)",
]
_FORWARD_NUMERIC = [r"\b(?:total|altogether|in all|sum|result)\b"]
_BACKWARD = [
    r"\bis\s+(?:the\s+)?(?:correct|right|best|most likely|most appropriate|answer)\b",
    r"\b(?:fits|matches)\s+best\b",
    r"\bbest\s+(?:fits|matches|describes)\b",
]
_NEGATION = re.compile(
    r"\b(?:not|never|incorrect|wrong|unlikely|eliminat\w*|rul(?:e|ed|ing)\s+out|exclud\w*|"
    r"cannot|\w+n['’]t)\b",
    re.I,
)
_NEGATED_PART = re.compile(r"\b(?:not|rather than|instead of)\s+[^,.;]*", re.I)
# The same negations on normalised words (apostrophes removed: "doesn't" -> "doesnt").
_NEGATION_WORDS = re.compile(
    r"\b(?:not|never|no|incorrect|wrong|unlikely|cannot|(?:do|does|did|is|are|was|were|ca|could"
    r"|wo|would|should|has|have|had)nt)\b")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_SPLIT = re.compile(
    r"[,;:]\s|\s(?:because|since|as|and|but|while|whereas|although|though)\s", re.I)
_MAX_MARKERS_TRIED = 4
_EDGE = " \t\n,;:.!?\"'*"  # not '-': it may be a minus sign


@dataclass(frozen=True)
class Consistency:
    """The think's conclusion, the final answer (both normalised), and whether they agree.

    `consistent` is None when the completion has no <think> or no <answer> block.
    """

    think_answer: str | None
    final_answer: str | None
    consistent: bool | None


def think_conclusion(think: Any, answer_type: str, options: Any = None) -> str | None:
    """The answer the reasoning concludes (its last explicit conclusion), normalised.

    A letter for multiple choice, a number string ("12", "3.5") for numeric/regression, the
    concluding text otherwise; None when the reasoning states no conclusion. Never raises for
    any text (an unknown answer_type raises UnknownAnswerType).
    """
    check_answer_type(answer_type)
    if not isinstance(think, str):
        return None
    for sentence in reversed(_sentences(think)):
        answer = _read_sentence(sentence, answer_type, options)
        if answer is not None:
            return answer
    return None


def _sentences(text: str) -> list[str]:
    parts = (s.strip() for s in _SENTENCE_SPLIT.split(text))
    return [s for s in parts if s and not s.endswith("?") and not re.match(r"if\b", s, re.I)]


def _markers(sentence: str, answer_type: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every marker in the sentence, in order."""
    forward = _FORWARD + (_FORWARD_NUMERIC if answer_type in _NUMERIC_TYPES else [])
    found = []
    for kind, patterns in (("forward", forward), ("backward", _BACKWARD)):
        for pattern in patterns:
            found += [(m.start(), m.end(), kind) for m in re.finditer(pattern, sentence, re.I)]
    return sorted(found)


def _read_sentence(sentence: str, answer_type: str, options: Any) -> str | None:
    markers = _markers(sentence, answer_type)
    # The last marker with something readable wins; a few earlier ones in the sentence are
    # fallbacks (a few only, so a sentence of a thousand "therefore"s stays linear).
    for index in range(len(markers) - 1, max(-1, len(markers) - 1 - _MAX_MARKERS_TRIED), -1):
        start, end, kind = markers[index]
        if kind == "forward":
            part = sentence[end:]
        else:
            previous_end = max((e for s, e, _ in markers[:index] if e <= start), default=0)
            part = sentence[previous_end:start]
        answer = _read_part(part.strip(_EDGE), kind, answer_type, options)
        if answer is not None:
            return answer
    return None


def _read_part(part: str, kind: str, answer_type: str, options: Any) -> str | None:
    if not part:
        return None
    if answer_type == "multiple_choice":
        return _read_choice(part, kind, options)
    if answer_type in _NUMERIC_TYPES:
        # parse_number skips time mentions when there are other numbers ("5 people at 00:20")
        # and keeps a lone one ("the answer is 5 seconds")
        value = parse_number(_NEGATED_PART.sub(" ", part))
        return format_number(value) if value is not None else None
    return part


def _read_choice(part: str, kind: str, options: Any) -> str | None:
    clauses = [c.strip(_EDGE) for c in _CLAUSE_SPLIT.split(part)]
    clauses = [c for c in clauses if c]
    # Forward: the answer starts right after the marker; backward: it ends right before it.
    if not clauses:
        nearest = part
    else:
        nearest = clauses[0] if kind == "forward" else clauses[-1]
    for candidate in (part, nearest):
        # a negation inside an option's own text ("D. The car never turns") is not a negated pick
        if _NEGATION.search(remove_option_texts(candidate, options)):
            continue
        letter = parse_choice(candidate, options)
        if letter is not None:
            return letter
    return None


def final_answer(answer: Any, answer_type: str, options: Any = None) -> str | None:
    """The <answer> content in the same normalised form as `think_conclusion`."""
    check_answer_type(answer_type)
    if not isinstance(answer, str):
        return None
    if answer_type == "multiple_choice":
        return parse_choice(answer, options)
    if answer_type in _NUMERIC_TYPES:
        value = parse_number(answer)
        return format_number(value) if value is not None else None
    text = answer.strip()
    return text or None


def answers_agree(think_answer: str | None, answer: str | None, answer_type: str) -> bool:
    """Whether two normalised answers say the same thing.

    Letters must be equal; numbers equal within 1e-6 relative. Text (free_form/ocr) agrees when
    the normalised words are equal, or when the final answer's words appear as a phrase inside
    the think conclusion ("the man is cooking" vs "cooking") and the conclusion is not negated.
    """
    if think_answer is None or answer is None:
        return False
    if answer_type == "multiple_choice":
        return think_answer == answer
    if answer_type in _NUMERIC_TYPES:
        return numbers_equal(parse_number(think_answer), parse_number(answer))
    think_words, answer_words = normalize_words(think_answer), normalize_words(answer)
    if not answer_words:
        return False
    if think_words == answer_words:
        return True
    think_text, answer_text = f" {' '.join(think_words)} ", f" {' '.join(answer_words)} "
    if answer_text not in think_text:
        return False
    # Negated only by words outside the answer's own phrase: an answer that itself says
    # "does not" is compared like any other text.
    return not _NEGATION_WORDS.search(think_text.replace(answer_text, " "))


def check_consistency(completion: str, answer_type: str, options: Any = None) -> Consistency:
    """Judge one completion: the think conclusion, the final answer, and whether they agree."""
    parts = parse_completion(completion if isinstance(completion, str) else "")
    return check_parts(parts.think, parts.answer, answer_type, options)


def check_parts(
    think: str | None, answer: str | None, answer_type: str, options: Any = None
) -> Consistency:
    """`check_consistency` for an already split completion (None = block missing)."""
    check_answer_type(answer_type)
    think_answer = think_conclusion(think, answer_type, options)
    answer_value = final_answer(answer, answer_type, options)
    if think is None or answer is None:
        return Consistency(think_answer, answer_value, None)
    agree = answers_agree(think_answer, answer_value, answer_type)
    return Consistency(think_answer, answer_value, agree)


class RuleConsistency:
    """Consistency checker plugin ``rule`` (the default TAR gate): this module's rules.

    `check` answers None only when the think or the answer block is missing; the rules
    themselves always decide.
    """

    name = "rule"

    def check(self, think: str | None, answer: str | None, answer_type: str | None = None,
              options: Any = None) -> bool | None:
        if answer_type is None:  # callers normally pass the sample's resolved type
            answer_type = "multiple_choice" if options else "free_form"
        return check_parts(think, answer, answer_type, options).consistent


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
