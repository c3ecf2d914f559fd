"""Claims: (time interval, sentence) pairs that a reasoning trace or a reference makes.

Prediction claims come from the reasoning text (`RuleExtractor`, the default extractor; others
are plugins with the same `name` / `extract(think)` interface); reference claims come from a
sample's `temporal_grounding` (`reference_claims`). TAR matches the two (docs/method.md#temporal-alignment-reward-tar).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import asdict, dataclass

from vr2.errors import Vr2Error
from vr2.files import loads_json
from vr2.scoring.timestamps import TimeMention, find_times, parse_time_key


@dataclass(frozen=True)
class Claim:
    """One timed statement. A point in time has start == end. Seconds as floats."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


# --- the rule-based extractor --------------------------------------------------------------
#
# Clauses. The reasoning is cut into sentences at '.', '!' or '?' followed by white space and
# not by a lower-case letter (so "e.g. the" and "3.5s" stay whole), at ';' and at line breaks,
# never inside a time phrase. A sentence is further cut at a join (", and", ", then",
# "and then", ", while", ", but", ", after which", ", followed by", ...) only when the pieces
# on both sides each have their own time mention and their own words: "At 00:05 he sits, and
# at 00:09 he stands" gives two clauses, but "At 00:05, 00:07 and 00:09 the light flashes"
# stays one (three claims, one text). A claim's text is its clause with every time phrase, the
# prepositions left dangling before it ("at", "around", "from", "between", "by", ...), a
# leading connective ("then", "and") and stray punctuation removed. A mention whose clause has
# no words left still gives a claim (with empty text): it cites a time, so TAR counts it.

# Look-behinds stop each scan from restarting inside a run of the same characters, which keeps
# these linear on adversarial text.
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]++[\"')\]]*+(?=\s+(?![\sa-z])|$)|;|\n")
_JOIN = re.compile(
    r",\s*(?:and\s+then|and|then|but|while|whereas|after\s+which|followed\s+by|after\s+that"
    r"|and\s+finally|finally)\b|(?<!\s)\s+(?:and\s+then|then)\b",
    re.IGNORECASE,
)
_DANGLING = re.compile(
    r"(?:\b(?:at|around|about|approximately|approx\.?|roughly|nearly|near|by|from|between|until"
    r"|till|after|before|since|during|in|on|within|circa|just|right|exactly|precisely|starting"
    r"|beginning|ending|timestamp|time|to)\s*|[~@]\s*|\bt\s*=\s*)+$",
    re.IGNORECASE,
)
_LIST_JOIN = re.compile(r"[\s,]*(?:(?:and|or|&)\b[\s,]*)?", re.IGNORECASE)
_DANGLING_WINDOW = 80  # characters before a mention searched for its preposition
_TRAILING = re.compile(r"\s*(?:into\s+(?:the\s+)?(?:video|clip)\b|in\b(?=\s*[,.;:!?)]|\s*$)"
                       r"|\((?:approx\.?|approximately|roughly|about|ish|or\s+so)\))",
                       re.IGNORECASE)
_LEADING_JOIN = re.compile(r"^(?:(?:and|then|so|but|while|whereas|also|finally|next|after\s+that)\b"
                           r"[\s,]*)+", re.IGNORECASE)
_EDGE_PUNCT = " \t\r\n,;:.!?-–—*•"
# Times the trace quotes rather than claims: inside quotation marks, or in a clause where the
# question or an option is what states them ("the question asks what happens at 00:30").
_QUOTE_OPENER = re.compile("[\"“]")
_QUOTE_CLOSER = {'"': '"', "“": "”"}
_QUOTING = re.compile(
    r"\b(?:the\s+question|the\s+prompt|option\s+[a-z]|choice\s+[a-z]|the\s+options?|the\s+choices"
    r")\s+(?:\w+\s+)?(?:asks?|asked|says|said|states?|mentions?|claims?|suggests?"
    r"|refers?|describes?|wants?|is\s+about)\b"
    r"|\baccording\s+to\s+(?:the\s+question|option\s+[a-z]|choice\s+[a-z]|the\s+options?)\b",
    re.IGNORECASE,
)
_LETTER = re.compile(r"[^\W\d_]")


