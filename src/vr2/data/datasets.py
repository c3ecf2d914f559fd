"""Training data: turning a dataset file into `Sample`s, with every bad row reported.

Two file layouts are read (the format is told apart row by row, so one file may mix them):

1. The released Video-R2 dataset: a JSON array of rows
   `{"video": "<path under the video folder>", "conversations": [{"from": "human", "value":
   "<video>\\nquestion ... options ..."}, {"from": "assistant", "value": "<think>..</think>
   <answer>..</answer>"}]}`; GRPO rows add `temporal_grounding` (a dict or a JSON string of
   one). The question and its options are split out of the human turn (option lines "A. ...",
   "(B) ...", "C) ...", "D: ..."); the assistant turn is kept whole as the SFT target
   (`reasoning`, and `extra["response"]`) and its `<answer>` is the gold answer.
2. Plain rows with explicit fields, one JSON object per line (JSONL) or in a JSON array:
   `id`, `video`, `question`, `options`, `answer`, `answer_type`, `reasoning`,
   `temporal_grounding`, optional `start`/`end` (seconds) and `subtitles`.

Bad-row rule: a row is skipped, and reported as (row number, reason), when it is not a JSON
object; has no video, or a video path that leaves the video folder (absolute elsewhere, `..`);
names a video file that does not exist (only with `check_videos=True`), or one whose header
cannot be read as a video (corrupt, not a video; only with `probe_videos=True`, as training loads); has no question; has no
gold answer (neither `answer` nor an `<answer>` in the assistant turn); has a multiple-choice
answer that names none of its options, or a numeric/regression answer that is not a number; has
an unknown `answer_type`; or has `temporal_grounding` that is neither a dict nor a JSON object
string. Nothing is ever filled in with a default in place of bad data. Row numbers count from 1:
the position in the JSON array, or the line number in a JSONL file.

The answer type is taken from the row when given; otherwise it is inferred only from
unambiguous evidence (`vr2.scoring.answers.infer_answer_type`): options present -> multiple choice, a
gold answer that is purely a number -> numeric, anything else -> free form.

Subtitles: with a subtitle folder, a row's SRT is `<subs>/<video path>.srt` (the release's
rule: the video's relative path with its suffix replaced) or else `<subs>/<video stem>.srt`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from vr2.errors import Vr2Error
from vr2.files import (
    MAX_DATA_FILE_BYTES,
    MAX_FILE_BYTES,
    check_regular_file,
    iter_lines,
    loads_json,
    read_text,
)
from vr2.samples import ANSWER_TYPES, Sample
from vr2.scoring.answers import (
    infer_answer_type,
    normalize_options,
    normalize_text,
    parse_number,
)
from vr2.scoring.claims import read_reference
from vr2.scoring.format import parse_completion
from vr2.video.sampling import probe_video

# Fields of the plain layout; anything else in a row is kept in `Sample.extra`.
PLAIN_FIELDS = ("id", "video", "question", "options", "answer", "answer_type", "reasoning",
                "temporal_grounding", "start", "end", "subtitles", "benchmark", "extra")
RELEASE_FIELDS = ("id", "video", "conversations", "temporal_grounding", "answer", "answer_type")


class Skipped(NamedTuple):
    """A row that was not loaded: its number (from 1) and why."""

    row: int
    reason: str


class BadRow(Exception):
    """Raised while converting one row; the loader records it as `Skipped` and goes on."""


@dataclass
class LoadResult:
    """The samples read from a file and the rows skipped (row number, reason).

    Iterating, `len()` and indexing go over the samples, so a LoadResult can be used where a
    list of samples is expected; `skipped` must still be shown to the user.
    """

    samples: list[Sample] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    source: str = ""
    # Loaded rows with reference keys that are not times: dropped by the bad-key rule
    # (`vr2.scoring.claims.read_reference`), reported here at load time, never raised mid-training.
    bad_ref_keys: list[Skipped] = field(default_factory=list)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        return self.samples[index]


# ---------------------------------------------------------------------------------------------
# Video paths


def resolve_video(video_dir: str | Path, path: Any) -> Path:
    """`video_dir / path` made absolute and normalised; raises BadRow when it leaves video_dir.

    The check is lexical (`..` and absolute paths are resolved as text), so a video folder
    whose files are symlinks into a cache (as `huggingface-cli download` makes) still works.
    """
    if not isinstance(path, str) or not path.strip():
        raise BadRow("no video path")
    root = os.path.normpath(os.path.abspath(os.fspath(video_dir)))
    full = os.path.normpath(os.path.join(root, path.strip()))
    if os.path.commonpath([root, full]) != root:
        raise BadRow(f"video path {path!r} leaves the video folder {root}")
    if full == root:
        raise BadRow(f"video path {path!r} is the video folder itself, not a file")
    return Path(full)


def pick_video(video_dir: str | Path, candidates: Sequence[str]) -> Path:
    """The first candidate path (under video_dir) that exists, else the first candidate.

    Benchmarks are unpacked in more than one layout; trying the known ones keeps the user from
    having to rearrange folders. A missing file is reported when the video is opened.
    """
    resolved = [resolve_video(video_dir, c) for c in candidates]
    for path in resolved:
        if _is_file(path):
            return path
    return resolved[0]


def subtitle_for(subtitles_dir: str | Path | None, video: str) -> str | None:
    """The SRT of a video under `subtitles_dir` (see the module docstring), or None."""
    if not subtitles_dir:
        return None
    root = Path(subtitles_dir)
    relative = Path(video.strip().lstrip("/"))
    if not relative.name:
        return None
    for candidate in (root / relative.with_suffix(".srt"), root / f"{relative.stem}.srt"):
        if ".." not in candidate.parts and _is_file(candidate):
            return str(candidate)
    return None


def _is_file(path: Path) -> bool:
    """Whether `path` is a file; False (not an exception) for a name the system refuses, such
    as one over 255 bytes, so a hostile row costs only itself."""
    try:
        return path.is_file()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# Question and options

# An option line: "A. text", "A) text", "A: text" or "(A) text"; capital letters only, so a
# sentence starting "a." is not taken for an option.
_OPTION_LINE = re.compile(r"[ \t]*(?:\(([A-Z])\)|([A-Z])[.):])[ \t]+(\S.*)")
_OPTIONS_HEADERS = {"options", "choices", "candidates"}
_MEDIA_TOKEN = re.compile(r"<(?:video|image)>", re.I)


def split_question_options(text: Any) -> tuple[str, list[str], str]:
    """Split a prompt into (question, option texts, text after the options). Never raises.

    Options are the last run of consecutive lines lettered A, B, C, ... (at least two); blank
    lines inside the run are allowed. An "Options:" header just before the run is dropped.
    Without such a run the whole text is the question and there are no options. `<video>` and
    `<image>` placeholders are removed.
    """
    if not isinstance(text, str):
        return "", [], ""
    lines = _MEDIA_TOKEN.sub("", text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    run = _last_option_run(lines)
    if run is None:
        return "\n".join(lines).strip(), [], ""
    first, last, options = run
    before = lines[:first]
    while before and not before[-1].strip():
        before.pop()
    if before and before[-1].strip().rstrip(":").rstrip().lower() in _OPTIONS_HEADERS:
        before.pop()
    question = "\n".join(before).strip()
    after = "\n".join(lines[last + 1:]).strip()
    return question, options, after


def _option_line(line: str) -> tuple[str, str] | None:
    match = _OPTION_LINE.fullmatch(line)
    if not match:
        return None
    return match.group(1) or match.group(2), match.group(3).strip()


def _last_option_run(lines: list[str]) -> tuple[int, int, list[str]] | None:
    """(first line, last line, texts) of the last A, B, C, ... run of two or more options."""
    best = None
    index = 0
    while index < len(lines):
        parsed = _option_line(lines[index])
        if parsed is None or parsed[0] != "A":
            index += 1
            continue
        first, last, texts = index, index, [parsed[1]]
        probe = index + 1
        while probe < len(lines):
            if not lines[probe].strip():
                probe += 1
                continue
            parsed = _option_line(lines[probe])
            if parsed is None or parsed[0] != chr(ord("A") + len(texts)):
                break
            texts.append(parsed[1])
            last = probe
            probe += 1
        if len(texts) >= 2:
            best = (first, last, texts)
        index = last + 1
    return best


# ---------------------------------------------------------------------------------------------
# Field checks shared with the benchmark loaders


def gold_letter(answer: Any, options: Sequence[str]) -> str:
    """The option letter a gold answer names; raises BadRow when it names none.

    Accepts "B", "(B)", "B.", "b", "B. <option B's text>" and option B's exact text (compared
    after `vr2.scoring.answers.normalize_text`). Stricter than reading a model's answer: a gold answer
    must say exactly one thing.
    """
    if not isinstance(answer, str) or not answer.strip():
        raise BadRow("no gold answer")
    text = answer.strip()
    n = len(options)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[:n]
    alone = re.fullmatch(r"\(?([A-Za-z])\)?[.):]?", text)
    if alone:
        letter = alone.group(1).upper()
        if letter in letters:
            return letter
        raise BadRow(f"gold answer {answer!r} is not one of the {n} options")
    labelled = re.fullmatch(r"\(?([A-Z])[.):]\)?\s+(.+)", text, re.S)
    if labelled and labelled.group(1) in letters:
        letter = labelled.group(1)
        if normalize_text(labelled.group(2)) == normalize_text(options[letters.index(letter)]):
            return letter
        raise BadRow(f"gold answer {answer!r} does not match option {letter} "
                     f"{options[letters.index(letter)]!r}")
    normalized = [normalize_text(o) for o in options]
    target = normalize_text(text)
    if target and normalized.count(target) == 1:
        return letters[normalized.index(target)]
    raise BadRow(f"gold answer {answer!r} names none of the {n} options")


def check_options(options: Any) -> list[str]:
    """Plain option texts (letter prefixes stripped); raises BadRow for an unusable value."""
    try:
        texts = normalize_options(options)
    except Vr2Error as error:
        raise BadRow(str(error).removeprefix("options: ")) from None
    if len(texts) > 26:
        raise BadRow(f"{len(texts)} options; at most 26 (A-Z) are supported")
    if any(not t for t in texts):
        raise BadRow("an option is empty")
    return texts


def finish_answer(answer: Any, answer_type: Any, options: list[str]) -> tuple[str, str]:
    """(gold answer, answer type) after checking them against each other; raises BadRow.

    A multiple-choice gold answer becomes its option letter.
    """
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise BadRow("no gold answer")
    answer = answer.strip()
    if answer_type is None or answer_type == "":
        answer_type = infer_answer_type(answer, options)
    if answer_type not in ANSWER_TYPES:
        raise BadRow(f"unknown answer_type {answer_type!r} (expected one of {', '.join(ANSWER_TYPES)})")
    if answer_type == "multiple_choice":
        if not options:
            raise BadRow("answer_type is multiple_choice but the row has no options")
        return gold_letter(answer, options), answer_type
    if answer_type in ("numeric", "regression") and parse_number(answer) is None:
        raise BadRow(f"answer_type is {answer_type} but the gold answer {answer!r} is not a number")
    return answer, answer_type


def check_grounding(value: Any) -> dict[str, Any] | None:
    """Temporal grounding as a dict {timestamp: sentence}; a JSON string is decoded.

    Sentences stay as written: one that is not a non-empty string (null, a number) is dropped and
    counted by the bad-key rule (`vr2.scoring.claims.read_reference`), never turned into text ("None").
    """
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, str):
        try:  # bad syntax, deep nesting or a huge integer costs this row only
            value = loads_json(value, "temporal_grounding")
        except Vr2Error as error:
            reason = str(error).removeprefix("temporal_grounding: ")
            raise BadRow(f"temporal_grounding is a string but not JSON: {reason}") from None
    if not isinstance(value, dict):
        raise BadRow(f"temporal_grounding must be a dict, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()} or None


def check_seconds(row: dict, key: str) -> float | None:
    value = row.get(key)
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise BadRow(f"{key} is not a number of seconds: {value!r}") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise BadRow(f"{key} must be a finite time >= 0, got {value!r}")
    return seconds


def check_window(start: float | None, end: float | None) -> None:
    if start is not None and end is not None and end <= start:
        raise BadRow(f"end ({end}) is not after start ({start})")


# ---------------------------------------------------------------------------------------------
# Reading files


def read_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """(row number, row) of a JSON array or JSONL file; raises Vr2Error for a bad file.

    A JSONL line that cannot be read (not JSON, nested too deeply, an integer of over 4,300
    digits, longer than the line cap) comes back as a `Skipped` in place of the row, so one
    broken line does not lose the file. The file is JSONL only when its first non-empty line is
    a JSON value; otherwise it must be a JSON array. JSONL is streamed line by line; an array is
    read whole (by its size, never by the cap) and parsed at once.
    """
    path = check_regular_file(path, "data file")
    first = _first_byte(path)
    if first is None:
        raise Vr2Error(f"{path}: empty file")
    if first == b"[":
        yield from _json_array_rows(path)
    else:
        yield from _jsonl_rows(path)


def _first_byte(path: Path) -> bytes | None:
    """The file's first byte that is not whitespace or a UTF-8 byte-order mark, or None. Read
    in small pieces: a JSON array may be one line of gigabytes."""
    try:
        with path.open("rb") as handle:
            start = True
            while piece := handle.read(64 * 1024):
                text = piece.removeprefix(b"\xef\xbb\xbf") if start else piece
                start = False
                text = text.lstrip()
                if text:
                    return text[:1]
    except OSError as error:
        raise Vr2Error(f"{path}: cannot read data file ({error.strerror or error})") from None
    return None


def _json_array_rows(path: Path) -> Iterator[tuple[int, Any]]:
    data = loads_json(read_text(path, "data file", max_bytes=MAX_DATA_FILE_BYTES), str(path))
    if not isinstance(data, list):
        raise Vr2Error(f"{path}: expected a JSON array of rows or JSONL")
    yield from enumerate(data, start=1)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    seen_good = False
    for number, raw in iter_lines(path, "data file"):
        try:
            row = _jsonl_row(raw, f"{path}:{number}", number == 1)
        except Vr2Error as error:
            reason = str(error).removeprefix(f"{path}:{number}: ")
            if not seen_good:
                raise Vr2Error(f"{path}: neither a JSON array nor JSONL (line {number}: {reason})") from None
            yield number, Skipped(number, reason)
            continue
        if row is _BLANK:
            continue
        if not seen_good and not isinstance(row, dict):
            raise Vr2Error(f"{path}: expected a JSON array of rows or JSONL (one object a line)")
        seen_good = True
        yield number, row


_BLANK = object()


def _jsonl_row(raw: bytes | None, where: str, first: bool) -> Any:
    """One JSONL line parsed (`_BLANK` for an empty one); any failure is a Vr2Error."""
    if raw is None:
        raise Vr2Error(f"{where}: line longer than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        raise Vr2Error(f"{where}: not UTF-8 text") from None
    return loads_json(text, where) if text.strip() else _BLANK


# ---------------------------------------------------------------------------------------------
# Rows to samples


@dataclass(frozen=True)
class RowContext:
    """Where a row's paths point: the video folder, optional subtitles, and the checks to run."""

    video_dir: Path
    subtitles_dir: Path | None = None
    check_videos: bool = True
    benchmark: str | None = None
    probe_videos: bool = False


