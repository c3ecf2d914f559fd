"""The source loaders, each on fixture files in its dataset's published layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.data.datasets import Skipped
from vr2.errors import Vr2Error
from vr2.curate.sources import LOADERS, SourceSpec, load_source

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "curate"


def load(kind: str, path: str) -> tuple[list, list[Skipped]]:
    rows = list(load_source(SourceSpec(kind, FIXTURES / path)))
    return [r for r in rows if not isinstance(r, Skipped)], [r for r in rows if isinstance(r, Skipped)]


def test_llava_video_conversations_split_into_one_sample_per_turn():
    samples, skipped = load("llava_video", "llava_video/0_30_s_academic_v0_1/0_30_s_academic_mc_v0_1_qa_processed.json")
    mc, count = samples
    assert mc.id == "llava_video/ego4d_clip_a#0" and mc.video == "academic_source/ego4d/clip_a.mp4"
    assert mc.question == "What colour is the background at the start of the video?"
    assert mc.options == ["red", "green", "blue", "yellow"] and mc.answer == "A"
    assert mc.answer_type == "multiple_choice" and mc.extra["source"] == "llava_video"
    assert (count.answer, count.answer_type, count.options) == ("3", "numeric", [])
    assert skipped == [Skipped(2, "conversations must be a non-empty list")]


def test_nextqa_csv_answer_index_names_the_option_and_map_gives_the_folder():
    samples, skipped = load("nextqa", "nextqa/train.csv")
    assert [s.answer for s in samples] == ["B", "E", "B"]
    assert samples[0].options == ["blue", "green", "black", "white", "pink"]
    assert samples[0].video == "1017/4882821564.mp4" and samples[0].extra["source_id"] == "4882821564_0"
    assert samples[0].extra["question_type"] == "TN"
    assert skipped == [Skipped(5, "answer index 7 is outside a0-a4")]  # row 1 is the header


def test_activitynet_qa_joins_question_and_answer_files():
    for name in ("train_q.json", "train_a.json"):
        samples, skipped = load("activitynet_qa", f"activitynet_qa/{name}")
        count, yes = samples
        assert count.video == "v_abcDEF12345.mp4" and count.question == "how many colours appear in the video?"
        assert (count.answer, count.answer_type) == ("6", "numeric")
        assert (yes.answer, yes.answer_type) == ("yes", "free_form")
        assert skipped == [Skipped(3, "question v_abcDEF12345_3 has no answer in the answer file")]


def test_perception_test_mc_questions_keyed_by_video():
    samples, skipped = load("perception_test", "perception_test/mc_question_valid.json")
    (sample,) = samples
    assert sample.id == "perception_test/video_10909#0" and sample.video == "video_10909.mp4"
    assert (sample.options, sample.answer, sample.extra["area"]) == (["blue", "green", "red"], "B", "memory")
    assert skipped == [Skipped(2, "question 0: answer_id 5 is not an option index")]


def test_clevrer_several_correct_choices_become_one_yes_no_question_each():
    samples, skipped = load("clevrer", "clevrer/validation.json")
    count, why, first, second = samples
    assert (count.answer, count.answer_type) == ("4", "numeric")
    assert why.answer == "A" and why.options[0] == "The clock reaching one second"
    assert why.extra["video_candidates"] == ["video_10000.mp4", "video_10000-11000/video_10000.mp4"]
    assert first.id == "clevrer/10000#2#0" and second.id == "clevrer/10000#2#1" and not skipped
    assert first.question == 'Which of the following is not responsible for the end? Is "The sphere" a correct answer?'
    assert (first.options, first.answer, second.answer) == (["yes", "no"], "A", "A")
    assert first.extra["video_candidates"] == why.extra["video_candidates"]


def test_clevrer_several_correct_choices_can_be_skipped_and_counted():
    from vr2.config import load_recipe

    settings = load_recipe(None, ['curate.clevrer_multi="skip"']).curate
    rows = list(load_source(SourceSpec("clevrer", FIXTURES / "clevrer/validation.json"), settings))
    assert [r for r in rows if isinstance(r, Skipped)] == [
        Skipped(1, 'question 10000#2: 2 correct choices (skipped: curate.clevrer_multi = "skip")')]


def test_vr2_jsonl_keeps_its_ids_and_types():
    samples, skipped = load("jsonl", "own/questions.jsonl")
    assert [s.id for s in samples] == ["jsonl/k1", "jsonl/k3"]
    assert samples[0].video == "kitchen.mp4" and samples[1].answer_type == "free_form"
    assert skipped == [Skipped(2, "no gold answer")]


def test_a_file_in_the_wrong_layout_is_one_line_naming_it(tmp_path):
    bad = tmp_path / "train.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(Vr2Error, match=r"train.csv: not a NExT-QA CSV \(missing columns"):
        list(load_source(SourceSpec("nextqa", bad)))
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    with pytest.raises(Vr2Error, match="x.json: not valid JSON"):
        list(load_source(SourceSpec("clevrer", not_json)))
    with pytest.raises(Vr2Error, match="source file not found"):
        list(load_source(SourceSpec("clevrer", tmp_path / "none.json")))


def test_spec_parsing():
    assert SourceSpec.parse("nextqa=a/b.csv=NExTVideo") == SourceSpec("nextqa", Path("a/b.csv"), "NExTVideo")
    assert SourceSpec.parse(" clevrer = c.json ").videos == ""
    for text in ("nextqa", "=x", "bogus=x.json", "a=b=c=d"):
        with pytest.raises(Vr2Error, match="curate.sources"):
            SourceSpec.parse(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_spec_parsing_never_crashes(text):
    try:
        spec = SourceSpec.parse(text)
    except Vr2Error:
        return
    assert spec.kind in LOADERS


ROW = st.dictionaries(st.sampled_from(["id", "video", "conversations", "question", "answer", "scene_index",
                                       "questions", "video_filename"]),
                      st.recursive(st.none() | st.integers() | st.text(max_size=8),
                                   lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                                   max_leaves=8), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW | st.integers() | st.text(max_size=5), max_size=4), st.sampled_from(["llava_video", "clevrer"]))
def test_any_json_array_gives_samples_or_skipped_rows(tmp_path_factory, rows, kind):
    path = tmp_path_factory.mktemp("rows") / "rows.json"
    path.write_text(json.dumps(rows))
    for item in load_source(SourceSpec(kind, path)):
        assert isinstance(item, Skipped) or item.answer_type is not None


# --------------------------------------------------------------------------- hostile sources (issue 19)


def test_deeply_nested_json_source_is_a_one_line_error(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(Vr2Error, match="nested too deeply") as error:
        list(load_source(SourceSpec("llava_video", deep)))
    assert str(deep) in str(error.value) and "\n" not in str(error.value)


def test_csv_field_over_the_csv_limit_is_a_one_line_error(tmp_path):
    big = tmp_path / "train.csv"
    big.write_text("video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4\n"
                   f"1,1,1,1,{'x' * 200_000},0,1,CW,a,b,c,d,e\n")
    with pytest.raises(Vr2Error, match="row .*: unreadable CSV .*field larger") as error:
        list(load_source(SourceSpec("nextqa", big)))
    assert str(big) in str(error.value)


def test_a_video_path_over_255_bytes_is_one_skipped_row(tmp_path):
    from vr2.curate.pipeline import VideoFinder
    from vr2.data.datasets import BadRow

    with pytest.raises(BadRow, match="video path unusable"):
        VideoFinder(tmp_path).find(["x" * 300 + ".mp4"])
    assert VideoFinder(tmp_path).find(["ok.mp4"]) == "ok.mp4"  # a missing file is reported when probed
