"""Hostile and careless input for `vr2 score` batches and the file readers: nothing the user had
is lost, a bad line costs only itself, and every failure is one line naming the file."""

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import run_vr2

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _lines():
    return (EXAMPLES / "traces.jsonl").read_text().splitlines()


def _batch(tmp_path, lines, name="traces.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def _with(line: str, **changes) -> str:
    return json.dumps({**json.loads(line), **changes})


# ---------------------------------------------------------------- data loss


@pytest.mark.parametrize("flags", [("--force",), ("--resume",), ()])
def test_hard_link_to_the_input_is_refused_and_the_input_kept(tmp_path, capsys, flags):
    batch = _batch(tmp_path, _lines())
    before = batch.read_bytes()
    out = tmp_path / "out.jsonl"
    os.link(batch, out)
    r = run_vr2(capsys, "score", batch, "--out", out, *flags)
    assert r.code == 2 and "is the input file itself" in r.err and "Traceback" not in r.err
    assert batch.read_bytes() == before


def test_symlink_to_the_input_is_refused(tmp_path, capsys):
    batch = _batch(tmp_path, _lines())
    before = batch.read_bytes()
    (tmp_path / "out.jsonl").symlink_to(batch)
    r = run_vr2(capsys, "score", batch, "--out", tmp_path / "out.jsonl", "--force")
    assert r.code == 2 and "input file itself" in r.err and batch.read_bytes() == before


def test_force_replaces_the_results_file_without_truncating_its_other_links(tmp_path, capsys):
    batch = _batch(tmp_path, _lines())
    out = tmp_path / "out.jsonl"
    out.write_text("precious\n")
    os.link(out, tmp_path / "backup.jsonl")  # another name for the old results
    assert run_vr2(capsys, "score", batch, "--out", out, "--force").code == 0
    assert (tmp_path / "backup.jsonl").read_text() == "precious\n"
    assert len(out.read_text().splitlines()) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() would make it


@pytest.mark.parametrize("gold, kind, reason", [
    ("Z", "multiple_choice", "gold answer 'Z'"),
    ("many", "numeric", "is not a number"),
    (float("nan"), None, "finite"),
    ("NaN", "regression", "is not a number"),
])
def test_one_bad_gold_answer_skips_its_line_only_and_resume_goes_past_it(
        tmp_path, capsys, gold, kind, reason):
    lines = _lines()
    changes = {"answer": gold} if kind is None else {"answer": gold, "answer_type": kind}
    bad = json.dumps({**json.loads(lines[1]), **changes})  # json writes a float NaN as NaN
    batch = _batch(tmp_path, [lines[0], bad, *lines[2:]])
    r = run_vr2(capsys, "score", batch, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["scored"] == 3 and json.loads(r.out)["skipped"] == 1
    assert "traces.jsonl:2: skipped:" in r.err and reason in r.err
    out = tmp_path / "traces.scores.jsonl"
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 3, 4]
    # a crash after line 1: --resume continues past the bad line instead of stopping at it
    out.write_text(out.read_text().splitlines(keepends=True)[0])
    r = run_vr2(capsys, "score", batch, "--resume", "--json")
    assert r.code == 0 and [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 3, 4]


def test_invalid_utf8_and_deep_json_lines_are_skipped_with_their_numbers(tmp_path, capsys):
    lines = _lines()
    deep = b"[" * 100_000 + b"]" * 100_000
    deep_object = b'{"a": ' * 100_000 + b"1" + b"}" * 100_000
    batch = _batch(tmp_path, [lines[0], b'{"completion": "\xff\xfe<think>"}', deep, deep_object, lines[1]])
    r = run_vr2(capsys, "score", batch, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["scored"] == 2
    assert "traces.jsonl:2: skipped: not UTF-8 text" in r.err
    assert "traces.jsonl:3: skipped: JSON nested too deeply" in r.err
    assert "traces.jsonl:4: skipped: JSON nested too deeply" in r.err


def test_a_chunk_that_fails_to_score_is_scored_line_by_line(tmp_path, monkeypatch):
    """A line that passes the checks but fails in scoring costs only itself."""
    from vr2.scoring import batch as scoring
    from vr2.errors import Vr2Error
    from vr2.scoring.rewards import format_reward

    real = scoring.score_inputs

    def fussy(items, rewards, weights):
        if any(i.id == "inconsistent" for i in items):
            raise Vr2Error("answer: cannot score this one")
        return real(items, rewards, weights)

    monkeypatch.setattr(scoring, "score_inputs", fussy)
    batch = _batch(tmp_path, _lines())
    report = scoring.score_jsonl(batch, tmp_path / "out.jsonl", {"format": format_reward}, {"format": 1})
    assert [r["line"] for r in report.results] == [1, 3, 4]
    assert report.bad_lines == [(2, "answer: cannot score this one")]


@pytest.mark.parametrize("name, fragment", [("dir.jsonl", "is a directory"), ("missing.jsonl", "not found")])
def test_bad_batch_input_is_one_line(tmp_path, capsys, name, fragment):
    (tmp_path / "dir.jsonl").mkdir()
    target = tmp_path / name
    r = run_vr2(capsys, "score", target)
    assert r.code == 2 and fragment in r.err and str(target) in r.err and "Traceback" not in r.err


def test_missing_and_unwritable_out_folder_is_one_line(tmp_path, capsys, monkeypatch):
    batch = _batch(tmp_path, _lines())
    r = run_vr2(capsys, "score", batch, "--out", tmp_path / "nope" / "out.jsonl")
    assert r.code == 2 and "does not exist" in r.err and "nope" in r.err
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: simulate the refusal
        def refuse(*args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

        monkeypatch.setattr("vr2.scoring.batch.tempfile.mkstemp", refuse)
    r = run_vr2(capsys, "score", batch, "--out", locked / "out.jsonl")
    locked.chmod(0o700)
    assert r.code == 2 and "cannot write results (Permission denied)" in r.err and "locked" in r.err


def test_disk_full_keeps_the_results_so_far_and_resume_finishes(tmp_path, capsys, monkeypatch):
    from vr2.scoring import batch as scoring

    real_open = scoring._open_results

    class Full:
        """A results file on a disk that fills up after two lines."""

        def __init__(self, handle):
            self.handle, self.lines = handle, 0

        def write(self, text):
            if self.lines == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.lines += 1
            return self.handle.write(text)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(scoring, "_open_results", lambda *a, **k: Full(real_open(*a, **k)))
    batch = _batch(tmp_path, _lines())
    from vr2.cli import display

    monkeypatch.setattr(display, "score_jsonl", _with_chunk(scoring.score_jsonl, 1))
    r = run_vr2(capsys, "score", batch)
    assert r.code == 2 and "No space left on device" in r.err and "traces.scores.jsonl" in r.err
    assert "2 results written so far are kept" in r.err and "Traceback" not in r.err
    out = tmp_path / "traces.scores.jsonl"
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 2]
    monkeypatch.setattr(scoring, "_open_results", real_open)
    assert run_vr2(capsys, "score", batch, "--resume").code == 0
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 2, 3, 4]


def _with_chunk(fn, chunk):
    return lambda *a, **k: fn(*a, **{**k, "chunk": chunk})


# ---------------------------------------------------------------- unbounded reads


def test_devices_fifos_and_huge_files_are_refused(tmp_path, monkeypatch):
    from vr2 import files
    from vr2.errors import Vr2Error

    with pytest.raises(Vr2Error, match="not a regular file"):
        files.read_text("/dev/zero", "trace file")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(Vr2Error, match="not a regular file"):  # must not block on open
        files.read_text(fifo)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(Vr2Error, match="larger than"):
        files.read_bytes(big, "trace file", max_bytes=1024)
    assert files.read_bytes(big, max_bytes=2048) == b"x" * 2048


def test_dev_zero_as_trace_or_extends_is_one_line(tmp_path, capsys):
    r = run_vr2(capsys, "score", "/dev/zero", "--ref", EXAMPLES / "ref.json")
    assert r.code == 2 and "/dev/zero: not a regular file" in r.err
    recipe = tmp_path / "r.toml"
    recipe.write_text('extends = "/dev/zero"\n')
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "--recipe", recipe)
    assert r.code == 2 and "/dev/zero: not a regular file" in r.err


