"""The answer a reasoning trace concludes: find the concluding statement, resolve negation and
rejection inside it, then read the option or value it commits to.

Statements. The reasoning is cut into statements at sentence ends (also "。！？") and line breaks.
Stray `<think>`/`<answer>` tags, LaTeX delimiters and `\\text{}` are dropped; `\\boxed{X}` is kept as
a commitment to X. A statement whose conclusion marker has nothing after it ("The correct answer
is:", "## Answer", "因此，答案是") is read together with the statement that follows it, so an answer
on the next line counts.

Commitment. A statement commits when it carries a conclusion marker:
- forward (the answer follows): "the answer is / answer:", "the correct / best / only option is",
  "therefore", "thus", "hence", "in conclusion", "overall," (as a sentence adverb), "so" (not "so
  far", "so that", "so let's"), "then it's", "it must be / has to be", the speaker's own choice
  ("I choose / pick / go with / stick with / lean toward"; not "he will pick up"), "my answer is",
  "corresponds to", "that leaves (only) D", "matches / aligns with / points to / is consistent
  with option C", and the same in Chinese, Japanese, Korean, Spanish, French, German, Italian,
  Portuguese and Russian ("答案是", "答えは", "정답은", "la respuesta es", "donc", "die Antwort",
  "quindi", "portanto", "ответ");
- backward (the answer precedes): "... is correct / right / the best / the answer", "... looks like
  the likeliest choice", "... seems most likely", "... fits best", "best describes";
- option-only (an explicit option must be named before it): "Option C aligns with / fits /
  matches / correctly ...", "C remains";
- a `\\boxed{}` value.
A statement that concludes there is no answer ("the answer is not provided", "cannot be
determined", "not among the options") ends the search: the trace concludes nothing, and an
earlier statement is not read in its place. Questions and statements starting with "if" never
conclude.

Negation and rejection. Inside the committed part, a rejected option ("not B", "rather than B",
"the answer isn't B, it has to be D", "D, not B, is correct") is removed, and a clause that is
still negated ("option C is incorrect") is skipped; a negation inside an option's own text ("D.
The car never turns") is not a rejection.

Reading. Multiple choice: a `\\boxed{}` letter, else the option label the part opens with ("B.
30°C", "D. high bias, high variance", "Option H: ..."; the letter wins over the words after it),
else the first clause (forward; the last, backward) that names one option by letter or by its
text, else (not for option-only markers) the option it describes in other words
(`paraphrase.described_option`). Numeric/regression: the number of the clause the marker governs,
with rejected numbers, subordinate clauses ("when it is 7 feet away") and moments ("at 00:20", "by
00:20") left out; a lone clock is its seconds ("1:30" is 90); a `\\boxed{}` text that is no number
is kept as text. Free form / OCR: the text after the marker.

Final statement. When no statement carries a marker, the last statement that is not a question, a
conditional or a negation is the conclusion if it names exactly one option (by letter, by text or
by description), a single number, or, for free-form, any text.
"""

from __future__ import annotations

import re
from string import ascii_uppercase
from typing import Any

from vr2.errors import Vr2Error
from vr2.scoring.answers import (LATEX_DEGREE, check_answer_type, format_number, normalize_options,
                                 parse_choice, parse_number, remove_option_texts)
from vr2.scoring.paraphrase import described_option
from vr2.scoring.timestamps import find_times

_NUMERIC = ("numeric", "regression")
_LETTER = r"(?-i:[A-Z])"

# Forward markers that state an answer outright; a cut-off trace is read with these only.
_ANSWER_IS = (r"\banswers?\b(?:\s+to\s+[^.,:;]{0,60}?)?\s*(?:is|are|would\s+be|should\s+be|must\s+be"
              r"|will\s+be|seems\s+to\s+be|=|:|：)(?![\w'’])")
_CORRECT_OPTION_IS = (
    r"\b(?:correct|best|right|final|likely|likeliest|appropriate|suitable|only|plausible|fitting|logical)"
    r"\s+(?:option|choice|one|pick|match|selection)(?:\s+that\s+\w+)?\s*(?:is|would\s+be|should\s+be"
    r"|must\s+be|=|:)(?![\w'’])")
# the speaker's own choice only: "I choose B", "we'll go with C", not "he will pick up X"
_SPEAKER_CHOOSES = (
    r"\b(?:I|we)(?:['’](?:ll|d|m)|\s+(?:would|will|should|must|can|now|then|finally|am))?\s+"
    r"(?:choose|chose|pick|picked|select|selected|go\s+with|going\s+with|opt\s+for|settle\s+on"
    r"|stick\s+with|lean\s+towards?|leaning\s+towards?)\b")
