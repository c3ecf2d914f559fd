"""`vr2 curate`: build the SFT and GRPO sets from video-QA sources with a teacher, verified.

The pipeline, top to bottom (each stage's result is saved under `<output_dir>/work/`, so a run
that stops anywhere resumes where it stopped, and a stage whose inputs did not change is not
run again):

1. ingest: read every `[curate] sources` file (`vr2.curate.sources`), drop duplicates (same video and
   question), resolve each video under `video_dir`, probe it (readable, duration) in a process
   pool and keep those within the recipe's duration limits. Bad rows are counted and listed
   with file, row and reason.
2. teach: the teacher (`vr2.curate.teacher`) writes `<think>..</think><answer>..</answer>` and a
   reference grounding for each sample. Frames are sampled in a process pool, calls run in a
   thread pool; every reply is appended to a journal as it arrives, so a killed run loses
   nothing, and the teacher's cache means nothing answered is asked again. A failed call is
   journalled as failed and asked again on the next run; it never becomes data.
3. verify: a trace is kept only when vr2's own scorers, the same functions training uses,
   accept it: format reward 1, accuracy reward (1 for choices and numbers, at least
   `min_graded_accuracy` otherwise), think and answer consistent (the TAR gate's checker), every
   cited time inside the video, at least `min_claims` cited times, grounding keys parseable,
   and gated TAR of the trace against its own grounding at least `min_tar`.
4. rank: difficulty in [0, 1] by `judge` (the teacher rates 1-5, difficulty = (rating - 1) / 4)
   or `pass_rate` (k answers of the `[model]` base model through the eval engine; difficulty =
   1 - mean accuracy); samples outside [min_difficulty, max_difficulty] are dropped.
5. split: `sft_fraction` to SFT, the rest to GRPO, per source (see `split_records`).
6. write: `sft.json` and `grpo.json` in the released Video-R2 format (`vr2 sft` / `vr2 grpo` read
   them with `data.video_dir` = `[curate] video_dir`), `manifest.json` and `report.html`.

Sharding: `--shard i/N` runs ingest to rank on the videos whose path hash falls in shard i, in
`work/shard-i-of-N/`; `--stage merge` joins the N shards and runs split and write. A run without
`--shard` is shard 0/1 and goes through the same join, so the outputs of N shards merged are
byte-identical to a single-machine run.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vr2.config import with_changes
from vr2.curate.report import render_report
from vr2.curate.sources import SourceSpec, load_source
from vr2.curate.teacher import (
    Teaching,
    make_teacher,
    parse_rating,
    parse_teaching,
    prepare_request,
)
from vr2.data.datasets import BadRow, Skipped, pick_video, subtitle_for
from vr2.errors import JudgeFailure, Vr2Error
from vr2.eval.metrics import as_scored_completion
from vr2.eval.runner import make_engine
from vr2.files import drop_partial_line, read_text
from vr2.model.prompts import format_question
from vr2.plugins import registry as plugins
from vr2.processes import pool_died, process_pool
from vr2.samples import Sample
from vr2.scoring.answers import normalize_text
from vr2.scoring.format import parse_completion
from vr2.scoring.rewards import accuracy_reward, build_tar_reward, format_reward
from vr2.scoring.timestamps import parse_time_key
from vr2.video.sampling import probe_video, video_settings

STAGES = ("ingest", "teach", "verify", "rank", "split", "write", "merge")
SHARD_STAGES = ("ingest", "teach", "verify", "rank")
# A cited time may lie this far past the stated duration (headers round; frames end early).
END_TOLERANCE_S = 1.0
LISTED_BAD_ROWS = 1000
PROMPT_VERSION = 1  # bump when teacher prompts change, so journalled replies are not reused

# Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- shards and files


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise Vr2Error(f"--shard {text}: expected i/N, e.g. 0/4") from None
        if count < 1 or not 0 <= index < count:
            raise Vr2Error(f"--shard {text}: needs 0 <= i < N")
        return cls(index, count)

    @property
    def name(self) -> str:
        return f"shard-{self.index}-of-{self.count}"

    def owns(self, video: str) -> bool:
        digest = hashlib.sha256(video.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_json(path: Path, value: Any, sort_keys: bool = True) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=1, sort_keys=sort_keys) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path, "curate state file"))
    except json.JSONDecodeError as error:
        raise Vr2Error(f"{path}: damaged state file ({error}); delete it to redo that stage") from None


def _section(obj: Any) -> dict:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


class Workspace:
    """Where one shard keeps its stage results."""

    def __init__(self, out: Path, shard: Shard):
        self.out = out
        self.shard = shard
        self.dir = out / "work" / shard.name

    def path(self, stage: str) -> Path:
        return self.dir / ("teach.jsonl" if stage == "teach" else f"{stage}.json")

    def load(self, stage: str) -> dict:
        path = self.path(stage)
        if not path.is_file():
            raise Vr2Error(f"{path}: stage '{stage}' has not run for {self.shard.name}; run it first "
                           f"(vr2 curate RECIPE --stage {stage})")
        return read_json(path)

    def cached(self, stage: str, fingerprint: str) -> dict | None:
        path = self.path(stage)
        if not path.is_file():
            return None
        state = read_json(path)
        if state.get("fingerprint") == fingerprint and state.get("complete", True):
            return state
        return None


def stage_stats(inputs: Sequence[dict], kept: Sequence[dict], rejected: Iterable[str]) -> dict:
    """Per-source counts in and out, and rejections by reason."""
    return {"in": dict(Counter(r["source"] for r in inputs)),
            "out": dict(Counter(r["source"] for r in kept)),
            "rejections": dict(Counter(rejected))}


# --------------------------------------------------------------------------- 1. ingest


def _probe(path: str) -> tuple[float | None, str | None]:
    """(duration, None) or (None, reason); runs in a worker process."""
    if not os.path.isfile(path):
        return None, "video file not found"
    try:
        return float(probe_video(path)["duration"]), None
    except Vr2Error:
        return None, "video unreadable"


def _pool_map(function: Callable, items: Sequence, workers: int, progress: Callable[[int], None]) -> list:
    """`map` in a process pool (inline with one worker), in order, reporting each item done."""
    if workers <= 1 or len(items) <= 1:
        out = []
        for item in items:
            out.append(function(item))
            progress(len(out))
        return out
    with process_pool(workers) as pool:
        out = []
        try:
            for result in pool.map(function, items, chunksize=max(1, len(items) // (workers * 8))):
                out.append(result)
                progress(len(out))
        except BrokenProcessPool as exc:
            raise pool_died("curate") from exc
        return out


def worker_count(settings) -> int:
    return settings.workers or os.cpu_count() or 1


def _record(sample, spec, video: str, file: str) -> dict:
    return {"key": sample.id, "source": spec.kind, "source_id": sample.extra["source_id"],
            "file": file, "video": video, "question": sample.question, "options": sample.options,
            "answer": sample.answer, "answer_type": sample.answer_type, "start": sample.start,
            "end": sample.end}


def _video_of(sample, spec, root: Path) -> str:
    """The sample's video relative to `root` (the first candidate path that exists)."""
    prefix = Path(spec.videos) if spec.videos else Path()
    candidates = [str(prefix / c) for c in sample.extra.get("video_candidates", [sample.video])]
    return pick_video(root, candidates).relative_to(root.resolve()).as_posix()


