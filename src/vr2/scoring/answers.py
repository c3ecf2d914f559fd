"""Answers: parsing a model's answer and scoring it against the gold answer.

This is the one implementation of accuracy in vr2: the GRPO accuracy reward and every benchmark
score call `score_answer`. Each sample carries an explicit answer type (see
`vr2.samples.ANSWER_TYPES`); `infer_answer_type` fills it only from unambiguous evidence.

Scoring per type:
- multiple_choice: 1.0 when the predicted option letter equals the gold letter ("B", "(B)",
  "Option B", "b) blue", or the exact option text all mean B). Text naming several letters
  ("A or B or C") picks nothing and scores 0 -- hedging must not be rewarded.
- numeric: 1.0 when the two numbers are equal (relative tolerance 1e-6) after normalisation
  (thousands separators, units, currency and percent signs stripped).
- regression: by the metric named (`REGRESSION_METRICS`): "mra", VSIBench's mean relative accuracy
  (benchmark scoring; the default here), or "release", the Video-R2 release's training reward
  `clip(1 - |pred - gold| / |gold|, 0, 1)` (7 against 10: MRA 0.5, release 0.7), which the accuracy
  reward trains with (`vr2.scoring.rewards`, recipe key `accuracy.regression`).
- ocr: 1 - word error rate (`jiwer`) on `ocr_words` (case, accents and punctuation folded:
  "B-52" = "B52", "CAFÉ" = "Cafe"), clipped to [0, 1].
- free_form: mean of ROUGE-1, ROUGE-2 and ROUGE-L F1 from `rouge-score` with stemming (what the
  release and lmms-eval call); exactly equal normalised text scores 1.0 (ROUGE-2 alone would
  give a correct one-word answer only 2/3).

The parsers never raise: a prediction they cannot read scores 0.0. A gold answer they cannot
read is a data error and raises `Vr2Error`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache
from string import ascii_uppercase
from typing import Any

from vr2.errors import Vr2Error
from vr2.samples import ANSWER_TYPES
from vr2.scoring.timestamps import TimeMention, find_times

_MAX_LETTERS_WITHOUT_OPTIONS = 10  # A-J: the most options any supported benchmark uses


class UnknownAnswerType(Vr2Error, ValueError):
    """An answer type outside `ANSWER_TYPES` (a ValueError too, so either can be caught)."""


def check_answer_type(answer_type: str) -> None:
    """Raise `UnknownAnswerType` naming the value when it is not a known answer type."""
    if answer_type not in ANSWER_TYPES:
        raise UnknownAnswerType(
            f"answer_type: unknown answer type {answer_type!r} "
            f"(expected one of {', '.join(ANSWER_TYPES)})"
        )


# ---------------------------------------------------------------- options


def option_letters(n: int) -> list[str]:
    """The first n option letters: A, B, C, ..."""
    if n < 0 or n > len(ascii_uppercase):
        raise Vr2Error(f"options: {n} options given; vr2 supports 0 to 26 (letters A-Z)")
    return list(ascii_uppercase[:n])


# No two `\s*` side by side anywhere below: on long runs of spaces they backtrack quadratically.
LATEX_DEGREE = re.compile(r"\\degree\b(?:\{\})?\s*|\^\s*\{?\\circ\}?\s*")  # "30\degree C" = "30°C"
_OPTION_PREFIX = re.compile(r"^\s*(?:[\(\[]\s*)?([A-Za-z])\s*[\.\):\]]\s*")


def normalize_options(options: Any) -> list[str]:
    """Plain option texts in order, from any of the shapes datasets use.

    Accepts None, a list of texts, a list with letter prefixes ("A. red", "B) blue", "(C) green")
    or a dict {"A": "red", ...}. A prefix is only stripped when its letter is the option's own
    position letter, so an option that happens to start with "A." elsewhere keeps its text.
    """
    if options is None:
        return []
    if isinstance(options, dict):
        return _options_from_dict(options)
    if isinstance(options, (list, tuple)):
        return [_strip_prefix(str(text), i) for i, text in enumerate(options)]
    raise Vr2Error(
        f"options: expected a list of option texts or a dict letter -> text, "
        f"got {type(options).__name__}"
    )


def _options_from_dict(options: dict) -> list[str]:
    keys = [str(k).strip().strip("().[]").upper() for k in options]
    values = [str(v).strip() for v in options.values()]
    if all(len(k) == 1 and k.isalpha() for k in keys):
        return [v for _, v in sorted(zip(keys, values))]
    return values  # keys are not letters: keep the dict's own order


def _strip_prefix(text: str, position: int) -> str:
    text = LATEX_DEGREE.sub("°", text)  # "30\degree C" is written "30°C" in prose
    match = _OPTION_PREFIX.match(text)
    if match and position < 26 and match.group(1).upper() == ascii_uppercase[position]:
        return text[match.end():].strip()
    return text.strip()


# ---------------------------------------------------------------- text normalisation


def normalize_words(text: str) -> list[str]:
    """Lowercase words with punctuation removed ("Don't stop!" -> ["dont", "stop"])."""
    text = re.sub(r"['’`]", "", str(text).lower())
    return re.sub(r"[\W_]+", " ", text).split()


def normalize_text(text: str) -> str:
    """`normalize_words` joined by single spaces: the form texts are compared in."""
    return " ".join(normalize_words(text))


# ---------------------------------------------------------------- multiple choice

# A letter standing on its own: not part of a word, a contraction ("I'm") or a compound ("A-frame").
# "30°C" is a temperature, not option C.
_LOOSE_LETTER = re.compile(r"(?<![A-Za-z0-9'’\-°])([A-Z])(?![A-Za-z0-9'’\-])")
# Words after which "A" / "I" is still an option letter rather than the article / pronoun.
_LETTER_VERBS = {
    "or", "and", "nor", "is", "seems", "appears", "looks", "fits", "matches", "vs", "versus",
}
_FOLLOWING_WORD = re.compile(r"\s+([A-Za-z]{2,})")
_ABBREVIATION = re.compile(r"\.[A-Za-z]")  # "E.g.", "U.S."

_END = r"(?![A-Za-z0-9'’\-])"
# Letters named by an explicit cue; any case ("option b", "the answer is (c)").
_CUE_PATTERNS = [
    re.compile(
        r"\b(?:option|choice|answer)s?\s*(?:(?:is|would be|should be|must be|will be)\s*)?"
        r"(?:[:=#-]\s*)?(?:option\s*)?(?:[\(\[\{]\s*)?([a-z])" + _END,
        re.I,
    ),
    re.compile(r"^\s*(?:[\(\[]\s*)?([a-z])\s*[\.\):\]](?=\s|$)", re.I),  # "b) blue", "B. blue"
    re.compile(r"[\(\[\{]\s*([a-z])\s*[\)\]\}]", re.I),  # "(b)" anywhere
    re.compile(
        r"(?<![A-Za-z0-9'’\-])([a-z])\s+is\s+(?:the\s+)?(?:correct|right|best|answer)\b", re.I
    ),
]


def parse_choice(text: Any, options: Any = None) -> str | None:
    """The option letter a text picks, or None when it picks none or several.

    Reads "B", "(B)", "B.", "B)", "[B]", "**B**", "b) blue", "B. blue", "Option B",
    "option b is correct", "The answer is B", and the option text itself ("blue", any case and
    punctuation). Letters run up to the number of options (A-J when no options are given).
    Naming more than one letter ("A or B or C", "A, B") gives None; so does a letter beyond
    the options. When no letter is named, a text that contains exactly one option's text
    ("I think it is blue") picks that option. Never raises.
    """
    if not isinstance(text, str):
        return None
    try:
        opts = normalize_options(options)
    except Vr2Error:
        opts = []
    n = len(opts) if opts else _MAX_LETTERS_WITHOUT_OPTIONS
    letters = ascii_uppercase[:n]

    norm = normalize_text(text)
    if not norm:
        return None
    normalized_opts = [normalize_text(o) for o in opts]
    if norm in normalized_opts and normalized_opts.count(norm) == 1:
        return letters[normalized_opts.index(norm)]

    scan = _remove_option_texts(text, opts)
    strong = _cue_letters(scan)
    if any(letter not in letters for letter in strong):
        return None  # names an option that does not exist
    found = strong | {x for x in _loose_letters(scan) if x in letters}
    if len(found) == 1:
        return found.pop()
    if found:
        return None  # several letters: ambiguous
    return _contained_option(norm, normalized_opts, letters)


def remove_option_texts(text: str, options: Any) -> str:
    """`text` with every option's own text blanked out (unusable options: text unchanged)."""
    try:
        return _remove_option_texts(text, normalize_options(options))
    except Vr2Error:
        return text


