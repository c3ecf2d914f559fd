"""Tests for vr2.scoring.claims: the rule-based extractor's clauses and texts, reference loading and its
errors, and property tests (never raises, claims follow the time mentions)."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.scoring.claims import (Claim, RuleExtractor, claims_to_dicts, extract_claims, read_reference,
                        reference_claims)
from vr2.errors import Vr2Error
from vr2.scoring.timestamps import find_times

TRACE = ("At 00:05, a man enters the kitchen. Between 00:12 and 00:18 he chops onions; then "
         "at 0:25 he turns on the stove. Around the 40-second mark the pan smokes. "
         "So the answer is B.")


def triples(text: str) -> list[tuple[float, float, str]]:
    return [(c.start, c.end, c.text) for c in RuleExtractor().extract(text)]


def test_realistic_trace():
    # issue 22: a clause that opens with a pronoun takes the subject from before ("he chops onions"
    # was the text here; the reference "A man chops onions." is what it should match)
    assert triples(TRACE) == [
        (5, 5, "a man enters the kitchen"),
        (12, 18, "a man chops onions"),
        (25, 25, "a man turns on the stove"),
        (40, 40, "the pan smokes"),
    ]


def test_plugin_interface():
    extractor = RuleExtractor()
    assert extractor.name == "rule"
    assert all(isinstance(c, Claim) for c in extractor.extract(TRACE))
    assert extract_claims(TRACE) == extractor.extract(TRACE)


@pytest.mark.parametrize("text", ["", "So the answer is B.", "There are 2 people and 3.5 cats.",
                                  "The 1990s film has a 16:9 frame."])
def test_no_times_no_claims(text):
    assert RuleExtractor().extract(text) == []


@pytest.mark.parametrize("text, expected", [
    ("At 01:45 the screen reads 23,666 transactions/sec.",
     [(105, 105, "the screen reads 23,666 transactions/sec")]),
    ("The man waves at 00:07.", [(7, 7, "The man waves")]),
    ("[00:12] The dog barks.", [(12, 12, "The dog barks")]),
    ("The dog barks (0:05 - 0:09).", [(5, 9, "The dog barks")]),
    ("From 12s to 18s the dog runs.", [(12, 18, "the dog runs")]),
    ("At around 16 seconds the cat jumps.", [(16, 16, "the cat jumps")]),
    ("At 16 seconds in, the cat jumps.", [(16, 16, "the cat jumps")]),
    ("By 1m05s the race is over.", [(65, 65, "the race is over")]),
    ("At timestamp 00:30, the sign is visible.", [(30, 30, "the sign is visible")]),
    ("The man, at 1:10, waves.", [(70, 70, "The man, waves")]),
    ("- 00:03: a bird lands", [(3, 3, "a bird lands")]),
])
def test_clause_text(text, expected):
    assert triples(text) == expected


def test_two_mentions_in_one_clause_share_the_text():
    assert triples("The light flashes at 00:05 and 00:09.") == [
        (5, 5, "The light flashes"), (9, 9, "The light flashes")]
    assert triples("At 00:05, 00:07 and 00:09 the light flashes.") == [
        (5, 5, "the light flashes"), (7, 7, "the light flashes"), (9, 9, "the light flashes")]


def test_join_splits_only_when_both_sides_have_a_time_and_words():
    assert triples("At 00:05 he sits, and at 00:09 he stands.") == [
        (5, 5, "he sits"), (9, 9, "he stands")]
    assert triples("He picks up the knife at 00:10 and then puts it down at 00:15.") == [
        (10, 10, "He picks up the knife"), (15, 15, "puts it down")]
    assert triples("At 00:05 a man enters the kitchen, then sits down.") == [
        (5, 5, "a man enters the kitchen, then sits down")]


def test_sentences_and_lines():
    text = "At 00:05 he enters! Is it 00:07? Yes.\n00:09 he leaves\n\n00:11; the end"
    assert triples(text) == [(5, 5, "he enters"), (7, 7, "Is it"), (9, 9, "he leaves"),
                             (11, 11, "")]


def test_abbreviations_and_decimals_do_not_split():
    assert triples("At 3.5s, e.g. the car stops.") == [(3.5, 3.5, "e.g. the car stops")]


def test_time_only_clause_still_gives_a_claim():
    assert triples("At 00:05.") == [(5, 5, "")]


def test_durations_are_not_claims():
    assert triples("The clip is 30 seconds long. For 5 seconds nothing moves.") == []


def test_non_string_gives_nothing():
    assert RuleExtractor().extract(None) == []  # type: ignore[arg-type]


# --- reference claims ----------------------------------------------------------------------

GROUNDING = {"00:12-00:18": "A man chops onions.", "00:05": "A man enters the kitchen.",
             "1:02:03": "The credits roll.", "00:25 – 00:20": " He turns on the stove. "}


def test_reference_from_dict_sorted():
    assert reference_claims(GROUNDING) == [
        Claim(5, 5, "A man enters the kitchen."),
        Claim(12, 18, "A man chops onions."),
        Claim(20, 25, "He turns on the stove."),
        Claim(3723, 3723, "The credits roll."),
    ]


def test_reference_from_json_string():
    assert reference_claims(json.dumps(GROUNDING)) == reference_claims(GROUNDING)
    assert reference_claims("{}") == []


@pytest.mark.parametrize("value, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "got list"),
    (None, "got NoneType"),
])
def test_reference_errors_name_source(value, fragment):
    with pytest.raises(Vr2Error) as err:
        reference_claims(value, source="data.json row 7")
    message = str(err.value)
    assert message.startswith("data.json row 7: ")
    assert fragment in message
    assert "\n" not in message


# The bad-key rule: an entry whose key is not a time (or whose sentence is not text) is dropped
# and reported; the rest of the grounding still counts; nothing raises.
@pytest.mark.parametrize("key", [
    "00:05 - end", "00:75", "00:05-00:09s", "soon", "00:05-", "end", "00:05 - eof", "1:2:3:4",
    "00:05-00:09-00:12", "", "00:05+", "later on",
])
def test_bad_reference_keys_are_dropped_and_reported(key):
    grounding = {key: "The dog barks.", "00:12": "The man sits."}
    claims, bad = read_reference(grounding)
    assert claims == [Claim(12, 12, "The man sits.")]
    assert [b.key for b in bad] == [key]
    assert "not a time" in bad[0].reason
    assert reference_claims(json.dumps(grounding)) == claims


@pytest.mark.parametrize("sentence", [3, None, "", "   ", ["x"]])
def test_bad_reference_sentences_are_dropped_and_reported(sentence):
    claims, bad = read_reference({"00:05": sentence, "00:09": "He stands."})
    assert claims == [Claim(9, 9, "He stands.")]
    assert len(bad) == 1 and "00:05" in bad[0].reason


@given(st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=8), st.none(),
                                                       st.integers()), max_size=6))
def test_read_reference_never_raises_on_any_dict(grounding):
    claims, bad = read_reference(grounding)
    assert len(claims) + len(bad) == len(grounding)
    assert [(c.start + c.end) / 2 for c in claims] == sorted((c.start + c.end) / 2 for c in claims)


def test_reference_error_message_stays_short():
    _, bad = read_reference({"x" * 500: "y"})
    assert len(bad[0].reason) < 200


def test_claims_to_dicts():
    assert claims_to_dicts([Claim(1.0, 2.0, "a")]) == [{"start": 1.0, "end": 2.0, "text": "a"}]


# --- properties ----------------------------------------------------------------------------

PIECES = ["At ", "00:05", " 1:02:03", " between 12 and 18 seconds", " the 16-second mark",
          " he sits", ", and ", ", then ", " then ", ". ", "; ", "\n", " (0:05 - 0:09)", "[00:12]",
          " 3.5s", " e.g. ", " the man", ",", " 2 people", " So the answer is B."]


def check_claims(text: str) -> None:
    # issue 22: claims are the mentions that name a moment of the video, so they are a subsequence
    # of the mentions (before, every mention was a claim: " 3.5s" alone is a quantity, not a moment)
    claims = RuleExtractor().extract(text)
    mentions = iter((m.start, m.end) for m in find_times(text))
    assert all(any(interval == m for m in mentions) for interval in ((c.start, c.end) for c in claims))
    for c in claims:
        assert 0 <= c.start <= c.end
        assert c.text == c.text.strip()
        assert "\n" not in c.text


@given(st.text())
def test_any_text_never_raises(text):
    check_claims(text)


@given(st.lists(st.sampled_from(PIECES), max_size=30))
@settings(max_examples=300)
def test_trace_like_text(pieces):
    check_claims("".join(pieces))


@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=6))
@settings(max_examples=40, deadline=None)
def test_long_text_is_fast(pieces):
    unit = "".join(pieces)
    text = unit * (30_000 // len(unit) + 1)
    began = time.perf_counter()
    check_claims(text)
    assert time.perf_counter() - began < 5.0  # generous: a shared CI core; the ratio test in test_parsers_linear.py catches superlinear growth


# --- issue classes: readings of clocks, labels, durations, lists, quotes, clean texts ---------

def _times(text):
    return [(c.start, c.end) for c in RuleExtractor().extract(text)]


@pytest.mark.parametrize("text", [
    "The wall clock shows 10:45 at 00:12.",
    "The timer on screen shows 00:45 at 00:12.",
    "The clock reads 5:30 at 00:12.",
    "At 00:12 the 24-hour clock shows 13:45.",
    "At 00:12 the scoreboard displays 3:15.",
    "At 00:12 he enters Room 12:30.",
    "At 00:12 the sign quotes John 3:16.",
    "At 00:12 a sign says Open 24 hours.",
    "At 00:12 we see that it takes him 10 s to climb.",
    "At 00:12 the stopwatch reads the time as 1:05.",
])
def test_clock_readings_labels_and_durations_are_not_claims(text):
    assert _times(text) == [(12, 12)]


@pytest.mark.parametrize("text, times", [
    ("At 12 and 18 seconds the dog barks.", [(12, 12), (18, 18)]),
    ("At 5, 9 and 14 seconds the light flashes.", [(5, 5), (9, 9), (14, 14)]),
    ("At 2 or 3 minutes the car stops.", [(120, 120), (180, 180)]),
    ("From the 1:05 mark until 1:10 the man runs.", [(65, 70)]),
    ("From 0:05 until the 0:09 mark the cat sleeps.", [(5, 9)]),
    ("From the 0:05 mark to the 0:09 mark the cat sleeps.", [(5, 9)]),
])
def test_lists_and_ranges(text, times):
    assert _times(text) == times


@pytest.mark.parametrize("text", [
    "The question asks what happens at 00:30. At 00:12 the man sits.",
    'Option B says "he leaves at 00:45". At 00:12 the man sits.',
    "According to option B, at 00:45 he leaves. At 00:12 the man sits.",
    "The options mention 00:45 and 00:50. At 00:12 the man sits.",
    'He thinks "at 00:50 it ends", but at 00:12 the man sits.',
])
def test_times_quoted_from_the_task_are_not_claims(text):
    assert _times(text) == [(12, 12)]


@pytest.mark.parametrize("text, clause", [
    ("At 00:12ish the light flashes.", "the light flashes"),
    ("At 00:12s the dog barks.", "the dog barks"),
    ("Around 0:05-ish the cat jumps.", "the cat jumps"),
    ("At 00:12 secs the dog barks.", "the dog barks"),
    ("At 0:05sec the cat jumps.", "the cat jumps"),
    ("At 12s-ish the dog barks.", "the dog barks"),
    ("Around 12ish seconds the dog barks.", "the dog barks"),
    ("At 00:12 (approx.) the dog barks.", "the dog barks"),
    ("At 00:12-ish, the light flashes.", "the light flashes"),
])
def test_claim_texts_are_clean_clauses(text, clause):
    assert [c.text for c in RuleExtractor().extract(text)] == [clause]


@given(st.integers(0, 59), st.integers(0, 59), st.sampled_from(["ish", "-ish", "s", "sec", "secs"]),
       st.sampled_from(["the dog barks", "a man waves his hand"]))
def test_glued_suffixes_never_leak_into_claims(m, s, suffix, clause):
    claims = RuleExtractor().extract(f"At {m:02d}:{s:02d}{suffix} {clause}.")
    assert [(c.start, c.text) for c in claims] == [(m * 60 + s, clause)]


@given(st.lists(st.integers(1, 500), min_size=1, max_size=6),
       st.sampled_from([("seconds", 1), ("minutes", 60)]))
def test_a_list_shares_its_unit(values, unit):
    *head, last = values
    listed = ", ".join(map(str, head)) + (" and " if head else "") + str(last)
    claims = RuleExtractor().extract(f"At {listed} {unit[0]} the dog barks.")
    assert [c.start for c in claims] == [v * unit[1] for v in values]


@given(st.integers(0, 59), st.integers(0, 59),
       st.sampled_from(["The clock reads {}", "The wall clock shows {}", "The timer displays {}",
                        "He walks into Room {}", "The sign quotes John {}",
                        "The question asks what happens at {}", "Option C says he leaves at {}"]))
def test_readings_labels_and_quotes_never_give_claims(m, s, template):
    text = template.format(f"{m}:{s:02d}") + ". At 00:07 the man sits."
    assert [(c.start, c.text) for c in RuleExtractor().extract(text)] == [(7, "the man sits")]


@given(st.text(alphabet='ab"“”\n 0:5', max_size=40))
def test_quoted_spans_are_those_of_a_same_line_quote_pattern(text):
    from vr2.scoring.time_roles import quoted_spans

    pattern = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”")  # the definition; the scanner is its linear form
    assert quoted_spans(text) == [m.span() for m in pattern.finditer(text)]


def test_a_line_of_unclosed_quotes_is_linear():
    from vr2.scoring.claims import RuleExtractor

    began = time.perf_counter()
    RuleExtractor().extract("“" * 100_000)
    assert time.perf_counter() - began < 2.0
