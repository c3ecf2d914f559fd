"""Each benchmark's official score: how the Video-R2 release's lmms-eval task code reads one
response and combines the samples, restated in vr2's own code.

The paper's numbers come from the `*_think` tasks of the release's lmms-eval fork (run by its
eval/scripts/accuracy/run_all.sh) and, for VSIBench, from the release's post-processing script.
Those tasks read answers far more literally than vr2's own parser (`vr2.scoring.answers`, the
"vr2 reading" column): VideoMME takes the first capital A-D anywhere in the answer, so "Answer: C"
is A; VSIBench keeps only the first word, so "about 4", "(B)" and "two" score 0; MVBench takes the
first stand-alone letter, so "A or B" is A. A report that puts vr2's figure beside the paper's
must use the official reading, so this module restates each task's rule and the report shows
both columns, with what separates them.

Every rule starts from the text inside the first `<answer>...</answer>` (stripped), or the whole
response when there is none (the fork's `extract_answer`). Then, per benchmark:

- MVBench: a leading "X." (A-E, any case) is the letter; otherwise punctuation is blanked or
  dropped, quotes and brackets trimmed, the text lower-cased, and the first stand-alone a-e is the
  letter. An empty answer is left out of its task's denominator. The fork prints one figure per
  task (no MVBench-wide one); vr2 reports the mean of the 20 task figures.
- VideoMME, VideoMathQA, MINERVA: some answer phrases removed, then the first capital among A-D
  (VideoMME) or A-E anywhere in the text; none (or more than 10 words with none) scores 0.
  Accuracy over all samples. The release's MINERVA task draws no random option.
- TempCompass, MLVU: answer phrases removed from the start, then a letter A-E at the very start
  ("(C", "C.", "Clockwise" all read C), else a stand-alone A-E in a text of at most 10 words, else
  the letter before the first ")". TempCompass: accuracy over all samples; MLVU: the mean over
  its 7 task types, always divided by 7.
- LongVideoBench: like VideoMME over A-E; when nothing is found a random option is drawn, and
  that draw counts. Accuracy over all samples.
- SciVideoBench: its own phrase list, the first capital among A-L; when nothing is found a random
  letter A-J is drawn and counts. Accuracy over all samples, rounded to 2 decimals.
- Video-MMMU: multiple choice by the MMMU rules ("X." or "X:", then "(X)", then "X ", then option
  text in answers over 5 words; the last one mentioned wins); open answers as MMMU's open
  parser (key phrases, every number rounded to 2 decimals, right when the gold answer is among
  them). An empty answer is left out of the denominator. vr2 pools the three tracks.
- MMVU: right when the answer equals the gold option's text, else by the VideoMME-style letter;
  only subjects in the task's map of 27 count.
- VSIBench (the lmms-eval task): the first space-separated word, "." trimmed; multiple choice by
  equal letters, numbers by mean relative accuracy over 10 thresholds (0.50-0.95); the mean per
  question type, the three relative-direction types merged into one, then the mean over groups.
- VSIBench (the release's post-processing, which its README calls required and which gives the
  paper's number): letters by a leading "A"-"D" or an option's text; numbers by an LLM (the
  judge), else the first number in the answer; 9 thresholds; the mean over the 10 question types.

From lmms-eval sample logs the official result of each sample is what the log recorded (the
task's metric entry: parsed prediction, per-sample score, the random draw); vr2 re-scores a
sample by the rules above only where those fields are missing, and says how many.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from vr2.errors import Vr2Error
from vr2.files import loads_json
from vr2.scoring.format import without_think_blocks

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --------------------------------------------------------------------------- reading one answer


def answer_span(text: Any) -> str:
    """The text the task code reads: the first <answer>...</answer> block, stripped, else all of
    the response as it is (not stripped)."""
    if not isinstance(text, str):
        return ""
    start = text.find("<answer>")
    if start >= 0:
        end = text.find("</answer>", start + len("<answer>"))
        if end >= 0:
            return text[start + len("<answer>"):end].strip()
    return text


# Phrases the VideoMME-style tasks delete wherever they occur. Two entries of the fork's list are
# single strings (two adjacent literals with no comma between them), so they almost never match.
_PHRASES_VIDEOMME = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                     "The best option isThe correct option is", "Best answer:Best option:")
# LongVideoBench, TempCompass and MLVU have the full list of eight.
_PHRASES_FULL = ("The best answer is", "The correct answer is", "The answer is", "The answer",
                 "The best option is", "The correct option is", "Best answer:", "Best option:")
_PHRASES_SCIVIDEOBENCH = ("The answer is", "The correct answer is", "The best answer is", "Answer:",
                          "Option:", "### Final Answer:\n$$\\boxed", "the final answer is")


def first_capital(text: str, letters: str, phrases: Sequence[str], *, max_words: int = 10,
                  guard: str | None = None) -> str:
    """The first character of `text` among `letters` after deleting `phrases`; "" when there is
    none, or when the text has more than `max_words` words and none of `guard` (default
    `letters`). Case matters: "a" is no letter."""
    s = text.strip()
    for phrase in phrases:
        s = s.replace(phrase, "")
    guard = letters if guard is None else guard
    if len(s.split()) > max_words and not any(ch in guard for ch in s):
        return ""
    return next((ch for ch in s if ch in letters), "")


_LEADING = re.compile(r"\(?([A-E])")
_ALONE_AE = re.compile(r"\b([A-E])\b")


def leading_letter(text: str) -> str:
    """TempCompass's and MLVU's reading: the letter A-E the answer starts with (after dropping a
    known phrase from its start); else a stand-alone A-E when the text has at most 10 words; else
    the letter before the first ")"; else the stripped text itself (which never equals a letter)."""
    s = text.strip()
    for phrase in _PHRASES_FULL:
        if s.startswith(phrase):
            s = s[len(phrase):].strip()
    found = _LEADING.match(s)
    if found:
        return found.group(1)
    if len(s.split()) <= 10:
        found = _ALONE_AE.search(s)
        if found:
            return found.group(1)
    if ")" in s:
        at = s.index(")")
        if at > 0 and s[at - 1].upper() in "ABCDE":
            return s[at - 1].upper()
    return s


# MVBench's punctuation: each mark is deleted when it touches a space somewhere in the text (or the
# text has a digit-comma-digit), else replaced by a space.
_MV_MARKS = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
             ",", "?", "!")
_MV_THOUSANDS = re.compile(r"\d,\d")
_MV_PERIOD = re.compile(r"\.(?!\d)")
_MV_DOTTED = re.compile(r"([A-Ea-e])\.\s*[^\n]+")
_MV_ALONE = re.compile(r"\b([A-Ea-e])\b")


def mvbench_reading(text: str) -> str:
    """MVBench's reading of an answer: a letter A-E, or the cleaned, lower-cased text."""
    dotted = _MV_DOTTED.fullmatch(text.strip())
    if dotted:
        return dotted.group(1).upper()
    s = text.replace("\n", " ").replace("\t", " ").strip()
    cleaned = s
    for mark in _MV_MARKS:
        touching = f"{mark} " in s or f" {mark}" in s or _MV_THOUSANDS.search(s) is not None
        cleaned = cleaned.replace(mark, "" if touching else " ")
    # The fork passes re.UNICODE (32) where `sub` takes its count: at most 32 periods go.
    cleaned = _MV_PERIOD.sub("", cleaned, count=32)
    cleaned = cleaned.strip("'").strip('"').strip(")").strip("(").strip().lower()
    alone = _MV_ALONE.search(cleaned)
    return alone.group(1).upper() if alone else cleaned


