"""The evaluation benchmarks: the 11 of the paper, where their data comes from, how it is read.

A `Benchmark` names its Hugging Face dataset and split, how it is scored, how its videos are laid
out, the paper's Video-R2 accuracy on it, and a loader. Each loader reads the files exactly as
`huggingface-cli download <hf_dataset> --repo-type dataset --local-dir <folder>` leaves them
(parquet, JSON or JSONL, in that source's own columns) and turns every row into a `Sample`:
options as plain texts (letter prefixes stripped), the gold answer as an option letter for
multiple choice, the number for numeric/regression questions, the text otherwise. A loader
yields `Sample`s and `Skipped(row, reason)` for rows it cannot use; `load_benchmark` collects both
into a `LoadResult`, so a bad row is reported, never quietly replaced.

Where a benchmark is published in more than one layout (the official one and the copy the
Video-R2 evaluation used, or an unzipped folder inside `video/` or at the top), the loader
tries each known place for a video and takes the first that exists. Video paths never leave the
video folder.

Users can add their own benchmark as JSONL in vr2's sample schema
(`jsonl_benchmark` + `register_benchmark`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Union

from vr2.data.datasets import (
    BadRow,
    LoadResult,
    RowContext,
    Skipped,
    check_options,
    check_seconds,
    check_window,
    finish_answer,
    gold_letter,
    pick_video,
    read_rows,
    resolve_video,
    sample_from_fields,
    split_question_options,
)
from vr2.data import hub
from vr2.errors import Vr2Error
from vr2.samples import ANSWER_TYPES, Sample

GROUPS = ("generic", "reasoning", "other")
Loader = Callable[[Path, Path], Iterable[Union[Sample, Skipped]]]


@dataclass(frozen=True)
class Benchmark:
    """One evaluation benchmark and how to read it (see the module docstring)."""

    name: str
    title: str
    group: str
    hf_dataset: str
    split: str
    answer_types: tuple[str, ...]
    scoring: str
    video_layout: str
    paper_accuracy: float | None
    loader: Loader
    data_files: str = ""
    lmms_tasks: tuple[str, ...] = ()
    # What lmms-eval logs as `target`: "answer" (the answer itself) or "option_index" (the
    # option's 0-based index, as a string: LongVideoBench's correct_choice).
    lmms_target: str = "answer"
    # The dataset revision the data needs (MVBench's videos, including episodic_reasoning's, are
    # on the `video` revision; the default one has frame folders).
    revision: str = "main"

    @property
    def download_args(self) -> str:
        """Extra `huggingface-cli download` arguments (the revision, when not the default)."""
        return f"--revision {self.revision}" if self.revision != "main" else ""

    def download_command(self, folder: str | Path) -> str:
        extra = f" {self.download_args}" if self.download_args else ""
        return f"huggingface-cli download {self.hf_dataset} --repo-type dataset{extra} --local-dir {folder}"

    def describe(self) -> dict[str, Any]:
        """The facts `vr2 eval --list` shows (and prints as JSON with --json)."""
        return {"name": self.name, "title": self.title, "group": self.group, "hf_dataset": self.hf_dataset,
                "split": self.split, "download_args": self.download_args,
                "download": self.download_command(f"data/benchmarks/{self.name}"),
                "answer_types": list(self.answer_types), "scoring": self.scoring,
                "paper_accuracy": self.paper_accuracy, "lmms_tasks": list(self.lmms_tasks)}

    @property
    def display(self) -> str:
        return self.title

    @property
    def category(self) -> str:
        return self.group

    @property
    def answer_type(self) -> str | None:
        """The answer type of questions without options, when the benchmark has just one."""
        if len(self.answer_types) == 1:
            return self.answer_types[0]
        others = [t for t in self.answer_types if t != "multiple_choice"]
        return others[0] if len(others) == 1 else None


BENCHMARKS: dict[str, Benchmark] = {}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def register_benchmark(benchmark: Benchmark, *, replace: bool = False) -> Benchmark:
    """Add a benchmark to `BENCHMARKS`; a name already taken needs `replace=True`."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", benchmark.name):
        raise Vr2Error(f"benchmark name {benchmark.name!r}: use lower-case letters, digits, '_', '-', '.'")
    if benchmark.group not in GROUPS:
        raise Vr2Error(f"benchmark {benchmark.name}: group must be one of {', '.join(GROUPS)}")
    unknown = [t for t in benchmark.answer_types if t not in ANSWER_TYPES]
    if unknown or not benchmark.answer_types:
        raise Vr2Error(f"benchmark {benchmark.name}: answer_types must be among {', '.join(ANSWER_TYPES)}")
    if benchmark.name in BENCHMARKS and not replace:
        raise Vr2Error(f"benchmark {benchmark.name}: already registered (pass replace=True)")
    BENCHMARKS[benchmark.name] = benchmark
    return benchmark


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called `name` (case, '-' and '_' ignored); Vr2Error lists the valid ones."""
    if isinstance(name, str):
        if name in BENCHMARKS:
            return BENCHMARKS[name]
        for key, spec in BENCHMARKS.items():
            if _squash(key) == _squash(name) and _squash(name):
                return spec
    raise Vr2Error(f"benchmark {name!r}: unknown (known: {', '.join(BENCHMARKS)})")


# ---------------------------------------------------------------------------------------------
# Loading


def benchmark_paths(benchmark: Benchmark, data_path: str | Path | None, video_dir: str | Path | None,
                    data_dir: str | Path | None = None) -> tuple[Path, Path]:
    """(data path, video folder) for a benchmark.

    Either `data_path` (the downloaded folder or one data file) with `video_dir` the folder its
    videos are under (default: the data folder), or `data_dir` holding one sub-folder per
    benchmark (`<data_dir>/<name>`), with `video_dir` then holding one per benchmark too.
    """
    if data_path is None:
        if data_dir is None:
            raise Vr2Error(f"{benchmark.name}: no data folder given (eval.data_dir or a data path)")
        data_path = Path(data_dir) / benchmark.name
        if video_dir:
            video_dir = Path(video_dir) / benchmark.name
    # absolute() rather than resolve(): a download folder of symlinks must keep its own paths.
    data_path = Path(data_path).absolute()
    if not data_path.exists():
        raise Vr2Error(f"{data_path}: {benchmark.title} data not found; download it with "
                       f"`{benchmark.download_command(data_path)}`")
    if not video_dir:
        video_dir = data_path if data_path.is_dir() else data_path.parent
    video_dir = Path(video_dir).absolute()
    if not video_dir.is_dir():
        raise Vr2Error(f"{video_dir}: video folder of {benchmark.title} not found")
    return data_path, video_dir


def download(benchmark: str | Benchmark, data_dir: str | Path, *, revision: str | None = None) -> Path:
    """Fetch a benchmark's dataset (its revision) into `data_dir`/<name>, as `huggingface-cli
    download` would lay it out, and unpack its archives beside themselves, where the loader
    looks for the videos (`vr2.data.hub`: resumable, one-line errors, nothing asked again once
    finished)."""
    spec = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
    if spec.hf_dataset.startswith("("):
        raise Vr2Error(f"benchmark {spec.name}: a local benchmark, nothing to download")
    folder = hub.fetch(spec.hf_dataset, Path(data_dir) / spec.name, revision=revision or spec.revision)
    hub.unpack_here(folder)
    return folder


def load_benchmark(benchmark: str | Benchmark, data_path: str | Path | None = None,
                 video_dir: str | Path | None = None, limit: int | None = None, *,
                 data_dir: str | Path | None = None, check_videos: bool = False) -> LoadResult:
    """A benchmark's samples and skipped rows (see `benchmark_paths` for the folders).

    Sample ids are unique within the benchmark: a later row repeating an id is skipped.
    `limit` keeps the first `limit` samples (None or 0: all). With `check_videos`, a sample whose video file
    does not exist is skipped too (otherwise it fails, and is counted, when it is decoded).
    """
    spec = benchmark if isinstance(benchmark, Benchmark) else get_benchmark(benchmark)
    data_path, video_dir = benchmark_paths(spec, data_path, video_dir, data_dir)
    result = LoadResult(source=str(data_path))
    seen: set[str] = set()
    for item in spec.loader(data_path, video_dir):
        if limit and len(result.samples) >= limit:
            break
        if isinstance(item, Skipped):
            result.skipped.append(item)
            continue
        reason = _sample_problem(item, seen, check_videos)
        if reason:
            result.skipped.append(Skipped(int(item.extra.get("source_row", 0)), reason))
            continue
        seen.add(item.id)
        item.benchmark = spec.name
        result.samples.append(item)
    return result


def _sample_problem(sample: Sample, seen: set[str], check_videos: bool) -> str | None:
    where = sample.extra.get("source_file", "")
    prefix = f"{where}: " if where else ""
    if sample.id in seen:
        return f"{prefix}duplicate id {sample.id!r}"
    if check_videos and not Path(sample.video).is_file():
        return f"{prefix}video file not found: {sample.video}"
    return None


# ---------------------------------------------------------------------------------------------
# Reading tables


def read_table(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number from 1, row dict) of a parquet, arrow, JSON, JSONL, CSV or TSV file."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from enumerate(_read_parquet(path), start=1)
    elif suffix == ".arrow":
        yield from enumerate(_read_arrow(path), start=1)
    elif suffix in (".json", ".jsonl"):
        yield from read_rows(path)
    elif suffix in (".csv", ".tsv"):
        yield from _read_delimited(path, "\t" if suffix == ".tsv" else ",")
    else:
        raise Vr2Error(f"{path}: unsupported data file type {suffix or '(none)'}")


def _pyarrow():
    import pyarrow.ipc  # a core dependency, imported here only because it is heavy
    import pyarrow.parquet

    return pyarrow


def _read_parquet(path: Path) -> list[dict]:
    pa = _pyarrow()
    try:
        return pa.parquet.read_table(path).to_pylist()
    except (pa.ArrowException, OSError) as error:
        raise Vr2Error(f"{path}: not a readable parquet file ({error})") from None


def _read_arrow(path: Path) -> list[dict]:
    """An Arrow file as `datasets.save_to_disk` writes it (IPC stream), or an IPC file."""
    pa = _pyarrow()
    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_stream(source).read_all().to_pylist()
    except (pa.ArrowException, OSError):
        pass
    try:
        with pa.memory_map(str(path)) as source:
            return pa.ipc.open_file(source).read_all().to_pylist()
    except (pa.ArrowException, OSError) as error:
        raise Vr2Error(f"{path}: not a readable Arrow file ({error})") from None


def _read_delimited(path: Path, delimiter: str) -> Iterator[tuple[int, Any]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise Vr2Error(f"{path}: not a readable {path.suffix[1:]} file ({error})") from None
    yield from enumerate(rows, start=1)


def _find_files(data_path: Path, patterns: Sequence[str], what: str) -> list[Path]:
    """The data files: `data_path` itself when it is a file, else the first pattern that matches."""
    if data_path.is_file():
        return [data_path]
    for pattern in patterns:
        hits = sorted(p for p in data_path.glob(pattern)
                      if p.is_file() and not any(part.startswith(".") for part in p.relative_to(data_path).parts))
        if hits:
            return hits
    raise Vr2Error(f"{data_path}: no {what} data file found (looked for {', '.join(patterns)})")


Convert = Callable[[dict, int, Path], Sample]
# The row fields the release's task prompts are built from, kept verbatim on each sample so the
# `paper` protocol writes them exactly as the release did (`vr2.eval.protocols.release_fields`).
RELEASE_FIELDS = ("question", "options", "candidates", "choices", *(f"option{i}" for i in range(5)))


def _convert(files: Sequence[Path], data_path: Path, convert: Convert) -> Iterator[Sample | Skipped]:
    """Rows of every file through `convert`; BadRow becomes Skipped naming the file."""
    root = data_path if data_path.is_dir() else data_path.parent
    for file in files:
        label = file.relative_to(root).as_posix() if file.is_relative_to(root) else file.name
        for number, row in read_table(file):
            if isinstance(row, Skipped):
                yield Skipped(number, f"{label}: {row.reason}")
                continue
            if not isinstance(row, dict):
                yield Skipped(number, f"{label}: not a row object ({type(row).__name__})")
                continue
            try:
                sample = convert(row, number, file)
            except BadRow as error:
                yield Skipped(number, f"{label}: {error}")
                continue
            sample.extra.setdefault("source_file", label)
            sample.extra.setdefault("source_row", number)
            fields = {k: row[k] for k in RELEASE_FIELDS if k in row}
            if fields:
                sample.extra.setdefault("release_fields", fields)
            yield sample


# ---------------------------------------------------------------------------------------------
# Row helpers


def _text(row: dict, key: str) -> str:
    value = row.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadRow(f"no {key!r}")
    return value.strip()


def _optional(row: dict, *keys: str) -> dict:
    """The row's values for `keys` that are present (kept in Sample.extra)."""
    return {k: row[k] for k in keys if row.get(k) not in (None, "")}


def _mcq_sample(*, id: str, video: Path, question: str, options: list[str], answer: Any,
                extra: dict | None = None, **fields) -> Sample:
    return Sample(id=id, video=str(video), question=question, options=options,
                  answer=gold_letter(answer if not isinstance(answer, int) else str(answer), options),
                  answer_type="multiple_choice", extra=dict(extra or {}), **fields)


def _video_candidates(stem: str, folders: Sequence[str], suffixes=(".mp4", ".MP4", ".mkv", ".webm")) -> list[str]:
    return [f"{folder}/{stem}{suffix}" if folder else f"{stem}{suffix}"
            for suffix in suffixes for folder in folders]


def _first_file(paths: Iterable[Path]) -> Path | None:
    for path in paths:
        if path.is_file():
            return path
    return None


def _data_root(file: Path, data_path: Path) -> Path:
    return data_path if data_path.is_dir() else file.parent


# ---------------------------------------------------------------------------------------------
# MVBench (OpenGVLab/MVBench): json/<task>.json, one JSON array per task.

# task -> (official video folder, has a start/end window, folder of the pre-cut copy lmms-eval uses)
_MVBENCH_TASKS = {
    "action_sequence": ("star/Charades_v1_480", True, "star/Charades_segment"),
    "action_prediction": ("star/Charades_v1_480", True, "star/Charades_segment"),
    "action_antonym": ("ssv2_video", False, "ssv2_video_mp4"),
    "fine_grained_action": ("Moments_in_Time_Raw/videos", False, ""),
    "unexpected_action": ("FunQA_test/test", False, ""),
    "object_existence": ("clevrer/video_validation", False, ""),
    "object_interaction": ("star/Charades_v1_480", True, "star/Charades_segment"),
    "object_shuffle": ("perception/videos", False, ""),
    "moving_direction": ("clevrer/video_validation", False, ""),
    "action_localization": ("sta/sta_video", True, "sta/sta_video_segment"),
    "scene_transition": ("scene_qa/video", False, ""),
    "action_count": ("perception/videos", False, ""),
    "moving_count": ("clevrer/video_validation", False, ""),
    "moving_attribute": ("clevrer/video_validation", False, ""),
    "state_change": ("perception/videos", False, ""),
    "fine_grained_pose": ("nturgbd", False, "nturgbd_convert"),
    "character_order": ("perception/videos", False, ""),
    "egocentric_navigation": ("vlnqa", False, ""),
    "episodic_reasoning": ("tvqa/frames_fps3_hq", True, "tvqa/video_fps3_hq_segment"),
    "counterfactual_inference": ("clevrer/video_validation", False, ""),
}
_MVBENCH_PREFIXES = ("", "video/", "data0613/", "video/data0613/")


def load_mvbench(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """MVBench: `json/<task>.json` arrays of {video, question, candidates, answer[, start, end]}.

    `answer` is the text of the right candidate; it becomes its letter. Videos are
    `<task folder>/<video>` (under `video/` or at the top, as unzipped). Tasks with a window
    (STAR, STA, TVQA) get `start`/`end` unless the video comes from lmms-eval's pre-cut
    `*_segment` folders. Episodic reasoning's official videos are frame folders (TVQA,
    3 fps), which vr2 cannot decode; its pre-cut `tvqa/video_fps3_hq_segment` copy works.
    """
    files = _find_files(data_path, ["json/*.json", "*.json"], "MVBench")
    for file in files:
        yield from _convert([file], data_path, partial(_mvbench_row, video_dir=video_dir, task=file.stem))


def _mvbench_row(row: dict, number: int, file: Path, *, video_dir: Path, task: str) -> Sample:
    video = _text(row, "video")
    candidates = row.get("candidates")
    if not isinstance(candidates, list) or len(candidates) < 2:
        raise BadRow("'candidates' must list at least two options")
    options = check_options([str(c) for c in candidates])
    answer = row.get("answer")
    if isinstance(answer, str) and answer in candidates and candidates.count(answer) == 1:
        answer = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[candidates.index(answer)]
    official, windowed, cut = _MVBENCH_TASKS.get(task, ("", False, ""))
    folders = [official] + ([cut] if cut else [])
    places = [f"{prefix}{folder}/{video}" if folder else f"{prefix}{video}"
              for folder in folders for prefix in _MVBENCH_PREFIXES]
    path = pick_video(video_dir, places)
    start = end = None
    if windowed and not (cut and f"/{cut}/" in path.as_posix()):
        start, end = check_seconds(row, "start"), check_seconds(row, "end")
        check_window(start, end)
    extra = {"task": task}
    if path.is_dir():
        extra["frames_dir"] = True
    return _mcq_sample(id=f"{task}-{number}", video=path, question=_text(row, "question"),
                       options=options, answer=answer, start=start, end=end, extra=extra)


# ---------------------------------------------------------------------------------------------
# Video-MME (lmms-lab/Video-MME): videomme/test-00000-of-00001.parquet


def load_videomme(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """Video-MME: parquet columns video_id, duration, domain, sub_category, url, videoID,
    question_id, task_type, question, options ("A. ..."), answer (letter).

    Videos `data/<videoID>.mp4` (from videos_chunked_*.zip); subtitles
    `subtitle/<videoID>.srt` (from subtitle.zip), looked for under the video and data folders.
    """
    files = _find_files(data_path, ["videomme/test-*.parquet", "**/test-*.parquet", "*.parquet"],
                        "Video-MME")
    root = data_path if data_path.is_dir() else data_path.parent
    return _convert(files, data_path, partial(_videomme_row, video_dir=video_dir, root=root))


def _videomme_row(row: dict, number: int, file: Path, *, video_dir: Path, root: Path) -> Sample:
    vid = _text(row, "videoID")
    path = pick_video(video_dir, _video_candidates(vid, ["data", "", "videos"]))
    subtitle = _first_file(folder / sub / f"{vid}.srt" for folder in (video_dir, root, root.parent)
                           for sub in ("subtitle", "subtitles"))
    options = check_options(row.get("options"))
    return _mcq_sample(
        id=str(row.get("question_id") or f"{vid}-{number}"), video=path,
        question=_text(row, "question"), options=options, answer=row.get("answer"),
        subtitles=str(subtitle) if subtitle else None,
        extra=_optional(row, "video_id", "duration", "domain", "sub_category", "task_type", "url"),
    )


# ---------------------------------------------------------------------------------------------
# TempCompass (multi-choice): mmaaz60/tempcompass (config mcq), or lmms-lab/TempCompass


def load_tempcompass(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """TempCompass multiple choice. Two published layouts are read:

    - mmaaz60/tempcompass (config `mcq`, used by the Video-R2 evaluation):
      `tempcompass_combined.parquet` with video_id, question, options ("A. ..."), answer
      (letter) and uuid. The exact column set is inferred from the Video-R2 task code
      (not seen in a file): unknown columns are kept in `extra`.
    - lmms-lab/TempCompass `multi-choice/test-*.parquet`: video_id, question (options written
      into it, one "A. ..." line each), answer ("C. clockwise"), dim.

    Videos: `videos/<video_id>.mp4` (tempcompass_videos.zip).
    """
    files = _find_files(data_path, ["tempcompass_combined.parquet", "*.parquet", "mcq/*.parquet",
                                    "multi-choice/*.parquet", "multi-choice/**/*.parquet"], "TempCompass")
    return _convert(files, data_path, partial(_tempcompass_row, video_dir=video_dir))


def _tempcompass_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    vid = _text(row, "video_id")
    question, in_text, _ = split_question_options(_text(row, "question"))
    raw = row.get("options")
    options = check_options(raw) if raw not in (None, [], {}) else in_text
    if not options:
        raise BadRow("no options (neither an 'options' column nor option lines in the question)")
    if not question:
        raise BadRow("no question text before the options")
    path = pick_video(video_dir, _video_candidates(vid, ["videos", ""]))
    return _mcq_sample(id=f"{file.stem}-{number}", video=path, question=question, options=options,
                       answer=row.get("answer"), extra=_optional(row, "video_id", "uuid", "dim", "task_type"))


# ---------------------------------------------------------------------------------------------
# MLVU dev (sy1998/MLVU_dev): mlvu/test-00000-of-00001.parquet


def load_mlvu(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """MLVU dev multiple choice: parquet columns video_name, duration, question (with the
    options as "(A) ..." lines), candidates (option texts), answer (letter), task_type,
    question_id. Videos `<video_name>` at the top of the unzipped video_part_*.zip (also tried
    under `video/`). Ids are row numbers: question_id is not known to be unique.
    """
    files = _find_files(data_path, ["mlvu/test-*.parquet", "**/test-*.parquet", "*.parquet", "*.json"],
                        "MLVU")
    return _convert(files, data_path, partial(_mlvu_row, video_dir=video_dir))


def _mlvu_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    name = _text(row, "video_name")
    question, in_text, _ = split_question_options(_text(row, "question"))
    raw = row.get("candidates")
    options = check_options(raw) if raw not in (None, []) else in_text
    if not options:
        raise BadRow("no options")
    path = pick_video(video_dir, [name, f"video/{name}", f"videos/{name}"])
    return _mcq_sample(id=f"mlvu-{number}", video=path, question=question or _text(row, "question"),
                       options=options, answer=row.get("answer"),
                       extra=_optional(row, "task_type", "question_id", "duration"))


# ---------------------------------------------------------------------------------------------
# LongVideoBench val (longvideobench/LongVideoBench): lvb_val.json


def load_longvideobench(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """LongVideoBench validation: `lvb_val.json` (or validation-*.parquet) rows with id,
    video_id, video_path, subtitle_path, question, option0..option4 ("N/A" pads unused ones),
    correct_choice (0-based index), duration, duration_group, question_category,
    topic_category, starting_timestamp_for_subtitles.

    Videos `videos/<video_path>`. Subtitles are JSON (`subtitles/<subtitle_path>`), not SRT:
    the path goes to `extra["subtitle_file"]`; `subtitles` is set only for an `.srt` file.
    """
    files = _find_files(data_path, ["lvb_val.json", "validation-*.parquet", "**/validation-*.parquet"],
                        "LongVideoBench")
    root = data_path if data_path.is_dir() else data_path.parent
    return _convert(files, data_path, partial(_lvb_row, video_dir=video_dir, root=root))


def _lvb_row(row: dict, number: int, file: Path, *, video_dir: Path, root: Path) -> Sample:
    texts = []
    for index in range(5):
        value = row.get(f"option{index}")
        if value is None or str(value).strip().upper() == "N/A":
            break
        texts.append(str(value))
    options = check_options(texts)
    choice = row.get("correct_choice")
    if isinstance(choice, str) and choice.strip().isdigit():
        choice = int(choice)
    if not isinstance(choice, int) or isinstance(choice, bool) or not 0 <= choice < len(options):
        raise BadRow(f"correct_choice {choice!r} is not an index of the {len(options)} options")
    video = _text(row, "video_path")
    path = pick_video(video_dir, [f"videos/{video}", video])
    extra = _optional(row, "video_id", "duration", "duration_group", "question_category",
                      "topic_category", "starting_timestamp_for_subtitles")
    subtitles = None
    if isinstance(row.get("subtitle_path"), str) and row["subtitle_path"].strip():
        sub = row["subtitle_path"].strip()
        found = None
        for folder in (video_dir, root):
            try:
                candidate = resolve_video(folder, f"subtitles/{sub}")
            except BadRow:
                raise BadRow(f"subtitle_path {sub!r} leaves the subtitle folder") from None
            if candidate.is_file():
                found = candidate
                break
        found = found or resolve_video(root, f"subtitles/{sub}")
        extra["subtitle_file"] = str(found)
        if found.suffix.lower() == ".srt":
            subtitles = str(found)
    return _mcq_sample(id=str(row.get("id") or f"lvb-{number}"), video=path, question=_text(row, "question"),
                       options=options, answer="ABCDE"[choice], subtitles=subtitles, extra=extra)


# ---------------------------------------------------------------------------------------------
# VideoMathQA (MBZUAI/VideoMathQA, config mcq) and MINERVA (mmaaz60/minerva, config mcq)


def load_videomathqa(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """VideoMathQA, 5-way multiple choice (config `mcq`): rows with question_id, videoID,
    question, options ("A. ..."), answer (letter), category, length.

    The data file's name inside the repository is not known: any parquet/JSON file under an
    `mcq` folder or with `mcq` in its name is read. Videos `videos/<videoID>.mp4`; subtitles
    `subtitles/<videoID>.srt`.
    """
    files = _find_files(data_path, ["mcq/*.parquet", "mcq/**/*.parquet", "**/*mcq*.parquet",
                                    "**/*mcq*.jsonl", "**/*mcq*.json"], "VideoMathQA")
    return _convert(files, data_path, partial(_lettered_row, video_dir=video_dir, data_path=data_path,
                                              prefix="videomathqa"))


def load_minerva(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """MINERVA multiple choice. mmaaz60/minerva (config `mcq`, used by the Video-R2
    evaluation): rows like VideoMathQA's (question_id, videoID, question, options "A. ...",
    answer letter, category, length); the column set is inferred from the Video-R2 task code.
    The original release's layout (key, video_id, question, answer_choice_0..4, answer_id) is
    read too. Videos `videos/<videoID>.mp4`.
    """
    files = _find_files(data_path, ["mcq/*.parquet", "mcq/**/*.parquet", "**/*mcq*.parquet",
                                    "**/*.parquet", "*.jsonl", "*.json"], "MINERVA")
    return _convert(files, data_path, partial(_lettered_row, video_dir=video_dir, data_path=data_path,
                                              prefix="minerva"))


def _lettered_row(row: dict, number: int, file: Path, *, video_dir: Path, data_path: Path,
                  prefix: str) -> Sample:
    vid = str(row.get("videoID") or row.get("video_id") or "").strip()
    if not vid:
        raise BadRow("no 'videoID'")
    if row.get("options") not in (None, [], {}):
        options = check_options(row["options"])
        answer = row.get("answer")
    else:  # MINERVA's original columns
        options = check_options([row[k] for k in sorted(row) if re.fullmatch(r"answer_choice_\d", k)
                                 and row[k] not in (None, "")])
        answer = row.get("answer_id")
        if isinstance(answer, (int, str)) and str(answer).strip().isdigit() and int(answer) < len(options):
            answer = "ABCDEFGHIJ"[int(answer)]
        else:
            answer = row.get("answer")
    path = pick_video(video_dir, _video_candidates(vid, ["videos", "", "video"]))
    root = _data_root(file, data_path)
    subtitle = _first_file(folder / "subtitles" / f"{vid}.srt" for folder in (video_dir, root))
    ident = row.get("question_id") or row.get("key")
    return _mcq_sample(id=str(ident) if ident not in (None, "") else f"{prefix}-{number}", video=path,
                       question=_text(row, "question"), options=options, answer=answer,
                       subtitles=str(subtitle) if subtitle else None,
                       extra=_optional(row, "category", "length", "question_type", "video_id", "videoID"))


# ---------------------------------------------------------------------------------------------
# Video-MMMU (lmms-lab/VideoMMMU): Perception/, Comprehension/, Adaptation/ test parquet

# Video folder of each subject (the subject is the middle of an id like "test_Art_Theory_12").
_VIDEOMMMU_FOLDERS = {
    "Art": ("Art", "Art_Theory", "Design", "Music"),
    "Science": ("Biology", "Chemistry", "Geography", "Math", "Physics"),
    "Humanities": ("History", "Literature", "Sociology", "Psychology"),
    "Engineering": ("Agriculture", "Architecture_and_Engineering", "Computer_Science", "Electronics",
                    "Energy_and_Power", "Materials", "Mechanical_Engineering"),
    "Medicine": ("Basic_Medical_Science", "Clinical_Medicine", "Diagnostics_and_Laboratory_Medicine",
                 "Pharmacy", "Public_Health"),
    "Business": ("Accounting", "Economics", "Finance", "Manage", "Marketing"),
}
_VIDEOMMMU_TRACKS = ("Perception", "Comprehension", "Adaptation")


def load_videommmu(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """Video-MMMU, all three tracks: `<Track>/test-*.parquet` with id, question, options
    (texts, sometimes already "A. ..."), answer (letter for multiple choice, else the value),
    question_type ("multiple-choice" or open). Videos `<Field>/<id>.mp4`, the field folder
    (Art, Science, Humanities, Engineering, Medicine, Business) following the subject in the id.
    The same id appears once per track, so sample ids are `<Track>/<id>`.
    """
    if data_path.is_file():
        files = [data_path]
    else:
        files = [f for track in _VIDEOMMMU_TRACKS
                 for f in sorted(data_path.glob(f"{track}/**/*.parquet"))]
        if not files:
            files = _find_files(data_path, ["**/*.parquet"], "Video-MMMU")
    return _convert(files, data_path, partial(_videommmu_row, video_dir=video_dir))


def _videommmu_track(file: Path) -> str:
    for part in reversed(file.parts):
        if part in _VIDEOMMMU_TRACKS:
            return part
    return file.stem


def _videommmu_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    ident = _text(row, "id")
    subject = "_".join(ident.split("_")[1:-1])
    field = next((f for f, subjects in _VIDEOMMMU_FOLDERS.items() if subject in subjects), None)
    folders = [field, f"videos/{field}", ""] if field else ["", "videos"]
    path = pick_video(video_dir, _video_candidates(ident, folders, (".mp4",)))
    track = _videommmu_track(file)
    extra = {"track": track, **_optional(row, "question_type")}
    raw = row.get("options")
    question = _text(row, "question")
    if raw not in (None, [], {}) or row.get("question_type") == "multiple-choice":
        return _mcq_sample(id=f"{track}/{ident}", video=path, question=question,
                           options=check_options(raw), answer=row.get("answer"), extra=extra)
    answer, answer_type = finish_answer(row.get("answer"), None, [])
    return Sample(id=f"{track}/{ident}", video=str(path), question=question, answer=answer,
                  answer_type=answer_type, extra=extra)


# ---------------------------------------------------------------------------------------------
# MMVU val (yale-nlp/MMVU validation.json; mmaaz60/MMVU is the copy the Video-R2 eval used)


def load_mmvu(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """MMVU validation: rows with id, video (URL ending in `videos/<Subject>/<n>.mp4`) or
    video_path (mmaaz60/MMVU), question, question_type ("multiple-choice" / "open-ended"),
    choices ({"A": ..., "E": ...}; all empty for open-ended), answer (letter, or the text for
    open-ended), metadata {subject, ...}. Open-ended rows are free form (numeric when the
    answer is a number). Videos `videos/<Subject>/<n>.mp4`.
    """
    files = _find_files(data_path, ["validation.json", "data/validation.json", "**/validation-*.parquet",
                                    "**/validation*.json", "**/*.parquet"], "MMVU")
    return _convert(files, data_path, partial(_mmvu_row, video_dir=video_dir))


def _mmvu_video(row: dict) -> str:
    if isinstance(row.get("video_path"), str) and row["video_path"].strip():
        return row["video_path"].strip()
    url = row.get("video")
    if isinstance(url, str):
        match = re.search(r"/resolve/[^/]+/(.+)$", url.strip())
        if match:
            return match.group(1)
        if "://" not in url and url.strip():
            return url.strip()
    raise BadRow("no video path ('video_path', or a 'video' URL ending in videos/<Subject>/<n>.mp4)")


def _mmvu_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    video = _mmvu_video(row)
    path = pick_video(video_dir, [video, f"videos/{video}" if not video.startswith("videos/") else video])
    ident = str(row.get("id") or f"mmvu-{number}")
    question = _text(row, "question")
    extra = _optional(row, "question_type")
    if isinstance(row.get("metadata"), dict) and row["metadata"].get("subject"):
        extra["subject"] = row["metadata"]["subject"]
    choices = row.get("choices")
    if isinstance(choices, dict):
        choices = {k: v for k, v in choices.items() if isinstance(v, str) and v.strip()}
    if choices and row.get("question_type") != "open-ended":
        return _mcq_sample(id=ident, video=path, question=question, options=check_options(choices),
                           answer=row.get("answer"), extra=extra)
    answer, answer_type = finish_answer(row.get("answer"), None, [])
    return Sample(id=ident, video=str(path), question=question, answer=answer,
                  answer_type=answer_type, extra=extra)


# ---------------------------------------------------------------------------------------------
# VSI-Bench (nyu-visionx/VSI-Bench; mmaaz60/VSI_Bench is the copy the Video-R2 eval used)

VSIBENCH_NUMERIC_TYPES = ("object_abs_distance", "object_counting", "object_size_estimation",
                          "room_size_estimation")


def load_vsibench(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """VSI-Bench: `test-00000-of-00001.parquet` with id, dataset (arkitscenes, scannet,
    scannetpp), scene_name, question_type, question, options ("A. ..." for multiple-choice
    types, null otherwise), ground_truth (letter, or a number). Numeric-answer types
    (distances, counts, sizes) are scored by mean relative accuracy: answer type "regression".
    Videos `<dataset>/<scene_name>.mp4` (the unzipped arkitscenes/scannet/scannetpp.zip).
    """
    files = _find_files(data_path, ["test-*.parquet", "**/test-*.parquet", "*.parquet", "*.jsonl", "*.json"],
                        "VSI-Bench")
    return _convert(files, data_path, partial(_vsibench_row, video_dir=video_dir))


def _vsibench_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    scene, source = _text(row, "scene_name"), _text(row, "dataset")
    path = pick_video(video_dir, [f"{source}/{scene}.mp4", f"videos/{source}/{scene}.mp4"])
    ident = str(row.get("id") if row.get("id") not in (None, "") else f"vsibench-{number}")
    qtype = row.get("question_type")
    extra = _optional(row, "question_type", "dataset", "scene_name")
    question = _text(row, "question")
    if qtype in VSIBENCH_NUMERIC_TYPES or (qtype is None and row.get("options") in (None, [])):
        answer, answer_type = finish_answer(row.get("ground_truth"), "regression", [])
        return Sample(id=ident, video=str(path), question=question, answer=answer,
                      answer_type=answer_type, extra=extra)
    return _mcq_sample(id=ident, video=path, question=question, options=check_options(row.get("options")),
                       answer=row.get("ground_truth"), extra=extra)


# ---------------------------------------------------------------------------------------------
# SciVideoBench (groundmore/scivideobench; mmaaz60/scivideobench is the Video-R2 eval's copy)


def load_scivideobench(data_path: Path, video_dir: Path) -> Iterator[Sample | Skipped]:
    """SciVideoBench: `scivideobench_1k.jsonl` (or the Arrow files of a `save_to_disk` copy)
    rows with video_id, question, options (a dict {"A": ...} or a list; up to 10, A-J),
    answer (letter), question_type, category, video_duration. Videos `jove_<video_id>.mp4`
    (at the top or under `videos/`). Column names come from the lmms-eval and Video-R2 task
    code, not from a file seen here.
    """
    files = _find_files(data_path, ["scivideobench_1k.jsonl", "*.jsonl", "**/*.arrow", "*.json",
                                    "**/*.parquet"], "SciVideoBench")
    return _convert(files, data_path, partial(_scivideobench_row, video_dir=video_dir))


def _scivideobench_row(row: dict, number: int, file: Path, *, video_dir: Path) -> Sample:
    vid = _text(row, "video_id")
    path = pick_video(video_dir, _video_candidates(f"jove_{vid}", ["videos", ""]))
    ident = row.get("question_id") or row.get("id")
    return _mcq_sample(id=str(ident) if ident not in (None, "") else f"{vid}-{number}", video=path,
                       question=_text(row, "question"), options=check_options(row.get("options")),
                       answer=row.get("answer"),
                       extra=_optional(row, "video_id", "question_type", "category", "video_duration"))


# ---------------------------------------------------------------------------------------------
# User benchmarks in vr2's own schema


def load_jsonl_benchmark(path: str | Path, video_dir: str | Path) -> Iterator[Sample | Skipped]:
    """A benchmark file in vr2's sample schema: one JSON object a line (or a JSON array) with
    id, video (relative to `video_dir`), question, options, answer, answer_type, optional
    start/end/subtitles. A folder means its `*.jsonl` files."""
    path = Path(path)
    files = _find_files(path, ["*.jsonl", "*.json"], "JSONL benchmark")
    ctx = RowContext(Path(video_dir), check_videos=False)

    def convert(row: dict, number: int, file: Path) -> Sample:
        return sample_from_fields(row, number, ctx)

    return _convert(files, path, convert)


def jsonl_benchmark(name: str, *, title: str | None = None, group: str = "other",
                    answer_types: Sequence[str] = ANSWER_TYPES, paper_accuracy: float | None = None) -> Benchmark:
    """A Benchmark read by `load_jsonl_benchmark` (register it with `register_benchmark`)."""
    return Benchmark(
        name=name, title=title or name, group=group, hf_dataset="(local JSONL)", split="-",
        answer_types=tuple(answer_types), scoring="by each row's answer_type",
        video_layout="`video` paths relative to the video folder", paper_accuracy=paper_accuracy,
        loader=load_jsonl_benchmark, data_files="*.jsonl in vr2's sample schema",
    )


# ---------------------------------------------------------------------------------------------
# The registry: the paper's 11 (docs/method.md#the-papers-ablation), generic first, in the paper's order.

_MCQ = ("multiple_choice",)
_MCQ_SCORING = "accuracy: the predicted option letter equals the gold letter"


def _with_think(*tasks: str) -> tuple[str, ...]:
    """Each lmms-eval task name with the release fork's `_think` variant beside it. MVBench's
    20 tasks and Video-MMMU's tracks are logged as tasks of their own (`mvbench_action_count`,
    `video_mmmu_perception_think`), so they are listed one by one."""
    return tuple(name for task in tasks for name in (task, f"{task}_think"))

for _spec in (
    Benchmark("mvbench", "MVBench", "generic", "OpenGVLab/MVBench", "train (20 tasks)", _MCQ, _MCQ_SCORING,
              "<task folder>/<video> (e.g. clevrer/video_validation/...) under video/ or the top",
              67.5, load_mvbench, "json/<task>.json",
              _with_think("mvbench", *(f"mvbench_{t}" for t in _MVBENCH_TASKS)),
              revision="video"),
    Benchmark("videomme", "VideoMME", "generic", "lmms-lab/Video-MME", "test", _MCQ, _MCQ_SCORING,
              "data/<videoID>.mp4; subtitles subtitle/<videoID>.srt", 63.8, load_videomme,
              "videomme/test-00000-of-00001.parquet", _with_think("videomme")),
    Benchmark("tempcompass", "TempCompass", "generic", "mmaaz60/tempcompass", "test (config mcq)", _MCQ,
              _MCQ_SCORING, "videos/<video_id>.mp4", 74.9, load_tempcompass,
              "tempcompass_combined.parquet (or lmms-lab/TempCompass multi-choice/*.parquet)",
              _with_think("tempcompass_complete")),
    Benchmark("mlvu", "MLVU (dev)", "generic", "sy1998/MLVU_dev", "test", _MCQ, _MCQ_SCORING,
              "<video_name> at the top of the unzipped video_part_*.zip", 68.3, load_mlvu,
              "mlvu/test-00000-of-00001.parquet", _with_think("mlvu_dev")),
    Benchmark("longvideobench", "LongVideoBench (val)", "generic", "longvideobench/LongVideoBench",
              "validation", _MCQ, _MCQ_SCORING, "videos/<video_path>; JSON subtitles subtitles/<subtitle_path>",
              59.2, load_longvideobench, "lvb_val.json", _with_think("longvideobench_val_v"),
              lmms_target="option_index"),
    Benchmark("videomathqa", "VideoMathQA (mcq)", "reasoning", "MBZUAI/VideoMathQA", "test (config mcq)",
              _MCQ, _MCQ_SCORING, "videos/<videoID>.mp4; subtitles subtitles/<videoID>.srt", 28.8,
              load_videomathqa, "the mcq config's parquet", _with_think("videomathqa_mcq")),
    Benchmark("videommmu", "Video-MMMU", "reasoning", "lmms-lab/VideoMMMU",
              "test (Perception, Comprehension, Adaptation)", ("multiple_choice", "numeric", "free_form"),
              "multiple choice by letter; open questions numeric (numbers equal) or free form (ROUGE)",
              "<Field>/<id>.mp4, Field one of Art, Science, Humanities, Engineering, Medicine, Business",
              50.8, load_videommmu, "<Track>/test-00000-of-00001.parquet",
              _with_think("video_mmmu", *(f"video_mmmu_{t.lower()}" for t in _VIDEOMMMU_TRACKS))),
    Benchmark("mmvu", "MMVU (val)", "reasoning", "mmaaz60/MMVU", "validation", ("multiple_choice", "free_form"),
              "multiple choice by letter; open-ended rows (yale-nlp/MMVU) free form (ROUGE)",
              "videos/<Subject>/<n>.mp4", 67.4, load_mmvu, "validation.json (yale-nlp/MMVU) or parquet",
              _with_think("mmvu_val")),
    Benchmark("vsibench", "VSIBench", "reasoning", "mmaaz60/VSI_Bench", "test", ("multiple_choice", "regression"),
              "multiple choice by letter; numeric questions by mean relative accuracy (answer_type regression)",
              "<dataset>/<scene_name>.mp4 (arkitscenes, scannet, scannetpp)", 39.4, load_vsibench,
              "test-00000-of-00001.parquet", _with_think("vsibench")),
    Benchmark("minerva", "MINERVA", "reasoning", "mmaaz60/minerva", "test (config mcq)", _MCQ, _MCQ_SCORING,
              "videos/<videoID>.mp4", 34.9, load_minerva, "the mcq config's parquet (or minerva.json)",
              _with_think("minerva")),
    Benchmark("scivideobench", "SciVideoBench", "reasoning", "mmaaz60/scivideobench", "test", _MCQ,
              _MCQ_SCORING + " (up to 10 options, A-J)", "videos/jove_<video_id>.mp4", 28.4,
              load_scivideobench, "scivideobench_1k.jsonl (groundmore/scivideobench) or save_to_disk Arrow",
              _with_think("scivideobench")),
):
    register_benchmark(_spec)
del _spec

PAPER_BENCHMARKS = tuple(BENCHMARKS)
