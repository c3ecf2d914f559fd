"""`vr2 curate`: build the SFT and GRPO sets from video-QA sources with a teacher, verified.

The pipeline, top to bottom (each stage keeps its results in the shard's database,
`<output_dir>/work/<shard>/state.sqlite` (`vr2.curate.state`), row by row as they are made, so a
run that stops anywhere resumes where it stopped and a stage whose inputs did not change is not
run again):

1. ingest: read every `[curate] sources` file (`vr2.curate.sources`), drop duplicates (same video and
   question), find each video under `video_dir` (by its path, else by its stem in any container
   PyAV reads: .mp4, .mkv, .webm, ...), probe it (readable, duration) in a process pool and keep
   those within the recipe's duration limits. Bad rows are counted and listed with file, row
   and reason.
2. teach: the teacher (`vr2.curate.teacher`) writes `<think>..</think><answer>..</answer>` and a
   reference grounding for each sample. Frames are sampled in a process pool, calls run in a
   thread pool; every reply is stored as it arrives, so a killed run loses nothing, and the
   teacher's cache means nothing answered is asked again. A failed call, or a reply that cannot
   be read, is stored as failed and asked again on the next run; it never becomes data.
3. verify: a trace is kept only when vr2's own scorers, the same functions training uses,
   accept it: format reward 1, accuracy reward (1 for choices and numbers, at least
   `min_graded_accuracy` otherwise), think and answer consistent (the TAR gate's checker), every
   cited time inside the video, at least `min_claims` cited times, grounding keys parseable,
   and gated TAR of the trace against its own grounding at least `min_tar`. Each verdict is
   stored with a digest of what it was computed from; a rerun verifies only what changed.
4. rank: difficulty in [0, 1] by `judge` (the teacher rates 1-5, difficulty = (rating - 1) / 4)
   or `pass_rate` (k answers of the `[model]` base model through the eval engine; difficulty =
   1 - mean accuracy); samples outside [min_difficulty, max_difficulty] are dropped. Each rating
   (each of the k answers) is stored as it is made, so ranking resumes like teach.
5. split and 6. write: `vr2.curate.output` (the released Video-R2 format, manifest, report).

Sharding: `--shard i/N` runs ingest to rank on the videos whose path hash falls in shard i, in
`work/shard-i-of-N/`; `--stage merge` joins the N shards and runs split and write, refusing shards
made with other settings, shards that hold another shard's samples and duplicate keys. A run
without `--shard` is shard 0/1 and goes through the same join, so the outputs of N shards merged
are byte-identical to a single-machine run. Each shard folder and the output folder are locked
while a run uses them (`vr2.curate.state.FolderLock`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr2.config import redact_urls, section_dict, with_changes
from vr2.curate.output import (  # noqa: F401  (split and cap are part of this module's interface)
    cap_records,
    check_output,
    shard_settings,
    split_and_write,
    split_records,
)
from vr2.curate.sources import SourceSpec, load_source
from vr2.curate.state import FolderLock, Shard, State, dumps
from vr2.curate.teacher import (
    Teaching,
    endpoint_of,
    make_teacher,
    parse_rating,
    parse_teaching,
    prepare_request,
    sample_frames,
)
from vr2.data.datasets import BadRow, Skipped, resolve_video, subtitle_for
from vr2.errors import JudgeFailure, Vr2Error
from vr2.eval.metrics import as_scored_completion
from vr2.eval.runner import make_engine
from vr2.plugins import registry as plugins
from vr2.processes import pool_died, process_pool
from vr2.samples import Sample
from vr2.scoring.answers import normalize_text
from vr2.scoring.format import parse_completion
from vr2.scoring.rewards import accuracy_reward, build_tar_reward, format_reward
from vr2.scoring.timestamps import parse_time_key
from vr2.video.sampling import probe_video, video_settings

__all__ = ["STAGES", "Shard", "Workspace", "ingest", "teach", "verify", "rank", "run", "plan", "check_output",
           "split_and_write", "journal_entries"]

STAGES = ("ingest", "teach", "verify", "rank", "split", "write", "merge")
SHARD_STAGES = ("ingest", "teach", "verify", "rank")
# A cited time may lie this far past the stated duration (headers round; frames end early).
END_TOLERANCE_S = 1.0
LISTED_BAD_ROWS = 1000
PROMPT_VERSION = 1  # bump when teacher prompts change, so stored replies are not reused
# Containers PyAV (FFmpeg) reads that the sources' videos come in; a row's video is found by its
# stem among these when the named file is not there (ActivityNet ships .mp4, .mkv and .webm).
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts")
PROBE_CHUNK = 256  # probed videos stored per commit
TAR_CHUNK = 32  # traces scored per TAR batch

# Progress callback: (stage, done, total).
Progress = Callable[[str, int, int], None]


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


# --------------------------------------------------------------------------- shards and folders


def digest(value: Any) -> str:
    return hashlib.sha256(dumps(value, default=str).encode("utf-8")).hexdigest()


class Workspace:
    """One shard's folder and database."""

    def __init__(self, out: Path, shard: Shard):
        self.out = out
        self.shard = shard
        self.dir = out / "work" / shard.name
        self._state: State | None = None

    @property
    def state(self) -> State:
        if self._state is None:
            self._state = State(self.dir)
        return self._state

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None

    def require(self, stage: str) -> dict:
        done = self.state.stage(stage)
        if done is None:
            raise Vr2Error(f"{self.dir}: stage '{stage}' has not run for {self.shard.name}; run it first "
                           f"(vr2 curate RECIPE --stage {stage})")
        return done