def load_sources(settings) -> tuple[list[dict], dict]:
    """Every source's samples as records (duplicates dropped, sorted by key) and load stats."""

    if not settings.sources:
        raise Vr2Error("curate.sources: no sources; list KIND=FILE entries in [curate] sources")
    if not settings.video_dir or not Path(settings.video_dir).is_dir():
        raise Vr2Error(f"curate.video_dir: video folder '{settings.video_dir}' not found")
    root = Path(settings.video_dir).resolve()
    records, seen, bad, duplicates, keys = [], set(), [], Counter(), set()
    for spec in map(SourceSpec.parse, settings.sources):
        for item in load_source(spec):
            if isinstance(item, Skipped):
                bad.append({"file": str(spec.file), "row": item.row, "reason": item.reason})
                continue
            try:
                video = _video_of(item, spec, root)
            except BadRow as error:
                bad.append({"file": str(spec.file), "row": item.extra["source_id"], "reason": str(error)})
                continue
            same = (video, normalize_text(item.question), tuple(item.options))
            if same in seen or item.id in keys:
                duplicates[spec.kind] += 1
                continue
            seen.add(same)
            keys.add(item.id)
            records.append(_record(item, spec, video, str(spec.file)))
    records.sort(key=lambda r: r["key"])
    stats = {"loaded": dict(Counter(r["source"] for r in records)), "duplicates": dict(duplicates),
             "bad_rows": len(bad), "bad_rows_listed": bad[:LISTED_BAD_ROWS]}
    return records, stats


def _subtitle_of(settings, video: str) -> str | None:
    return subtitle_for(settings.subtitles_dir or None, video)


def ingest(recipe, ws: Workspace, progress: Progress = _no_progress) -> dict:
    settings = recipe.curate
    records, load_stats = load_sources(settings)
    mine = [r for r in records if ws.shard.owns(r["video"])]
    root = Path(settings.video_dir)
    videos = sorted({r["video"] for r in mine})
    fingerprint = digest({"records": mine, "min": settings.min_duration, "max": settings.max_duration,
                          "root": str(root.resolve()), "subtitles": settings.subtitles_dir})
    cached = ws.cached("ingest", fingerprint)
    if cached is not None:
        progress("ingest", len(videos), len(videos))
        return cached
    probed = _pool_map(_probe, [str(root / v) for v in videos], worker_count(settings),
                       lambda done: progress("ingest", done, len(videos)))
    durations = dict(zip(videos, probed))
    kept, rejected = [], []
    for record in mine:
        duration, problem = durations[record["video"]]
        problem = problem or _duration_problem(duration, settings)
        if problem:
            rejected.append(problem)
            continue
        kept.append({**record, "duration": duration, "subtitles": _subtitle_of(settings, record["video"])})
    state = {"fingerprint": fingerprint, "records": kept, "load": load_stats,
             "stats": stage_stats(mine, kept, rejected)}
    write_json(ws.path("ingest"), state)
    return state