def test_deep_json_trace_file_is_one_line(tmp_path, capsys):
    trace = tmp_path / "t.json"
    trace.write_text("[" * 100_000 + "]" * 100_000)
    r = run_vr2(capsys, "score", trace, "--ref", EXAMPLES / "ref.json")
    assert r.code == 2 and "nested too deeply" in r.err and "t.json" in r.err


# ---------------------------------------------------------------- valid JSON out


def test_json_output_never_holds_nan():
    from vr2.scoring.batch import to_json

    text = to_json({"a": float("nan"), "b": [float("inf"), 1.0], "c": {"d": -float("inf")}})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": {"d": None}}
    assert "NaN" not in text and "Infinity" not in text


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("args, fragment", [
    (("--tau", "nan"), "--tau: must be a finite number, got nan"),
    (("--w-tar", "nan"), "--w-tar: must be a finite number, got nan"),
    (("--buffer-seconds", "inf"), "--buffer-seconds: must be a finite number, got inf"),
    (("-s", "judge.timeout=nan"), "override 'judge.timeout=nan': judge.timeout must be a finite number"),
    (("-s", "grpo.beta=nan"), "grpo.beta must be a finite number"),
])
def test_non_finite_flags_and_overrides_are_one_line(capsys, args, fragment):
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "--json", *args)
    assert r.code == 2 and fragment in r.err and "Traceback" not in r.err and r.out == ""