# ---- Video-MMMU (the MMMU parsers)

_NO_ANSWER = "API Error"  # what the task records for an empty answer; left out of the denominator


def mmmu_choice(text: str, options: Sequence[str]) -> str:
    """Video-MMMU's multiple-choice reading: a letter, "No Answer Found.", or "API Error"."""
    if text in ("", _NO_ANSWER):
        return _NO_ANSWER
    for ch in (",", ".", "!", "?", ";", ":", "'"):
        text = text.strip(ch)
    padded = f" {text} "
    letters = LETTERS[:len(options)]
    found = [x for x in letters if f"{x}." in padded]
    style = "period" if found else ""
    colon = [x for x in letters if f"{x}:" in padded]
    if colon and not style:
        style = "colon"
    found += colon
    if not found:
        found = [x for x in letters if f"({x})" in padded]
        style = "bracket" if found else ""
    if not found:
        found = [x for x in letters if f"{x} " in padded]
        style = "space" if found else ""
    by_text = False
    if not found and len(padded.split()) > 5:
        lower = padded.lower()
        found = [x for x, option in zip(letters, options) if option.lower() in lower]
        by_text = bool(found)
    if not found:
        return "No Answer Found."
    if len(found) == 1:
        return found[0]
    if by_text:
        where = [padded.lower().rfind(options[letters.index(x)].lower()) for x in found]
    else:
        form = {"period": "{}.", "colon": "{}:", "bracket": "({})", "space": " {} "}[style]
        where = [padded.rfind(form.format(x)) for x in found]
    return found[where.index(max(where))]  # the last mention; the first such on a tie


_KEY_PHRASES = ("could be ", "so ", "is ", "thus ", "therefore ", "final ", "answer ", "result ", "are ",
                "in total ", "total ", "identify ", "recognize ", "calculated as ", "counted as ",
                "measured as ", "observed as ", "concluded as ", "found to be ", "equals ",
                "determined to be ", "number of ", "value is ", "adds up to ", "have ", "has ")
_TRIVIAL = {":", ",", ".", "!", "?", ";", "'"}
_SENTENCES = re.compile(r"\.\s(?=[A-Z])|\n")
_NUM_COMMAS = re.compile(r"-?\b\d{1,3}(?:,\d{3})+\b")
_NUM_SCIENTIFIC = re.compile(r"-?\d+(?:\.\d+)?[eE][+-]?\d+")
_NUM_SIMPLE = re.compile(r"-?(?:\d+\.\d+|\.\d+|\d+\b)(?![eE][+-]?\d+)(?![,\d])")


def _mmmu_value(text: str) -> list:
    """MMMU's normalisation: a number (Python's float() reads it, commas dropped) rounded to 2
    decimals, else the lower-cased text (a single character padded with a space on one side)."""
    text = text.strip()
    try:
        return [round(float(text.replace(",", "")), 2)]
    except ValueError:
        text = text.lower()
        return [" " + text, text + " "] if len(text) == 1 else [text]


