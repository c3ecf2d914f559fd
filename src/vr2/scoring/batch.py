"""Scoring reasoning traces: the library behind `vr2 score`.

A trace is a model completion (plus its question/options); a reference is the sample's
`temporal_grounding` (plus its gold answer). Scoring runs the training reward functions
themselves and returns one plain dict per trace with every number and the evidence behind it.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vr2.errors import Vr2Error
from vr2.files import (
    MAX_FILE_BYTES,
    check_regular_file,
    drop_partial_line,
    dumps_json,
    loads_json,
    read_text,
)
from vr2.samples import ANSWER_TYPES
from vr2.scoring.answers import check_gold
from vr2.scoring.claims import reference_claims
from vr2.scoring.consistency import check_consistency, tac_correctness
from vr2.scoring.format import parse_completion
from vr2.scoring.rewards import (
    RewardFn,
    TarDetail,
    TarReward,
    resolve_answer_type,
    total_reward,
)

REF_FIELDS = ("temporal_grounding", "answer", "answer_type", "options")


@dataclass
class ScoreInput:
    """One completion with what is needed to score it."""

    completion: str
    temporal_grounding: dict | str | None = None
    answer: str | None = None
    answer_type: str | None = None
    options: list[str] = field(default_factory=list)
    question: str | None = None
    id: Any = None
    regression: str | None = None  # metric of a regression answer; None: the accuracy reward's own


def _read_json(path: Path) -> Any:
    return loads_json(read_text(path), str(path))


# JSON text that is always valid JSON (a NaN or infinity becomes null); the CLI's name for it.
to_json = dumps_json


def load_trace(path: str | Path) -> dict:
    """A trace file: a JSON object with `completion`, or plain text that is the completion."""
    path = Path(path)
    if path.suffix.lower() != ".json":
        return {"completion": read_text(path)}
    data = _read_json(path)
    if not isinstance(data, dict):
        raise Vr2Error(f"{path}: expected a JSON object with a 'completion' field")
    return data


def load_reference(path: str | Path) -> dict:
    """A reference file: an object with `temporal_grounding` (and optional answer fields) or a
    bare `{timestamp: sentence}` object."""
    path = Path(path)
    data = _read_json(path)
    if not isinstance(data, dict):
        raise Vr2Error(f"{path}: expected a JSON object")
    if not any(key in data for key in REF_FIELDS):
        return {"temporal_grounding": data}
    if isinstance(data.get("temporal_grounding"), str):  # JSON text: its errors name this file
        reference_claims(data["temporal_grounding"], source=str(path))
    return data


def make_input(record: dict, source: str) -> ScoreInput:
    """Check a record's fields and types; errors name `source` and the field."""
    completion = record.get("completion")
    if not isinstance(completion, str):
        raise Vr2Error(f"{source}: 'completion' must be a string")
    ref = reference_fields(record, source)
    return ScoreInput(
        completion=completion, temporal_grounding=ref["temporal_grounding"], answer=ref["answer"],
        answer_type=ref["answer_type"], options=ref["options"], question=record.get("question"),
        id=record.get("id"),
    )


def reference_fields(record: dict, source: str) -> dict:
    """The reference fields of a record, checked; errors name `source` and the field.
    `temporal_grounding` is parsed here so a grounding that is not an object fails before any
    work starts; keys that are not times are dropped and counted (`bad_ref_keys`)."""
    options = record.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise Vr2Error(f"{source}: 'options' must be a list of strings")
    answer_type = record.get("answer_type")
    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise Vr2Error(f"{source}: 'answer_type' must be one of {', '.join(ANSWER_TYPES)}")
    grounding = record.get("temporal_grounding")
    if grounding is not None and not isinstance(grounding, (dict, str)):
        raise Vr2Error(f"{source}: 'temporal_grounding' must be an object or a JSON string")
    claims = None
    if grounding is not None:
        claims = reference_claims(grounding, source=source)
    answer = record.get("answer")
    if isinstance(answer, float) and not math.isfinite(answer):
        raise Vr2Error(f"{source}: 'answer' must be a finite number or a string, got {answer!r}")
    answer = None if answer is None else str(answer)
    if answer is not None and answer.strip():
        _check_gold(answer, answer_type, options, source)
    return {"temporal_grounding": grounding, "claims": claims, "options": options,
            "answer_type": answer_type, "answer": answer}


def _check_gold(answer: str, answer_type: str | None, options: list[str], source: str) -> None:
    """A gold answer the accuracy reward could not read fails here, on its own line, instead of
    failing the whole chunk it would be scored with."""
    try:
        check_gold(answer, resolve_answer_type(answer_type, answer, options), options or None)
    except Vr2Error as exc:
        raise Vr2Error(f"{source}: {exc}") from None


