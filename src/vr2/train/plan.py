"""What a training run will do, resolved from the recipe before any model is loaded.

Batch units. `trainer.prompts_per_step` counts prompts per optimizer step over all devices
together (in SFT a prompt is one sample with its one reply); GRPO samples `grpo.num_generations`
completions for each, so it trains on prompts x generations completions per step.
`trainer.completions_per_device` is only a memory knob: the completions one device handles in one
forward pass. Gradient accumulation is derived, so a recipe means the same optimisation on any
number of GPUs: completions per step = world size x completions per device x accumulation.
The release's GRPO "global batch 8" is 8 completions per step (1 per device on 8 GPUs), i.e.
one prompt x 8 generations; its SFT global batch is 32 samples.

Precision. "auto" computes in bf16 on a GPU and in fp32 on a CPU. Weights are float32 master
weights by default (bf16 autocast for the compute): AdamW at lr 1e-6 moves a weight by far less
than bf16's 8-bit mantissa resolves, so updates applied to bf16 weights in place are mostly
rounded away. Under DeepSpeed the live weights are bf16 and DeepSpeed keeps the float32 masters.
`model.dtype = "bfloat16"` (or "float16") without DeepSpeed asks for pure low-precision weights
and gets a warning.

DeepSpeed. `trainer.deepspeed` (a JSON file) applies to every launch; `trainer.deepspeed_stage`
picks vr2's built-in ZeRO config (the release's settings) and applies only when the run is
launched on several processes, as the release's scripts did (8 GPUs, ZeRO-3). One process trains
without it, with the same float32 masters kept by torch's AdamW.

This module imports no torch, so `vr2 sft|grpo RECIPE --dry-run` answers at once.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vr2.data.datasets import read_rows
from vr2.errors import Vr2Error
from vr2.files import loads_json, read_text
from vr2.model.prompts import EVAL_PROTOCOL, PROMPT_STYLES

LOW_PRECISION = {"bf16": "bfloat16", "fp16": "float16"}
STAGES = (0, 2, 3)


@dataclass
class TrainingPlan:
    stage: str
    world_size: int
    prompts_per_step: int
    completions_per_step: int
    completions_per_device: int
    gradient_accumulation: int
    rows: int | None
    optimizer_steps_per_epoch: int | None
    optimizer_steps: int | None
    precision: str
    weights_dtype: str
    master_weights_dtype: str
    deepspeed_stage: int
    deepspeed_config: str | None
    max_grad_norm: float = 0.0
    prompt_style: str = "release"
    eval_protocol: str = "paper"  # the evaluation protocol that asks in the words this prompt style trains on
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def launch_world_size() -> int:
    """Processes in this launch (torchrun/accelerate set WORLD_SIZE), 1 for a plain command."""
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def on_gpu(recipe) -> bool:
    """Whether the recipe trains on a GPU when one is there (dry runs assume one is)."""
    return not (recipe.trainer.use_cpu or recipe.model.device == "cpu")


def compute_precision(trainer_config, gpu: bool) -> str:
    """"auto" -> bf16 on a (bf16-capable) GPU, else fp32."""
    if trainer_config.precision != "auto":
        return trainer_config.precision
    return "bf16" if gpu else "fp32"


def deepspeed_stage_of(recipe, world_size: int) -> tuple[int, str | None]:
    """(ZeRO stage in use, config file or None for the built-in one); (0, None) without DeepSpeed."""
    t = recipe.trainer
    if t.deepspeed:
        return _file_stage(t.deepspeed), t.deepspeed
    if t.deepspeed_stage not in STAGES:
        raise Vr2Error(f"{recipe.source}: trainer.deepspeed_stage must be 0, 2 or 3, got {t.deepspeed_stage}")
    if t.deepspeed_stage and world_size > 1:
        return t.deepspeed_stage, None
    return 0, None


def _file_config(path: str) -> dict:
    # regular files only, size-capped; deep nesting or a huge integer is one line
    config = loads_json(read_text(path, "DeepSpeed config file"), str(path))
    return config if isinstance(config, dict) else {}


def _file_stage(path: str) -> int:
    zero = _file_config(path).get("zero_optimization", {})
    stage = zero.get("stage", 0) if isinstance(zero, dict) else 0
    return int(stage) if isinstance(stage, (int, float)) else 0


def check_file_clipping(path: str, max_grad_norm: float) -> None:
    """A number in the file's `gradient_clipping` must agree with trainer.max_grad_norm.

    Under DeepSpeed the engine clips, with the file's value; transformers fills in only an "auto"
    (or absent) one, so a different number would silently replace the recipe's setting.
    """
    value = _file_config(path).get("gradient_clipping", "auto")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value) != max_grad_norm:
        raise Vr2Error(f"{path}: gradient_clipping is {value} but trainer.max_grad_norm is {max_grad_norm}; "
                       "set it to \"auto\" (the recipe decides) or make the two agree")


def builtin_deepspeed_config(stage: int) -> dict:
    """The release's ZeRO settings (its scripts/zero2.json, zero3.json); "auto" values come from the run."""
    zero: dict = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True,
                  "reduce_bucket_size": "auto"}
    if stage == 3:
        zero.update({"sub_group_size": 1e9, "stage3_prefetch_bucket_size": "auto",
                     "stage3_param_persistence_threshold": "auto", "stage3_max_live_parameters": 1e9,
                     "stage3_max_reuse_distance": 1e9, "stage3_gather_16bit_weights_on_model_save": True})
    else:
        zero["allgather_bucket_size"] = 5e8
    return {"bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"}, "zero_optimization": zero,
            "gradient_accumulation_steps": "auto", "gradient_clipping": "auto", "train_batch_size": "auto",
            "train_micro_batch_size_per_gpu": "auto", "steps_per_print": 1000000, "wall_clock_breakdown": False}


