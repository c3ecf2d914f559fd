"""The official column of `vr2 eval --from-samples`, benchmark by benchmark, on hand-made sample
logs in both writers' formats (the release fork's and upstream's, `tests/lmms_writers.py`).

The answers are messy on purpose (hedges, brackets, words for numbers, "Answer:" prefixes,
extra digits, empty answers) and every expected number is worked out by hand from the official
task's per-sample rule and denominator (the comments say how), never by calling vr2. The metric
entries carry only category fields, so the official result is re-scored; the last tests give
full metric entries and check that the logged results are used exactly.
"""

from __future__ import annotations

import json
import random

import pytest

from cli_helpers import run_vr2
from lmms_writers import evaluator_example, write_logs
from release_fixture import write_release

THINK = "\n<<think, then answer in tags>>"
OPTIONS = ["a red ball", "a blue cup", "a green box", "two birds"]
LINES = "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(OPTIONS))
QUESTION = "What is on the table?"


def _ex(i, doc, target, prompt, text, metrics):
    return evaluator_example(i, doc, target, prompt, text, metrics)


def _letter_task(entry_key, gold_answers, fields):
    """(gold letter, answer) pairs as one task's examples: options as the dataset writes them."""
    return [_ex(i, {"question": QUESTION, "options": [f"{'ABCD'[k]}. {o}" for k, o in enumerate(OPTIONS)],
                    "answer": gold, **fields}, gold, f"{QUESTION}\n{LINES}{THINK}", text,
                {entry_key: dict(fields)})
            for i, (gold, text) in enumerate(gold_answers)]


# VideoMME reads the first capital A-D anywhere; VideoMathQA and MINERVA the first capital A-E.
CAPITALS = [("B", "<think>It is blue.</think><answer>B</answer>"),  # B: right
            ("C", "<answer>Answer: C</answer>"),  # the A of "Answer": wrong
            ("B", "<answer>(B)</answer>"),  # B: right
            ("B", "<answer>I think A or B</answer>"),  # A ("I" is no option letter): wrong
            ("B", "<answer></answer>"),  # empty: wrong, still counted
            ("B", "<answer>The answer is b</answer>")]  # phrase removed, no capital left: wrong
EVENTUALLY = ("B", "<answer>Eventually B</answer>")  # E is an option letter for A-E: wrong

# TempCompass and MLVU read the letter the answer starts with.
LEADING = [("B", "<answer>B</answer>"),  # right
           ("C", "<answer>Counter-clockwise, so A</answer>"),  # starts with C: right by accident
           ("B", "<answer>(B)</answer>"),  # right
           ("B", "<answer>The answer is B.</answer>"),  # phrase dropped from the start: right
           ("B", "<answer>I pick D</answer>"),  # a short text: its stand-alone D: wrong
           ("B", "<answer></answer>")]  # wrong


def mvbench_examples():
    """Two tasks; the target is the answer's text. action_count: right, "A or B" is A (wrong),
    empty (left out) = 1 / 2. object_shuffle: "(B) a blue cup" is B, "It is a blue cup" is the
    article a = A (wrong), "B." is B = 2 / 3. Official: the mean of the task figures."""
    prompt = "Question:" + QUESTION + "\nOption:\n" + "".join(f"({'ABCD'[i]}) {o}\n" for i, o in enumerate(OPTIONS))

    def task(texts):
        return [_ex(i, {"question": QUESTION, "candidates": OPTIONS, "answer": OPTIONS[1], "video": "v.mp4"},
                    OPTIONS[1], prompt + THINK, text, {"mvbench_accuracy": {"gt_answer": "B"}})
                for i, text in enumerate(texts)]

    return {"mvbench_action_count": task(["<answer>B</answer>", "<answer>A or B</answer>", "<answer></answer>"]),
            "mvbench_object_shuffle": task(["<answer>(B) a blue cup</answer>", "<answer>It is a blue cup</answer>",
                                            "<answer>B.</answer>"])}, (50.0 + 200 / 3) / 2


