"""The built-in trainer backend: SFT and GRPO on TRL, with video in every forward pass.

A backend turns a validated recipe into a finished training stage (see
`vr2.plugins.hookspecs.vr2_trainer_backends`). This one maps the recipe onto TRL's `SFTConfig` /
`GRPOConfig`, loads the policy, applies the freezing switches or LoRA, and runs
`vr2.train.trl_trainers.VideoSFTTrainer` / `VideoGRPOTrainer`. Outputs in `trainer.output_dir`:
`checkpoint-<step>/` every `trainer.save_steps`, `steps.jsonl` and `metrics.jsonl`
(vr2.train.checkpoints), `recipe.toml` (the resolved recipe), `final/` (the trained model, or the
LoRA adapter) and, with LoRA and `lora.merge`, `merged/` (a full checkpoint).

Batch, precision and DeepSpeed come from `vr2.train.plan` (prompts vs completions per step,
derived gradient accumulation, float32 master weights with bf16 autocast on a GPU).

Multi-GPU: run the same command under `accelerate launch` or `torchrun`; `trainer.deepspeed_stage`
turns on the built-in ZeRO config on such launches, `trainer.deepspeed` names a JSON config of
your own (both need the `deepspeed` extra).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable, Sequence

from vr2.config import dump_toml
from vr2.console import stderr_console
from vr2.errors import MissingExtra, Vr2Error
from vr2.files import loads_json, read_text, write_atomic
from vr2.model.runtime import load_model
from vr2.scoring.rewards import reward_functions
from vr2.train.checkpoints import make_callbacks, resume_point, saving_to
from vr2.train.collate import PromptEncoder, SftCollator
from vr2.train.data import grpo_rows, load_samples, sft_pairs, sft_rows
from vr2.train.finetune import apply_freezing, is_adapter, lora_config, merge_adapter
from vr2.train.plan import builtin_deepspeed_config, make_plan, on_gpu
from vr2.video.sampling import video_settings

DEEPSPEED_INSTALL = "DS_BUILD_OPS=0 pip install 'vr2[deepspeed]'"
# Tokens only the processor may place: a sampled one would have no video/image features behind it.
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


# --- settings --------------------------------------------------------------------------------


def machine_has_gpu(recipe) -> bool:
    """Whether this run computes on a bf16-capable GPU."""
    import torch

    return on_gpu(recipe) and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def backend_plan(recipe, stage: str):
    """The run's TrainingPlan on this machine and launch; its warnings are printed once."""
    plan = make_plan(recipe, stage, gpu=machine_has_gpu(recipe))
    if plan.deepspeed_config:
        check_deepspeed(plan.deepspeed_config)
    elif plan.deepspeed_stage and importlib.util.find_spec("deepspeed") is None:
        raise MissingExtra("deepspeed", DEEPSPEED_INSTALL)
    for warning in plan.warnings:
        stderr_console().print(f"[yellow]warning[/yellow]: {warning}", highlight=False)
    return plan


def check_deepspeed(path: str) -> str | None:
    """The DeepSpeed config path, after checking the file and that deepspeed is installed."""
    if not path:
        return None
    config = Path(path)
    loads_json(read_text(config, "DeepSpeed config file"), str(path))
    if importlib.util.find_spec("deepspeed") is None:
        raise MissingExtra("deepspeed", DEEPSPEED_INSTALL)
    return str(config)


def deepspeed_arg(plan) -> str | dict | None:
    """What TrainingArguments.deepspeed gets: the recipe's file, the built-in config, or None."""
    if plan.deepspeed_config:
        return plan.deepspeed_config
    return builtin_deepspeed_config(plan.deepspeed_stage) if plan.deepspeed_stage else None


