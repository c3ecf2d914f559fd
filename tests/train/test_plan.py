"""The training plan: batch units, derived accumulation, steps, precision and DeepSpeed, and `--dry-run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vr2.config import load_recipe
from vr2.errors import Vr2Error
from vr2.train.plan import dry_run_json, make_plan, plan_lines

REPO = Path(__file__).resolve().parents[2]
DRY_RUN_KEYS = {"world_size", "prompts_per_step", "completions_per_step", "optimizer_steps", "weights_dtype",
                "master_weights_dtype", "deepspeed_stage"}


def paper(name: str, *overrides: str):
    return load_recipe(REPO / "recipes" / f"{name}.toml", list(overrides))


@pytest.mark.parametrize("name", ["grpo", "grpo_tar", "tar_gated"])
def test_paper_grpo_is_one_prompt_x_8_generations_per_step(name):
    """The release's "global batch 8": 8 completions per step, ~one step per prompt of 4,804."""
    eight = make_plan(paper(name), "grpo", world_size=8, gpu=True, rows=4804)
    assert (eight.prompts_per_step, eight.completions_per_step, eight.gradient_accumulation) == (1, 8, 1)
    assert eight.optimizer_steps_per_epoch == eight.optimizer_steps == 4804
    assert (eight.deepspeed_stage, eight.weights_dtype, eight.master_weights_dtype) == (3, "bfloat16", "float32")
    one = make_plan(paper(name), "grpo", world_size=1, gpu=True, rows=4804)
    assert (one.completions_per_step, one.gradient_accumulation, one.optimizer_steps) == (8, 8, 4804)
    assert (one.deepspeed_stage, one.weights_dtype, one.master_weights_dtype) == (0, "float32", "float32")
    assert paper(name).grpo.top_k == 50


def test_paper_sft_is_32_samples_per_step_with_weight_decay_0_1():
    plan = make_plan(paper("sft"), "sft", world_size=8, gpu=True, rows=10467)
    assert (plan.completions_per_step, plan.gradient_accumulation, plan.optimizer_steps) == (32, 4, 328)
    assert paper("sft").trainer.weight_decay == 0.1


def test_batch_that_does_not_divide_is_refused():
    with pytest.raises(Vr2Error, match=r"8 completions per optimizer step .* not a multiple of 24"):
        make_plan(paper("grpo", "trainer.completions_per_device=3"), "grpo", world_size=8, rows=0)


def test_pure_bf16_weights_only_when_asked_and_with_a_warning():
    plan = make_plan(paper("tar_gated", 'model.dtype="bfloat16"'), "grpo", world_size=1, gpu=True, rows=0)
    assert (plan.weights_dtype, plan.master_weights_dtype) == ("bfloat16", "bfloat16")
    assert "rounded away" in plan.warnings[0]
    under_ds = make_plan(paper("tar_gated", 'model.dtype="bfloat16"'), "grpo", world_size=8, gpu=True, rows=0)
    assert under_ds.master_weights_dtype == "float32" and not under_ds.warnings
    assert not make_plan(paper("tar_gated"), "grpo", world_size=1, gpu=True, rows=0).warnings


def test_steps_count_the_rows_of_the_train_file(smoke_dir):
    recipe = load_recipe(REPO / "recipes" / "smoke" / "grpo.toml", [
        f'data.train_file="{smoke_dir / "grpo.json"}"', "trainer.max_steps=-1", "trainer.epochs=2.0"])
    plan = make_plan(recipe, "grpo", world_size=1, gpu=False)
    assert (plan.rows, plan.optimizer_steps_per_epoch, plan.optimizer_steps) == (4, 4, 8)


def _changed_fraction(model_dir: Path, plan, lr: float, weight_decay: float) -> float:
    """One AdamW step on an SFT-style loss, computed under bf16 autocast as on the GPU."""
    import torch

    from vr2.model.runtime import load_model

    torch.manual_seed(0)
    model = load_model(str(model_dir), dtype=plan.weights_dtype, device="cpu").model
    model.train()
    trainable = [p for n, p in model.named_parameters() if "visual" not in n]
    for name, p in model.named_parameters():
        p.requires_grad_("visual" not in name)
    ids = torch.randint(0, 900, (2, 24))
    before = [p.detach().clone() for p in trainable]
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=weight_decay)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=plan.precision == "bf16"):
        loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    optimizer.step()
    changed = sum(int((p.detach() != b).sum()) for p, b in zip(trainable, before))
    return changed / sum(p.numel() for p in trainable)