def _remove_option_texts(text: str, options: list[str]) -> str:
    """Blank out option texts, so letters inside them ("Person A hands ...") are not picks."""
    for option in sorted(options, key=len, reverse=True):
        if len(option.strip()) > 1:
            pattern = r"(?<!\w)" + re.escape(option.strip()) + r"(?!\w)"
            text = re.sub(pattern, " ", text, flags=re.I)
    return text


def _cue_letters(text: str) -> set[str]:
    found = set()
    whole = text.strip().strip("*_`'\"()[]{}<>.,:;!? \t\n")
    if len(whole) == 1 and whole.isascii() and whole.isalpha():
        found.add(whole.upper())
    for pattern in _CUE_PATTERNS:
        for match in pattern.finditer(text):
            letter = match.group(1)
            if letter in "ai" and _is_word_after(text, match.end(1)):
                continue  # "the answer is a dog": the article, not option A
            found.add(letter.upper())
    return found


def _loose_letters(text: str) -> set[str]:
    found = set()
    for match in _LOOSE_LETTER.finditer(text):
        letter, end = match.group(1), match.end(1)
        if _ABBREVIATION.match(text, end):
            continue
        if letter in "AI" and _is_word_after(text, end):
            continue  # "A man ...", "I think ..."
        found.add(letter)
    return found