@pytest.mark.parametrize("command", [
    ("grpo", "-s", "grpo.beta=nan"),
    ("sft", "-s", "trainer.learning_rate=inf"),
    ("eval", "--temperature", "nan"),
    ("explain", "clip.mp4", "q", "--fps", "nan"),
])
def test_training_and_eval_refuse_non_finite_before_any_work(tmp_path, capsys, command):
    recipe = tmp_path / "r.toml"
    recipe.write_text("")
    extra = (str(recipe),) if command[0] in ("grpo", "sft") else ()
    r = run_vr2(capsys, command[0], *extra, *command[1:])
    assert r.code == 2 and "must be a finite number" in r.err and "Traceback" not in r.err


def test_judge_config_refuses_non_finite():
    from vr2.errors import Vr2Error
    from vr2.config import JudgeConfig

    for name in ("timeout", "backoff", "temperature"):
        with pytest.raises(Vr2Error, match=f"judge.{name} must be a finite number"):
            JudgeConfig(url="http://x/v1", model="m", **{name: float("nan")})


# ---------------------------------------------------------------- memory


def test_a_trace_with_too_many_claims_reports_the_overflow(tmp_path, capsys):
    from vr2.scoring.tar import MAX_CLAIMS_PER_TRACE as cap

    think = " ".join(f"At {k // 60:02d}:{k % 60:02d} he pours oil." for k in range(cap + 88))
    trace = tmp_path / "t.json"
    trace.write_text(json.dumps({"completion": f"<think>{think} So B.</think><answer>B</answer>"}))
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"00:05": "He pours cooking oil into the pan."}))
    r = run_vr2(capsys, "score", trace, "--ref", ref, "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["claims_over_cap"] == {"pred": 88, "ref": 0}
    assert result["tar_precision"] == pytest.approx(1 / (cap + 88))


def test_an_over_long_batch_line_is_skipped_in_bounded_memory(tmp_path, monkeypatch):
    from vr2.scoring import batch as scoring

    monkeypatch.setattr(scoring, "MAX_FILE_BYTES", 1000)
    exact = json.dumps({"completion": "x" * (1000 - 20)})
    exact = exact[:-2] + " " * (1000 - len(exact)) + exact[-2:]  # exactly at the cap: kept
    assert len(exact) == 1000
    batch = _batch(tmp_path, ['{"completion": "' + "x" * 5000 + '"}', exact, "[1]"])
    got = list(scoring.read_jsonl(batch))
    assert got[0] == (1, "line longer than 0 MiB") and got[1][0] == 2 and isinstance(got[1][1], dict)
    assert got[2] == (3, "expected a JSON object")


# ---------------------------------------------------------------- round 3: one bad row, not the run

DEEP_STRING = "[" * 100_000 + "]" * 100_000  # a grounding given as deeply nested JSON text
HUGE_INT = "1" * 5000  # CPython refuses to convert an integer of over 4,300 digits


def test_deep_or_huge_groundings_and_numbers_skip_their_line_only(tmp_path, capsys):
    lines = _lines()
    deep_grounding = _with(lines[0], temporal_grounding=DEEP_STRING)
    huge_in_grounding = _with(lines[0], temporal_grounding='{"00:05": ' + HUGE_INT + "}")
    huge_answer = lines[1][:-1] + ', "n": ' + HUGE_INT + "}"
    batch = _batch(tmp_path, [lines[0], deep_grounding, huge_in_grounding, huge_answer, *lines[1:]])
    r = run_vr2(capsys, "score", batch, "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["scored"] == 4 and json.loads(r.out)["skipped"] == 3
    assert "traces.jsonl:2: skipped: temporal_grounding: JSON nested too deeply" in r.err
    assert "traces.jsonl:3: skipped: temporal_grounding: JSON holds a number with too many digits" in r.err
    assert "traces.jsonl:4: skipped: JSON holds a number with too many digits" in r.err
    out = tmp_path / "traces.scores.jsonl"
    assert [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 5, 6, 7]
    out.write_text(out.read_text().splitlines(keepends=True)[0])  # a crash after line 1
    r = run_vr2(capsys, "score", batch, "--resume", "--json")
    assert r.code == 0 and [json.loads(x)["line"] for x in out.read_text().splitlines()] == [1, 5, 6, 7]


@pytest.mark.parametrize("ref_text, fragment", [
    (json.dumps({"temporal_grounding": DEEP_STRING}), "ref.json: temporal_grounding: JSON nested too deeply"),
    ('{"00:05": "x", "n": ' + HUGE_INT + "}", "ref.json: JSON holds a number with too many digits"),
    (json.dumps({"temporal_grounding": '{"00:05": ' + HUGE_INT + "}"}),
     "ref.json: temporal_grounding: JSON holds a number with too many digits"),
])
def test_deep_or_huge_reference_file_is_one_line(tmp_path, capsys, ref_text, fragment):
    ref = tmp_path / "ref.json"
    ref.write_text(ref_text)
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", ref)
    assert r.code == 2 and fragment in r.err and "Traceback" not in r.err


def test_huge_integer_in_a_trace_file_is_one_line(tmp_path, capsys):
    trace = tmp_path / "t.json"
    trace.write_text('{"completion": "x", "id": ' + HUGE_INT + "}")
    r = run_vr2(capsys, "score", trace, "--ref", EXAMPLES / "ref.json")
    assert r.code == 2 and "t.json: JSON holds a number with too many digits" in r.err


def _training_rows(videos: Path) -> list[str]:
    (videos / "a.mp4").write_bytes(b"")
    good = {"video": "a.mp4", "question": "What colour?", "options": ["red", "blue"], "answer": "B"}
    return [
        json.dumps(good),
        '{"video": "a.mp4", "question": ' + '{"q": ' * 100_000 + "1" + "}" * 100_000 + "}",
        '{"video": "a.mp4", "question": "Q?", "answer": ' + HUGE_INT + "}",
        json.dumps({**good, "temporal_grounding": DEEP_STRING}),
        json.dumps({**good, "temporal_grounding": '{"00:05": ' + HUGE_INT + "}"}),
        json.dumps({**good, "video": "v" * 300 + ".mp4"}),
        json.dumps({**good, "video": "d/" * 3000 + "a.mp4"}),
        json.dumps(good),
    ]


def test_deep_huge_and_overlong_training_rows_skip_their_row_only(tmp_path):
    from vr2.data.datasets import load_dataset_file

    videos = tmp_path / "videos"
    videos.mkdir()
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(_training_rows(videos)) + "\n")
    (tmp_path / "subs").mkdir()
    result = load_dataset_file(data, videos, subtitles_dir=tmp_path / "subs")
    assert len(result.samples) == 2
    reasons = dict(result.skipped)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7]
    assert "nested too deeply" in reasons[2] and "too many digits" in reasons[3]
    assert "temporal_grounding" in reasons[4] and "nested too deeply" in reasons[4]
    assert "temporal_grounding" in reasons[5] and "too many digits" in reasons[5]
    assert "File name too long" in reasons[6] and "File name too long" in reasons[7]


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('[{"video": "a.mp4", "answer": ' + HUGE_INT + "}]", "too many digits"),
    ('[{"video": "a.mp4", "x": ' + "[" * 70 + "]" * 70 + "}]", "nested too deeply"),
])
def test_deep_or_huge_training_file_is_one_line(tmp_path, capsys, text, fragment):
    from vr2.data.datasets import load_dataset_file
    from vr2.errors import Vr2Error

    (tmp_path / "videos").mkdir()
    data = tmp_path / "train.json"
    data.write_text(text)
    with pytest.raises(Vr2Error, match=fragment) as caught:
        load_dataset_file(data, tmp_path / "videos")
    assert str(data) in str(caught.value)
    recipe = tmp_path / "r.toml"  # the dry run counts the rows: the same one line
    recipe.write_text(f'extends = "{RECIPES / "tar_gated.toml"}"\n[data]\ntrain_file = "{data}"\n')
    r = run_vr2(capsys, "grpo", recipe, "--dry-run")
    assert r.code == 2 and fragment in r.err and "Traceback" not in r.err


