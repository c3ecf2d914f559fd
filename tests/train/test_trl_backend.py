"""The built-in `trl` backend: how a recipe becomes TRL settings, and its checks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from vr2.plugins import registry as plugins
from vr2.config import load_recipe
from vr2.errors import MissingExtra, Vr2Error
from vr2.train.trl_backend import (
    DEEPSPEED_INSTALL, TrlBackend, backend_plan, check_deepspeed, common_args,
)
from vr2.train.plan import make_plan

REPO = Path(__file__).resolve().parents[2]
HAS_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None


def test_trl_is_the_builtin_backend_plugin():
    backend = plugins.make_backend("trl")
    assert isinstance(backend, TrlBackend) and backend.name == "trl"
    assert callable(backend.sft) and callable(backend.grpo)
    assert plugins.components("vr2_trainer_backends")["trl"].plugin == "vr2-builtin:train"
    with pytest.raises(Vr2Error, match="unknown backend 'nope'.*trl"):
        plugins.make_backend("nope")


def test_precision_auto_is_fp32_without_a_gpu():
    import torch

    recipe = load_recipe(None)
    if not torch.cuda.is_available():
        plan = backend_plan(recipe, "grpo")
        assert (plan.precision, plan.weights_dtype, plan.master_weights_dtype) == ("fp32", "float32", "float32")
    plan = make_plan(load_recipe(None, ["trainer.precision=\"bf16\""]), "grpo", world_size=1, rows=0)
    assert (plan.precision, plan.weights_dtype, plan.master_weights_dtype) == ("bf16", "float32", "float32")


def test_recipe_maps_onto_training_arguments():
    recipe = load_recipe(REPO / "recipes" / "sft.toml", ["trainer.completions_per_device=2"])
    args = common_args(recipe, make_plan(recipe, "sft", world_size=8, gpu=True, rows=0))
    assert args["learning_rate"] == 1e-5 and args["lr_scheduler_type"] == "cosine" and args["weight_decay"] == 0.1
    assert args["warmup_steps"] == 0.03 and args["num_train_epochs"] == 1.0
    assert args["gradient_accumulation_steps"] == 2 and args["per_device_train_batch_size"] == 2  # 32 = 8 x 2 x 2
    assert args["bf16"] and not args["fp16"] and args["save_steps"] == 200
    assert args["remove_unused_columns"] is False and args["dataloader_num_workers"] == 4
    assert args["deepspeed"]["zero_optimization"]["stage"] == 3  # the release's ZeRO-3 on 8 GPUs
    one_gpu = common_args(recipe, make_plan(recipe, "sft", world_size=1, gpu=True, rows=0))
    assert one_gpu["deepspeed"] is None and one_gpu["gradient_accumulation_steps"] == 16


def test_deepspeed_config_file_is_checked(tmp_path):
    with pytest.raises(Vr2Error, match="missing.json: DeepSpeed config file not found"):
        check_deepspeed(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{zero")
    with pytest.raises(Vr2Error, match="bad.json: not valid JSON"):
        check_deepspeed(str(bad))
    assert check_deepspeed("") is None


@pytest.mark.parametrize("name", ["zero2.json", "zero3.json"])
def test_shipped_deepspeed_configs(name):
    path = REPO / "recipes" / "deepspeed" / name
    config = json.loads(path.read_text())
    assert config["zero_optimization"]["stage"] in (2, 3)
    if HAS_DEEPSPEED:
        assert check_deepspeed(str(path)) == str(path)
    else:
        with pytest.raises(MissingExtra) as error:
            check_deepspeed(str(path))
        assert DEEPSPEED_INSTALL in str(error.value) and "DS_BUILD_OPS=0" in str(error.value)


def test_deepspeed_in_a_recipe_fails_before_any_model_loads(tmp_path):
    if HAS_DEEPSPEED:
        pytest.skip("deepspeed is installed here")
    recipe = load_recipe(REPO / "recipes" / "smoke" / "grpo.toml", [
        f'trainer.deepspeed="{REPO / "recipes" / "deepspeed" / "zero3.json"}"',
        f'trainer.output_dir="{tmp_path / "run"}"', f'data.train_file="{tmp_path / "no-such-data.json"}"'])
    for stage in (TrlBackend().grpo, TrlBackend().sft):
        with pytest.raises(MissingExtra, match="DS_BUILD_OPS=0 pip install 'vr2\\[deepspeed\\]'"):
            stage(recipe)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name,stage", [("sft", "sft"), ("tar_gated", "grpo")])
def test_clipping_and_adam_reach_the_training_arguments(name, stage):
    """The release: HF AdamW defaults (betas 0.9/0.999, eps 1e-8) and no clipping under DeepSpeed."""
    from transformers import TrainingArguments

    recipe = load_recipe(REPO / "recipes" / f"{name}.toml")
    for world_size in (1, 8):
        args = common_args(recipe, make_plan(recipe, stage, world_size=world_size, gpu=False, rows=0))
        assert (args["max_grad_norm"], args["adam_beta1"], args["adam_beta2"], args["adam_epsilon"]) == (
            0.0, 0.9, 0.999, 1e-8)
    clipped = load_recipe(REPO / "recipes" / f"{name}.toml", ["trainer.max_grad_norm=0.5", "trainer.adam_beta2=0.95"])
    args = common_args(clipped, make_plan(clipped, stage, world_size=1, gpu=False, rows=0))
    assert (args["max_grad_norm"], args["adam_beta2"]) == (0.5, 0.95)
    built = TrainingArguments(output_dir="unused", **{k: args[k] for k in ("max_grad_norm", "adam_beta1",
                                                                          "adam_beta2", "adam_epsilon")})
    assert (built.max_grad_norm, built.adam_beta2) == (0.5, 0.95)
