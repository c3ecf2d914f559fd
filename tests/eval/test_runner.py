"""The evaluation runner: rows per sample, resuming (also after SIGKILL), failed videos, reports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli_helpers import run_vr2
from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.eval.runner import Output, _Lock, evaluate, read_results
from vr2.samples import Sample

FAST = ["eval.max_new_tokens=8", "video.max_frames=2", "video.min_pixels=784", "video.max_pixels=3136",
        "eval.batch_size=2"]
OPTIONS = ["a red ball", "a blue cup", "a green box"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    from vr2.devtools.synthetic import write_test_video

    return write_test_video(tmp_path_factory.mktemp("videos") / "clip.mp4", seconds=1.0, fps=4, size=(64, 48))


def recipe_for(model_dir, *extra):
    return load_recipe(None, [f'model.name_or_path="{model_dir}"', *FAST, *extra])


def toy_samples(clip, n=4, broken=True):
    samples = [Sample(id=f"q{i}", video=str(clip), question=f"What is shown {i}?", options=OPTIONS, answer="B")
               for i in range(n)]
    if broken:
        samples.insert(1, Sample(id="broken", video=str(clip.parent / "missing.mp4"), question="Q?",
                                 options=OPTIONS, answer="A"))
    return samples


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def without_timing(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


class Scripted:
    """Stands in for the model where a test needs known completions (the tiny model writes noise)."""

    supports_vas_attn = True

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.seen: list[str] = []

    def run(self, items, *, vas):
        self.seen += [question for _, question, _ in items]
        return [Output(self.answers[q], 25.0 if vas else None, 5) for _, q, _ in items]


# --------------------------------------------------------------------------- tiny model


def test_tiny_model_run_rows_and_reports(tiny_model_dir, clip, tmp_path):
    recipe = recipe_for(tiny_model_dir)
    out = tmp_path / "run"
    summary = evaluate(recipe, output_dir=out, samples={"mvbench": toy_samples(clip),
                                                         "mine": toy_samples(clip, 2, broken=False)})
    rows = lines(out / "samples" / "vr2_samples_mvbench.jsonl")
    assert [r["doc_id"] for r in rows] == ["q0", "broken", "q1", "q2", "q3"]
    good, bad = rows[0], rows[1]
    # lmms-eval field names, plus vr2's scores
    assert good["input"].startswith("What is shown 0?\nA. a red ball") and good["target"] == "B"
    assert isinstance(good["resps"][0][0], str) and good["filtered_resps"] == [good["final_answer"]]
    assert good["frames"] == 2 and good["error"] is None and good["tokens"] <= 8
    assert "missing.mp4" in bad["error"] and bad["resps"] == [[]]
    mv = summary["benchmarks"]["mvbench"]
    assert (mv["samples"], mv["scored"], mv["errors"]) == (5, 4, 1)
    assert (mv["display"], mv["category"]) == ("MVBench", "generic")
    assert summary["benchmarks"]["mine"]["category"] == "other"
    assert summary["averages"]["overall"]["benchmarks"] == ["mvbench", "mine"]
    assert summary["protocol"]["protocol"] == "vr2" and summary["source"] == "vr2 eval"
    assert summary["protocol"]["frames"].startswith("2 fps, at most ")
    for name in ("summary.json", "report.md", "report.html", "run.json"):
        assert (out / name).exists()
    assert json.loads((out / "summary.json").read_text())["benchmarks"] == summary["benchmarks"]


def test_rerun_of_a_finished_run_loads_no_model(tiny_model_dir, clip, tmp_path):
    recipe = recipe_for(tiny_model_dir)
    samples = {"mvbench": toy_samples(clip, 2)}
    first = evaluate(recipe, output_dir=tmp_path, samples=samples)

    class NoModel:
        supports_vas_attn = True

        def run(self, items, *, vas):
            raise AssertionError("nothing should be generated again")

    again = evaluate(recipe, output_dir=tmp_path, samples=samples, engine=NoModel())
    assert again["benchmarks"] == first["benchmarks"]
    assert len(lines(tmp_path / "samples" / "vr2_samples_mvbench.jsonl")) == 3


# --------------------------------------------------------------------------- metrics plumbing


def test_known_completions_give_known_metrics(tmp_path, clip):
    answers = {
        "What is shown 0?": "<think>At 00:00 a blue cup. Therefore the answer is B.</think><answer>B</answer>",
        "What is shown 1?": "<think>The ball is red, so the answer is A.</think><answer>B</answer>",
        "What is shown 2?": "<think>Therefore the answer is C.</think><answer>C</answer>",
        "What is shown 3?": "no tags at all",
    }
    engine = Scripted(answers)
    recipe = load_recipe(None, FAST)
    summary = evaluate(recipe, output_dir=tmp_path, engine=engine,
                       samples={"vsibench": toy_samples(clip, 4, broken=False)})
    m = summary["benchmarks"]["vsibench"]
    assert m["accuracy"] == 50.0  # q0 and q1 answer B
    assert m["tac"] == 50.0  # q0 and q2 agree; q3 has no blocks -> not consistent
    assert m["tac_correctness"] == 50.0  # q0 (both right), q2 (both wrong)
    assert m["format"] == 75.0 and m["no_answer"] == 1
    assert m["vas_attn"] == 25.0 and m["vas_attn_samples"] == 4
    assert summary["averages"]["reasoning"]["accuracy"] == 50.0


def test_direct_mode_scores_plain_answers(tmp_path, clip):
    engine = Scripted({f"What is shown {i}?": text for i, text in enumerate(["B", "(b)", "C", "a blue cup"])})
    recipe = load_recipe(None, [*FAST, 'eval.mode="direct"'])
    summary = evaluate(recipe, output_dir=tmp_path, engine=engine,
                       samples={"mvbench": toy_samples(clip, 4, broken=False)})
    m = summary["benchmarks"]["mvbench"]
    assert m["accuracy"] == 75.0 and m["tac"] is None and m["vas_attn"] is None
    assert any("direct-answer" in note for note in summary["notes"])


def test_tar_only_where_grounding_exists(tmp_path, clip):
    text = "<think>At 00:00 a man opens the red door. So the answer is B.</think><answer>B</answer>"
    grounded = Sample(id="g", video=str(clip), question="G?", options=OPTIONS, answer="B",
                      temporal_grounding={"00:00": "A man opens the red door."})
    plain = Sample(id="p", video=str(clip), question="P?", options=OPTIONS, answer="B")
    summary = evaluate(load_recipe(None, FAST), output_dir=tmp_path, engine=Scripted({"G?": text, "P?": text}),
                       samples={"mvbench": [grounded, plain]})
    m = summary["benchmarks"]["mvbench"]
    assert (m["tar"], m["tar_samples"]) == (100.0, 1)


# --------------------------------------------------------------------------- resuming


def test_resume_after_a_torn_line_never_duplicates(tmp_path, clip):
    answers = {f"What is shown {i}?": f"<think>So B.</think><answer>{'AB'[i % 2]}</answer>" for i in range(6)}
    samples = {"mvbench": toy_samples(clip, 6)}
    recipe = load_recipe(None, FAST)
    full = evaluate(recipe, output_dir=tmp_path / "full", engine=Scripted(answers), samples=samples)
    reference = lines(tmp_path / "full" / "samples" / "vr2_samples_mvbench.jsonl")

    part = tmp_path / "part"
    # Write the first 3 rows, then half of the 4th, as a crash in the middle of a write leaves it.
    rows_file = part / "samples" / "vr2_samples_mvbench.jsonl"
    rows_file.parent.mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in reference[:3]) + json.dumps(reference[3])[:25]
    rows_file.write_text(text)
    (part / "run.json").write_text((tmp_path / "full" / "run.json").read_text())
    engine = Scripted(answers)
    resumed = evaluate(recipe, output_dir=part, engine=engine, samples=samples)
    assert engine.seen == ["What is shown 2?", "What is shown 3?", "What is shown 4?", "What is shown 5?"]
    got = lines(rows_file)
    assert sorted(r["doc_id"] for r in got) == sorted(r["doc_id"] for r in reference)
    assert without_timing(sorted(got, key=lambda r: r["doc_id"])) == without_timing(
        sorted(reference, key=lambda r: r["doc_id"]))
    assert resumed["benchmarks"] == full["benchmarks"] and resumed["averages"] == full["averages"]


def test_read_results_keeps_the_first_of_duplicates_and_cuts_a_torn_tail(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"doc_id": "a", "v": 1}\n{"doc_id": "a", "v": 2}\n{"doc_id": "b"}\n{"doc_')
    assert read_results(path) == {"a": {"doc_id": "a", "v": 1}, "b": {"doc_id": "b"}}
    assert path.read_text().endswith('{"doc_id": "b"}\n')
    path.write_text('{"doc_id": "a"}\nnot json\n')
    with pytest.raises(Vr2Error, match="rows.jsonl:2: not valid JSON"):
        read_results(path)


def test_other_settings_are_refused_until_force(tmp_path, clip):
    answers = {f"What is shown {i}?": "<answer>B</answer>" for i in range(2)}
    samples = {"mvbench": toy_samples(clip, 2, broken=False)}
    evaluate(load_recipe(None, FAST), output_dir=tmp_path, engine=Scripted(answers), samples=samples)
    changed = load_recipe(None, [*FAST, "video.fps=1.0"])
    with pytest.raises(Vr2Error, match="other settings \\(video\\).*--force"):
        evaluate(changed, output_dir=tmp_path, engine=Scripted(answers), samples=samples)
    engine = Scripted(answers)
    evaluate(changed, output_dir=tmp_path, engine=engine, samples=samples, force=True)
    assert len(engine.seen) == 2  # started over


def test_one_run_per_folder(tmp_path, clip):
    with _Lock(tmp_path):
        with pytest.raises(Vr2Error, match="another vr2 eval is writing"):
            evaluate(load_recipe(None, FAST), output_dir=tmp_path, engine=Scripted({}),
                     samples={"mvbench": []})


def test_duplicate_sample_ids_are_refused(tmp_path, clip):
    twice = toy_samples(clip, 1, broken=False) * 2
    with pytest.raises(Vr2Error, match="'q0' appears twice"):
        evaluate(load_recipe(None, FAST), output_dir=tmp_path, engine=Scripted({}), samples={"x": twice})


# --------------------------------------------------------------------------- command line


def test_help_does_not_import_torch():
    code = ("import sys\nfrom vr2.cli.main import main\nsys.argv = ['vr2', 'eval', '--help']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "--from-samples" in out.stdout and out.stdout.strip().endswith("NO-TORCH")


@pytest.mark.parametrize("args, message", [
    (["--mode", "auto"], "auto is only for --from-samples"),
    (["--compare", "nowhere/summary.json", "-b", "mvbench"], "nowhere/summary.json: summary file not found"),
    (["--mode", "sideways", "-b", "mvbench"], "eval.mode must be one of think, direct"),
])
def test_bad_input_is_one_line(capsys, args, message):
    result = run_vr2(capsys, "eval", *args)
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert len(result.err.strip().splitlines()) == 1


# --------------------------------------------------------------------------- SIGKILL


def write_jsonl_benchmark(folder: Path, clip: Path, n: int) -> Path:
    rows = [{"id": f"s{i:02d}", "video": clip.name, "question": f"What is shown {i}?", "options": OPTIONS,
             "answer": "B"} for i in range(n)]
    rows.insert(2, {"id": "broken", "video": "missing.mp4", "question": "Q?", "options": OPTIONS, "answer": "A"})
    path = folder / "toy.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_sigkill_then_resume_equals_an_uninterrupted_run(tiny_model_dir, clip, tmp_path):
    bench = write_jsonl_benchmark(tmp_path, clip, 12)
    recipe_file = tmp_path / "eval.toml"
    recipe_file.write_text(
        f'name = "toy"\n[model]\nname_or_path = "{tiny_model_dir}"\n'
        f'[video]\nmax_frames = 2\nmin_pixels = 784\nmax_pixels = 3136\n'
        f'[eval]\nbenchmarks = ["{bench}"]\nvideo_dir = "{clip.parent}"\nmax_new_tokens = 8\n'
        f'batch_size = 1\noutput_dir = "{tmp_path / "killed"}"\n')
    rows_file = tmp_path / "killed" / "samples" / "vr2_samples_toy.jsonl"
    command = [sys.executable, "-m", "vr2", "eval", str(recipe_file)]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if rows_file.exists() and rows_file.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    written = rows_file.read_text().count("\n")
    assert 3 <= written < 13, "the run was not killed part-way"

    resumed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    full = evaluate(load_recipe(recipe_file), output_dir=tmp_path / "full")

    got, expected = lines(rows_file), lines(tmp_path / "full" / "samples" / "vr2_samples_toy.jsonl")
    ids = [r["doc_id"] for r in got]
    assert len(ids) == len(set(ids)) == 13  # every sample once, none twice
    key = lambda r: r["doc_id"]  # noqa: E731
    assert without_timing(sorted(got, key=key)) == without_timing(sorted(expected, key=key))
    killed = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert killed["benchmarks"] == full["benchmarks"] and killed["averages"] == full["averages"]
    assert killed["benchmarks"]["toy"]["errors"] == 1 and killed["benchmarks"]["toy"]["samples"] == 13


FIXTURES = Path(__file__).parent.parent / "fixtures" / "benchmarks"


def test_registry_benchmarks_with_failing_videos_load_no_model(capsys, tmp_path):
    """The fixture benchmarks' videos are empty files: every sample fails, is recorded with its
    error and counted; rows the loader skipped are reported; no model is ever loaded."""
    out = tmp_path / "out"
    result = run_vr2(capsys, "eval", "-b", "videomme,mmvu", "--data-dir", FIXTURES, "--model", tmp_path / "absent",
                     "-o", out, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    for name in ("videomme", "mmvu"):
        entry = summary["benchmarks"][name]
        assert (entry["samples"], entry["errors"], entry["scored"], entry["skipped_rows"]) == (2, 2, 0, 1)
    assert "gold answer 'E' is not one of the 4 options" in result.err
    rows = lines(out / "samples" / "vr2_samples_videomme.jsonl")
    assert all("empty file, not a video" in r["error"] for r in rows)
    assert rows[0]["doc_id"] == "001-1" and rows[0]["target"] == "C"
    assert "| VideoMME | 2 | 2 | - |" in (out / "report.md").read_text()  # samples, errors, accuracy


def test_vas_judge_from_the_recipes_judge(tmp_path, clip, monkeypatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    asked = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            asked.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"choices": [{"message": {"content": '{"score": 6}'}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        recipe = load_recipe(None, [*FAST, f'judge.url="{url}"', 'judge.model="j"', "judge.retries=0"])
        text = "<think>A man in a red coat at 00:00. So B.</think><answer>B</answer>"
        summary = evaluate(recipe, output_dir=tmp_path, engine=Scripted({"What is shown 0?": text}),
                           samples={"mvbench": toy_samples(clip, 1, broken=False)})
    finally:
        server.shutdown()
        server.server_close()
    assert summary["benchmarks"]["mvbench"]["vas_judge"] == 60.0
    user = asked[0]["messages"][-1]["content"]
    assert "What is shown 0?\nA. a red ball" in user and "Each frame shows" not in user


EVAL_RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes" / "eval").glob("*.toml"))


@pytest.mark.parametrize("path", EVAL_RECIPES, ids=lambda p: p.name)
def test_eval_recipes_follow_the_paper_protocol(path):
    from vr2.eval import benchmarks

    recipe = load_recipe(path)
    assert [benchmarks.get_benchmark(n).name for n in recipe.eval.benchmarks] == list(benchmarks.PAPER_BENCHMARKS)
    v, e = recipe.video, recipe.eval
    assert (v.fps, v.max_frames, v.max_pixels, v.min_pixels) == (2.0, 128, 151_200, 100_352)
    assert (e.temperature, e.max_new_tokens, e.engine) == (0.0, 1024, "transformers")
    assert e.mode == ("direct" if path.name == "base_direct.toml" else "think")
    assert e.protocol == ("vr2" if path.name == "base_direct.toml" else "paper")
    if not path.name.startswith("_"):
        assert e.output_dir == f"runs/eval/{path.stem}"
        assert "Expected" in path.read_text().split("\nextends")[0]  # the paper row's numbers up front