def test_jsonl_training_data_is_streamed_not_read_whole(tmp_path):
    import tracemalloc

    from vr2.data.datasets import read_rows

    data = tmp_path / "big.jsonl"
    row = json.dumps({"video": "a.mp4", "question": "q" * 1000, "answer": "A"}) + "\n"
    data.write_text(row * 20_000)  # ~20 MB
    tracemalloc.start()
    count = sum(1 for _ in read_rows(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 20_000 and peak < 2_000_000


def test_grpo_dry_run_works_under_a_3_gb_address_space_limit(smoke_dir):
    """`read(4 GiB + 1)` on a 1.5 KB file failed under `ulimit -v 3000000`."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (3_000_000 * 1024, 3_000_000 * 1024))

    recipe = RECIPES / "smoke" / "tar_gated.toml"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    result = subprocess.run([sys.executable, "-m", "vr2", "grpo", str(recipe), "--dry-run"],
                            cwd=smoke_dir.parent.parent, env=env, preexec_fn=limit,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "training rows: 4" in result.stdout


def test_a_json_array_after_a_byte_order_mark_and_blank_lines_is_an_array(tmp_path):
    from vr2.data.datasets import read_rows

    data = tmp_path / "train.json"
    data.write_bytes(b"\xef\xbb\xbf \n" + json.dumps([{"video": "a.mp4", "q": "x" * 200}] * 3).encode())
    assert [n for n, _ in read_rows(data)] == [1, 2, 3]


# ---------------------------------------------------------------- round 3: full disks, unwritable folders


def _smoke_overrides(smoke_dir: Path, out: Path) -> list[str]:
    return ["-s", f'model.name_or_path="{smoke_dir / "model"}"', "-s", f'data.train_file="{smoke_dir / "grpo.json"}"',
            "-s", f'data.video_dir="{smoke_dir / "videos"}"', "-s", f'data.subtitles_dir="{smoke_dir / "subtitles"}"',
            "-s", f'trainer.output_dir="{out}"', "-s", "trainer.max_steps=2", "-s", "trainer.save_steps=1"]


@pytest.mark.parametrize("command", ["grpo", "sft"])
def test_an_unwritable_output_folder_is_one_line_before_any_work(tmp_path, capsys, monkeypatch, command):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    if os.access(locked, os.W_OK):  # root ignores permissions: simulate the refusal
        real_mkdir = os.mkdir

        def refuse(path, *args, **kwargs):
            if str(path).startswith(str(locked)):
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", refuse)
    recipe = RECIPES / "smoke" / ("tar_gated.toml" if command == "grpo" else "sft.toml")
    r = run_vr2(capsys, command, recipe, "-s", f'trainer.output_dir="{locked / "run"}"')
    locked.chmod(0o700)
    assert r.code == 2 and "Traceback" not in r.err, r.err[-2000:]
    assert "cannot create the output folder" in r.err and "Permission denied" in r.err and "locked" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_an_output_path_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("precious")
    r = run_vr2(capsys, "grpo", RECIPES / "smoke" / "tar_gated.toml",
                "-s", f'trainer.output_dir="{tmp_path / "file" / "run"}"')
    assert r.code == 2 and "cannot create the output folder" in r.err and "Traceback" not in r.err
    assert (tmp_path / "file").read_text() == "precious"


def test_a_disk_that_fills_mid_run_is_one_line_keeps_the_checkpoints_and_resume_finishes(
        smoke_dir, tmp_path, capsys, monkeypatch):
    """torch.save's own words for a short write name no errno; the run still ends in one line."""
    import torch

    real_save = torch.save

    def full_at_checkpoint_2(obj, f, *args, **kwargs):
        if "checkpoint-2" in str(f):
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_checkpoint_2)
    out = tmp_path / "run"
    args = ["grpo", RECIPES / "smoke" / "grpo.toml", *_smoke_overrides(smoke_dir, out)]
    r = run_vr2(capsys, *args)
    assert r.code == 2 and "Traceback" not in r.err, r.err[-3000:]
    last = r.err.strip().splitlines()[-1]
    assert f"{out}: cannot write the run's output" in last and "newest complete checkpoint-1" in last
    assert "--resume" in last
    assert (out / "checkpoint-1" / "vr2_checkpoint.json").is_file()
    monkeypatch.setattr(torch, "save", real_save)
    r = run_vr2(capsys, *args, "--resume")
    assert r.code == 0, r.err[-3000:]
    steps = [json.loads(x)["step"] for x in (out / "steps.jsonl").read_text().splitlines()]
    assert steps == [1, 2] and (out / "final" / "model.safetensors").is_file()


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "No space left on device"),
    (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT)), "Disk quota exceeded"),
    (RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)"),
     "No space left on device"),
    (RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                  "data/0: file write failed"), "written only in part"),
])
def test_write_failures_while_training_are_one_line(tmp_path, error, reason):
    from vr2.errors import Vr2Error
    from vr2.train.checkpoints import saving_to

    with pytest.raises(Vr2Error, match=reason) as caught:
        with saving_to(tmp_path):
            raise error
    assert str(tmp_path) in str(caught.value) and "nothing was saved yet" in str(caught.value)