def common_args(recipe, plan) -> dict[str, Any]:
    """TrainingArguments shared by SFT and GRPO, from the recipe's [trainer] section and the plan."""
    import torch

    t = recipe.trainer
    use_cpu = t.use_cpu or recipe.model.device == "cpu"
    return {
        "output_dir": t.output_dir,
        "learning_rate": t.learning_rate,
        "lr_scheduler_type": t.lr_scheduler,
        "warmup_steps": t.warmup_ratio,  # a float below 1 is a ratio of the total steps
        "weight_decay": t.weight_decay,
        "adam_beta1": t.adam_beta1,
        "adam_beta2": t.adam_beta2,
        "adam_epsilon": t.adam_epsilon,
        "max_grad_norm": t.max_grad_norm,  # 0 = off; under DeepSpeed it fills the config's "auto" gradient_clipping
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps,
        "per_device_train_batch_size": plan.completions_per_device,
        "gradient_accumulation_steps": plan.gradient_accumulation,
        "save_strategy": "steps",
        "save_steps": t.save_steps,
        "logging_steps": t.logging_steps,
        "seed": t.seed,
        "bf16": plan.precision == "bf16",  # autocast over float32 master weights (or DeepSpeed's)
        "fp16": plan.precision == "fp16",
        _checkpointing_key(): t.gradient_checkpointing,
        "deepspeed": deepspeed_arg(plan),
        "use_cpu": use_cpu,
        "dataloader_pin_memory": torch.cuda.is_available() and not use_cpu,
        "report_to": t.report_to,
        "dataloader_num_workers": recipe.data.num_workers,
        "remove_unused_columns": False,
        "save_only_model": False,
    }


def _checkpointing_key() -> str:
    """transformers renamed gradient_checkpointing to activation_checkpointing (5.x, old name deprecated)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


# --- model -----------------------------------------------------------------------------------


def load_policy(recipe, plan):
    """(model in train mode on CPU, processor); the trainer places the model on its device(s).

    The weights are loaded in the plan's dtype: float32 master weights unless DeepSpeed keeps the
    masters or the recipe asked for low-precision weights.
    """
    loaded = load_model(recipe.model.name_or_path, dtype=plan.weights_dtype, device="cpu",
                        attn_implementation=recipe.model.attn_implementation)
    loaded.model.train()
    return loaded.model, loaded.processor


def trainable_setup(model, recipe):
    """The peft config with LoRA, else None after setting requires_grad by the freezing switches."""
    if recipe.lora.enabled:
        return lora_config(model, recipe)
    apply_freezing(model, recipe.model)
    return None


def suppressed_tokens(processor) -> list[int]:
    tokenizer = processor.tokenizer
    ids = [tokenizer.convert_tokens_to_ids(token) for token in VISION_TOKENS]
    return [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]


class NamedReward:
    """A reward function under a short name (TRL logs `rewards/<name>/mean`)."""

    def __init__(self, function: Callable, name: str):
        self.function = function
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)


def recipe_rewards(recipe) -> tuple[list[NamedReward], list[float]]:
    functions = reward_functions(recipe)
    if not functions:
        raise Vr2Error(f"{recipe.source}: every reward weight is 0; nothing to learn (weight one in [rewards])")
    # Names and weights come from the same table, so a reward and its weight cannot drift apart.
    return [NamedReward(f, n) for n, f in functions.items()], [recipe.rewards[n] for n in functions]


# --- running ---------------------------------------------------------------------------------


def _start(recipe, resume: bool) -> Path | None:

    if recipe.trainer.deepspeed:
        check_deepspeed(recipe.trainer.deepspeed)  # before any data or model is loaded
    output = Path(recipe.trainer.output_dir)
    try:  # an unwritable folder is found here, before any data or model is loaded
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Vr2Error(f"{output}: cannot create the output folder (trainer.output_dir): "
                       f"{error.strerror or error}") from None
    checkpoint = resume_point(output, resume)
    text = dump_toml(recipe)
    saved = output / "recipe.toml"
    if checkpoint is not None and saved.is_file() and saved.read_text(encoding="utf-8") != text:
        stderr_console().print(f"[yellow]note[/yellow]: the recipe differs from the one {output} was started with")
        saved = output / "recipe.resumed.toml"
    write_atomic(saved, text, "recipe copy")
    if checkpoint is not None:
        stderr_console().print(f"resuming from {checkpoint}", highlight=False)
    return checkpoint


def _train(trainer, checkpoint: Path | None, processor) -> Path:
    import warnings

    final = Path(trainer.args.output_dir) / "final"
    with warnings.catch_warnings(), saving_to(trainer.args.output_dir):  # a full disk: one line
        # TRL 1.16 calls a transformers method that 5.x deprecates, once per step: noise to a user.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        trainer.save_model(str(final))
        if trainer.accelerator.is_main_process:
            processor.save_pretrained(str(final))
    return final


def _merge(recipe, final: Path) -> Path | None:
    if not (recipe.lora.enabled and recipe.lora.merge and is_adapter(final)):
        return None
    with saving_to(recipe.trainer.output_dir):
        return merge_adapter(recipe.model.name_or_path, final, Path(recipe.trainer.output_dir) / "merged",
                             dtype=recipe.model.dtype)


def _with_run_log(trainer):
    """Add the step/metrics logs and checkpoint markers of vr2.train.checkpoints to a trainer."""
    for callback in make_callbacks(trainer.args.output_dir, trainer.step_samples):
        trainer.add_callback(callback)
    return trainer


def build_sft_trainer(recipe, samples: Sequence, targets: Sequence[str]):
    """A ready VideoSFTTrainer for these samples and replies (the backend's SFT, minus running)."""
    from datasets import Dataset
    from trl import SFTConfig

    from vr2.train.trl_trainers import VideoSFTTrainer

    plan = backend_plan(recipe, "sft")
    # The arguments come first: under ZeRO-3 they make the model load already partitioned.
    args = SFTConfig(
        **common_args(recipe, plan),
        max_length=None,  # the collator truncates replies (sft.max_length), never the video
        packing=False,
        dataset_kwargs={"skip_prepare_dataset": True},
    )
    model, processor = load_policy(recipe, plan)
    peft_config = trainable_setup(model, recipe)
    collator = SftCollator(processor, samples, targets, video_settings(recipe.video), recipe.sft.max_length,
                           recipe.prompt.style)
    return _with_run_log(VideoSFTTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(sft_rows(samples)), data_collator=collator,
        processing_class=processor, peft_config=peft_config,
    ))