class _Mentions:
    """The mentions of one text, sorted and non-overlapping, with fast position look-ups."""

    def __init__(self, mentions: list[TimeMention]):
        self.items = mentions
        self.starts = [m.char_start for m in mentions]

    def inside(self, pos: int) -> bool:
        i = bisect_right(self.starts, pos) - 1
        return i >= 0 and pos < self.items[i].char_end

    def within(self, span: tuple[int, int]) -> list[TimeMention]:
        lo = bisect_left(self.starts, span[0])
        hi = bisect_left(self.starts, span[1])
        return [m for m in self.items[lo:hi] if m.char_end <= span[1]]


def _cut_times(text: str, start: int, end: int, mentions: list[TimeMention]) -> str:
    """text[start:end] with each mention, its dangling preposition and a trailing 'in' removed."""
    out, pos = [], start
    for m in mentions:
        cut = m.char_start
        dangling = _DANGLING.search(text, max(pos, cut - _DANGLING_WINDOW), cut)
        if dangling:
            cut = dangling.start()
        if not (out and _LIST_JOIN.fullmatch(text, pos, cut)):  # "at 00:05 and 00:09"
            out.append(text[pos:cut])
        out.append(" ")
        after = _TRAILING.match(text, m.char_end, end)
        pos = after.end() if after else m.char_end
    out.append(text[pos:end])
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\( ?\)|\[ ?\]", " ", text)
    text = re.sub(r" ?([,.;:!?)\]])", r"\1", text)
    text = re.sub(r"([(\[]) ", r"\1", text)
    text = re.sub(r"([,;:])(?: ?[,;:])+", r"\1", text)
    text = text.strip(_EDGE_PUNCT)
    return _LEADING_JOIN.sub("", text).strip(_EDGE_PUNCT)


def _clause_text(think: str, span: tuple[int, int], mentions: _Mentions) -> str:
    return _tidy(_cut_times(think, span[0], span[1], mentions.within(span)))


