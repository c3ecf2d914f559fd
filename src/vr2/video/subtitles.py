"""SRT subtitles: the cues a video's frames are captioned with.

Video-R2 draws the subtitle active at each sampled frame onto the frame (bottom-centre), so the
model reads speech the way it reads the clock. Real-world SRT files are messy (byte-order marks,
Windows line ends, missing blank lines, `.` instead of `,` before the milliseconds, `<i>` tags),
so `parse_srt` is tolerant and never raises: what it cannot read it skips.

A file whose timing lines are all standard SubRip (`HH:MM:SS,mmm --> HH:MM:SS,mmm`) is read by the
`srt` package. vr2's own reader takes the files `srt` misreads or refuses, all seen in the wild:
timestamps without hours (`01:05,000`, which `srt` reads as an hour), fractions shorter than three
digits (`00:00:02.5`, which `srt` reads as 2.005 s), and stray lines that are not cue numbers
(`srt` refuses the whole file, or swallows the next cue into the text). Byte-order marks and
Windows or old Mac line ends are removed before either reader sees the text.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

import srt

from vr2.files import read_bytes


@dataclass(frozen=True)
class Cue:
    """One subtitle: `text` is shown from `start` (inclusive) to `end` (exclusive), in seconds."""

    start: float
    end: float
    text: str


# `[HH:]MM:SS[,.]fraction`; hours optional and fraction optional, as seen in hand-made files.
_TIME = r"(?:(\d{1,3})\s*:\s*)?(\d{1,2})\s*:\s*(\d{1,2})(?:\s*[,.:]\s*(\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-+>\s*{_TIME}")
_INDEX = re.compile(r"^\s*\d+\s*$")
_STAMP = r"\d{1,3}:\d{2}:\d{2}[,.]\d{3}"
_STANDARD_TIMING = re.compile(rf"^\s*{_STAMP}\s*-->\s*{_STAMP}")
# HTML-like tags (<i>, </font>, <b>) and ASS override blocks ({\an8}) carry styling, not text.
_TAG = re.compile(r"<[^<>]*>|\{\\[^{}]*\}")


def _seconds(hours: str | None, minutes: str, secs: str, fraction: str | None) -> float:
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(secs)
    if fraction:
        # "1,5" and "1.500" both mean one and a half seconds: the digits are a decimal fraction.
        value += int(fraction) / 10 ** len(fraction)
    return float(value)


def _clean(lines: list[str]) -> str:
    out = []
    for line in lines:
        line = html.unescape(_TAG.sub("", line)).strip()
        if line:
            out.append(line)
    return "\n".join(out)


def parse_srt(text: str) -> list[Cue]:
    """Parse SRT text into cues sorted by start time; never raises.

    Each cue's text ends at the first blank line; tags and entities are removed; cues with no
    text, or ending before they start, are dropped. Standard files go through `srt`; the others
    through `parse_srt_tolerant` (see the module docstring for which and why).
    """
    if not isinstance(text, str):
        return []
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues = _parse_standard(text)
    if cues is None:
        cues = parse_srt_tolerant(text)
    cues.sort(key=lambda cue: (cue.start, cue.end))
    return cues


def _parse_standard(text: str) -> list[Cue] | None:
    """The cues `srt` reads from a file whose every timing line is standard; None otherwise."""
    for line in text.split("\n"):
        if _TIMING.match(line) and not _STANDARD_TIMING.match(line):
            return None  # a shape `srt` would misread without complaint
    try:
        subtitles = list(srt.parse(text))
    except (srt.SRTParseError, ValueError, OverflowError):
        return None
    cues = []
    for subtitle in subtitles:
        # `srt` keeps text after a blank line inside the cue; in vr2 a blank line ends it.
        cue_text = _clean(subtitle.content.split("\n\n")[0].split("\n"))
        start, end = subtitle.start.total_seconds(), subtitle.end.total_seconds()
        if cue_text and end >= start:
            cues.append(Cue(start, end, cue_text))
    return cues


def parse_srt_tolerant(text: str) -> list[Cue]:
    """vr2's own reader for SRT-like text that `srt` cannot read; never raises.

    A cue starts at each `start --> end` line; its text is the following lines up to a blank line
    or the next timing line (a lone number right before a timing line is the next cue's index,
    not text); lines outside any cue are ignored.
    """
    lines = text.split("\n")
    cues: list[Cue] = []
    current: tuple[float, float] | None = None
    body: list[str] = []

    def close() -> None:
        if current is None:
            return
        # Without blank lines, the next cue's index ends up at the end of this body.
        while body and _INDEX.match(body[-1]):
            body.pop()
        cue_text = _clean(body)
        start, end = current
        if cue_text and end >= start:
            cues.append(Cue(start, end, cue_text))

    for line in lines:
        match = _TIMING.match(line)
        if match:
            close()
            groups = match.groups()
            current = (_seconds(*groups[:4]), _seconds(*groups[4:]))
            body = []
        elif current is not None:
            if line.strip():
                body.append(line)
            else:
                close()
                current, body = None, []
    close()
    return cues


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Old subtitle files are often Windows-1252; latin-1 cannot fail.
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            return data.decode("latin-1")


def load_srt(path: str | Path) -> list[Cue]:
    """Read and parse an SRT file; a file that cannot be read raises Vr2Error naming it."""
    return parse_srt(_decode(read_bytes(path, "subtitle file")))


def cue_at(cues: list[Cue], t: float) -> Cue | None:
    """The cue shown at time `t` (start <= t < end), or None.

    `cues` must be sorted by start (as `parse_srt` returns them). When cues overlap, the one that
    started last wins, like a player drawing newer text on top.
    """
    starts = [cue.start for cue in cues]
    position = bisect_right(starts, t)
    for cue in reversed(cues[:position]):
        if cue.start <= t < cue.end:
            return cue
    return None
