"""Training samples from a recipe: bad rows reported and skipped, SFT replies, GRPO table rows."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr2.train import data as td
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.samples import Sample


def recipe_for(smoke_dir, train_file, *extra):
    return load_recipe(None, [f"data.train_file={json.dumps(str(train_file))}",
                              f"data.video_dir={json.dumps(str(smoke_dir / 'videos'))}",
                              f"data.subtitles_dir={json.dumps(str(smoke_dir / 'subtitles'))}", *extra])


def test_loads_the_smoke_data_with_subtitles_and_limit(smoke_dir):
    samples = td.load_samples(recipe_for(smoke_dir, smoke_dir / "grpo.json"))
    assert len(samples) == 4
    assert all(s.video.endswith(f"clip{k}.mp4") for k, s in enumerate(samples))
    assert samples[0].subtitles and samples[0].subtitles.endswith("clip0.srt")
    assert samples[0].temporal_grounding and samples[0].options
    assert len(td.load_samples(recipe_for(smoke_dir, smoke_dir / "grpo.json", "data.limit=2"))) == 2


def test_bad_rows_are_reported_with_row_and_reason(smoke_dir, tmp_path, capsys):
    rows = json.loads((smoke_dir / "sft.json").read_text())
    rows[1]["video"] = "missing.mp4"
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    samples = td.load_samples(recipe_for(smoke_dir, path))
    assert len(samples) == 3
    err = capsys.readouterr().err
    assert "skipped" in err and "row 2" in err and "missing.mp4" in err
    assert "3 samples, 1 rows skipped" in err


def test_bad_reference_keys_are_reported_at_load(smoke_dir, tmp_path, capsys):
    rows = json.loads((smoke_dir / "grpo.json").read_text())
    rows[1]["temporal_grounding"] = {"00:01": "A thing happens.", "00:05 - end": "It ends."}
    path = tmp_path / "data.json"
    path.write_text(json.dumps(rows))
    samples = td.load_samples(recipe_for(smoke_dir, path))
    assert len(samples) == len(rows)
    err = capsys.readouterr().err
    assert "row 2" in err and "'00:05 - end' is not a time" in err


def test_no_usable_rows_is_an_error(smoke_dir, tmp_path):
    path = tmp_path / "data.json"
    path.write_text(json.dumps([{**json.loads((smoke_dir / "sft.json").read_text())[0], "video": "gone.mp4"}]))
    with pytest.raises(Vr2Error, match="no usable rows"):
        td.load_samples(recipe_for(smoke_dir, path))
    with pytest.raises(Vr2Error, match="data.train_file is not set"):
        td.load_samples(load_recipe(None))


def test_sft_pairs_take_the_assistant_reply(smoke_dir):
    samples, targets = td.sft_pairs(recipe_for(smoke_dir, smoke_dir / "sft.json"))
    assert len(samples) == len(targets) == 4
    assert all(t.startswith("<think>At 00:00:00") and t.endswith("</answer>") for t in targets)


@pytest.mark.parametrize("fields, expected", [
    ({"reasoning": "<think>a</think><answer>B</answer>"}, "<think>a</think><answer>B</answer>"),
    ({"reasoning": "looked at 00:01", "answer": "B"}, "<think>looked at 00:01</think><answer>B</answer>"),
    ({"reasoning": "<think>a</think>", "answer": "C"}, "<think>a</think><answer>C</answer>"),
    ({"extra": {"response": " <think>x</think><answer>D</answer> "}}, "<think>x</think><answer>D</answer>"),
    ({"answer": "B"}, None),
    ({}, None),
])
def test_sft_target(fields, expected):
    assert td.sft_target(Sample(id="1", video="v.mp4", question="q", **fields), "vr2") == expected


def test_the_release_style_learns_the_assistant_turn_verbatim():
    sample = Sample(id="1", video="v.mp4", question="q", extra={"response": " <think>x</think>\n<answer>D</answer>\n"})
    assert td.sft_target(sample, "release") == " <think>x</think>\n<answer>D</answer>\n"
    assert td.sft_target(sample, "vr2") == "<think>x</think>\n<answer>D</answer>"


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4))
def test_grounding_column_round_trips_as_json(grounding):
    text = td.grounding_text(grounding)
    assert text is None if not grounding else json.loads(text) == grounding


def test_grpo_rows_carry_what_rewards_read():
    sample = Sample(id="7", video="v.mp4", question="Which?", options=["a", "b"], answer="B",
                    answer_type="multiple_choice", temporal_grounding={"00:01": "x"})
    row = td.grpo_rows([sample, Sample(id="8", video="w.mp4", question="How many?")])
    assert row[0]["index"] == 0 and row[0]["id"] == "7" and row[0]["options"] == ["a", "b"]
    assert json.loads(row[0]["temporal_grounding"]) == {"00:01": "x"}
    assert "Which?" in row[0]["prompt"] and "A. a" in row[0]["prompt"]
    assert row[1]["temporal_grounding"] is None and row[1]["answer"] is None and row[1]["options"] == []
    assert td.sft_rows([sample]) == [{"index": 0, "id": "7"}]


NULL_SENTENCE = {"00:01": None, "00:02": "A man sits.", "00:03": 5}
TRACE = "<think>At 00:01 None. At 00:02 a man sits.</think><answer>B</answer>"


@pytest.mark.parametrize("grounding", [NULL_SENTENCE, json.dumps(NULL_SENTENCE)])
def test_a_sentence_that_is_not_text_is_dropped_and_counted_in_training_as_in_score(tmp_path, grounding):
    """README "Reference keys that are not times": an entry whose sentence is not a non-empty string is dropped
    from the reference and counted. Training used to read null as the sentence "None" (and 5 as "5"), so "At
    00:01 None." matched it and the trace earned TAR 1.0 where `vr2 score` gives 0.5."""
    from vr2.data.datasets import load_dataset_file
    from vr2.eval.benchmarks import load_jsonl_benchmark
    from vr2.scoring.batch import ScoreInput, score_inputs
    from vr2.scoring.rewards import build_tar_reward

    (tmp_path / "a.mp4").write_bytes(b"")
    released = {"video": "a.mp4", "temporal_grounding": grounding, "conversations": [
        {"from": "human", "value": "<video>\nWho sits?\nA. a woman\nB. a man"},
        {"from": "assistant", "value": "<think>x</think><answer>B</answer>"}]}
    plain = {"video": "a.mp4", "question": "Who sits?", "options": ["a woman", "a man"], "answer": "B",
             "temporal_grounding": grounding}
    (tmp_path / "rows.json").write_text(json.dumps([released, plain]))
    result = load_dataset_file(tmp_path / "rows.json", tmp_path)
    (tmp_path / "bench.jsonl").write_text(json.dumps(plain) + "\n")
    evaluated, = load_jsonl_benchmark(tmp_path / "bench.jsonl", tmp_path)
    for sample in [*result.samples, evaluated]:
        assert sample.temporal_grounding == NULL_SENTENCE  # kept as written; never the text "None"
    assert [(b.row, "not a non-empty string" in b.reason) for b in result.bad_ref_keys] == [(1, True), (1, True),
                                                                                             (2, True), (2, True)]
    tar = build_tar_reward(load_recipe(None, ["tar.gate=false"]).tar)
    column = [row["temporal_grounding"] for row in td.grpo_rows(result.samples)]
    training = tar.details([TRACE, TRACE], temporal_grounding=column)
    scored = score_inputs([ScoreInput(TRACE, temporal_grounding=grounding)], {"tar": tar}, {"tar": 1.0})[0]
    assert [d.value for d in training] == [0.5, 0.5] and scored["tar"] == 0.5
    assert [d.bad_ref_keys for d in training] == [2, 2] and scored["bad_ref_keys"] == 2