def stage_stats(inputs: Counter, kept: Counter, rejected: Counter) -> dict:
    """Per-source counts in and out, and rejections by reason."""
    return {"in": dict(sorted(inputs.items())), "out": dict(sorted(kept.items())),
            "rejections": dict(sorted(rejected.items()))}


def _stats(counters: dict) -> dict:
    return stage_stats(counters["in"], counters["out"], counters["rejections"])


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


class VideoFinder:
    """A row's video under the video folder: the first candidate path that is a file, else a file
    of the same stem in a container PyAV reads, else the first candidate (reported missing when
    probed). Folder listings are read once per run."""

    def __init__(self, root: Path):
        self.root = root
        self.listings: dict[Path, dict[str, str]] = {}

    def find(self, candidates: Sequence[str]) -> str:
        paths = [resolve_video(self.root, c) for c in candidates]
        for path in paths:
            try:
                if path.is_file():
                    return self._relative(path)
            except OSError as error:  # e.g. a name over 255 bytes
                raise BadRow(f"video path unusable ({error.strerror or error})") from None
        for path in paths:
            other = self._listing(path.parent).get(path.stem)
            if other:
                return self._relative(path.with_name(other))
        return self._relative(paths[0])

    def _listing(self, folder: Path) -> dict[str, str]:
        if folder not in self.listings:
            found: dict[str, str] = {}
            try:
                for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                    stem, suffix = os.path.splitext(entry.name)
                    if suffix.lower() in VIDEO_SUFFIXES and entry.is_file():
                        found.setdefault(stem, entry.name)
            except OSError:  # no such folder: nothing to find there
                pass
            self.listings[folder] = found
        return self.listings[folder]

    def _relative(self, path: Path) -> str:
        return path.relative_to(os.path.normpath(os.path.abspath(self.root))).as_posix()


def _video_of(sample, spec, finder: VideoFinder) -> str:
    prefix = Path(spec.videos) if spec.videos else Path()
    candidates = [str(prefix / c) for c in sample.extra.get("video_candidates", [sample.video])]
    return finder.find(candidates)


def _same(video: str, question: str, options: Sequence[str]) -> bytes:
    """What makes two rows the same question: its video, its normalised words, its options."""
    return hashlib.sha256(dumps([video, normalize_text(question), list(options)]).encode("utf-8")).digest()[:16]


def load_sources(settings, state: State, shard: Shard) -> dict:
    """Read every source into the `loaded` table (duplicates dropped; all shards' rows, marked
    whether this shard owns them); returns the load statistics."""

    if not settings.sources:
        raise Vr2Error("curate.sources: no sources; list KIND=FILE entries in [curate] sources")
    if not settings.video_dir or not Path(settings.video_dir).is_dir():
        raise Vr2Error(f"curate.video_dir: video folder '{settings.video_dir}' not found")
    finder = VideoFinder(Path(settings.video_dir))
    bad, bad_count, loaded, duplicates = [], 0, Counter(), Counter()
    with state.transaction():
        state.db.execute("DELETE FROM loaded")
        for spec in map(SourceSpec.parse, settings.sources):
            for item in load_source(spec, settings):
                problem = None
                if isinstance(item, Skipped):
                    problem = (item.row, item.reason)
                else:
                    try:
                        video = _video_of(item, spec, finder)
                    except BadRow as error:
                        problem = (item.extra["source_id"], str(error))
                if problem:
                    bad_count += 1
                    if len(bad) < LISTED_BAD_ROWS:
                        bad.append({"file": str(spec.file), "row": problem[0], "reason": problem[1]})
                    continue
                record = _record(item, spec, video, str(spec.file))
                added = state.db.execute(
                    "INSERT OR IGNORE INTO loaded VALUES (?, ?, ?, ?, ?, ?)",
                    (item.id, _same(video, item.question, item.options), int(shard.owns(video)), spec.kind,
                     video, dumps(record))).rowcount
                (loaded if added else duplicates)[spec.kind] += 1
    return {"loaded": dict(sorted(loaded.items())), "duplicates": dict(sorted(duplicates.items())),
            "bad_rows": bad_count, "bad_rows_listed": bad}


