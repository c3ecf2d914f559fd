"""Checkpoints and the per-step training log, so that a killed run can continue exactly.

The trainer saves `checkpoint-<step>` folders every `trainer.save_steps` steps. A run killed while
saving leaves a folder that looks like a checkpoint but is not one, so vr2 writes a marker file
into each checkpoint after it is fully saved, and `--resume` continues from the newest marked one.

`steps.jsonl` in the output folder has one line per optimizer step: the step number and the
samples it trained on. On resume, lines past the checkpoint are dropped (those steps are redone),
so the file always tells the effective history of the run: each step exactly once.
`metrics.jsonl` holds what the trainer logs (loss, rewards, TAR gate rate, ...), trimmed the same way,
and `skipped_videos.jsonl` the samples whose video failed to decode mid-run (vr2.train.collate.VideoFallback).
"""

from __future__ import annotations

import errno
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

from vr2.errors import Vr2Error, first_line
from vr2.files import dumps_json, iter_lines, loads_json, open_append, write_atomic

MARKER = "vr2_checkpoint.json"
STEPS_LOG = "steps.jsonl"
METRICS_LOG = "metrics.jsonl"
SKIPPED_LOG = "skipped_videos.jsonl"
LOGS = (STEPS_LOG, METRICS_LOG, SKIPPED_LOG)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoints(output_dir: str | Path, *, complete_only: bool = True) -> list[tuple[int, Path]]:
    """(step, folder) of the checkpoints in `output_dir`, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _CHECKPOINT.match(child.name)
        if match and child.is_dir() and (not complete_only or (child / MARKER).is_file()):
            found.append((int(match.group(1)), child))
    return sorted(found)


def last_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest fully saved checkpoint, or None."""
    found = checkpoints(output_dir)
    return found[-1][1] if found else None


def resume_point(output_dir: str | Path, resume: bool) -> Path | None:
    """The checkpoint to continue from, after checking that the output folder fits the request.

    Starting fresh in a folder that already has checkpoints would mix two runs, so it is refused;
    `--resume` without a complete checkpoint is refused too, rather than silently starting over.
    """
    if resume:
        checkpoint = last_checkpoint(output_dir)
        if checkpoint is None:
            raise Vr2Error(f"{output_dir}: no complete checkpoint to resume from (trainer.output_dir)")
        trim_logs(output_dir, checkpoint_step(checkpoint))
        return checkpoint
    if checkpoints(output_dir, complete_only=False):
        raise Vr2Error(
            f"{output_dir}: already holds checkpoints of an earlier run; pass --resume to continue it "
            "or set trainer.output_dir to a new folder"
        )
    for name in LOGS:
        (Path(output_dir) / name).unlink(missing_ok=True)
    return None


def checkpoint_step(folder: str | Path) -> int:
    match = _CHECKPOINT.match(Path(folder).name)
    if not match:
        raise Vr2Error(f"{folder}: not a checkpoint folder (expected checkpoint-<step>)")
    return int(match.group(1))