def mmmu_open(text: str) -> list | str:
    """Video-MMMU's open-answer reading: the candidate strings and numbers, or "API Error"."""
    if text in ("", _NO_ANSWER):
        return _NO_ANSWER
    lowered = text.strip().strip(".").lower()
    parts = _SENTENCES.split(lowered)
    keys = []
    for k, part in enumerate(parts):
        phrases = _KEY_PHRASES + (("=",) if k == len(parts) - 1 else ())
        shortest = None
        for tail in (part.split(p)[-1].strip() for p in phrases if p in part):
            # As the parser does it: an empty tail so far is replaced by any later one.
            if not shortest or len(tail) < len(shortest):
                shortest = tail
        if shortest and shortest.strip() not in _TRIVIAL:
            keys.append(shortest)
    if not keys:
        keys = [lowered]
    found = list(keys)
    for key in keys:
        found += _NUM_COMMAS.findall(key) + _NUM_SCIENTIFIC.findall(key) + _NUM_SIMPLE.findall(key)
    values = []
    for item in found:
        values += _mmmu_value(item)
    return list(dict.fromkeys(values))


def mmmu_open_right(gold: Any, preds: Any) -> bool:
    """Right when a numeric prediction equals the gold number, or the normalised gold text is
    inside a text prediction."""
    if not isinstance(preds, list):
        return False
    golds = [v for g in (gold if isinstance(gold, list) else [gold]) for v in _mmmu_value(str(g))]
    for pred in preds:
        if isinstance(pred, str):
            if any(isinstance(g, str) and g in pred for g in golds):
                return True
        elif pred in golds:
            return True
    return False


_MMVU_FIELDS = {subject: field for field, subjects in {
    "Science": ("Biology", "Chemistry", "Modern_Physics", "Astronomy", "Geography", "Materials_Science",
                "Neurobiology", "Electromagnetism", "Thermodynamics", "Mechanics"),
    "Engineering": ("Civil_Engineering", "Electrical_Engineering", "Mechanical_Engineering",
                    "Biomedical_Engineering", "Electronics_and_Communication", "Computer_Science"),
    "Healthcare": ("Clinical_Medicine", "Basic_Medicine", "Preventive_Medicine", "Pharmacy", "Dentistry"),
    "Humanities_and_Social_Science": ("Art", "Literature", "History", "Law", "Economics", "Management"),
}.items() for subject in subjects}
MLVU_TASK_TYPES = ("anomaly_reco", "count", "ego", "needle", "order", "plotQA", "topic_reasoning")


# ---- VSIBench

VSI_MCA = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard",
           "object_rel_distance", "route_planning", "obj_appearance_order")
VSI_NA = ("object_abs_distance", "object_counting", "object_size_estimation", "room_size_estimation")
VSI_DIRECTION = VSI_MCA[:3]


@lru_cache(maxsize=4)
def _thresholds(count: int) -> tuple[float, ...]:
    import numpy as np  # the thresholds must be numpy's own linspace values, bit for bit

    return tuple(float(c) for c in np.linspace(0.5, 0.95, count))


def relative_accuracy(pred: float | None, gold: float | None, count: int, *, absolute: bool = False) -> float:
    """Mean relative accuracy: the share of thresholds c (`count` of them from 0.50 to 0.95) with
    |pred - gold| / gold <= 1 - c. The lmms-eval task uses 10 thresholds and divides by the gold
    itself; the post-processing script uses 9 and divides by |gold|, and scores a non-finite
    value 0. Raises ZeroDivisionError for a gold of 0, as the task code does."""
    if pred is None or gold is None:
        return 0.0
    if absolute and (not math.isfinite(pred) or not math.isfinite(gold) or gold == 0):
        return 0.0
    error = abs(pred - gold) / (abs(gold) if absolute else gold)
    hits = sum(1 for c in _thresholds(count) if error <= 1 - c)
    return hits / count


def _python_float(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError, OverflowError):
        return None


def vsibench_first_word(text: str) -> str:
    return text.split(" ")[0].rstrip(".").strip()


_POST_LETTER = re.compile(r"\s*([A-Da-d])(?:\b|[.):\-\s])")
_POST_OPTION = re.compile(r"\s*([A-Da-d])\s*[.):-]\s*(.*)")
_POST_GOLD = re.compile(r"\s*([A-Da-d])\b")
_POST_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def post_letter(text: str, options: Sequence[str]) -> str | None:
    """The post-processing script's letter: a leading A-D (any case) followed by a word end or
    punctuation, else the first option (in order) whose text is inside the answer, exactly or
    with everything but letters and digits removed."""
    if not text:
        return None
    s = text.strip()
    found = _POST_LETTER.match(s)
    if found:
        return found.group(1).upper()
    bodies = {}
    for option in options:
        parsed = _POST_OPTION.fullmatch((option or "").strip())
        if parsed:
            bodies[parsed.group(1).upper()] = parsed.group(2).strip()
    lowered = s.lower()
    for letter, body in bodies.items():
        if body and body.lower() in lowered:
            return letter
    squeezed = _squeeze(lowered)
    for letter, body in bodies.items():
        if body and _squeeze(body) and _squeeze(body) in squeezed:
            return letter
    return None


