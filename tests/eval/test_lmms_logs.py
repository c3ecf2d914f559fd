"""`vr2 eval --from-samples` on sample files written exactly as lmms-eval's two evaluation trackers
write them: the Video-R2 release's fork (doc and arguments kept, `resps` as [[text]]) and current
upstream (doc and arguments dropped, lists flattened, `resps` left out when it equals
`filtered_resps`). Every line's `target` goes through `str()`, as both trackers do."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_vr2
from lmms_writers import evaluator_example, write_logs

THINK_POST = ("\nThink it through first (placeholder wording for these logs). Put the "
              "reasoning between the <think> and </think> tags, and then the final answer "
              "between the <answer> and </answer> tags.")
OPTIONS = ["a red ball", "a blue cup", "a green box", "two birds"]


# Four answers per benchmark: right, wrong, right, and a direct answer with no <think> (right):
# vr2's reading gives 3 of 4 = 75.0. The metric entries carry the category fields only, as a task
# whose parsed prediction is not logged: the official figures (tests/eval/test_official_logs.py)
# are then re-scored.


def _answers(right: str, wrong: str) -> list[str]:
    return [f"<think>Let me think. At 00:03 I see it, so the answer is {right}.</think><answer>{right}</answer>",
            f"<think>Hmm, the answer is {wrong}.</think><answer>{wrong}</answer>",
            f"<think>Wait, it is {right}.</think><answer>{right}</answer>",
            right]


def _letter_prompt(question="What is on the table?"):
    return question + "\n" + "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(OPTIONS)) + THINK_POST


def benchmark_examples() -> dict[str, list[dict]]:
    """{lmms-eval task name (no _think): [example]} for every paper benchmark, each benchmark's
    gold answer in the form its task code logs it."""
    out: dict[str, list[dict]] = {}
    letter_tasks = {"videomme": "videomme_perception_score", "tempcompass_complete": "tempcompass_perception_score",
                    "mlvu_dev": "mlvu_percetion_score", "videomathqa_mcq": "videomathqa_perception_score",
                    "mmvu_val": "accuracy", "minerva": "minerva_perception_score",
                    "scivideobench": "scivideobench_acc"}
    for task, metric in letter_tasks.items():
        out[task] = [evaluator_example(i, {"question": "What is on the table?", "duration": "short",
                                           "task_type": "count"}, "B", _letter_prompt(), text,
                                       {metric: {"duration": "short"}})
                     for i, text in enumerate(_answers("B", "C"))]
    # MVBench: the target is the option's text; "(A) text" option lines; one file per task.
    mv_prompt = "Question: What happens?\nOptions:\n" + "\n".join(
        f"({'ABCD'[i]}) {o}" for i, o in enumerate(OPTIONS)) + THINK_POST
    for k, task in enumerate(("mvbench_action_count", "mvbench_object_shuffle")):
        out[task] = [evaluator_example(i, {"question": "What happens?", "candidates": OPTIONS,
                                           "answer": OPTIONS[1]}, OPTIONS[1], mv_prompt, text,
                                       {"mvbench_accuracy": {"gt_answer": "B", "score": 1}})
                     for i, text in enumerate(_answers("B", "C")[2 * k:2 * k + 2])]
    # LongVideoBench: the target is correct_choice, an index ("1" once written = B).
    lvb_doc = {"question": "What is on the table?", "option0": OPTIONS[0], "option1": OPTIONS[1],
               "option2": OPTIONS[2], "option3": OPTIONS[3], "option4": "N/A", "correct_choice": 1,
               "duration_group": 600, "question_category": "T3O"}
    out["longvideobench_val_v"] = [
        evaluator_example(i, lvb_doc, 1, _letter_prompt(), text,
                          {"lvb_acc": {"duration_group": 600, "question_category": "T3O", "answer": "B"}})
        for i, text in enumerate(_answers("B", "C"))]
    # VSIBench numeric (MRA: 10 for 4 is off by 150%, 0 at every threshold).
    out["vsibench"] = [evaluator_example(i, {"question": "How many chairs?", "question_type": "object_counting"},
                                         "4", "How many chairs?" + THINK_POST, text,
                                         {"object_counting": 1.0})
                       for i, text in enumerate(_answers("4", "10"))]
    # Video-MMMU open-ended numeric answers, one file per track.
    for k, track in enumerate(("video_mmmu_perception", "video_mmmu_adaptation")):
        out[track] = [evaluator_example(i, {"id": f"validation_Math_{i}", "question": "What is x?",
                                            "question_type": "open"}, "42", "What is x?" + THINK_POST, text,
                                        {"mmmu_acc": {"question_type": "open", "answer": "42"}})
                      for i, text in enumerate(_answers("42", "7")[2 * k:2 * k + 2])]
    return out


PAPER = ("mvbench", "videomme", "tempcompass", "mlvu", "longvideobench", "videomathqa", "videommmu",
         "mmvu", "vsibench", "minerva", "scivideobench")


@pytest.mark.parametrize("writer", ["fork", "upstream"])
def test_every_benchmark_matches_the_official_logic(tmp_path, capsys, writer):
    write_logs(tmp_path / "logs", writer, benchmark_examples())
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert sorted(summary["benchmarks"]) == sorted(PAPER)
    for name in PAPER:
        entry = summary["benchmarks"][name]
        assert (entry["samples"], entry["log_lines"], entry["skipped_lines"]) == (4, 4, 0), name
        assert entry["accuracy"] == pytest.approx(75.0), name
    assert summary["averages"]["overall"]["accuracy"] == pytest.approx(75.0)
    assert summary["skipped_lines"] == 0


def test_upstream_direct_answers_are_read_from_filtered_resps(tmp_path, capsys):
    """Direct answers: upstream drops every `resps`; all samples still count."""
    examples = {"videomme": [evaluator_example(i, {}, "B", _letter_prompt(), text, {})
                             for i, text in enumerate(["B", "C", "B", "B", "A", "B", "D", "B"])]}
    write_logs(tmp_path / "logs", "upstream", examples)
    line = (tmp_path / "logs" / "qwen2_5_vl" / "videomme_samples_videomme.jsonl").read_text().splitlines()[0]
    assert "resps" not in json.loads(line) and json.loads(line)["filtered_resps"] == "B"
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    entry = json.loads(result.out)["benchmarks"]["videomme"]
    assert (entry["samples"], entry["accuracy"]) == (8, 62.5)


def test_think_run_keeps_answers_without_think(tmp_path, capsys):
    """Think run: 5 think answers (right, right, wrong, right, wrong) and 3 answers without
    <think> (right, wrong, right): 5 of 8 right = 62.5, not 3 of 5."""
    texts = ["<think>x</think><answer>B</answer>", "<think>x</think><answer>B</answer>",
             "<think>x</think><answer>C</answer>", "<think>x</think><answer>B</answer>",
             "<think>x</think><answer>A</answer>", "B", "D", "B"]
    examples = {"videomme": [evaluator_example(i, {}, "B", _letter_prompt(), t, {}) for i, t in enumerate(texts)]}
    write_logs(tmp_path / "logs", "upstream", examples)
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    entry = json.loads(result.out)["benchmarks"]["videomme"]
    assert (entry["samples"], entry["accuracy"]) == (8, 62.5)


def test_longvideobench_string_target_is_an_option_index(tmp_path, capsys):
    examples = {"longvideobench_val_v": benchmark_examples()["longvideobench_val_v"]}
    write_logs(tmp_path / "logs", "upstream", examples)
    assert json.loads((tmp_path / "logs" / "qwen2_5_vl" / "longvideobench_val_v_samples_longvideobench_val_v.jsonl")
                      .read_text().splitlines()[0])["target"] == "1"
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    entry = json.loads(result.out)["benchmarks"]["longvideobench"]
    assert (entry["errors"], entry["scored"], entry["accuracy"]) == (0, 4, 75.0)


def test_subtitled_and_other_conditions_are_separate_benchmarks(tmp_path, capsys):
    examples = benchmark_examples()
    write_logs(tmp_path / "logs", "fork", {"videomme": examples["videomme"],
                                           "videomme_w_subtitle": examples["videomme"][:2]})
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    summary = json.loads(result.out)
    assert summary["benchmarks"]["videomme"]["samples"] == 4
    assert summary["benchmarks"]["videomme_w_subtitle_think"]["samples"] == 2
    assert summary["benchmarks"]["videomme_w_subtitle_think"]["category"] == "other"
    assert summary["averages"]["generic"]["benchmarks"] == ["videomme"]


def test_bom_is_accepted(tmp_path, capsys):
    write_logs(tmp_path / "logs", "fork", {"minerva": benchmark_examples()["minerva"]}, bom=True)
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["benchmarks"]["minerva"]["samples"] == 4


def test_non_utf8_file_is_one_line_error(tmp_path, capsys):
    folder = tmp_path / "logs"
    folder.mkdir()
    path = folder / "x_samples_minerva.jsonl"
    path.write_bytes(json.dumps({"doc_id": 0, "target": "B", "resps": ["caf\u00e9"]}, ensure_ascii=False).encode("latin-1"))
    result = run_vr2(capsys, "eval", "--from-samples", folder)
    assert result.code == 2 and "Traceback" not in result.err
    assert str(path) in result.err and "not UTF-8" in result.err
    assert not (folder / "vr2").exists()


def test_skipped_lines_are_counted_flagged_and_partial_averages_said_in_words(tmp_path, capsys):
    examples = benchmark_examples()
    write_logs(tmp_path / "logs", "upstream", {"videomme": examples["videomme"], "vsibench": examples["vsibench"]})
    path = tmp_path / "logs" / "qwen2_5_vl" / "videomme_samples_videomme.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"doc_id": 9, "target": "B", "filtered_resps": []}) + "\n")
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs")
    assert result.code == 0, result.err
    summary = json.loads((tmp_path / "logs" / "vr2" / "summary.json").read_text())
    entry = summary["benchmarks"]["videomme"]
    assert (entry["log_lines"], entry["samples"], entry["skipped_lines"]) == (6, 4, 2)
    assert summary["skipped_lines"] == 2 and len(summary["skipped"]) == 2
    assert all(str(path) in line for line in summary["skipped"])
    report = (tmp_path / "logs" / "vr2" / "report.md").read_text()
    assert "75.0 (scored 4 of 6)" in report
    assert "VideoMME: scored 4 of the 6 lines its log holds" in report
    assert "Overall is averaged over 2 of the paper's 11 benchmarks" in report
    assert "Generic is averaged over 1 of the paper's 5 benchmarks" in report
    assert "(over 2 of 11)" in report
    assert "## Skipped lines (2)" in report
    html_text = (tmp_path / "logs" / "vr2" / "report.html").read_text()
    assert "Skipped lines (2)" in html_text and "scored 4 of 6" in html_text
    assert "2 line(s)" in result.err


@pytest.mark.parametrize("writer", ["fork", "upstream"])
def test_official_aggregation_and_breakdowns_from_logs(tmp_path, capsys, writer):
    mv_prompt = "Question: What happens?\nOptions:\n" + "\n".join(
        f"({'ABCD'[i]}) {o}" for i, o in enumerate(OPTIONS)) + THINK_POST
    right, wrong = "<think>It is B.</think><answer>B</answer>", "<think>It is C.</think><answer>C</answer>"

    def mv(texts):
        return [evaluator_example(i, {"candidates": OPTIONS}, OPTIONS[1], mv_prompt, t,
                                  {"mvbench_accuracy": {"gt_answer": "B"}}) for i, t in enumerate(texts)]

    vsi = [("object_counting", "4", "<answer>4</answer>"), ("object_counting", "4", "<answer>5</answer>"),
           ("object_rel_direction_easy", "B", right), ("object_rel_direction_hard", "B", wrong)]
    examples = {
        "mvbench_action_count": mv([right]), "mvbench_object_shuffle": mv([right, wrong, wrong]),
        "vsibench": [evaluator_example(i, {"question_type": q, "ground_truth": gold},
                                       gold, ("How many?" if gold == "4" else _letter_prompt()) + THINK_POST, text,
                                       {"vsibench_score": {"question_type": q, "ground_truth": gold}})
                     for i, (q, gold, text) in enumerate(vsi)],
    }
    write_logs(tmp_path / "logs", writer, examples)
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--paper")
    assert result.code == 0, result.err
    summary = json.loads((tmp_path / "logs" / "vr2" / "summary.json").read_text())
    mvb = summary["benchmarks"]["mvbench"]
    assert mvb["accuracy"] == 50.0 and mvb["official_accuracy"] == pytest.approx((100 + 100 / 3) / 2)
    assert mvb["breakdown"]["task"]["mvbench_object_shuffle"]["samples"] == 3
    vsib = summary["benchmarks"]["vsibench"]
    # counting: 4 -> 1.0, 5 for 4 (25% off) -> 0.6 with `<=`; direction: 1 then 0 (merged) -> 0.5
    assert vsib["official_accuracy"] == pytest.approx((0.8 + 0.5) / 2 * 100)
    report = (tmp_path / "logs" / "vr2" / "report.md").read_text()
    assert "## Per-category breakdowns" in report and "### MVBench by task" in report
    assert "MVBench: official 66.7 = each task's accuracy over its non-empty answers" in report
    assert "paper: + SFT + GRPO + TAR + gate (Video-R2)" in report
    assert "| 66.7" in report  # the official MVBench number heads the paper-layout table


def test_eval_list_shows_what_the_readme_says_and_json(capsys):
    result = run_vr2(capsys, "eval", "--list")
    assert result.code == 0
    for column in ("name", "title", "group", "HF dataset", "paper"):
        assert column in result.out
    assert "OpenGVLab/MVBench" in result.out and "--revision video" in result.out
    listed = json.loads(run_vr2(capsys, "eval", "--list", "--json").out)
    assert [b["name"] for b in listed][:11] == list(PAPER)
    mvbench = listed[0]
    assert mvbench["download"] == ("huggingface-cli download OpenGVLab/MVBench --repo-type dataset "
                                   "--revision video --local-dir data/benchmarks/mvbench")
    assert mvbench["paper_accuracy"] == 67.5 and "mvbench_action_count_think" in mvbench["lmms_tasks"]


def test_missing_mvbench_data_hint_names_the_video_revision(tmp_path):
    from vr2.eval.benchmarks import benchmark_paths, get_benchmark
    from vr2.errors import Vr2Error

    with pytest.raises(Vr2Error, match="--revision video --local-dir"):
        benchmark_paths(get_benchmark("mvbench"), None, None, data_dir=tmp_path)