_MY_ANSWER_IS = r"\b(?:my|our)\s+(?:final\s+)?(?:answer|choice|pick|selection)\s+(?:is|would\s+be|=|:)"
_EXPLICIT_FORWARD = [_ANSWER_IS, _CORRECT_OPTION_IS, _SPEAKER_CHOOSES, _MY_ANSWER_IS]

_FORWARD = _EXPLICIT_FORWARD + [
    r"^\W*(?:the\s+)?(?:final\s+)?(?:answer|conclusion|verdict)\W*$",  # a header: "## Answer"
    r"\b(?:therefore|thus|hence|consequently|in\s+conclusion|to\s+conclude|in\s+summary|to\s+sum\s+up"
    r"|all\s+in\s+all|accordingly)\b",
    r"(?:^|[.;:,]\s*)\W*overall\b",
    # "so" concludes, except in "so far", "so that", "so let's look at ...", "so now ..."
    r"(?:^|[,;]\s*)\W*so\b(?![\s,]+(?:far|that|much|many|as|let|now|next|first)\b)",
    r"(?:^|[.;:,]\s*)then\s*,?\s+(?=it['’]s\b|it\s+is\b|it\s+must\b|the\s+answer\b)",
    r"\b(?:must|has\s+to|have\s+to)\s+be\b",
    r"\bcorrespond(?:s|ing)?\s+(?:to|with)\b",
    r"\b(?:match(?:es)?|align(?:s)?\s+with|points?\s+to|(?:is|are)\s+consistent\s+with|fits?)\s+"
    r"(?:(?:the|this)\s+)?(?:description\s+(?:given\s+|provided\s+)?(?:in|of)\s+)?"
    rf"(?=(?:option|choice)\b|\(?{_LETTER}\)?(?![\w'’]))",
    rf"\bleaves?\s+(?:us\s+with\s+)?(?:only\s+)?(?=(?:option|choice)\b|\(?{_LETTER}\)?(?![\w'’]))",
    # other languages
    r"答案(?:应该|應該)?(?:是|为|為)?\s*[:：]?|因此|所以|故选|故|综上|答えは|したがって|よって|正解は"
    r"|정답은|따라서|답은",
    r"\bla\s+respuesta(?:\s+correcta)?\s+es\b|\bpor\s+lo\s+tanto\b|\bla\s+(?:bonne\s+)?r[ée]ponse\s+est\b"
    r"|\bdonc\b|\bantwort\b(?:\s+ist\b)?(?:\s+also\b)?\s*:?|\bdaher\b|\bdeshalb\b|\bsomit\b"
    r"|\bответ\b\s*[:：]?|\bследовательно\b|\bпоэтому\b|\ba\s+resposta(?:\s+correta)?\s+[ée]\b"
    r"|\bportanto\b|\bla\s+risposta(?:\s+corretta)?\s+[èe]\b|\bquindi\b",
]
_FORWARD_NUMERIC = [r"\b(?:total|altogether|in\s+all|sum|result)\b"]
_REJECT_FORWARD = [r"\banswer\s+(?:is\s+not|isn['’]t|can(?:not|['’]t)\s+be|is\s+neither)\b"]
_BACKWARD = [
    r"\b(?:is|seems|looks|appears|must\s+be|has\s+to\s+be)\s+(?:to\s+be\s+)?(?:like\s+)?(?:the\s+)?"
    r"(?:most\s+)?(?:correct|right|best|likeliest|likely|plausible|appropriate|fitting|answer|choice)\b",
    r"\b(?:fits|matches|describes)\s+best\b",
    r"\bbest\s+(?:fits|matches|describes|captures|reflects)\b",
    r"\b(?:richtig|korrekt|correcta|correcto|correcte|corretta|correta)\b",
]
_OPTION_ONLY = [
    r"\b(?:aligns?|fits|matches|correctly|accurately|is\s+consistent|corresponds|remains|is\s+left)\b",
]
_KINDS = (("forward", _FORWARD), ("reject", _REJECT_FORWARD), ("backward", _BACKWARD),
          ("option", _OPTION_ONLY))
_PATTERNS = {kind: [re.compile(p, re.I) for p in patterns] for kind, patterns in _KINDS}
_NUMERIC_PATTERNS = [re.compile(p, re.I) for p in _FORWARD_NUMERIC]
_ANY_MARKER = re.compile("|".join(f"(?:{p})" for _, group in _KINDS for p in group) + "|" +
                         "|".join(f"(?:{p})" for p in _FORWARD_NUMERIC), re.I | re.M)