def _squeeze(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def post_gold_letter(gold: Any) -> str | None:
    found = _POST_GOLD.match(str(gold) if gold is not None else "")
    return found.group(1).upper() if found else None


def first_number(text: Any) -> float | None:
    found = _POST_NUMBER.search(text) if isinstance(text, str) and text else None
    value = _python_float(found.group(0)) if found else None
    return value if value is not None and math.isfinite(value) else None


# --------------------------------------------------------------------------- one sample


@dataclass
class Facts:
    """What a rule needs to know about one sample besides the response."""

    doc_id: str
    gold: str | None  # letter for multiple choice, else the answer text
    options: list[str]  # plain option texts
    group: str | None = None  # task (MVBench), task type (MLVU), question type (VSIBench), subject (MMVU)
    question: str = ""
    gold_text: str | None = None  # MMVU: the gold option's own text
    sample_id: str = ""  # Video-MMMU: the dataset id (its subject sits inside)


def _letter_result(pred: str, gold: str | None) -> dict:
    return {"official_pred": pred, "official_score": 1.0 if gold is not None and pred == gold else 0.0}


def _drawn(benchmark: str, facts: Facts, pool: str) -> str:
    # One draw per sample from a seed of its own, so reruns, resumed and sharded runs agree.
    return random.Random(f"vr2:{benchmark}:{facts.doc_id}").choice(pool)


def _rescore_mvbench(text, facts, benchmark):
    read = answer_span(text)
    out = _letter_result(mvbench_reading(read), facts.gold)
    if read == "":
        out.update(official_score=None, official_note="empty answer: left out of its task's denominator")
    return out


def _rescore_capital(letters):
    def rule(text, facts, benchmark):
        return _letter_result(first_capital(answer_span(text), letters, _PHRASES_VIDEOMME), facts.gold)
    return rule


def _rescore_leading(text, facts, benchmark):
    return _letter_result(leading_letter(answer_span(text)), facts.gold)


def _rescore_longvideobench(text, facts, benchmark):
    pred = first_capital(answer_span(text), "ABCDE", _PHRASES_FULL)
    if pred:
        return _letter_result(pred, facts.gold)
    drawn = _drawn(benchmark, facts, LETTERS[:max(1, min(len(facts.options) or 5, 5))])
    return {**_letter_result(drawn, facts.gold), "official_random": True}


def scivideobench_letter(text: str) -> str:
    """SciVideoBench's reading: the first capital A-L after its phrases ("" when none)."""
    return first_capital(answer_span(text), "ABCDEFGHIJKL", _PHRASES_SCIVIDEOBENCH, max_words=16,
                         guard="ABCDEFGHIJ")


def _rescore_scivideobench(text, facts, benchmark):
    pred = scivideobench_letter(text)
    if pred:
        return _letter_result(pred, facts.gold)
    return {**_letter_result(_drawn(benchmark, facts, "ABCDEFGHIJ"), facts.gold), "official_random": True}


def _rescore_videommmu(text, facts, benchmark):
    read = answer_span(text)
    if facts.options:
        pred = mmmu_choice(read, facts.options)
        out = _letter_result(pred, facts.gold)
    else:
        pred = mmmu_open(read)
        out = {"official_pred": pred, "official_score": 1.0 if mmmu_open_right(facts.gold, pred) else 0.0}
    if pred == _NO_ANSWER:
        out.update(official_score=None, official_note="empty answer: left out of the denominator")
    return out


def _rescore_mmvu(text, facts, benchmark):
    read = answer_span(text)
    if facts.gold_text is not None and facts.gold_text.strip() == read.strip():
        return {"official_pred": read, "official_score": 1.0}
    return _letter_result(first_capital(read, "ABCDE", _PHRASES_VIDEOMME), facts.gold)


def _rescore_vsibench(text, facts, benchmark):
    read = answer_span(text)
    word = vsibench_first_word(read)
    out = {"official_pred": word, "official_post": {"prediction": read}}
    if facts.group in VSI_MCA:
        out["official_score"] = 1.0 if facts.gold is not None and word.lower() == str(facts.gold).lower() else 0.0
    elif facts.group in VSI_NA:
        try:
            out["official_score"] = relative_accuracy(_python_float(word), _python_float(facts.gold), 10)
        except ZeroDivisionError:
            out["official_error"] = "gold answer 0: the task's relative accuracy divides by it"
    else:
        out["official_error"] = f"question type {facts.group!r} is none of VSIBench's 10 (the task stops on it)"
    return out


RESCORE: dict[str, Callable[[Any, Facts, str], dict]] = {
    "mvbench": _rescore_mvbench,
    "videomme": _rescore_capital("ABCD"),
    "videomathqa": _rescore_capital("ABCDE"),
    "minerva": _rescore_capital("ABCDE"),
    "tempcompass": _rescore_leading,
    "mlvu": _rescore_leading,
    "longvideobench": _rescore_longvideobench,
    "scivideobench": _rescore_scivideobench,
    "videommmu": _rescore_videommmu,
    "mmvu": _rescore_mmvu,
    "vsibench": _rescore_vsibench,
}


def rescore(benchmark: str, text: Any, facts: Facts) -> dict:
    """One sample's official result from its raw response, by the benchmark's rule: the row
    fields `official_pred`, `official_score` (None: outside the denominator, with
    `official_note`), `official_random` (a random option was drawn), `official_error` (the task
    code cannot score it), `official_group`, `official_source` = "rescored"."""
    rule = RESCORE.get(benchmark)
    if rule is None:
        return {}
    out = {"official_source": "rescored", "official_group": _group(benchmark, facts)}
    if facts.gold in (None, ""):
        return {**out, "official_error": "no gold answer the task can compare with"}
    out.update(rule(text if isinstance(text, str) else "", facts, benchmark))
    if benchmark == "vsibench" and "official_post" in out:
        out["official_post"].update(question=facts.question, options=_lettered(facts.options),
                                    ground_truth=facts.gold, question_type=facts.group)
    return out


def _lettered(options: Sequence[str]) -> list[str]:
    return [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]


def _group(benchmark: str, facts: Facts) -> str | None:
    return mmmu_subject(facts.sample_id) if benchmark == "videommmu" else facts.group


_MMMU_ID = re.compile(r"[^_]*_(.+?)_\d+")


def mmmu_subject(ident: Any) -> str | None:
    """The subject inside a Video-MMMU id ("validation_Art_Theory_12" -> "Art_Theory")."""
    found = _MMMU_ID.fullmatch(str(ident)) if ident not in (None, "") else None
    return found.group(1) if found else None


def mmvu_subject(video: Any) -> str | None:
    """MMVU's subject: the folder its video sits in (`videos/<Subject>/<n>.mp4`)."""
    if not isinstance(video, str) or "/" not in video:
        return None
    return PurePosixPath(video.replace("\\", "/")).parent.name or None


# The row field each grouped rule groups by (MMVU: the subject, from the video's folder).
GROUP_FIELDS = {"mvbench": "task", "mlvu": "task_type", "vsibench": "question_type", "mmvu": "subject"}


def group_of(benchmark: str, fields: Mapping[str, Any]) -> str | None:
    """The sample's group under the benchmark's rule, from its category fields."""
    if benchmark == "mmvu":  # the log's own `category` is the subject folder too
        return (mmvu_subject(fields.get("video")) or _text_or_none(fields.get("subject"))
                or _text_or_none(fields.get("category")))
    name = GROUP_FIELDS.get(benchmark)
    return _text_or_none(fields.get(name)) if name else None


def _text_or_none(value: Any) -> str | None:
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) else None