def score_inputs(items: list[ScoreInput], rewards: dict[str, RewardFn], weights: dict[str, float]) -> list[dict]:
    """Score a batch with the training reward functions (`rewards.reported_rewards`: name ->
    function); one result dict per input. TAR's evidence comes from the TarReward among them."""
    columns = {
        "answer": [i.answer for i in items],
        "answer_type": [i.answer_type for i in items],
        "options": [i.options for i in items],
        "temporal_grounding": [i.temporal_grounding for i in items],
    }
    if any(i.regression for i in items):
        columns["regression"] = [i.regression for i in items]
    completions = [i.completion for i in items]
    tar = next((fn for fn in rewards.values() if isinstance(fn, TarReward)), None)
    details = tar.details(completions, **columns) if tar else [TarDetail(None, None, None, None) for _ in items]
    parts = {name: [d.value for d in details] if fn is tar else list(fn(completions, **columns))
             for name, fn in rewards.items()}
    totals = total_reward(parts, weights) if parts else [None] * len(items)
    return [
        _result(item, details[k], {name: values[k] for name, values in parts.items()}, totals[k])
        for k, item in enumerate(items)
    ]


def _result(item: ScoreInput, detail, rewards: dict, total) -> dict:
    kind = resolve_answer_type(item.answer_type, item.answer, item.options)
    rule = check_consistency(item.completion, kind, item.options)
    tac = detail.consistent
    result = detail.result
    out = {
        "id": item.id,
        "tar": detail.value,
        "tar_precision": result.precision if result else None,
        "tar_recall": result.recall if result else None,
        "tar_f1": result.f1 if result else None,
        "gate": detail.gate,
        "tac": tac,
        "tac_correctness": _tac_correctness(rule, item, kind, tac_correctness),
        "think_answer": rule.think_answer,
        "final_answer": rule.final_answer,
        "answer_type": kind,
        "format_ok": parse_completion(item.completion).format_ok,
        # a property of the trace: reported even when there is no reference to match them against
        "pred_claims": [c.to_dict() for c in (result.pred_claims if result else detail.claims)],
        "ref_claims": [c.to_dict() for c in result.ref_claims] if result else [],
        "matches": [m.to_dict() for m in result.matches] if result else [],
        "bad_ref_keys": detail.bad_ref_keys,
        "rewards": {**rewards, "total": total},
    }
    if detail.failure:
        out["note"] = detail.failure
    if result and (result.pred_dropped or result.ref_dropped):
        out["claims_over_cap"] = {"pred": result.pred_dropped, "ref": result.ref_dropped}
    return out