def _subtitle_of(settings, video: str) -> str | None:
    return subtitle_for(settings.subtitles_dir or None, video)


def _probe_key(path: Path) -> str:
    """The probe cache's key: the file's absolute path, size and modification time."""
    try:
        info = path.stat()
        return f"{os.path.abspath(path)}|{info.st_size}|{info.st_mtime_ns}"
    except OSError:
        return f"{os.path.abspath(path)}|missing"


def probe_all(settings, state: State, videos: list[str], progress: Progress) -> dict[str, tuple]:
    """{video: (duration, problem)}; probes only what the database has not seen, storing each
    chunk as it is done (a killed ingest resumes its probing)."""
    root = Path(settings.video_dir)
    keys = {v: _probe_key(root / v) for v in videos}
    known = {}
    for video, key in keys.items():
        rows = state.execute("SELECT duration, problem FROM videos WHERE path = ?", (key,))
        if rows:
            known[video] = rows[0]
    todo = [v for v in videos if v not in known]
    progress("ingest", len(known), len(videos))
    for start in range(0, len(todo), PROBE_CHUNK):
        chunk = todo[start:start + PROBE_CHUNK]
        done = len(known)
        results = _pool_map(_probe, [str(root / v) for v in chunk], worker_count(settings),
                            lambda n: progress("ingest", done + n, len(videos)))
        state.executemany("INSERT OR REPLACE INTO videos VALUES (?, ?, ?)",
                          [(keys[v], d, p) for v, (d, p) in zip(chunk, results)])
        known.update(zip(chunk, results))
    return known


def ingest(recipe, ws: Workspace, progress: Progress = _no_progress) -> dict:
    """Load, deduplicate, find and probe; returns {count, load, stats} of this shard."""
    settings = recipe.curate
    state = ws.state
    load_stats = load_sources(settings, state, ws.shard)
    mine = "FROM loaded WHERE mine = 1"
    fingerprint = hashlib.sha256(dumps({"min": settings.min_duration, "max": settings.max_duration,
                                        "root": str(Path(settings.video_dir).resolve()),
                                        "subtitles": settings.subtitles_dir}).encode("utf-8"))
    for key, data in state.pages(f"SELECT key, data {mine} AND key > ? ORDER BY key LIMIT ?"):
        fingerprint.update(data.encode("utf-8"))
    fingerprint = fingerprint.hexdigest()
    cached = state.stage("ingest")
    if cached and cached["fingerprint"] == fingerprint:
        count = cached["info"]["count"]
        progress("ingest", count, count)
        return {**cached["info"], "load": load_stats}
    state.forget("ingest", "verify", "rank")
    videos = [v for (v,) in state.execute(f"SELECT DISTINCT video {mine} ORDER BY video")]
    durations = probe_all(settings, state, videos, progress)
    inputs, kept, rejected = Counter(), Counter(), Counter()
    with state.transaction():
        state.db.execute("DELETE FROM records")
    for key, source, video, data in state.pages(f"SELECT key, source, video, data {mine} AND key > ? "
                                                f"ORDER BY key LIMIT ?"):
        inputs[source] += 1
        duration, problem = durations[video]
        problem = problem or _duration_problem(duration, settings)
        if problem:
            rejected[problem] += 1
            continue
        record = {**state.json(data, f"loaded {key}"), "duration": duration,
                  "subtitles": _subtitle_of(settings, video)}
        state.execute("INSERT INTO records VALUES (?, ?, ?)", (key, source, dumps(record)))
        kept[source] += 1
    info = {"count": sum(kept.values()), "load": load_stats, "stats": stage_stats(inputs, kept, rejected)}
    state.finish("ingest", fingerprint, True, info)
    return info


def _duration_problem(duration: float, settings) -> str | None:
    if duration < settings.min_duration:
        return "video shorter than min_duration"
    if settings.max_duration and duration > settings.max_duration:
        return "video longer than max_duration"
    return None