def _video_path(row: dict, ctx: RowContext) -> tuple[str, Path]:
    video = row.get("video")
    if isinstance(video, list):
        if len(video) != 1:
            raise BadRow(f"{len(video)} videos in one row; vr2 takes one video per sample")
        video = video[0]
    if not isinstance(video, str) or not video.strip():
        raise BadRow("no video")
    path = resolve_video(ctx.video_dir, video)
    if ctx.check_videos:
        _check_video_file(path)
    if ctx.probe_videos:
        problem = video_problem(path)
        if problem:
            raise BadRow(problem)
    return video, path


def _check_video_file(path: Path) -> None:
    """Raise BadRow unless `path` is a file; a name the system refuses (a part over 255 bytes,
    a path over 4,096) is that row's reason, not a crash."""
    try:
        if path.is_file():
            return
    except OSError as error:
        raise BadRow(f"video path cannot be used ({error.strerror or error}): {str(path)[:120]}...") from None
    raise BadRow(f"video file not found: {path}")


def video_problem(path: Path) -> str | None:
    """Why a video cannot be read (its header, opened as training will), or None when it can.

    Found here, a corrupt file or a non-video costs one skipped row at load time instead of a
    crash hours into training (and on every resume after it).
    """
    try:
        stat = path.stat()
    except OSError as error:
        return f"video cannot be read: {error.strerror or error}"
    return _probe(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=65536)
