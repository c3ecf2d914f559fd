"""`vr2 synthetic` data, and the smoke recipes running end to end from the command line."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from cli_helpers import run_vr2
from vr2.devtools import smoke
from vr2.devtools.synthetic import second_colour

REPO = Path(__file__).resolve().parents[2]
SMOKE_RECIPES = sorted(p for p in (REPO / "recipes" / "smoke").glob("*.toml") if p.name != "curate.toml")  # training rows only


BUILT = ("model", "videos", "subtitles", "sft.json", "grpo.json")  # what `vr2 synthetic` writes


def digest(folder: Path) -> dict[str, str]:
    files = [p for name in BUILT for p in ([folder / name] if (folder / name).is_file()
                                           else sorted((folder / name).rglob("*")))]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def test_cli_build_is_deterministic(smoke_dir, tmp_path, capsys):
    result = run_vr2(capsys, "synthetic", tmp_path / "smoke")
    assert result.code == 0, result.err
    assert digest(tmp_path / "smoke") == digest(smoke_dir)
    for name in ("model", "videos", "subtitles", "sft", "grpo"):
        assert name in result.err


def test_datasets_are_in_the_released_format(smoke_dir):
    for stage in ("sft", "grpo"):
        rows = json.loads((smoke_dir / f"{stage}.json").read_text())
        assert len(rows) == smoke.CLIPS
        for row in rows:
            assert (smoke_dir / "videos" / row["video"]).is_file()
            human, assistant = row["conversations"]
            assert human["from"] == "human" and human["value"].startswith("<video>\n")
            assert assistant["from"] == "assistant"
            assert assistant["value"].startswith("<think>") and assistant["value"].endswith("</answer>")
            assert ("temporal_grounding" in row) == (stage == "grpo")


def colour_at(video: Path, second: int) -> tuple[int, int, int]:
    from vr2.video.sampling import sample_video

    frames = sample_video(video, fps=1, start=second, end=second + 1, min_pixels=3136, max_pixels=12544,
                          timestamp_overlay=False, subtitles=None).frames
    return tuple(int(v) for v in frames[0, -8, 4])  # bottom-left: clear of barcode, number and clock


@pytest.mark.parametrize("clip", range(smoke.CLIPS))
def test_answers_and_grounding_are_true_to_the_video(smoke_dir, clip):
    row = json.loads((smoke_dir / "grpo.json").read_text())[clip]
    reply = row["conversations"][1]["value"]
    letter = reply.split("<answer>")[1].split("</answer>")[0]
    options = [line[3:] for line in row["conversations"][0]["value"].splitlines() if line[1:3] == ". "]
    asked = int(row["conversations"][0]["value"].split("00:00:")[1][:2])
    colour = options["ABCD".index(letter)]
    assert colour == smoke.COLOURS[asked]
    seen = colour_at(smoke_dir / "videos" / row["video"], asked)
    assert all(abs(a - b) <= 30 for a, b in zip(seen, second_colour(asked)))
    for stamp, sentence in row["temporal_grounding"].items():
        second = int(stamp.split(":")[1])
        assert sentence == f"the background is {smoke.COLOURS[second]}"
    assert len(row["temporal_grounding"]) == smoke.clip_seconds(clip)


@pytest.mark.parametrize("path", SMOKE_RECIPES, ids=lambda p: p.name)
def test_smoke_recipes_extend_their_paper_row(path):
    from vr2.config import load_recipe

    first = path.read_text().splitlines()[0]
    command = "sft" if path.name == "sft.toml" else "grpo"
    assert first == f"# vr2 {command} recipes/smoke/{path.name}"
    paper, quick = load_recipe(REPO / "recipes" / path.name), load_recipe(path)
    assert quick.trainer.max_steps == 2 and quick.model.name_or_path == "runs/smoke/model"
    assert (quick.rewards, quick.tar, quick.lora.enabled) == (paper.rewards, paper.tar, paper.lora.enabled)
    assert quick.grpo.beta == paper.grpo.beta and quick.trainer.learning_rate == paper.trainer.learning_rate


@pytest.fixture
def smoke_cwd(smoke_dir, monkeypatch) -> Path:
    """Run from the folder holding runs/smoke, as a user does after `vr2 synthetic runs/smoke`."""
    root = smoke_dir.parents[1]
    monkeypatch.chdir(root)
    return root


def log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("row", ["grpo", "grpo_tar", "tar_gated"])
def test_cli_grpo_smoke_runs(smoke_cwd, capsys, row):
    result = run_vr2(capsys, "grpo", REPO / "recipes" / "smoke" / f"{row}.toml")
    assert result.code == 0, result.err
    run = smoke_cwd / "runs" / "smoke" / row
    assert (run / "final" / "config.json").is_file() and (run / "checkpoint-2").is_dir()
    assert [entry["step"] for entry in log(run / "steps.jsonl")] == [1, 2]
    logged = log(run / "metrics.jsonl")[0]
    for key in ("rewards/accuracy/mean", "rewards/format/mean", "rewards/masked_completions", "kl"):
        assert key in logged, key
    tar_keys = ("rewards/tar/mean", "tar/gate_rate", "tar/claims_per_completion", "tar/masked")
    assert all((key in logged) == (row != "grpo") for key in tar_keys), logged
    assert f'name = "smoke-{row}"' in (run / "recipe.toml").read_text()


def test_cli_sft_smoke_run_then_merge_step(smoke_cwd, capsys):
    result = run_vr2(capsys, "sft", REPO / "recipes" / "smoke" / "sft.toml")
    assert result.code == 0, result.err
    run = smoke_cwd / "runs" / "smoke" / "sft"
    assert (run / "final" / "adapter_config.json").is_file()
    assert (run / "merged" / "model.safetensors").is_file() and "merged" in result.err
    shutil.rmtree(run / "merged")
    result = run_vr2(capsys, "sft", REPO / "recipes" / "smoke" / "sft.toml", "--merge")
    assert result.code == 0, result.err
    assert (run / "merged" / "model.safetensors").is_file()


def test_cli_bad_recipe_input_is_one_line(smoke_cwd, capsys):
    result = run_vr2(capsys, "grpo", REPO / "recipes" / "smoke" / "grpo.toml", "-s",
                     "data.train_file=\"runs/smoke/nothing.json\"", "-s", "trainer.output_dir=\"runs/smoke/bad\"")
    assert result.code == 2
    assert result.err.startswith("vr2: error: ") and "nothing.json" in result.err
    assert len(result.err.strip().splitlines()) == 1