def mlvu_examples():
    """count: right, "Definitely C" starts with D (wrong) = 50; order: "(A)" right, empty wrong = 50;
    the other 5 task types have no samples and count 0: (50 + 50) / 7."""
    rows = [("count", "B", "<answer>B</answer>"), ("count", "C", "<answer>Definitely C</answer>"),
            ("order", "A", "<answer>(A)</answer>"), ("order", "B", "<answer></answer>")]
    question = QUESTION + "\n" + "\n".join(f"({'ABCD'[i]}) {o}" for i, o in enumerate(OPTIONS))
    return {"mlvu_dev": [_ex(i, {"question": question, "candidates": OPTIONS, "answer": gold, "task_type": kind,
                                 "question_id": f"q{i}"}, gold, question + THINK, text,
                             {"mlvu_percetion_score": {"task_type": kind}})
                         for i, (kind, gold, text) in enumerate(rows)]}, 100.0 / 7


def lvb_examples():
    """B right; "Event: a dog" is E (wrong); "the green one" has no capital: a random option A-D
    is drawn (vr2 seeds it per sample) and counts; "The answer is (B)" right. The figure is the
    fraction to 5 places."""
    rows = [(1, "<answer>B</answer>"), (1, "<answer>Event: a dog</answer>"), (2, "<answer>the green one</answer>"),
            (1, "<answer>The answer is (B)</answer>")]
    examples = []
    for i, (choice, text) in enumerate(rows):
        doc = {"id": f"lvb{i}", "question": QUESTION, **{f"option{k}": o for k, o in enumerate(OPTIONS)},
               "option4": "N/A", "correct_choice": choice, "duration_group": 600, "question_category": "T3O"}
        examples.append(_ex(i, doc, choice, f"{QUESTION}\n{LINES}{THINK}", text,
                            {"lvb_acc": {"duration_group": 600, "question_category": "T3O"}}))
    lucky = random.Random("vr2:longvideobench:2").choice("ABCD") == "C"
    return {"longvideobench_val_v": examples}, 100 * round((2 + lucky) / 4, 5)


def scivideobench_examples():
    """"Answer: C" loses "Answer:" and reads C (right); B right; "Light bends, so B" is L (wrong);
    "no idea" has no capital: a random letter A-J is drawn and counts. 2 decimals."""
    rows = [("C", "<answer>Answer: C</answer>"), ("B", "<answer>B</answer>"),
            ("B", "<answer>Light bends, so B</answer>"), ("A", "<answer>no idea</answer>")]
    fields = {"question_type": "conceptual", "category": "physics"}
    examples = [_ex(i, {"video_id": f"v{i}", "question": QUESTION, "options": dict(zip("ABCD", OPTIONS)),
                        "answer": gold, **fields}, gold, f"{QUESTION}\n{LINES}{THINK}", text,
                    {"scivideobench_acc": dict(fields)})
                for i, (gold, text) in enumerate(rows)]
    lucky = random.Random("vr2:scivideobench:3").choice("ABCDEFGHIJ") == "A"
    return {"scivideobench": examples}, round(100 * (2 + lucky) / 4, 2)


def mmvu_examples():
    """B right; the gold option's own text is right; "Answer: C" is neither C's text nor C (the A of
    "Answer"); empty wrong; a subject outside the task's map is not counted: 2 / 4."""
    rows = [("Biology", "B", "<answer>B</answer>"), ("Biology", "B", "<answer>a blue cup</answer>"),
            ("Chemistry", "C", "<answer>Answer: C</answer>"), ("Biology", "B", "<answer></answer>"),
            ("Underwater_Basketry", "B", "<answer>B</answer>")]
    prompt = f"\nQuestion:{QUESTION}\n" + "\n".join(f"{'ABCD'[i]}: {o}" for i, o in enumerate(OPTIONS)) + THINK
    return {"mmvu_val": [_ex(i, {"id": f"m{i}", "video_path": f"videos/{subject}/{i}.mp4", "question": QUESTION,
                                 "question_type": "multiple-choice", "choices": dict(zip("ABCD", OPTIONS)),
                                 "answer": gold}, gold, prompt, text, {"accuracy": {"category": subject}})
                         for i, (subject, gold, text) in enumerate(rows)]}, 50.0


