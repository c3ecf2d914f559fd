"""`vr2 explain` end to end, in-process, with the tiny model on CPU and a synthetic video."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cli_helpers import run_vr2

COMPLETION = ("<think>At 00:00 the screen is red. Around 00:01 the background turns green, and from 00:02 "
              "to 00:03 the number changes on the screen. So the answer is B.</think><answer>B</answer>")
REF = {"temporal_grounding": {"00:01": "The background turns green.", "00:03": "The number changes on the screen."},
       "answer": "B"}
SMALL = ("--min-pixels", "784", "--max-pixels", "9408")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from vr2.devtools.synthetic import write_test_video

    folder = tmp_path_factory.mktemp("explain")
    video = write_test_video(folder / "clock.mp4", seconds=4, fps=10, size=(112, 84))
    completion = folder / "completion.txt"
    completion.write_text(COMPLETION)
    ref = folder / "ref.json"
    ref.write_text(json.dumps(REF))
    return video, completion, ref


def _options():
    return ("--options", "A. red", "--options", "B. green")


def test_generates_with_the_tiny_model_and_writes_html(tiny_model_dir, files, tmp_path, capsys):
    video, _, _ = files
    out = tmp_path / "report.html"
    r = run_vr2(capsys, "explain", video, "What colour comes after red?", *_options(), "--model", tiny_model_dir,
                *SMALL, "--max-new-tokens", "8", "--html", out)
    assert r.code == 0, r.err
    for text in ("Question", "What colour comes after red?", "B. green", "Answer", "Verdicts", "TAC", "VAS"):
        assert text in r.out, text
    assert "generating" in r.err and str(out) in r.err
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('src="data:image/jpeg;base64,') == 8


def test_given_completion_with_reference_as_json(tiny_model_dir, files, capsys):
    video, completion, ref = files
    r = run_vr2(capsys, "explain", video, "What colour comes after red?", *_options(), "--model", tiny_model_dir,
                *SMALL, "--completion", completion, "--ref", ref, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["generated"] is False and data["completion"] == COMPLETION
    assert [c["start"] for c in data["claims"]] == [0, 1, 2]
    assert [c["match"]["ref"] if c["match"] else None for c in data["claims"]] == [None, 0, 1]
    assert data["tac"] is True and data["gate"] == 1 and data["tar"] == pytest.approx(2 / 3)
    assert data["tar_recall"] == 1.0 and data["accuracy"] == 1.0
    assert 0 < data["vas_attn"] <= 100 and len(data["vas"]["per_frame"]) == 8
    assert data["settings"]["frames"] == 8 and data["frame_times"][2] == 1.0


def test_terminal_view_highlights_times_and_draws_the_strip(tiny_model_dir, files, capsys):
    video, completion, ref = files
    r = run_vr2(capsys, "explain", video, "Q?", *_options(), "--model", tiny_model_dir, *SMALL,
                "--completion", completion, "--ref", ref)
    assert r.code == 0, r.err
    assert "00:01[2]" in r.out and "from 00:02 to 00:03[3]" in r.out  # time, then its claim number
    assert "Claims timeline" in r.out and "Reference grounding" in r.out and "TAR precision" in r.out
    strip = r.out[r.out.index("Attention per frame"):].splitlines()
    assert len(strip[1]) == 8 and set(strip[1]) <= set("▁▂▃▄▅▆▇█")
    assert strip[2] == "^ ^ ^^^" and strip[3].startswith("00:00")


def test_no_vas_with_a_completion_loads_no_model(files, capsys):
    video, completion, _ = files
    r = run_vr2(capsys, "explain", video, "Q?", "--model", "/no/such/model", *SMALL, "--completion", completion,
                "--no-vas", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["model"] is None and data["vas_attn"] is None and "switched off" in data["vas_note"]
    assert data["tar"] is None and len(data["claims"]) == 3


def _error(r, *needles):
    assert r.code == 2
    lines = r.err.strip().splitlines()
    assert lines[-1].startswith("vr2: error: ") and "Traceback" not in r.err
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])


def test_bad_input_is_one_line_naming_the_file(files, tmp_path, capsys):
    video, completion, ref = files
    missing = tmp_path / "missing.mp4"
    _error(run_vr2(capsys, "explain", missing, "Q?", "--model", "/no/such/model"), str(missing))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    _error(run_vr2(capsys, "explain", corrupt, "Q?", "--model", "/no/such/model"), str(corrupt))
    bad_ref = tmp_path / "bad.json"
    bad_ref.write_text("{oops")
    _error(run_vr2(capsys, "explain", video, "Q?", "--ref", bad_ref), str(bad_ref), "not valid JSON")
    bad_grounding = tmp_path / "grounding.json"  # keys that are not times are dropped, not errors
    bad_grounding.write_text(json.dumps({"temporal_grounding": "[1, 2]"}))
    _error(run_vr2(capsys, "explain", video, "Q?", "--ref", bad_grounding), str(bad_grounding), "got list")
    _error(run_vr2(capsys, "explain", video, "Q?", *SMALL, "--model", tmp_path / "nomodel"), "nomodel")
    _error(run_vr2(capsys, "explain", video, "Q?", "--completion", tmp_path / "none.txt"), "none.txt")
    _error(run_vr2(capsys, "explain", video, "Q?", "--fps", "0"), "fps")


def test_existing_report_is_kept_unless_force(files, tmp_path, capsys):
    video, completion, _ = files
    out = tmp_path / "r.html"
    out.write_text("keep me")
    args = ("explain", video, "Q?", *SMALL, "--completion", completion, "--no-vas", "--html", out)
    _error(run_vr2(capsys, *args), str(out), "--force")
    assert out.read_text() == "keep me"
    assert run_vr2(capsys, *args, "--force").code == 0
    assert out.read_text().startswith("<!DOCTYPE html>")


def test_help_does_not_import_torch():
    code = ("import sys; from vr2.cli.main import app; import vr2.cli.explain; "
            "assert 'torch' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), max_size=150), st.sets(st.integers(0, 149)), st.integers(1, 80))
def test_attention_strip_rows(shares, cited, width):
    from vr2.cli.display import BLOCKS, attention_blocks, attention_strip

    times = [k * 0.5 for k in range(len(shares))]
    rows = attention_strip(shares, times, cited, width=width)
    groups = [rows[i:i + 3] for i in range(0, len(rows), 4)]
    assert all(rows[i] == "" for i in range(3, len(rows), 4))
    assert "".join(g[0] for g in groups) == attention_blocks(shares) and len(attention_blocks(shares)) == len(shares)
    assert set(attention_blocks(shares)) <= set(BLOCKS)
    marks = "".join(g[1].ljust(len(g[0])) for g in groups)
    assert {k for k, c in enumerate(marks) if c == "^"} == {k for k in cited if k < len(shares)}
    if shares and max(shares) > 0:
        assert attention_blocks(shares)[shares.index(max(shares))] == BLOCKS[-1]
