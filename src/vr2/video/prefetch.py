"""Load the inputs of the next batches in worker processes while the current batch is processed.

Evaluation spends its time in two places that do not depend on each other: decoding and resizing
a sample's video (CPU, PyAV) and generating for it (the model). Done one after the other, a run
takes the sum of both; `prefetched` decodes ahead in a small process pool so it takes about the
larger of the two.

- Bounded: at most `ahead` batches are decoded or waiting beyond the one being processed, so
  memory stays at a few batches of frames however long the run.
- Quick to start: the first batch is loaded in this process while the workers start up.
- Ordered: batches come out in the order they went in, each with its items in order, so the rows
  written (and what `--resume` skips) are exactly those of a sequential run.
- Failures are values: a load that raises `Vr2Error` comes back as that error (the caller records
  it for its sample, as before). If a worker process dies (a crashing decoder, the OOM killer), the
  affected items are loaded again in this process, which reproduces the sequential behaviour.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from vr2.errors import Vr2Error
from vr2.processes import process_pool


@dataclass
class Failed:
    """A load that raised Vr2Error; `message` is the one-line error."""

    message: str


def load_or_fail(load: Callable[[Any], Any], item: Any) -> Any:
    """`load(item)`, with a Vr2Error turned into `Failed` (plain data, safe to send between
    processes: some error classes cannot be rebuilt from their message)."""
    try:
        return load(item)
    except Vr2Error as exc:
        return Failed(str(exc))


def prefetched(batches: Iterable[Sequence], load: Callable[[Any], Any], *, workers: int = 2,
               ahead: int = 2) -> Iterator[tuple[Sequence, list]]:
    """Yield `(batch, [load(item) or Failed for item in batch])` for each batch, in order.

    `load` must be picklable (a module-level function or a `functools.partial` of one).
    `workers=0` loads in this process, one batch at a time (no overlap).
    """
    if workers <= 0:
        for batch in batches:
            yield batch, [load_or_fail(load, item) for item in batch]
        return
    source = iter(batches)
    first = next(source, None)
    if first is None:
        return
    pool = _Pool(workers)
    pending: deque[tuple[Sequence, list[Future]]] = deque()

    def fill(limit: int) -> None:
        while len(pending) < limit:
            batch = next(source, None)
            if batch is None:
                return
            pending.append((batch, [pool.submit(load_or_fail, load, item) for item in batch]))

    try:
        # The first batch loads here while the batches behind it go to the workers: a spawned
        # worker needs ~0.5 s to start and import before its first item, and this process would
        # only wait for it.
        fill(ahead)
        yield first, [load_or_fail(load, item) for item in first]
        while True:
            fill(ahead + 1)
            if not pending:
                return
            batch, futures = pending.popleft()
            yield batch, [_result(future, load, item) for future, item in zip(futures, batch)]
    finally:
        # A stopped run (error, Ctrl-C, generator closed) must not leave decoders running.
        pool.close()


class _Pool:
    """A process pool that replaces itself after a worker died, so one crash costs the items in
    flight (loaded again here) and not the rest of the run. After `MAX_BREAKS` deaths (workers
    that cannot even start, e.g. a script without the `if __name__ == "__main__":` guard that
    spawn needs) it stops using processes and loads in this one."""

    MAX_BREAKS = 2

    def __init__(self, workers: int):
        self.workers = workers
        self.breaks = 0
        self._executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        return process_pool(self.workers)  # spawn: the parent holds a model and torch's threads

    def submit(self, fn, *args) -> Future:
        if self.breaks >= self.MAX_BREAKS:
            return _done(fn(*args))
        try:
            return self._executor.submit(fn, *args)
        except BrokenProcessPool:
            self.breaks += 1
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self.breaks >= self.MAX_BREAKS:
                return _done(fn(*args))
            self._executor = self._new()
            return self._executor.submit(fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _result(future: Future, load: Callable[[Any], Any], item: Any) -> Any:
    try:
        return future.result()
    except BrokenProcessPool:
        return load_or_fail(load, item)
