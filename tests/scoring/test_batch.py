"""`vr2 score` end to end, in-process, with the real MiniLM embedder."""

import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import run_vr2

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_trace_json_has_every_promised_field(capsys):
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    for key in ("tar", "tar_precision", "tar_recall", "tar_f1", "gate", "tac", "think_answer", "final_answer",
                "format_ok", "pred_claims", "ref_claims", "matches", "rewards"):
        assert key in data
    assert set(data["rewards"]) == {"accuracy", "format", "tar", "total"}
    assert data["gate"] == 1 and data["tac"] is True and data["think_answer"] == data["final_answer"] == "B"
    assert len(data["pred_claims"]) == 5 and len(data["ref_claims"]) == 5
    assert data["pred_claims"][1] == {"start": 8.0, "end": 14.0, "text": data["pred_claims"][1]["text"]}
    assert data["tar"] == pytest.approx(4 / 5) and data["tar_recall"] == pytest.approx(4 / 5)
    assert data["rewards"]["total"] == pytest.approx(2.8)
    assert all(m["gap"] <= 4 and m["similarity"] >= 0.75 for m in data["matches"])


def test_tables_for_people(capsys):
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json")
    assert r.code == 0, r.err
    for text in ("Predicted claims", "Reference grounding", "TAR precision", "consistency gate", "reward total"):
        assert text in r.out


def test_options_change_the_result(capsys):
    base = ["score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json", "--json"]
    strict = json.loads(run_vr2(capsys, *base, "--buffer-seconds", "0").out)
    assert strict["tar"] < 0.8  # point claims 1 s off no longer match
    ungated = json.loads(run_vr2(capsys, *base, "--tau", "0.99").out)
    assert ungated["tar"] == 0.0
    weighted = json.loads(run_vr2(capsys, *base, "--w-tar", "2", "--w-format", "0").out)
    assert weighted["rewards"]["total"] == pytest.approx(1 + 2 * 0.8)


def test_inconsistent_trace_gates_tar_unless_no_gate(tmp_path, capsys):
    trace = json.loads((EXAMPLES / "trace.json").read_text())
    trace["completion"] = trace["completion"].replace("<answer>B</answer>", "<answer>D</answer>")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(trace))
    gated = json.loads(run_vr2(capsys, "score", path, "--ref", EXAMPLES / "ref.json", "--json").out)
    assert gated["gate"] == 0 and gated["tar"] == 0.0 and gated["tac"] is False and gated["tar_precision"] > 0
    free = json.loads(run_vr2(capsys, "score", path, "--ref", EXAMPLES / "ref.json", "--json", "--no-gate").out)
    assert free["tar"] == pytest.approx(gated["tar_precision"])


def test_plain_text_trace_and_bare_reference(tmp_path, capsys):
    text = tmp_path / "trace.txt"
    text.write_text("<think>At 00:20 he switches on the gas stove. So the answer is 3.</think><answer>3</answer>")
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"00:21": "He switches on the gas stove."}))
    data = json.loads(run_vr2(capsys, "score", text, "--ref", ref, "--json").out)
    assert data["tar"] == 1.0 and data["rewards"]["accuracy"] is None


def test_recipe_settings_are_used(tmp_path, capsys):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[tar]\ntau = 0.99\n")
    data = json.loads(run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", EXAMPLES / "ref.json",
                              "--json", "--recipe", recipe).out)
    assert data["tar"] == 0.0


@pytest.mark.parametrize("content, fragment", [
    (None, "file not found"),
    ("{not json", "not valid JSON"),
    ('{"completion": 5}', "'completion' must be a string"),
    ('{"completion": "<think>a</think>", "options": "A"}', "'options' must be a list of strings"),
    ('[1, 2]', "expected a JSON object"),
])
def test_bad_trace_is_one_line_exit_2(tmp_path, capsys, content, fragment):
    path = tmp_path / "trace.json"
    if content is not None:
        path.write_text(content)
    r = run_vr2(capsys, "score", path, "--ref", EXAMPLES / "ref.json")
    assert r.code == 2
    assert fragment in r.err and str(path) in r.err
    assert len(r.err.strip().splitlines()) == 1 and "Traceback" not in r.err