def _is_word_after(text: str, end: int) -> bool:
    """True when a normal word follows `end` (a lone A/I there is then an article/pronoun)."""
    match = _FOLLOWING_WORD.match(text, end)
    return bool(match) and match.group(1).lower() not in _LETTER_VERBS


def _contained_option(norm: str, normalized_opts: list[str], letters: str) -> str | None:
    padded = f" {norm} "
    hits = [i for i, o in enumerate(normalized_opts) if o and f" {o} " in padded]
    # "light blue" contains "blue": keep only options not contained in another hit.
    hits = [i for i in hits if not any(
        j != i and f" {normalized_opts[i]} " in f" {normalized_opts[j]} " for j in hits
    )]
    distinct = {normalized_opts[i] for i in hits}
    if len(distinct) == 1 and len(hits) == 1:
        return letters[hits[0]]
    return None


# ---------------------------------------------------------------- numbers

_SEPARATOR = "[ \u00a0\u2009\u202f]"
_NUMBER_BODY = (
    r"(?:\d+/\d+(?!\d|\.\d)"  # fraction 3/4
    r"|\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,000 / 12,345.6
    r"|\d{1,3}(?:" + _SEPARATOR + r"\d{3})+(?:\.\d+)?"  # 1 000
    r"|(?<!\d,)\d+,(?!\d{3}(?!\d))\d+(?![\d,])"  # decimal comma 1,5 (not 3 digits, no list)
    r"|\d+(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+)?"
)
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])([-+\u2212]?)(" + _NUMBER_BODY + r")(?![\d])")
_SCALE_WORDS = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SCALE = re.compile(r"[ \u00a0]?(thousand|million|billion|trillion)\b", re.I)
_PURE_NUMBER = re.compile(r"\s*[-+\u2212]?" + _NUMBER_BODY + r"(?:" + _SCALE.pattern + r")?\s*",
                          re.I)

_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_NUMBER = re.compile(
    r"\b(?:(" + "|".join(_TENS) + r")(?:[\s-](" + "|".join(_UNITS[1:10]) + r"))?"
    r"|(" + "|".join(_UNITS) + r"))\b",
    re.I,
)
# "no one", "the one on the left", "which one": the pronoun, not the number 1.
_PRONOUN_ONE = re.compile(
    r"\b(?:no|the|this|that|which|each|every|any|some|another|other)\s+$", re.I
)
_ALTERNATIVE = re.compile(r"^[^\d.!?]{0,20}\bor\b[^\d.!?]{0,5}$", re.I)


