"""The built-in `trl` backend: how a recipe becomes TRL settings, and its checks."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from vr2 import plugins
from vr2.config import load_recipe
from vr2.errors import MissingExtra, Vr2Error
from vr2.trl_backend import (
    DEEPSPEED_INSTALL, TrlBackend, check_deepspeed, common_args, model_dtype, resolve_precision,
)

REPO = Path(__file__).resolve().parents[1]
HAS_DEEPSPEED = importlib.util.find_spec("deepspeed") is not None


def test_trl_is_the_builtin_backend_plugin():
    backend = plugins.make_backend("trl")
    assert isinstance(backend, TrlBackend) and backend.name == "trl"
    assert callable(backend.sft) and callable(backend.grpo)
    assert plugins.components("vr2_trainer_backends")["trl"].plugin == "vr2-builtin"
    with pytest.raises(Vr2Error, match="unknown backend 'nope'.*trl"):
        plugins.make_backend("nope")


def test_precision_auto_is_fp32_without_a_gpu():
    import torch

    recipe = load_recipe(None)
    if not torch.cuda.is_available():
        assert resolve_precision(recipe.trainer) == "fp32"
    assert resolve_precision(load_recipe(None, ["trainer.precision=bf16"]).trainer) == "bf16"
    assert model_dtype(recipe, "bf16") == "bfloat16" and model_dtype(recipe, "fp32") == "float32"
    assert model_dtype(load_recipe(None, ["model.dtype=float16"]), "bf16") == "float16"


def test_recipe_maps_onto_training_arguments():
    recipe = load_recipe(REPO / "recipes" / "sft.toml")
    args = common_args(recipe, "bf16", 3)
    assert args["learning_rate"] == 1e-5 and args["lr_scheduler_type"] == "cosine"
    assert args["warmup_steps"] == 0.03 and args["num_train_epochs"] == 1.0
    assert args["gradient_accumulation_steps"] == 4 and args["per_device_train_batch_size"] == 3
    assert args["bf16"] and not args["fp16"] and args["save_steps"] == 200
    assert args["remove_unused_columns"] is False and args["deepspeed"] is None


def test_deepspeed_config_file_is_checked(tmp_path):
    with pytest.raises(Vr2Error, match="missing.json: DeepSpeed config file not found"):
        check_deepspeed(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{zero")
    with pytest.raises(Vr2Error, match="bad.json: not a valid DeepSpeed JSON config"):
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
