"""Whether two wordings say the same thing: content-word stems, the option a description names, and
same meaning by sentence embedding.

Three readers, from strict to loose, each documented in docs/method.md ("Reading real traces"):

- `stems`: the content words of a text, lower-cased and cut to a stem by a few suffix rules
  ("kicking", "kicks" -> "kick"; "happiness", "happy" -> "happi"; "downwards" -> "downward"), stop
  words and pronouns left out. A small rule stemmer rather than a library: nltk's Porter stemmer costs
  a second of import time in every `vr2 score` call.
- `described_option`: the option a statement describes in its own words ("the rocks remain the same
  throughout the video" names "The pile of rocks remains the same throughout the video"). An option
  is covered by the share of its stems the statement holds, averaged with the share it holds in the
  option's order (a longest common subsequence, so "falls, then breaks" is not "breaks, then
  falls"); the best option must reach `OPTION_COVER` and beat the next one by `OPTION_MARGIN`, and a
  negated option ("does not show ...") is only described by a negated statement.
- `same_meaning`: a free-form conclusion and an answer agree when every content stem of the answer is
  in the conclusion, or when the MiniLM cosine between what the answer says and what the conclusion
  says is at least `MEANING_THRESHOLD`. "What it says" is the predicate: the subject and a linking
  verb are left out ("the child is sad" -> "sad"), and a list is split into its items ("frustration,
  anger, and disbelief" -> each), the best item counting. The threshold was measured on labelled
  pairs (tests/scoring/meaning_pairs.yaml; benchmarks/bench_readers.py prints the sweep): 0.5 was
  the most accurate, and comparing predicates beat comparing whole sentences.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

# Measured on tests/scoring/meaning_pairs.yaml (BENCHMARKS.md, "Reading real traces").
MEANING_THRESHOLD = 0.5
OPTION_COVER = 0.4
OPTION_MARGIN = 0.15

_STOP = frozenset("""
    a an the this that these those it its it's he she they them him her his their there here we us our
    i me my you your is are was were be been being am do does did doing has have had having will would
    shall should can could may might must of in on at to for from by with about into onto over under
    and or but if then so as than too very also just only not no nor yet both either each all any some
    what which who whom whose when where why how while because since after before during until up down
    out off again further once more most other such own same few per via what's that's there's let's
    seems seem appears appear looks look like clearly likely probably really actually""".split())
# Longest first: the first suffix that leaves a stem of three letters or more is cut.
_SUFFIXES = ("ations", "ation", "nesses", "ness", "ments", "ment", "ingly", "ings", "ing", "edly",
             "ied", "ies", "ed", "ly", "es", "s", "y")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def stem(word: str) -> str:
    """A light stem: lower case, one suffix cut, a doubled last consonant undone ("running" -> "run"),
    a final "e" dropped ("exercise", "exercising" -> "exercis")."""
    word = word.lower()
    if len(word) <= 3:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ied", "ies", "y"):
                word += "i"
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
                word = word[:-1]
            break
    return word[:-1] if len(word) >= 4 and word.endswith("e") else word


def stems(text: Any) -> list[str]:
    """The content-word stems of a text, in order."""
    if not isinstance(text, str):
        return []
    return [stem(w) for w in _WORD.findall(text) if w.lower() not in _STOP]


def _common_in_order(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (a short option against a bounded statement)."""
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


_MAX_STATEMENT_STEMS = 200  # a statement is a sentence; a longer one is cut (keeps this bounded)


_NEGATED = re.compile(r"\b(?:not|never|no|nothing|none|cannot|\w+n['’]t)\b", re.I)


def _cover(wanted: list[str], said: list[str]) -> float:
    """How much of an option a statement says: the share of its stems present, averaged with the
    share present in the option's order (so "falls, then breaks" is not "breaks, then falls")."""
    if not wanted:
        return 0.0
    present = set(said)
    unordered = sum(w in present for w in wanted) / len(wanted)
    return (unordered + _common_in_order(wanted, said) / len(wanted)) / 2


def described_option(statement: str, options: Sequence[str]) -> int | None:
    """Index of the one option the statement describes in other words, or None. An option that
    denies something ("The video does not show the corn") is never described by a statement that
    does not, and the other way round."""
    said = stems(statement)[-_MAX_STATEMENT_STEMS:]
    if not said or not options:
        return None
    negated = bool(_NEGATED.search(statement))
    cover = [_cover(stems(option), said) if bool(_NEGATED.search(option)) == negated else 0.0
             for option in options]
    ranked = sorted(range(len(cover)), key=lambda i: -cover[i])
    best = ranked[0]
    runner_up = cover[ranked[1]] if len(ranked) > 1 else 0.0
    if cover[best] >= OPTION_COVER and cover[best] - runner_up >= OPTION_MARGIN:
        return best
    return None


_ITEM_SPLIT = re.compile(r"\s*(?:[,;:]|\band\b|\bor\b|\bwith\b|\bas well as\b)\s*", re.I)
# "the child is", "he seems", "she feels very": a subject and a linking verb before what is said of it
_SUBJECT = re.compile(
    r"^(?:[\w'’ ]{0,40}?\s)?(?:is|are|was|were|seems?|appears?|looks?|feels?|stays?|remains?|becomes?)\s+"
    r"(?:to\s+be\s+)?(?:(?:very|quite|clearly|mostly|primarily|mainly|a\s+little|somewhat)\s+)*", re.I)


def items(text: str) -> list[str]:
    """The listed items of a text ("confusion, anger, and excitement" -> each of them), or the text."""
    pieces = [p.strip() for p in _ITEM_SPLIT.split(text) if p and p.strip()]
    return list(dict.fromkeys(pieces or [text.strip()]))


def predicate(text: str) -> str:
    """What a statement says of its subject: "the child is sad" -> "sad" (the text when it has no
    linking verb, "He kicks the ball." stays whole)."""
    text = text.strip()
    m = _SUBJECT.match(text)
    rest = text[m.end():].strip() if m else ""
    return rest or text


def covers(conclusion: str, answer: str) -> bool:
    """Every content stem of the answer occurs in the conclusion ("He kicks the ball." in "the boy is
    kicking a ball")."""
    wanted = set(stems(answer))
    return bool(wanted) and wanted <= set(stems(conclusion))


def meaning_similarity(conclusion: str, answer: str, embedder) -> float:
    """The highest cosine between what the answer says and what the conclusion (or one of its listed
    items) says, subjects and linking verbs left out on both sides."""
    pieces = list(dict.fromkeys(predicate(p) for p in items(conclusion)))[:32]
    vectors = embedder.encode([predicate(answer), *pieces])
    return float(max(vectors[1:] @ vectors[0]))


def same_meaning(conclusion: str, answer: str, embedder=None) -> bool:
    """The conclusion says what the answer says: by stems, else (with an embedder) by meaning."""
    if covers(conclusion, answer):
        return True
    return embedder is not None and meaning_similarity(conclusion, answer, embedder) >= MEANING_THRESHOLD
