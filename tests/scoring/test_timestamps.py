"""Tests for vr2.scoring.timestamps: every documented time form, the false positives it must refuse,
and property tests (never raises, offsets consistent, format/parse round trips, linear time)."""

from __future__ import annotations

import math
import re
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vr2.scoring.timestamps import (TimeMention, find_times, format_clock, format_time, parse_time,
                            parse_time_key)


def spans(text: str) -> list[tuple[float, float, str]]:
    return [(m.start, m.end, m.text) for m in find_times(text)]


@pytest.mark.parametrize("text, start, end, phrase", [
    ("At 01:45 the screen reads 23,666.", 105, 105, "01:45"),
    ("at 1:02:03 he waves", 3723, 3723, "1:02:03"),
    ("during 00:42-00:45 it rains", 42, 45, "00:42-00:45"),
    ("during 00:42–00:45 it rains", 42, 45, "00:42–00:45"),
    ("during 00:42—00:45 it rains", 42, 45, "00:42—00:45"),
    ("during 00:42 — 00:45 it rains", 42, 45, "00:42 — 00:45"),
    ("0:12 to 0:18 the dog runs", 12, 18, "0:12 to 0:18"),
    ("from 12s to 18s the dog runs", 12, 18, "from 12s to 18s"),
    ("between 12 and 18 seconds the dog runs", 12, 18, "between 12 and 18 seconds"),
    ("between 00:12 and 00:18 the dog runs", 12, 18, "between 00:12 and 00:18"),
    ("from 12 to 18 seconds", 12, 18, "from 12 to 18 seconds"),
    ("12-18 seconds in", 12, 18, "12-18 seconds"),
    ("between 1 and 2 minutes", 60, 120, "between 1 and 2 minutes"),
    ("at 3.5s the car stops", 3.5, 3.5, "3.5s"),
    ("at 16 seconds the car stops", 16, 16, "16 seconds"),
    ("at 16 sec the car stops", 16, 16, "16 sec"),
    ("at 16 secs", 16, 16, "16 secs"),
    ("at 1 second", 1, 1, "1 second"),
    ("around the 16-second mark the pan smokes", 16, 16, "the 16-second mark"),
    ("at the 16 second mark", 16, 16, "the 16 second mark"),
    ("at the 1:30 mark", 90, 90, "the 1:30 mark"),
    ("at the 2-minute point", 120, 120, "the 2-minute point"),
    ("at 1m05s he jumps", 65, 65, "1m05s"),
    ("at 1 min 5 s he jumps", 65, 65, "1 min 5 s"),
    ("at 1 minute and 5 seconds", 65, 65, "1 minute and 5 seconds"),
    ("at 1h02m03s", 3723, 3723, "1h02m03s"),
    ("at 1 hour 2 minutes 3 seconds", 3723, 3723, "1 hour 2 minutes 3 seconds"),
    ("after 2 minutes the lights go out", 120, 120, "2 minutes"),
    ("at 2 min", 120, 120, "2 min"),
    ("[00:12] The man sits.", 12, 12, "[00:12]"),
    ("The man sits (0:05 - 0:09).", 5, 9, "(0:05 - 0:09)"),
    ("at 10 s", 10, 10, "10 s"),
    ("at 75:10 the credits roll", 4510, 4510, "75:10"),
    ("at 00:00:05,500", 5.5, 5.5, "00:00:05,500"),
    ("at 00:01:05.25", 65.25, 65.25, "00:01:05.25"),
    ("at 01:45.5", 105.5, 105.5, "01:45.5"),
    ("In the first 10 seconds a cat walks", 0, 10, "the first 10 seconds"),
    ("around the 20s mark", 20, 20, "the 20s mark"),
    ("AT 16 SECONDS", 16, 16, "16 SECONDS"),
])
def test_each_documented_form(text, start, end, phrase):
    assert spans(text) == [(start, end, phrase)]


def test_reversed_range_is_swapped():
    assert spans("from 00:18 to 00:12") == [(12, 18, "from 00:18 to 00:12")]
    assert spans("00:45-00:42") == [(42, 45, "00:45-00:42")]


