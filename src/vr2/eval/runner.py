"""The evaluation runner behind `vr2 eval`: a model over benchmarks, one JSONL row per sample.

Protocol (`[eval] protocol`, see `vr2.eval.protocols`): `paper` reproduces the Video-R2 release's
evaluation (its frame sampling, no overlays, its per-task prompts and lengths); `vr2` is vr2's
own (frames from `vr2.video.sampling.sample_video` at 2 fps, at most 128, with the time drawn on every
frame; the think/answer prompt of `vr2.model.prompts`). Both decode greedily through `vr2.model.runtime`, the
same model code as `vr2 explain` and training.

Output folder (`[eval] output_dir`):
- `samples/vr2_samples_<benchmark>.jsonl`: one row per sample, appended and flushed as each batch
  finishes, with lmms-eval's field names (`doc_id`, `input`, `target`, `resps`, `filtered_resps`)
  plus every vr2 score of the sample (see `vr2.eval.metrics`) and its official result
  (`official_pred`, `official_score`, ...: `vr2.eval.official`). `vr2 eval --from-samples` reads these
  files as it reads lmms-eval's. Every file is valid JSON (a NaN is written as null), appended
  through O_NOFOLLOW and flushed per batch; a full disk is one line and a rerun resumes.
- `run.json`: the settings that decide the rows (model, video protocol, decoding, scoring).
- `summary.json`, `report.md`, `report.html`: see `vr2.eval.report`.

Resuming: a restarted run reads the rows already written, drops a half-written last line (a run
killed mid-write), and skips every sample whose `doc_id` has a row, so no sample is run or
counted twice and the totals equal those of an uninterrupted run. Resuming with different
settings is refused (`--force` starts over). A lock file keeps two runs out of one folder.

A sample whose video cannot be read is written with its `error` and counted under `errors`; it
is not scored and does not stop the run.

Many GPUs: under `accelerate launch -m vr2 eval ...` or `torchrun -m vr2 eval ...` each process
evaluates its share of the samples into its own part file and rank 0 merges and reports (see
`vr2.eval.sharding`); one process behaves exactly as described above.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr2.config import redact_url, with_changes
from vr2.errors import Vr2Error
from vr2.eval import benchmarks, lmms, official, release_prompts, sharding
from vr2.eval.metrics import (
    CATEGORY_FIELDS,
    as_scored_completion,
    averages,
    benchmark_metrics,
    breakdown,
    build_scorer,
    score_responses,
)
from vr2.eval.output import write_reports
from vr2.eval.protocols import (
    check,
    describe,
    generate_overrides,
    model_item,
    paper_prompt,
    video_loader,
)
from vr2.eval.release_prompts import for_recipe
from vr2.eval.report import make_summary
from vr2.eval.sharding import PARTS_DIR
from vr2.files import drop_partial_line, dumps_json, loads_json, make_folder, open_append, read_text, write_atomic
from vr2.judge.client import make_judge
from vr2.model.prompts import build_messages, format_question
from vr2.model.runtime import generate_batch, load_model
from vr2.model.vas import vas_attn
from vr2.plugins import registry as plugins
from vr2.scoring.batch import ScoreInput
from vr2.video.prefetch import Failed, load_or_fail, prefetched

SAMPLES_DIR = "samples"
SAMPLES_PREFIX = "vr2_samples_"
# Progress callback: (benchmark, done, total) after each batch; done == total at the end.
Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- settings


def run_settings(recipe) -> dict:
    """What decides the per-sample rows. A folder's rows are only resumed under equal settings."""
    from dataclasses import asdict

    e = recipe.eval
    settings = {
        "model": recipe.model.name_or_path,
        "dtype": recipe.model.dtype,
        "engine": e.engine,
        "mode": e.mode,
        "protocol": e.protocol,
        "max_new_tokens": e.max_new_tokens,
        "temperature": e.temperature,
        "seed": recipe.trainer.seed,
        "vas_attn": e.vas_attn,
        "video": asdict(recipe.video),
        "tar": asdict(recipe.tar),
        "judge": {"url": redact_url(recipe.judge.url), "model": recipe.judge.model},
    }
    if e.protocol == "paper":
        # Other words make other rows: record each release prompt's file and hash.

        settings["release_prompts"] = {name: f"{d['file']} {d['sha256'][:16]}"
                                       for name, d in release_prompts.describe(release_prompts.for_recipe(recipe)).items()}
    return settings


