"""Stage 2, GRPO: reinforce answers that are correct, well formed and temporally grounded.

For each video question the policy samples `grpo.num_generations` completions; each is scored by
the recipe's rewards (vr2.scoring.rewards: accuracy, format, and TAR gated by think-answer consistency,
weighted by [rewards]), and the policy moves toward the completions that beat their group's mean,
with a KL penalty (`grpo.beta`) to the starting model. Paper settings: 8 generations, beta 0.04,
lr 1e-6, temperature 0.9, 1024 new tokens, 2 fps / 32 frames, LLM trained, vision frozen.

The video is part of generation and of every log-prob forward of the loss (vr2.train.trl_trainers).
The training loop belongs to the recipe's trainer backend (`trainer.backend`, built-in `trl`).
"""

from __future__ import annotations

from pathlib import Path

from vr2.plugins import registry as plugins


def run_grpo(recipe, *, resume: bool = False) -> Path:
    """Train as the recipe says; returns the folder of the final model."""
    backend = plugins.make_backend(recipe.trainer.backend)
    return Path(backend.grpo(recipe, resume=resume))