def _tac_correctness(rule, item: ScoreInput, kind: str, fn) -> bool | None:
    if item.answer is None:
        return None
    return fn(rule, item.answer, kind, item.options or None)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, record) per non-empty line; a bad line (not UTF-8, not JSON, nested too
    deeply, not an object) gives its error text instead, so the other lines still count."""
    path = check_regular_file(path, "JSONL file")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise Vr2Error(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        number = 0
        while True:
            try:  # a read error is the input's, not the results file's (EIO, a vanished mount)
                raw = handle.readline(MAX_FILE_BYTES + 2)
                too_long = _too_long(raw) and (raw.endswith(b"\n") or _skip_rest_of_line(handle))
            except OSError as exc:
                raise Vr2Error(f"{path}: cannot read line {number + 1} ({exc.strerror or exc})") from None
            if not raw:
                return
            number += 1
            if too_long:
                yield number, f"line longer than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
                continue
            record = _parse_line(raw, number == 1)
            if record is not None:
                yield number, record


def _too_long(raw: bytes) -> bool:
    return len(raw) - raw.endswith(b"\n") > MAX_FILE_BYTES


def _skip_rest_of_line(handle) -> bool:
    """Read past the end of an over-long line in bounded pieces; always True."""
    while True:
        piece = handle.readline(1 << 20)
        if not piece or piece.endswith(b"\n"):
            return True


NOT_UTF8 = "not UTF-8 text"


def _parse_line(raw: bytes, first: bool) -> dict | str | None:
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    if not line.strip():
        return None
    try:  # bad syntax, deep nesting, an integer of over 4,300 digits: this line's reason
        record = loads_json(line, "line")
    except Vr2Error as exc:
        return str(exc).removeprefix("line: ")
    return record if isinstance(record, dict) else "expected a JSON object"


def count_lines(path: Path) -> int:
    """Non-empty lines of a JSONL file (for a progress bar); 0 when it cannot be read."""
    try:
        with check_regular_file(path).open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    except (OSError, Vr2Error):
        return 0


def summarize(results: list[dict], skipped: int) -> dict:
    """Means over scored traces (None values left out) and counts."""
    def mean(key, sub=None):
        values = [(r[sub] if sub else r)[key] for r in results]
        values = [float(v) for v in values if v is not None]
        return sum(values) / len(values) if values else None

    summary = {
        "scored": len(results),
        "skipped": skipped,
        "tar": mean("tar"),
        "tar_precision": mean("tar_precision"),
        "tar_recall": mean("tar_recall"),
        "tar_f1": mean("tar_f1"),
        "gate_rate": mean("gate"),
        "tac": mean("tac"),
        "tac_correctness": mean("tac_correctness"),
        "tar_missing": sum(1 for r in results if r["tar"] is None),
        "bad_ref_keys": sum(r.get("bad_ref_keys", 0) for r in results),
    }
    for name in results[0]["rewards"] if results else ():  # every reward scored, and the total
        summary.setdefault(name, mean(name, "rewards"))
    return summary


@dataclass
class BatchReport:
    results: list[dict]
    bad_lines: list[tuple[int, str]]
    resumed: int


def done_lines(out_path: Path) -> tuple[set[int], list[dict]]:
    """Line numbers already scored in an earlier (possibly crashed) run, and their results.
    A half-written last line from a crash is dropped and scored again."""
    done: set[int] = set()
    results = []
    for _, record in read_jsonl(out_path):
        if isinstance(record, dict) and isinstance(record.get("line"), int):
            done.add(record["line"])
            results.append(record)
    return done, results


def check_output(out_path: Path, in_path: Path, *, resume: bool, force: bool) -> None:
    """Refuse a results file that is the input itself (same file by inode: a hard link or a
    symlink counts), is not a regular file, or exists without --resume/--force, and a folder
    that does not exist."""
    out_path, in_path = Path(out_path), Path(in_path)
    if out_path.exists():
        if in_path.exists() and os.path.samefile(out_path, in_path):
            raise Vr2Error(f"{out_path}: the results file is the input file itself")
        if not out_path.is_file():
            raise Vr2Error(f"{out_path}: not a regular file; cannot write results there")
        if not (resume or force):
            raise Vr2Error(f"{out_path}: already exists; pass --resume to continue it or --force to overwrite")
    elif not out_path.parent.is_dir():
        raise Vr2Error(f"{out_path}: the folder {out_path.parent} does not exist")


def score_jsonl(in_path: Path, out_path: Path, rewards: dict[str, RewardFn], weights: dict[str, float], *,
                resume: bool = False, force: bool = True, chunk: int = 64,
                progress=None) -> BatchReport:
    """Score every line of a JSONL of traces into a JSONL of results, appending as it goes.

    With `resume`, lines already present in `out_path` are skipped, so a crashed run continues
    where it stopped. `progress(advance)` is called after each chunk. A write error (disk full,
    no permission) stops the run with one line; every result flushed before it stays on disk.
    """
    in_path, out_path = Path(in_path), Path(out_path)
    check_regular_file(in_path, "JSONL file")
    check_output(out_path, in_path, resume=resume, force=force)
    done, previous = set(), []
    if resume and out_path.exists():
        drop_partial_line(out_path)
        done, previous = done_lines(out_path)
    bad: list[tuple[int, str]] = []
    results = list(previous)
    pending: list[tuple[int, ScoreInput]] = []
    out = _open_results(out_path, append=resume and out_path.exists())
    try:
        with out:
            for number, record in read_jsonl(in_path):
                if number in done:
                    continue
                try:
                    if isinstance(record, str):
                        raise Vr2Error(record)
                    pending.append((number, make_input(record, f"{in_path}:{number}")))
                except Vr2Error as exc:
                    bad.append((number, _reason(exc, in_path, number)))
                if len(pending) >= chunk:
                    results += _flush(pending, out, rewards, weights, progress, bad, in_path)
            results += _flush(pending, out, rewards, weights, progress, bad, in_path)
    except OSError as exc:
        raise Vr2Error(f"{out_path}: cannot write results ({exc.strerror or exc}); the "
                       f"{len(results)} results written so far are kept, --resume continues") from None
    return BatchReport(results, bad, len(previous))


def _open_results(out_path: Path, *, append: bool):
    """The results file, open for writing. A new file is made under a temporary name and renamed
    into place, so an existing file (or whatever a link points at) is replaced, never truncated."""
    try:
        if append:
            return out_path.open("a", encoding="utf-8")
        fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".tmp")
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # the permissions a plain open() would give
        os.replace(tmp, out_path)
        return os.fdopen(fd, "w", encoding="utf-8")
    except OSError as exc:
        raise Vr2Error(f"{out_path}: cannot write results ({exc.strerror or exc})") from None


def _reason(exc: Vr2Error, in_path: Path, number: int) -> str:
    return str(exc).removeprefix(f"{in_path}:{number}: ")


def _flush(pending, out, rewards, weights, progress, bad, in_path) -> list[dict]:
    if not pending:
        return []
    try:
        scored = score_inputs([item for _, item in pending], rewards, weights)
        kept = list(pending)
    except Vr2Error:
        # One line the checks let through must not take its chunk with it: score one by one.
        kept, scored = [], []
        for number, item in pending:
            try:
                scored += score_inputs([item], rewards, weights)
                kept.append((number, item))
            except Vr2Error as exc:
                bad.append((number, _reason(exc, in_path, number)))
        bad.sort()
    for (number, _), result in zip(kept, scored):
        result["line"] = number
        out.write(to_json(result) + "\n")
    out.flush()
    if progress:
        progress(len(pending))
    pending.clear()
    return scored