def videommmu_examples():
    """Perception (multiple choice): B right, "Answer: C" is C (wrong), empty left out.
    Adaptation (open): 3.14159 rounds to the gold 3.14 (right), "two" is no number (wrong),
    "x = 42" right. 3 of the 5 counted."""
    mcq = [("B", "<answer>B</answer>"), ("B", "<answer>Answer: C</answer>"), ("B", "<answer></answer>")]
    open_ = [("3.14", "<answer>3.14159</answer>"), ("2", "<answer>two</answer>"), ("42", "<answer>x = 42</answer>")]
    perception = [_ex(i, {"id": f"validation_Math_{i}", "question": QUESTION, "options": OPTIONS,
                          "question_type": "multiple-choice", "answer": gold}, gold,
                      f"{QUESTION}\n{LINES}{THINK}", text,
                      {"mmmu_acc": {"id": f"validation_Math_{i}", "question_type": "multiple-choice"}})
                  for i, (gold, text) in enumerate(mcq)]
    adaptation = [_ex(i, {"id": f"validation_Physics_{i}", "question": "What is x?", "options": [],
                          "question_type": "open", "answer": gold}, gold, "What is x?" + THINK, text,
                      {"mmmu_acc": {"id": f"validation_Physics_{i}", "question_type": "open"}})
                  for i, (gold, text) in enumerate(open_)]
    return {"video_mmmu_perception": perception, "video_mmmu_adaptation": adaptation}, 60.0


VSI_DIRECTION = ["A. front-right", "B. left", "C. back-left", "D. right"]
VSI_ROUTE = ["A. Go left", "B. Go right", "C. Turn back", "D. Stop"]
VSI_ROWS = [("object_counting", "4", None, "<answer>4</answer>"),  # 1.0
            ("object_counting", "4", None, "<answer>about 4</answer>"),  # first word "about": 0
            ("object_counting", "4", None, "<answer>5.</answer>"),  # 25% off: 6 of 10 thresholds
            ("object_counting", "2", None, "<answer>two</answer>"),  # no number: 0
            ("object_rel_direction_easy", "B", VSI_DIRECTION, "<answer>B</answer>"),  # 1
            ("object_rel_direction_medium", "B", VSI_DIRECTION, "<answer>(B)</answer>"),  # "(b)" != "b": 0
            ("object_rel_direction_hard", "C", VSI_DIRECTION, "<answer>back-left</answer>"),  # 0
            ("route_planning", "A", VSI_ROUTE, "<answer>A. Go left</answer>")]  # first word "A.": 1
# The lmms-eval task: counting (1 + 0 + 0.6 + 0) / 4, the three direction types merged
# (1 + 0 + 0) / 3, route planning 1; the mean over those three groups.
VSI_TASK = (40.0 + 100 / 3 + 100.0) / 3
# The release's post-processing without its LLM: 10 types, 9 thresholds, numbers by the first
# number in the answer: counting (1 + 1 + 5/9 + 0) / 4 ("about 4" is 4 now, 25% off passes 5 of
# 9); easy 1; medium "(B)" 0; hard: "left" is option B's text inside "back-left": B, wrong; route 1.
VSI_POST = ((2 + 5 / 9) / 4 * 100 + 100 + 0 + 0 + 100) / 5
# With the judge (stub below): "two" -> 2 (right), "(B)" -> B, "back-left" -> C.
VSI_POST_JUDGE = ((3 + 5 / 9) / 4 * 100 + 400) / 5


def vsibench_examples():
    examples = []
    for i, (kind, gold, options, text) in enumerate(VSI_ROWS):
        prompt = "<<frames>>\nHow many chairs?\n" if options is None else \
            "<<frames>>\nWhich way?\nOptions:\n" + "\n".join(options) + "\n"
        doc = {"question": prompt.split("\n")[1], "question_type": kind, "ground_truth": gold,
               "options": options, "dataset": "scannet", "scene_name": f"s{i}"}
        examples.append(_ex(i, doc, gold, prompt + THINK, text,
                            {"vsibench_score": {"question_type": kind, "ground_truth": gold}}))
    return {"vsibench": examples}, VSI_TASK


def all_examples():
    examples, expected = {}, {}
    for name, (tasks, value) in {
        "mvbench": mvbench_examples(), "mlvu": mlvu_examples(), "longvideobench": lvb_examples(),
        "scivideobench": scivideobench_examples(), "mmvu": mmvu_examples(), "videommmu": videommmu_examples(),
        "vsibench": vsibench_examples(),
        "videomme": ({"videomme": _letter_task("videomme_perception_score", CAPITALS,
                                               {"duration": "short", "domain": "Knowledge"})}, 200 / 6),
        "videomathqa": ({"videomathqa_mcq": _letter_task("videomathqa_perception_score", CAPITALS + [EVENTUALLY],
                                                         {"duration": "short", "category": "geometry"})}, 200 / 7),
        "minerva": ({"minerva": _letter_task("minerva_perception_score", CAPITALS + [EVENTUALLY],
                                             {"duration": "short", "category": "counting"})}, 200 / 7),
        "tempcompass": ({"tempcompass_complete": _letter_task("tempcompass_perception_score", LEADING,
                                                              {"dim": "direction"})}, 400 / 6),
    }.items():
        examples.update(tasks)
        expected[name] = value
    return examples, expected


