"""Data-parallel evaluation: samples split across ranks, per-rank files, rank 0 merging; and the
whole thing with two real processes (torchrun, gloo) against a single-process run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.eval import sharding
from vr2.errors import Vr2Error

SRC = Path(__file__).resolve().parents[2] / "src"


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 60), world=st.integers(1, 9))
def test_every_sample_belongs_to_exactly_one_rank(n, world):
    samples = list(range(n))
    shares = [sharding.Shard(rank, world).mine(samples) for rank in range(world)]
    assert sorted(x for share in shares for x in share) == samples


def test_environment(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert sharding.current() == sharding.Shard(0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(Vr2Error, match="RANK=5 WORLD_SIZE=2"):
        sharding.current()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(Vr2Error, match="RANK='x'"):
        sharding.current()


def test_merge_keeps_sample_order_and_each_doc_once(tmp_path):
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "rank0_b.jsonl").write_text("".join(json.dumps({"doc_id": d}) + "\n" for d in ("a", "c")))
    (parts / "rank1_b.jsonl").write_text(json.dumps({"doc_id": "b"}) + "\n" + json.dumps({"doc_id": "a"})
                                         + "\n" + '{"doc_id": "d", "tor')  # torn last line: not merged
    main = tmp_path / "vr2_samples_b.jsonl"
    main.write_text(json.dumps({"doc_id": "c", "kept": True}) + "\n")
    rows = {"c": {"doc_id": "c", "kept": True}}
    sharding.merge(main, rows, ["a", "b", "c", "d"], sharding.part_files(tmp_path, "b"))
    # Rewritten in sample order (the merged file's own row kept), whichever process wrote what.
    assert [json.loads(line)["doc_id"] for line in main.read_text().splitlines()] == ["a", "b", "c"]
    assert json.loads(main.read_text().splitlines()[2]) == {"doc_id": "c", "kept": True}
    assert not list(parts.iterdir()) and set(rows) == {"a", "b", "c"}


def test_reading_another_rank_file_never_changes_it(tmp_path):
    path = tmp_path / "rank1_x.jsonl"
    data = json.dumps({"doc_id": 1}) + "\n" + '{"doc_id": 2'
    path.write_text(data)
    assert list(sharding.read_part(path)) == ["1"] and path.read_text() == data


# --------------------------------------------------------------------------- two real processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video

    folder = tmp_path_factory.mktemp("bench")
    write_test_video(folder / "clip.mp4", seconds=1.0, fps=4, size=(64, 48))
    rows = [{"id": f"q{i}", "video": "clip.mp4", "question": f"What is shown {i}?",
             "options": ["a red ball", "a blue cup", "a green box"], "answer": "B"} for i in range(5)]
    rows.insert(2, {"id": "broken", "video": "missing.mp4", "question": "Q?", "options": ["x", "y"], "answer": "A"})
    path = folder / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


LAUNCHERS = {
    "torchrun": lambda port: [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "--master_addr", "127.0.0.1", "--master_port", str(port), "-m", "vr2"],
    # What README's "Many GPUs" section documents for CPU-only machines.
    "accelerate": lambda port: [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
                                "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                                "--main_process_ip", "127.0.0.1", "--main_process_port", str(port), "-m", "vr2"],
    "accelerate-cpu": lambda port: [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                                    "-m", "vr2"],
}


def _eval(args, out, model, bench, *, procs=1, launcher=None):
    env = {**os.environ, "PYTHONPATH": str(SRC), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "COLUMNS": "200"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = launcher or ("torchrun" if procs > 1 else None)
    launcher = LAUNCHERS[launcher](_free_port()) if launcher else [sys.executable, "-m", "vr2"]
    command = launcher + ["eval", "-b", str(bench), "--model", str(model), "-o", str(out), "--json",
                          "-s", "eval.max_new_tokens=6", "-s", "video.max_frames=2", "-s", "video.min_pixels=784",
                          "-s", "video.max_pixels=3136", "-s", "eval.batch_size=1", "-s", "eval.vas_attn=false",
                          *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "samples" / "vr2_samples_toy.jsonl").read_text().splitlines()]


def _comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "seconds"}


def test_two_processes_equal_one(tiny_model_dir, bench, tmp_path):
    _eval([], tmp_path / "single", tiny_model_dir, bench)
    single = _rows(tmp_path / "single")
    # rank 1 had already finished q1 (index 1, its share) before a crash: it is kept, not rerun
    parts = tmp_path / "sharded" / "samples" / "parts"
    parts.mkdir(parents=True)
    earlier = dict(single[1], resps=[["(written before the crash)"]])
    (parts / "rank1_toy.jsonl").write_text(json.dumps(earlier) + "\n")
    done = _eval([], tmp_path / "sharded", tiny_model_dir, bench, procs=2)
    sharded = _rows(tmp_path / "sharded")
    assert [r["doc_id"] for r in sharded] == [r["doc_id"] for r in single]  # none lost, none twice
    assert sharded[1]["resps"] == [["(written before the crash)"]]
    assert [_comparable(r) for i, r in enumerate(sharded) if i != 1] == \
           [_comparable(r) for i, r in enumerate(single) if i != 1]
    assert not list(parts.iterdir())
    summary = json.loads((tmp_path / "sharded" / "summary.json").read_text())
    entry = summary["benchmarks"]["toy"]
    assert (entry["samples"], entry["errors"]) == (6, 1)
    assert done.stdout.count('"vr2_summary"') == 1  # only rank 0 reports


# --------------------------------------------------------------------------- resuming with another process count


class _Scripted:
    supports_vas_attn = False

    def run(self, items, *, vas, **overrides):
        from vr2.eval.runner import Output

        return [Output("<answer>B</answer>", None, 2) for _ in items]


def test_a_two_process_run_resumed_by_one_process_ends_in_sample_order(tmp_path, bench):
    """A killed 2-process run left its part files (rank 0: q0, q2; rank 1: q1); one process
    finishes the rest. The samples file is in sample order, each doc once."""
    from vr2.config import load_recipe
    from vr2.eval.runner import evaluate, run_settings
    from vr2.samples import Sample

    recipe = load_recipe(None, ["video.max_frames=2", "video.min_pixels=784", "video.max_pixels=3136",
                                "eval.batch_size=1"])
    samples = [Sample(id=f"q{i}", video=str(bench.parent / "clip.mp4"), question="Q?", options=["x", "y"], answer="B")
               for i in range(5)]
    out = tmp_path / "run"
    parts = out / "samples" / "parts"
    parts.mkdir(parents=True)
    (out / "run.json").write_text(json.dumps(run_settings(recipe)))
    row = {"benchmark": "toy", "mode": "think", "resps": [["<answer>B</answer>"]], "error": None}
    (parts / "rank0_toy.jsonl").write_text("".join(json.dumps({**row, "doc_id": d}) + "\n" for d in ("q0", "q2")))
    (parts / "rank1_toy.jsonl").write_text(json.dumps({**row, "doc_id": "q1"}) + "\n")
    evaluate(recipe, output_dir=out, engine=_Scripted(), samples={"toy": samples})
    rows = [json.loads(x) for x in (out / "samples" / "vr2_samples_toy.jsonl").read_text().splitlines()]
    assert [r["doc_id"] for r in rows] == ["q0", "q1", "q2", "q3", "q4"]
    assert not list(parts.iterdir())


def test_which_launcher_invocation_starts_two_processes_on_cpu(tmp_path, bench):
    """`accelerate launch --cpu --num_processes 2` starts ONE process (accelerate's CPU launcher
    spreads only through mpirun); `accelerate launch --multi_gpu --num_processes 2` with no GPU
    visible starts two (torch.distributed.run underneath; vr2 joins a gloo group on the CPU), as
    does `torchrun --nproc_per_node 2`. Checked on a finished run (no model loads): each rank
    takes its own lock file in the output folder."""
    out = tmp_path / "run"
    one = _eval([], out, "unused-model", bench_done(bench, out), launcher="accelerate-cpu")
    assert not (out / ".vr2-eval.rank1.lock").exists() and one.stdout.count('"vr2_summary"') == 1
    two = _eval([], out, "unused-model", bench_done(bench, out), launcher="accelerate")
    assert (out / ".vr2-eval.rank1.lock").exists() and two.stdout.count('"vr2_summary"') == 1


def bench_done(bench: Path, out: Path) -> Path:
    """`bench` with every row already written under `out`, so a run only merges and reports."""
    samples = out / "samples" / "vr2_samples_toy.jsonl"
    if not samples.exists():
        rows = [json.loads(x) for x in bench.read_text().splitlines()]
        samples.parent.mkdir(parents=True)
        samples.write_text("".join(json.dumps({"doc_id": r["id"], "benchmark": "toy", "mode": "think",
                                               "resps": [["<answer>B</answer>"]], "target": r["answer"],
                                               "error": None}) + "\n" for r in rows))
    return bench