def parse_number(text: Any) -> float | None:
    """The number a text states, as a float; None when there is none. Never raises.

    Rule: the LAST number in the text counts ("the total is 12 apples" -> 12, "3 rows of 4 make
    12" -> 12), because answers and conclusions put the result last. When that last number is
    offered as an alternative to the one before it ("12 or 13") the text is ambiguous -> None.
    Handles signs, decimals, thousands separators ("1,000", "1 000" -> 1000), simple fractions
    ("3/4"), exponents, and units/words around the number ("$3.50", "45%", "about 7",
    "12 meters"). A comma followed by exactly three digits is a thousands separator, never a
    decimal comma; with one or two (or four and more) digits after it, it is the decimal comma
    ("1,5" -> 1.5). A scale word multiplies ("2 million" -> 2000000). When the text has several
    numbers, time mentions ("at 00:20", "at 12 seconds") are never the number; when it has only
    times, a clock is read as its seconds ("1:30" -> 90, "1:02:03" -> 3723). Number words (zero
    to ninety-nine, "seven") are read only when the text has no digits.
    """
    if not isinstance(text, str):
        return None
    matches = list(_NUMBER.finditer(text))
    if len(matches) > 1:  # several numbers: a time the text cites ("5 people at 00:20") is not it
        mentions = find_times(text)
        timeless_text = without_times(text, mentions)
        timeless = list(_NUMBER.finditer(timeless_text))
        if timeless:
            text, matches = timeless_text, timeless
        else:  # only times: a clock is its seconds ("1:30" is 90, never the 30 after the colon)
            clocks = [m for m in mentions if ":" in m.text]
            if clocks:
                return clocks[-1].end
    if matches:
        if len(matches) > 1 and _ALTERNATIVE.match(text[matches[-2].end():matches[-1].start()]):
            return None
        value = _to_float(matches[-1].group(1), matches[-1].group(2))
        scale = _SCALE.match(text, matches[-1].end())
        if value is not None and scale:  # "2 million"
            value *= _SCALE_WORDS[scale.group(1).lower()]
        return value
    return _word_number(text)


def without_times(text: str, mentions: list[TimeMention]) -> str:
    """`text` with its time mentions (`vr2.scoring.timestamps.find_times`) blanked out."""
    pieces, pos = [], 0
    for mention in mentions:
        pieces.append(text[pos:mention.char_start])
        pieces.append(" ")
        pos = mention.char_end
    pieces.append(text[pos:])
    return "".join(pieces)


def _to_float(sign: str, body: str) -> float | None:
    if re.fullmatch(r"\d+,\d+", body) and len(body.split(",")[1]) != 3:
        body = body.replace(",", ".")  # a decimal comma: a thousands separator has 3 digits
    body = re.sub(r"[,\s\u00a0\u2009\u202f]", "", body)
    try:
        if "/" in body:
            num, den = body.split("/")
            value = float(num) / float(den) if float(den) != 0 else None
        else:
            value = float(body)
    except (ValueError, OverflowError, ZeroDivisionError):
        return None
    if value is None or not math.isfinite(value):
        return None
    return -value if sign in ("-", "\u2212") else value


def _word_number(text: str) -> float | None:
    last = None
    for match in _WORD_NUMBER.finditer(text):
        tens, unit, small = match.groups()
        before = text[max(0, match.start() - 12):match.start()]  # the longest cue word + spaces
        if small and small.lower() == "one" and _PRONOUN_ONE.search(before):
            continue
        if tens:
            value = 20 + 10 * _TENS.index(tens.lower())
            value += _UNITS.index(unit.lower()) if unit else 0
        else:
            value = _UNITS.index(small.lower())
        last = float(value)
    return last


def is_pure_number(text: Any) -> bool:
    """True when the whole text is one number ("12", "-3.5", "1,000"), nothing else."""
    return isinstance(text, str) and _PURE_NUMBER.fullmatch(text) is not None