def weight_dtypes(recipe, precision: str, deepspeed_stage: int) -> tuple[str, str, list[str]]:
    """(dtype the weights are loaded and run in, dtype of the weights the optimizer updates, warnings)."""
    low = LOW_PRECISION.get(precision)
    if recipe.model.dtype != "auto":
        weights = recipe.model.dtype
    elif deepspeed_stage and low:
        weights = low  # DeepSpeed casts the module itself and keeps float32 masters
    else:
        weights = "float32"
    master = "float32" if deepspeed_stage and low else weights
    warnings = []
    if master in ("bfloat16", "float16"):
        warnings.append(
            f"model.dtype={weights}: the optimizer updates {weights} weights in place; at small learning rates "
            f"(lr {recipe.trainer.learning_rate:g}) most updates are smaller than {weights} can resolve and are "
            "rounded away. Leave model.dtype=\"auto\" for float32 master weights with bf16 autocast, "
            "or train under DeepSpeed.")
    return weights, master, warnings


def gradient_accumulation(recipe, stage: str, world_size: int) -> tuple[int, int]:
    """(completions per optimizer step, gradient accumulation steps)."""
    t = recipe.trainer
    per_step = t.prompts_per_step * (recipe.grpo.num_generations if stage == "grpo" else 1)
    per_pass = world_size * t.completions_per_device
    if per_step % per_pass:
        unit = "completions" if stage == "grpo" else "samples"
        raise Vr2Error(
            f"{recipe.source}: {per_step} {unit} per optimizer step (trainer.prompts_per_step"
            f"{' x grpo.num_generations' if stage == 'grpo' else ''}) is not a multiple of {per_pass} "
            f"({world_size} processes x trainer.completions_per_device {t.completions_per_device})")
    return per_step, per_step // per_pass


def count_rows(recipe) -> int | None:
    """Rows in the training file (before bad rows are dropped; `data.limit` applied); None if absent."""
    path = recipe.data.train_file
    if not path or not Path(path).is_file():
        return None
    rows = sum(1 for _ in read_rows(path))
    return min(rows, recipe.data.limit) if recipe.data.limit else rows


def optimizer_steps(recipe, stage: str, rows: int | None, world_size: int, accumulation: int) -> tuple[int | None, int | None]:
    """(steps per epoch, steps in total) as the trainer will count them."""
    t = recipe.trainer
    per_epoch = None
    if rows is not None:
        if stage == "grpo":  # TRL's sampler drops a last, incomplete group of prompts
            per_epoch = rows // t.prompts_per_step
        else:  # the Trainer counts a last, partial accumulation as a step
            batches = math.ceil(rows / (t.completions_per_device * world_size))
            per_epoch = max(math.ceil(batches / accumulation), 1)
    if t.max_steps > 0:
        return per_epoch, t.max_steps
    total = None if per_epoch is None else math.ceil(t.epochs * per_epoch)
    return per_epoch, total