def records(state: State, where: str = "", args: tuple = ()) -> Iterator[dict]:
    """This shard's ingested records in key order, a page at a time."""
    for key, data in state.pages(f"SELECT key, data FROM records WHERE {where or '1'} AND key > ? "
                                 f"ORDER BY key LIMIT ?", args):
        yield state.json(data, f"record {key}")


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


def ranked_records(folder: Path) -> list[dict]:
    """The samples a shard folder's rank stage kept (for tests and inspection)."""
    state = State(folder, create=False)
    try:
        return [state.json(d, "ranked") for (d,) in state.execute("SELECT data FROM ranked ORDER BY key")]
    finally:
        state.close()


def journal_entries(folder: Path) -> list[dict]:
    """Every stored teacher reply of a shard folder (for tests and inspection)."""
    state = State(folder, create=False)
    try:
        return [state.json(d, "teach entry") for (d,) in state.execute("SELECT data FROM teach ORDER BY key")]
    finally:
        state.close()


# Frames sampled for a video (and clip, subtitles, settings) are kept for the next questions on
# it: a source with many questions per video (LLaVA-Video-178K) decodes each video once. Keys are
# in source order, so a video's questions come together; a few entries per worker suffice.
FRAME_CACHE = 4


@functools.lru_cache(maxsize=FRAME_CACHE)
def _frames(path: str, subtitles: str | None, settings: str, width: int, start, end) -> tuple:
    return sample_frames(path, subtitles, json.loads(settings), width, start, end)


def _prepare(job: tuple) -> Any:
    """Frames for one sample (runs in a worker process); a video problem is returned as text."""
    key, record, path, subtitles, settings, width = job
    try:
        frames = _frames(path, subtitles, dumps(settings), width, record.get("start"), record.get("end"))
        return prepare_request(key, record, path, subtitles, settings, width, frames)
    except Vr2Error as error:
        return f"video cannot be sampled: {error}"


UNREADABLE = "teacher reply unreadable (asked again on the next run)"


def _teach_one(teacher, request, key: str, fingerprint: str) -> dict:
    if isinstance(request, str):
        return {"key": key, "teacher": fingerprint, "status": "unusable", "reason": "video cannot be sampled",
                "detail": request}
    reply = teacher.teach(request)
    if reply is None:
        return {"key": key, "teacher": fingerprint, "status": "failed"}
    parsed = parse_teaching(reply)
    endpoint = endpoint_of(reply)
    if not isinstance(parsed, Teaching):  # not data, and not cached: asked again next run
        return {"key": key, "teacher": fingerprint, "status": "failed", "reason": UNREADABLE, "detail": parsed,
                "endpoint": endpoint}
    return {"key": key, "teacher": fingerprint, "status": "ok", "completion": parsed.completion,
            "temporal_grounding": parsed.temporal_grounding, "endpoint": endpoint}


class _Teaching:
    """Frames sampled in a process pool, teacher calls in a thread pool, at most `window`
    samples in flight (so memory holds a window of frames, not the data set's)."""

    def __init__(self, teacher, state: State, fingerprint: str, window: int, progress: Callable[[], None]):
        self.teacher = teacher
        self.state = state
        self.fingerprint = fingerprint
        self.slots = threading.BoundedSemaphore(window)
        self.progress = progress

    def ask(self, key: str, request) -> None:
        """Runs in a thread: wait for the frames, ask the teacher, store the reply at once."""
        try:
            request = request.result() if hasattr(request, "result") else _prepare(request)
            entry = _teach_one(self.teacher, request, key, self.fingerprint)
            self.state.execute("INSERT OR REPLACE INTO teach VALUES (?, ?, ?, ?)",
                               (key, self.fingerprint, entry["status"], dumps(entry)))
            self.progress()
        finally:
            self.slots.release()


TODO_SQL = ("SELECT r.key, r.data FROM records r LEFT JOIN teach t ON t.key = r.key AND t.teacher = ? "
            "WHERE (t.status IS NULL OR t.status = 'failed') AND r.key > ? ORDER BY r.key LIMIT ?")


def teach_counts(state: State, fingerprint: str) -> dict:
    """{total, ok, failed} of this shard's records for one teacher."""
    rows = state.execute("SELECT COALESCE(t.status, 'failed'), COUNT(*) FROM records r LEFT JOIN teach t "
                         "ON t.key = r.key AND t.teacher = ? GROUP BY 1", (fingerprint,))
    counts = dict(rows)
    return {"total": sum(counts.values()), "ok": counts.get("ok", 0), "failed": counts.get("failed", 0),
            "fingerprint": fingerprint}


