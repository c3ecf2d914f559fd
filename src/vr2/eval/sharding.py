"""Data-parallel evaluation: `accelerate launch -m vr2 eval ...` or `torchrun -m vr2 eval ...`.

The launchers start one process per GPU and set RANK, WORLD_SIZE and LOCAL_RANK (with
MASTER_ADDR/MASTER_PORT). Each process (rank) evaluates every WORLD_SIZE-th sample of each
benchmark (index % WORLD_SIZE == RANK) on GPU LOCAL_RANK and appends its rows to its own file,
`samples/parts/rank<R>_<benchmark>.jsonl`. A rank that restarts reads the rows already written by
every rank (the merged file and all part files), so resuming works per rank and even with another
number of processes. When all ranks are done (a gloo barrier), rank 0 merges the part files into
`samples/vr2_samples_<benchmark>.jsonl` in sample order (each doc_id once), deletes them, and
writes the summary and reports; the other ranks return without reporting. With no launcher
(WORLD_SIZE unset or 1) nothing here changes how `vr2 eval` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from vr2.errors import Vr2Error
from vr2.files import dumps_json, loads_json, write_atomic

PARTS_DIR = "parts"
# A rank that finishes early waits for the slowest one at the final barrier.
BARRIER_TIMEOUT = timedelta(hours=72)


@dataclass
class Shard:
    """This process's place among the evaluation processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def sharded(self) -> bool:
        return self.world > 1

    def mine(self, samples: Sequence) -> list:
        """The samples this rank evaluates: every world-th one, starting at its rank."""
        return [s for i, s in enumerate(samples) if i % self.world == self.rank]

    def part_path(self, samples_dir: Path, benchmark: str) -> Path:
        return samples_dir / PARTS_DIR / f"rank{self.rank}_{benchmark}.jsonl"

    def lock_name(self) -> str:
        return ".vr2-eval.lock" if self.rank == 0 else f".vr2-eval.rank{self.rank}.lock"

    def first(self, action: Callable[[], Any]) -> None:
        """Rank 0 runs `action` (e.g. checking and writing run.json) while the others wait; an
        error it raises is raised on every rank, so no rank runs with settings rank 0 refused."""
        if not self.sharded:
            action()
            return
        import torch.distributed as dist

        message = [None]
        if self.main:
            try:
                action()
            except Vr2Error as error:
                message = [str(error)]
        dist.broadcast_object_list(message, src=0)
        if message[0] is not None:
            raise Vr2Error(message[0])

    def wait_all(self) -> None:
        """Block until every rank gets here."""
        if self.sharded:
            import torch.distributed as dist

            dist.barrier()

    def device(self, device: str) -> str:
        """Each rank on its own GPU: "auto"/"cuda" become "cuda:<LOCAL_RANK>" when sharded."""
        if not self.sharded or device not in ("auto", "cuda"):
            return device
        import torch

        return f"cuda:{self.local_rank}" if torch.cuda.is_available() else ("cpu" if device == "auto" else device)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise Vr2Error(f"environment {name}={value!r}: not a whole number") from None


def current() -> Shard:
    """The shard the launcher's environment describes; joins the gloo process group (used for
    the barriers only) when there is more than one process."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise Vr2Error(f"environment RANK={rank} WORLD_SIZE={world}: need 0 <= RANK < WORLD_SIZE")
    shard = Shard(rank, world, _env_int("LOCAL_RANK", rank))
    if shard.sharded:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo", rank=rank, world_size=world, timeout=BARRIER_TIMEOUT)
    return shard


def part_files(samples_dir: Path, benchmark: str) -> list[Path]:
    """Every rank's part file of `benchmark` (from this run or an interrupted one)."""
    return sorted((samples_dir / PARTS_DIR).glob(f"rank*_{benchmark}.jsonl"))


def read_part(path: Path) -> dict[str, dict]:
    """Rows of another rank's part file without touching it (it may be half way through a
    write: an unfinished last line is ignored, not cut)."""
    if path.is_symlink():
        raise Vr2Error(f"{path}: is a symbolic link; vr2 reads only its own part files")
    data = path.read_bytes()
    # A line that is not JSON is a torn line from a killed writer; its sample is simply run again.
    return rows_by_doc_id(path, data[: data.rfind(b"\n") + 1], strict=False)


def rows_by_doc_id(path: Path, data: bytes, *, strict: bool) -> dict[str, dict]:
    """doc_id -> row for the JSON lines `data` read from `path` (a repeated doc_id keeps its first
    row). A line that is not JSON raises Vr2Error (naming path and line) when `strict`, else is skipped."""
    rows: dict[str, dict] = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = loads_json(line, f"{path}:{number}")
        except Vr2Error:
            if strict:
                raise
            continue
        if isinstance(row, dict) and "doc_id" in row:
            rows.setdefault(str(row["doc_id"]), row)
    return rows


def merge(main_path: Path, rows: dict[str, dict], order: Sequence[str], parts: Sequence[Path]) -> None:
    """Make `main_path` hold every row it has (`rows`, in file order) and every part file's row
    it lacks, each doc_id once, in sample `order` (rows of samples not in `order` after those,
    as found); then delete the part files. The file is rewritten only when something changes,
    atomically: a crash leaves the old file and the parts, and running again merges again.
    Sample order holds whichever number of processes wrote the rows (a 2-process run resumed
    by one process included)."""
    combined = dict(rows)
    for part in parts:
        for doc_id, row in read_part(part).items():
            combined.setdefault(doc_id, row)
    rank = {doc_id: i for i, doc_id in enumerate(order)}
    ordered = sorted(combined.values(), key=lambda r: rank.get(str(r["doc_id"]), len(rank)))
    if [str(r["doc_id"]) for r in ordered] != list(rows):
        write_atomic(main_path, "".join(dumps_json(r, ensure_ascii=False) + "\n" for r in ordered),
                     "samples file")
    rows.clear()
    rows.update((str(r["doc_id"]), r) for r in ordered)
    for part in parts:
        part.unlink()
