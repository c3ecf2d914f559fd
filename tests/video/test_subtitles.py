"""SRT parsing: tolerant of real-world files, never raising, and cue lookup by time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.errors import Vr2Error
from vr2.video.subtitles import Cue, cue_at, load_srt, parse_srt

BASIC = """1
00:00:01,000 --> 00:00:03,500
Hello there.

2
00:00:05,250 --> 00:00:07,000
Second line one
second line two
"""


def test_parse_basic():
    assert parse_srt(BASIC) == [
        Cue(1.0, 3.5, "Hello there."),
        Cue(5.25, 7.0, "Second line one\nsecond line two"),
    ]


def test_bom_crlf_and_dot_millis():
    text = "\ufeff1\r\n00:00:01.000 --> 00:00:02.5\r\nA\r\n\r\n2\r\n01:02:03,004 --> 01:02:04,000\r\nB\r\n"
    assert parse_srt(text) == [Cue(1.0, 2.5, "A"), Cue(3723.004, 3724.0, "B")]


def test_missing_blank_lines_and_indices():
    text = "1\n00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:03,000 --> 00:00:04,000\nsecond\n"
    assert parse_srt(text) == [Cue(1.0, 2.0, "first"), Cue(3.0, 4.0, "second")]


def test_tags_entities_and_position_suffix():
    text = "00:00:01,000 --> 00:00:02,000 X1:10 X2:20\n<i>Tom &amp; <font color='red'>Jerry</font></i>\n{\\an8}top\n"
    assert parse_srt(text) == [Cue(1.0, 2.0, "Tom & Jerry\ntop")]


def test_hours_optional_and_sorted_output():
    text = "00:10,000 --> 00:11,000\nlater\n\n00:01,000 --> 00:02,000\nearlier\n"
    assert [cue.text for cue in parse_srt(text)] == ["earlier", "later"]


def test_bad_cues_dropped():
    text = "00:00:05,000 --> 00:00:04,000\nbackwards\n\n00:00:06,000 --> 00:00:07,000\n\n\ngarbage\n"
    assert parse_srt(text) == []


def test_cue_at_boundaries_and_overlap():
    cues = parse_srt(BASIC)
    assert cue_at(cues, 0.99) is None
    assert cue_at(cues, 1.0).text == "Hello there."
    assert cue_at(cues, 3.499).text == "Hello there."
    assert cue_at(cues, 3.5) is None  # end is exclusive
    assert cue_at(cues, 6.0).start == 5.25
    overlapping = [Cue(0.0, 10.0, "long"), Cue(2.0, 3.0, "short")]
    assert cue_at(overlapping, 2.5).text == "short"
    assert cue_at(overlapping, 5.0).text == "long"
    assert cue_at([], 1.0) is None


def test_load_srt_encodings(tmp_path):
    path = tmp_path / "a.srt"
    path.write_bytes("00:00:01,000 --> 00:00:02,000\ncafé\n".encode("cp1252"))
    assert load_srt(path)[0].text == "café"
    path.write_bytes("00:00:01,000 --> 00:00:02,000\nnaïve\n".encode("utf-16"))
    assert load_srt(path)[0].text == "naïve"


def test_load_srt_errors_name_the_file(tmp_path):
    with pytest.raises(Vr2Error, match="missing.srt"):
        load_srt(tmp_path / "missing.srt")
    with pytest.raises(Vr2Error, match=str(tmp_path)):
        load_srt(tmp_path)


@given(st.text())
@settings(max_examples=300)
def test_parse_srt_never_raises(text):
    cues = parse_srt(text)
    assert all(cue.end >= cue.start and cue.text for cue in cues)
    assert cues == sorted(cues, key=lambda cue: (cue.start, cue.end))


@given(st.text(alphabet="0123456789:,.->\n\r <>/i\ufeff \t", max_size=200))
@settings(max_examples=300)
def test_parse_srt_never_raises_on_srt_like_noise(text):
    parse_srt(text)


def _stamp(ms: int, sep: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{sep}{millis:03d}"


_words = st.text(alphabet="abcdefghij XYZ,!?'", min_size=1, max_size=30).filter(lambda s: s.strip())


@given(
    st.lists(st.tuples(st.integers(0, 10_000_000), st.integers(0, 100_000), _words), max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([",", "."]),
    st.booleans(),
    st.booleans(),
)
@settings(max_examples=200)
def test_round_trip(items, newline, sep, blank_lines, bom):
    blocks = []
    for number, (start, length, text) in enumerate(items, 1):
        timing = f"{_stamp(start, sep)} --> {_stamp(start + length, sep)}"
        blocks.append(newline.join([str(number), timing, text]))
    joiner = newline * 2 if blank_lines else newline
    srt = ("\ufeff" if bom else "") + joiner.join(blocks) + newline
    expected = sorted(
        (Cue(start / 1000, (start + length) / 1000, text.strip()) for start, length, text in items),
        key=lambda cue: (cue.start, cue.end),
    )
    parsed = parse_srt(srt)
    flat = [t for c in parsed for t in (c.start, c.end)]
    assert flat == pytest.approx([t for c in expected for t in (c.start, c.end)])
    assert sorted(c.text for c in parsed) == sorted(c.text for c in expected)


# --------------------------------------------------------------------------- srt package and ours

import srt  # noqa: E402

from vr2.video.subtitles import parse_srt_tolerant  # noqa: E402


def _srt_reads(text: str):
    return [(s.start.total_seconds(), s.end.total_seconds(), s.content) for s in srt.parse(text)]


def test_standard_files_are_read_by_the_srt_package():
    assert [(c.start, c.end, c.text) for c in parse_srt(BASIC)] == _srt_reads(BASIC)


def test_files_srt_misreads_are_read_by_ours():
    # Real files these come from: hand-made subtitles (no hours), tools that write "2.5" for
    # 2.5 s, and files with a stray line where a cue number should be.
    no_hours = "00:10,000 --> 00:11,000\nlater\n"
    assert _srt_reads(no_hours)[0][:2] == (600.0, 660.0)  # srt: ten minutes
    assert parse_srt(no_hours) == [Cue(10.0, 11.0, "later")]
    short_fraction = "1\n00:00:01,000 --> 00:00:02.5\nA\n"
    assert _srt_reads(short_fraction)[0][1] == 2.005  # srt: five milliseconds
    assert parse_srt(short_fraction) == [Cue(1.0, 2.5, "A")]
    stray = "x\n00:00:01,000 --> 00:00:02,000\nfirst\n\n7a\n00:00:03,000 --> 00:00:04,000\nsecond\n"
    with pytest.raises(srt.SRTParseError):
        _srt_reads(stray)
    assert parse_srt(stray) == [Cue(1.0, 2.0, "first"), Cue(3.0, 4.0, "second")]
    assert parse_srt_tolerant(stray) == parse_srt(stray)


def test_blank_line_ends_a_cue_in_both_readers():
    text = "1\n00:00:06,000 --> 00:00:07,000\n\n\ngarbage\n"
    assert _srt_reads(text)[0][2] == "\n\ngarbage"  # srt keeps it as text
    assert parse_srt(text) == [] == parse_srt_tolerant(text)
