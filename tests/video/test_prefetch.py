"""Decoding ahead in worker processes: order, bound, failures, a dying worker, and an eval run
whose rows equal a sequential one."""

from __future__ import annotations

import functools
import json
import os

import pytest

from vr2.config import load_recipe
from vr2.errors import MissingExtra, Vr2Error
from vr2.eval.runner import evaluate
from vr2.video.prefetch import Failed, prefetched
from vr2.samples import Sample


def square(x):
    if x == 3:
        raise Vr2Error("item 3: broken video")
    if x == 4:
        raise MissingExtra("decord", "pip install decord")  # not rebuildable from its message
    return x * x, os.getpid()


def die_in_worker(parent_pid, x):
    if os.getpid() != parent_pid and x == 2:
        os._exit(1)  # a decoder crash takes the worker process down
    return x + 100


@pytest.mark.parametrize("workers", [0, 2])
def test_batches_come_back_in_order_with_failures_as_values(workers):
    batches = [[0, 1], [2, 3], [4], [5, 6, 7]]
    out = list(prefetched(batches, square, workers=workers))
    assert [b for b, _ in out] == batches
    values = [v for _, loaded in out for v in loaded]
    assert values[3] == Failed("item 3: broken video")
    assert isinstance(values[4], Failed) and "pip install decord" in values[4].message
    assert [v[0] for i, v in enumerate(values) if i not in (3, 4)] == [0, 1, 4, 25, 36, 49]
    # The first batch loads here (the workers are still starting), the others really elsewhere.
    assert {v[1] for v in values[:2]} == {os.getpid()}
    later = {v[1] for i, v in enumerate(values[2:], 2) if i not in (3, 4)}
    assert (os.getpid() in later) == (workers == 0)


def test_at_most_ahead_batches_are_in_flight():
    pulled = []

    def source():
        for k in range(10):
            pulled.append(k)
            yield [k]

    stream = prefetched(source(), abs, workers=1, ahead=2)
    batch, loaded = next(stream)
    assert (batch, loaded) == ([0], [0])
    assert len(pulled) == 3  # the one returned and two decoding behind it
    assert [b[0] for b, _ in stream] == list(range(1, 10))


def test_a_dead_worker_costs_nothing_but_time():
    load = functools.partial(die_in_worker, os.getpid())
    out = list(prefetched([[0, 1], [2, 3], [4, 5]], load, workers=2, ahead=1))
    assert [v for _, loaded in out for v in loaded] == [100, 101, 102, 103, 104, 105]


def test_eval_rows_equal_a_sequential_run_and_failed_video_is_recorded(tiny_model_dir, tmp_path):
    from vr2.devtools.synthetic import write_test_video

    clip = write_test_video(tmp_path / "clip.mp4", seconds=1.0, fps=4, size=(64, 48))
    samples = [Sample(id=f"q{i}", video=str(clip), question=f"What is shown {i}?",
                      options=["a red ball", "a blue cup"], answer="B") for i in range(5)]
    samples.insert(2, Sample(id="broken", video=str(tmp_path / "missing.mp4"), question="Q?",
                             options=["x", "y"], answer="A"))
    fast = [f'model.name_or_path="{tiny_model_dir}"', "eval.max_new_tokens=6", "video.max_frames=2",
            "video.min_pixels=784", "video.max_pixels=3136", "eval.batch_size=2", "eval.vas_attn=false"]
    rows = {}
    for workers in (0, 2):
        recipe = load_recipe(None, [*fast, f"eval.decode_workers={workers}"])
        out = tmp_path / f"w{workers}"
        evaluate(recipe, output_dir=out, samples={"mine": samples})
        text = (out / "samples" / "vr2_samples_mine.jsonl").read_text()
        rows[workers] = [{k: v for k, v in json.loads(line).items() if k != "seconds"}
                         for line in text.splitlines()]
    assert rows[2] == rows[0]
    assert [r["doc_id"] for r in rows[2]] == ["q0", "q1", "broken", "q2", "q3", "q4"]
    assert "missing.mp4" in rows[2][2]["error"] and rows[2][0]["error"] is None



def die_always_in_worker(parent_pid, x):
    if os.getpid() != parent_pid:
        os._exit(1)  # e.g. a user script without the __main__ guard that spawn needs
    return x + 100


def test_workers_that_keep_dying_give_way_to_loading_here():
    load = functools.partial(die_always_in_worker, os.getpid())
    out = list(prefetched([[k] for k in range(8)], load, workers=1, ahead=1))
    assert [v for _, loaded in out for v in loaded] == [100 + k for k in range(8)]