@pytest.mark.parametrize("error", [
    RuntimeError("CUDA out of memory"), ValueError("bad shape"),
    PermissionError(errno.EACCES, "Permission denied", "/somewhere/else/video.mp4"),
])
def test_other_failures_while_training_keep_their_traceback(tmp_path, error):
    from vr2.train.checkpoints import saving_to

    with pytest.raises(type(error)):
        with saving_to(tmp_path):
            raise error


def test_training_logs_refuse_a_symlink_and_report_a_full_disk(tmp_path, monkeypatch):
    from vr2.errors import Vr2Error
    from vr2.train import checkpoints

    (tmp_path / "elsewhere.txt").write_text("precious\n")
    (tmp_path / checkpoints.SKIPPED_LOG).symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(Vr2Error, match="symbolic link"):
        checkpoints.record_skipped(tmp_path, 1, [{"id": "x"}])
    assert (tmp_path / "elsewhere.txt").read_text() == "precious\n"
    (tmp_path / checkpoints.METRICS_LOG).write_text('{"step": 1}\n{"step": 2}\n')

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoints.os, "fsync", full)  # write_atomic flushes, then syncs
    with pytest.raises(Vr2Error, match="No space left on device"):
        checkpoints.trim_logs(tmp_path, 1)
    assert (tmp_path / checkpoints.METRICS_LOG).read_text() == '{"step": 1}\n{"step": 2}\n'
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"zero_optimization": {"stage": ' + HUGE_INT + "}}", "too many digits"),
])
def test_a_deep_or_huge_deepspeed_config_is_one_line(tmp_path, capsys, text, fragment):
    config = tmp_path / "ds.json"
    config.write_text(text)
    r = run_vr2(capsys, "grpo", RECIPES / "tar_gated.toml", "--dry-run", "-s", f'trainer.deepspeed="{config}"')
    assert r.code == 2 and fragment in r.err and "ds.json" in r.err and "Traceback" not in r.err


