"""Reading lmms-eval sample files: file names, task mapping, prompts, options, targets, and
`vr2 eval --from-samples` end to end."""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_vr2
from vr2.data.datasets import split_question_options
from vr2.eval import lmms
from vr2.errors import Vr2Error
from vr2.model.prompts import format_question, option_letter, strip_label

NAMES = ["mvbench", "videomme", "tempcompass", "mlvu", "longvideobench", "videomathqa",
         "videommmu", "mmvu", "vsibench", "minerva", "scivideobench"]


# --------------------------------------------------------------------------- file names


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(st.characters(codec="utf-8", exclude_characters="/\0"), max_size=20),
       task=st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=20)
       .filter(lambda t: "_samples_" not in t and not t.endswith("_samples")))
def test_task_from_filename_round_trip(prefix, task):
    assert lmms.task_from_filename(f"{prefix}_samples_{task}.jsonl") == task


@pytest.mark.parametrize("name", ["results.json", "samples_x.json", "foo.jsonl", "x_samples_.jsonl"])
def test_not_sample_files(name):
    assert lmms.task_from_filename(name) is None


def _registry_aliases():
    from vr2.eval.runner import _registry

    return _registry()[1]


@pytest.mark.parametrize("task, expected", [
    ("mvbench", "mvbench"), ("mvbench_action_sequence", "mvbench"), ("mvbench_action_count_think", "mvbench"),
    ("videomme", "videomme"), ("videomme_think", "videomme"), ("video_mmmu_perception", "videommmu"),
    ("video_mmmu_adaptation_think", "videommmu"), ("longvideobench_val_v_think", "longvideobench"),
    ("mlvu_dev", "mlvu"), ("mmvu_val_think", "mmvu"), ("videomathqa_mcq", "videomathqa"),
    ("tempcompass_complete_think", "tempcompass"), ("vsibench_think", "vsibench"), ("minerva_think", "minerva"),
    ("scivideobench_think", "scivideobench"),
    # other conditions of a benchmark are benchmarks of their own, never pooled into the paper's
    ("videomme_w_subtitle", "videomme_w_subtitle"), ("videomathqa_mbin", "videomathqa_mbin"),
    ("vsibench_debiased", "vsibench_debiased"), ("mlvu_test", "mlvu_test"),
    ("tempcompass_yes_no", "tempcompass_yes_no"), ("video_mmmu_adaptation_question_only",
                                                   "video_mmmu_adaptation_question_only"),
    ("egoschema", "egoschema"),
])
def test_task_names_map_to_benchmarks_one_to_one(task, expected):
    assert lmms.benchmark_for_task(task, NAMES, _registry_aliases()) == expected


def test_alias_wins_over_prefix():
    assert lmms.benchmark_for_task("mvbench_x", NAMES, {"mvbench_x": "mlvu"}) == "mlvu"


# --------------------------------------------------------------------------- options


option_text = st.text(string.ascii_letters + string.digits + " ,'-?", min_size=1, max_size=15).filter(
    lambda s: s.strip())


@settings(max_examples=200, deadline=None)
@given(question=st.text(string.ascii_letters + " ?", max_size=30),
       options=st.lists(option_text, min_size=2, max_size=8))
def test_options_read_back_from_vr2_prompts(question, options):
    prompt = format_question(question, options) + "\nAnswer with the letter only."
    expected = [strip_label(o, option_letter(i)) for i, o in enumerate(options)]
    assert split_question_options(prompt)[1] == expected


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_option_lines_never_raise(text):
    found = split_question_options(text)[1]
    assert isinstance(found, list) and (found == [] or len(found) >= 2)


def test_option_styles_and_the_last_list_wins():
    prompt = ("Context: B. is a stray line\nA) old one\nB) old two\nQuestion?\n"
              "(A) a dog\n(B) a cat\n(C) two birds\nReply using the letter only.")
    assert split_question_options(prompt)[1] == ["a dog", "a cat", "two birds"]
    assert split_question_options("A: yes\nB: no")[1] == ["yes", "no"]
    assert split_question_options("A. only one")[1] == []
    assert split_question_options(None)[1] == []


