"""Which time mentions of a reasoning trace point at a moment of the video: the claims.

`vr2.scoring.timestamps.find_times` finds time phrases; this module classifies each one by what
governs it. A mention is a moment (a claim) unless:

- it is mathematics: inside `\\( \\)`, `\\[ \\]` or `$ $`, or next to an equation sign ("t = 5 s",
  "1 hour = 3600 seconds", "4s^3 + 9s^2 + 8s"), or a unit quantity whose number the reasoning computes
  with elsewhere ("the ball hits the ground after 2 s" next to "t = ... = 2");
- it is a quantity, not a point in the video: a number with a unit ("5 seconds", "2.82 s", "3 min")
  that no moment word governs. Moment words: at, around, by, from, until, between, after, before,
  near, since, starting; or "N seconds in / into the video", "the N-second mark", brackets
  ("(12s)"), a line that opens with the time, "the first N seconds", a list that shares one of
  these ("at 12, 15 and 18 seconds"). Clocks (01:45) need none;
- the clause quotes the task: "the question asks / mentions ...", "option C says ...", "the options
  (provided) are ...", a line that lists an option ("B. Between 1 and 2 s"), a statement or option
  label ("Statement 3: From 2:00 to 3:00, ..."), or text in quotation marks ("..." or '...');
- the sentence plans rather than observes: "Let's analyze ... from 4:05 to 6:00", "To determine what
  happens at 0:30, ...", "We need to identify ...". A time restated from the question is a claim only
  when the reasoning asserts something about it ("At the 0:30 mark, the animation colours the arm");
- it is the answer: "so the answer is 45 seconds", "the correct answer is 00:40" (a clause after
  "because", "which", "when" is an observation again);
- it is reported speech or a reading: "she says the train leaves at 7:45", "the departure time is
  10:30" (readings of clocks and timers are also refused by `find_times`);
- it is denied: "the video does not show a map at 02:10".

A contrast ("but", "however", "whereas", "while", ";") ends the reach of a quoting, speech or denial
verb: "Option A suggests the man leaves, but at 00:20 he is still sitting" claims 00:20.
Every check looks at a bounded window before the mention, so extraction stays linear.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Sequence

from vr2.scoring.timestamps import TimeMention

_WINDOW = 200  # characters before a mention that its governors are looked for in

_CONTRAST = re.compile(r",?\s+(?:but|however|whereas|while|although|though|yet)\b|;|\n")
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++[\"')\]]*+(?=\s+(?![\sa-z])|$)|\n")
_MOMENT_WORD = re.compile(
    r"(?:\b(?:at|around|by|from|until|till|til|between|after|before|near|since|circa|starting|beginning"
    r"|ending|um|bei|ab|a\s+las|às|aos|alle|dalle|vers|dès|desde|hacia)\b|@|~)\s*"
    r"(?:(?:about|around|approximately|approx\.?|roughly|nearly|almost|just|exactly|precisely|right|only"
    r"|the|again|already)\s+)*$", re.I)
_MOMENT_AFTER = re.compile(r"\s*(?:in\b|into\s+(?:the\s+)?(?:video|clip|footage|recording))", re.I)
_LINE_LABEL = re.compile(r"(?:^|\n)[ \t]*[-*•]?[ \t]*\**$")
_LABEL_AFTER = re.compile(r"\**\s*(?:[:\-–—)]|\]|,)")
_LIST_JOIN = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?(?:again\s+)?(?:at\s+)?|(?:and|or)\s+(?:again\s+)?(?:at\s+)?|&\s*)",
                        re.I)
# not "*": markdown bold ("**00:05**")
_EQUATION_SIGNS = frozenset("=≈×/^+")
_EQUATION_AFTER = re.compile(r"\s*[=≈×/^]")
_EQUATION_NUMBER = re.compile(r"(?<=[=≈×/^])\s*(\d+(?:\.\d+)?)|(\d+(?:\.\d+)?)\s*(?=[=≈×/^])")
_MATH_OPENERS = (("\\(", "\\)"), ("\\[", "\\]"), ("$$", "$$"), ("$", "$"))

_PLANNING = re.compile(
    r"\W*(?:(?:so|now|first|next|okay|ok|alright|then|well|hmm|great)\b,?\s+)*(?:let['’]s|let\s+(?:me|us)"
    r"|we\s+(?:need|have|must|should|want|will)\s+to|I\s+(?:need|have|must|should|want|will)\s+to"
    r"|to\s+(?:determine|find|identify|answer|figure\s+out|see|check|understand|analy[sz]e|decide|know)"
    r"|in\s+order\s+to)\b", re.I)
_TASK_LABEL = re.compile(r"\W*(?:statement|option|choice|claim)\s+\w{1,3}\s*[:.)\-–—]", re.I)
_OPTION_LINE = re.compile(r"[ \t]*[-*•]?[ \t]*\(?[A-J][.):][ \t]")
_QUOTING = re.compile(
    r"\b(?:the\s+question|the\s+prompt|option\s+[a-z]|choice\s+[a-z]|the\s+options?|the\s+choices"
    r"|statement\s+\d+)\s+(?:\w+\s+)?(?:asks?|asked|says|said|states?|mentions?|claims?|suggests?"
    r"|refers?|describes?|wants?|is\s+about|are|include|includes|lists?)\b"
    r"|\baccording\s+to\s+(?:the\s+question|option\s+[a-z]|choice\s+[a-z]|the\s+options?)\b",
    re.I)
_ANSWER = re.compile(
    r"\b(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|must\s+be|will\s+be|=|:)\s", re.I)
_AFTER_ANSWER = re.compile(r"\b(?:because|since|as|when|which|where|while|after|before)\b|[:;]\s+(?=\D)",
                           re.I)
_SPEECH = re.compile(
    r"\b(?:says|said|say|tells|told|tell|announces|announced|shouts|shouted|claims|claimed"
    r"|(?:mentions|explains|notes|adds|states)\s+that)\s+(?:that\s+|the\s+|a\s+|an\s+|his\s+|her\s+"
    r"|their\s+|its\s+|we\s+|he\s+|she\s+|they\s+|it\s+|I\s+|you\s+|this\s+)", re.I)
_DENIAL = re.compile(
    r"\b(?:(?:does|do|did)\s+not|doesn['’]t|don['’]t|didn['’]t|never)\s+(?:show|mention|include|depict"
    r"|feature|contain|display|introduce|cover|discuss|appear)|\b(?:is|are|was|were)\s+not\s+(?:shown"
    r"|mentioned|visible|present|introduced)\b", re.I)
_QUOTING_OPENS = re.compile(r"\W*(?:\w+[\s,]+){0,2}?(?:" + _QUOTING.pattern + ")", re.I)
# one scan for the three: the task quoted, speech reported, a moment denied
_NOT_OBSERVED = re.compile("|".join(f"(?:{p.pattern})" for p in (_QUOTING, _SPEECH, _DENIAL)), re.I)
# words one of the three needs (a cheap test before the regular expression)
_NOT_OBSERVED_WORDS = ("question", "prompt", "option", "choice", "statement", "according", "say", "said", "tell",
                       "told", "announc", "shout", "claim", " that ", "not", "n't", "n’t", "never")
_TIME_READING = re.compile(r"\btime\b[^.;,\n]{0,30}?\b(?:is|was|reads|shows|=)\s+(?:about\s+|around\s+"
                           r"|approximately\s+)?$", re.I)


def moments(text: str, mentions: Sequence[TimeMention]) -> list[bool]:
    """Per mention (in order, as `find_times` returns them), whether it is a claim."""
    if not mentions:
        return []
    context = _Context(text)
    governed: list[bool] = []
    flags = []
    for k, m in enumerate(mentions):
        listed = k > 0 and _LIST_JOIN.fullmatch(text, mentions[k - 1].char_end, m.char_start) is not None
        governed.append((listed and governed[-1]) or _governed(text, m))
        flags.append(context.is_moment(m, governed[-1]))
    return flags


class _Context:
    """Spans and numbers of one text that the rules need, computed once."""

    def __init__(self, text: str):
        self.text = text
        self.math = _math_spans(text)
        self.math_starts = [s for s, _ in self.math]
        self.quotes = quoted_spans(text)
        self.quote_starts = [s for s, _ in self.quotes]
        self.equation_numbers = self._equation_numbers()
        self.sentence_starts = [0] + [m.end() for m in _SENTENCE_END.finditer(text)]
        self.contrasts: dict[int, int] = {}
        self.labels: dict[int, int] = {}

    def _equation_numbers(self) -> set[float]:
        found = {float(a or b) for a, b in _EQUATION_NUMBER.findall(self.text)}
        for start, end in self.math:
            found |= {float(x) for x in re.findall(r"\d+(?:\.\d+)?", self.text[start:end])}
        return found

    def is_moment(self, m: TimeMention, governed: bool) -> bool:
        quantity = ":" not in m.text  # a clock needs no moment word; "5 seconds" does
        if self._notation(m) or (quantity and not governed):
            return False
        if quantity and m.start == m.end and self._computed(m):
            return False
        return not self._not_observed(m, quantity)

    def _notation(self, m: TimeMention) -> bool:
        """Mathematics or quoted text: inside \\( \\), $ $ or quotation marks, or next to an equation sign."""
        text = self.text
        if _inside(self.math, self.math_starts, m.char_start) or _inside(self.quotes, self.quote_starts, m.char_start):
            return True
        before = text[max(0, m.char_start - 8):m.char_start]
        return before.rstrip()[-1:] in _EQUATION_SIGNS or _EQUATION_AFTER.match(text, m.char_end) is not None

    def _not_observed(self, m: TimeMention, quantity: bool) -> bool:
        """The clause plans, quotes the task, states the answer, reports speech, reads a clock or denies."""
        text = self.text
        sentence = self._sentence_start(m.char_start)
        if m.char_start <= self._first_contrast(sentence) and (
                _PLANNING.match(text, sentence, m.char_start) or _QUOTING_OPENS.match(text, sentence, m.char_start)):
            return True  # "Let's analyze ... from 4:05 to 6:00", "The question asks ... <long> ... at 2:50"
        if m.char_start < self._label_reach(text.rfind("\n", 0, m.char_start) + 1):
            return True  # "Statement 3: From 2:00 to 3:00, ...", "B. Between 1 and 2 s"
        clause = _clause_before(text, sentence, m.char_start)
        lowered = clause.lower()
        if any(w in lowered for w in _NOT_OBSERVED_WORDS) and _NOT_OBSERVED.search(clause):
            return True
        if _answer_states(clause):
            return True
        return not quantity and "time" in lowered and _TIME_READING.search(clause) is not None

    def _computed(self, m: TimeMention) -> bool:
        number = re.match(r"\D*(\d+(?:\.\d+)?)", m.text)
        return number is not None and float(number.group(1)) in self.equation_numbers

    def _sentence_start(self, pos: int) -> int:
        return self.sentence_starts[bisect_right(self.sentence_starts, pos) - 1]

    def _label_reach(self, line: int) -> int:
        """Where the sentence a line's task label opens ends ("Statement 3: ... .", "B. 2 s"); -1
        when the line has no label."""
        if line not in self.labels:
            label = _TASK_LABEL.match(self.text, line) or _OPTION_LINE.match(self.text, line)
            end = _SENTENCE_END.search(self.text, label.end()) if label else None
            self.labels[line] = -1 if not label else (end.end() if end else len(self.text))
        return self.labels[line]

    def _first_contrast(self, sentence: int) -> int:
        """Where the first contrast of the sentence starting here is (its end when it has none);
        searched within the sentence only, once."""
        if sentence not in self.contrasts:
            k = bisect_right(self.sentence_starts, sentence)
            end = self.sentence_starts[k] if k < len(self.sentence_starts) else len(self.text)
            found = _CONTRAST.search(self.text, sentence, end)
            self.contrasts[sentence] = found.start() if found else end
        return self.contrasts[sentence]


def _governed(text: str, m: TimeMention) -> bool:
    """A moment word governs the mention, or its phrase marks it as a point of the video."""
    phrase = m.text.lower()
    if ":" in phrase or phrase[:1] in "[(" or "mark" in phrase or "point" in phrase:
        return True
    if re.match(r"(?:from|between|the\s+first|from\s+the)\b", phrase):
        return True
    before = text[max(0, m.char_start - 60):m.char_start]
    if _MOMENT_WORD.search(before) or _MOMENT_AFTER.match(text, m.char_end):
        return True
    # a line that opens with the time: "12s: the dog barks", "- 0.5s - the ball drops"
    return bool(_LINE_LABEL.search(before) and _LABEL_AFTER.match(text, m.char_end))


def _clause_before(text: str, sentence: int, pos: int) -> str:
    """The text from the start of the mention's clause (its sentence, after the last contrast) to it."""
    start = max(sentence, pos - _WINDOW)
    last = None
    for last in _CONTRAST.finditer(text, start, pos):
        pass
    return text[last.end() if last else start:pos]