@pytest.mark.parametrize("writer", ["fork", "upstream"])
def test_every_benchmark_follows_its_official_rule(tmp_path, capsys, writer):
    examples, expected = all_examples()
    write_logs(tmp_path / "logs", writer, examples)
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert sorted(summary["benchmarks"]) == sorted(expected)
    for name, value in expected.items():
        entry = summary["benchmarks"][name]
        assert entry["official_accuracy"] == pytest.approx(value), name
        assert entry["official_from_log"] == 0 and entry["official_rescored"] == entry["samples"], name
    left_out = {name: e["official_left_out"] for name, e in summary["benchmarks"].items() if e["official_left_out"]}
    assert left_out == {"mvbench": 1, "videommmu": 1}  # the two tasks that skip empty answers
    assert summary["benchmarks"]["longvideobench"]["official_random_draws"] == 1
    assert summary["benchmarks"]["scivideobench"]["official_random_draws"] == 1
    assert summary["benchmarks"]["minerva"]["official_random_draws"] == 0  # the release's MINERVA never draws
    assert summary["benchmarks"]["mlvu"]["official_groups"]["ego"] == {"accuracy": 0.0, "samples": 0}
    vsi = summary["benchmarks"]["vsibench"]
    assert vsi["official_groups"]["object_rel_direction (merged)"]["samples"] == 3
    names = [f["name"] for f in vsi["official_figures"]]
    assert names == ["lmms-eval task (vsibench_think)", "release post-processing"]
    assert vsi["official_figures"][0]["used"] and vsi["official_figures"][1]["accuracy"] == pytest.approx(VSI_POST)
    assert "LLM step skipped (no judge configured)" in vsi["official_figures"][1]["rule"]
    # vr2's own reading is its own column, and the two are counted apart.
    assert summary["benchmarks"]["videomme"]["official_differs"] >= 2  # "Answer: C", "The answer is b"


def test_the_report_names_each_rule_and_what_separates_the_readings(tmp_path, capsys):
    examples, _ = all_examples()
    write_logs(tmp_path / "logs", "fork", examples)
    assert run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs").code == 0
    report = (tmp_path / "logs" / "vr2" / "report.md").read_text()
    assert "## Official figure per benchmark" in report
    assert "VideoMME: official 33.3 = accuracy over all samples; the first capital A-D" in report
    assert "vr2 reading:" in report and "| vr2 reading |" in report
    assert "release post-processing 52.8 (shown beside it)" in report
    assert "### VSIBench: the groups its official figure averages" in report
    assert "VideoMME: 6 sample(s) had no official result in the log; vr2 re-scored them by the official rule" in report
    assert "| object\\_rel\\_direction (merged) |" in report or "| object_rel_direction (merged) |" in report


class StubJudge:
    """A judge that answers the post-processing prompts like an LLM would for these rows."""

    def __init__(self):
        self.asked = []

    def complete(self, messages):
        text = messages[-1]["content"]
        self.asked.append(text)
        if "<<answer>> two" in text:
            return '{"value": 2}'
        if "<<answer>> (B)" in text:
            return '```json\n{"letter": "B"}\n```'
        if "<<answer>> back-left" in text:
            return '{"letter": "C"}'
        return "no JSON here"  # the script falls back to the first number in the answer


def test_vsibench_post_processing_with_the_judge_heads_the_column(tmp_path):
    from vr2.eval import official
    from vr2.eval.lmms import OFFICIAL, read_task_files
    from vr2.eval.release_prompts import _post_prompts

    examples, _ = vsibench_examples()
    write_logs(tmp_path / "logs", "upstream", examples)
    (task_file,) = read_task_files(tmp_path / "logs", (), {"vsibench": "vsibench"})
    rows = [record[OFFICIAL] for record in task_file.records]
    prompts = _post_prompts(str(write_release(tmp_path / "release")))
    judge = StubJudge()
    out = official.summarize("vsibench", rows, judge=judge, prompts=prompts)
    assert out["official_accuracy"] == pytest.approx(VSI_POST_JUDGE)
    assert out["official_figures"][1]["used"] and out["official_figures"][0]["accuracy"] == pytest.approx(VSI_TASK)
    assert "read by the judge with the release's prompts" in out["official_rule"]
    # Every numeric answer is asked; a letter only when the script's own reading misses.
    assert len(judge.asked) == 4 + 2
    assert "<<options>>\nA. front-right\nB. left" in judge.asked[-1]