def _duration_problem(duration: float, settings) -> str | None:
    if duration < settings.min_duration:
        return "video shorter than min_duration"
    if settings.max_duration and duration > settings.max_duration:
        return "video longer than max_duration"
    return None


# --------------------------------------------------------------------------- 2. teach


def frame_options(recipe) -> dict:
    """`sample_video` options of the recipe's `[video]` section but the subtitles (each record
    carries its own): what the teacher's frames depend on."""
    return video_settings(recipe.video).frame_options()


def teacher_fingerprint(recipe, teacher) -> str:
    c = recipe.curate
    return digest({"teacher": getattr(teacher, "name", "?"), "model": getattr(teacher, "model", ""),
                   "temperature": c.temperature, "seed": c.seed, "max_tokens": c.max_tokens,
                   "video": frame_options(recipe), "subtitles": recipe.video.subtitles,
                   "image_width": c.image_width, "prompt": PROMPT_VERSION})


def read_journal(path: Path) -> list[dict]:
    """The teach journal's entries (a half-written last line from a crash is cut off)."""
    if not path.is_file():
        return []
    entries = []
    for line in drop_partial_line(path).decode("utf-8").splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


def _prepare(job: tuple) -> Any:
    """Frames for one sample (runs in a worker process); a video problem is returned as text."""
    key, record, path, subtitles, settings, width = job
    try:
        return prepare_request(key, record, path, subtitles, settings, width)
    except Vr2Error as error:
        return f"video cannot be sampled: {error}"