def format_number(value: float) -> str:
    """A canonical string for a number: "12" for 12.0, "3.5" for 3.5."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def numbers_equal(a: float | None, b: float | None) -> bool:
    """Equal within a relative tolerance of 1e-6 (absolute 1e-12 near zero); None never equals."""
    if a is None or b is None:
        return False
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)


# ---------------------------------------------------------------- answer types


def infer_answer_type(answer: str | None, options: Any = None) -> str:
    """The answer type, from unambiguous evidence only.

    Options present -> "multiple_choice"; gold answer that is purely a number -> "numeric";
    anything else -> "free_form". A gold answer that merely starts with a-e ("brown") is never
    taken as a choice (the released code's bug).
    """
    try:
        if normalize_options(options):
            return "multiple_choice"
    except Vr2Error:
        pass
    if is_pure_number(answer):
        return "numeric"
    return "free_form"


# ---------------------------------------------------------------- metrics

# Tolerances 1 - theta for theta = 0.50, 0.55, ..., 0.95, as exact twentieths (0.50 ... 0.05)
# so that boundary cases do not depend on float rounding of 1 - 0.95.
# VSIBench's official thresholds: 1 - theta for theta = linspace(0.50, 0.95, 10), as floats
# (1 - 0.95 is 0.05000000000000004, so an error of exactly 5% still counts).
def _mra_tolerances() -> list[float]:
    import numpy as np

    return [float(t) for t in 1 - np.linspace(0.5, 0.95, 10)]


_MRA_TOLERANCES = _mra_tolerances()


def mean_relative_accuracy(pred: float, gold: float) -> float:
    """VSIBench MRA: mean over theta in 0.50..0.95 of 1[|pred - gold| / |gold| <= 1 - theta].

    `<=` as in the official VSIBench code (which the published numbers used): an error of
    exactly 50% earns 1/10. When gold is 0 the relative error is undefined; the score is 1.0
    for an exact 0 prediction and 0.0 otherwise. Non-finite inputs score 0.0.
    """
    relative = _relative_error(pred, gold)
    if relative is None:
        return 0.0
    return sum(relative <= tol for tol in _MRA_TOLERANCES) / len(_MRA_TOLERANCES)


def relative_accuracy(pred: float, gold: float) -> float:
    """The release's regression reward: clip(1 - |pred - gold| / |gold|, 0, 1) (7 against 10: 0.7).

    Its reward_funcs.py adds 1e-9 to both sides of the ratio; that changes a score by under 1e-9,
    except at gold 0, where it gives even an exact 0 nothing. Here gold 0 scores 1.0 for an exact 0
    prediction and 0.0 otherwise, as MRA does. Non-finite inputs score 0.0.
    """
    relative = _relative_error(pred, gold)
    if relative is None:
        return 0.0
    return max(0.0, min(1.0, 1.0 - relative))


def _relative_error(pred: Any, gold: Any) -> float | None:
    """|pred - gold| / |gold| as both regression scores read it: None (score 0) for a value that
    is not a finite number; at gold 0, 0.0 for an exact 0 and None otherwise."""
    try:
        pred, gold = float(pred), float(gold)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(pred) and math.isfinite(gold)):
        return None
    if gold == 0:
        return 0.0 if pred == 0 else None
    return abs(pred - gold) / abs(gold)


# Regression metrics by name: benchmark scoring (VSIBench) and the release's training reward.
REGRESSION_METRICS = {"release": relative_accuracy, "mra": mean_relative_accuracy}


def regression_metric(name: str):
    """The regression scoring function called `name`; raises Vr2Error for another name."""
    if name not in REGRESSION_METRICS:
        raise Vr2Error(f"regression: must be one of {', '.join(REGRESSION_METRICS)}, got {name!r}")
    return REGRESSION_METRICS[name]


def contains_answer(pred: Any, gold: Any) -> bool:
    """Video-MMMU's rule for open answers (right or wrong, no partial credit): a numeric gold
    answer is right when any number in the prediction equals it; a text gold answer when its
    normalised words appear, in order, inside the normalised prediction."""
    if not isinstance(pred, str) or gold in (None, ""):
        return False
    gold = str(gold)
    if is_pure_number(gold):
        target = parse_number(gold)
        return any(numbers_equal(_to_float(m.group(1), m.group(2)), target) for m in _NUMBER.finditer(pred))
    wanted = normalize_text(gold)
    return bool(wanted) and f" {wanted} " in f" {normalize_text(pred)} "


def ocr_words(text: str) -> list[str]:
    """Words for OCR comparison: accents folded ("Café" -> "cafe"), case folded, punctuation
    inside a word deleted rather than split on ("B-52" -> "b52", "U.S.A." -> "usa")."""
    folded = unicodedata.normalize("NFKD", str(text))
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[^\w\s]|_", "", folded).split()


def word_error_rate(pred: str, gold: str) -> float:
    """Word edits (substitutions + insertions + deletions) / number of gold words (`jiwer`).

    Words are `ocr_words` (case, accents and punctuation do not count). An empty gold gives 0.0
    when the prediction is empty too, else 1.0. Can exceed 1 when the prediction is much longer.
    """
    import jiwer

    p, g = ocr_words(pred or ""), ocr_words(gold or "")
    if not g:
        return 0.0 if not p else 1.0
    if not p:
        return 1.0
    return float(jiwer.wer(" ".join(g), " ".join(p)))


@lru_cache(maxsize=1)
def rouge_scorer():
    """ROUGE-1/2/L with stemming (as the release and lmms-eval score free-form answers), built once."""
    try:
        from rouge_score import rouge_scorer as rouge
    except ImportError:  # declared in vr2's dependencies; a broken install still gets a clear line
        raise Vr2Error("free-form scoring needs rouge-score: pip install rouge-score") from None
    return rouge.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)


def _fold_accents(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def rouge_f1(pred: str, gold: str) -> dict[str, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F1 from the `rouge-score` package with Porter stemming
    ("cats" = "cat"), as the release and lmms-eval compute it. Accents are folded first: its
    tokenizer keeps only a-z and 0-9, so "café" would otherwise lose its "é"."""
    scores = rouge_scorer().score(_fold_accents(gold or ""), _fold_accents(pred or ""))
    return {name: float(scores[name].fmeasure) for name in ("rouge1", "rouge2", "rougeL")}


# ---------------------------------------------------------------- scoring


def gold_choice(gold: str, options: Any = None) -> str:
    """The gold option letter; raises Vr2Error when the gold answer names no option."""
    letter = parse_choice(gold, options)
    if letter is None:
        raise Vr2Error(
            f"answer: gold answer {gold!r} is neither an option letter nor an option text"
        )
    return letter


def gold_number(gold: str) -> float:
    """The gold number; raises Vr2Error when the gold answer states none."""
    value = parse_number(gold)
    if value is None:
        raise Vr2Error(f"answer: gold answer {gold!r} is not a number")
    return value


def check_gold(gold: str, answer_type: str, options: Any = None) -> None:
    """Raise Vr2Error when `score_answer` could not read this gold answer, so a data file is
    checked row by row before any scoring (e.g. "Z" with four options, or "nan" as a number)."""
    check_answer_type(answer_type)
    if answer_type == "multiple_choice":
        gold_choice(gold, options)
    elif answer_type in ("numeric", "regression"):
        gold_number(gold)


def score_answer(pred: str | None, gold: str, answer_type: str, options: Any = None,
                 regression: str = "mra") -> float:
    """Accuracy of one predicted answer in [0, 1] (see the module docstring for each type).

    `pred` is the content of the <answer> block; None or unreadable scores 0.0. An unknown
    `answer_type` raises UnknownAnswerType (a ValueError); an unreadable gold raises Vr2Error.
    `regression` names the metric of regression answers (`REGRESSION_METRICS`).
    """
    check_answer_type(answer_type)
    metric = regression_metric(regression)
    if answer_type == "multiple_choice":
        target = gold_choice(gold, options)
        return 1.0 if pred is not None and parse_choice(pred, options) == target else 0.0
    if answer_type in ("numeric", "regression"):
        target_number = gold_number(gold)
        value = parse_number(pred) if pred is not None else None
        if value is None:
            return 0.0
        if answer_type == "numeric":
            return 1.0 if numbers_equal(value, target_number) else 0.0
        return metric(value, target_number)
    if pred is None:
        return 0.0
    if answer_type == "ocr":
        return min(1.0, max(0.0, 1.0 - word_error_rate(pred, gold)))
    # free_form
    if normalize_words(pred) and normalize_words(pred) == normalize_words(gold):
        return 1.0
    scores = rouge_f1(pred, gold)
    return (scores["rouge1"] + scores["rouge2"] + scores["rougeL"]) / 3