def gold_letter(gold: str | None, options: Sequence[str]) -> str | None:
    """A multiple-choice gold answer as its letter: a single capital stays; an option's exact
    text (MVBench logs the answer's text) becomes its letter; anything else is kept."""
    if gold is None or not options:
        return gold
    if len(gold) == 1 and gold in LETTERS:
        return gold
    return LETTERS[list(options).index(gold)] if gold in options and list(options).index(gold) < 26 else gold


def option_text(gold: str | None, options: Sequence[str]) -> str | None:
    if gold and len(gold) == 1 and gold in LETTERS and LETTERS.index(gold) < len(options):
        return options[LETTERS.index(gold)]
    return None


_ROW_FIELDS = ("official_pred", "official_score", "official_note", "official_random", "official_error",
               "official_group", "official_source", "official_post")


def check_row(record: Mapping[str, Any]) -> dict:
    """The official fields of a vr2 samples row, checked like a log's (a score is a finite number
    in [0, 1] or null). Raises BadLogValue."""
    out = {k: record[k] for k in _ROW_FIELDS if k in record}
    score = out.get("official_score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))
                              or not math.isfinite(score) or not 0 <= score <= 1):
        raise BadLogValue(f"'official_score' is {score!r}, not a score between 0 and 1")
    if "official_post" in out and not isinstance(out["official_post"], Mapping):
        out.pop("official_post")
    return out


# --------------------------------------------------------------------------- from a sample log

# The metric entry each task writes into a logged sample (the release fork's name first).
LOG_KEYS = {
    "mvbench": ("mvbench_accuracy",), "videomme": ("videomme_perception_score",),
    "tempcompass": ("tempcompass_perception_score",), "mlvu": ("mlvu_percetion_score",),
    "longvideobench": ("lvb_acc",), "videomathqa": ("videomathqa_perception_score",),
    "videommmu": ("mmmu_acc",), "mmvu": ("accuracy",),
    "vsibench": ("vsibench_score", "vsibench_overall"),
    "minerva": ("minerva_perception_score", "minerva_acc"), "scivideobench": ("scivideobench_acc",),
}
_MRA_KEY = "MRA:.5:.95:.05"


class BadLogValue(ValueError):
    """A logged official field that is no score (NaN, 1e300, true for a number): the line is
    rejected with this message."""


def _unit_number(entry: Mapping, key: str) -> float:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 <= value <= 1:
        raise BadLogValue(f"'{key}' is {value!r}, not a score between 0 and 1")
    return float(value)


def _truth(entry: Mapping, key: str) -> float:
    value = entry.get(key)
    if not isinstance(value, bool):
        raise BadLogValue(f"'{key}' is {value!r}, not true or false")
    return 1.0 if value else 0.0


def _text_field(entry: Mapping, key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str):
        raise BadLogValue(f"'{key}' is {type(value).__name__}, not text")
    return value


def log_entry(benchmark: str, record: Mapping) -> Mapping | None:
    """The task's metric entry in a logged sample, or None."""
    for key in LOG_KEYS.get(benchmark, ()):
        entry = record.get(key)
        if isinstance(entry, Mapping):
            return entry
    return None


def from_log(benchmark: str, record: Mapping, facts: Facts) -> dict | None:
    """The official result the log recorded for this sample, or None when its metric entry lacks
    the fields (then the caller re-scores). Raises BadLogValue for a field that is no score."""
    entry = log_entry(benchmark, record)
    if entry is None:
        return None
    reader = _LOG_READERS[benchmark]
    try:
        out = reader(entry, facts)
    except KeyError:
        return None
    if out is None:
        return None
    return {"official_source": "log", "official_group": _log_group(benchmark, entry, facts), **out}