def read_log(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for number, line in iter_lines(path, "training log"):
        try:
            row = loads_json(line or b"", f"{path}:{number}")
        except Vr2Error:
            continue  # a line cut short by a kill or a full disk
        if isinstance(row, dict):
            rows.append(row)
    return rows


def trim_logs(output_dir: str | Path, step: int) -> None:
    """Keep only the log lines of steps up to `step` (the ones the checkpoint contains)."""
    for name in LOGS:
        path = Path(output_dir) / name
        if not path.exists():
            continue
        kept = [row for row in read_log(path) if row.get("step", 0) <= step]
        write_atomic(path, "".join(dumps_json(row) + "\n" for row in kept), "training log")


def _append(path: Path, row: dict) -> None:
    """One log line; refuses a symlink, and a full disk is one line (the run stops; what the log
    held stays, and a line cut short is dropped on --resume)."""
    with open_append(path, "training log") as handle:
        try:
            handle.write((dumps_json(row) + "\n").encode("utf-8"))
            handle.flush()
        except OSError as error:
            raise Vr2Error(f"{path}: cannot write training log ({error.strerror or error}); "
                           f"{kept_after_failure(path.parent)}") from None


def _plain(value: Any) -> Any:
    return value if isinstance(value, (int, float, str, bool)) or value is None else str(value)


def record_skipped(output_dir: str | Path, step: int, records: list[dict]) -> None:
    """Append skipped-video records (id, video, reason) for the step being trained."""
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        _append(folder / SKIPPED_LOG, {"step": step, **record})


def make_callbacks(output_dir: str | Path, step_samples: Callable[[], list]) -> list:
    """Trainer callbacks: the step and metrics logs, and the checkpoint marker.

    `step_samples()` returns (and forgets) the ids of the samples trained on since its last call;
    it is called on every process (it may gather across processes).
    """
    from transformers import TrainerCallback

    folder = Path(output_dir)

    class RunLog(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            samples = step_samples()
            if state.is_world_process_zero:
                folder.mkdir(parents=True, exist_ok=True)
                _append(folder / STEPS_LOG, {"step": state.global_step, "samples": samples})

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                row = {"step": state.global_step, **{k: _plain(v) for k, v in logs.items()}}
                _append(folder / METRICS_LOG, row)

        def on_save(self, args, state, control, **kwargs):
            checkpoint = folder / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and checkpoint.is_dir():
                write_atomic(checkpoint / MARKER, json.dumps({"step": state.global_step}) + "\n", "checkpoint marker")

    return [RunLog()]


# --- a full disk or an unwritable folder while training ----------------------------------------

# The errors that mean "the output could not be written" (a full disk, a quota, a read-only or
# unwritable folder, a size limit), and the same in the words of the libraries that save
# checkpoints: safetensors ends its message with "(os error N)"; torch.save's short-write checks
# name no errno at all.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}
_OS_ERROR_TEXT = re.compile(r"(No space left on device|Disk quota exceeded|Read-only file system|"
                            r"Permission denied|File too large) \(os error \d+\)")
_SHORT_WRITE_TEXT = re.compile(r"file write failed|unexpected pos \d+ vs \d+")


def write_failure(error: BaseException, output_dir: str | Path) -> str | None:
    """Why `error` is a failure to write into `output_dir`, or None when it is something else
    (an OS error that names a file elsewhere, say a video it could not read, is something else)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _WRITE_ERRNOS:
            if error.filename is None or _inside(error.filename, output_dir):
                return error.strerror or os.strerror(error.errno)
        text = str(error)
        if found := _OS_ERROR_TEXT.search(text):
            return found.group(1)
        if _SHORT_WRITE_TEXT.search(text):
            return "a file was written only in part; is the disk full?"
        error = error.__cause__ or error.__context__
    return None


def _inside(path: Any, folder: str | Path) -> bool:
    full, root = os.path.abspath(os.fsdecode(path)), os.path.abspath(folder)
    return os.path.commonpath([full, root]) == root


def kept_after_failure(output_dir: str | Path) -> str:
    """What a stopped run left in `output_dir` and how to go on from it."""
    newest = last_checkpoint(output_dir)
    if newest is not None:
        return (f"the logs and complete checkpoints are kept (newest complete {newest.name}); "
                "make room and rerun with --resume")
    partial = [folder.name for _, folder in checkpoints(output_dir, complete_only=False)]
    if partial:
        return (f"no checkpoint was completed ({', '.join(partial)} only in part); make room, "
                "delete them and run again")
    return "nothing was saved yet; make room (or choose another trainer.output_dir) and run again"


@contextmanager
def saving_to(output_dir: str | Path) -> Iterator[None]:
    """Run training and saving; a failure to write the output folder becomes one line naming the
    folder, the reason, what is kept and how to go on. Any other failure is left as it is."""
    try:
        yield
    except Vr2Error:
        raise
    except Exception as error:
        reason = write_failure(error, output_dir)
        if reason is None:
            raise
        raise Vr2Error(f"{output_dir}: cannot write the run's output ({reason}); "
                       f"{kept_after_failure(output_dir)}") from None


# --- reloading weights on resume ---------------------------------------------------------------


def load_checkpoint_weights(model: Any, checkpoint: str | Path) -> list[str]:
    """Load a checkpoint's weights into the live model; every trainable tensor must come back.

    transformers 5.x saves Qwen2.5-VL under its legacy key names (`visual.*`, `model.layers.*`)
    while the live model uses the new ones (`model.visual.*`, `model.language_model.*`), and the
    Trainer's own resume loads with strict=False without renaming: nothing loads and training
    silently restarts from the initial weights. Here a full checkpoint is read back through
    `from_pretrained` (which renames) and copied in strictly; a LoRA checkpoint through PEFT's
    `load_adapter`. Returns the names of the trainable tensors loaded; raises Vr2Error naming the
    checkpoint and the tensors that did not load.
    """
    checkpoint = Path(checkpoint)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    if hasattr(model, "peft_config") and hasattr(model, "load_adapter"):
        missing = _load_adapter(model, checkpoint, trainable)
    else:
        missing = _load_full(model, checkpoint, trainable)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise Vr2Error(f"{checkpoint}: the checkpoint does not hold {len(missing)} of the {len(trainable)} "
                       f"trainable tensors ({shown}); refusing to resume from the wrong weights")
    return trainable


def _load_full(model: Any, checkpoint: Path, trainable: list[str]) -> list[str]:
    import torch

    dtype = next(model.parameters()).dtype
    try:
        saved, info = type(model).from_pretrained(str(checkpoint), dtype=dtype, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise Vr2Error(f"{checkpoint}: cannot read the checkpoint's weights ({first_line(exc)})") from exc
    not_saved = set(info.get("missing_keys", ()))
    state = saved.state_dict()
    missing = [name for name in trainable if name in not_saved or name not in state]
    if missing:
        return missing
    with torch.no_grad():
        model.load_state_dict(state, strict=True)
    live = dict(model.named_parameters())
    return [name for name in trainable if not torch.equal(live[name].detach().cpu(), state[name].cpu())]


def _load_adapter(model: Any, checkpoint: Path, trainable: list[str]) -> list[str]:
    adapter = model.active_adapters[0] if hasattr(model, "active_adapters") else "default"
    if not (checkpoint / "adapter_config.json").is_file():
        raise Vr2Error(f"{checkpoint}: no LoRA adapter in this checkpoint (adapter_config.json)")
    result = model.load_adapter(str(checkpoint), adapter, is_trainable=True)
    not_loaded = set(getattr(result, "missing_keys", ()) or ())
    model.set_adapter(adapter)
    return [name for name in trainable if name in not_loaded]