def test_one_step_at_the_paper_lr_changes_most_weights_in_the_gpu_dtype(tiny_model_dir):
    """Resolve the paper GRPO recipe as on one GPU, load the tiny model that way, take one step at lr 1e-6:
    float32 master weights keep the update; pure bf16 weights (asked for explicitly) round most of it away."""
    recipe = paper("tar_gated")
    lr, decay = recipe.trainer.learning_rate, recipe.trainer.weight_decay
    plan = make_plan(recipe, "grpo", world_size=1, gpu=True, rows=0)
    assert plan.precision == "bf16" and plan.weights_dtype == "float32"
    assert _changed_fraction(tiny_model_dir, plan, lr, decay) > 0.6
    bf16 = make_plan(paper("tar_gated", 'model.dtype="bfloat16"'), "grpo", world_size=1, gpu=True, rows=0)
    assert _changed_fraction(tiny_model_dir, bf16, lr, decay) < 0.1


def test_dry_run_json_loads_no_model_and_no_torch(tmp_path):
    code = ("import sys, runpy; sys.argv = ['vr2', 'grpo', 'recipes/tar_gated.toml', '--dry-run', "
            "'--world-size', '8', '--json']\n"
            "from vr2.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert DRY_RUN_KEYS <= set(data)
    assert (data["world_size"], data["prompts_per_step"], data["completions_per_step"]) == (8, 1, 8)
    assert (data["weights_dtype"], data["master_weights_dtype"], data["deepspeed_stage"]) == ("bfloat16", "float32", 3)


def test_dry_run_text_for_sft(capsys):
    from cli_helpers import run_vr2

    result = run_vr2(capsys, "sft", str(REPO / "recipes" / "sft.toml"), "--dry-run", "--world-size", "8")
    assert result.code == 0, result.err
    assert "samples per optimizer step: 32 (8 x 1 per device x 4 accumulation)" in result.out
    assert "master weights dtype: float32" in result.out and "ZeRO-3" in result.out


@pytest.mark.parametrize("name,stage", [("sft", "sft"), ("grpo", "grpo"), ("grpo_tar", "grpo"), ("tar_gated", "grpo")])
def test_paper_recipes_train_as_the_release_did_and_say_so(name, stage):
    """The release's DeepSpeed configs set no gradient_clipping (so it never clipped) and its dataset code
    builds the prompt from the row's own human turn; AdamW kept HF's betas (0.9, 0.999)."""
    recipe = paper(name)
    t = recipe.trainer
    assert (t.max_grad_norm, t.adam_beta1, t.adam_beta2, t.adam_epsilon) == (0.0, 0.9, 0.999, 1e-8)
    assert recipe.prompt.style == "release"
    plan = make_plan(recipe, stage, world_size=8, gpu=True, rows=0)
    assert (plan.max_grad_norm, plan.prompt_style, plan.eval_protocol) == (0.0, "release", "paper")
    data = dry_run_json(plan)
    assert (data["max_grad_norm"], data["prompt_style"], data["eval_protocol"]) == (0.0, "release", "paper")
    assert "gradient clipping: off (max_grad_norm 0)" in plan_lines(plan)
    assert any(line.startswith("prompt: release") and "protocol paper" in line for line in plan_lines(plan))
    own = make_plan(paper(name, 'prompt.style="vr2"', "trainer.max_grad_norm=1.0"), stage, world_size=8, gpu=True,
                    rows=0)
    assert (own.max_grad_norm, own.prompt_style, own.eval_protocol) == (1.0, "vr2", "vr2")
    assert "gradient clipping: global norm 1.0" in plan_lines(own)


@pytest.mark.parametrize("command,name", [("sft", "sft"), ("grpo", "tar_gated")])
def test_dry_run_reports_prompt_style_and_clipping(capsys, command, name):
    from cli_helpers import run_vr2

    result = run_vr2(capsys, command, str(REPO / "recipes" / f"{name}.toml"), "--dry-run", "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert (data["prompt_style"], data["eval_protocol"], data["max_grad_norm"]) == ("release", "paper", 0.0)
    text = run_vr2(capsys, command, str(REPO / "recipes" / f"{name}.toml"), "--dry-run")
    assert "prompt: release" in text.out and "gradient clipping: off" in text.out


def test_a_deepspeed_file_that_clips_otherwise_is_refused(tmp_path):
    """A number in the file's gradient_clipping would override trainer.max_grad_norm (HF fills only "auto")."""
    config = json.loads((REPO / "recipes" / "deepspeed" / "zero3.json").read_text())
    config["gradient_clipping"] = 1.0
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(config))
    with pytest.raises(Vr2Error, match=r"clip.json: gradient_clipping is 1.0 but trainer.max_grad_norm is 0.0"):
        make_plan(paper("tar_gated", f'trainer.deepspeed="{path}"'), "grpo", world_size=8, rows=0)
    assert make_plan(paper("tar_gated", f'trainer.deepspeed="{path}"', "trainer.max_grad_norm=1.0"), "grpo",
                     world_size=8, rows=0).max_grad_norm == 1.0
