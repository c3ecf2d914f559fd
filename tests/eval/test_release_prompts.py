"""vr2.eval.release_prompts: the `paper` protocol's words, read from a checkout of the Video-R2 release."""

from __future__ import annotations

import ast
import string
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from release_fixture import THINK, task_yaml, write_release
from release_repo import release_repo

from vr2.eval import protocols
from vr2.eval import release_prompts
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.samples import Sample

TASKS = "eval/lmms-eval/lmms_eval/tasks"


@pytest.fixture
def tasks(tmp_path):
    return write_release(tmp_path)


def test_reads_every_piece_where_the_fork_keeps_it(tasks):
    pieces = release_prompts.load(str(tasks))
    assert set(pieces) == set(release_prompts.NAMES)
    assert pieces["videomme.post"].text == "\n" + THINK
    assert pieces["videomme.post"].file == "videomme_think/videomme.yaml"
    assert pieces["videommmu.mcq"].text == "<<this choice question>>"  # through `include:`
    assert pieces["videomathqa.head2"].text == "<<head, two letters>>"  # the `if` branch
    assert pieces["videomathqa.head5"].text == "<<head, five letters>>"  # the `else` branch
    assert pieces["videomme.head"].text == "<<head, four letters>>"  # not the other function's variable
    assert pieces["vsibench.default_pre"].text == "<<frames>>"  # the fallback of `x or "..."`
    assert pieces["mmvu.open"].where == "open_ended_prompt"
    described = release_prompts.describe(pieces)
    assert len(described["mlvu.post"]["sha256"]) == 64
    assert described["mlvu.post"]["sha256"] == described["videomme.post"]["sha256"]


def recipe(*sets):
    return load_recipe(None, ['eval.protocol="paper"', *sets])


def test_a_paper_run_without_the_checkout_says_what_to_pass(monkeypatch, tasks):
    monkeypatch.delenv(release_prompts.ENV, raising=False)
    with pytest.raises(Vr2Error, match=r"--release-tasks .*eval/lmms-eval/lmms_eval/tasks .*git clone"):
        release_prompts.for_recipe(recipe())
    monkeypatch.setenv(release_prompts.ENV, str(tasks))
    assert release_prompts.for_recipe(recipe())["mvbench.post"].text == "\n" + THINK


@pytest.mark.parametrize("damage, message", [
    (lambda t: (t / "mmvu_think" / "utils.py").unlink(), r"mmvu_think/utils.py: missing"),
    (lambda t: (t / "vsibench_think" / "vsibench.yaml").write_text(task_yaml({"pre_prompt": ""})),
     r"vsibench.yaml: no text at lmms_eval_specific_kwargs.default.mca_post_prompt"),
    (lambda t: (t / "minverva_think" / "utils.py").write_text("def other():\n    pass\n"),
     r"minverva_think/utils.py: no function minerva_doc_to_text\(\)"),
    (lambda t: (t / "videomme_think" / "utils.py").write_text("def videomme_doc_to_text(doc):\n    return 1\n"),
     r"no string assigned to videomme_doc_to_text\(\): option_prompt"),
    (lambda t: (t / "mlvu_think" / "mlvu_dev.yaml").write_text("a: [unclosed\n"), r"mlvu_dev.yaml: unreadable"),
    (lambda t: (t / "mmvu_think" / "utils.py").write_text("def (:\n"), r"mmvu_think/utils.py: unreadable"),
])
def test_a_damaged_checkout_names_the_file_and_what_is_missing(tasks, damage, message):
    damage(tasks)
    with pytest.raises(Vr2Error, match=message) as err:
        release_prompts.load(str(tasks))
    assert "\n" not in str(err.value) and "--release-tasks" in str(err.value)


def test_a_folder_that_is_not_there(tmp_path):
    with pytest.raises(Vr2Error, match="is not a folder"):
        release_prompts.for_recipe(recipe(f'eval.release_tasks="{tmp_path / "nope"}"'))