def build_grpo_trainer(recipe, samples: Sequence, reward_funcs: Sequence | None = None,
                       reward_weights: Sequence[float] | None = None):
    """A ready VideoGRPOTrainer; rewards come from the recipe unless given (tests, plugins)."""
    from datasets import Dataset
    from trl import GRPOConfig

    from vr2.train.trl_trainers import VideoGRPOTrainer

    if reward_funcs is None:
        reward_funcs, reward_weights = recipe_rewards(recipe)
    plan = backend_plan(recipe, "grpo")
    g = recipe.grpo
    # The arguments come first: under ZeRO-3 they make the model load already partitioned.
    args = GRPOConfig(
        **common_args(recipe, plan),
        num_generations=g.num_generations,
        beta=g.beta,
        max_completion_length=g.max_completion_length,
        temperature=g.temperature,
        top_p=g.top_p,
        top_k=g.top_k,
        loss_type=g.loss_type,
        reward_weights=list(reward_weights) if reward_weights is not None else None,
    )
    model, processor = load_policy(recipe, plan)
    peft_config = trainable_setup(model, recipe)
    args.generation_kwargs = {"suppress_tokens": suppressed_tokens(processor)}
    rows = grpo_rows(samples, recipe.prompt.style)
    encoder = PromptEncoder(processor, samples, video_settings(recipe.video), rows=rows, style=recipe.prompt.style)
    dataset = Dataset.from_list(rows)
    if recipe.data.num_workers:  # decode in the dataloader's worker processes, ahead of the trainer
        dataset = dataset.with_transform(encoder.transform)
    return _with_run_log(VideoGRPOTrainer(
        model=model, reward_funcs=list(reward_funcs), args=args,
        train_dataset=dataset, processing_class=processor, peft_config=peft_config, encoder=encoder,
    ))


class TrlBackend:
    """`trl`: vr2's built-in backend (TRL SFTTrainer / GRPOTrainer with video everywhere)."""

    name = "trl"

    def sft(self, recipe, *, resume: bool = False) -> Path:
        checkpoint = _start(recipe, resume)
        samples, targets = sft_pairs(recipe)
        trainer = build_sft_trainer(recipe, samples, targets)
        final = _train(trainer, checkpoint, trainer.processing_class)
        merged = _merge(recipe, final) if trainer.accelerator.is_main_process else None
        return merged or final

    def grpo(self, recipe, *, resume: bool = False) -> Path:
        checkpoint = _start(recipe, resume)
        trainer = build_grpo_trainer(recipe, load_samples(recipe))
        final = _train(trainer, checkpoint, trainer.processing_class)
        merged = _merge(recipe, final) if trainer.accelerator.is_main_process else None
        return merged or final