def test_a_fifo_as_deepspeed_config_does_not_hang(tmp_path, capsys):
    fifo = tmp_path / "ds.json"
    os.mkfifo(fifo)
    r = run_vr2(capsys, "grpo", RECIPES / "tar_gated.toml", "--dry-run", "-s", f'trainer.deepspeed="{fifo}"')
    assert r.code == 2 and "not a regular file" in r.err


# ---------------------------------------------------------------- round 3: the ONNX cache


def _planted_model() -> bytes:
    """An ONNX model with the embedder's inputs whose every sentence vector is the same unit
    vector: every claim then 'matches' every reference sentence."""
    from onnx import TensorProto, helper

    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "tokens"])
              for name in ("input_ids", "attention_mask", "token_type_ids")]
    output = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", 384])
    nodes = [
        helper.make_node("Shape", ["input_ids"], ["shape"]),
        helper.make_node("Slice", ["shape", "zero", "one"], ["batch"]),
        helper.make_node("Concat", ["batch", "width"], ["out_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["out_shape"], ["sentence_embedding"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [384 ** -0.5])),
    ]
    consts = [helper.make_tensor("zero", TensorProto.INT64, [1], [0]),
              helper.make_tensor("one", TensorProto.INT64, [1], [1]),
              helper.make_tensor("width", TensorProto.INT64, [1], [384])]
    graph = helper.make_graph(nodes, "planted", inputs, [output], initializer=consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_a_model_planted_at_the_cache_name_is_not_trusted(tmp_path, capsys, monkeypatch):
    from vr2.scoring import onnx_embedding
    from vr2.scoring.embedding import minilm_path

    monkeypatch.setenv("VR2_CACHE_DIR", str(tmp_path / "cache"))
    trace, ref = tmp_path / "t.json", tmp_path / "ref.json"
    trace.write_text(json.dumps({"completion": "<think>At 00:05 a dog barks loudly at the mailman. So the answer is A.</think>"
                                               "<answer>A</answer>"}))
    ref.write_text(json.dumps({"temporal_grounding": {"00:05": "She slices a loaf of bread in the kitchen."},
                               "answer": "A", "options": ["a dog", "a cat"]}))
    path = onnx_embedding.exported_path(minilm_path())
    path.parent.mkdir(parents=True)
    path.write_bytes(_planted_model())  # at the predictable name, with nothing recorded beside it
    r = run_vr2(capsys, "score", trace, "--ref", ref, "--json")
    assert r.code == 0, r.err
    result = json.loads(r.out)
    assert result["tar"] == 0.0 and result["tar_f1"] == 0.0  # the planted model says 1.0
    assert "exporting" in r.err and path.stat().st_size > 1_000_000


def _installed(tmp_path, monkeypatch, data=b"exported model bytes"):
    from vr2.scoring import onnx_embedding

    monkeypatch.setenv("VR2_CACHE_DIR", str(tmp_path / "cache"))
    out = onnx_embedding.cache_dir() / "onnx" / "model-0123.onnx"
    onnx_embedding.prepare_cache_folder(out.parent)
    tmp = out.parent / "x.onnx.tmp"
    tmp.write_bytes(data)
    onnx_embedding.install_export(tmp, out)
    return onnx_embedding, out


def test_the_cache_file_is_checked_against_the_hash_recorded_at_export(tmp_path, monkeypatch):
    onnx_embedding, out = _installed(tmp_path, monkeypatch)
    assert onnx_embedding.verified_model(out) == (b"exported model bytes", None)
    assert oct(out.parent.stat().st_mode & 0o777) == oct(0o700)
    out.write_bytes(b"a planted model")
    assert onnx_embedding.verified_model(out) == (None, "does not match the hash recorded at export")
    out.unlink()
    assert onnx_embedding.verified_model(out) == (None, "not exported yet")
    (tmp_path / "good.onnx").write_bytes(b"exported model bytes")
    out.symlink_to(tmp_path / "good.onnx")
    data, why = onnx_embedding.verified_model(out)
    assert data is None and "symbolic link" in why
    out.unlink()
    out.write_bytes(b"exported model bytes")
    out.with_name(out.name + ".sha256").unlink()
    assert onnx_embedding.verified_model(out) == (None, "has no hash recorded beside it")


def test_a_cache_folder_others_can_write_is_tightened_and_its_files_not_trusted(tmp_path, monkeypatch):
    onnx_embedding, out = _installed(tmp_path, monkeypatch)
    out.parent.chmod(0o777)  # anyone could have planted the model and its hash
    data, why = onnx_embedding.verified_model(out)
    assert data is None and "writable by other users" in why
    assert out.parent.stat().st_mode & 0o022 == 0
    assert onnx_embedding.verified_model(out)[0] is None  # still not trusted until exported again


def test_a_cache_folder_of_another_user_is_one_line(tmp_path, monkeypatch):
    from vr2.errors import Vr2Error

    onnx_embedding, out = _installed(tmp_path, monkeypatch)
    monkeypatch.setattr(onnx_embedding.os, "getuid", lambda: out.parent.stat().st_uid + 1)
    with pytest.raises(Vr2Error, match="belongs to another user.*VR2_CACHE_DIR"):
        onnx_embedding.verified_model(out)


# ---------------------------------------------------------------- round 3: recipes


def test_a_recipe_symlinked_to_itself_is_one_line(tmp_path, capsys):
    loop = tmp_path / "loop.toml"
    loop.symlink_to(loop)
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    extends = tmp_path / "child.toml"
    extends.write_text('extends = "loop.toml"\n')
    for recipe in (loop, tmp_path / "a.toml", extends):
        r = run_vr2(capsys, "grpo", recipe, "--dry-run")
        assert r.code == 2 and "Traceback" not in r.err and ("loop.toml" in r.err or "a.toml" in r.err), r.err
        assert "symbolic link" in r.err.lower() and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("body", [
    "[tar]\ntau = " + "[" * 100_000 + "]" * 100_000,
    "[tar]\nx = " + "{a = " * 5000 + "1" + "}" * 5000,
    "[tar]\ntau = " + "[" * 100 + "1" + "]" * 100,
])
def test_deeply_nested_toml_is_one_line(tmp_path, capsys, body):
    recipe = tmp_path / "deep.toml"
    recipe.write_text(body + "\n")
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "--recipe", recipe)
    assert r.code == 2 and "deep.toml: TOML nested too deeply" in r.err and "Traceback" not in r.err


def test_a_deeply_nested_override_is_one_line(capsys):
    deep = "[" * 20_000 + "]" * 20_000
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "-s", f"tar.tau={deep}")
    assert r.code == 2 and "override 'tar.tau=...': TOML nested too deeply" in r.err and len(r.err) < 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(
    [b"[", b"]", b"{", b"}", b'"a"', b"1" * 4400, b"\xef\xbb\xbf", b"\n", b" ", b'{"video": "a.mp4"}', b"null"])),
    max_size=12))
