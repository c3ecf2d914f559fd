"""Worker process pools that end with the process that started them.

A pool's workers wait on a pipe for their next task. When the parent is killed outright (SIGKILL,
the OOM killer) nothing tells them, and they wait forever: one idle process per worker for every
killed run (forked workers even hold the pipe's other end themselves). So every pool vr2 starts gives
each worker a watcher thread that ends it within a second of its parent's death.

The workers are started with spawn, a fresh interpreter, never a fork: the parents run threads
(the curate teacher's HTTP calls, torch and ONNX Runtime pools), and a forked child can deadlock on a
lock that one of them held at the moment of the fork.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from vr2.errors import Vr2Error

PARENT_CHECK_SECONDS = 1.0


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn-started pool of `workers` processes that exit when this process is gone."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=exit_with_parent, initargs=(os.getpid(),))


def exit_with_parent(parent: int) -> None:
    """Run in each worker as it starts: end the worker once `parent` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="vr2-exit-with-parent", daemon=True).start()


def pool_died(what: str) -> Vr2Error:
    """The one-line error for a pool whose worker died (`BrokenProcessPool`)."""
    return Vr2Error(f"{what}: a worker process died (out of memory, a crashing decoder, or a Python script "
                    f"that calls vr2 without `if __name__ == \"__main__\":`, which spawned workers need); "
                    f"run the same command again to resume")
