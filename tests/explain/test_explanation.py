"""vr2.explain.explanation: analysing a given completion (claims, frames, TAC, TAR, VAS) and the end-to-end run."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.explain import explanation as ex
from vr2.scoring.claims import Claim
from vr2.config import Recipe, load_recipe
from vr2.errors import Vr2Error
from vr2.model.vas import VasResult

TIMES = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
OPTIONS = ["A. red", "B. green"]
GOOD = ("<think>At 00:00 the screen is red. Around 00:01 the background turns green, and from 00:02 "
        "to 00:03 the number changes on the screen. At 05:00 a dog appears. So the answer is B."
        "</think><answer>B</answer>")
REF = {"00:01": "The background turns green.", "00:03": "The number changes on the screen."}


def _reference(grounding=REF, answer="B") -> ex.Reference:
    from vr2.scoring.claims import reference_claims

    return ex.Reference("ref.json", grounding, reference_claims(grounding), answer, None, [])


@pytest.fixture(scope="module")
def tar():
    from vr2.scoring.rewards import build_tar_reward

    recipe = Recipe()
    return build_tar_reward(recipe.tar, recipe.judge)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video

    return write_test_video(tmp_path_factory.mktemp("v") / "clock.mp4", seconds=4, fps=10, size=(112, 84))


@pytest.fixture(scope="module")
def small_recipe():
    return load_recipe(None, ["video.min_pixels=784", "video.max_pixels=9408", "eval.max_new_tokens=12"])


# --- frames a claim points at ---------------------------------------------------------------


def test_nearest_frame_and_claim_frames():
    assert ex.nearest_frame(TIMES, 0.0) == 0
    assert ex.nearest_frame(TIMES, 0.74) == 1
    assert ex.nearest_frame(TIMES, 0.75) == 1  # tie: the earlier frame
    assert ex.nearest_frame(TIMES, 99) == 7
    assert ex.nearest_frame(TIMES, -3) == 0
    assert ex.claim_frames(Claim(1, 1, "x"), TIMES) == [2]
    assert ex.claim_frames(Claim(2, 3, "x"), TIMES) == [4, 5, 6]
    assert ex.claim_frames(Claim(1.1, 1.3, "x"), TIMES) == [2]  # between frames: the nearest one
    assert ex.claim_frames(Claim(1, 1, "x"), []) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1000), min_size=1, max_size=30, unique=True), st.floats(-10, 1100))
def test_nearest_frame_is_the_closest(times, t):
    times = sorted(times)
    k = ex.nearest_frame(times, t)
    assert abs(times[k] - t) == min(abs(x - t) for x in times)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("at 0:15 1m05s 12s from to and .,<>&\n"), max_size=80))
def test_segments_rebuild_the_text(text):
    pieces = ex.highlight_segments(text)
    assert "".join(p for p, _, _ in pieces) == text
    for piece, mention, _ in pieces:
        assert mention is None or piece == mention.text


# --- analysis of a given completion, no model ------------------------------------------------


def test_analyze_without_reference_finds_claims_frames_and_tac():
    e = ex.analyze(GOOD, question="What colour?", options=OPTIONS, frame_times=TIMES, duration=4.0)
    assert [(c.claim.start, c.claim.end) for c in e.claims] == [(0, 0), (1, 1), (2, 3), (300, 300)]
    assert [c.frames for c in e.claims] == [[0], [2], [4, 5, 6], [7]]
    assert [c.in_video for c in e.claims] == [True, True, True, False]
    assert e.claims[1].claim.text == "the background turns green"
    assert e.consistency.consistent is True and e.consistency.think_answer == "B"
    assert e.answer_type == "multiple_choice" and e.format_ok
    assert e.tar is None and e.accuracy is None and e.vas is None
    assert any("claim 4 cites 05:00" in n for n in e.notes)
    # every time mention in the reasoning is highlighted and tied to its claim
    tied = [(piece, claim) for piece, mention, claim in e.segments() if mention is not None]
    assert tied == [("00:00", 0), ("00:01", 1), ("from 00:02 to 00:03", 2), ("05:00", 3)]
    json.dumps(e.to_dict())  # JSON-ready


def test_analyze_with_reference_uses_the_training_tar(tar):
    e = ex.analyze(GOOD, question="Q", options=OPTIONS, frame_times=TIMES, duration=4.0,
                   reference=_reference(), tar=tar)
    assert [c.match[0] if c.match else None for c in e.claims] == [None, 0, 1, None]
    assert e.tar.gate == 1 and e.tar.value == pytest.approx(0.5)
    assert e.tar.result.recall == pytest.approx(1.0)
    assert e.accuracy == 1.0 and e.matched_refs == {0, 1}
    data = e.to_dict()
    assert data["tar_precision"] == pytest.approx(0.5) and data["tar_f1"] == pytest.approx(2 / 3)
    assert data["claims"][2]["match"]["ref"] == 1 and data["claims"][2]["frame_times"] == [2.0, 2.5, 3.0]


def test_inconsistent_answer_closes_the_gate(tar):
    bad = GOOD.replace("<answer>B</answer>", "<answer>A</answer>")
    e = ex.analyze(bad, question="Q", options=OPTIONS, frame_times=TIMES, reference=_reference(), tar=tar)
    assert e.consistency.consistent is False
    assert e.tar.gate == 0 and e.tar.value == 0.0 and e.tar.result.precision == pytest.approx(0.5)
    assert e.accuracy == 0.0


def test_attention_at_claimed_frames_is_relative_to_uniform():
    per_frame = [0.05, 0.05, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1]
    vas = VasResult(30.0, per_frame, TIMES, 40, 96)
    e = ex.analyze(GOOD, question="Q", options=OPTIONS, frame_times=TIMES, vas=vas)
    assert e.claims[0].attention == pytest.approx(0.05 * 8)
    assert e.claims[1].attention == pytest.approx(0.4 * 8)
    assert e.claims[2].attention == pytest.approx(0.1 * 8)
    assert e.to_dict()["vas_attn"] == 30.0


def test_completion_without_think_has_no_claims_and_says_why():
    e = ex.analyze("garbage at 00:03 <answer>B</answer>", question="Q", options=OPTIONS, frame_times=TIMES)
    assert e.claims == [] and e.think is None and e.consistency.consistent is None
    assert any("no <think> block" in n for n in e.notes)
    assert e.reasoning.startswith("garbage")
    cut = ex.analyze("<think>At 00:01 it starts", question="Q", frame_times=TIMES)
    assert any("never closed" in n for n in cut.notes) and any("no <answer>" in n for n in cut.notes)


def test_answer_type_from_flag_reference_or_options():
    assert ex.resolve_type(None, None, OPTIONS) == "multiple_choice"
    assert ex.resolve_type(None, None, []) == "free_form"
    assert ex.resolve_type(None, _reference(answer="12"), []) == "numeric"
    assert ex.resolve_type("ocr", _reference(), OPTIONS) == "ocr"
    with pytest.raises(Vr2Error, match="--answer-type"):
        ex.resolve_type("yes_no", None, [])


# --- reading inputs ---------------------------------------------------------------------------


def test_reference_files(tmp_path):
    full = tmp_path / "full.json"
    full.write_text(json.dumps({"temporal_grounding": json.dumps(REF), "answer": "B", "options": OPTIONS}))
    ref = ex.load_reference_file(full)
    assert [c.start for c in ref.claims] == [1, 3] and ref.answer == "B" and ref.options == OPTIONS
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(REF))
    assert len(ex.load_reference_file(bare).claims) == 2
    badkey = tmp_path / "badkey.json"  # the bad-key rule: dropped, not an error
    badkey.write_text(json.dumps({**REF, "soon": "x"}))
    assert len(ex.load_reference_file(badkey).claims) == 2
    for name, text, message in [
        ("broken.json", "{not json", "not valid JSON"),
        ("badgrounding.json", json.dumps({"temporal_grounding": "[1, 2]"}), "got list"),
        ("badopts.json", json.dumps({"temporal_grounding": REF, "options": "A"}), "options"),
        ("badtype.json", json.dumps({"temporal_grounding": REF, "answer_type": "yes"}), "answer_type"),
        ("list.json", "[1, 2]", "expected a JSON object"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(Vr2Error, match=message) as info:
            ex.load_reference_file(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(Vr2Error, match="not found"):
        ex.load_reference_file(tmp_path / "missing.json")


def test_read_completion(tmp_path):
    text = tmp_path / "c.txt"
    text.write_text(GOOD)
    assert ex.read_completion(text) == GOOD
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"completion": GOOD}))
    assert ex.read_completion(js) == GOOD
    empty = tmp_path / "e.json"
    empty.write_text(json.dumps({"completion": " "}))
    with pytest.raises(Vr2Error, match="e.json"):
        ex.read_completion(empty)


def test_model_name_precedence():
    assert ex.model_name(None, Recipe()) == ex.DEFAULT_MODEL == "MBZUAI/Video-R2"
    assert ex.model_name("my/model", Recipe()) == "my/model"
    assert ex.model_name(None, load_recipe(None, ['model.name_or_path="other/model"'])) == "other/model"


# --- end to end with the tiny model ----------------------------------------------------------


def test_run_generates_and_explains(tiny_model_dir, video_file, small_recipe):
    steps = []
    e = ex.run_explain(video_file, "What colour is the screen?", OPTIONS, recipe=small_recipe,
                       model=str(tiny_model_dir), progress=steps.append)
    assert steps[0].startswith("sampling") and "generating" in steps
    assert e.generated and e.model == str(tiny_model_dir) and e.completion
    assert e.frames.shape[0] == len(e.frame_times) == 8 and e.duration == pytest.approx(4.0)
    assert e.settings["max_new_tokens"] == 12 and e.settings["frames"] == 8
    # random weights rarely write a <think> block; then VAS says why it is missing
    assert (e.vas.score is not None) == (e.think is not None)
    json.dumps(e.to_dict())


def test_run_replays_a_given_completion_for_vas(tiny_model_dir, video_file, small_recipe):
    e = ex.run_explain(video_file, "What colour?", OPTIONS, recipe=small_recipe, model=str(tiny_model_dir),
                       completion=GOOD)
    assert not e.generated and e.completion == GOOD
    assert e.vas.score is not None and 0 < e.vas.score <= 100
    assert sum(e.vas.per_frame) == pytest.approx(1.0) and e.vas.per_frame_times == e.frame_times
    assert all(c.attention is not None and c.attention > 0 for c in e.claims)


def test_run_without_model_when_completion_given_and_no_vas(video_file, small_recipe):
    e = ex.run_explain(video_file, "Q", OPTIONS, recipe=small_recipe, model="/no/such/model",
                       completion=GOOD, vas=False)
    assert e.model is None and e.vas is None and e.vas_note and len(e.claims) == 4


def test_run_rejects_bad_input_before_the_model(tmp_path, small_recipe):
    with pytest.raises(Vr2Error, match="missing.mp4"):
        ex.run_explain(tmp_path / "missing.mp4", "Q", recipe=small_recipe, model="/no/such/model")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(Vr2Error, match="corrupt.mp4"):
        ex.run_explain(corrupt, "Q", recipe=small_recipe, model="/no/such/model")
    with pytest.raises(Vr2Error, match="QUESTION"):
        ex.run_explain(corrupt, "  ", recipe=small_recipe)