def _needs(entry: Mapping, *keys: str) -> None:
    for key in keys:
        if key not in entry:
            raise KeyError(key)


def _log_mvbench(entry, facts):
    _needs(entry, "pred_answer", "score")
    pred = _text_field(entry, "pred_answer")
    score = _unit_number(entry, "score")
    if pred == "":
        return {"official_pred": pred, "official_score": None,
                "official_note": "empty answer: left out of its task's denominator"}
    return {"official_pred": pred, "official_score": score}


def _log_letter(entry, facts):
    _needs(entry, "pred_answer", "answer")
    pred = _text_field(entry, "pred_answer")
    if "score" in entry:  # upstream's MINERVA records its score
        return {"official_pred": pred, "official_score": _unit_number(entry, "score")}
    return {"official_pred": pred, "official_score": 1.0 if pred == entry["answer"] else 0.0}


def _log_correct(entry, facts):
    _needs(entry, "pred_answer", "correct")
    return {"official_pred": _text_field(entry, "pred_answer"), "official_score": _truth(entry, "correct")}


def _log_scivideobench(entry, facts):
    out = _log_correct(entry, facts)
    # The task draws when nothing parses; the log keeps the drawn letter, not whether it drew.
    raw = entry.get("raw_output")
    if isinstance(raw, str):
        out["official_random"] = scivideobench_letter(raw) == ""
    return out


def _log_longvideobench(entry, facts):
    _needs(entry, "parsed_pred", "answer")
    pred = _text_field(entry, "parsed_pred")
    return {"official_pred": pred, "official_score": 1.0 if pred == entry["answer"] else 0.0}


def _log_videommmu(entry, facts):
    _needs(entry, "parsed_pred", "answer")
    pred = entry["parsed_pred"]
    if pred == _NO_ANSWER:
        return {"official_pred": pred, "official_score": None,
                "official_note": "empty answer: left out of the denominator"}
    if entry.get("question_type") in ("multiple-choice", "perception"):
        return {"official_pred": pred, "official_score": 1.0 if pred == entry["answer"] else 0.0}
    if not isinstance(pred, list) or any(isinstance(p, bool) or not isinstance(p, (str, int, float))
                                         or (isinstance(p, float) and not math.isfinite(p)) for p in pred):
        raise BadLogValue("'parsed_pred' of an open question is not a list of texts and numbers")
    return {"official_pred": pred, "official_score": 1.0 if mmmu_open_right(entry["answer"], pred) else 0.0}


def _log_vsibench(entry, facts):
    qtype = entry.get("question_type")
    if qtype in VSI_MCA:
        _needs(entry, "accuracy")
        score = _unit_number(entry, "accuracy")
    elif qtype in VSI_NA:
        _needs(entry, _MRA_KEY)
        score = _unit_number(entry, _MRA_KEY)
    else:
        return None
    prediction = entry.get("prediction")
    out = {"official_pred": vsibench_first_word(prediction) if isinstance(prediction, str) else None,
           "official_score": score}
    if isinstance(prediction, str):
        options = entry.get("options")
        out["official_post"] = {"prediction": prediction, "question": str(entry.get("question") or ""),
                                "options": [str(o) for o in options] if isinstance(options, list) else [],
                                "ground_truth": entry.get("ground_truth"), "question_type": qtype}
    return out


_LOG_READERS = {
    "mvbench": _log_mvbench, "videomme": _log_letter, "videomathqa": _log_letter, "minerva": _log_letter,
    "tempcompass": _log_letter, "mlvu": _log_letter, "longvideobench": _log_longvideobench,
    "scivideobench": _log_scivideobench, "videommmu": _log_videommmu, "mmvu": _log_correct,
    "vsibench": _log_vsibench,
}


def _log_group(benchmark: str, entry: Mapping, facts: Facts) -> str | None:
    if benchmark == "mlvu":
        return str(entry.get("task_type", facts.group))
    if benchmark == "vsibench":
        return str(entry.get("question_type", facts.group))
    if benchmark == "mmvu":
        return str(entry["category"]) if isinstance(entry.get("category"), str) else facts.group
    if benchmark == "videommmu":
        return str(entry["subdomain"]) if isinstance(entry.get("subdomain"), str) else mmmu_subject(facts.sample_id)
    return facts.group


# --------------------------------------------------------------------------- one benchmark

RULES = {
    "mvbench": "each task's accuracy over its non-empty answers (MVBench's letter reading), then the mean "
               "of the task figures (the fork prints one figure per task)",
    "videomme": "accuracy over all samples; the first capital A-D anywhere in the answer",
    "tempcompass": "accuracy over all samples; the letter the answer starts with",
    "mlvu": "the mean of the 7 task-type accuracies, always divided by 7; the letter the answer starts with",
    "longvideobench": "accuracy over all samples; the first capital A-E, else a random option (the draw counts)",
    "videomathqa": "accuracy over all samples; the first capital A-E anywhere in the answer",
    "videommmu": "accuracy over the non-empty answers of the three tracks (MMMU parsers; open answers "
                 "right when the gold is among the answer's key phrases and 2-decimal numbers)",
    "mmvu": "accuracy over the subjects of the task's map of 27; the gold option's text, else the first capital A-E",
    "vsibench": "mean over question types (the 3 relative-direction types merged) of first-word letter "
                "accuracy and 10-threshold relative accuracy",
    "minerva": "accuracy over all samples; the first capital A-E anywhere in the answer (no random option)",
    "scivideobench": "accuracy over all samples, 2 decimals; the first capital A-L, else a random letter A-J "
                     "(the draw counts)",
}
SEPARATES = ("vr2 reading: the accuracy reward's parser (a letter in any form, an option's text, number "
             "words; an answer naming several options scores 0); official: the task code's literal rule above")