@settings(max_examples=25, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40))
def test_any_text_reads_back_exactly(text):
    # The parser must return the task's words byte for byte, whatever they are.
    with tempfile.TemporaryDirectory() as tmp:
        tasks = write_release(Path(tmp))
        (tasks / "videomme_think" / "videomme.yaml").write_text(task_yaml({"post_prompt": text}), encoding="utf-8")
        (tasks / "videomme_think" / "utils.py").write_text(
            f"def videomme_doc_to_text(doc):\n    option_prompt = {text!r}\n", encoding="utf-8")
        pieces = release_prompts.load(str(tasks))
    assert pieces["videomme.post"].text == text and pieces["videomme.head"].text == text


# --------------------------------------------------------------------------- against the real release


def _release_tasks() -> Path:
    """The task folder of the release checkout at $VR2_RELEASE_REPO (read only); skips without one."""
    return release_repo(*TASKS.split("/"))


def _fork_function(tasks: Path, folder: str, name: str):
    """The fork's own doc_to_text, compiled from its utils.py with only the plain definitions it
    needs (its imports pull in lmms-eval, decord and torch, which are not needed to build text)."""
    tree = ast.parse((tasks / folder / "utils.py").read_text(encoding="utf-8"))
    keep = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in (name, "parse_options", "format_options"):
            keep.append(node)
        elif isinstance(node, ast.Assign):
            try:
                ast.literal_eval(node.value)
            except ValueError:
                continue
            keep.append(node)
    space = {"string": string}
    exec(compile(ast.Module(body=keep, type_ignores=[]), folder, "exec"), space)
    return space[name]


def _kwargs(tasks: Path, file: str) -> dict:
    loader = release_prompts._yaml_loader()
    data = yaml.load((tasks / file).read_text(encoding="utf-8"), Loader=loader)
    if "include" in data:
        base = yaml.load((tasks / file).parent.joinpath(data["include"]).read_text(encoding="utf-8"), Loader=loader)
        return {**base.get("lmms_eval_specific_kwargs", {}).get("default", {}),
                **data.get("lmms_eval_specific_kwargs", {}).get("default", {})}
    return data["lmms_eval_specific_kwargs"]["default"]


OPTIONS = ["a red ball", "a blue cup", "a green box", "two birds"]


def _lettered(options, style="{L}. {t}"):
    return [style.format(L="ABCDE"[i], t=o) for i, o in enumerate(options)]


def _cases(options):
    """(benchmark, vr2 sample extras, task folder, yaml, fork function, the fork's doc)."""
    q = "What is on the table?"
    mc = {"question": q, "options": _lettered(options)}
    padded = dict(zip("ABCDE", (options + [""] * 5)[:5]))
    return [
        ("mvbench", {}, "mvbench_think", "mvbench_think/mvbench_action_sequence.yaml", "mvbench_doc_to_text",
         {"question": q, "candidates": options}),
        ("videomme", {}, "videomme_think", "videomme_think/videomme.yaml", "videomme_doc_to_text", mc),
        ("tempcompass", {}, "tempcompass_complete_think", "tempcompass_complete_think/tempcompass_complete.yaml",
         "tempcompass_doc_to_text", mc),
        ("mlvu", {}, "mlvu_think", "mlvu_think/mlvu_dev.yaml", "mlvu_doc_to_text",
         {"question": q + "\n" + "\n".join(_lettered(options, "({L}) {t}"))}),
        ("longvideobench", {}, "longvideobench_think", "longvideobench_think/longvideobench_val_v.yaml",
         "longvideobench_doc_to_text",
         {"question": q, **{f"option{i}": (options + ["N/A"] * 5)[i] for i in range(5)}}),
        ("videomathqa", {}, "videomathqa_think", "videomathqa_think/videomathqa_mcq.yaml", "videomathqa_doc_to_text", mc),
        ("minerva", {}, "minverva_think", "minverva_think/minerva.yaml", "minerva_doc_to_text", mc),
        ("videommmu", {"track": "Adaptation"}, "videommmu_think", "videommmu_think/adaptation.yaml",
         "videommmu_doc_to_text_adaptation", {"question": q, "question_type": "multiple-choice", "options": options}),
        ("videommmu", {"track": "Perception"}, "videommmu_think", "videommmu_think/perception.yaml",
         "videommmu_doc_to_text_perception_comprehension", {"question": q, "options": options}),
        ("mmvu", {}, "mmvu_think", "mmvu_think/mmvu_val.yaml", "mmvu_doc_to_text",
         {"question": q, "question_type": "multiple-choice", "choices": padded}),
        ("vsibench", {}, "vsibench_think", "vsibench_think/vsibench.yaml", "vsibench_doc_to_text",
         {"question": q, "question_type": "object_rel_direction_easy", "options": _lettered(options)}),
        ("scivideobench", {}, "scivideobench_think", "scivideobench_think/scivideobench.yaml",
         "scivideobench_doc_to_text", {"question": q, "options": options}),
    ]