def test_a_judge_failure_leaves_the_post_processing_figure_open(tmp_path):
    from vr2.eval import official
    from vr2.eval.lmms import OFFICIAL, read_task_files
    from vr2.eval.release_prompts import _post_prompts

    class Down:
        def complete(self, messages):
            return None

    examples, _ = vsibench_examples()
    write_logs(tmp_path / "logs", "fork", examples)
    (task_file,) = read_task_files(tmp_path / "logs", (), {"vsibench_think": "vsibench"})
    rows = [record[OFFICIAL] for record in task_file.records]
    out = official.summarize("vsibench", rows, judge=Down(), prompts=_post_prompts(str(write_release(tmp_path / "r"))))
    assert out["official_accuracy"] == pytest.approx(VSI_TASK)  # the task's own figure, named as such
    post = out["official_figures"][1]
    assert post["accuracy"] is None and "the judge failed on" in post["rule"]


# --------------------------------------------------------------------------- logged results used as they are


def _logged(writer_fields):
    """Three VideoMME lines whose logged predictions differ from what re-scoring would give (as a
    different task version would log them): the official figure is the logged one."""
    texts = ["<answer>B</answer>", "<answer>B</answer>", "<answer>C</answer>"]
    preds = ["B", "A", "C"]  # logged parses: right, wrong, right (gold C)
    golds = ["B", "B", "C"]
    return {"videomme": [_ex(i, {"options": LINES.split("\n"), "answer": g}, g, f"{QUESTION}\n{LINES}", t,
                             {"videomme_perception_score": {"pred_answer": p, "answer": g, "duration": "short",
                                                            **writer_fields}})
                         for i, (t, p, g) in enumerate(zip(texts, preds, golds))]}


@pytest.mark.parametrize("writer", ["fork", "upstream"])
def test_from_samples_reproduces_the_logged_official_number_exactly(tmp_path, capsys, writer):
    examples = _logged({})
    # LongVideoBench with its random draw in the log, and MVBench's score and empty answer.
    lvb = lvb_examples()[0]["longvideobench_val_v"]
    drawn = ["B", "E", "D", "B"]  # the third is the task's random draw, as logged
    for example, pred in zip(lvb, drawn):
        example["lvb_acc"] = {"duration_group": 600, "question_category": "T3O",
                              "answer": "ABCD"[example["doc"]["correct_choice"]], "parsed_pred": pred}
    examples["longvideobench_val_v"] = lvb
    mv = mvbench_examples()[0]["mvbench_action_count"]
    for example, (pred, score) in zip(mv, [("B", 1), ("a or b", 0), ("", 0)]):
        example["mvbench_accuracy"] = {"pred_answer": pred, "gt_answer": "B", "score": score}
    examples["mvbench_action_count"] = mv
    write_logs(tmp_path / "logs", writer, examples)
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    bench = json.loads(result.out)["benchmarks"]
    # The task's own aggregation of the logged fields: VideoMME 2 of 3; LongVideoBench 2 of 4
    # (the logged D is wrong, C was gold) as a 5-place fraction; MVBench 1 of 2 non-empty.
    assert bench["videomme"]["official_accuracy"] == pytest.approx(200 / 3)
    assert bench["longvideobench"]["official_accuracy"] == 100 * round(2 / 4, 5)
    assert bench["mvbench"]["official_accuracy"] == 50.0
    for name in ("videomme", "longvideobench", "mvbench"):
        assert bench[name]["official_rescored"] == 0 and bench[name]["official_from_log"] == bench[name]["samples"]
    assert bench["mvbench"]["official_left_out"] == 1


@pytest.mark.parametrize("bad, reason", [
    ({"pred_answer": "B", "gt_answer": "B", "score": float("nan")}, "not a score between 0 and 1"),
    ({"pred_answer": "B", "gt_answer": "B", "score": 1e300}, "not a score between 0 and 1"),
    ({"pred_answer": "B", "gt_answer": "B", "score": True}, "not a score between 0 and 1"),
    ({"pred_answer": 7, "gt_answer": "B", "score": 1}, "not text"),
])
def test_a_logged_score_that_is_no_score_rejects_its_line(tmp_path, capsys, bad, reason):
    mv = mvbench_examples()[0]["mvbench_action_count"]
    mv[0]["mvbench_accuracy"] = bad
    write_logs(tmp_path / "logs", "fork", {"mvbench_action_count": mv})
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "logs", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["benchmarks"]["mvbench"]["skipped_lines"] == 1
    assert reason in summary["skipped"][0]
    json.loads((tmp_path / "logs" / "vr2" / "summary.json").read_text())  # valid JSON