def official_metrics(benchmark: str, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The benchmark's official figure from its rows' official fields, with the rule in words,
    counts (from the log or re-scored, outside the denominator, errors, random draws, samples
    where the two readings disagree) and the per-group figures the rule combines."""
    if benchmark not in RULES:
        return {}
    live = [r for r in rows if not r.get("error")]
    errors = [r for r in live if r.get("official_error")]
    judged = [r for r in live if not r.get("official_error") and "official_score" in r]
    counted = [r for r in judged if isinstance(r.get("official_score"), (int, float))]
    value, groups, rule = _combine(benchmark, counted)
    out = {
        "official_accuracy": value,
        "official_rule": rule,
        "official_counted": len(counted),
        "official_left_out": len(judged) - len(counted),
        "official_errors": len(errors),
        "official_from_log": sum(1 for r in judged if r.get("official_source") == "log"),
        "official_rescored": sum(1 for r in judged if r.get("official_source") == "rescored"),
        "official_random_draws": sum(1 for r in counted if r.get("official_random")),
        "official_differs": sum(1 for r in counted if isinstance(r.get("accuracy"), (int, float))
                                and float(r["accuracy"]) != float(r["official_score"])),
    }
    if groups:
        out["official_groups"] = groups
    return out


def _percent(total: float, count: int) -> float | None:
    return 100.0 * total / count if count else None


def _scores(rows) -> list[float]:
    return [float(r["official_score"]) for r in rows]


def _group_table(groups: Mapping[str, list[float]]) -> dict[str, dict]:
    """{group: {"accuracy": 0-100, "samples": n}}, in group order."""
    return {k: {"accuracy": 100.0 * sum(v) / len(v), "samples": len(v)} for k, v in sorted(groups.items())}


def _mean_accuracy(table: Mapping[str, Mapping]) -> float | None:
    """The mean of a group table's accuracies (every group weighs the same)."""
    return sum(e["accuracy"] for e in table.values()) / len(table) if table else None


def _by_group(rows, default: str = "(none)") -> dict[str, list[float]]:
    groups: dict[str, list[float]] = {}
    for row in rows:
        groups.setdefault(str(row.get("official_group") or default), []).append(float(row["official_score"]))
    return groups


def _combine(benchmark: str, rows) -> tuple[float | None, dict[str, dict], str]:
    rule = RULES[benchmark]
    scores = _scores(rows)
    if benchmark == "mvbench":
        table = _group_table(_by_group(rows))
        return _mean_accuracy(table), table, rule
    if benchmark == "mlvu":
        groups = _by_group(rows)
        table = {t: {"accuracy": _percent(sum(groups.get(t, [])), len(groups.get(t, []))) or 0.0,
                     "samples": len(groups.get(t, []))} for t in MLVU_TASK_TYPES}
        return (sum(e["accuracy"] for e in table.values()) / len(MLVU_TASK_TYPES) if rows else None), table, rule
    if benchmark == "vsibench":
        return _vsibench_task(rows, rule)
    if benchmark == "mmvu":
        mapped = [s for r, s in zip(rows, scores) if str(r.get("official_group")) in _MMVU_FIELDS]
        left = len(scores) - len(mapped)
        if left:
            rule += f" ({left} sample(s) of other subjects not counted)"
        return _percent(sum(mapped), len(mapped)), {}, rule
    value = _percent(sum(scores), len(scores))
    if value is not None and benchmark == "longvideobench":
        value = 100.0 * round(sum(scores) / len(scores), 5)  # the task prints the fraction to 5 places
    if value is not None and benchmark == "scivideobench":
        value = round(value, 2)
    return value, {}, rule


def _vsibench_task(rows, rule: str) -> tuple[float | None, dict[str, dict], str]:
    groups = _by_group(rows)
    means = {k: sum(v) / len(v) for k, v in groups.items()}
    direction = [means.pop(k) for k in VSI_DIRECTION if k in means]
    table = {k: {"accuracy": 100.0 * v, "samples": len(groups[k])} for k, v in sorted(means.items())}
    if direction:
        present = [k for k in VSI_DIRECTION if k in groups]
        table["object_rel_direction (merged)"] = {
            "accuracy": 100.0 * sum(direction) / len(direction),
            "samples": sum(len(groups[k]) for k in present)}
        if len(direction) < 3:
            rule += (f" (only {', '.join(present)} present: the task needs all three direction types; "
                     "vr2 merged those present)")
    return _mean_accuracy(table), table, rule


# --------------------------------------------------------------------------- VSIBench post-processing


@dataclass(frozen=True)
class PostPrompts:
    """The post-processing script's two LLM prompts, as templates read from the user's checkout
    of the release (`vr2.eval.release_prompts.post_processing_prompts`): slots named `question`,
    `prediction` and `options`."""

    number: str
    letter: str
    source: str

    def fill(self, template: str, **values: str) -> str:
        return template.format_map(values)


def vsibench_post(rows: Sequence[Mapping[str, Any]], *, judge=None, prompts: PostPrompts | None = None,
                  why_no_llm: str = "") -> dict:
    """The release's VSIBench post-processing over the rows' `official_post` fields: the mean
    over the 10 question types of letter accuracy (a leading letter or an option's text; the
    judge re-reads a mismatch) and 9-threshold relative accuracy of the judge's number (else the
    first number in the answer). Without a judge (or the release's prompts) the LLM step is
    skipped: every number comes from the script's own fallback, and the rule says so."""
    posts = [r["official_post"] for r in rows
             if not r.get("error") and isinstance(r.get("official_post"), Mapping)]
    if not posts:
        return {}
    llm = judge is not None and prompts is not None
    per_type: dict[str, list[float]] = {}
    failures = 0
    for post in posts:
        qtype = post.get("question_type")
        if qtype in VSI_MCA:
            value = _post_letter_score(post, judge if llm else None, prompts)
        elif qtype in VSI_NA:
            value = _post_number_score(post, judge if llm else None, prompts)
        else:
            continue
        if value is None:
            failures += 1
            continue
        per_type.setdefault(qtype, []).append(value)
    table = _group_table(per_type)
    value = _mean_accuracy(table)
    how = (f"numbers and letter mismatches read by the judge with the release's prompts ({prompts.source})"
           if llm else f"LLM step skipped ({why_no_llm or 'no judge, or no release checkout for its prompts'}): "
                       "numbers by the script's own fallback, the first number in the answer")
    out = {"accuracy": value, "groups": table, "llm": llm,
           "rule": "the release's post-processing: mean over the 10 question types (no merging) of letter "
                   f"accuracy and 9-threshold relative accuracy; {how}"}
    if failures:
        out.update(accuracy=None, judge_failures=failures,
                   rule=out["rule"] + f"; the judge failed on {failures} sample(s): rerun to complete "
                                      "(its replies are cached)")
    return out


def _ask(judge, text: str) -> str | None:
    """The judge's reply to one user message (the script sends no system prompt), or None when
    the judge failed. Every reply is cached by the built-in client, as the script's LLM step
    would answer it the same way again."""
    return judge.complete([{"role": "user", "content": text}])


def _strict_object(reply: str) -> dict | None:
    """The reply as one JSON object (code fences and a think block removed), else None."""
    text = without_think_blocks(reply).strip()
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text, flags=re.IGNORECASE)
    try:
        value = loads_json(text, "judge reply")
    except Vr2Error:
        return None
    return value if isinstance(value, dict) else None


