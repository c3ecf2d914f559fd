"""Worker pools end with their parent: a killed run leaves no idle worker processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A parent that starts a two-worker pool, prints the workers' pids, then dies by SIGKILL (no
# cleanup of any kind runs, as with the OOM killer).
PARENT = """
import os, signal
from vr2.processes import process_pool
from workerfns import pid

if __name__ == "__main__":
    pool = process_pool(2)
    pids = set()
    while len(pids) < 2:
        pids |= set(pool.map(pid, range(8)))
    print(*sorted(pids), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""
WORKER_FUNCTIONS = """
import os, time

def pid(_):
    time.sleep(0.05)  # long enough that both workers get a task
    return os.getpid()
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's reaping is left


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    (tmp_path / "workerfns.py").write_text(WORKER_FUNCTIONS)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")])}
    out = tmp_path / "pids.txt"
    # Output to a file, not a pipe: lingering workers would hold a pipe open and stall the read.
    with out.open("w") as handle:
        code = subprocess.run([sys.executable, str(script)], env=env, stdout=handle,
                              stderr=subprocess.STDOUT, timeout=120).returncode
    assert code == -signal.SIGKILL, out.read_text()
    workers = [int(p) for p in out.read_text().split()]
    assert len(workers) == 2
    deadline = time.monotonic() + 30
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(p) for p in workers), "workers outlived their killed parent"