def teach(recipe, ws: Workspace, teacher, progress: Progress = _no_progress) -> dict:
    """Ask the teacher about every ingested sample not answered yet; returns teach_counts."""
    settings = recipe.curate
    state = ws.state
    ws.require("ingest")
    fingerprint = teacher_fingerprint(recipe, teacher)
    before = teach_counts(state, fingerprint)
    total, counter, lock = before["total"], [before["total"] - before["failed"]], threading.Lock()
    progress("teach", counter[0], total)

    def one_done() -> None:
        with lock:
            counter[0] += 1
            progress("teach", counter[0], total)

    root = Path(settings.video_dir)
    frames = frame_options(recipe)
    work = _Teaching(teacher, state, fingerprint, settings.concurrency * 2, one_done)
    workers = min(worker_count(settings), max(1, before["failed"]))
    pool = process_pool(workers) if workers > 1 and before["failed"] else None
    try:
        with ThreadPoolExecutor(max_workers=settings.concurrency) as threads:
            futures = []
            # The to-do list is read a page at a time; replies stored meanwhile are for keys already
            # passed, so no page repeats or skips one.
            for key, data in state.pages(TODO_SQL, (fingerprint,)):
                r = state.json(data, f"record {key}")
                job = (key, r, str(root / r["video"]), r["subtitles"] if recipe.video.subtitles else None,
                       frames, settings.image_width)
                work.slots.acquire()
                request = pool.submit(_prepare, job) if pool else job
                futures.append(threads.submit(work.ask, key, request))
                futures = _surface_errors(futures)
            for future in futures:
                future.result()  # a bug in a thread surfaces here, not silently
    except BrokenProcessPool as exc:
        raise pool_died("curate teach") from exc
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return teach_counts(state, fingerprint)


def _surface_errors(futures: list) -> list:
    """Drop finished futures (raising what failed in them): memory holds only what is in flight."""
    if len(futures) < 1024:
        return futures
    for future in futures:
        if future.done():
            future.result()
    return [f for f in futures if not f.done()]


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
            return CLAIMS_FAILED
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
CLAIMS_FAILED = "claim extraction failed"
LOW_TAR = "TAR against its own grounding below min_tar"
VERIFY_SQL = ("SELECT r.key, r.source, r.data, t.data, v.inputs, v.retry FROM records r "
              "LEFT JOIN teach t ON t.key = r.key AND t.teacher = ? LEFT JOIN verify v ON v.key = r.key "
              "WHERE r.key > ? ORDER BY r.key LIMIT ?")


def verify_settings(recipe) -> dict:
    c = recipe.curate
    return {"tar": section_dict(recipe.tar), "min_claims": c.min_claims, "min_tar": c.min_tar,
            "graded": c.min_graded_accuracy, "tolerance": END_TOLERANCE_S}


class _Verdicts:
    """Verdicts waiting for their TAR batch, then stored."""

    def __init__(self, recipe, state: State):
        self.recipe, self.state = recipe, state
        self.verifier: Verifier | None = None
        self.passing: list[tuple[str, str, dict, dict]] = []

    def check(self, record: dict, entry: dict) -> str | None:
        if self.verifier is None:  # built only when something needs verifying (loads the embedder)
            self.verifier = Verifier(self.recipe)
        return self.verifier.first_problem(record, entry)

    def store(self, key: str, inputs: str, kept: dict | None, reason: str | None, retry: bool) -> None:
        self.state.execute("INSERT OR REPLACE INTO verify VALUES (?, ?, ?, ?, ?, ?)",
                           (key, inputs, int(kept is not None), reason, int(retry), dumps(kept) if kept else None))

    def add_passing(self, key: str, inputs: str, record: dict, entry: dict) -> None:
        self.passing.append((key, inputs, record, entry))
        if len(self.passing) >= TAR_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.passing:
            return
        values = self.verifier.tar_values([(r, e) for _, _, r, e in self.passing])
        with self.state.transaction():
            for (key, inputs, record, entry), value in zip(self.passing, values):
                if value is None or value < self.recipe.curate.min_tar:
                    self.store(key, inputs, None, LOW_TAR, False)
                else:
                    self.store(key, inputs, {**record, "completion": entry["completion"],
                                             "temporal_grounding": entry["temporal_grounding"],
                                             "tar": round(value, 6)}, None, False)
        self.passing = []


def _entry_problem(entry: dict | None) -> tuple[str, bool] | None:
    """(rejection, asked again?) for a missing, failed or unusable teach entry."""
    if entry is None or entry.get("status") == "failed":
        return (entry or {}).get("reason") or TEACH_FAILED, True
    if entry.get("status") == "unusable":
        return str(entry.get("reason")), False
    return None