def test_bad_reference_grounding_names_the_file(tmp_path, capsys):
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"temporal_grounding": "[1, 2]"}))
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", ref)
    assert r.code == 2 and "got list" in r.err and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("bad_key", ["00:05 - end", "00:75", "00:05-00:09s", "soon"])
def test_bad_reference_keys_are_dropped_and_counted(tmp_path, capsys, bad_key):
    grounding = json.loads((EXAMPLES / "ref.json").read_text())
    grounding["temporal_grounding"][bad_key] = "Something happens."
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps(grounding))
    good = json.loads(run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref",
                              EXAMPLES / "ref.json", "--json").out)
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json", "--ref", ref, "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["bad_ref_keys"] == 1 and good["bad_ref_keys"] == 0
    assert data["ref_claims"] == good["ref_claims"] and data["tar"] == good["tar"]


@pytest.mark.parametrize("completion", [
    "<answer>B</answer>",
    "<THINK>At 00:05 the man opens the door.</THINK><answer>B</answer>",
    "At 00:05 the man opens the door. <answer>B</answer>",
    "<think>At 00:05 the man opens the door.<answer>B</answer>",
])
def test_trace_without_a_proper_think_block_is_scored_zero(tmp_path, capsys, completion):
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({"completion": completion}))
    r = run_vr2(capsys, "score", path, "--ref", EXAMPLES / "ref.json", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["rewards"]["format"] == 0.0 and data["tar"] == 0.0


def test_batch_scores_skips_bad_lines_and_summarizes(tmp_path, capsys):
    batch = tmp_path / "traces.jsonl"
    lines = (EXAMPLES / "traces.jsonl").read_text().splitlines()
    batch.write_text("\n".join([lines[0], "{broken", lines[1], '{"completion": "no think"}', *lines[2:]]) + "\n")
    r = run_vr2(capsys, "score", batch, "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    # only the line that is not JSON is skipped; the trace without <think> is scored (0)
    assert summary["scored"] == 5 and summary["skipped"] == 1
    assert "traces.jsonl:2: skipped: not valid JSON" in r.err and "traces.jsonl:4: skipped" not in r.err
    results = [json.loads(x) for x in (tmp_path / "traces.scores.jsonl").read_text().splitlines()]
    assert [x["line"] for x in results] == [1, 3, 4, 5, 6]
    assert results[2]["rewards"]["format"] == 0.0 and results[2]["tar"] in (0.0, None)
    by_id = {x["id"]: x for x in results}
    assert by_id["good"]["tar"] == 1.0 and by_id["inconsistent"]["gate"] == 0
    assert by_id["ungrounded"]["tar"] == 0.0 and by_id["numeric"]["rewards"]["accuracy"] == 1.0


def test_batch_never_overwrites_and_resume_continues(tmp_path, capsys):
    batch = tmp_path / "traces.jsonl"
    shutil.copy(EXAMPLES / "traces.jsonl", batch)
    out = tmp_path / "traces.scores.jsonl"
    assert run_vr2(capsys, "score", batch).code == 0
    full = out.read_text()
    r = run_vr2(capsys, "score", batch)
    assert r.code == 2 and "already exists" in r.err and out.read_text() == full
    # simulate a crash: two whole lines written, the third cut half-way
    kept = full.splitlines(keepends=True)
    out.write_text("".join(kept[:2]) + kept[2][:20])
    assert run_vr2(capsys, "score", batch, "--resume").code == 0
    resumed = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["line"] for x in resumed] == [1, 2, 3, 4]
    assert [x["tar"] for x in resumed] == [json.loads(x)["tar"] for x in full.splitlines()]


def test_batch_refuses_ref_and_single_needs_ref(tmp_path, capsys):
    r = run_vr2(capsys, "score", EXAMPLES / "traces.jsonl", "--ref", EXAMPLES / "ref.json")
    assert r.code == 2 and "drop --ref" in r.err
    r = run_vr2(capsys, "score", EXAMPLES / "trace.json")
    assert r.code == 2 and "--ref" in r.err