# --------------------------------------------------------------------------- records


def test_record_fields():
    record = {"doc_id": 3, "arguments": ["Which?\nA. red\nB. blue", {"max_new_tokens": 16}],
              "target": 1, "resps": [["<think>blue</think><answer>B</answer>"]], "filtered_resps": ["B"]}
    assert lmms.prompt_text(record).startswith("Which?")
    assert lmms.response_text(record).startswith("<think>")  # raw text, not filtered_resps
    options = lmms.record_options(record)
    assert options == ["red", "blue"]
    assert lmms.gold_answer(record, options) == "B"  # an integer target is an option index
    doc_record = {"doc": {"question": "Q", "candidates": ["x", "y", "z"]}, "target": "y",
                  "resps": "plain"}
    assert lmms.record_options(doc_record) == ["x", "y", "z"]
    assert lmms.prompt_text(doc_record) == "Q" and lmms.response_text(doc_record) == "plain"
    assert lmms.response_text({"resps": [[]]}) is None
    assert lmms.gold_answer({"target": None}, []) is None


def write_samples(folder, task, records, prefix="20250101_120000"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}_samples_{task}.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


MCQ = "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box\nAnswer with the letter."


def test_read_task_files_reports_bad_lines(tmp_path):
    write_samples(tmp_path / "run", "video_mmmu_perception", [
        {"doc_id": 0, "input": MCQ, "target": "B", "resps": [["<answer>B</answer>"]]},
        "{not json",
        {"doc_id": 2, "input": MCQ, "target": "B", "resps": [[]]},
    ])
    (files,) = lmms.read_task_files(tmp_path, NAMES, _registry_aliases())
    assert (files.task, files.benchmark, len(files.records)) == ("video_mmmu_perception", "videommmu", 1)
    assert [n for n, _ in files.bad_lines] == [2, 3]


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(Vr2Error, match="not a folder"):
        lmms.find_sample_files(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Vr2Error, match="no '\\*_samples_<task>.jsonl' files"):
        lmms.find_sample_files(tmp_path / "empty")


def test_from_samples_end_to_end(tmp_path, capsys):
    consistent = "<think>The cup is blue. Therefore the answer is B.</think><answer>B</answer>"
    inconsistent = "<think>The ball is red, so the answer is A.</think><answer>B</answer>"
    wrong = "<think>Therefore the answer is C.</think><answer>C</answer>"
    write_samples(tmp_path / "logs", "mvbench_action_sequence", [
        {"doc_id": i, "input": MCQ, "target": "B", "resps": [[text]], "filtered_resps": ["x"]}
        for i, text in enumerate([consistent, inconsistent, wrong, consistent])
    ])
    write_samples(tmp_path / "logs", "vsibench", [
        {"doc_id": 0, "input": "How many chairs?", "target": "4", "resps": [["4"]]},
        {"doc_id": 1, "input": "How many chairs?", "target": "4", "resps": [["5 chairs"]]},
    ])
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    mv = summary["benchmarks"]["mvbench"]
    assert mv["samples"] == 4 and mv["accuracy"] == 75.0 and mv["tac"] == 75.0
    vsi = summary["benchmarks"]["vsibench"]
    assert vsi["tac"] is None  # direct answers: no reasoning to check
    assert vsi["accuracy"] is not None and 0 < vsi["accuracy"] < 100  # "4" right, "5 chairs" not
    assert summary["averages"]["overall"]["benchmarks"] == ["mvbench", "vsibench"]
    written = json.loads((tmp_path / "logs" / "vr2" / "summary.json").read_text())
    assert written["benchmarks"] == summary["benchmarks"]
    assert (tmp_path / "logs" / "vr2" / "report.md").exists()


def test_from_samples_bad_folder(tmp_path, capsys):
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path)
    assert result.code == 2 and "no '*_samples_<task>.jsonl' files" in result.err
    assert "Traceback" not in result.err