def verify(recipe, ws: Workspace, teacher_fp: str, progress: Progress = _no_progress) -> dict:
    """Verify every record whose inputs (record, reply, settings) changed since its last verdict."""
    state = ws.state
    total = ws.require("ingest")["info"]["count"]
    settings_fp = digest(verify_settings(recipe))
    verdicts = _Verdicts(recipe, state)
    done = 0
    for key, _source, data, entry_text, old_inputs, retry in state.pages(VERIFY_SQL, (teacher_fp,)):
        done += 1
        inputs = hashlib.sha256(f"{settings_fp}|{data}|{entry_text}".encode("utf-8")).hexdigest()
        if inputs == old_inputs and not retry:
            progress("verify", done, total)
            continue
        record = state.json(data, f"record {key}")
        entry = state.json(entry_text, f"teach entry {key}") if entry_text else None
        problem = _entry_problem(entry)
        if problem is None:
            reason = verdicts.check(record, entry)
            problem = (reason, reason == CLAIMS_FAILED) if reason else None
        if problem:
            verdicts.store(key, inputs, None, problem[0], problem[1])
        else:
            verdicts.add_passing(key, inputs, record, entry)
        progress("verify", done, total)
    verdicts.flush()
    return _verify_summary(state, teacher_fp)


def _verify_summary(state: State, teacher_fp: str) -> dict:
    stats = {"in": Counter(), "out": Counter(), "rejections": Counter()}
    fingerprint = hashlib.sha256()
    complete = True
    for key, source, inputs, kept, reason, retry in state.pages(
            "SELECT r.key, r.source, v.inputs, v.kept, v.reason, v.retry FROM records r JOIN verify v "
            "ON v.key = r.key WHERE r.key > ? ORDER BY r.key LIMIT ?"):
        stats["in"][source] += 1
        stats["out" if kept else "rejections"][source if kept else reason] += 1
        complete = complete and not retry
        fingerprint.update(f"{key}|{inputs}|{kept}\n".encode("utf-8"))
    info = {"count": sum(stats["out"].values()), "stats": _stats(stats), "teacher": teacher_fp}
    state.finish("verify", fingerprint.hexdigest(), complete, info)
    return {**info, "complete": complete, "fingerprint": fingerprint.hexdigest()}


# --------------------------------------------------------------------------- 4. rank


RATE_FAILED = "difficulty rating failed (asked again on the next run)"
KEPT_SQL = ("SELECT r.key, v.data FROM records r JOIN verify v ON v.key = r.key WHERE v.kept = 1 "
            "AND r.key > ? ORDER BY r.key LIMIT ?")


def kept_records(state: State) -> Iterator[dict]:
    for key, data in state.pages(KEPT_SQL):
        yield state.json(data, f"verified {key}")


def _unrated(state: State, method: str, round_: int) -> Iterator[dict]:
    sql = ("SELECT r.key, v.data FROM records r JOIN verify v ON v.key = r.key LEFT JOIN rank k ON "
           "k.key = r.key AND k.method = ? AND k.round = ? WHERE v.kept = 1 AND k.key IS NULL "
           "AND r.key > ? ORDER BY r.key LIMIT ?")
    for key, data in state.pages(sql, (method, round_)):
        yield state.json(data, f"verified {key}")


def _rated(state: State, method: str, round_: int) -> int:
    return state.one("SELECT COUNT(*) FROM rank k JOIN verify v ON v.key = k.key JOIN records r ON r.key = k.key "
                     "WHERE v.kept = 1 AND k.method = ? AND k.round = ?", (method, round_)) or 0


def judge_difficulties(state: State, method: str, teacher, settings, progress: Progress, total: int) -> None:
    """Store (rating - 1) / 4 of the teacher's 1-5 rating for each unrated sample; a failed or
    unreadable rating is not stored (asked again on the next run)."""

    def rate(record: dict) -> None:
        think = parse_completion(record["completion"]).think or ""
        reply = teacher.rate(record["question"], record["options"], record["answer"], think)
        rating = parse_rating(reply)
        if rating is not None:
            state.execute("INSERT OR REPLACE INTO rank VALUES (?, ?, 0, ?, ?)",
                          (record["key"], method, (rating - 1) / 4, endpoint_of(reply)))

    done = _rated(state, method, 0)
    progress("rank", done, total)
    with ThreadPoolExecutor(max_workers=settings.concurrency) as threads:
        # A window of samples at a time: `map` would take the whole to-do list into memory.
        for batch in batches(_unrated(state, method, 0), settings.concurrency * 8):
            for _ in threads.map(rate, batch):
                done += 1
                progress("rank", done, total)


