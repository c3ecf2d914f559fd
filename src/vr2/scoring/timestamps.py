"""Time mentions: finding and reading the times that a reasoning trace cites.

A reasoning trace grounds its statements with times written in many ways ("01:45", "1:02:03",
"00:42-00:45", "0:12 to 0:18", "from 12s to 18s", "between 12 and 18 seconds", "3.5s",
"at 16 seconds", "around the 16-second mark", "1m05s", "1 min 5 s", "[00:12]", "(0:05 - 0:09)").
`find_times` turns each into a `TimeMention`: an interval in seconds (a point has start == end)
plus where the phrase sits in the text, so a claim extractor can cut it out of its clause.

What is deliberately *not* a time (false positives cost TAR precision):

- a bare number ("3.5", "2 people", "version 2.0"); it only counts as the first end of a range
  whose second end has a unit ("between 12 and 18 seconds");
- N:M when M is not two digits below 60 ("5:1", "16:9"), a clock followed by am/pm (time of
  day) or next to "ratio"/"aspect" ("16:10 aspect ratio"); any other N:SS is read as minutes:
  seconds, with minutes above 59 allowed ("75:10" is 75 min 10 s);
- a reading of something in the video ("the clock reads 5:30", "the timer shows 00:45", "the
  scoreboard displays 3:15") and a clock right after a capitalised name that does not introduce
  times ("Room 12:30", "John 3:16");
- decades ("the 1990s", "the 80s", "mid-60s");
- durations rather than moments: "for 5 seconds", "every 2 s", "takes 3 minutes", "it takes him
  10 s", "open 24 hours",
  "10 seconds long", "5 seconds later", "a 10-second clip" (an "N-second" adjective counts only
  in "the N-second mark/point");
- a bare "m" ("5m" is more often metres), unless it is part of a compound like "1m05s"; a
  one-letter unit in upper case ("2H" henries, "70S" Svedberg units, "0.028S" a variable); a unit
  on the next line ("2.5\nH." is an option list, not 2.5 hours);
- a clock as a length ("the whole clip lasts 02:30", "the video is 01:00 long") and an offset from
  an event ("5 seconds after the door opens").

"the first N seconds" is read as the interval [0, N], "from the start of the clip until 00:15" as
[0, 15], "the two-minute mark" (number words) as 120. Ranges may be joined in other languages too
("von 00:02 bis 00:12", "de 00:02 a 00:12", "00:02到00:12"). Numbers listed before a unit share it
("at 12, 15 and 18 seconds" is three times). A unit or "ish" glued to a clock ("00:12s",
"0:05-ish") belongs to its time phrase.

Everything here is pure `re` with precompiled, backtracking-safe patterns, and no function
raises on any string.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["TimeMention", "find_times", "parse_time", "parse_time_key", "format_time",
           "format_clock"]


@dataclass(frozen=True)
class TimeMention:
    """One time phrase in a text: [start, end] seconds and its span text[char_start:char_end]."""

    start: float
    end: float
    char_start: int
    char_end: int
    text: str


_I = re.IGNORECASE

# One time value ("atom"), or a bare number that may start a range. Each unit part must be
# followed by a non-letter, so "5 secret", "5 ms" or "5 mph" are not times. Every repetition is
# bounded or separated by a literal, which keeps the scan linear on adversarial text.
_NUM = r"\d{1,7}(?:\.\d+)?"
_SEP = r"(?:(?<=[a-z]),?[ \t]?(?:and[ \t])?)?"
_ISH = r"(?:-?ish)?"  # "12ish seconds"
# "00:12s", "0:05-ish": a unit or "ish" glued to a clock belongs to the time phrase
_CLOCK_SUFFIX = r"(?:(?:-?ish|[ \t]?s(?:ec(?:ond)?s?)?)(?![a-z]))?"
_ATOM = re.compile(
    # not inside a word ("x12s", "v1:23"); right after a CJK character is fine ("到00:12")
    r"(?<![A-Za-z0-9_.:\u00C0-\u024F\u0370-\u04FF])(?<!\d,)(?:"
    r"(?P<c3>(?P<h3>\d{1,3}):(?P<m3>[0-5]\d):(?P<s3>[0-5]\d(?:\.\d+|,\d{3}(?!\d))?))(?!\d|:\d)"
    rf"{_CLOCK_SUFFIX}"
    r"|(?P<c2>(?P<m2>\d{1,3}):(?P<s2>[0-5]\d(?:\.\d+)?))(?!\d|:\d)"
    rf"{_CLOCK_SUFFIX}"
    # hours, minutes, seconds, each optional; a separator only after a unit, and the whole
    # must end on a unit letter (so it is never empty)
    r"|(?P<unit>"
    rf"(?:(?P<uh>{_NUM}){_ISH}[ \t]?(?P<hu>hours|hour|hrs|hr|h)(?![a-z]))?"
    rf"(?:{_SEP}(?P<um>{_NUM}){_ISH}[ \t]?(?P<mu>minutes|minute|mins|min|m)(?![a-z]))?"
    rf"(?:{_SEP}(?P<us>{_NUM}){_ISH}[ \t]?(?P<su>seconds|second|secs|sec|s)(?![a-z]))?"
    r"(?<=[a-z]))(?:-?ish(?![a-z]))?"
    rf"|(?P<hy>{_NUM})-(?P<hyu>seconds?|secs?|minutes?|mins?)(?![a-z])"
    rf"|(?P<bare>{_NUM})(?![\d:])"
    r")",
    _I,
)

_RANGE_JOIN = re.compile(
    r"\s*(?:(?:mark|point)\s+)?(?:-|–|—|~|～|to|until|till|through|thru"
    r"|bis|à|a|al|até|hasta|jusqu['’]à|到|至)\s*(?:the\s+)?$", _I)
# "12, 15 and 18 seconds": list items before a unit share it
_LIST_JOIN = re.compile(r"\s*(?:,\s*(?:and\s+|or\s+)?|and\s+|or\s+|&\s*)$", _I)
_AND_JOIN = re.compile(r"\s+and\s+$", _I)
_BETWEEN_BEFORE = re.compile(r"\bbetween\s+$", _I)
_FROM_BEFORE = re.compile(r"\bfrom\s+(?:the\s+)?$", _I)
_FIRST_BEFORE = re.compile(r"(?:\bthe\s+)?\bfirst\s+$", _I)
# "from the start of the clip until 00:15" is [0, 15]
_FROM_START_BEFORE = re.compile(
    r"\bfrom\s+the\s+(?:very\s+)?(?:start|beginning|outset|opening)(?:\s+of\s+the\s+(?:video|clip|footage"
    r"|recording))?\s*,?\s*(?:until|till|to|through|up\s+to|-|–|—)\s*(?:the\s+)?$", _I)
_THE_BEFORE = re.compile(r"\bthe\s+$", _I)
_MARK_AFTER = re.compile(r"\s*(?:mark|point|timestamp|time\s?stamp)(?![a-z])", _I)
_OPEN_BEFORE = re.compile(r"[\[(]\s*$")
_CLOSE_AFTER = re.compile(r"\s*[\])]")

# Context that makes a clock something else.
_CLOCK_NOT_AFTER = re.compile(r"\s*(?:[ap]\.?m\.?(?![a-z])|ratio|aspect)", _I)
_CLOCK_NOT_BEFORE = re.compile(
    r"(?:(?:ratio|aspect|odds|score)\s*(?:of|is|was|=)?"
    # a reading of a clock, timer or sign in the video: "the clock reads 5:30"
    r"|\b(?:shows?|showing|shown|reads?|reading|displays?|displaying|displayed|says|saying"
    r"|indicates?|indicating|strikes?|striking|points?\s+(?:to|at)|pointing\s+(?:to|at)|set\s+(?:to|for))"
    r"\s+(?:the\s+time\s+(?:as\s+|of\s+)?|a\s+time\s+of\s+)?"
    r"|\b(?:clock|timer|watch|stopwatch|display|scoreboard)\s*(?:is|was|=|:)?)\s*$",
    _I)
# "Room 12:30", "John 3:16": a clock right after a capitalised name is a label, not a time,
# unless the word is one that introduces times.
_NAME_BEFORE = re.compile(r"\b([A-Z][a-z]{1,15})\s$")
_TIME_WORDS = frozenset("""
    at around about approximately approx roughly nearly near circa by from until till to between
    before after since during in on within starting beginning ending then and or also finally
    next later again once only even just right exactly so thus therefore hence but while when
    first timestamp timestamps time times frame frames second seconds moment scene clip video
    shot see notably meanwhile still here there the yes no mark minute minutes segment segments
    interval period span part section step event initially subsequently afterwards eventually
    last lastly final secondly thirdly now
    von um bei ab gegen seit bis de desde entre hasta vers dès alle dalle dal aos às das""".split())
# Context that makes a unit quantity a duration rather than a moment.
_DURATION_BEFORE = re.compile(
    r"\b(?:for|every|each|lasting|lasts|last|lasted|takes|took|take|spanning|spans|over|within"
    r"|per|an?|open|opens|opened|closed"
    r"|(?:takes|took|take|taking|needs|needed|spends|spent|gives|gave)\s+"
    r"(?:him|her|them|it|us|me|you|the\s+\w{1,20}))\s+(?:about\s+|around\s+|approximately\s+|roughly\s+|nearly\s+|almost\s+"
    r"|only\s+|just\s+|another\s+|over\s+)?$",
    _I,
)
_DURATION_AFTER = re.compile(
    r"\s*(?:long|later|earlier|apart|ago|each|per|in\s+(?:length|duration)|of\s+(?:footage|video))"
    r"(?![a-z])"
    # an offset from an event: "5 seconds after the door opens" (not "2 s after 00:05")
    r"|\s*(?:after|before)\b(?!\s+(?:the\s+)?\d)",
    _I,
)
# A clock as a length: "the whole clip lasts 02:30", "the video is 01:00 long".
_CLOCK_DURATION_BEFORE = re.compile(
    r"\b(?:lasts?|lasted|lasting|runs?\s+for|(?:length|duration|runtime|run\s+time)\s+(?:is|of|was)"
    r"|total\s+(?:length|duration|time)\s+(?:is|of|was))\s+(?:about\s+|around\s+|approximately\s+"
    r"|roughly\s+|only\s+|just\s+|exactly\s+|nearly\s+|almost\s+)?$", _I)
_CLOCK_DURATION_AFTER = re.compile(r"\s*(?:long|in\s+(?:length|duration))(?![a-z])", _I)
# "the two-minute mark": a number word, a unit and "mark" or "point"
_WORD_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90})
_WORD_MARK = re.compile(
    r"\b(?:the\s+)?(" + "|".join(_WORD_NUMBERS) + r")[-\s](second|minute)s?[-\s](?:mark|point)\b", _I)
_DECADE_BEFORE = re.compile(
    r"(?:\b(?:the|early|mid|late|his|her|their|its|my|your|our)\s+|mid-|['’])$", _I)

_DECADE = re.compile(r"\d{1,3}0s", _I)
_YEAR_DECADE = re.compile(r"(?:1\d|20)\d0s", _I)

_WINDOW = 48  # characters of left context the look-behind checks need


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    kind: str  # "clock", "unit", "hyphen" or "bare"
    value: float
    scale: float  # seconds per unit, for a bare number before it ("12 and 18 seconds")


def _f(s: str | None) -> float:
    return float(s.replace(",", ".")) if s else 0.0


def _atom(m: re.Match) -> _Atom | None:
    """Read one regex match into an atom, or None when it is not usable at all."""
    g = m.group
    if g("c3"):
        value = _f(g("h3")) * 3600 + _f(g("m3")) * 60 + _f(g("s3"))
        return _Atom(m.start(), m.end(), "clock", value, 0.0)
    if g("c2"):
        return _Atom(m.start(), m.end(), "clock", _f(g("m2")) * 60 + _f(g("s2")), 0.0)
    if g("unit"):
        return _unit_atom(m)
    if g("hy"):
        scale = 60.0 if g("hyu").lower().startswith("m") else 1.0
        return _Atom(m.start(), m.end(), "hyphen", _f(g("hy")) * scale, 0.0)
    if g("bare"):
        return _Atom(m.start(), m.end(), "bare", _f(g("bare")), 0.0)
    return None


def _unit_atom(m: re.Match) -> _Atom | None:
    g = m.group
    parts = [p for p in ("uh", "um", "us") if g(p)]
    if not parts:
        return None
    # A lone "m" is usually metres; a lone "h" is fine ("2h"). A one-letter unit in upper case
    # is something else: henries ("2H"), Svedberg units ("70S"), a variable ("0.028S").
    if parts == ["um"] and g("mu").lower() == "m":
        return None
    if any(len(g(u) or "") == 1 and g(u).isupper() for u in ("hu", "mu", "su")):
        return None
    value = _f(g("uh")) * 3600 + _f(g("um")) * 60 + _f(g("us"))
    scale = {"uh": 3600.0, "um": 60.0, "us": 1.0}[parts[0]] if len(parts) == 1 else 0.0
    return _Atom(m.start(), m.end(), "unit", value, scale)


def _atoms(text: str) -> list[_Atom]:
    found = (_atom(m) for m in _ATOM.finditer(text) if m.end() > m.start())
    return [a for a in found if a is not None]


def _before(text: str, pos: int) -> str:
    return text[max(0, pos - _WINDOW):pos]


def _is_decade(text: str, a: _Atom) -> bool:
    """'the 1990s', 'the 80s', "'60s": an integer ending in 0 with an attached 's'."""
    raw = text[a.start:a.end]
    if not _DECADE.fullmatch(raw):
        return False
    if _YEAR_DECADE.fullmatch(raw):  # 1990s, 2010s: never seconds in practice
        return True
    after_the = _DECADE_BEFORE.search(_before(text, a.start))
    return bool(after_the) and not _MARK_AFTER.match(text, a.end)  # "the 20s mark" is a time


def _is_time(text: str, a: _Atom) -> bool:
    """A point atom that is really a time here (context filters for clocks and units)."""
    if a.kind == "clock":
        before = _before(text, a.start)
        name = _NAME_BEFORE.search(before)
        return not (_CLOCK_NOT_AFTER.match(text, a.end) or _CLOCK_NOT_BEFORE.search(before)
                    or _CLOCK_DURATION_BEFORE.search(before) or _CLOCK_DURATION_AFTER.match(text, a.end)
                    or (name and name.group(1).lower() not in _TIME_WORDS))
    if a.kind == "unit":
        return not _is_decade(text, a)
    return a.kind == "hyphen"  # judged later: needs "the ... mark"


def _range_end(text: str, a: _Atom, b: _Atom) -> float | None:
    """Seconds of `b` when `a` and `b` form a range joined by the text between them."""
    gap = text[a.end:b.start]
    joined = _RANGE_JOIN.match(gap) or (_AND_JOIN.match(gap)
                                        and _BETWEEN_BEFORE.search(_before(text, a.start)))
    if not joined or b.kind not in ("clock", "unit") or not _is_time(text, b):
        return None
    if a.kind == "bare" and b.scale == 0.0:
        return None  # "3 to 1:05": nothing says what unit the 3 is in
    return b.value


def _extend(text: str, start: int, end: int, floor: int) -> tuple[int, int, bool]:
    """Grow a span over 'the ... mark' and enclosing brackets; report whether 'mark' was seen."""
    marked = False
    mark = _MARK_AFTER.match(text, end)
    if mark:
        end, marked = mark.end(), True
        the = _THE_BEFORE.search(_before(text, start))
        if the and start - len(the.group(0)) >= floor:
            start -= len(the.group(0))
    opened = _OPEN_BEFORE.search(_before(text, start))
    closed = _CLOSE_AFTER.match(text, end)
    if opened and closed and start - len(opened.group(0)) >= floor:
        start, end = start - len(opened.group(0)), closed.end()
    return max(start, floor), end, marked


def _is_duration(text: str, start: int, end: int) -> bool:
    return bool(_DURATION_BEFORE.search(_before(text, start)) or _DURATION_AFTER.match(text, end))


def _list_scales(text: str, atoms: list[_Atom]) -> list[float]:
    """Per atom, the unit a list it starts shares: "12, 15 and 18 seconds" gives 12 and 15 the
    seconds of 18 (0.0 when none). One pass from the right keeps long lists linear."""
    scales = [0.0] * len(atoms)
    for i in range(len(atoms) - 1, -1, -1):
        a = atoms[i]
        if a.kind == "unit":
            scales[i] = a.scale
        elif a.kind == "bare" and i + 1 < len(atoms) and scales[i + 1]:
            if _LIST_JOIN.match(text[a.end:atoms[i + 1].start]):
                scales[i] = scales[i + 1]
    return scales


def _mention(text: str, atoms: list[_Atom], i: int, floor: int,
             list_scale: float = 0.0) -> tuple[TimeMention | None, int]:
    """The mention starting at atoms[i] (None if it is not one) and how many atoms it used."""
    a = atoms[i]
    b = atoms[i + 1] if i + 1 < len(atoms) else None
    end_value = _range_end(text, a, b) if b is not None else None
    if end_value is not None:
        start_value = a.value * b.scale if a.kind == "bare" else a.value
        if a.kind not in ("bare", "hyphen") and not _is_time(text, a):
            return None, 1
        return _range_mention(text, a.start, b.end, start_value, end_value, floor, a, b), 2
    if a.kind == "bare" and list_scale:
        if _is_duration(text, a.start, a.end):
            return None, 1
        value = a.value * list_scale
        return TimeMention(value, value, a.start, a.end, text[a.start:a.end]), 1
    if a.kind == "bare" or not _is_time(text, a):
        return None, 1
    return _point_mention(text, a, floor), 1


def _range_mention(text: str, start: int, end: int, lo: float, hi: float, floor: int,
                   a: _Atom, b: _Atom) -> TimeMention | None:
    if a.kind != "clock" and b.kind != "clock" and _is_duration(text, start, end):
        return None  # "takes 2 to 3 minutes"
    prefix = (_BETWEEN_BEFORE.search(_before(text, start))
              or _FROM_BEFORE.search(_before(text, start)))
    if prefix and start - len(prefix.group(0)) >= floor:
        start -= len(prefix.group(0))
    start, end, _ = _extend(text, start, end, floor)
    lo, hi = min(lo, hi), max(lo, hi)
    return TimeMention(lo, hi, start, end, text[start:end])


def _point_mention(text: str, a: _Atom, floor: int) -> TimeMention | None:
    start, end, marked = _extend(text, a.start, a.end, floor)
    if a.kind == "hyphen" and not marked:
        return None  # "a 10-second clip" is a length, not a moment
    if a.kind != "clock" and not marked and _is_duration(text, a.start, a.end):
        return None
    first = _FIRST_BEFORE.search(_before(text, start)) if a.kind == "unit" else None
    if first and start - len(first.group(0)) >= floor:
        start -= len(first.group(0))
        return TimeMention(0.0, a.value, start, end, text[start:end])
    opening = _FROM_START_BEFORE.search(text[max(floor, start - 2 * _WINDOW):start])
    if opening:  # "from the start of the clip until 00:15"
        start -= len(opening.group(0))
        return TimeMention(0.0, a.value, start, end, text[start:end])
    return TimeMention(a.value, a.value, start, end, text[start:end])


def find_times(text: str) -> list[TimeMention]:
    """Every time mention in `text`, in order, non-overlapping. Never raises."""
    if not isinstance(text, str) or not text:
        return []
    atoms = _atoms(text)
    scales = _list_scales(text, atoms)
    mentions: list[TimeMention] = []
    i, floor = 0, 0
    while i < len(atoms):
        mention, used = _mention(text, atoms, i, floor, scales[i])
        i += used
        if mention is not None and math.isfinite(mention.end):
            mentions.append(mention)
            floor = mention.char_end
    return _with_word_marks(text, mentions)


def _with_word_marks(text: str, mentions: list[TimeMention]) -> list[TimeMention]:
    """Add "the two-minute mark"-style mentions (number words) that no other mention covers."""
    marks = []
    for m in _WORD_MARK.finditer(text):
        value = _WORD_NUMBERS[m.group(1).lower()] * (60.0 if m.group(2).lower() == "minute" else 1.0)
        marks.append(TimeMention(value, value, m.start(), m.end(), m.group(0)))
    if not marks:
        return mentions
    merged, k = [], 0
    for mark in marks:
        while k < len(mentions) and mentions[k].char_end <= mark.char_start:
            merged.append(mentions[k])
            k += 1
        if k < len(mentions) and mentions[k].char_start < mark.char_end:
            continue  # overlaps a mention already found
        merged.append(mark)
    return merged + mentions[k:]


_STRICT_CLOCK = re.compile(
    r"(\d{1,12}):([0-5]\d):([0-5]\d(?:\.\d+)?)|(\d{1,12}):([0-5]\d(?:\.\d+)?)")
_BARE = re.compile(r"\d+(?:\.\d+)?")
_SUFFIXED_CLOCK = re.compile(r"\d:[0-5]\d(?:\.\d+)?[A-Za-z-]")


def parse_time(s: str) -> float | None:
    """Seconds of a string that is exactly one time ("01:45", "12.5s", "1m05s"), else None.

    A bare number is not a time here (use `parse_time_key` for reference keys).
    """
    if not isinstance(s, str):
        return None
    s = s.strip()
    clock = _STRICT_CLOCK.fullmatch(s)
    if clock:  # also accepts the hours > 999 that `format_time` can write
        h, m, sec, m2, s2 = clock.groups()
        value = int(h) * 3600 + int(m) * 60 + float(sec) if h else int(m2) * 60 + float(s2)
        return value if math.isfinite(value) else None
    if _SUFFIXED_CLOCK.search(s):  # "00:09s", "0:05-ish": fine in prose, not as a key
        return None
    found = find_times(s)
    if len(found) == 1 and found[0].start == found[0].end and found[0].text == s:
        return found[0].start
    return None


_KEY_SPLIT = re.compile(r"\s*(?:-|–|—|~|to|until|till)\s*", _I)


def _key_part(s: str) -> float | None:
    s = s.strip()
    if _BARE.fullmatch(s):  # a reference key is known to be a time: bare numbers are seconds
        value = float(s)
        return value if math.isfinite(value) else None
    return parse_time(s)


def parse_time_key(key: str) -> tuple[float, float] | None:
    """(start, end) of a reference key: "MM:SS", "HH:MM:SS", "12.5s" or a range of two of these
    joined by any dash, "~" or "to". A point gives start == end; a reversed range is swapped."""
    if not isinstance(key, str):
        return None
    key = key.strip().strip("[]()").strip()
    one = _key_part(key)
    if one is not None:
        return (one, one)
    parts = _KEY_SPLIT.split(key, maxsplit=1)
    if len(parts) != 2:
        return None
    lo, hi = _key_part(parts[0]), _key_part(parts[1])
    if lo is None or hi is None:
        return None
    return (min(lo, hi), max(lo, hi))


def _whole_seconds(seconds: float) -> int:
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"time must be a finite number of seconds >= 0, got {seconds!r}")
    return int(math.floor(seconds))


def format_time(seconds: float) -> str:
    """"HH:MM:SS" (floored to whole seconds), the form drawn on frames; hours may exceed 99."""
    total = _whole_seconds(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def format_clock(seconds: float) -> str:
    """"MM:SS", or "H:MM:SS" from one hour on (floored to whole seconds)."""
    total = _whole_seconds(seconds)
    if total >= 3600:
        return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"
    return f"{total // 60:02d}:{total % 60:02d}"
