"""Time to first score: one `vr2 score` call versus `python -c "import torch"` and versus the
same call on the sentence-transformers (torch) embedder, each a fresh process.

Every command runs `--repeats` times, interleaved so load from other processes hits all alike;
the best wall time and the peak RSS (of that process, from wait4) are reported. The ONNX export
is done before timing (it happens once per machine).

Run: .venv/bin/python benchmarks/bench_score.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCORE = ["score", "examples/trace.json", "--ref", "examples/ref.json", "--json"]
TORCH_BACKEND = (
    "import sys, vr2.scoring.embedding as e\n"
    "make = e.make_minilm\n"
    "e.make_minilm = lambda *a, **k: make(*a, **{**k, 'backend': 'torch'})\n"
    "from vr2.cli.main import main\n"
    f"sys.argv = ['vr2', *{SCORE!r}]\n"
    "main()\n"
)
COMMANDS = {
    "vr2 score (onnx)": [sys.executable, "-m", "vr2", *SCORE],
    "vr2 score (torch)": [sys.executable, "-c", TORCH_BACKEND],
    "import torch": [sys.executable, "-c", "import torch"],
}


def run_once(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    # The one-time export, outside the timing and in its own process: a child's peak RSS starts
    # from its parent's at fork, so this process must stay small.
    subprocess.run([sys.executable, "-m", "vr2.scoring.onnx_embedding"], cwd=ROOT, check=True)
    best = {name: (float("inf"), 0.0) for name in COMMANDS}
    for _ in range(args.repeats):
        for name, cmd in COMMANDS.items():
            wall, rss = run_once(cmd)
            if wall < best[name][0]:
                best[name] = (wall, rss)
    for name, (wall, rss) in best.items():
        print(f"{name:20s} {wall:6.2f} s  {rss:7.0f} MB RSS")
    ours, before, torch_only = (best[k][0] for k in COMMANDS)
    print(f"vr2 score / import torch: {ours / torch_only:.2f}x;  "
          f"torch-backend score / onnx score: {before / ours:.1f}x")


if __name__ == "__main__":
    main()