def pass_rate_difficulties(state: State, method: str, recipe, progress: Progress, total: int,
                           engine=None) -> None:
    """Store the accuracy of each of k sampled answers of the base model (the eval engine,
    `[eval] mode`), one (sample, round) at a time, so ranking resumes where it stopped.

    Each round sets the engine's recipe to a new `trainer.seed`, which the built-in transformers
    engine samples with; an engine plugin that seeds otherwise still gives k samples at
    `pass_rate_temperature`."""

    c = recipe.curate
    recipe = with_changes(recipe, "eval", temperature=c.pass_rate_temperature)
    root = Path(c.video_dir)
    sampler = video_settings(recipe.video)
    done = sum(_rated(state, method, k) for k in range(c.pass_rate_k))
    progress("rank", done, total * c.pass_rate_k)
    for k in range(c.pass_rate_k):
        todo = _unrated(state, method, k)
        first = next(todo, None)
        if first is None:
            continue
        engine = engine or make_engine(recipe)
        # A different seed per round: the k answers are k independent samples.
        engine.recipe = with_changes(recipe, "trainer", seed=recipe.trainer.seed + k)
        for record in [first, *todo]:
            video = sampler.sample(root / record["video"], start=record["start"], end=record["end"],
                                   subtitles=record["subtitles"] if sampler.subtitles else None)
            sample = Sample(id=record["key"], video=record["video"], question=record["question"],
                            options=record["options"])
            text = engine.run([(video, sample.question, sample.options or None)], vas=False)[0].text
            # Scored as `vr2 eval` scores it: a direct-mode reply is the answer itself.
            text = as_scored_completion(text, recipe.eval.mode)
            value = accuracy_reward([text], answer=[record["answer"]], answer_type=[record["answer_type"]],
                                    options=[record["options"]], regression=["mra"])[0]
            state.execute("INSERT OR REPLACE INTO rank VALUES (?, ?, ?, ?, '')",
                          (record["key"], method, k, float(value or 0.0)))
            done += 1
            progress("rank", done, total * c.pass_rate_k)


def rank_method(recipe, teacher) -> dict:
    c = recipe.curate
    method: dict[str, Any] = {"rank": c.rank}
    if c.rank == "judge":
        method["teacher"] = teacher_fingerprint(recipe, teacher)
    if c.rank == "pass_rate":
        method.update(t=c.pass_rate_temperature, model=recipe.model.name_or_path, seed=recipe.trainer.seed,
                      eval=section_dict(recipe.eval))
    return method


def rank(recipe, ws: Workspace, teacher, progress: Progress = _no_progress, engine=None) -> dict:
    state = ws.state
    verified = ws.require("verify")
    c = recipe.curate
    method = digest(rank_method(recipe, teacher))
    rounds = c.pass_rate_k if c.rank == "pass_rate" else 1
    fingerprint = digest({"verify": verified["fingerprint"], "method": method, "rounds": rounds,
                          "min": c.min_difficulty, "max": c.max_difficulty})
    total = verified["info"]["count"]
    cached = state.stage("rank")
    if cached and cached["fingerprint"] == fingerprint and cached["complete"]:
        progress("rank", total, total)
        return {**cached["info"], "complete": True}
    if c.rank == "judge":
        judge_difficulties(state, method, teacher, c, progress, total)
    elif c.rank == "pass_rate":
        pass_rate_difficulties(state, method, recipe, progress, total, engine)
    else:
        progress("rank", total, total)
    return _rank_summary(recipe, state, method, rounds, fingerprint, verified["complete"])


def _difficulty(state: State, key: str, method: str, rounds: int, rank_kind: str) -> float | None:
    values = [v for (v,) in state.execute("SELECT value FROM rank WHERE key = ? AND method = ? AND round < ?",
                                          (key, method, rounds))]
    if rank_kind == "pass_rate":
        return 1.0 - sum(values) / len(values) if len(values) == rounds else None
    return values[0] if values else None


