"""Reading lmms-eval sample files, so vr2's metrics run on the official pipeline's outputs.

lmms-eval (run with `--log_samples`) writes one `<prefix>_samples_<task>.jsonl` per task, one
JSON object a line, UTF-8 (a byte-order mark is tolerated; other encodings are an error). Two
writers exist and both are read:
- the Video-R2 release's fork: `doc_id`, `doc` (the benchmark row), `target` (always a string:
  `str(doc_to_target(doc))`), `arguments` (the generation settings), `resps` (raw text, one list
  per request: `[["..."]]`), `filtered_resps` (`["..."]`), `input` (the prompt), the task's
  metric entries (e.g. `lvb_acc: {"duration_group": ..., "answer": "C", ...}`) and hashes;
- current upstream: no `doc` and no `arguments`; `resps` flattened to `["..."]` and
  `filtered_resps` to `"..."`, and `resps` left out entirely when it equals `filtered_resps`
  (then `filtered_resps` is the raw text: vr2 reads it). Where the CLI strips `<think>` from
  `filtered_resps`, `resps` keeps the raw text and is what vr2 scores.
vr2's own per-sample files use the same field names, so they read back the same way.

`target` is the benchmark's own answer field as a string; for LongVideoBench it is the option
index (`correct_choice`: "2" means C), which `gold_answer` turns into the letter for benchmarks
whose `lmms_target` is "option_index". Multiple-choice options come from the logged `doc` when
it has them (`options`, `candidates`, `choices`, LongVideoBench's `option0`..`option4`), else
from the prompt's option lines ("A. text", "(B) text", "C) text", "D: text").

Each line's official result (`vr2.eval.official`) is what its task's metric entry recorded (the
parsed prediction, the per-sample score, the random draw: `lvb_acc`, `mvbench_accuracy`, ...);
a line without those fields is re-scored from `filtered_resps` (what the task's process_results
was given) by vr2's restatement of the rule. vr2's own rows carry their official fields.

Hostile input: files are streamed line by line; a line that is not one JSON object (bad syntax,
nesting past 64 levels, an integer of over 4,300 digits, longer than 64 MiB), has no `doc_id`,
repeats a `doc_id` its task already had (also across files: two logs of one task count once), or
holds a `vas_attn` or logged score that is no finite score is skipped with its reason. A symlinked
log file or folder is not followed.

Task names map onto vr2 benchmarks one to one, through each benchmark's `lmms_tasks` list
(`mvbench_action_count_think` -> `mvbench`, `video_mmmu_perception` -> `videommmu`); any other
task (`videomme_w_subtitle`, `vsibench_debiased`, `mlvu_test`, ...) is a benchmark of its own
under its task name, never pooled into a paper benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr2.data.datasets import split_question_options
from vr2.errors import Vr2Error
from vr2.eval import official
from vr2.eval.metrics import CATEGORY_FIELDS
from vr2.eval.official import BadLogValue
from vr2.files import MAX_FILE_BYTES, iter_lines, loads_json
from vr2.scoring.answers import normalize_options
from vr2.scoring.batch import ScoreInput

SAMPLES_MARK = "_samples_"
_DOC_OPTION_KEYS = ("options", "candidates", "choices", "option")
_DOC_QUESTION_KEYS = ("question", "query", "prompt")


@dataclass
class TaskFile:
    """One lmms-eval samples file: its task, the vr2 benchmark it maps to, and its records."""

    path: Path
    task: str
    benchmark: str
    records: list[dict] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)


def task_from_filename(name: str) -> str | None:
    """The task of `<prefix>_samples_<task>.jsonl` (the last `_samples_` splits), else None."""
    if not name.endswith(".jsonl") or SAMPLES_MARK not in name:
        return None
    task = name[: -len(".jsonl")].rsplit(SAMPLES_MARK, 1)[1]
    return task or None


def benchmark_for_task(task: str, names: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """The vr2 benchmark a task belongs to: its exact alias (a benchmark's `lmms_tasks`), else a
    benchmark of that exact name, else the task itself. No prefix matching: `videomme_w_subtitle`
    is not VideoMME."""
    del names  # kept for callers; a benchmark's own name is among its `lmms_tasks`
    return (aliases or {}).get(task, task)


def response_text(record: Mapping[str, Any]) -> str | None:
    """The raw generated text: the first string inside `resps` (any nesting); where upstream
    left `resps` out because it equalled `filtered_resps`, the first string of that; else None."""
    if "resps" in record:
        return _first_string(record.get("resps"))
    return _first_string(record.get("filtered_resps"))


def _first_string(value: Any, depth: int = 0) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)) and depth < 4:
        for item in value:
            found = _first_string(item, depth + 1)
            if found is not None:
                return found
    return None


def prompt_text(record: Mapping[str, Any]) -> str:
    """The prompt the model saw: `input`, else the first string of `arguments`, else the doc's
    question (empty when none is logged)."""
    if isinstance(record.get("input"), str):
        return record["input"]
    found = _first_string(record.get("arguments"))
    if found is not None:
        return found
    doc = record.get("doc")
    if isinstance(doc, Mapping):
        for key in _DOC_QUESTION_KEYS:
            if isinstance(doc.get(key), str):
                return doc[key]
    return ""


def record_options(record: Mapping[str, Any]) -> list[str]:
    """Multiple-choice options: the record's own `options`, the doc's, else the prompt's."""
    sources = [record.get("options")]
    doc = record.get("doc")
    if isinstance(doc, Mapping):
        sources += [doc.get(key) for key in _DOC_OPTION_KEYS]
        sources.append(_numbered_options(doc))
    for value in sources:
        if isinstance(value, (list, tuple, dict)) and len(value) >= 2:
            try:
                return normalize_options(value)
            except Vr2Error:
                continue
    return split_question_options(prompt_text(record))[1]


def _numbered_options(doc: Mapping[str, Any]) -> list[str]:
    """LongVideoBench's `option0`..`option4` (unused ones are "N/A")."""
    found = []
    for i in range(26):
        value = doc.get(f"option{i}")
        if not isinstance(value, str) or value == "N/A":
            break
        found.append(value)
    return found


def gold_answer(record: Mapping[str, Any], options: list[str], *, option_index: bool = False) -> str | None:
    """The gold answer as text. An integer target with options is an option index; so is a
    string of digits when `option_index` (a benchmark whose target field is the index, written
    as a string by lmms-eval: LongVideoBench's "2" is C)."""
    target = record.get("target")
    if isinstance(target, bool) or target is None:
        return None if target is None else str(target)
    if option_index and isinstance(target, str) and target.strip().isdigit():
        target = int(target.strip())
    if isinstance(target, int) and options and 0 <= target < len(options):
        return "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[target]
    if isinstance(target, (list, tuple)):
        target = _first_string(target)
    text = str(target).strip() if target is not None else ""
    return text or None


def find_sample_files(folder: str | Path) -> list[tuple[Path, str]]:
    """(path, task) of every `*_samples_<task>.jsonl` under `folder` (recursively), sorted. A
    symbolic link is not followed (a log folder is read, never what it points to), and vr2's
    own output folder `vr2/` inside it is not read back."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Vr2Error(f"{folder}: not a folder of lmms-eval sample files")
    found = []
    for path in sorted(folder.rglob(f"*{SAMPLES_MARK}*.jsonl")):
        task = task_from_filename(path.name)
        if task is None or path.is_symlink() or not path.is_file():
            continue
        if any(part.is_symlink() for part in path.relative_to(folder).parents if part != Path(".")):
            continue
        found.append((path, task))
    if not found:
        raise Vr2Error(f"{folder}: no '*_samples_<task>.jsonl' files found")
    return found


def read_records(path: Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, record) per non-empty line of a samples file, streamed; a line that is not
    one JSON object (bad syntax, nested past `vr2.files.MAX_JSON_DEPTH`, an integer of over 4,300
    digits, longer than the line cap) gives its reason instead. A file that is not UTF-8 is a
    Vr2Error: lmms-eval writes UTF-8, so no line of it can be trusted."""
    for number, raw in iter_lines(path, "lmms-eval samples file"):
        if raw is None:
            yield number, f"line longer than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
            continue
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise Vr2Error(f"{path}: line {number} is not UTF-8 text (lmms-eval writes UTF-8)") from None
        if not text.strip():
            continue
        try:
            record = loads_json(text, "")
        except Vr2Error as error:
            yield number, str(error).removeprefix(": ")
            continue
        yield number, record if isinstance(record, dict) else "expected a JSON object"


def read_task_files(folder: str | Path, names: Iterable[str] = (),
                    aliases: Mapping[str, str] | None = None,
                    specs: Mapping[str, Any] | None = None) -> list[TaskFile]:
    """Every samples file under `folder` with its records; a line that cannot be used is listed
    in `bad_lines` with its reason, never fatal: not a JSON object, no text in `resps` (and no
    `error`), no `doc_id`, a `vas_attn` or logged official score that is no finite score, or a
    `doc_id` its task already had (in this file or an earlier one: two logs of one task, or one
    doc on several lines, count once). Each kept record carries its official result under
    `OFFICIAL` (`vr2.eval.official`: what the log recorded, else re-scored)."""
    names = list(names)
    folder = Path(folder)
    files = []
    seen: dict[tuple[str, str, str], str] = {}
    for path, task in find_sample_files(folder):
        where = path.relative_to(folder).as_posix()
        benchmark = benchmark_for_task(task, names, aliases)
        item = TaskFile(path, task, benchmark)
        spec = (specs or {}).get(benchmark)
        option_index = getattr(spec, "lmms_target", "answer") == "option_index"
        for number, record in read_records(path):
            problem = record if isinstance(record, str) else _problem(record)
            if problem is None:
                key = (benchmark, _base_task(task), str(record["doc_id"]))
                if key in seen:
                    problem = (f"doc_id {record['doc_id']!r} of task {_base_task(task)} again (first at "
                               f"{seen[key]}): counted once")
                else:
                    try:
                        record[OFFICIAL] = official_result(record, task, benchmark, option_index=option_index)
                    except BadLogValue as error:
                        problem = f"{LOG_KEYS_TEXT}: {error}"
            if problem is not None:
                item.bad_lines.append((number, problem))
                continue
            seen[key] = f"{where}:{number}"
            item.records.append(record)
        files.append(item)
    return files


OFFICIAL = "_vr2_official"  # where a read record keeps its official result (never written out)
LOG_KEYS_TEXT = "official result"


def _base_task(task: str) -> str:
    return task[: -len("_think")] if task.endswith("_think") else task


def _problem(record: Mapping[str, Any]) -> str | None:
    """Why a record cannot be scored, or None."""
    doc_id = record.get("doc_id")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        return "no doc_id (a number or a text)"
    if not record.get("error") and response_text(record) is None:
        return "no generated text in 'resps' or 'filtered_resps'"
    vas = record.get("vas_attn")
    if vas is not None and (isinstance(vas, bool) or not isinstance(vas, (int, float))
                            or not math.isfinite(vas) or not 0 <= vas <= 100):
        return f"vas_attn is {vas!r}, not a finite score between 0 and 100"
    return None


def official_text(record: Mapping[str, Any]) -> str:
    """What the task's process_results was given: the first filtered response of an lmms-eval
    log; the raw text of a vr2 row (whose `filtered_resps` holds vr2's own parsed answer)."""
    if _is_vr2_row(record):
        return response_text(record) or ""
    found = _first_string(record.get("filtered_resps")) if "filtered_resps" in record else None
    return found if found is not None else (response_text(record) or "")


def _is_vr2_row(record: Mapping[str, Any]) -> bool:
    return "benchmark" in record and "mode" in record


def facts(record: Mapping[str, Any], task: str, benchmark: str, *, option_index: bool = False) -> official.Facts:
    """What the official rule needs to know about a logged sample besides its response."""
    options = record_options(record)
    gold = official.gold_letter(gold_answer(record, options, option_index=option_index), options)
    fields = categories(record, task)
    doc = record.get("doc") if isinstance(record.get("doc"), Mapping) else {}
    entry = official.log_entry(benchmark, record) or {}
    sample_id = entry.get("id", doc.get("id", record.get("doc_id")))
    video = doc.get("video_path") or record.get("video")
    if isinstance(video, str):
        fields.setdefault("video", video)
    return official.Facts(doc_id=str(record.get("doc_id")), gold=gold, options=options,
                          group=official.group_of(benchmark, fields), question=prompt_text(record),
                          gold_text=official.option_text(gold, options), sample_id=str(sample_id))


def official_result(record: Mapping[str, Any], task: str, benchmark: str, *,
                    option_index: bool = False) -> dict:
    """The sample's official fields: a vr2 row's own, else what the lmms-eval log recorded,
    else re-scored from the response. Raises BadLogValue for a logged field that is no score."""
    if benchmark not in official.RULES or record.get("error"):
        return {}
    if _is_vr2_row(record) and "official_source" in record:
        return {**official.check_row(record), "official_source": "log"}  # what the samples file recorded
    known = facts(record, task, benchmark, option_index=option_index)
    logged = official.from_log(benchmark, record, known)
    return logged if logged is not None else official.rescore(benchmark, official_text(record), known)


def score_input(record: Mapping[str, Any], task: str, *, option_index: bool = False):
    """A `vr2.scoring.batch.ScoreInput` for one lmms-eval record (raw text from `resps`)."""
    options = record_options(record)
    answer_type = record.get("answer_type")
    grounding = record.get("temporal_grounding")
    return ScoreInput(
        completion=response_text(record) or "",
        temporal_grounding=grounding if isinstance(grounding, (dict, str)) and grounding else None,
        answer=gold_answer(record, options, option_index=option_index),
        answer_type=answer_type if isinstance(answer_type, str) else None,
        options=options,
        question=prompt_text(record),
        id=f"{task}:{record.get('doc_id')}",
    )


def categories(record: Mapping[str, Any], task: str) -> dict[str, str]:
    """The record's category fields (`vr2.eval.metrics.CATEGORY_FIELDS`), as the task code logs them
    in its metric entry (`videomme_perception_score`, `lvb_acc`, ...) or in `doc`, plus `task`, the lmms-eval task name
    without its `_think` suffix (MVBench's 20 tasks and Video-MMMU's tracks are tasks)."""
    found: dict[str, str] = {}
    # vr2's own rows carry the fields at the top level; lmms-eval's inside the metric entry.
    sources = [record] + [v for k, v in record.items() if isinstance(v, Mapping) and k != "arguments"]
    for source in sources:
        for key in CATEGORY_FIELDS:
            value = source.get(key)
            if key not in found and isinstance(value, (str, int)) and not isinstance(value, bool):
                found[key] = str(value)
    found.setdefault("task", _base_task(task))
    return found