def test_mentions_in_order_with_offsets():
    text = "At 00:05 he enters. Between 00:12 and 00:18 he chops; then at 0:25 he cooks."
    found = find_times(text)
    assert [(m.start, m.end) for m in found] == [(5, 5), (12, 18), (25, 25)]
    for m in found:
        assert text[m.char_start:m.char_end] == m.text
    assert found[1].text == "Between 00:12 and 00:18"


def test_two_points_joined_by_and_without_between_stay_points():
    assert spans("at 1:05 and 1:10") == [(65, 65, "1:05"), (70, 70, "1:10")]


@pytest.mark.parametrize("text", [
    "3.5", "the score was 3.5", "2 people walk in", "in the 1990s", "in the 80s", "in her 20s",
    "the mid-60s", "the '80s", "a 5:1 ratio", "a 16:9 screen", "16:10 aspect ratio",
    "the ratio of 16:10", "version 2.0", "at 3:45 pm", "at 10:30 a.m.", "walked 5m",
    "a 10-second clip", "for 5 seconds", "every 2 s", "it takes 3 minutes", "10 seconds long",
    "5 seconds later", "2 to 3 minutes each", "1:65", "1:2:3", "12:34:56:78", "5 secret",
    "5 ms", "5 mph", "v1:23", "x12s", "it lasts 30 seconds", "1234:56", "the 12345678 s",
])
def test_false_positives_are_refused(text):
    assert spans(text) == []


def test_decades_vs_seconds():
    assert spans("at 20s the man waves") == [(20, 20, "20s")]
    assert spans("the 1990s") == []
    assert spans("at 7200s") == [(7200, 7200, "7200s")]
    assert spans("the 7200s") == []
    assert spans("around the 7200s mark") == [(7200, 7200, "the 7200s mark")]


@pytest.mark.parametrize("s, seconds", [
    ("01:45", 105), ("1:02:03", 3723), ("12.5s", 12.5), ("1m05s", 65), ("16 seconds", 16),
    ("  00:07  ", 7), ("the 16-second mark", 16), ("[00:12]", 12), ("123:00:00", 442800),
    ("100000:00:00", 360000000),
])
def test_parse_time(s, seconds):
    assert parse_time(s) == seconds


@pytest.mark.parametrize("s", [
    "", "3.5", "abc", "at 01:45", "01:45 and more", "00:42-00:45", "5:1", "1990s", "01:60",
    "1:2:3", None, 12,
])
def test_parse_time_rejects(s):
    assert parse_time(s) is None


@pytest.mark.parametrize("key, interval", [
    ("01:45", (105, 105)), ("00:01:45", (105, 105)), ("00:42-00:45", (42, 45)),
    ("00:42 - 00:45", (42, 45)), ("00:42–00:45", (42, 45)), ("00:42—00:45", (42, 45)),
    ("00:42 to 00:45", (42, 45)), ("00:45-00:42", (42, 45)), ("0:12~0:18", (12, 18)),
    ("1:02:03-1:02:05", (3723, 3725)), ("12", (12, 12)), ("12.5-18", (12.5, 18)),
    ("12s-18s", (12, 18)), ("[00:12]", (12, 12)),
])
def test_parse_time_key(key, interval):
    assert parse_time_key(key) == interval


@pytest.mark.parametrize("key", ["", "soon", "00:42-", "-00:45", "1:2", "a-b", "00:42-00:45-00:50",
                                 None, 5])
def test_parse_time_key_rejects(key):
    assert parse_time_key(key) is None


def test_format():
    assert format_time(0) == "00:00:00"
    assert format_time(3725.9) == "01:02:05"
    assert format_time(59.999) == "00:00:59"
    assert format_time(360000) == "100:00:00"
    assert format_clock(65.7) == "01:05"
    assert format_clock(3599) == "59:59"
    assert format_clock(3600) == "1:00:00"
    assert format_clock(3725) == "1:02:05"


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf")])
def test_format_rejects_impossible_times(bad):
    with pytest.raises(ValueError):
        format_time(bad)
    with pytest.raises(ValueError):
        format_clock(bad)


# --- properties ----------------------------------------------------------------------------