def _probe(path: str, mtime_ns: int, size: int) -> str | None:
    """Cached per file version: a video shared by many rows is opened once."""
    try:
        probe_video(path)
    except Vr2Error as error:
        return f"video cannot be read ({str(error).removeprefix(path + ': ')})"
    return None


def _row_id(row: dict, number: int) -> str:
    value = row.get("id")
    if value is None or (isinstance(value, str) and not value.strip()):
        return str(number)
    return str(value)


def sample_from_release_row(row: dict, number: int, ctx: RowContext) -> Sample:
    """A Sample from a released Video-R2 row (`video` + `conversations`); raises BadRow."""
    video, path = _video_path(row, ctx)
    human, reply = _turns(row.get("conversations"))
    question, options, after = split_question_options(human)
    if not question:
        raise BadRow("the human turn has no question")
    answer = row.get("answer")
    if answer is None and reply is not None:
        answer = parse_completion(reply).answer
    if answer is None:
        raise BadRow("no gold answer: the assistant turn has no <answer>...</answer>")
    answer, answer_type = finish_answer(answer, row.get("answer_type"), options)
    start, end = check_seconds(row, "start"), check_seconds(row, "end")
    check_window(start, end)
    extra = {k: v for k, v in row.items() if k not in RELEASE_FIELDS}
    extra["prompt"] = human
    if after:
        extra["text_after_options"] = after
    if reply is not None:
        extra["response"] = reply  # verbatim: the release's SFT learns it whitespace and all
    return Sample(
        id=_row_id(row, number), video=str(path), question=question, options=options,
        answer=answer, answer_type=answer_type,
        reasoning=reply.strip() if reply is not None else None,
        temporal_grounding=check_grounding(row.get("temporal_grounding")),
        start=start, end=end, subtitles=subtitle_for(ctx.subtitles_dir, video),
        benchmark=ctx.benchmark, extra=extra,
    )