def _post_letter_score(post: Mapping, judge, prompts: PostPrompts | None) -> float | None:
    gold = post_gold_letter(post.get("ground_truth"))
    options = [str(o) for o in post.get("options") or []]
    prediction = str(post.get("prediction") or "")
    letter = post_letter(prediction, options)
    if letter is not None and gold is not None and letter == gold:
        return 1.0
    if judge is None:
        return 0.0
    reply = _ask(judge, prompts.fill(prompts.letter, question=str(post.get("question") or ""),
                                     options="\n".join(options), prediction=prediction))
    if reply is None:
        return None
    picked = (_strict_object(reply) or {}).get("letter")
    picked = picked.upper() if isinstance(picked, str) and picked.upper() in ("A", "B", "C", "D") else None
    return 1.0 if picked is not None and gold is not None and picked == gold else 0.0


def _post_number_score(post: Mapping, judge, prompts: PostPrompts | None) -> float | None:
    prediction = str(post.get("prediction") or "")
    value = None
    if judge is not None:
        reply = _ask(judge, prompts.fill(prompts.number, question=str(post.get("question") or ""),
                                         prediction=prediction))
        if reply is None:
            return None
        raw = (_strict_object(reply) or {}).get("value")
        value = None if isinstance(raw, bool) else _python_float(raw)
        value = value if value is not None and math.isfinite(value) else None
    if value is None:
        value = first_number(prediction)
    gold = _python_float(post.get("ground_truth"))
    gold = gold if gold is not None and math.isfinite(gold) else None
    return relative_accuracy(value, gold, 9, absolute=True)


# --------------------------------------------------------------------------- what a summary holds


def summarize(benchmark: str, rows: Sequence[Mapping[str, Any]], *, judge=None,
              prompts: PostPrompts | None = None, why_no_llm: str = "") -> dict[str, Any]:
    """A benchmark's official entries for summary.json: `official_metrics`, and for VSIBench
    both official figures under `official_figures` (the lmms-eval task's and the release's
    post-processing), the post-processing one heading the column when its LLM step ran."""
    out = official_metrics(benchmark, rows)
    if benchmark != "vsibench" or not out:
        return out
    post = vsibench_post(rows, judge=judge, prompts=prompts, why_no_llm=why_no_llm)
    figures = [{"name": "lmms-eval task (vsibench_think)", "accuracy": out["official_accuracy"],
                "rule": out["official_rule"]}]
    if post:
        figures.append({"name": "release post-processing", "accuracy": post["accuracy"], "rule": post["rule"],
                        "groups": post["groups"]})
    if post.get("llm") and post.get("accuracy") is not None:
        out.update(official_accuracy=post["accuracy"], official_groups=post["groups"],
                   official_rule=post["rule"])
        figures[1]["used"] = True
    else:
        figures[0]["used"] = True
    out["official_figures"] = figures
    return out