def make_plan(recipe, stage: str, *, world_size: int | None = None, gpu: bool | None = None,
              rows: int | None = None) -> TrainingPlan:
    """Resolve batch, steps, precision and DeepSpeed for `stage` ("sft" or "grpo").

    `world_size` defaults to this launch's; `gpu` to whether the recipe targets one (a dry run's
    view; the backend passes what the machine really has); `rows` to counting the training file.
    """
    world_size = world_size or launch_world_size()
    gpu = on_gpu(recipe) if gpu is None else gpu
    per_step, accumulation = gradient_accumulation(recipe, stage, world_size)
    rows = count_rows(recipe) if rows is None else rows
    per_epoch, total = optimizer_steps(recipe, stage, rows, world_size, accumulation)
    precision = compute_precision(recipe.trainer, gpu)
    ds_stage, ds_file = deepspeed_stage_of(recipe, world_size)
    if ds_file:
        check_file_clipping(ds_file, recipe.trainer.max_grad_norm)
    weights, master, warnings = weight_dtypes(recipe, precision, ds_stage)
    return TrainingPlan(
        stage=stage, world_size=world_size, prompts_per_step=recipe.trainer.prompts_per_step,
        completions_per_step=per_step, completions_per_device=recipe.trainer.completions_per_device,
        gradient_accumulation=accumulation, rows=rows, optimizer_steps_per_epoch=per_epoch,
        optimizer_steps=total, precision=precision, weights_dtype=weights, master_weights_dtype=master,
        deepspeed_stage=ds_stage, deepspeed_config=ds_file, max_grad_norm=recipe.trainer.max_grad_norm,
        prompt_style=recipe.prompt.style, eval_protocol=EVAL_PROTOCOL[recipe.prompt.style], warnings=warnings,
    )


def plan_lines(plan: TrainingPlan) -> list[str]:
    """The plan as lines for a person."""
    unit = "completions" if plan.stage == "grpo" else "samples"
    ds = f"ZeRO-{plan.deepspeed_stage}" + (f" ({plan.deepspeed_config})" if plan.deepspeed_config else " (built in)")
    return [
        f"world size: {plan.world_size}",
        f"prompts per optimizer step: {plan.prompts_per_step}",
        f"{unit} per optimizer step: {plan.completions_per_step} "
        f"({plan.world_size} x {plan.completions_per_device} per device x {plan.gradient_accumulation} accumulation)",
        f"gradient accumulation: {plan.gradient_accumulation}",
        f"training rows: {'unknown (train file not found)' if plan.rows is None else plan.rows}",
        f"optimizer steps per epoch: {_or_unknown(plan.optimizer_steps_per_epoch)}",
        f"optimizer steps in total: {_or_unknown(plan.optimizer_steps)}",
        f"compute precision: {plan.precision}",
        f"weights dtype: {plan.weights_dtype}",
        f"master weights dtype: {plan.master_weights_dtype}",
        f"DeepSpeed: {ds if plan.deepspeed_stage else 'off'}",
        f"gradient clipping: {clipping(plan.max_grad_norm)}",
        f"prompt: {plan.prompt_style} ({PROMPT_STYLES[plan.prompt_style]}; evaluate with protocol "
        f"{plan.eval_protocol})",
    ]


def clipping(max_grad_norm: float) -> str:
    return f"global norm {max_grad_norm}" if max_grad_norm > 0 else "off (max_grad_norm 0)"


def _or_unknown(value: int | None) -> str:
    return "unknown (train file not found)" if value is None else str(value)


def dry_run_json(plan: TrainingPlan) -> dict:
    """The plan's machine-readable form (`--dry-run --json`)."""
    keys = ("world_size", "prompts_per_step", "completions_per_step", "gradient_accumulation",
            "optimizer_steps_per_epoch", "optimizer_steps", "weights_dtype", "master_weights_dtype",
            "deepspeed_stage", "precision", "rows", "max_grad_norm", "prompt_style", "eval_protocol", "warnings")
    data = plan.as_dict()
    return {key: data[key] for key in keys}


def print_dry_run(recipe, stage: str, *, world_size: int | None = None, as_json: bool = False) -> TrainingPlan:
    """`vr2 sft|grpo RECIPE --dry-run`: the plan on stdout (text or JSON), warnings on stderr."""
    import sys

    plan = make_plan(recipe, stage, world_size=world_size)
    if as_json:
        print(json.dumps(dry_run_json(plan), indent=1))
    else:
        print(f"{recipe.source} ({stage}):")
        for line in plan_lines(plan):
            print(f"  {line}")
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return plan
