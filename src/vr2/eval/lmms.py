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

Task names map onto vr2 benchmarks one to one, through each benchmark's `lmms_tasks` list
(`mvbench_action_count_think` -> `mvbench`, `video_mmmu_perception` -> `videommmu`); any other
task (`videomme_w_subtitle`, `vsibench_debiased`, `mlvu_test`, ...) is a benchmark of its own
under its task name, never pooled into a paper benchmark.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr2.data.datasets import split_question_options
from vr2.errors import Vr2Error
from vr2.eval.metrics import CATEGORY_FIELDS
from vr2.scoring.answers import normalize_options
from vr2.scoring.batch import NOT_UTF8, ScoreInput, read_jsonl

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
    """(path, task) of every `*_samples_<task>.jsonl` under `folder` (recursively), sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise Vr2Error(f"{folder}: not a folder of lmms-eval sample files")
    found = []
    for path in sorted(folder.rglob(f"*{SAMPLES_MARK}*.jsonl")):
        task = task_from_filename(path.name)
        if task is not None and path.is_file():
            found.append((path, task))
    if not found:
        raise Vr2Error(f"{folder}: no '*_samples_<task>.jsonl' files found")
    return found


def read_task_files(folder: str | Path, names: Iterable[str] = (),
                    aliases: Mapping[str, str] | None = None) -> list[TaskFile]:
    """Every samples file under `folder` with its records; lines that are not JSON objects or
    have no text in `resps` (and no `error`) are listed in `bad_lines`, not fatal."""
    names = list(names)
    files = []
    for path, task in find_sample_files(folder):
        item = TaskFile(path, task, benchmark_for_task(task, names, aliases))
        for number, record in read_jsonl(path):
            if record == NOT_UTF8:  # a log in another encoding: no line of it can be trusted
                raise Vr2Error(f"{path}: line {number} is not UTF-8 text (lmms-eval writes UTF-8)")
            if isinstance(record, str):
                item.bad_lines.append((number, record))
            elif record.get("error"):
                item.records.append(record)  # a vr2 row whose video failed: counted, not scored
            elif response_text(record) is None:
                item.bad_lines.append((number, "no generated text in 'resps' or 'filtered_resps'"))
            else:
                item.records.append(record)
        files.append(item)
    return files


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
    found.setdefault("task", task[: -len("_think")] if task.endswith("_think") else task)
    return found