def test_any_bytes_as_a_training_file_are_rows_skips_or_one_line(tmp_path, pieces):
    from vr2.data.datasets import Skipped, read_rows
    from vr2.errors import Vr2Error

    data = tmp_path / "train.jsonl"
    data.write_bytes(b"".join(pieces))
    try:
        rows = list(read_rows(data))
    except Vr2Error as error:
        assert "\n" not in str(error) and str(data) in str(error)
        return
    numbers = [n for n, _ in rows]
    assert numbers == sorted(set(numbers)) and all(n >= 1 for n in numbers)
    if rows and not data.read_bytes().removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"["):
        assert isinstance(rows[0][1], dict)  # JSONL starts with an object; later lines may be skips
        assert not any(isinstance(row, Skipped) and "\n" in row.reason for _, row in rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8), st.none()),
                                max_size=4), min_size=1, max_size=6), st.booleans())
def test_training_rows_read_back_as_written(tmp_path, rows, as_array):
    from vr2.data.datasets import read_rows

    data = tmp_path / "train.json"
    data.write_text(json.dumps(rows) if as_array else "\n".join(json.dumps(r) for r in rows) + "\n")
    got = list(read_rows(data))
    if as_array:
        assert got == list(enumerate(rows, start=1))
    else:
        assert [row for _, row in got] == [r for r in rows if r is not None]
