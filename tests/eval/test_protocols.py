"""Evaluation protocols: the release's frame sampling and sizes, its per-task prompts, and the
`paper` protocol end to end through the eval runner."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release_fixture import THINK, write_release

from vr2.eval import protocols
from vr2.eval import release_prompts
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.eval.runner import Output, evaluate
from vr2.samples import Sample
from vr2.video.sampling import qwen_resize, release_frame_count, release_frame_indices, sample_video_release


# --------------------------------------------------------------------------- frames


def official_indices(total, video_fps, fps=2.0, max_frames=128):
    """The release's rule written out step by step with torch, as qwen-vl-utils and the fork's
    model wrapper compute it (independent of vr2.video.sampling's numpy version)."""
    import torch

    low = math.ceil(4 / 2) * 2
    high = math.floor(min(max_frames, total) / 2) * 2
    n = min(min(max(total / video_fps * fps, low), high), total)
    n = math.floor(n / 2) * 2
    sampled = torch.linspace(0, total - 1, n).round().long().tolist()
    picks = np.linspace(0, n - 1, max_frames, dtype=int)
    if n - 1 not in picks:
        picks = np.append(picks, n - 1)
    return [sampled[k] for k in picks], n


def test_short_clip_is_stretched_to_128_with_repeats():
    indices, count = release_frame_indices(300, 30.0)  # 10 s at 30 fps: 20 frames at 2 fps
    assert count == 20 and len(indices) == 128
    assert indices[0] == 0 and indices[-1] == 299 and len(set(indices)) == 20
    assert all(a <= b for a, b in zip(indices, indices[1:]))


def test_long_video_is_capped_at_128_without_repeats():
    indices, count = release_frame_indices(18_000, 30.0)  # 10 min: 1200 frames wanted, 128 kept
    assert count == 128 and len(set(indices)) == 128 == len(indices)
    assert indices == [round(x) for x in np.linspace(0, 17_999, 128)]


@settings(max_examples=300, deadline=None)
@given(total=st.integers(4, 200_000), video_fps=st.floats(1.0, 60.0), max_frames=st.sampled_from([8, 32, 128]))
def test_frame_indices_follow_the_release_rule(total, video_fps, max_frames):
    indices, count = release_frame_indices(total, video_fps, max_frames=max_frames)
    assert (indices, count) == official_indices(total, video_fps, max_frames=max_frames)
    assert len(indices) in (max_frames, max_frames + 1) and indices[-1] == total - 1
    assert count == release_frame_count(total, video_fps, max_frames=max_frames) and count % 2 == 0


def test_too_short_video_is_an_error():
    with pytest.raises(Vr2Error, match="too short"):
        release_frame_indices(1, 30.0)


@pytest.mark.parametrize("size, expected", [((1080, 1920), (280, 504)), ((240, 320), (280, 392)),
                                            ((360, 420), (336, 420)), ((48, 64), (280, 392))])
def test_qwen_resize(size, expected):
    rows, cols = qwen_resize(*size, min_pixels=100_352, max_pixels=151_200)
    assert (rows, cols) == expected and rows % 28 == 0 and cols % 28 == 0


@settings(max_examples=300, deadline=None)
@given(height=st.integers(28, 4000), width=st.integers(28, 4000))
def test_qwen_resize_stays_in_the_budget(height, width):
    if max(height, width) / min(height, width) > 20:
        return
    rows, cols = qwen_resize(height, width, min_pixels=100_352, max_pixels=151_200)
    assert rows % 28 == 0 and cols % 28 == 0 and rows * cols <= 151_200


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video

    return write_test_video(tmp_path_factory.mktemp("v") / "clip.mp4", seconds=3.0, fps=10, size=(64, 48))


def test_sample_video_release_repeats_frames_without_overlays(clip):
    from vr2.video.sampling import sample_video

    video = sample_video_release(clip, max_frames=16, min_pixels=784, max_pixels=3136)
    assert video.frames.shape[0] == 16 and len(video.frame_indices) == 16
    assert len(set(video.frame_indices)) == 6  # 3 s at 2 fps, stretched to 16
    assert video.sample_fps == pytest.approx(6 / 30 * 10)
    plain = sample_video(clip, fps=10, max_frames=30, min_pixels=784, max_pixels=3136,
                         timestamp_overlay=False, subtitles=None)
    size = qwen_resize(48, 64, min_pixels=784, max_pixels=3136)
    assert video.frames.shape[1:3] == size
    first = video.frame_indices.index(video.frame_indices[-1])
    assert np.array_equal(video.frames[first], video.frames[-1])  # repeats are the same frame
    if plain.frames.shape[1:3] == size:  # no overlay drawn: the same pixels as a plain decode
        assert np.array_equal(video.frames[0], plain.frames[0])


# --------------------------------------------------------------------------- prompts


def mcq(question="What is on the table?", options=("a red ball", "a blue cup", "a green box", "two birds"),
        video="v.mp4", **extra):
    return Sample(id="s", video=str(video), question=question, options=list(options), answer="B", extra=extra)


@pytest.fixture
def pieces(tmp_path):
    return release_prompts.load(str(write_release(tmp_path)))


# The fixture's placeholder words (tests/release_fixture.py) in the places the release's tasks put theirs.
@pytest.mark.parametrize("benchmark, expected", [
    ("videomme", "<<head, four letters>>\nWhat is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\n"
     "D. two birds\n\n" + THINK),
    ("mvbench", "Question:What is on the table?\nOption:\n(A) a red ball\n(B) a blue cup\n(C) a green box\n"
     "(D) two birds\n\n" + THINK),
    ("tempcompass", "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\nD. two birds\n\n"
     "<<letter only>> \n" + THINK),
    ("mlvu", "What is on the table?\n(A) a red ball\n(B) a blue cup\n(C) a green box\n(D) two birds\n" + THINK),
    ("longvideobench", "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\nD. two birds\n\n" + THINK),
    ("videomathqa", "<<head, five letters>>\nWhat is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\n"
     "D. two birds\n\n" + THINK),
    ("scivideobench", "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\nD. two birds\n"
     "<<letter>>\n" + THINK),
    ("mmvu", "\nQ:What is on the table?\nA: a red ball\nB: a blue cup\nC: a green box\nD: two birds\nE: \n"
     "<<mmvu tail>>\n"),
    ("vsibench", "<<frames>>\nWhat is on the table?\nOptions:\nA. a red ball\nB. a blue cup\n"
     "C. a green box\nD. two birds\n\n" + THINK),
    ("unlisted", "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\nD. two birds\n" + THINK),
])
def test_paper_prompts(pieces, benchmark, expected):
    assert protocols.paper_prompt(benchmark, mcq(), pieces) == expected


def test_paper_prompts_open_questions_and_tracks(pieces):
    count = Sample(id="c", video="v.mp4", question="How many chairs?", answer="4", answer_type="regression")
    assert protocols.paper_prompt("vsibench", count, pieces) == (
        "<<frames>>\nHow many chairs?\n<<short phrase>>\n" + THINK)
    assert protocols.paper_prompt("mmvu", count, pieces) == "\nQ:How many chairs?\n<<mmvu open tail>>\n"
    open_adapt = Sample(id="o", video="v.mp4", question="What is x?", answer="42", extra={"track": "Adaptation"})
    assert protocols.paper_prompt("videommmu", open_adapt, pieces) == (
        "<<learn, then apply to>> <<this open question>>What is x?\n" + THINK)
    assert protocols.paper_prompt("videommmu", mcq(track="Adaptation"), pieces) == (
        "<<learn, then apply to>> <<this choice question>>What is on the table?\nA. a red ball\nB. a blue cup\n"
        "C. a green box\nD. two birds\n" + THINK)
    assert protocols.paper_prompt("videommmu", mcq(track="Perception"), pieces).endswith(
        "D. two birds\n<<ignore the quiz>>\n" + THINK)
    two = mcq(options=("yes", "no"))
    assert protocols.paper_prompt("minerva", two, pieces).startswith(
        "<<head, two letters>>\nWhat is on the table?\nA. yes")


def test_paper_mode_messages_use_the_release_system_prompt():
    from vr2.model.prompts import build_messages

    messages = build_messages("whole prompt", None, mode="paper")
    assert messages[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert messages[1]["content"][1]["text"] == "whole prompt"


# --------------------------------------------------------------------------- through the runner


class Recording:
    supports_vas_attn = False

    def __init__(self):
        self.calls = []

    def run(self, items, *, vas, **overrides):
        self.calls.append((items, overrides))
        return [Output("<think>It is B.</think><answer>B</answer>") for _ in items]


def test_paper_protocol_through_the_runner(clip, tmp_path):
    tasks = write_release(tmp_path / "release")
    recipe = load_recipe(None, ['eval.protocol="paper"', f'eval.release_tasks="{tasks}"', "video.max_frames=8",
                                "video.min_pixels=784",
                                "video.max_pixels=3136", "eval.vas_attn=false"])
    engine = Recording()
    summary = evaluate(recipe, output_dir=tmp_path, engine=engine,
                       samples={"mvbench": [mcq(video=clip)], "videommmu": [mcq(video=clip, track="Perception")]})
    (mv_items, mv_over), (mmmu_items, mmmu_over) = engine.calls
    assert mv_over == {"mode": "paper", "max_new_tokens": 1024}
    assert mmmu_over == {"mode": "paper", "max_new_tokens": 2048}
    video, prompt, options = mv_items[0]
    assert options is None and prompt == protocols.paper_prompt("mvbench", mcq(), release_prompts.load(str(tasks)))
    assert len(video.frames) == 8 and len(set(video.frame_indices)) == 6
    assert summary["benchmarks"]["mvbench"]["accuracy"] == 100.0
    described = summary["protocol"]
    assert described["protocol"] == "paper" and described["overlays"] == "none"
    assert "re-indexed" in described["frames"] and described["system_prompt"] == "You are a helpful assistant."
    report = (tmp_path / "report.md").read_text()
    import json

    assert "protocol paper" in report and "overlays none" in report
    assert "- mvbench.post: mvbench_think/mvbench_action_sequence.yaml" in report  # where each prompt came from
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["release_prompts"]["mvbench.post"].startswith("mvbench_think/mvbench_action_sequence.yaml ")

    row = json.loads((tmp_path / "samples" / "vr2_samples_videommmu.jsonl").read_text().splitlines()[0])
    assert row["track"] == "Perception"  # category fields kept per sample
    assert summary["benchmarks"]["videommmu"]["official_accuracy"] == 100.0


def test_paper_protocol_without_the_release_stops_before_any_work(tmp_path, monkeypatch):
    monkeypatch.delenv(release_prompts.ENV, raising=False)
    recipe = load_recipe(None, ['eval.protocol="paper"', "eval.vas_attn=false"])
    engine = Recording()
    with pytest.raises(Vr2Error, match="--release-tasks"):
        evaluate(recipe, output_dir=tmp_path / "out", engine=engine, samples={"mvbench": [mcq()]})
    assert engine.calls == [] and not (tmp_path / "out" / "run.json").exists()


def test_paper_protocol_needs_think_mode(tmp_path):
    recipe = load_recipe(None, ['eval.protocol="paper"', 'eval.mode="direct"'])
    with pytest.raises(Vr2Error, match="protocol"):
        evaluate(recipe, output_dir=tmp_path, engine=Recording(), samples={"mvbench": [mcq()]})