@pytest.mark.parametrize("options", [OPTIONS, OPTIONS[:2], OPTIONS + ["a hat"]])
def test_paper_prompts_equal_the_release_tasks_own_text(options):
    tasks = _release_tasks()
    pieces = release_prompts.load(str(tasks))
    for benchmark, extra, folder, task_file, function, doc in _cases(options):
        expected = _fork_function(tasks, folder, function)(doc, _kwargs(tasks, task_file))
        sample = Sample(id="s", video="v.mp4", question="What is on the table?", options=list(options),
                        answer="B", extra=extra)
        assert protocols.paper_prompt(benchmark, sample, pieces) == expected, benchmark
    open_count = {"question": "How many chairs?", "question_type": "object_counting"}
    expected = _fork_function(tasks, "vsibench_think", "vsibench_doc_to_text")(
        open_count, _kwargs(tasks, "vsibench_think/vsibench.yaml"))
    count = Sample(id="c", video="v.mp4", question="How many chairs?", answer="4")
    assert protocols.paper_prompt("vsibench", count, pieces) == expected


def test_every_mvbench_subtask_uses_the_words_read():
    tasks = _release_tasks()
    post = release_prompts.load(str(tasks))["mvbench.post"].text
    subtasks = [p for p in (tasks / "mvbench_think").glob("mvbench_*.yaml")]
    assert len(subtasks) == 20
    assert {_kwargs(tasks, str(p.relative_to(tasks)))["post_prompt"] for p in subtasks} == {post}


TRICKY = ["a red ball", "B-movie night", "C. elegans worm", "two birds"]  # C's text starts with "C."


@pytest.mark.parametrize("question", ["What is on the table? \n", "What is on the table?"])
def test_paper_prompts_keep_the_rows_own_text(question):
    """The row's question (trailing space and newline included) and options (one starting with its
    own letter) reach the prompt as the release's task writes them, through what the loaders keep."""
    from vr2.data.datasets import check_options
    from vr2.eval.benchmarks import RELEASE_FIELDS

    tasks = _release_tasks()
    pieces = release_prompts.load(str(tasks))
    for benchmark, extra, folder, task_file, function, doc in _cases(TRICKY):
        doc = {**doc, "question": question if benchmark != "mlvu" else doc["question"] + question[-2:]}
        expected = _fork_function(tasks, folder, function)(doc, _kwargs(tasks, task_file))
        raw = doc.get("options") or doc.get("candidates") or doc.get("choices") or \
            [doc.get(f"option{i}", t) for i, t in enumerate(TRICKY)]
        if isinstance(raw, dict):  # as the MMVU loader does: empty choices are no options
            raw = {k: v for k, v in raw.items() if v}
        fields = {k: doc[k] for k in RELEASE_FIELDS if k in doc}
        sample = Sample(id="s", video="v.mp4", question=question.strip(), options=check_options(raw),
                        answer="B", extra={**extra, "release_fields": fields})
        assert protocols.paper_prompt(benchmark, sample, pieces) == expected, benchmark
