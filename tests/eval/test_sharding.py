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


def _eval(args, out, model, bench, *, procs=1):
    env = {**os.environ, "PYTHONPATH": str(SRC), "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1",
           "COLUMNS": "200"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    launcher = ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
                 "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "vr2"]
                if procs > 1 else [sys.executable, "-m", "vr2"])
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