def test_a_multiple_choice_sample_without_options_is_an_error_not_partial_credit(tmp_path, capsys):
    """No options in the doc and none in the prompt: vr2's reading cannot tell a letter from free
    text, so the sample is an error (counted, listed), never a word-overlap score. VideoMME's
    official rule needs no options and still reads it."""
    lines = [{"doc_id": 0, "input": "What is on the table?", "target": "B", "resps": [["<answer>B</answer>"]]},
             {"doc_id": 1, "input": MCQ_PROMPT, "target": "B", "resps": [["<answer>B</answer>"]]}]
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "x_samples_videomme.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "x_samples_video_mmmu_perception.jsonl").write_text(json.dumps(lines[0]) + "\n")
    result = run_vr2(capsys, "eval", "--from-samples", folder, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    videomme, mmmu = summary["benchmarks"]["videomme"], summary["benchmarks"]["videommmu"]
    assert (videomme["errors"], videomme["scored"], videomme["accuracy"]) == (1, 1, 100.0)
    assert videomme["official_accuracy"] == 100.0 and videomme["official_counted"] == 2
    assert (mmmu["errors"], mmmu["accuracy"]) == (1, None)  # not ROUGE of "B" against "B"
    assert any("multiple-choice options not found" in f for f in summary["failed"])


MCQ_PROMPT = f"{QUESTION}\n{LINES}{THINK}"


def test_a_vr2_run_read_back_reproduces_its_official_figures(tmp_path, capsys):
    """`vr2 eval` writes each sample's official result into its row; --from-samples on that folder
    gives the same official figure, every result taken from the file."""
    from vr2.config import load_recipe
    from vr2.devtools.synthetic import write_test_video
    from vr2.eval.runner import Output, evaluate
    from vr2.samples import Sample

    class Scripted:
        supports_vas_attn = False

        def run(self, items, *, vas, **overrides):
            return [Output(t, None, 2) for t in ("<answer>Answer: C</answer>", "<answer>(B)</answer>",
                                                 "<answer>I think A or B</answer>")][:len(items)]

    clip = write_test_video(tmp_path / "clip.mp4", seconds=1.0, fps=4, size=(64, 48))
    samples = [Sample(id=f"q{i}", video=str(clip), question=QUESTION, options=OPTIONS, answer=gold)
               for i, gold in enumerate("CBB")]
    recipe = load_recipe(None, ["video.max_frames=2", "video.min_pixels=784", "video.max_pixels=3136",
                                "eval.batch_size=3"])
    summary = evaluate(recipe, output_dir=tmp_path / "run", engine=Scripted(), samples={"videomme": samples})
    entry = summary["benchmarks"]["videomme"]
    assert entry["official_accuracy"] == pytest.approx(100 / 3)  # "Answer: C" is A; "A or B" is A
    assert entry["accuracy"] == pytest.approx(200 / 3)  # vr2 reads C and B, and "A or B" as no answer
    result = run_vr2(capsys, "eval", "--from-samples", tmp_path / "run" / "samples", "--json")
    again = json.loads(result.out)["benchmarks"]["videomme"]
    assert again["official_accuracy"] == entry["official_accuracy"] and again["official_from_log"] == 3


def test_a_checkout_without_the_post_processing_script_costs_only_the_llm_step(tmp_path):
    from vr2.config import load_recipe
    from vr2.eval.runner import _post_tools

    tasks = write_release(tmp_path / "Video-R2")
    (tasks.parents[2] / "scripts" / "post_processing" / "post_process_vsibench_predictions.py").unlink()
    recipe = load_recipe(None, [f'eval.release_tasks="{tasks}"', 'judge.url="http://127.0.0.1:9/v1"',
                                'judge.model="m"'])
    post = _post_tools(recipe, ["vsibench"])
    assert "its prompts could not be read" in post["why_no_llm"] and "judge" not in post
    assert _post_tools(recipe, ["mvbench"]) == {}
