"""Which checkpoint a resumed run continues from, and the per-step logs it keeps."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr2.train import checkpoints as ck
from vr2.errors import Vr2Error


def make_checkpoint(folder, step, complete=True):
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / ck.MARKER).write_text(json.dumps({"step": step}))
    return path


def test_only_marked_checkpoints_count(tmp_path):
    make_checkpoint(tmp_path, 2)
    make_checkpoint(tmp_path, 10)
    make_checkpoint(tmp_path, 12, complete=False)  # killed while saving
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "checkpoint-20").write_text("a file, not a folder")
    assert [s for s, _ in ck.checkpoints(tmp_path)] == [2, 10]
    assert ck.last_checkpoint(tmp_path).name == "checkpoint-10"
    assert [s for s, _ in ck.checkpoints(tmp_path, complete_only=False)] == [2, 10, 12]
    assert ck.last_checkpoint(tmp_path / "missing") is None


def test_resume_without_a_checkpoint_is_refused(tmp_path):
    make_checkpoint(tmp_path, 3, complete=False)
    with pytest.raises(Vr2Error, match="no complete checkpoint to resume from"):
        ck.resume_point(tmp_path, resume=True)


def test_fresh_start_over_an_earlier_run_is_refused(tmp_path):
    make_checkpoint(tmp_path, 3, complete=False)
    with pytest.raises(Vr2Error, match="--resume"):
        ck.resume_point(tmp_path, resume=False)


def test_fresh_start_clears_old_logs(tmp_path):
    (tmp_path / ck.STEPS_LOG).write_text('{"step": 1}\n')
    assert ck.resume_point(tmp_path, resume=False) is None
    assert not (tmp_path / ck.STEPS_LOG).exists()


def test_resume_drops_log_lines_past_the_checkpoint(tmp_path):
    make_checkpoint(tmp_path, 2)
    lines = [{"step": s, "samples": [f"s{s}"]} for s in (1, 2, 3)]
    (tmp_path / ck.STEPS_LOG).write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"step": 4, "sam')
    (tmp_path / ck.METRICS_LOG).write_text('{"step": 2, "loss": 1.0}\n{"step": 3, "loss": 0.5}\n')
    assert ck.resume_point(tmp_path, resume=True).name == "checkpoint-2"
    assert ck.read_log(tmp_path / ck.STEPS_LOG) == lines[:2]
    assert ck.read_log(tmp_path / ck.METRICS_LOG) == [{"step": 2, "loss": 1.0}]


@given(st.lists(st.integers(0, 30)), st.integers(0, 30))
def test_trim_keeps_exactly_the_steps_up_to_the_checkpoint(tmp_path_factory, steps, keep):
    folder = tmp_path_factory.mktemp("trim")
    (folder / ck.STEPS_LOG).write_text("".join(json.dumps({"step": s}) + "\n" for s in steps))
    ck.trim_logs(folder, keep)
    assert [r["step"] for r in ck.read_log(folder / ck.STEPS_LOG)] == [s for s in steps if s <= keep]


def test_checkpoint_step_reads_the_folder_name(tmp_path):
    assert ck.checkpoint_step(tmp_path / "checkpoint-42") == 42
    with pytest.raises(Vr2Error, match="not a checkpoint folder"):
        ck.checkpoint_step(tmp_path / "final")