_EXPLICIT = {"forward": [re.compile(p, re.I) for p in _EXPLICIT_FORWARD], "reject": _PATTERNS["reject"]}

_NO_ANSWER = re.compile(
    r"\b(?:answer|value|result)\b[^.;]{0,40}?\b(?:is\s+not|isn['’]t|cannot\s+be|can['’]t\s+be"
    r"|is\s+impossible\s+to)\s+(?:be\s+)?(?:provided|given|available|possible|determined|found|computed"
    r"|calculated|known|among|in\s+the|listed|one\s+of)\b"
    r"|\bnone\s+of\s+the\s+(?:options|choices|answers|above)\s+(?:is|are)\s+(?:correct|right)\b"
    r"|\bnot\s+among\s+the\s+(?:provided\s+|given\s+|listed\s+)?(?:options|choices)\b",
    re.I)
_NEGATION = re.compile(
    r"\b(?:not|never|incorrect|wrong|unlikely|eliminat\w*|rul(?:e|ed|ing)\s+out|exclud\w*|cannot|"
    r"\w+n['’]t)\b|\bout\b\W*$",
    re.I,
)
_NOT_OPTION = re.compile(
    r"\b(?:not|rather\s+than|instead\s+of|isn['’]t|aren['’]t|except)\s+(?:option\s+|choice\s+)?"
    rf"[(\[]?{_LETTER}[)\]]?(?:\s*(?:,|or|nor|and)\s*(?:option\s+)?[(\[]?{_LETTER}[)\]]?)*(?![\w'’])",
    re.I)
_NEGATED_PART = re.compile(r"\b(?:not|rather\s+than|instead\s+of)\s+[^,.;]*", re.I)
_SUBORDINATE = re.compile(
    r"[,;]?\s*\b(?:when|whenever|where|if|given|assuming|provided\s+that|since|because|while|as\s+long\s+as)\b.*$",
    re.I | re.S)
_LABEL = re.compile(rf"^\W*(?:(?:option|choice)\s+)?[(\[]?({_LETTER})(?:[)\]]|(?=[.:：)])|\s*$|(?=\s+[-–—]))",
                    re.I)
_CLAUSE_SPLIT = re.compile(
    r"[,;:]\s|\s[-–—]\s|\s(?:because|since|as|and|but|while|whereas|although|though)\s", re.I)
_STATEMENT_SPLIT = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])|\n+")
_BULLET = re.compile(r"^(?:[\s>*#•\-–—]+|\d{1,2}[.)]\s+)+")
_BOXED = re.compile(r"\\boxed\s*\{")
_LATEX_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mathbf|textit|operatorname)\s*\{([^{}]*)\}")
_LATEX_DROP = re.compile(r"\\[()\[\]]|\$+|\\[,;!]|\\quad")
_TAGS = re.compile(r"</?\s*(?:think|answer)\s*>", re.I)
_MOMENT_WORDS = re.compile(r"\b(?:at|by|around|about|from|between|until|till|near|after|before|since|"
                           r"during|within|in)\s+(?:the\s+)?$", re.I)
_PROVISIONAL = re.compile(r"\W*(?:so\s+far|for\s+now|at\s+first|initially|at\s+this\s+point|first\s+I\s+thought)\b", re.I)
_TURN = re.compile(r"\b(?:but|however|yet)\b", re.I)
_PLANNING = re.compile(r"\W*(?:so,?\s+|now,?\s+|next,?\s+|first,?\s+)*(?:let['’]s|let\s+(?:me|us)|consider|look\s+at|"
                       r"we\s+(?:need|have|must|should)|I\s+(?:need|have|must|should|will)|to\s+(?:determine|find|answer))\b",
                       re.I)
_HEDGE = re.compile(r"\b(?:maybe|perhaps|possibly|might|could|not\s+sure|unsure|unclear)\b", re.I)
_EDGE = " \t\n,;:.!?\"'*`_"  # not '-': it may be a minus sign
_MAX_MARKERS_TRIED = 4
_MAX_FINAL = 1000
_BOX_OPEN, _BOX_CLOSE = "⟦", "⟧"
NO_ANSWER = object()