def protocol(recipe) -> dict:
    """The protocol line of the report: every setting (`vr2.eval.protocols.describe`)."""
    return describe(recipe)


def _check_settings(out: Path, settings: dict, force: bool) -> None:
    path = out / "run.json"
    if path.exists() and not force:
        try:
            old = loads_json(read_text(path, "run.json"), str(path))
        except Vr2Error:
            old = None
        if old != settings:
            changed = sorted(k for k in settings if not isinstance(old, dict) or old.get(k) != settings[k])
            raise Vr2Error(
                f"{out}: holds results made with other settings ({', '.join(changed) or 'run.json unreadable'});"
                " pass --force to start over or choose another --output")
    if force:
        for stale in [*(out / SAMPLES_DIR).glob(f"{SAMPLES_PREFIX}*.jsonl"),
                      *(out / SAMPLES_DIR / PARTS_DIR).glob("rank*_*.jsonl")]:
            stale.unlink()
    make_folder(out)
    write_atomic(path, dumps_json(settings, indent=2) + "\n", "run.json")


class _Lock:
    """An exclusive lock on the output folder (released by the OS if the process dies); each
    rank of a sharded run holds its own."""

    def __init__(self, out: Path, name: str = ".vr2-eval.lock"):
        self.path = out / name
        self.handle = None

    def __enter__(self):
        import fcntl

        make_folder(self.path.parent)
        try:  # never truncate, never follow a symlink placed at the lock's name
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as error:
            raise Vr2Error(f"{self.path}: cannot create the lock file ({error.strerror or error})") from None
        self.handle = os.fdopen(fd, "r+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise Vr2Error(f"{self.path.parent}: another vr2 eval is writing to this folder") from None
        return self

    def __exit__(self, *exc):
        self.handle.close()


# --------------------------------------------------------------------------- benchmarks


@dataclass
class BenchmarkRun:
    """One benchmark's samples and where its rows go."""

    name: str
    display: str
    category: str
    samples: list
    path: Path
    rows: dict[str, dict] = field(default_factory=dict)  # doc_id -> row, already written
    skipped: list[str] = field(default_factory=list)  # data rows the loader could not use


def load_benchmarks(recipe, names: Sequence[str]) -> list[tuple[Any, Any]]:
    """(benchmark spec, LoadResult) per name, through the benchmark registry.

    A name that is a `.jsonl`/`.json` file (or a folder of them) is a benchmark in vr2's sample
    schema, named after the file, with videos relative to `[eval] video_dir` (default: the
    file's folder).
    """
    e = recipe.eval
    out = []
    for name in names:
        path = Path(name)
        if is_file_benchmark(name):
            spec = benchmarks.jsonl_benchmark(_file_benchmark_name(path))
            videos = e.video_dir or (path if path.is_dir() else path.parent)
            result = benchmarks.load_benchmark(spec, path, videos, limit=e.limit or None)
        else:
            spec = benchmarks.get_benchmark(name)
            result = benchmarks.load_benchmark(spec, data_dir=e.data_dir or None,
                                             video_dir=e.video_dir or None, limit=e.limit or None)
        out.append((spec, result))
    return out


def is_file_benchmark(name: str) -> bool:
    """Whether a recipe's benchmark name is a file (or folder) of the user's own, not a registered one."""
    path = Path(name)
    return path.suffix.lower() in (".jsonl", ".json") or path.is_dir()


def download_benchmarks(recipe) -> Iterator[tuple[str, Path]]:
    """Fetch each registered benchmark of the recipe into `[eval] data_dir`/<name>
    (`benchmarks.download`), yielding (name, folder) as each one finishes."""
    if not recipe.eval.data_dir:
        raise Vr2Error("eval.data_dir: --download needs the folder to download into (e.g. data/benchmarks)")
    for name in recipe.eval.benchmarks:
        if not is_file_benchmark(name):
            yield name, benchmarks.download(name, recipe.eval.data_dir)


def _file_benchmark_name(path: Path) -> str:
    import re

    stem = path.stem if path.suffix else path.name
    return re.sub(r"[^a-z0-9_.-]+", "-", stem.lower()).strip("-.") or "custom"


def _check_unique(name: str, samples: Sequence) -> None:
    seen: set[str] = set()
    for sample in samples:
        key = str(sample.id)
        if key in seen:
            raise Vr2Error(f"{name}: sample id {key!r} appears twice; ids must be unique to resume")
        seen.add(key)


def read_results(path: Path) -> dict[str, dict]:
    """Rows already written (doc_id -> row). A half-written last line is cut off the file;
    a repeated doc_id keeps its first row."""
    if path.is_symlink():
        raise Vr2Error(f"{path}: is a symbolic link; vr2 reads and cuts only its own samples files")
    if not path.exists():
        return {}

    data = drop_partial_line(path)
    try:
        return sharding.rows_by_doc_id(path, data, strict=True)
    except Vr2Error as error:
        raise Vr2Error(f"{error}; delete the line or rerun with --force") from None


# --------------------------------------------------------------------------- engines


@dataclass
class Output:
    text: str
    vas_attn: float | None = None
    tokens: int = 0


class TransformersEngine:
    """vr2's own generation (`vr2.model.runtime.generate_batch`), with attention VAS (`vr2.model.vas`)."""

    name = "transformers"
    supports_vas_attn = True

    def __init__(self, recipe):
        m = recipe.model
        self.recipe = recipe
        self.loaded = load_model(m.name_or_path, dtype=m.dtype, device=m.device,
                                 attn_implementation=m.attn_implementation)

    def run(self, items: Sequence[tuple], *, vas: bool, mode: str | None = None,
            max_new_tokens: int | None = None) -> list[Output]:
        """`mode` and `max_new_tokens` (a protocol's per-benchmark values) override the recipe's."""
        e = self.recipe.eval
        generations = generate_batch(self.loaded, items, max_new_tokens=max_new_tokens or e.max_new_tokens,
                                     temperature=e.temperature, seed=self.recipe.trainer.seed,
                                     mode=mode or e.mode, keep_inputs=vas)
        outputs = []
        for generation in generations:
            score = None
            if vas:
                score = vas_attn(self.loaded, generation).score
                generation.inputs = None  # the pixels are not needed any more
            outputs.append(Output(generation.text, score, int(generation.output_ids.shape[0])))
        return outputs


def make_engine(recipe):
    """The generation engine `[eval] engine` names (a plugin; built-in: transformers)."""
    return plugins.make_engine(recipe.eval.engine, recipe)


class DeferredEngine:
    """Loads the engine at the first sample that needs it: a finished run, or one whose
    videos all fail, never loads a model."""

    def __init__(self, recipe):
        self.recipe = recipe
        self.engine = None
        self.supports_vas_attn = recipe.eval.engine == "transformers"

    def run(self, items: Sequence[tuple], *, vas: bool, **overrides) -> list[Output]:
        if self.engine is None:
            self.engine = make_engine(self.recipe)
        return self.engine.run(items, vas=vas, **overrides)


# --------------------------------------------------------------------------- one batch


def prompt_input(sample, mode: str, benchmark: str | None = None, protocol: str = "vr2",
                 pieces: dict | None = None) -> str:
    """The user text of the prompt (question, lettered options, instruction): lmms' `input`.
    Under `paper`, `pieces` are the release's words (`vr2.eval.release_prompts`)."""
    if protocol == "paper":
        return paper_prompt(benchmark or "", sample, pieces or {})
    content = build_messages(sample.question, sample.options or None, mode=mode, system=None)[-1]["content"]
    return next(part["text"] for part in content if part.get("type") == "text")


def _base_row(sample, benchmark: str, mode: str, protocol: str = "vr2", pieces: dict | None = None) -> dict:
    row = {
        "doc_id": str(sample.id),
        "benchmark": benchmark,
        "input": prompt_input(sample, mode, benchmark, protocol, pieces),
        "target": sample.answer,
        "question": sample.question,
        "options": list(sample.options or []),
        "answer_type": sample.answer_type,
        "video": str(sample.video),
        "mode": mode,
    }
    if sample.temporal_grounding:
        row["temporal_grounding"] = sample.temporal_grounding

    # The category fields of the official breakdowns, so any aggregation can be redone from rows.
    row.update({k: v for k, v in (sample.extra or {}).items()
                if k in CATEGORY_FIELDS and isinstance(v, (str, int, float)) and not isinstance(v, bool)})
    return row


def sample_facts(sample, benchmark: str) -> official.Facts:
    """What the benchmark's official rule needs to know about one of vr2's samples."""
    options = list(sample.options or [])
    gold = None if sample.answer is None else str(sample.answer)
    fields = {**(sample.extra or {}), "video": str(sample.video)}
    return official.Facts(doc_id=str(sample.id), gold=gold, options=options,
                          group=official.group_of(benchmark, fields), question=sample.question,
                          gold_text=official.option_text(gold, options),
                          sample_id=str(sample.id).rsplit("/", 1)[-1])


def evaluate_batch(batch: Sequence, benchmark: str, recipe, engine, rewards, judge, weights,
              videos: Sequence | None = None) -> list[dict]:
    """Rows for one batch of samples: sample videos (or take `videos`, decoded ahead by
    `vr2.video.prefetch`), generate, score (errors recorded per sample)."""

    mode = recipe.eval.mode
    started = time.perf_counter()
    pieces = None
    if recipe.eval.protocol == "paper":
        pieces = for_recipe(recipe)
    rows = [_base_row(sample, benchmark, mode, recipe.eval.protocol, pieces) for sample in batch]
    if videos is None:
        videos = [load_or_fail(video_loader(recipe), s) for s in batch]
    ready = []
    for sample, row, video in zip(batch, rows, videos):
        if isinstance(video, Failed):
            row.update(error=video.message, resps=[[]], filtered_resps=[])
            continue
        row["frames"] = len(video.times)
        ready.append((sample, row, video))
    if ready:
        want_vas = bool(recipe.eval.vas_attn and engine.supports_vas_attn and mode == "think")
        outputs = engine.run([model_item(s, benchmark, recipe, video) for s, _, video in ready],
                             vas=want_vas, **generate_overrides(recipe, benchmark))
        items = [ScoreInput(completion=as_scored_completion(out.text, mode),
                            temporal_grounding=s.temporal_grounding or None,
                            answer=None if s.answer is None else str(s.answer),
                            answer_type=s.answer_type, options=list(s.options or []),
                            question=s.question, id=str(s.id))
                 for (s, _, _), out in zip(ready, outputs)]

        judged = judge if mode == "think" else None
        questions = [format_question(s.question, s.options or None) for s, _, _ in ready]
        scores = score_responses(items, rewards, weights, judge=judged, questions=questions)
        for (sample, row, _), out, score in zip(ready, outputs, scores):
            row.update(resps=[[out.text]], filtered_resps=[score.get("final_answer")],
                       tokens=out.tokens, vas_attn=out.vas_attn, **score,
                       **official.rescore(benchmark, out.text, sample_facts(sample, benchmark)))
            if mode == "direct":
                row["tac"] = row["tac_correctness"] = None
    elapsed = time.perf_counter() - started
    for row in rows:
        row["error"] = row.get("error")
        row["seconds"] = round(elapsed / len(rows), 4)
    return rows


# --------------------------------------------------------------------------- the run


def chunks(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def prepare(recipe, out: Path, samples: Mapping[str, Sequence] | None = None, shard=None) -> list[BenchmarkRun]:
    """Benchmarks with their samples and the rows already written for them (the merged file
    and every rank's part file): the recipe's benchmarks from the registry, or the given
    `samples` per benchmark name. A sharded rank writes new rows to its own part file."""
    shard = shard or sharding.Shard()
    loaded: list[tuple[str, Any, list, list]] = []
    if samples is None:
        for spec, result in load_benchmarks(recipe, recipe.eval.benchmarks):
            loaded.append((spec.name, spec, list(result.samples), list(result.skipped)))
    else:
        specs = _registry()[2]
        for name, items in samples.items():
            items = list(items)[: recipe.eval.limit or None]
            loaded.append((name, specs.get(name), items, []))
    runs = []
    for name, spec, items, skipped in loaded:
        _check_unique(name, items)
        path = out / SAMPLES_DIR / f"{SAMPLES_PREFIX}{name}.jsonl"
        run = BenchmarkRun(name, getattr(spec, "display", None) or name,
                           getattr(spec, "category", None) or "other", items, path,
                           skipped=[f"{name}: row {s.row}: {s.reason}" for s in skipped])
        run.rows = read_results(path)
        own = shard.part_path(out / SAMPLES_DIR, name) if shard.sharded else None
        for part in sharding.part_files(out / SAMPLES_DIR, name):
            found = read_results(part) if part == own else sharding.read_part(part)
            run.rows.update((k, v) for k, v in found.items() if k not in run.rows)
        if own is not None:
            run.path = own
        runs.append(run)
    return runs


def _merge_parts(runs: Sequence[BenchmarkRun], out: Path) -> None:
    """Rank 0 (or the only process), after every rank finished: part files into each
    benchmark's samples file, which ends in sample order."""
    for run in runs:
        parts = sharding.part_files(out / SAMPLES_DIR, run.name)
        run.path = out / SAMPLES_DIR / f"{SAMPLES_PREFIX}{run.name}.jsonl"
        merged = read_results(run.path)
        sharding.merge(run.path, merged, [str(s.id) for s in run.samples], parts)
        run.rows = merged  # now also the rows the other ranks made, in sample order


def evaluate(recipe, *, output_dir: str | Path | None = None, force: bool = False,
             progress: Progress | None = None, engine=None, compare: Sequence[dict] = (),
             samples: Mapping[str, Sequence] | None = None) -> dict:
    """Run (or resume) an evaluation and return its summary (also written to the folder, with
    the `compare` summaries beside it in the reports); {} on a sharded run's ranks other than 0.

    `samples` ({benchmark name: [vr2.samples.Sample]}) evaluates those instead of the recipe's
    benchmarks; `engine` replaces the one `[eval] engine` names (any object with
    `supports_vas_attn` and `run(items, vas=...) -> [Output]`).
    """

    if samples is None and not recipe.eval.benchmarks:
        raise Vr2Error("eval.benchmarks: name at least one benchmark (vr2 eval --list shows them)")
    check(recipe.eval.protocol, recipe.eval.mode)
    out = Path(output_dir or recipe.eval.output_dir)
    shard = sharding.current()
    if shard.device(recipe.model.device) != recipe.model.device:
        recipe = with_changes(recipe, "model", device=shard.device(recipe.model.device))
    with _Lock(out, shard.lock_name()):
        shard.first(lambda: _check_settings(out, run_settings(recipe), force))
        runs = prepare(recipe, out, samples, shard)
        pending = sum(1 for r in runs for s in shard.mine(r.samples) if str(s.id) not in r.rows)
        if pending:
            engine = engine or DeferredEngine(recipe)
            rewards = build_scorer(recipe)
            judge = make_judge(recipe.judge, required=False)  # VAS-judge only when configured
            weights = recipe.rewards
        for run in runs:
            mine = shard.mine(run.samples)
            todo = [s for s in mine if str(s.id) not in run.rows]
            done = len(mine) - len(todo)
            if progress:
                progress(run.name, done, len(mine))
            if not todo:
                continue
            make_folder(run.path.parent)
            with open_append(run.path, "samples file") as handle:
                # Videos of the next batches decode in worker processes during generation.
                for batch, videos in prefetched(chunks(todo, recipe.eval.batch_size),
                                                video_loader(recipe),
                                                workers=recipe.eval.decode_workers):
                    rows = evaluate_batch(batch, run.name, recipe, engine, rewards, judge, weights, videos)
                    # One write per batch, then flush: a kill loses at most this batch, and a
                    # torn last line is dropped on resume.
                    append_rows(handle, run.path, rows)
                    run.rows.update((r["doc_id"], r) for r in rows)
                    done += len(batch)
                    if progress:
                        progress(run.name, done, len(mine))
        shard.wait_all()
        if not shard.main:
            return {}  # rank 0 merges and reports
        _merge_parts(runs, out)
        skipped = [message for run in runs for message in run.skipped]
        summary = summarize(runs, label=recipe.name or out.name, info={
            "source": "vr2 eval", "model": recipe.model.name_or_path, "protocol": protocol(recipe),
            "output_dir": str(out), "warnings": _capped(skipped)}, notes=_notes(recipe, engine),
            post=_post_tools(recipe, [run.name for run in runs]))

        write_reports(summary, out, compare)
    return summary


def append_rows(handle, path: Path, rows: Sequence[Mapping]) -> None:
    """Append rows as JSON lines (always valid JSON) and flush them to disk. A full disk or a
    failing write is one line; the rows already on disk stay, and a rerun resumes after them."""
    data = "".join(dumps_json(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    try:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    except OSError as error:
        raise Vr2Error(f"{path}: cannot write samples ({error.strerror or error}); the rows written "
                       "before are kept: rerun the same command to resume") from None


def _capped(messages: list[str], keep: int = 100) -> list[str]:
    if len(messages) <= keep:
        return messages
    return messages[:keep] + [f"... and {len(messages) - keep} more"]


def _notes(recipe, engine) -> list[str]:
    notes = []
    if recipe.eval.engine != "transformers":
        notes.append(f"engine {recipe.eval.engine}: vas_attn is not measured (no attention weights)")
    if recipe.eval.mode == "direct":
        notes.append("direct-answer prompt: no reasoning, so TAC, VAS and TAR do not apply")
    if recipe.eval.limit:
        notes.append(f"limit {recipe.eval.limit}: at most that many samples per benchmark")
    return notes


def summarize(runs: Sequence[BenchmarkRun], *, label: str, info: dict | None = None,
              notes: Sequence[str] = (), post: dict | None = None) -> dict:
    """Summary of the rows of the samples each benchmark has now (rows of samples no longer
    selected, e.g. after lowering `limit`, are left out)."""

    per_benchmark = {}
    for run in runs:
        rows = [run.rows[str(s.id)] for s in run.samples if str(s.id) in run.rows]
        per_benchmark[run.name] = benchmark_entry(run.name, run.display, run.category, rows, post or {})
        per_benchmark[run.name]["skipped_rows"] = len(run.skipped)
    categories = {run.name: run.category for run in runs}
    failed = [f"{run.name} {s.id}: {why}" for run in runs for s in run.samples
              for why in [_failure(run.rows.get(str(s.id)) or {})] if why]
    return make_summary(label, per_benchmark, averages(per_benchmark, categories),
                        info={**(info or {}), "failed": _capped(failed)}, notes=notes)


def _failure(row: Mapping) -> Any:
    """Why a row failed (its video or model call, its scoring, its official rule), or None."""
    return row.get("error") or row.get("score_error") or row.get("official_error")


def benchmark_entry(name: str, display: str, category: str, rows: Sequence[Mapping], post: dict) -> dict:
    """One benchmark's summary entry: vr2's metrics, the official figure and its counts, and the
    per-category breakdown. `post`: `_post_tools`' judge, prompts or reason, for VSIBench."""
    entry = {"display": display, "category": category, **benchmark_metrics(rows),
             **official.summarize(name, rows, **post)}
    entry["breakdown"] = breakdown(rows)
    return entry


def _post_tools(recipe, names: Sequence[str]) -> dict:
    """The judge, prompts and (when the LLM step cannot run) the reason, for VSIBench's official
    post-processing; a checkout without the script costs the LLM step, never the run's summary."""
    if "vsibench" not in names:
        return {}
    judge = make_judge(recipe.judge, required=False)
    if judge is None:
        return {"why_no_llm": "no judge configured"}
    try:
        prompts = release_prompts.post_processing_prompts(recipe)
    except Vr2Error as error:
        return {"why_no_llm": f"its prompts could not be read: {error}"}
    if prompts is None:
        return {"why_no_llm": "no release checkout (--release-tasks) to read its prompts from"}
    return {"judge": judge, "prompts": prompts}


# --------------------------------------------------------------------------- lmms-eval samples


def score_sample_files(folder: str | Path, recipe, *, mode: str = "auto",
                       progress: Progress | None = None) -> tuple[dict, list[str]]:
    """vr2's metrics and the official figures on existing lmms-eval (or vr2) sample files:
    (summary, warnings).

    `mode`: "think" scores the raw text as written; "direct" treats the whole text as the
    answer; "auto" does that only for a response with neither <think> nor <answer>.
    Lines that cannot be scored (including a doc_id its task already had) are skipped, counted
    per benchmark (`log_lines` vs `samples`) and listed with their reasons in the summary's
    `skipped`. Each sample's official result is what the log recorded; where the log lacks it,
    vr2 re-scores it by the official rule and the summary says how many (`official_rescored`).
    """

    known, aliases, specs = _registry()
    files = lmms.read_task_files(folder, known, aliases, specs)
    scorer = _FileScorer(recipe, build_scorer(recipe), make_judge(recipe.judge, required=False), mode)
    skipped = [f"{f.path}:{n}: {why}" for f in files for n, why in f.bad_lines]
    rows_by_bench: dict[str, list[dict]] = {}
    lines: dict[str, int] = {}
    for f in files:
        rows = rows_by_bench.setdefault(f.benchmark, [])
        lines[f.benchmark] = lines.get(f.benchmark, 0) + len(f.records) + len(f.bad_lines)
        rows += scorer.rows(f, specs.get(f.benchmark))
        if progress:
            progress(f.benchmark, len(rows), len(rows))
    post = _post_tools(recipe, list(rows_by_bench))
    per_benchmark = {}
    for name, rows in rows_by_bench.items():
        spec = specs.get(name)
        per_benchmark[name] = benchmark_entry(name, getattr(spec, "display", None) or name,
                                              getattr(spec, "category", None) or "other", rows, post)
        per_benchmark[name].update(log_lines=lines[name], skipped_lines=lines[name] - len(rows))
    categories = {n: v["category"] for n, v in per_benchmark.items()}
    tasks = sorted({f"{f.task} -> {f.benchmark}" for f in files})
    failed = [f"{name} {r['doc_id']}: {why}" for name, rows in rows_by_bench.items() for r in rows
              for why in [_failure(r)] if why]
    notes = _rescored_notes(per_benchmark)
    summary = make_summary(Path(folder).name, per_benchmark, averages(per_benchmark, categories),
                           info={"source": "lmms-eval samples", "samples_dir": str(folder),
                                 "tasks": tasks, "mode": mode, "skipped_lines": len(skipped),
                                 "skipped": _capped(skipped), "failed": _capped(failed)}, notes=notes)
    return summary, [f"{message}: skipped" for message in skipped]


def _rescored_notes(per_benchmark: Mapping[str, Mapping]) -> list[str]:
    notes = []
    for name, entry in per_benchmark.items():
        count = entry.get("official_rescored") or 0
        if count:
            notes.append(f"{entry.get('display') or name}: {count} sample(s) had no official result in the log; "
                         "vr2 re-scored them by the official rule (official_rescored)")
    return notes


class _FileScorer:
    """Scores the records of one lmms-eval samples file with the training reward code; each row
    also carries the record's official result (`lmms.OFFICIAL`)."""

    batch = 64

    def __init__(self, recipe, rewards, judge, mode: str):
        self.rewards, self.judge, self.mode = rewards, judge, mode
        self.weights = recipe.rewards

    def rows(self, f, spec) -> list[dict]:
        rows = [{"doc_id": f"{f.task}:{r.get('doc_id')}", "task": f.task, "error": r["error"],
                 **lmms.categories(r, f.task)} for r in f.records if r.get("error")]
        scorable = [r for r in f.records if not r.get("error")]
        index_target = getattr(spec, "lmms_target", "answer") == "option_index"
        for start in range(0, len(scorable), self.batch):
            records = scorable[start:start + self.batch]
            items = [lmms.score_input(r, f.task, option_index=index_target) for r in records]
            rows += self._score(records, items, f.task, spec)
        return rows

    def _score(self, records, items, task: str, spec) -> list[dict]:

        modes = [_mode_of(item.completion, self.mode) for item in items]
        for item, item_mode in zip(items, modes):
            if item.answer_type is None and spec is not None:
                item.answer_type = _default_answer_type(spec, item.options)
            item.completion = as_scored_completion(item.completion, item_mode)
        missing = [_options_missing(spec, item) for item in items]
        readable = [item for item, why in zip(items, missing) if not why]
        scores = iter(score_responses(readable, self.rewards, self.weights, judge=self.judge,
                                      questions=[i.question or "" for i in readable]))
        rows = []
        for record, item, item_mode, why in zip(records, items, modes, missing):
            score = {"score_error": why} if why else next(scores)
            # vr2's own rows carry vas_attn (it needs the model); lmms-eval's have none.
            vas = record.get("vas_attn")
            rows.append({"doc_id": item.id, **lmms.categories(record, task), "mode": item_mode,
                         "target": item.answer, "options": item.options, **score, "error": None,
                         "vas_attn": vas if isinstance(vas, (int, float)) else None,
                         **record.get(lmms.OFFICIAL, {})})
        return rows


def _options_missing(spec, item) -> str | None:
    """Why a multiple-choice sample cannot be read without its options (None: it can). Without
    options vr2 would score the letter as free text (partial credit by word overlap): an error,
    counted and shown, instead."""
    if item.options or spec is None:
        return None
    types = tuple(getattr(spec, "answer_types", ()) or ())
    letter = isinstance(item.answer, str) and len(item.answer.strip()) == 1 and item.answer.strip().isalpha()
    if types == ("multiple_choice",) or (letter and "multiple_choice" in types) \
            or item.answer_type == "multiple_choice":
        return "multiple-choice options not found (no options in the log's doc, none in its prompt)"
    return None


def _mode_of(text: str, mode: str) -> str:
    if mode != "auto":
        return mode
    lowered = text.lower()
    return "think" if "<think>" in lowered or "<answer>" in lowered else "direct"


def _registry() -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """Benchmark names, lmms-eval task aliases and specs from the registry."""
    specs = dict(benchmarks.BENCHMARKS)
    aliases: dict[str, str] = {}
    for name, spec in specs.items():
        for task in getattr(spec, "lmms_tasks", ()) or ():
            aliases[task] = name
    return list(specs), aliases, specs


def _default_answer_type(spec, options) -> str | None:
    kind = getattr(spec, "answer_type", None)
    if options:
        return "multiple_choice"
    return kind if isinstance(kind, str) and kind != "multiple_choice" else None