TIME_ALPHABET = "0123456789:.,;-–— smhaeciondtrbwfg[]()'\n"
seconds = st.floats(min_value=0, max_value=10**7, allow_nan=False, allow_infinity=False)


def check_mentions(text: str, found: list[TimeMention]) -> None:
    last_end = 0
    for m in found:
        assert 0 <= m.start <= m.end and math.isfinite(m.end)
        assert last_end <= m.char_start < m.char_end <= len(text)
        assert text[m.char_start:m.char_end] == m.text
        last_end = m.char_end


@given(st.text())
def test_any_text_gives_valid_mentions(text):
    check_mentions(text, find_times(text))
    parse_time(text)
    parse_time_key(text)


@given(st.text(alphabet=TIME_ALPHABET, max_size=200))
@settings(max_examples=400)
def test_time_like_text_gives_valid_mentions(text):
    check_mentions(text, find_times(text))
    value = parse_time(text)
    assert value is None or (value >= 0 and math.isfinite(value))
    key = parse_time_key(text)
    assert key is None or 0 <= key[0] <= key[1]


@given(seconds)
def test_format_time_round_trip(x):
    assert parse_time(format_time(x)) == math.floor(x)
    assert parse_time(format_clock(x)) == math.floor(x)
    assert parse_time_key(format_time(x)) == (math.floor(x), math.floor(x))


@given(seconds, seconds)
def test_range_key_round_trip(a, b):
    lo, hi = sorted((math.floor(a), math.floor(b)))
    assert parse_time_key(f"{format_clock(a)}-{format_clock(b)}") == (lo, hi)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59),
       st.sampled_from(["At {} the man waves.", "The man waves ({}).", "[{}] The man waves."]))
def test_clock_found_inside_sentences(h, m, s, template):
    clock = f"{h:02d}:{m:02d}:{s:02d}"
    found = find_times(template.format(clock))
    assert [(x.start, x.end) for x in found] == [(h * 3600 + m * 60 + s,) * 2]


@given(st.integers(0, 10**6), st.sampled_from(["s", " s", "sec", " seconds", " second"]))
def test_seconds_with_unit(n, unit):
    assume(not (unit == "s" and re.fullmatch(r"(1\d|20)\d0", str(n))))  # 1990s is a decade
    assert spans(f"at {n}{unit} x") == [(n, n, f"{n}{unit}")]


@given(st.lists(st.sampled_from(["1", ":", ".", " ", "s", "m", "-", "and ", "between ", "the ",
                                 "mark", "(", ")", "00:05", "to ", ",", "a", "\n"]),
                min_size=1, max_size=8))
@settings(max_examples=60, deadline=None)
def test_long_adversarial_text_is_fast(chunks):
    text = "".join(chunks) * (40_000 // len("".join(chunks)) + 1)
    began = time.perf_counter()
    found = find_times(text)
    assert time.perf_counter() - began < 3.0  # generous: a shared CI core; quadratic scanning takes far longer
    check_mentions(text, found)


# --- issue 22: forms seen in real model outputs ------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("near the two-minute mark", [(120, 120, "the two-minute mark")]),
    ("around the thirty-second mark", [(30, 30, "the thirty-second mark")]),
    ("by the eighty-second mark", [(80, 80, "the eighty-second mark")]),
    ("at the seventy-second mark", [(70, 70, "the seventy-second mark")]),
    ("from the start of the clip until 00:15", [(0, 15, "from the start of the clip until 00:15")]),
    ("Von 00:02 bis 00:12", [(2, 12, "00:02 bis 00:12")]),
    ("de 00:02 a 00:12", [(2, 12, "00:02 a 00:12")]),
    ("00:02到00:12", [(2, 12, "00:02到00:12")]),
])
def test_forms_from_real_outputs(text, expected):
    assert spans(text) == expected


@pytest.mark.parametrize("text", [
    "labeled as 2H", "bacterial 70S ribosomes", "0.028S = 388,000", "G. 12, 1.5, 2.5\nH. 2.5",
    "the whole clip lasts 02:30", "the video is 01:00 long", "5 seconds after the door opens",
])
def test_not_times_in_real_outputs(text):
    assert spans(text) == []