def _rank_summary(recipe, state: State, method: str, rounds: int, fingerprint: str, verified_complete: bool) -> dict:
    c = recipe.curate
    stats = {"in": Counter(), "out": Counter(), "rejections": Counter()}
    with state.transaction():
        state.db.execute("DELETE FROM ranked")
    for record in kept_records(state):
        stats["in"][record["source"]] += 1
        value = None if c.rank == "none" else _difficulty(state, record["key"], method, rounds, c.rank)
        reason = None
        if c.rank != "none" and value is None:
            reason = RATE_FAILED
        elif value is not None and value < c.min_difficulty:
            reason = "too easy (difficulty below min_difficulty)"
        elif value is not None and value > c.max_difficulty:
            reason = "too hard (difficulty above max_difficulty)"
        if reason:
            stats["rejections"][reason] += 1
            continue
        stats["out"][record["source"]] += 1
        state.execute("INSERT INTO ranked VALUES (?, ?, ?, ?, ?)",
                      (record["key"], record["source"], record["video"], value,
                       dumps({**record, "difficulty": value})))
    complete = verified_complete and not stats["rejections"].get(RATE_FAILED)
    info = {"count": sum(stats["out"].values()), "stats": _stats(stats)}
    state.finish("rank", fingerprint, complete, info)
    return {**info, "complete": complete}


# --------------------------------------------------------------------------- the whole run


def teacher_info(recipe, teacher) -> dict:
    urls = getattr(teacher, "urls", None) or [getattr(teacher, "url", "")]
    return {"plugin": recipe.curate.teacher, "model": getattr(teacher, "model", ""),
            "url": redact_urls(urls if len(urls) > 1 else urls[0] or ""),
            "temperature": recipe.curate.temperature, "seed": recipe.curate.seed}


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
    endpoints: dict = field(default_factory=dict)  # teacher endpoint -> {answered, failed} this run


def run(recipe, *, stage: str | None = None, shard: Shard | None = None, progress: Progress = _no_progress,
        teacher=None, engine=None) -> RunResult:
    """Run the stages `plan` names; returns what was done and how many samples each kept."""
    stages = plan(stage, shard)
    out = Path(recipe.curate.output_dir)
    ws = Workspace(out, shard or Shard())
    needs_teacher = any(s in stages for s in ("teach", "verify", "write", "merge")) or (
        "rank" in stages and recipe.curate.rank == "judge")
    locks = [FolderLock(ws.dir, "vr2 curate")] if any(s in SHARD_STAGES for s in stages) else []
    if any(s in ("split", "write", "merge") for s in stages):
        locks.append(FolderLock(out, "vr2 curate"))
    result = RunResult(stages, {})
    try:
        for lock in locks:
            lock.acquire()
        if teacher is None and needs_teacher:
            teacher = make_teacher(recipe.curate, cache_dir(recipe))
        for name in stages:
            _run_stage(name, recipe, ws, shard, teacher, engine, progress, result)
    finally:
        ws.close()
        for lock in reversed(locks):
            lock.release()
    stats = getattr(teacher, "stats", None)
    result.teacher_stats = stats.as_dict() if hasattr(stats, "as_dict") else None
    take = getattr(teacher, "take_endpoint_counts", None)
    result.endpoints = take() if take else {}
    return result


def _run_stage(name: str, recipe, ws: Workspace, shard: Shard | None, teacher, engine, progress: Progress,
               result: RunResult) -> None:
    out = ws.out
    if name == "ingest":
        info = ingest(recipe, ws, progress)
        result.counts["ingest"] = info["count"]
        result.bad_rows, result.bad_rows_listed = info["load"]["bad_rows"], info["load"]["bad_rows_listed"]
    elif name == "teach":
        taught = teach(recipe, ws, teacher, progress)
        result.teacher_failures = taught["failed"]
        result.counts["teach"] = taught["ok"]
    elif name == "verify":
        fingerprint = teacher_fingerprint(recipe, teacher)
        result.counts["verify"] = verify(recipe, ws, fingerprint, progress)["count"]
        result.teacher_failures = teach_counts(ws.state, fingerprint)["failed"]
    elif name == "rank":
        info = rank(recipe, ws, teacher, progress, engine)
        result.counts["rank"] = info["count"]
        # What shaped this shard's output, for the merge to compare (the teacher: the one verified).
        ws.state.finish("settings", "", True, shard_settings(recipe, ws.require("verify")["info"]["teacher"]))
    elif name == "split":
        result.counts.update(split_and_write(recipe, out, _count(shard, name), {}, progress, write=False))
    else:  # write, merge
        manifest = split_and_write(recipe, out, _count(shard, name), teacher_info(recipe, teacher), progress,
                                   expected=shard_settings(recipe, teacher_fingerprint(recipe, teacher)))
        result.counts.update(manifest["counts"]["samples"])


def _count(shard: Shard | None, stage: str) -> int | None:
    """How many shards to join: the named N, one for a plain run, or (merge) whatever is there."""
    if shard is not None:
        return shard.count
    return None if stage == "merge" else 1


def batches(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