def _sentences(think: str, mentions: _Mentions) -> list[tuple[int, int]]:
    cuts = [m.end() for m in _SENTENCE_END.finditer(think) if not mentions.inside(m.start())]
    bounds = [0, *cuts, len(think)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def _complete(think: str, span: tuple[int, int], mentions: _Mentions) -> bool:
    """A piece that can stand as a clause: it has a time mention and words of its own."""
    return bool(mentions.within(span)) and bool(_LETTER.search(_clause_text(think, span, mentions)))


def _clauses(think: str, sentence: tuple[int, int], mentions: _Mentions) -> list[tuple[int, int]]:
    start, end = sentence
    cuts = [m.start() for m in _JOIN.finditer(think, start, end) if not mentions.inside(m.start())]
    pieces = list(zip([start, *cuts], [*cuts, end]))
    groups = [pieces[0]]
    for piece in pieces[1:]:
        # the piece first: it is short, the group may have grown long
        if _complete(think, piece, mentions) and _complete(think, groups[-1], mentions):
            groups.append(piece)
        else:
            groups[-1] = (groups[-1][0], piece[1])
    return groups


def _clause_spans(think: str, mentions: _Mentions) -> list[tuple[int, int]]:
    spans = []
    for sentence in _sentences(think, mentions):
        if mentions.within(sentence):
            spans.extend(_clauses(think, sentence, mentions))
    return spans


def _quotes_the_task(think: str, span: tuple[int, int], mentions: _Mentions) -> bool:
    """The clause reports what the question or an option says before its first time, so its
    times are not claims ("at 00:12 he waves, as option C says" still claims 00:12)."""
    first = mentions.within(span)[0].char_start
    return bool(_QUOTING.search(think, span[0], first))


class RuleExtractor:
    """The built-in deterministic claim extractor: every time mention with its clause."""

    name = "rule"

    def extract(self, think: str) -> list[Claim]:
        """Claims in order of appearance; [] for text without times. Never raises on a str."""
        if not isinstance(think, str):
            return []
        mentions = _Mentions(find_times(think))
        quoted = _Mentions([TimeMention(0, 0, start, end, "") for start, end in _quoted_spans(think)])
        claims = []
        for span in _clause_spans(think, mentions):
            if _quotes_the_task(think, span, mentions):
                continue
            text = _clause_text(think, span, mentions)
            claims.extend(Claim(m.start, m.end, text) for m in mentions.within(span)
                          if not quoted.inside(m.char_start))
        return claims


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    """Spans of "..." and “...” closed on the same line, scanned left to right.

    Linear: an opener with no closer before the end of its line is remembered per kind, so later
    openers of that kind on the same line are skipped without another scan (a regex with a
    negated class rescans the line from every opener: quadratic on a line of unclosed quotes).
    """
    spans, pos, failed_until = [], 0, {}
    while (m := _QUOTE_OPENER.search(text, pos)) is not None:
        start, kind = m.start(), m.group()
        pos = start + 1
        if failed_until.get(kind, -1) > start:
            continue
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end == -1 else line_end
        close = text.find(_QUOTE_CLOSER[kind], pos, line_end)
        if close == -1:
            failed_until[kind] = line_end
            continue
        spans.append((start, close + 1))
        pos = close + 1
    return spans


def extract_claims(think: str) -> list[Claim]:
    """Shortcut for `RuleExtractor().extract(think)`."""
    return RuleExtractor().extract(think)


# --- reference claims ----------------------------------------------------------------------

def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _grounding_dict(temporal_grounding: dict | str, source: str) -> dict:
    if isinstance(temporal_grounding, str):
        # bad syntax, deep nesting or a huge integer is one line naming the field
        temporal_grounding = loads_json(temporal_grounding, f"{source}: temporal_grounding")
    if not isinstance(temporal_grounding, dict):
        raise Vr2Error(f"{source}: temporal_grounding must be an object {{timestamp: sentence}}, "
                       f"got {type(temporal_grounding).__name__}")
    return temporal_grounding


@dataclass(frozen=True)
class BadRefKey:
    """A reference entry that is not used: its key and why."""

    key: str
    reason: str


def read_reference(temporal_grounding: dict | str,
                   source: str = "reference") -> tuple[list[Claim], list[BadRefKey]]:
    """Claims from a sample's `temporal_grounding` ({timestamp: sentence} or its JSON text),
    plus the entries left out.

    The bad-key rule (the same in `vr2 score`, training and `vr2 eval`): an entry whose key is
    not a time or a range ("00:05 - end", "00:75", "00:05-00:09s", see
    `vr2.scoring.timestamps.parse_time_key`) or whose sentence is not a non-empty string is dropped from
    the reference claims and reported as a `BadRefKey`; the other entries still count. Only a
    grounding that is not a JSON object at all raises `Vr2Error` naming `source`.

    Claims are stably sorted by the midpoint of their interval (the release's order), so
    entries at the same time keep the order of the dict.
    """
    claims, bad = [], []
    for key, sentence in _grounding_dict(temporal_grounding, source).items():
        interval = parse_time_key(key) if isinstance(key, str) else None
        if interval is None:
            bad.append(BadRefKey(str(key), f"key {_short(key)} is not a time "
                                           "(expected MM:SS, HH:MM:SS or MM:SS-MM:SS)"))
        elif not isinstance(sentence, str) or not sentence.strip():
            bad.append(BadRefKey(str(key), f"the sentence of {_short(key)} is not a non-empty "
                                           f"string ({_short(sentence)})"))
        else:
            claims.append(Claim(interval[0], interval[1], sentence.strip()))
    return sorted(claims, key=lambda c: (c.start + c.end) / 2), bad


def reference_claims(temporal_grounding: dict | str, source: str = "reference") -> list[Claim]:
    """The claims of `read_reference` (bad entries dropped)."""
    return read_reference(temporal_grounding, source)[0]


def claims_to_dicts(claims: list[Claim]) -> list[dict]:
    """Plain dicts ({start, end, text}) for JSON output."""
    return [c.to_dict() for c in claims]
