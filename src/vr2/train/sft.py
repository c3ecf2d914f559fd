"""Stage 1, timestamp-aware SFT: learn to reason with cited times before RL.

The policy learns the dataset's replies (`<think>` with times read off the stamped frames, then
`<answer>`) from the video and question; only the reply is supervised. The paper trains LoRA
adapters (r=64, alpha=64, dropout 0.05) on the language model of Qwen2.5-VL-7B-Instruct with the
vision tower and merger frozen, then merges them into a full checkpoint that GRPO starts from.

The training loop belongs to the recipe's trainer backend (`trainer.backend`, built-in `trl`).
"""

from __future__ import annotations

from pathlib import Path

from vr2.errors import Vr2Error
from vr2.plugins import registry as plugins
from vr2.train.checkpoints import last_checkpoint
from vr2.train.finetune import is_adapter, merge_adapter


def run_sft(recipe, *, resume: bool = False) -> Path:
    """Train as the recipe says; returns the merged checkpoint (LoRA + lora.merge) or the final model."""
    backend = plugins.make_backend(recipe.trainer.backend)
    return Path(backend.sft(recipe, resume=resume))


def adapter_to_merge(output_dir: str | Path) -> Path:
    """The adapter of a run: `final/` when training finished, else the newest complete checkpoint."""

    final = Path(output_dir) / "final"
    if is_adapter(final):
        return final
    checkpoint = last_checkpoint(output_dir)
    if checkpoint is not None and is_adapter(checkpoint):
        return checkpoint
    raise Vr2Error(f"{output_dir}: no LoRA adapter to merge (neither final/ nor a checkpoint holds one)")


def merge_run(recipe) -> Path:
    """Merge the run's LoRA adapter into the recipe's base model: `<output_dir>/merged`."""
    output = Path(recipe.trainer.output_dir)
    return merge_adapter(recipe.model.name_or_path, adapter_to_merge(output), output / "merged",
                         dtype=recipe.model.dtype)
