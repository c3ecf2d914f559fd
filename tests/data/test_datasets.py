"""Training data loading: the released Video-R2 layout, plain JSONL, bad rows and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr2.data.datasets import (
    BadRow,
    LoadResult,
    load_dataset_file,
    resolve_video,
    split_question_options,
)
from vr2.errors import Vr2Error

HUMAN_MCQ = ("<video>\nWhat colour is the car that stops at 00:00:12?\nOptions:\nA. red\nB. blue\n"
             "C. green\nPlease think step by step.")
REPLY_MCQ = "<think>At 00:00:12 a blue car stops by the kerb.</think><answer>B</answer>"


def release_row(video="clips/a.mp4", human=HUMAN_MCQ, reply=REPLY_MCQ, **more) -> dict:
    row = {"video": video, "conversations": [{"from": "human", "value": human},
                                             {"from": "assistant", "value": reply}]}
    row.update(more)
    return row


@pytest.fixture
def videos(tmp_path: Path) -> Path:
    folder = tmp_path / "videos"
    (folder / "clips").mkdir(parents=True)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        (folder / "clips" / name).write_bytes(b"")
    return folder


def write(path: Path, rows) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    else:
        path.write_text(json.dumps(rows))
    return path


# ---------------------------------------------------------------------------------------------
# Released Video-R2 layout


def test_release_sft_row(tmp_path, videos):
    result = load_dataset_file(write(tmp_path / "sft.json", [release_row(id="s1")]), videos)
    assert isinstance(result, LoadResult) and result.skipped == []
    (sample,) = result.samples
    assert sample.id == "s1"
    assert sample.video == str(videos / "clips" / "a.mp4")
    assert sample.question == "What colour is the car that stops at 00:00:12?"
    assert sample.options == ["red", "blue", "green"]
    assert (sample.answer, sample.answer_type) == ("B", "multiple_choice")
    assert sample.reasoning == REPLY_MCQ and sample.extra["response"] == REPLY_MCQ
    assert sample.extra["prompt"] == HUMAN_MCQ
    assert sample.extra["text_after_options"] == "Please think step by step."
    assert sample.temporal_grounding is None and sample.subtitles is None


def test_release_grpo_rows_with_grounding_as_dict_or_json_string(tmp_path, videos):
    grounding = {"00:00:12": "A blue car stops.", "00:00:20": "It drives away."}
    rows = [release_row(temporal_grounding=grounding),
            release_row(video="clips/b.mp4", temporal_grounding=json.dumps(grounding)),
            release_row(video="clips/c.mp4", temporal_grounding="{not json")]
    result = load_dataset_file(write(tmp_path / "grpo.json", rows), videos)
    assert [s.temporal_grounding for s in result] == [grounding, grounding]
    assert [s.id for s in result] == ["1", "2"]  # no id field: the row number
    assert [row for row, _ in result.skipped] == [3]
    assert result.skipped[0].reason.startswith("temporal_grounding is a string but not JSON")


@pytest.mark.parametrize("bad_key", ["00:05 - end", "00:75", "00:05-00:09s", "later"])
def test_bad_reference_keys_are_reported_with_row_and_kept_out_of_claims(tmp_path, videos, bad_key):
    from vr2.scoring.claims import reference_claims

    grounding = {"00:00:12": "A blue car stops.", bad_key: "It drives away."}
    rows = [release_row(temporal_grounding={"00:00:12": "A blue car stops."}),
            release_row(video="clips/b.mp4", temporal_grounding=grounding)]
    result = load_dataset_file(write(tmp_path / "grpo.json", rows), videos)
    assert len(result) == 2 and result.skipped == []  # the row still trains
    assert [(b.row, repr(bad_key) in b.reason, "dropped" in b.reason)
            for b in result.bad_ref_keys] == [(2, True, True)]
    assert [c.start for c in reference_claims(result[1].temporal_grounding)] == [12]


def test_release_open_answers_and_explicit_type(tmp_path, videos):
    rows = [release_row(human="<video>\nHow many cars stop?", reply="<think>two</think><answer>2</answer>"),
            release_row(human="<video>\nDescribe the scene.", reply="<think>x</think><answer>A busy street</answer>"),
            release_row(human="<video>\nHow far is the car (m)?", reply="<think>x</think><answer>3.5</answer>",
                        answer_type="regression")]
    result = load_dataset_file(write(tmp_path / "d.json", rows), videos)
    assert [(s.question, s.options, s.answer, s.answer_type) for s in result] == [
        ("How many cars stop?", [], "2", "numeric"),
        ("Describe the scene.", [], "A busy street", "free_form"),  # starts with "A": not a choice
        ("How far is the car (m)?", [], "3.5", "regression"),
    ]


def test_release_bad_rows_are_reported_with_row_numbers(tmp_path, videos):
    rows = [
        release_row(),                                                   # 1 good
        release_row(video="../outside.mp4"),                             # 2 escapes
        release_row(video="clips/missing.mp4"),                          # 3 missing file
        release_row(reply="<think>no answer tag</think>"),               # 4 no <answer>
        release_row(reply="<think>x</think><answer>D</answer>"),         # 5 not an option
        release_row(answer_type="yes_no"),                               # 6 unknown type
        "just a string",                                                 # 7 not an object
        {"video": "clips/a.mp4", "conversations": []},                   # 8 no turns
        release_row(human="<video>\n"),                                  # 9 no question
        release_row(video=""),                                           # 10 no video
    ]
    result = load_dataset_file(write(tmp_path / "d.json", rows), videos)
    assert len(result.samples) == 1
    reasons = dict(result.skipped)
    assert sorted(reasons) == list(range(2, 11))
    assert "leaves the video folder" in reasons[2]
    assert "video file not found" in reasons[3]
    assert "<answer>" in reasons[4]
    assert "'D' is not one of the 3 options" in reasons[5]
    assert "unknown answer_type 'yes_no'" in reasons[6]
    assert "not a JSON object" in reasons[7]
    assert "conversations" in reasons[8]
    assert "no question" in reasons[9]
    assert "no video" in reasons[10]


def test_missing_videos_load_when_not_checked(tmp_path, videos):
    path = write(tmp_path / "d.json", [release_row(video="clips/missing.mp4"), release_row(video="../x.mp4")])
    result = load_dataset_file(path, videos, check_videos=False)
    assert [s.video for s in result] == [str(videos / "clips" / "missing.mp4")]
    assert [r.row for r in result.skipped] == [2]  # escaping is never allowed


def test_subtitles_by_relative_path_then_by_stem(tmp_path, videos):
    subs = tmp_path / "subs"
    (subs / "clips").mkdir(parents=True)
    (subs / "clips" / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    (subs / "b.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    rows = [release_row(), release_row(video="clips/b.mp4"), release_row(video="clips/c.mp4")]
    result = load_dataset_file(write(tmp_path / "d.json", rows), videos, subtitles_dir=subs)
    assert [s.subtitles for s in result] == [str(subs / "clips" / "a.srt"), str(subs / "b.srt"), None]


def test_sft_target_reads_the_full_reply(tmp_path, videos):
    from vr2.train.data import sft_target

    (sample,) = load_dataset_file(write(tmp_path / "d.json", [release_row()]), videos)
    assert sft_target(sample) == REPLY_MCQ


# ---------------------------------------------------------------------------------------------
# Plain JSONL


def test_plain_jsonl_rows(tmp_path, videos):
    rows = [
        {"id": "p1", "video": "clips/a.mp4", "question": "Which way does it turn?",
         "options": {"A": "left", "B": "right"}, "answer": "right", "reasoning": "<think>r</think>",
         "temporal_grounding": {"00:00:01": "It turns right."}, "start": 2, "end": 8.5, "source": "x"},
        {"id": "p2", "video": "clips/b.mp4", "question": "Pick one:\n(A) cat\n(B) dog", "answer": "(A)"},
        '{"id": "p3", broken',
        {"id": "p4", "video": "clips/c.mp4", "question": "Count?", "answer": "many", "answer_type": "numeric"},
        {"id": "p5", "video": "clips/c.mp4", "question": "When?", "answer": "x", "start": 5, "end": 5},
    ]
    result = load_dataset_file(write(tmp_path / "d.jsonl", rows), videos)
    p1, p2 = result.samples
    assert (p1.options, p1.answer, p1.answer_type) == (["left", "right"], "B", "multiple_choice")
    assert (p1.reasoning, p1.start, p1.end) == ("<think>r</think>", 2.0, 8.5)
    assert p1.temporal_grounding == {"00:00:01": "It turns right."} and p1.extra == {"source": "x"}
    assert (p2.question, p2.options, p2.answer) == ("Pick one:", ["cat", "dog"], "A")
    reasons = dict(result.skipped)
    assert sorted(reasons) == [3, 4, 5]  # line numbers
    assert "not valid JSON" in reasons[3]
    assert "not a number" in reasons[4]
    assert "end (5.0) is not after start (5.0)" in reasons[5]


# ---------------------------------------------------------------------------------------------
# Bad files


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ("this is not json", "neither a JSON array nor JSONL"),
    ('{"video": "a.mp4"', "neither a JSON array nor JSONL"),
    ('[{"video": "a.mp4"}', "not valid JSON"),
    ('"just a string"', "expected a JSON array"),
    ('7\n{"video": "a.mp4"}', "expected a JSON array"),
])
def test_bad_files_raise_naming_the_file(tmp_path, videos, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(Vr2Error) as error:
        load_dataset_file(path, videos)
    assert str(path) in str(error.value) and message in str(error.value)


def test_a_json_object_file_is_not_a_dataset(tmp_path, videos):
    path = tmp_path / "obj.json"
    path.write_text(json.dumps({"rows": []}, indent=2))
    with pytest.raises(Vr2Error, match="obj.json"):
        load_dataset_file(path, videos)


def test_missing_file_and_folders(tmp_path, videos):
    with pytest.raises(Vr2Error, match="absent.json: data file not found"):
        load_dataset_file(tmp_path / "absent.json", videos)
    path = write(tmp_path / "d.json", [release_row()])
    with pytest.raises(Vr2Error, match="video folder not found"):
        load_dataset_file(path, tmp_path / "no-videos")
    with pytest.raises(Vr2Error, match="subtitle folder not found"):
        load_dataset_file(path, videos, subtitles_dir=tmp_path / "no-subs")


# ---------------------------------------------------------------------------------------------
# Paths


@pytest.mark.parametrize("path", ["../x.mp4", "a/../../x.mp4", "/etc/passwd", ".", "", "   "])
def test_resolve_video_rejects_paths_outside_the_folder(tmp_path, path):
    with pytest.raises(BadRow):
        resolve_video(tmp_path, path)


def test_resolve_video_normalises_inside_paths(tmp_path):
    assert resolve_video(tmp_path, "a/../b.mp4") == tmp_path / "b.mp4"
    assert resolve_video(tmp_path, str(tmp_path / "c" / "d.mp4")) == tmp_path / "c" / "d.mp4"


# ---------------------------------------------------------------------------------------------
# The question/options parser


@pytest.mark.parametrize("text, question, options, after", [
    ("What?\nA. x\nB. y", "What?", ["x", "y"], ""),
    ("<video>\nWhat?\nOptions:\n(A) x\n(B) y\n(C) z\nAnswer with a letter.", "What?", ["x", "y", "z"],
     "Answer with a letter."),
    ("What?\nA) x\n\nB) y", "What?", ["x", "y"], ""),
    ("A. Lincoln said what?", "A. Lincoln said what?", [], ""),  # one line is not an option list
    ("What?\nB. x\nC. y", "What?\nB. x\nC. y", [], ""),         # must start at A
    ("Q?\nA. 1\nB. 2\nQ2?\nA. x\nB. y\nC. z", "Q?\nA. 1\nB. 2\nQ2?", ["x", "y", "z"], ""),  # last run
    ("What?\na. x\nb. y", "What?\na. x\nb. y", [], ""),         # lower-case is prose
])
def test_split_question_options_examples(text, question, options, after):
    assert split_question_options(text) == (question, options, after)


@given(st.text())
def test_split_question_options_never_raises(text):
    question, options, after = split_question_options(text)
    assert isinstance(question, str) and isinstance(after, str)
    assert len(options) != 1 and all(o == o.strip() and o for o in options)


# One line of text: no line breaks of any kind, no media placeholders, no outer spaces.
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_line = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=_BREAKS),
                min_size=1, max_size=30).map(str.strip).filter(
    lambda s: s and "<video>" not in s.lower() and "<image>" not in s.lower())


@given(st.lists(_line.filter(lambda s: not s[:1].isupper()), min_size=1, max_size=3),
       st.lists(_line, min_size=2, max_size=8), st.sampled_from(["A. ", "(A) ", "A) ", "A: "]))
def test_split_question_options_recovers_what_was_written(question_lines, options, style):
    labelled = [style.replace("A", chr(ord("A") + i)) + text for i, text in enumerate(options)]
    text = "<video>\n" + "\n".join(question_lines) + "\nOptions:\n" + "\n".join(labelled)
    question, parsed, after = split_question_options(text)
    assert parsed == options and after == ""
    assert question == "\n".join(question_lines).strip()


def test_unreadable_videos_are_probed_at_load_and_skipped_with_row_numbers(tmp_path):
    from vr2.devtools.synthetic import write_test_video

    folder = tmp_path / "videos"
    write_test_video(folder / "good.mp4", seconds=1, fps=4, size=(32, 32))
    (folder / "text.mp4").write_text("this is not a video")
    truncated = (folder / "good.mp4").read_bytes()[:40]
    (folder / "cut.mp4").write_bytes(truncated)
    path = write(tmp_path / "data.json", [release_row("good.mp4"), release_row("text.mp4"), release_row("cut.mp4")])
    result = load_dataset_file(path, folder, probe_videos=True)
    assert [s.video for s in result.samples] == [str(folder / "good.mp4")]
    assert [item.row for item in result.skipped] == [2, 3]
    assert all("video cannot be read" in item.reason for item in result.skipped)
    assert len(load_dataset_file(path, folder).samples) == 3  # without probing only existence is checked