def _turns(conversations: Any) -> tuple[str, str | None]:
    """(human text, assistant text or None) of a conversation list; raises BadRow."""
    if not isinstance(conversations, list) or not conversations:
        raise BadRow("conversations must be a non-empty list of turns")
    human = reply = None
    for turn in conversations:
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise BadRow("a conversation turn is not {from, value}")
        speaker = str(turn.get("from", "")).lower()
        if speaker in ("human", "user") and human is None:
            human = turn["value"]
        elif speaker in ("assistant", "gpt") and reply is None:
            reply = turn["value"]
    if human is None:
        raise BadRow("conversations have no human turn")
    return human, reply


def sample_from_fields(row: dict, number: int, ctx: RowContext) -> Sample:
    """A Sample from a row in vr2's own schema (explicit fields); raises BadRow."""
    _, path = _video_path(row, ctx)
    question = row.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadRow("no question")
    answer_type = row.get("answer_type")
    if "options" in row and row["options"] not in (None, [], {}):
        options = check_options(row["options"])
    elif answer_type in (None, "", "multiple_choice"):
        # Options written into the question text count as options (unambiguous lettered lines).
        question, options, _ = split_question_options(question)
    else:
        options = []
    answer, answer_type = finish_answer(row.get("answer"), answer_type, options)
    start, end = check_seconds(row, "start"), check_seconds(row, "end")
    check_window(start, end)
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    extra = {**extra, **{k: v for k, v in row.items() if k not in PLAIN_FIELDS}}
    reasoning = row.get("reasoning")
    return Sample(
        id=_row_id(row, number), video=str(path), question=question.strip(), options=options,
        answer=answer, answer_type=answer_type,
        reasoning=reasoning.strip() if isinstance(reasoning, str) and reasoning.strip() else None,
        temporal_grounding=check_grounding(row.get("temporal_grounding")),
        start=start, end=end, subtitles=_row_subtitles(row, ctx),
        benchmark=row.get("benchmark") if isinstance(row.get("benchmark"), str) else ctx.benchmark,
        extra=extra,
    )


