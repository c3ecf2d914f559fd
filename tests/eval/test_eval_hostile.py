"""Hostile input and faults in `vr2 eval` and `vr2 eval --from-samples` (issue 19, items 1, 3, 5, 7,
8): planted symlinks, markup in log file names, duplicated lines and logs, non-finite values,
rows no JSON reader should take whole, a full disk or an unwritable folder, and release task
folders that would hang, exhaust memory or read outside themselves."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from cli_helpers import run_vr2
from release_fixture import write_release
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.eval import release_prompts
from vr2.eval.runner import Output, evaluate
from vr2.samples import Sample

MCQ = "What is on the table?\nA. a red ball\nB. a blue cup\nC. a green box"


def line(doc_id, text="<answer>B</answer>", **extra):
    return json.dumps({"doc_id": doc_id, "input": MCQ, "target": "B", "resps": [[text]], **extra})


def write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(f"{x}\n" for x in lines), encoding="utf-8")
    return path


def strict_json(path: Path):
    def refuse(constant):
        raise ValueError(f"{path}: {constant} is not JSON")
    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


# --------------------------------------------------------------------------- item 1: symlinks, names


def test_from_samples_never_writes_through_a_planted_symlink(tmp_path, capsys):
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0), line(1, "<answer>C</answer>")])
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    (logs / "vr2").mkdir()
    for name in ("report.md", "summary.json.tmp", "report.html"):
        (logs / "vr2" / name).symlink_to(victim)
    result = run_vr2(capsys, "eval", "--from-samples", logs)
    assert result.code == 0, result.err
    assert victim.read_text() == "precious\n"
    assert not (logs / "vr2" / "report.md").is_symlink() and "vr2 eval" in (logs / "vr2" / "report.md").read_text()
    assert strict_json(logs / "vr2" / "summary.json")["benchmarks"]["videomme"]["samples"] == 2


def test_an_output_folder_that_is_a_symlink_is_refused(tmp_path, capsys):
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0)])
    elsewhere = tmp_path / "home"
    elsewhere.mkdir()
    (logs / "vr2").symlink_to(elsewhere)
    result = run_vr2(capsys, "eval", "--from-samples", logs)
    assert result.code == 2 and "Traceback" not in result.err
    assert "symbolic link" in result.err and not list(elsewhere.iterdir())


def test_log_files_reached_through_symlinks_are_not_read(tmp_path, capsys):
    outside = tmp_path / "outside"
    write(outside, "y_samples_minerva.jsonl", [line(0)])
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0)])
    (logs / "link_samples_minerva.jsonl").symlink_to(outside / "y_samples_minerva.jsonl")
    (logs / "sub").symlink_to(outside, target_is_directory=True)
    result = run_vr2(capsys, "eval", "--from-samples", logs, "--json")
    assert result.code == 0, result.err
    assert list(json.loads(result.out)["benchmarks"]) == ["videomme"]


def test_log_file_names_and_lines_never_reach_a_report_unescaped(tmp_path, capsys):
    logs = tmp_path / "L"
    evil = "<img src=x onerror=alert(1)>[link](javascript:x)|`"
    write(logs, f"x_samples_{evil}.jsonl", [line(0), "{not json <script>alert(2)</script>"])
    result = run_vr2(capsys, "eval", "--from-samples", logs)
    assert result.code == 0, result.err
    page = (logs / "vr2" / "report.html").read_text()
    markdown = (logs / "vr2" / "report.md").read_text()
    for text in (page, markdown):
        assert "<img" not in text and "<script>alert" not in text
    assert "[link](javascript" not in markdown and "&lt;img src=x" in markdown


# --------------------------------------------------------------------------- item 5: counting


def test_one_doc_id_on_many_lines_counts_once(tmp_path, capsys):
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0)] * 10 + [line(1, "<answer>C</answer>")])
    result = run_vr2(capsys, "eval", "--from-samples", logs, "--json")
    summary = json.loads(result.out)
    entry = summary["benchmarks"]["videomme"]
    assert (entry["samples"], entry["skipped_lines"], entry["log_lines"]) == (2, 9, 11)
    assert entry["official_accuracy"] == 50.0
    assert "doc_id 0 of task videomme again (first at x_samples_videomme.jsonl:1): counted once" in summary["skipped"][0]


def test_two_logs_of_one_task_count_once(tmp_path, capsys):
    logs = tmp_path / "L"
    write(logs / "run1", "a_samples_videomme.jsonl", [line(0), line(1)])
    write(logs / "run2", "b_samples_videomme.jsonl", [line(0), line(1), line(2, "<answer>C</answer>")])
    summary = json.loads(run_vr2(capsys, "eval", "--from-samples", logs, "--json").out)
    entry = summary["benchmarks"]["videomme"]
    assert (entry["samples"], entry["skipped_lines"]) == (3, 2)
    assert all("first at run1/a_samples_videomme.jsonl" in s for s in summary["skipped"])


def test_non_finite_vas_attn_rejects_its_line_and_every_json_written_is_valid(tmp_path, capsys):
    logs = tmp_path / "L"
    rows = [line(0, vas_attn=31.5), line(1).replace('"doc_id": 1', '"doc_id": 1, "vas_attn": NaN'),
            line(2, vas_attn=1e300), line(3, vas_attn=True), line(4, vas_attn="12")]
    write(logs, "x_samples_videomme.jsonl", rows)
    result = run_vr2(capsys, "eval", "--from-samples", logs, "--json")
    assert result.code == 0, result.err
    summary = strict_json(logs / "vr2" / "summary.json")
    entry = summary["benchmarks"]["videomme"]
    assert (entry["samples"], entry["skipped_lines"], entry["vas_attn"]) == (1, 4, 31.5)
    assert all("vas_attn is" in s for s in summary["skipped"])
    json.loads(result.out, parse_constant=lambda c: pytest.fail(c))


# --------------------------------------------------------------------------- item 3: rows no reader takes whole


def test_a_huge_integer_or_deep_nesting_is_one_skipped_row(tmp_path, capsys):
    logs = tmp_path / "L"
    huge = '{"doc_id": ' + "9" * 5000 + ', "target": "B", "resps": [["B"]]}'
    deep = '{"doc_id": 7, "target": "B", "resps": [["B"]], "doc": ' + "[" * 200 + "]" * 200 + "}"
    write(logs, "x_samples_videomme.jsonl", [line(0), huge, deep, line(1)])
    result = run_vr2(capsys, "eval", "--from-samples", logs, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["benchmarks"]["videomme"]["samples"] == 2
    reasons = " ".join(summary["skipped"])
    assert ":2: JSON holds a number with too many digits" in reasons and ":3: JSON nested too deeply" in reasons


# --------------------------------------------------------------------------- item 7: full disk, unwritable folder


def _full_disk(monkeypatch):
    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "fsync", fsync)


def test_full_disk_in_from_samples_is_one_line_and_keeps_the_last_reports(tmp_path, capsys, monkeypatch):
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0)])
    assert run_vr2(capsys, "eval", "--from-samples", logs).code == 0
    before = {p.name: p.read_bytes() for p in (logs / "vr2").iterdir()}
    write(logs, "x_samples_videomme.jsonl", [line(0), line(1)])
    _full_disk(monkeypatch)
    result = run_vr2(capsys, "eval", "--from-samples", logs)
    assert result.code == 2 and "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert "No space left on device" in result.err
    assert {p.name: p.read_bytes() for p in (logs / "vr2").iterdir()} == before  # nothing lost, no temp files


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys):
    logs = tmp_path / "L"
    write(logs, "x_samples_videomme.jsonl", [line(0)])
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_vr2(capsys, "eval", "--from-samples", logs, "-o", blocker / "out")
    assert result.code == 2 and "Traceback" not in result.err
    assert "cannot create the output folder" in result.err and blocker.read_text() == "x"


class Scripted:
    supports_vas_attn = False

    def run(self, items, *, vas, **overrides):
        return [Output("<answer>B</answer>", None, 3) for _ in items]


def test_full_disk_during_an_eval_run_is_one_line_and_a_rerun_resumes(tmp_path, monkeypatch, tiny_clip):
    recipe = load_recipe(None, ["eval.batch_size=1", "video.max_frames=2", "video.min_pixels=784",
                                "video.max_pixels=3136"])
    samples = {"videomme": [Sample(id=f"q{i}", video=str(tiny_clip), question="Q?", options=["x", "y"], answer="B")
                            for i in range(3)]}
    out = tmp_path / "run"
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:  # run.json, then the first batch, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(Vr2Error, match="No space left on device.*rerun the same command to resume"):
        evaluate(recipe, output_dir=out, engine=Scripted(), samples=samples)
    monkeypatch.setattr(os, "fsync", real)
    kept = (out / "samples" / "vr2_samples_videomme.jsonl").read_text().splitlines()
    assert [json.loads(x)["doc_id"] for x in kept][:1] == ["q0"]
    summary = evaluate(recipe, output_dir=out, engine=Scripted(), samples=samples)
    rows = (out / "samples" / "vr2_samples_videomme.jsonl").read_text().splitlines()
    assert [json.loads(x)["doc_id"] for x in rows] == ["q0", "q1", "q2"]
    assert summary["benchmarks"]["videomme"]["samples"] == 3


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    from vr2.devtools.synthetic import write_test_video

    return write_test_video(tmp_path_factory.mktemp("videos") / "clip.mp4", seconds=1.0, fps=4, size=(64, 48))


def test_a_symlinked_samples_file_or_lock_is_never_written_through(tmp_path, tiny_clip):
    recipe = load_recipe(None, ["video.max_frames=2", "video.min_pixels=784", "video.max_pixels=3136"])
    samples = {"videomme": [Sample(id="q0", video=str(tiny_clip), question="Q?", options=["x", "y"], answer="B")]}
    out = tmp_path / "run"
    (out / "samples").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / ".vr2-eval.lock").symlink_to(victim)
    (out / "samples" / "vr2_samples_videomme.jsonl").symlink_to(victim)
    with pytest.raises(Vr2Error, match="symbolic link"):
        evaluate(recipe, output_dir=out, engine=Scripted(), samples=samples)
    assert victim.read_text() == "precious\n"


# --------------------------------------------------------------------------- item 8: release task folders


@pytest.fixture()
def tasks(tmp_path):
    release_prompts.load.cache_clear()
    release_prompts._post_prompts.cache_clear()
    yield write_release(tmp_path / "Video-R2")
    release_prompts.load.cache_clear()
    release_prompts._post_prompts.cache_clear()


def _replace(path: Path, make):
    path.unlink()
    make(path)


@pytest.mark.parametrize("damage, message", [
    (lambda p: os.mkfifo(p), "not a regular file"),
    (lambda p: p.symlink_to("/dev/zero"), "leaves the task folder"),
    (lambda p: p.write_text("x: " + "[" * 5000 + "]" * 5000), "nested more than 64 levels deep"),
    (lambda p: ((p.parent / "base.yaml").write_text("a: &x {b: *x}\n"),  # mappings that contain themselves
                p.write_text("include: base.yaml\na: &y {b: *y}\n")), "nested more than 64 levels deep"),
    (lambda p: p.write_text("include: ../../../../../outside.yaml\n"), "leaves the task folder"),
    (lambda p: p.write_text("x" * (2 * 1024 * 1024)), "larger than 1 MiB"),
])
def test_hostile_task_yaml_is_one_line(tasks, damage, message):
    (tasks.parents[3] / "outside.yaml").write_text("lmms_eval_specific_kwargs: {default: {post_prompt: stolen}}\n")
    _replace(tasks / "mvbench_think" / "mvbench_action_sequence.yaml", damage)
    with pytest.raises(Vr2Error, match=message) as error:
        release_prompts.load(str(tasks))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("source", ["x = " + "(" * 300 + ")" * 300, "x = " + "-" * 200000 + "1",
                                    "def f(:\n"])
def test_hostile_utils_py_is_one_line(tasks, source):
    (tasks / "videomme_think" / "utils.py").write_text(source)
    with pytest.raises(Vr2Error, match="videomme_think/utils.py") as error:
        release_prompts.load(str(tasks))
    assert "\n" not in str(error.value)


def test_a_fifo_post_processing_script_does_not_hang(tasks):
    script = tasks.parents[2] / "scripts" / "post_processing" / "post_process_vsibench_predictions.py"
    _replace(script, lambda p: os.mkfifo(p))
    with pytest.raises(Vr2Error, match="not a regular file"):
        release_prompts._post_prompts(str(tasks))


def test_post_processing_prompts_that_vr2_cannot_fill_are_refused(tasks):
    script = tasks.parents[2] / "scripts" / "post_processing" / "post_process_vsibench_predictions.py"
    script.write_text(script.read_text().replace("{ctx}", "{open('/etc/passwd').read()}"))
    with pytest.raises(Vr2Error, match="cannot fill"):
        release_prompts._post_prompts(str(tasks))