def think_conclusion(think: Any, answer_type: str, options: Any = None, *,
                     explicit_only: bool = False) -> str | None:
    """The answer the reasoning concludes, normalised: a letter for multiple choice, a number string
    ("12", "3.5") for numeric/regression (or the text of a boxed non-number), the concluding text
    otherwise; None when the reasoning concludes nothing. Never raises for any text (an unknown
    answer_type raises UnknownAnswerType).

    `explicit_only` (for reasoning that was cut off) counts only explicit answer statements ("the
    answer is", "the correct option is", "I choose", a boxed value): a cut-off trace has no final
    statement, and its "so"s are steps of a computation."""
    check_answer_type(answer_type)
    if not isinstance(think, str):
        return None
    reader = _Reader(answer_type, options, explicit_only)
    statements = _statements(think)
    for index in range(len(statements) - 1, -1, -1):
        answer = reader.statement(statements, index)
        if answer is NO_ANSWER:
            return None
        if answer is not None:
            return answer
    return None if explicit_only else reader.final_statement(statements)


# --------------------------------------------------------------------------- statements


def plain(text: str) -> str:
    """The text without stray tags and LaTeX wrapping; `\\boxed{X}` becomes ⟦X⟧."""
    text = _TAGS.sub(" ", text)
    text = LATEX_DEGREE.sub("°", _unbox(text))
    for _ in range(3):  # nested \text{\textbf{...}}
        text = _LATEX_WRAP.sub(r"\1", text)
    return _LATEX_DROP.sub(" ", text)


def _unbox(text: str) -> str:
    """\\boxed{...} (braces balanced inside) -> ⟦...⟧, left to right, linear."""
    out, pos = [], 0
    for m in _BOXED.finditer(text):
        if m.start() < pos:
            continue
        depth, end = 1, m.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        if depth:
            break
        out += [text[pos:m.start()], _BOX_OPEN, text[m.end():end - 1], _BOX_CLOSE]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _statements(think: str) -> list[str]:
    parts = (_BULLET.sub("", s).strip() for s in _STATEMENT_SPLIT.split(plain(think)))
    return [s for s in parts if s.strip(_EDGE)]


def _skipped(statement: str) -> bool:
    return statement.rstrip(" *_)\"'").endswith(("?", "？")) or re.match(r"\W*if\b", statement, re.I) is not None


def _settled(statement: str) -> str:
    """A statement that opens provisionally ("So far, A fits", "At first I thought A, but ...")
    commits only after its "but"; without one, to nothing."""
    if not _PROVISIONAL.match(statement):
        return statement
    turn = _TURN.search(statement)
    return statement[turn.end():] if turn else ""


# --------------------------------------------------------------------------- markers


def _markers(statement: str, numeric: bool, explicit_only: bool = False) -> list[tuple[int, int, str]]:
    if _BOX_OPEN not in statement and not _ANY_MARKER.search(statement):
        return []  # one scan settles most statements
    found = []
    for kind, patterns in (_EXPLICIT if explicit_only else _PATTERNS).items():
        for pattern in patterns:
            found += [(m.start(), m.end(), kind) for m in pattern.finditer(statement)]
    if numeric and not explicit_only:
        found += [(m.start(), m.end(), "forward") for p in _NUMERIC_PATTERNS for m in p.finditer(statement)]
    if _BOX_OPEN in statement:
        found.append((statement.index(_BOX_OPEN), statement.index(_BOX_OPEN), "forward"))
    return sorted(found)