def _answer_states(clause: str) -> bool:
    """The mention is what an answer statement says ("the answer is 45 seconds")."""
    lowered = clause.lower()
    if "answer" not in lowered and "option" not in lowered and "choice" not in lowered:
        return False
    last = None
    for last in _ANSWER.finditer(clause):
        pass
    return last is not None and not _AFTER_ANSWER.search(clause, last.end())


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    i = bisect_right(starts, pos) - 1
    return i >= 0 and pos < spans[i][1]


def _math_spans(text: str) -> list[tuple[int, int]]:
    """\\( \\), \\[ \\], $$ $$ and $ $ (one line) spans, left to right, linear: each opener's next
    position is searched again only once the scan has passed it."""
    spans, pos = [], 0
    upcoming = {opener: text.find(opener) for opener, _ in _MATH_OPENERS}
    closers = dict(_MATH_OPENERS)
    while True:
        for opener in list(upcoming):
            if 0 <= upcoming[opener] < pos:
                upcoming[opener] = text.find(opener, pos)
            if upcoming[opener] < 0:
                del upcoming[opener]
        if not upcoming:
            return spans
        opener = min(upcoming, key=lambda o: (upcoming[o], -len(o)))
        start = upcoming[opener]
        limit = text.find("\n", start + len(opener)) if opener == "$" else -1
        end = text.find(closers[opener], start + len(opener), len(text) if limit < 0 else limit)
        if end < 0:
            if opener != "$":
                del upcoming[opener]  # no closer anywhere after: none after a later opener either
            pos = start + len(opener)
            continue
        spans.append((start, end + len(closers[opener])))
        pos = end + len(closers[opener])


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """"..." and “...” closed on the same line, and '...' whose quote marks are not apostrophes (an
    opening mark after a non-letter, a closing one before one), scanned left to right, linear."""
    spans, pos, failed_until = [], 0, {}
    while (m := _QUOTE_OPENER.search(text, pos)) is not None:
        start, kind = m.start(), m.group()
        pos = start + 1
        if failed_until.get(kind, -1) > start:
            continue
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end == -1 else line_end
        close = _closing_quote(text, kind, pos, line_end)
        if close == -1:
            failed_until[kind] = line_end
            continue
        spans.append((start, close + 1))
        pos = close + 1
    return spans


_QUOTE_OPENER = re.compile("[\"“]|(?<![\\w’'])'(?=\\S)")
_QUOTE_CLOSER = {'"': '"', "“": "”", "'": "'"}
# a closing ' follows a non-space and is not an apostrophe inside a word ("it's")
_SINGLE_CLOSER = re.compile(r"(?<=\S)'(?![A-Za-z])")


def _closing_quote(text: str, kind: str, pos: int, line_end: int) -> int:
    if kind != "'":
        return text.find(_QUOTE_CLOSER[kind], pos, line_end)
    m = _SINGLE_CLOSER.search(text, pos, line_end)
    return m.start() if m else -1
