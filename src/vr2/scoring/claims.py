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
from vr2.scoring.time_roles import moments
from vr2.scoring.timestamps import TimeMention, find_times, parse_time_key


@dataclass(frozen=True)
class Claim:
    """One timed statement. A point in time has start == end. Seconds as floats."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def release_order(c: Claim) -> tuple[float, float]:
    """The release's order of claims: by the interval's midpoint, equal midpoints by start."""
    return (c.start + c.end) / 2, c.start


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
#
# Which mentions are claims: `vr2.scoring.time_roles.moments` (a moment of the video, not a
# quantity, an equation, the task restated, the answer, a reading, reported speech or a denial).
#
# Text that stands alone (the release's LLM extractor writes each claim as one short action
# sentence): filler in front of the clause is dropped ("we can see that", "the video shows",
# "notably,"), and a clause that opens with a subject pronoun ("he", "she", "it", "they"; not the
# empty "it is") takes the subject of the sentence or clause before it: "The square slides right.
# At 00:04 it reaches the edge." claims "The square reaches the edge".

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


class RuleExtractor:
    """The built-in deterministic claim extractor: every time mention that names a moment of the
    video, with its clause as a sentence that stands alone."""

    name = "rule"

    def __init__(self, standalone: bool = True):
        # standalone=False keeps each clause's own words (no filler dropped, no subject carried):
        # what the extractor wrote before issue 22, kept to measure what standalone text recovers
        self.standalone = standalone

    def extract(self, think: str) -> list[Claim]:
        """Claims in order of appearance; [] for text without times. Never raises on a str."""
        if not isinstance(think, str):
            return []
        mentions = _Mentions(find_times(think))
        if not mentions.items:
            return []
        is_moment = dict(zip(mentions.starts, moments(think, mentions.items)))
        claims = []
        subject = None
        for span, timed in _all_clauses(think, mentions):
            text = _clause_text(think, span, mentions) if timed else _tidy(think[span[0]:span[1]])
            if self.standalone:
                text = _standalone(text, subject)
                subject = _subject(text) or subject
            if timed:
                claims.extend(Claim(m.start, m.end, text) for m in mentions.within(span)
                              if is_moment[m.char_start])
        return claims


def _all_clauses(think: str, mentions: _Mentions):
    """(span, has times) of every clause in order: sentences with times cut at their joins, the
    others whole (they may name the subject a later clause refers to)."""
    for sentence in _sentences(think, mentions):
        if mentions.within(sentence):
            for span in _clauses(think, sentence, mentions):
                yield span, True
        elif sentence[1] - sentence[0] <= _SUBJECT_SENTENCE:
            yield sentence, False


_SUBJECT_SENTENCE = 400  # a longer sentence without times is not searched for a subject
_FILLER = re.compile(
    r"(?:(?:we|i)\s+(?:can\s+|could\s+)?(?:clearly\s+)?(?:see|observe|notice)(?:\s+that)?"
    r"|it\s+(?:is|can\s+be)\s+(?:shown|seen|visible|clear|evident)\s+that"
    r"|the\s+(?:video|clip|footage|frame|scene|image)\s+(?:clearly\s+)?(?:shows|reveals|depicts|indicates)(?:\s+that)?"
    r"|notably|clearly|here|now|also|meanwhile|in\s+(?:the|this)\s+(?:video|clip|frame|scene)"
    r"|based\s+on\s+the\s+(?:video|clip|frames?))\b[\s,]*",
    re.IGNORECASE)
_PRONOUN = re.compile(r"(?:he|she|they|it(?!\s+(?:is|was|seems|appears|looks|['’]s)\b))\b", re.IGNORECASE)
_DETERMINERS = frozenset("""the a an this that these those his her their its one another each every two three
    four five both several many some""".split())
_NOT_SUBJECTS = frozenset("""i we you he she it they there here so then however therefore thus first next
    now finally in at after before based let's let this that what which who when where while if as""".split())
_MODIFIER_STARTS = frozenset("in on with of at from near by under behind wearing holding carrying dressed who that which".split())
_VERBS = frozenset("""is are was were has have had can could will would does did do gets got goes went
    comes came takes took makes made sits sat stands stood runs ran walks walked holds held puts put
    begins began starts started appears appeared seems seemed looks looked moves moved turns turned
    falls fell throws threw catches caught gives gave opens opened closes closed reaches reached
    remains remained stays stayed becomes became keeps kept""".split())


def _standalone(text: str, subject: str | None) -> str:
    """Filler dropped; a leading subject pronoun replaced by the subject carried from before."""
    for _ in range(3):
        trimmed = _FILLER.match(text)
        if not trimmed or trimmed.end() == 0:
            break
        text = text[trimmed.end():]
    pronoun = _PRONOUN.match(text)
    if pronoun and subject and len(text) > pronoun.end() and text[pronoun.end()] == " ":
        text = subject + text[pronoun.end():]
    return text


def _subject(text: str) -> str | None:
    """The noun phrase a clause opens with ("The square", "A man in a red shirt"), or None."""
    words = text.split()
    if len(words) < 2:
        return None
    first = words[0].lower()
    if first not in _DETERMINERS and (not words[0][:1].isupper() or first in _NOT_SUBJECTS
                                      or not words[0].isalpha()):
        return None
    start = 2 if first in _DETERMINERS else 1  # the word after a determiner is always the noun's
    head = None  # where a modifier after the head noun starts ("a man | in a grey apron")
    for k in range(start, min(len(words), 7)):
        word = words[k].lower().strip(",;:")
        if word in _VERBS or (len(word) > 3 and word.endswith(("s", "ed", "ing"))
                              and not word.endswith(("ss", "us", "is"))):
            # the head noun phrase only: "a man" carries better than "a man in a grey apron"
            return " ".join(words[:head or k]).rstrip(",;:")
        if not words[k].strip(",;:").isalpha():
            return None
        if head is None and word in _MODIFIER_STARTS:
            head = k
    return None


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

    Claims are sorted by the midpoint of their interval, equal midpoints by start (the release's
    order), so entries at the same time keep the order of the dict.
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
    return sorted(claims, key=release_order), bad


def reference_claims(temporal_grounding: dict | str, source: str = "reference") -> list[Claim]:
    """The claims of `read_reference` (bad entries dropped)."""
    return read_reference(temporal_grounding, source)[0]


def claims_to_dicts(claims: list[Claim]) -> list[dict]:
    """Plain dicts ({start, end, text}) for JSON output."""
    return [c.to_dict() for c in claims]
