"""`vr2 curate` end to end on CPU: fixture files of every source layout, real videos, a real local
HTTP teacher (failures, garbage, slow and wrong replies included), a kill during `teach`, shards
merged, and the output training with the smoke SFT and GRPO recipes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_vr2
from teacher_server import ALWAYS_FAIL, FAIL_ONCE, GARBAGE, LATE, RATE_GARBAGE, SLOW, WRONG, gold_answers, serve
from vr2.curate import pipeline as curate
from vr2.config import load_recipe

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "smoke" / "curate.toml"
VIDEOS = REPO / "tests" / "fixtures" / "curate" / "videos"
SCRIPT = {
    "How many times does the colour change?": FAIL_ONCE,  # retried within the run
    "what colour does the screen turn after red": SLOW,
    "what is the last colour shown": WRONG,
    "is the background ever green?": GARBAGE,
    "Which colour is shown second?": LATE,  # cites 00:30 in a 4 s video
    "How many colour changes happen?": ALWAYS_FAIL,
}
OUTPUTS = ("sft.json", "grpo.json", "manifest.json")


@contextmanager
def in_repo():
    """The smoke recipe names its fixture files relative to the repository, as a user runs it."""
    old = os.getcwd()
    os.chdir(REPO)
    try:
        yield
    finally:
        os.chdir(old)


def sets(out: Path, server, model: Path, *extra: str) -> list[str]:
    return [f'curate.output_dir="{out}"', f'curate.teacher_url="{server.url}"',
            f'model.name_or_path="{model}"', *extra]


def recipe_for(out: Path, server, model: Path, *extra: str):
    return load_recipe(RECIPE, sets(out, server, model, *extra))


def read(out: Path, name: str):
    return json.loads((out / name).read_text())


@pytest.fixture(scope="module")
def model(smoke_dir) -> Path:
    return smoke_dir / "model"


@pytest.fixture(scope="module")
def scripted(tmp_path_factory, model):
    """One run with every kind of bad teacher reply; yields (out, server) with the server still up."""
    out = tmp_path_factory.mktemp("scripted") / "curate"
    with in_repo():
        with serve(dict(SCRIPT), load_recipe(RECIPE)) as server:
            result = curate.run(recipe_for(out, server, model))
            yield out, server, result


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model):
    """A run where the teacher always answers well (for comparisons)."""
    out = tmp_path_factory.mktemp("reference") / "curate"
    with in_repo():
        with serve({}, load_recipe(RECIPE)) as server:
            curate.run(recipe_for(out, server, model))
            yield out, server


def test_every_stage_counts_and_rejects_with_a_reason(scripted):
    out, server, result = scripted
    assert result.stages == ["ingest", "teach", "verify", "rank", "split", "write"]
    assert result.teacher_failures == 2  # the call that always fails and the unreadable reply
    manifest = read(out, "manifest.json")
    assert manifest["bad_rows"]["count"] == 5
    assert {"file": "tests/fixtures/curate/nextqa/train.csv", "row": 5,
            "reason": "answer index 7 is outside a0-a4"} in manifest["bad_rows"]["listed"]
    assert manifest["duplicates"] == {"nextqa": 1}
    assert manifest["rejections"]["ingest"] == {"video file not found": 1}
    assert manifest["rejections"]["verify"] == {
        "answer wrong": 1, "grounding time after the video ends": 1,
        "teacher call failed (asked again on the next run)": 1,
        "teacher reply unreadable (asked again on the next run)": 1}
    assert manifest["counts"]["samples"] == {"sft": 5, "grpo": 3, "total": 8}
    assert manifest["counts"]["per_source"]["nextqa"] == {"loaded": 2, "ingest": 2, "verify": 1, "rank": 1, "sft": 1}
    assert manifest["complete"] is False
    assert manifest["teacher"]["model"] == "scripted-teacher"
    assert manifest["video_duration_s"]["count"] == 8 and manifest["reasoning_tokens"]["mean"] > 10
    assert sum(manifest["difficulty"]["histogram"].values()) == 8
    report = (out / "report.html").read_text()
    assert report.count("<svg") == 5 and "answer wrong" in report and "<script" not in report


def test_output_is_the_released_format_that_training_reads(scripted):
    from vr2.data.datasets import load_dataset_file

    out, _, _ = scripted
    for name in ("sft", "grpo"):
        loaded = load_dataset_file(out / f"{name}.json", VIDEOS)
        assert not loaded.skipped and len(loaded) == {"sft": 5, "grpo": 3}[name]
        for sample in loaded:
            assert sample.reasoning.startswith("<think>") and sample.answer_type
            assert (sample.temporal_grounding is not None) == (name == "grpo")
    rows = read(out, "grpo.json")
    assert rows[0]["conversations"][0]["value"].startswith("<video>\n")
    assert set(rows[0]) >= {"video", "conversations", "temporal_grounding", "source", "source_id", "difficulty"}


def test_rerun_asks_only_what_failed_and_then_keeps_it(scripted, model, capsys):
    out, server, _ = scripted
    server.script.pop("How many colour changes happen?")
    server.script.pop("is the background ever green?")
    before = len(server.log)
    with in_repo():
        result = run_vr2(capsys, "curate", RECIPE, *sum((["-s", s] for s in sets(out, server, model)), []))
    assert result.code == 0, result.err
    again = sorted((e["kind"], e["question"]) for e in server.log[before:])
    assert again == [("rate", "How many colour changes happen?"), ("rate", "is the background ever green?"),
                     ("teach", "How many colour changes happen?"), ("teach", "is the background ever green?")]
    manifest = read(out, "manifest.json")
    assert manifest["complete"] is True and manifest["counts"]["samples"]["total"] == 10
    assert "teacher: 4 requests" in result.err and "grpo: " in result.err
    assert "bad row: tests/fixtures/curate/nextqa/train.csv row 5: answer index 7 is outside a0-a4" in result.err


def test_shards_merged_equal_a_single_machine_run(reference, model, capsys):
    out, server = reference
    single = {name: (out / name).read_bytes() for name in OUTPUTS}
    for name in OUTPUTS:
        (out / name).unlink()
    shutil.rmtree(out / "work")
    before = len(server.log)
    with in_repo():
        for part in ("1/3", "0/3", "2/3"):
            result = run_vr2(capsys, "curate", RECIPE, "--shard", part, *sum((["-s", s] for s in sets(out, server, model)), []))
            assert result.code == 0, result.err
            assert "--stage merge" in result.err and not (out / "sft.json").exists()
        result = run_vr2(capsys, "curate", RECIPE, "--stage", "merge", *sum((["-s", s] for s in sets(out, server, model)), []))
    assert result.code == 0, result.err
    assert len(server.log) == before  # the teacher cache answered everything
    assert len(list((out / "work").glob("shard-*-of-3"))) == 3
    assert {name: (out / name).read_bytes() for name in OUTPUTS} == single


def test_kill_during_teach_then_rerun_loses_nothing_and_repeats_nothing(reference, tmp_path, model):
    out = tmp_path / "curate"
    with in_repo(), serve({}, load_recipe(RECIPE)) as server:
        command = [sys.executable, "-m", "vr2", "curate", str(RECIPE), "-s", "curate.concurrency=1",
                   *sum((["-s", s] for s in sets(out, server, model)), [])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server.on_teach = lambda n: os.kill(process.pid, signal.SIGKILL) if n == 4 else None
        assert process.wait(timeout=300) == -signal.SIGKILL
        server.on_teach = None
        cached = {p.stem for p in (out / "teacher-cache").glob("*.json")}
        journal = curate.journal_entries(out / "work" / "shard-0-of-1")
        assert 1 <= len(cached) <= 4 and len(journal) <= len(cached)
        before = len(server.log)
        curate.run(recipe_for(out, server, model, "curate.concurrency=1"))
        asked_again = [e for e in server.log[before:] if e["kind"] == "teach"]
    assert asked_again and not {e["key"] for e in asked_again} & cached
    assert len(asked_again) == 12 - len(cached)
    for name in ("sft.json", "grpo.json"):
        assert (out / name).read_bytes() == (reference[0] / name).read_bytes()


def test_pass_rate_rank_asks_the_base_model_through_the_eval_engine(reference, tmp_path, model):
    out, server = reference
    recipe = recipe_for(tmp_path / "curate", server, model, f'curate.teacher_cache_dir="{out / "teacher-cache"}"',
                        'curate.rank="pass_rate"', "curate.pass_rate_k=2", "eval.max_new_tokens=6",
                        'model.device="cpu"')
    before = len(server.log)
    with in_repo():
        for stage in ("ingest", "teach", "verify", "rank"):
            curate.run(recipe, stage=stage)
    assert len(server.log) == before  # the shared cache answered the teacher; nothing was rated
    ranked = curate.ranked_records(tmp_path / "curate" / "work" / "shard-0-of-1")
    assert len(ranked) == 12
    # A tiny random model answers nothing right: every sample is as hard as it gets.
    assert {r["difficulty"] for r in ranked} == {1.0}


def test_training_runs_on_the_curated_sets(reference, model, tmp_path, capsys):
    out = reference[0]
    for stage, recipe in (("sft", "sft.toml"), ("grpo", "grpo.toml")):
        result = run_vr2(capsys, stage, REPO / "recipes" / "smoke" / recipe,
                         "-s", f'data.train_file="{out / (stage + ".json")}"', "-s", f'data.video_dir="{VIDEOS}"',
                         "-s", 'data.subtitles_dir=""', "-s", f'model.name_or_path="{model}"',
                         "-s", f'trainer.output_dir="{tmp_path / stage}"', "-s", "trainer.max_steps=1")
        assert result.code == 0, result.err
        assert (tmp_path / stage / "final").is_dir()


def test_bad_command_lines_are_one_line_errors(tmp_path, capsys):
    for args, message in ((["--stage", "cook"], "--stage cook: unknown stage"),
                          (["--shard", "3/2"], "--shard 3/2: needs 0 <= i < N"),
                          (["--shard", "1/2", "--stage", "write"], "run --stage merge"),
                          (["-s", "curate.sources=[]"], "curate.sources: no sources")):
        result = run_vr2(capsys, "curate", RECIPE, "-s", f'curate.output_dir="{tmp_path}"', *args)
        assert result.code == 2 and message in result.err and "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) == 1


class CountingTeacher:
    """A teacher object (the plugin interface) that measures how many calls overlap."""

    name, model, stats = "counting", "none", None

    def __init__(self, answers: dict[str, str]):
        import threading

        self.answers, self.lock, self.now, self.most = answers, threading.Lock(), 0, 0

    def teach(self, request):
        import time

        from teacher_server import trace

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.05)
        with self.lock:
            self.now -= 1
        return trace(self.answers[request.question])

    def rate(self, question, options, answer, reasoning):
        return '{"difficulty": 3}'


def test_teacher_calls_overlap_up_to_the_concurrency_and_no_further(tmp_path):
    with in_repo():
        recipe = load_recipe(RECIPE, [f'curate.output_dir="{tmp_path}"', "curate.concurrency=3"])
        teacher = CountingTeacher(gold_answers(recipe))
        for stage in ("ingest", "teach"):
            curate.run(recipe, stage=stage, teacher=teacher)
    assert teacher.most == 3
    assert len(curate.journal_entries(tmp_path / "work" / "shard-0-of-1")) == 12


def test_datasets_it_did_not_write_are_never_replaced(tmp_path):
    (tmp_path / "sft.json").write_text("[]")
    with pytest.raises(curate.Vr2Error, match="was not written by vr2 curate"):
        curate.check_output(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    curate.check_output(tmp_path)


RECORD = st.builds(lambda source, d, k: {"source": source, "difficulty": d, "key": f"{source}/{k}"},
                   st.sampled_from(["a", "b", "c"]), st.floats(0, 1), st.integers(0, 10**6))


@settings(max_examples=100, deadline=None)
@given(st.lists(RECORD, max_size=60, unique_by=lambda r: r["key"]), st.sampled_from(["hard", "easy", "random"]),
       st.floats(0, 1))
def test_split_is_a_seeded_stratified_partition(records, end, fraction):
    config = load_recipe(None, [f'curate.grpo_end="{end}"', f"curate.sft_fraction={fraction}"]).curate
    sft, grpo = curate.split_records(records, config)
    assert sorted(r["key"] for r in sft + grpo) == sorted(r["key"] for r in records)
    assert len(grpo) == round(len(records) * (1 - fraction))
    assert curate.split_records(list(reversed(records)), config)[1] == [r for r in reversed(records) if r in grpo]
    if end == "hard":
        for source in "abc":
            hard = [r["difficulty"] for r in grpo if r["source"] == source]
            easy = [r["difficulty"] for r in sft if r["source"] == source]
            assert not hard or not easy or min(hard) >= max(easy)


def test_the_paper_recipe_names_the_five_sources_and_the_paper_counts():
    from vr2.curate.sources import SourceSpec

    recipe = load_recipe(REPO / "recipes" / "curate.toml")
    kinds = {SourceSpec.parse(s).kind for s in recipe.curate.sources}
    assert kinds == {"llava_video", "nextqa", "activitynet_qa", "perception_test", "clevrer"}
    assert (recipe.curate.max_samples, recipe.curate.rank) == (15271, "judge")
    assert round(15271 * (1 - recipe.curate.sft_fraction)) == 4804  # the paper's GRPO count (10,467 SFT)
    assert RECIPE.read_text().splitlines()[0] == "# vr2 curate recipes/smoke/curate.toml"


def test_cap_keeps_the_hardest_and_unranked_data_splits_by_source():
    config = load_recipe(None, ["curate.max_samples=2"]).curate
    records = [{"key": f"k{i}", "source": "a" if i % 2 else "b", "difficulty": d}
               for i, d in enumerate([0.1, 0.9, 0.5, 0.7])]
    kept, dropped = curate.cap_records(records, config)
    assert [r["key"] for r in kept] == ["k1", "k3"] and dropped == 2
    unranked = [{**r, "difficulty": None} for r in records]
    sft, grpo = curate.split_records(unranked, load_recipe(None, ["curate.sft_fraction=0.5"]).curate)
    assert sorted(r["source"] for r in grpo) == ["a", "b"]


def test_a_worker_that_dies_is_a_one_line_error():
    # os._exit in the worker stands in for the OOM killer or a crashing decoder.
    with pytest.raises(curate.Vr2Error, match="curate: a worker process died .* run the same command again"):
        curate._pool_map(os._exit, [3, 3, 3, 3], workers=2, progress=lambda done: None)


# --------------------------------------------------------------------------- issue 23: faults, shards, many teachers


def test_unreadable_replies_are_never_cached_and_are_asked_again(tmp_path, model):
    out = tmp_path / "curate"
    rated, garbled = "How many times does the colour change?", "is the background ever green?"
    with in_repo(), serve({garbled: GARBAGE}, load_recipe(RECIPE), rate_script={rated: RATE_GARBAGE}) as server:
        curate.run(recipe_for(out, server, model))
        assert read(out, "manifest.json")["complete"] is False
        server.script.clear()
        server.rate_script.clear()
        before = len(server.log)
        curate.run(recipe_for(out, server, model))
        again = sorted((e["kind"], e["question"]) for e in server.log[before:])
    assert again == sorted([("rate", garbled), ("rate", rated), ("teach", garbled)])
    assert read(out, "manifest.json")["complete"] is True


def test_videos_are_found_by_stem_in_any_container_pyav_reads(tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(VIDEOS, videos)
    for path, suffix in ((videos / "activitynet_qa" / "v_abcDEF12345.mp4", ".mkv"),
                         (videos / "clevrer" / "video_10000-11000" / "video_10000.mp4", ".webm")):
        path.rename(path.with_suffix(suffix))  # PyAV reads by content; the name is what is looked up
    recipe = load_recipe(RECIPE, [f'curate.output_dir="{tmp_path / "out"}"', f'curate.video_dir="{videos}"'])
    with in_repo():
        moved = curate.run(recipe, stage="ingest", teacher=object()).counts["ingest"]
        recipe = load_recipe(RECIPE, [f'curate.output_dir="{tmp_path / "out2"}"'])
        assert moved == curate.run(recipe, stage="ingest", teacher=object()).counts["ingest"]


def shard_run(capsys, out: Path, server, model: Path, part: str, *extra: str):
    args = sum((["-s", s] for s in sets(out, server, model, *extra)), [])
    with in_repo():
        return run_vr2(capsys, "curate", RECIPE, *(["--shard", part] if part != "merge" else ["--stage", "merge"]), *args)


@pytest.fixture
def two_shards(reference, tmp_path, model, capsys):
    """Shards 0/2 and 1/2 of the reference run, answered from its teacher cache."""
    ref, server = reference
    out = tmp_path / "curate"
    cache = f'curate.teacher_cache_dir="{ref / "teacher-cache"}"'
    for part in ("0/2", "1/2"):
        assert shard_run(capsys, out, server, model, part, cache).code == 0
    return out, server, cache


def test_merge_refuses_shards_made_with_other_settings(two_shards, model, capsys):
    out, server, cache = two_shards
    assert shard_run(capsys, out, server, model, "1/2", cache, "curate.min_tar=0.3").code == 0
    result = shard_run(capsys, out, server, model, "merge", cache)
    assert result.code == 2 and "Traceback" not in result.err
    assert "shard 1/2" in result.err and "min_tar" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_merge_refuses_a_shard_folder_copied_over_another(two_shards, model, capsys):
    out, server, cache = two_shards
    work = out / "work"
    shutil.rmtree(work / "shard-1-of-2")
    shutil.copytree(work / "shard-0-of-2", work / "shard-1-of-2")
    result = shard_run(capsys, out, server, model, "merge", cache)
    assert result.code == 2 and "Traceback" not in result.err and "shard 1/2" in result.err
    assert not (out / "sft.json").exists()


def test_a_tampered_state_file_is_a_one_line_error(two_shards, model, capsys):
    out, server, cache = two_shards
    for path in (out / "work" / "shard-1-of-2").iterdir():
        if path.is_file():
            path.write_text('{"fingerprint": "x", "complete": true, "records": [{"key": 7}], "stats": {}}\n')
    result = shard_run(capsys, out, server, model, "merge", cache)
    assert result.code == 2 and "Traceback" not in result.err
    assert "shard-1-of-2" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_second_curate_on_the_same_folder_says_who_holds_it(tmp_path, model, capsys):
    out = tmp_path / "curate"
    with in_repo(), serve({}, load_recipe(RECIPE), delay=0.5) as server:
        command = [sys.executable, "-m", "vr2", "curate", str(RECIPE), "-s", "curate.concurrency=1",
                   *sum((["-s", s] for s in sets(out, server, model)), [])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
        first = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            started = threading.Event()
            server.on_teach = lambda n: started.set()
            assert started.wait(120)
            before = len(server.log)
            result = run_vr2(capsys, "curate", RECIPE, *sum((["-s", s] for s in sets(out, server, model)), []))
            second_calls = [e for e in server.log[before:] if e["kind"] == "teach"]
        finally:
            first.kill()
            first.wait()
    assert result.code == 2 and f"pid {first.pid}" in result.err and "Traceback" not in result.err
    assert len(second_calls) <= 1  # at most the first run's call in flight; the second asked nothing


def test_many_teachers_fewest_in_flight_failing_ones_rested_and_recorded(tmp_path, model):
    out = tmp_path / "curate"
    recipe = load_recipe(RECIPE)
    with in_repo(), serve({}, recipe, delay=0.05) as fast, serve({}, recipe, delay=0.2) as slow, \
            serve({}, recipe) as broken:
        broken.down = True
        urls = f'curate.teacher_url=["{fast.url}", "{slow.url}", "{broken.url}"]'
        result = curate.run(load_recipe(RECIPE, [*sets(out, fast, model), urls, "curate.concurrency=4"]))
        served = {name: sum(1 for e in s.log if e["status"] == 200) for name, s in
                  (("fast", fast), ("slow", slow), ("broken", broken))}
    manifest = read(out, "manifest.json")
    assert manifest["complete"] is True and result.teacher_failures == 0
    assert served["fast"] > served["slow"] > 0 and served["broken"] == 0
    endpoints = manifest["teacher"]["endpoints"]
    assert endpoints[fast.url]["answered"] == served["fast"] and broken.url not in endpoints
    calls = manifest["teacher"]["calls"]  # which endpoint answered each call
    assert len(calls) == served["fast"] + served["slow"] and set(calls.values()) == {fast.url, slow.url}
    assert result.endpoints[broken.url]["failed"] >= 1 and "answered" not in result.endpoints[broken.url]


def test_choice_answers_are_written_as_the_released_rows_write_them():
    from vr2.curate.output import release_row

    record = {"key": "s/1", "video": "v.mp4", "question": "Which colour?", "options": ["red", "B. green"],
              "answer": "B", "answer_type": "multiple_choice", "source": "s", "source_id": "1",
              "completion": "<think>At 00:01 it turns green.</think><answer>B</answer>", "temporal_grounding": {}}
    row = release_row(record, grpo=False)
    assert row["conversations"][1]["value"].endswith("<answer>B. green</answer>")
    assert release_row(record, False, "letter")["conversations"][1]["value"].endswith("<answer>B</answer>")
    free = {**record, "answer_type": "free_form", "options": [], "completion": "<think>x</think><answer>green</answer>"}
    assert release_row(free, False)["conversations"][1]["value"] == free["completion"]


def test_report_keeps_labels_whole_and_shows_examples_in_chromium(scripted, tmp_path):
    from html_helpers import CHROMIUM, chromium, parse

    out = scripted[0]
    page = (out / "report.html").read_text()
    tags = parse(page).tags
    assert "<script" not in page and page.count('class="example kept"') >= 5 and 'class="example rejected"' in page
    assert '<mark class="t" title="1 s">00:01</mark>' in page
    assert sum(1 for tag, attrs in tags if tag == "img" and attrs["src"].startswith("data:image/jpeg")) >= 10
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    # Measured by the browser: every chart label starts inside its chart (a test-only script).
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", "<script>const bad = [...document.querySelectorAll('svg text')]"
                                  ".filter(t => t.getBBox().x < 0).map(t => t.textContent);"
                                  "document.body.setAttribute('data-cut', JSON.stringify(bad));</script></body>"))
    dom = chromium(tmp_path / "profile", "--dump-dom", probe.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-cut="[]"' in dom.stdout and "verify: grounding time after the video ends" in dom.stdout


def test_credentials_in_teacher_urls_are_never_written(reference, tmp_path, model, capsys):
    ref, server = reference
    out = tmp_path / "curate"
    secret_url = server.url.replace("http://", "http://ann:s3cret-pw@")
    args = sum((["-s", s] for s in sets(out, server, model, f'curate.teacher_cache_dir="{ref / "teacher-cache"}"',
                                        f'curate.teacher_url=["{secret_url}"]')), [])
    with in_repo():
        result = run_vr2(capsys, "curate", RECIPE, *args)
    assert result.code == 0, result.err
    for name in ("manifest.json", "report.html", "sft.json"):
        assert "s3cret-pw" not in (out / name).read_text() and "ann:" not in (out / name).read_text()
    assert "s3cret-pw" not in result.err + result.out
    assert read(out, "manifest.json")["teacher"]["url"] == server.url.replace("http://", "http://[redacted]@")


def test_the_cli_prints_what_each_teacher_endpoint_answered_and_failed(capsys, monkeypatch):
    """Per-endpoint failures belong to the run, not to the manifest: the command prints them."""
    endpoints = {"http://[redacted]@one/v1": {"answered": 3, "failed": 1}, "http://two/v1": {"answered": 2}}
    monkeypatch.setattr(curate, "run", lambda *args, **kwargs: curate.RunResult(["teach"], {"teach": 5},
                                                                                 endpoints=endpoints))
    with in_repo():
        result = run_vr2(capsys, "curate", RECIPE, "--stage", "teach")
    assert result.code == 0, result.err
    assert "teacher endpoint http://[redacted]@one/v1: 3 answered, 1 failed" in result.err
    assert "teacher endpoint http://two/v1: 2 answered, 0 failed" in result.err