def _row_subtitles(row: dict, ctx: RowContext) -> str | None:
    """A row's own `subtitles` path (relative to the subtitle folder, else the video folder)."""
    value = row.get("subtitles")
    if isinstance(value, str) and value.strip():
        root = ctx.subtitles_dir or ctx.video_dir
        try:
            return str(resolve_video(root, value))
        except BadRow:
            raise BadRow(f"subtitles path {value!r} leaves its folder {root}") from None
    video = row.get("video")
    return subtitle_for(ctx.subtitles_dir, video) if isinstance(video, str) else None


def convert_rows(rows: Iterable[tuple[int, Any]], ctx: RowContext) -> LoadResult:
    """Samples from numbered rows, each by its own layout; bad rows become `Skipped`."""
    result = LoadResult()
    for number, item in iter_samples(rows, ctx):
        if isinstance(item, Skipped):
            result.skipped.append(item)
            continue
        result.samples.append(item)
        result.bad_ref_keys += _bad_ref_keys(number, item.temporal_grounding)
    return result


def iter_samples(rows: Iterable[tuple[int, Any]], ctx: RowContext) -> Iterator[tuple[int, Sample | Skipped]]:
    """`convert_rows` one row at a time, in row order: memory stays at one row however long the
    file (curate ingests sources of hundreds of thousands of rows this way)."""
    for number, row in rows:
        if isinstance(row, Skipped):
            yield number, row
        elif not isinstance(row, dict):
            yield number, Skipped(number, f"not a JSON object ({type(row).__name__})")
        else:
            convert = sample_from_release_row if "conversations" in row else sample_from_fields
            try:
                yield number, convert(row, number, ctx)
            except BadRow as error:
                yield number, Skipped(number, str(error))