class Journal:
    """The append-only teach journal, written from many threads."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def add(self, entry: dict) -> None:
        line = json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()


def _teach_one(teacher, request, key: str, fingerprint: str) -> dict:
    if isinstance(request, str):
        return {"key": key, "teacher": fingerprint, "status": "unusable", "reason": "video cannot be sampled",
                "detail": request}
    reply = teacher.teach(request)
    if reply is None:
        return {"key": key, "teacher": fingerprint, "status": "failed"}
    parsed = parse_teaching(reply)
    if not isinstance(parsed, Teaching):
        return {"key": key, "teacher": fingerprint, "status": "unusable", "reason": parsed}
    return {"key": key, "teacher": fingerprint, "status": "ok", "completion": parsed.completion,
            "temporal_grounding": parsed.temporal_grounding}


class _Teaching:
    """Frames sampled in a process pool, teacher calls in a thread pool, at most `window`
    samples in flight (so memory holds a window of frames, not the data set's)."""

    def __init__(self, teacher, journal: Journal, fingerprint: str, window: int, progress: Callable[[], None]):
        self.teacher = teacher
        self.journal = journal
        self.fingerprint = fingerprint
        self.slots = threading.BoundedSemaphore(window)
        self.progress = progress
        self.results: dict[str, dict] = {}

    def ask(self, key: str, request) -> None:
        """Runs in a thread: wait for the frames, ask the teacher, journal the reply at once."""
        try:
            request = request.result() if hasattr(request, "result") else _prepare(request)
            entry = _teach_one(self.teacher, request, key, self.fingerprint)
            self.journal.add(entry)
            self.results[key] = entry
            self.progress()
        finally:
            self.slots.release()


def teach(recipe, ws: Workspace, teacher, progress: Progress = _no_progress) -> dict:
    """Ask the teacher about every ingested sample not answered yet; returns {key: entry}."""
    settings = recipe.curate
    records = ws.load("ingest")["records"]
    fingerprint = teacher_fingerprint(recipe, teacher)
    answered = {e["key"]: e for e in read_journal(ws.path("teach"))
                if e.get("teacher") == fingerprint and e.get("status") != "failed"}
    todo = [r for r in records if r["key"] not in answered]
    total = len(records)
    counter = [total - len(todo)]
    lock = threading.Lock()
    progress("teach", counter[0], total)

    def one_done() -> None:
        with lock:
            counter[0] += 1
            progress("teach", counter[0], total)

    root = Path(settings.video_dir)
    frames = frame_options(recipe)
    work = _Teaching(teacher, Journal(ws.path("teach")), fingerprint, settings.concurrency * 2, one_done)
    workers = min(worker_count(settings), max(1, len(todo)))
    pool = process_pool(workers) if workers > 1 else None
    try:
        with ThreadPoolExecutor(max_workers=settings.concurrency) as threads:
            futures = []
            for r in todo:
                job = (r["key"], r, str(root / r["video"]), r["subtitles"] if recipe.video.subtitles else None,
                       frames, settings.image_width)
                work.slots.acquire()
                request = pool.submit(_prepare, job) if pool else job
                futures.append(threads.submit(work.ask, r["key"], request))
            for future in futures:
                future.result()  # a bug in a thread surfaces here, not silently
    except BrokenProcessPool as exc:
        raise pool_died("curate teach") from exc
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    results = {**answered, **work.results}
    failed = sum(1 for e in results.values() if e["status"] == "failed")
    return {"entries": results, "failed": failed, "fingerprint": fingerprint}


# --------------------------------------------------------------------------- 3. verify


class Verifier:
    """The training scorers, applied to a teacher trace (one instance reuses the embedder)."""

    def __init__(self, recipe):

        self.settings = recipe.curate
        self.tar = build_tar_reward(recipe.tar, recipe.judge)
        self.extractor = self.tar.extractor
        self.checker = self.tar.checker or plugins.make_consistency("rule")

    def first_problem(self, record: dict, entry: dict) -> str | None:
        """Why a trace is rejected (before TAR), or None when these checks pass."""

        completion, kind, opts = entry["completion"], record["answer_type"], record["options"]
        if format_reward([completion])[0] != 1.0:
            return "format: not <think>..</think><answer>..</answer>"
        accuracy = accuracy_reward([completion], answer=[record["answer"]], answer_type=[kind], options=[opts],
                                   regression=["mra"])[0]  # correctness as benchmarks score it
        needed = 1.0 if kind in ("multiple_choice", "numeric") else self.settings.min_graded_accuracy
        if accuracy is None or accuracy < needed:
            return "answer wrong"
        parts = parse_completion(completion)
        if self.checker.check(parts.think, parts.answer, kind, opts) is not True:
            return "think and answer disagree"
        spans = [parse_time_key(k) for k in entry["temporal_grounding"]]
        if any(span is None for span in spans):
            return "grounding key unparseable"
        limit = record["duration"] + END_TOLERANCE_S
        if any(span[1] > limit for span in spans):
            return "grounding time after the video ends"
        try:
            claims = self.extractor.extract(parts.think)
        except JudgeFailure:  # an LLM extractor that failed: no verdict, so no data
            return "claim extraction failed"
        if any(claim.end > limit for claim in claims):
            return "cites a time after the video ends"
        if len(claims) < self.settings.min_claims:
            return "too few cited times"
        return None

    def tar_values(self, pairs: Sequence[tuple[dict, dict]]) -> list[float | None]:
        if not pairs:
            return []
        records, entries = zip(*pairs)
        details = self.tar.details([e["completion"] for e in entries],
                                   temporal_grounding=[e["temporal_grounding"] for e in entries],
                                   answer=[r["answer"] for r in records],
                                   answer_type=[r["answer_type"] for r in records],
                                   options=[r["options"] for r in records])
        return [d.value for d in details]


TEACH_FAILED = "teacher call failed (asked again on the next run)"


def verify(recipe, ws: Workspace, taught: dict, progress: Progress = _no_progress) -> dict:
    records = ws.load("ingest")["records"]
    entries = taught["entries"]
    settings = recipe.curate
    fingerprint = digest({"ingest": ws.load("ingest")["fingerprint"], "teach": taught["fingerprint"],
                          "entries": [entries.get(r["key"]) for r in records],
                          "tar": _section(recipe.tar), "min_claims": settings.min_claims,
                          "min_tar": settings.min_tar, "graded": settings.min_graded_accuracy})
    cached = ws.cached("verify", fingerprint)
    if cached is not None:
        progress("verify", len(records), len(records))
        return cached
    verifier = Verifier(recipe)
    rejected, passing = [], []
    for done, record in enumerate(records, 1):
        entry = entries.get(record["key"])
        if entry is None or entry["status"] == "failed":
            rejected.append(TEACH_FAILED)
        elif entry["status"] == "unusable":
            rejected.append(entry["reason"])
        else:
            problem = verifier.first_problem(record, entry)
            if problem:
                rejected.append(problem)
            else:
                passing.append((record, entry))
        progress("verify", done, len(records))
    kept = []
    for (record, entry), value in zip(passing, verifier.tar_values(passing)):
        if value is None or value < settings.min_tar:
            rejected.append("TAR against its own grounding below min_tar")
            continue
        kept.append({**record, "completion": entry["completion"],
                     "temporal_grounding": entry["temporal_grounding"], "tar": round(value, 6)})
    # Incomplete (so verified again next run) while a teacher call or an LLM extractor failed.
    complete = taught["failed"] == 0 and "claim extraction failed" not in rejected
    state = {"fingerprint": fingerprint, "complete": complete, "records": kept,
             "stats": stage_stats(records, kept, rejected)}
    write_json(ws.path("verify"), state)
    return state


# --------------------------------------------------------------------------- 4. rank


RATE_FAILED = "difficulty rating failed (asked again on the next run)"


def judge_difficulties(records: Sequence[dict], teacher, settings, progress: Progress) -> list[float | None]:
    """(rating - 1) / 4 from the teacher's 1-5 rating; None when rating failed."""

    def rate(record: dict) -> float | None:
        think = parse_completion(record["completion"]).think or ""
        rating = parse_rating(teacher.rate(record["question"], record["options"], record["answer"], think))
        return None if rating is None else (rating - 1) / 4

    out = []
    with ThreadPoolExecutor(max_workers=settings.concurrency) as threads:
        for value in threads.map(rate, records):
            out.append(value)
            progress("rank", len(out), len(records))
    return out


def pass_rate_difficulties(records: Sequence[dict], recipe, progress: Progress,
                           engine=None) -> list[float | None]:
    """1 - mean accuracy of k sampled answers of the base model (the eval engine, `[eval] mode`).

    Each round sets the engine's recipe to a new `trainer.seed`, which the built-in transformers
    engine samples with; an engine plugin that seeds otherwise still gives k samples at
    `pass_rate_temperature`."""

    c = recipe.curate
    recipe = with_changes(recipe, "eval", temperature=c.pass_rate_temperature)
    engine = engine or make_engine(recipe)
    root = Path(c.video_dir)
    sampler = video_settings(recipe.video)
    scores: list[list[float]] = [[] for _ in records]
    total = len(records) * c.pass_rate_k
    for k in range(c.pass_rate_k):
        # A different seed per round: the k answers are k independent samples.
        engine.recipe = with_changes(recipe, "trainer", seed=recipe.trainer.seed + k)
        for i, record in enumerate(records):
            video = sampler.sample(root / record["video"], start=record["start"], end=record["end"],
                                   subtitles=record["subtitles"] if sampler.subtitles else None)
            sample = Sample(id=record["key"], video=record["video"], question=record["question"],
                            options=record["options"])
            text = engine.run([(video, sample.question, sample.options or None)], vas=False)[0].text
            # Scored as `vr2 eval` scores it: a direct-mode reply is the answer itself.
            text = as_scored_completion(text, recipe.eval.mode)
            value = accuracy_reward([text], answer=[record["answer"]], answer_type=[record["answer_type"]],
                                    options=[record["options"]], regression=["mra"])[0]
            scores[i].append(float(value or 0.0))
            progress("rank", k * len(records) + i + 1, total)
    return [1.0 - sum(s) / len(s) for s in scores]


def rank(recipe, ws: Workspace, teacher, progress: Progress = _no_progress, engine=None) -> dict:
    verified = ws.load("verify")
    records = verified["records"]
    c = recipe.curate
    method = {"rank": c.rank, "min": c.min_difficulty, "max": c.max_difficulty}
    if c.rank == "judge":
        method["teacher"] = teacher_fingerprint(recipe, teacher)
    if c.rank == "pass_rate":
        method.update(k=c.pass_rate_k, t=c.pass_rate_temperature, model=recipe.model.name_or_path,
                      seed=recipe.trainer.seed, eval=_section(recipe.eval))
    fingerprint = digest({"verify": verified["fingerprint"], "method": method})
    cached = ws.cached("rank", fingerprint)
    if cached is not None:
        progress("rank", len(records), len(records))
        return cached
    if c.rank == "judge":
        difficulties = judge_difficulties(records, teacher, c, progress)
    elif c.rank == "pass_rate":
        difficulties = pass_rate_difficulties(records, recipe, progress, engine)
    else:
        difficulties = [None] * len(records)
        progress("rank", len(records), len(records))
    kept, rejected = [], []
    for record, value in zip(records, difficulties):
        if c.rank != "none" and value is None:
            rejected.append(RATE_FAILED)
        elif value is not None and value < c.min_difficulty:
            rejected.append("too easy (difficulty below min_difficulty)")
        elif value is not None and value > c.max_difficulty:
            rejected.append("too hard (difficulty above max_difficulty)")
        else:
            kept.append({**record, "difficulty": value})
    complete = verified.get("complete", True) and RATE_FAILED not in rejected
    state = {"fingerprint": fingerprint, "complete": complete, "records": kept,
             "stats": stage_stats(records, kept, rejected)}
    write_json(ws.path("rank"), state)
    return state


# --------------------------------------------------------------------------- 5. split


def _order(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode("utf-8")).hexdigest()


def _apportion(sizes: dict[Any, int], total: int) -> dict[Any, int]:
    """Integer shares of `total` proportional to `sizes` (largest remainder, ties by name)."""
    n = sum(sizes.values())
    if n == 0:
        return {k: 0 for k in sizes}
    exact = {k: total * v / n for k, v in sizes.items()}
    out = {k: int(v) for k, v in exact.items()}
    rest = sorted(sizes, key=lambda k: (-(exact[k] - out[k]), str(k)))
    for k in rest[: total - sum(out.values())]:
        out[k] += 1
    return out


def _bin(difficulty: float | None) -> int:
    return -1 if difficulty is None else min(4, int(difficulty * 5))


def split_records(records: Sequence[dict], settings) -> tuple[list[dict], list[dict]]:
    """(sft, grpo), stratified by source and difficulty, deterministic for a seed.

    The GRPO share of each stratum is apportioned from round(N * (1 - sft_fraction)). With
    `grpo_end = "hard"` (the default) a stratum is its source, ordered by difficulty, and GRPO
    takes its hardest samples (so RL spends its rollouts where SFT alone is least sure); "easy"
    takes the easiest; "random" stratifies by source and difficulty bin (fifths) and takes a
    seeded random part of each. Ties in difficulty are broken by a hash of (seed, key).
    """
    by_random = settings.grpo_end == "random" or all(r.get("difficulty") is None for r in records)
    strata: dict[Any, list[dict]] = defaultdict(list)
    for r in records:
        strata[(r["source"], _bin(r.get("difficulty"))) if by_random else r["source"]].append(r)
    want = _apportion({k: len(v) for k, v in strata.items()},
                      round(len(records) * (1 - settings.sft_fraction)))
    grpo_keys = set()
    for name, group in strata.items():
        if by_random:
            group = sorted(group, key=lambda r: _order(settings.split_seed, r["key"]))
        else:
            sign = -1 if settings.grpo_end == "hard" else 1
            group = sorted(group, key=lambda r: (sign * r["difficulty"], _order(settings.split_seed, r["key"])))
        grpo_keys.update(r["key"] for r in group[: want[name]])
    sft = [r for r in records if r["key"] not in grpo_keys]
    grpo = [r for r in records if r["key"] in grpo_keys]
    return sft, grpo


def cap_records(records: list[dict], settings) -> tuple[list[dict], int]:
    """At most `max_samples`, hardest first (ties by seeded hash); returns (kept, dropped)."""
    if not settings.max_samples or len(records) <= settings.max_samples:
        return records, 0
    ranked = sorted(records, key=lambda r: (-(r.get("difficulty") or 0.0), _order(settings.split_seed, r["key"])))
    keep = {r["key"] for r in ranked[: settings.max_samples]}
    return [r for r in records if r["key"] in keep], len(records) - len(keep)


# --------------------------------------------------------------------------- joining shards


def shard_sets(out: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = defaultdict(list)
    for path in sorted((out / "work").glob("shard-*-of-*")):
        parts = path.name.split("-")
        if len(parts) == 4 and parts[1].isdigit() and parts[3].isdigit():
            found[int(parts[3])].append(path)
    return found


def join_shards(out: Path, count: int | None) -> tuple[list[dict], dict]:
    """Every shard's ranked records (sorted by key) and stage stats summed over shards."""
    sets = shard_sets(out)
    if count is None:
        if len(sets) != 1:
            raise Vr2Error(f"{out / 'work'}: found shard sets for N = {sorted(sets) or 'none'}; "
                           f"name one with --shard 0/N")
        count = next(iter(sets))
    records, stats, load = [], {s: {"in": Counter(), "out": Counter(), "rejections": Counter()}
                                for s in SHARD_STAGES if s != "teach"}, None
    complete = True
    for index in range(count):
        ws = Workspace(out, Shard(index, count))
        for stage in ("ingest", "verify", "rank"):
            if not ws.path(stage).is_file():
                raise Vr2Error(f"{ws.dir}: shard {index}/{count} has not finished '{stage}'; "
                               f"run vr2 curate RECIPE --shard {index}/{count}")
            state = read_json(ws.path(stage))
            for part in ("in", "out", "rejections"):
                stats[stage][part].update(state["stats"][part])
            if stage == "ingest" and load is None:
                load = state["load"]
            if stage == "rank":
                # Failed teacher calls are rejections now and asked again on the next run.
                complete = complete and state.get("complete", True)
                records += state["records"]
    records.sort(key=lambda r: r["key"])
    joined = {stage: {part: dict(sorted(v.items())) for part, v in s.items()} for stage, s in stats.items()}
    return records, {"load": load, "stages": joined, "shards": count, "complete": complete}


# --------------------------------------------------------------------------- 6. write


def release_row(record: dict, grpo: bool) -> dict:
    """A row of the released Video-R2 format (what `vr2 sft` / `vr2 grpo` read)."""
    row = {"id": record["key"], "video": record["video"],
           "conversations": [{"from": "human", "value": "<video>\n" + format_question(record["question"], record["options"])},
                             {"from": "assistant", "value": record["completion"]}],
           "answer_type": record["answer_type"], "source": record["source"],
           "source_id": record["source_id"], "difficulty": record.get("difficulty")}
    if record.get("start") is not None:
        row["start"] = record["start"]
    if record.get("end") is not None:
        row["end"] = record["end"]
    if grpo:
        row["temporal_grounding"] = record["temporal_grounding"]
    return row


def reasoning_tokens(records: Sequence[dict], tokenizer_path: str) -> list[int]:
    if not records:
        return []
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path, local_files_only=True)
    except ImportError:
        raise Vr2Error("reasoning lengths need transformers: pip install transformers") from None
    except (OSError, ValueError) as error:
        raise Vr2Error(f"curate.tokenizer: cannot load a tokenizer from '{tokenizer_path}' ({error})") from None
    thinks = [parse_completion(r["completion"]).think or "" for r in records]
    return [len(ids) for ids in tokenizer(thinks, add_special_tokens=False)["input_ids"]]


def summary(values: Sequence[float]) -> dict:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {"count": n, "mean": round(sum(ordered) / n, 3), "median": round(median, 3),
            "min": round(ordered[0], 3), "max": round(ordered[-1], 3)}


def histogram(values: Sequence[float], edges: Sequence[float]) -> dict[str, int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also takes everything above."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = max(0, min(len(counts) - 1, next((j for j in range(len(counts)) if v < edges[j + 1]), len(counts) - 1)))
        counts[i] += 1
    return {f"{edges[i]:g}-{edges[i + 1]:g}": counts[i] for i in range(len(counts))}


DURATION_EDGES = (0, 15, 30, 60, 120, 180, 300, 600, float("inf"))
TOKEN_EDGES = (0, 100, 200, 300, 400, 500, 600, 800, 1000, float("inf"))
DIFFICULTY_EDGES = (0, 0.2, 0.4, 0.6, 0.8, 1.0000001)


def build_manifest(recipe, teacher_info: dict, sft: list[dict], grpo: list[dict], joined: dict,
                   capped: int, tokens: list[int]) -> dict:
    final = sft + grpo
    stages = joined["stages"]
    per_source: dict[str, dict] = defaultdict(dict)
    for source, n in (joined["load"] or {}).get("loaded", {}).items():
        per_source[source]["loaded"] = n
    for stage, s in stages.items():
        for source, n in s["out"].items():
            per_source[source][stage] = n
    for name, rows in (("sft", sft), ("grpo", grpo)):
        for source, n in Counter(r["source"] for r in rows).items():
            per_source[source][name] = n
    difficulties = [r["difficulty"] for r in final if r.get("difficulty") is not None]
    durations = [r["duration"] for r in final]
    load = joined["load"] or {}
    rejections = {stage: s["rejections"] for stage, s in stages.items()}
    if capped:
        rejections["split"] = {"over max_samples": capped}
    return {
        "recipe": recipe.name,
        "counts": {"per_source": {k: per_source[k] for k in sorted(per_source)},
                   "samples": {"sft": len(sft), "grpo": len(grpo), "total": len(final)},
                   "videos": {"sft": len({r["video"] for r in sft}), "grpo": len({r["video"] for r in grpo}),
                              "total": len({r["video"] for r in final})}},
        "bad_rows": {"count": load.get("bad_rows", 0), "listed": load.get("bad_rows_listed", [])},
        "duplicates": dict(sorted(load.get("duplicates", {}).items())),
        "rejections": rejections,
        "video_duration_s": {**summary(durations), "histogram": histogram(durations, DURATION_EDGES)},
        "reasoning_tokens": {**summary(tokens), "histogram": histogram(tokens, TOKEN_EDGES),
                             "tokenizer": tokenizer_of(recipe)},
        "difficulty": {**summary(difficulties), "method": recipe.curate.rank,
                       "histogram": histogram(difficulties, DIFFICULTY_EDGES)},
        "answer_types": dict(sorted(Counter(r["answer_type"] for r in final).items())),
        "settings": {"curate": _section(recipe.curate), "video": _section(recipe.video),
                     "tar": _section(recipe.tar), "model": recipe.model.name_or_path},
        "teacher": teacher_info,
        # False while teacher calls or ratings failed: run again to ask them again.
        "complete": joined["complete"],
    }


def tokenizer_of(recipe) -> str:
    return recipe.curate.tokenizer or recipe.model.name_or_path


def split_and_write(recipe, out: Path, count: int | None, teacher_info: dict,
                    progress: Progress = _no_progress, write: bool = True) -> dict:
    """Join the shards, split, and (with `write`) write the datasets, manifest and report."""
    if write:
        check_output(out)
    records, joined = join_shards(out, count)
    records, capped = cap_records(records, recipe.curate)
    sft, grpo = split_records(records, recipe.curate)
    progress("split", 1, 1)
    write_json(out / "work" / "split.json", {"sft": [r["key"] for r in sft], "grpo": [r["key"] for r in grpo]})
    if not write:
        return {"sft": len(sft), "grpo": len(grpo)}
    tokens = reasoning_tokens(sft + grpo, tokenizer_of(recipe))
    manifest = build_manifest(recipe, teacher_info, sft, grpo, joined, capped, tokens)
    write_json(out / "sft.json", [release_row(r, False) for r in sft])
    write_json(out / "grpo.json", [release_row(r, True) for r in grpo])
    write_json(out / "manifest.json", manifest, sort_keys=False)  # histogram bins stay in order
    tmp = out / ".report.html.tmp"
    tmp.write_text(render_report(manifest), encoding="utf-8")
    os.replace(tmp, out / "report.html")
    progress("write", 1, 1)
    return manifest


# --------------------------------------------------------------------------- the whole run


def check_output(out: Path) -> None:
    """Refuse to replace datasets that an earlier `vr2 curate` did not write (no manifest beside them)."""
    if (out / "manifest.json").is_file():
        return
    for name in ("sft.json", "grpo.json"):
        if (out / name).exists():
            raise Vr2Error(f"{out / name}: exists and was not written by vr2 curate (no manifest.json beside it); "
                           f"choose another curate.output_dir")


def teacher_info(recipe, teacher) -> dict:
    return {"plugin": recipe.curate.teacher, "model": getattr(teacher, "model", ""),
            "url": getattr(teacher, "url", ""), "temperature": recipe.curate.temperature,
            "seed": recipe.curate.seed}


def cache_dir(recipe) -> Path:
    return Path(recipe.curate.teacher_cache_dir or Path(recipe.curate.output_dir) / "teacher-cache")


def plan(stage: str | None, shard: Shard | None) -> list[str]:
    """The stages a command runs."""
    if stage is not None and stage not in STAGES:
        raise Vr2Error(f"--stage {stage}: unknown stage (allowed: {', '.join(STAGES)})")
    if stage == "merge":
        return ["merge"]
    if shard is not None and shard.count > 1 and stage in ("split", "write"):
        raise Vr2Error(f"--stage {stage} joins all shards: run --stage merge once every shard is done")
    if stage is not None:
        return [stage]
    return list(SHARD_STAGES) if shard is not None and shard.count > 1 else [*SHARD_STAGES, "split", "write"]


@dataclass
class RunResult:
    stages: list[str]
    counts: dict
    teacher_failures: int = 0
    teacher_stats: dict | None = None
    bad_rows: int = 0
    bad_rows_listed: list = field(default_factory=list)


def run(recipe, *, stage: str | None = None, shard: Shard | None = None, progress: Progress = _no_progress,
        teacher=None, engine=None) -> RunResult:
    """Run the stages `plan` names; returns what was done and how many samples each kept."""
    stages = plan(stage, shard)
    out = Path(recipe.curate.output_dir)
    ws = Workspace(out, shard or Shard())
    needs_teacher = any(s in stages for s in ("teach", "verify", "write", "merge")) or (
        "rank" in stages and recipe.curate.rank == "judge")
    if teacher is None and needs_teacher:
        teacher = make_teacher(recipe.curate, cache_dir(recipe))
    counts: dict[str, Any] = {}
    failures = bad_rows = 0
    listed: list = []
    taught = None
    for name in stages:
        if name == "ingest":
            state = ingest(recipe, ws, progress)
            counts["ingest"] = len(state["records"])
            bad_rows, listed = state["load"]["bad_rows"], state["load"]["bad_rows_listed"]
        elif name == "teach":
            taught = teach(recipe, ws, teacher, progress)
            failures = taught["failed"]
            counts["teach"] = sum(1 for e in taught["entries"].values() if e["status"] == "ok")
        elif name == "verify":
            taught = taught or teach_state(recipe, ws, teacher)
            counts["verify"] = len(verify(recipe, ws, taught, progress)["records"])
        elif name == "rank":
            counts["rank"] = len(rank(recipe, ws, teacher, progress, engine)["records"])
        elif name == "split":
            counts.update(split_and_write(recipe, out, _count(shard, name), {}, progress, write=False))
        else:  # write, merge
            manifest = split_and_write(recipe, out, _count(shard, name), teacher_info(recipe, teacher), progress)
            counts.update(manifest["counts"]["samples"])
    stats = getattr(teacher, "stats", None)
    return RunResult(stages, counts, failures, stats.as_dict() if hasattr(stats, "as_dict") else None, bad_rows,
                     listed)


def _count(shard: Shard | None, stage: str) -> int | None:
    """How many shards to join: the named N, one for a plain run, or (merge) whatever is there."""
    if shard is not None:
        return shard.count
    return None if stage == "merge" else 1


def teach_state(recipe, ws: Workspace, teacher) -> dict:
    """The journalled teach results, without asking the teacher anything."""
    fingerprint = teacher_fingerprint(recipe, teacher)
    entries = {e["key"]: e for e in read_journal(ws.path("teach")) if e.get("teacher") == fingerprint}
    records = ws.load("ingest")["records"]
    failed = sum(1 for r in records if entries.get(r["key"], {"status": "failed"})["status"] == "failed")
    return {"entries": entries, "failed": failed, "fingerprint": fingerprint}