class _Reader:
    """Reads statements for one answer type and option list."""

    def __init__(self, answer_type: str, options: Any, explicit_only: bool = False):
        self.kind = answer_type
        self.options = options
        self.explicit_only = explicit_only
        try:
            self.option_texts = normalize_options(options)
        except Vr2Error:  # unusable options: letters only
            self.option_texts = []
        self.letters = ascii_uppercase[:len(self.option_texts) or 10]  # the labels a pick may use

    # -- one statement
    def statement(self, statements: list[str], index: int):
        """What statement `index` commits to: an answer, None (it commits to nothing), or NO_ANSWER
        (it concludes that there is no answer)."""
        text = _settled(statements[index])
        if _skipped(text):
            return None
        markers = _markers(text, self.kind in _NUMERIC, self.explicit_only)
        if not markers:
            return None
        answer = self._read_markers(text, statements, index, markers)
        if answer is None and self.kind != "free_form" and _NO_ANSWER.search(text):
            return NO_ANSWER
        return answer

    def _read_markers(self, text: str, statements: list[str], index: int,
                      markers: list[tuple[int, int, str]]) -> str | None:
        # The last marker with something readable wins; a few earlier ones are fallbacks (a few
        # only, so a sentence of a thousand "therefore"s stays linear).
        for k in range(len(markers) - 1, max(-1, len(markers) - 1 - _MAX_MARKERS_TRIED), -1):
            start, end, kind = markers[k]
            if kind in ("forward", "reject"):
                part = text[end:]
                if not part.strip(_EDGE) and kind == "forward" and index + 1 < len(statements):
                    part = statements[index + 1]  # "The correct answer is:" + the next line
            else:
                previous_end = max((e for s, e, _ in markers[:k] if e <= start), default=0)
                part = text[previous_end:start]
            answer = self.part(part.strip(_EDGE), kind)
            if answer is not None:
                return answer
        return None

    def part(self, part: str, kind: str) -> str | None:
        """The answer the text a marker governs commits to, for this answer type."""
        if not part:
            return None
        boxed = _boxed(part)
        if self.kind == "multiple_choice":
            if boxed is not None:
                return parse_choice(boxed, self.options)
            return self.choice(part, kind)
        if kind == "option":
            return None  # option-only markers commit to options, nothing else
        if self.kind in _NUMERIC:
            if boxed is not None:
                value = parse_number(boxed)
                return format_number(value) if value is not None else (boxed.strip() or None)
            return None if kind == "reject" else _number(part)
        if kind == "reject":
            return None
        return (boxed if boxed is not None else re.sub(r"^that\s+", "", part, flags=re.I)).strip(_EDGE) or None

    # -- multiple choice
    def choice(self, part: str, kind: str) -> str | None:
        if kind == "forward":
            label = self.label(part)
            if label is not None:
                return label
        clauses = [c.strip(_EDGE) for c in _CLAUSE_SPLIT.split(part)]
        clauses = [c for c in clauses if c]
        if kind == "reject":
            clauses = clauses[1:]  # "the answer isn't B, it has to be D": the first clause is rejected
        elif kind != "forward":
            clauses.reverse()  # backward: the clause nearest the marker comes first
        candidates = ([part] if kind != "reject" else []) + clauses
        for candidate in candidates:
            letter = self.named(candidate, fuzzy=kind != "option")
            if letter is not None:
                return letter
        return None

    def label(self, part: str) -> str | None:
        m = _LABEL.match(part)
        if m and m.group(1).upper() in self.letters:
            return m.group(1).upper()
        return None

    def named(self, clause: str, fuzzy: bool) -> str | None:
        """The one option a clause names, with rejected options removed; None for a negated clause."""
        kept = _NOT_OPTION.sub(" ", clause)
        if _NEGATION.search(remove_option_texts(kept, self.options)):
            return None
        letter = parse_choice(kept, self.options)
        if letter is None and fuzzy and self.option_texts:
            found = described_option(kept, self.option_texts)
            letter = self.letters[found] if found is not None else None
        return letter

    # -- no marker anywhere
    def final_statement(self, statements: list[str]) -> str | None:
        for text in reversed(statements):
            text = _settled(text)
            if not text.strip(_EDGE) or _skipped(text):
                continue
            if _NEGATION.search(remove_option_texts(text, self.options)):
                continue  # "Not D.", "Option D is incorrect": rejections, read further back
            if _HEDGE.search(text) or _PLANNING.match(text):
                return None  # "Maybe a square.", "Let's look at B": a guess or a plan, no commitment
            # a final statement is a sentence: of a longer run only its end is read
            return self._read_final(text[-_MAX_FINAL:].strip(_EDGE))
        return None

    def _read_final(self, text: str) -> str | None:
        if self.kind == "multiple_choice":
            return self.label(text) or self.named(text, fuzzy=True)
        if self.kind in _NUMERIC:
            values = _moment_free(text)
            numbers = re.findall(r"\d+(?:[.,]\d+)?", values)
            return _number(text) if len(numbers) == 1 else None
        return text or None


# --------------------------------------------------------------------------- values


def _boxed(part: str) -> str | None:
    start = part.find(_BOX_OPEN)
    if start < 0:
        return None
    end = part.find(_BOX_CLOSE, start)
    return part[start + 1:end if end >= 0 else len(part)].strip()


def _moment_free(text: str) -> str:
    """The text with every time mention that names a moment ("at 00:20", "by 00:20", "from 0:05 to
    0:09") blanked; a time that is the value itself ("the answer is 1:30", "12 s") stays."""
    out, pos = [], 0
    for m in find_times(text):
        before = text[max(0, m.char_start - 20):m.char_start]
        if _MOMENT_WORDS.search(before) or m.text[:1] in "[(" or m.start != m.end or \
                re.match(r"(?i)(?:between|from)\b", m.text):
            out += [text[pos:m.char_start], " "]
            pos = m.char_end
    out.append(text[pos:])
    return "".join(out)


def _number(part: str) -> str | None:
    text = _NEGATED_PART.sub(" ", part)
    text = _SUBORDINATE.sub(" ", text)
    value = parse_number(_moment_free(text))
    return format_number(value) if value is not None else None