def _bad_ref_keys(number: int, grounding: dict | None) -> list[Skipped]:
    if not grounding:
        return []
    return [Skipped(number, f"temporal_grounding {bad.reason}: entry dropped")
            for bad in read_reference(grounding)[1]]


def load_dataset_file(path: str | Path, video_dir: str | Path, *,
                      subtitles_dir: str | Path | None = None,
                      check_videos: bool = True, probe_videos: bool = False) -> LoadResult:
    """Read a training file (released Video-R2 JSON array, or JSONL/array of plain rows).

    Video paths are resolved under `video_dir`; see the module docstring for which rows are
    skipped. Raises Vr2Error naming the file when it is missing or is not a JSON array/JSONL,
    or when the video folder does not exist.
    """
    path = Path(path)
    if not video_dir:
        raise Vr2Error(f"{path}: no video folder given (data.video_dir)")
    video_dir = Path(video_dir)
    if not video_dir.is_dir():
        raise Vr2Error(f"{video_dir}: video folder not found")
    if subtitles_dir and not Path(subtitles_dir).is_dir():
        raise Vr2Error(f"{subtitles_dir}: subtitle folder not found")
    ctx = RowContext(video_dir, Path(subtitles_dir) if subtitles_dir else None, check_videos,
                     probe_videos=probe_videos)
    result = convert_rows(read_rows(path), ctx)
    result.source = str(path)
    return result
