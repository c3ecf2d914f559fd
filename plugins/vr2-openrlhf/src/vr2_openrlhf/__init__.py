"""OpenRLHF 0.11.2 as a vr2 trainer backend: `trainer.backend = "openrlhf"` in a GRPO recipe.

A backend runs a whole training stage from a validated recipe (`vr2.plugins.hookspecs.vr2_trainer_backends`).
This one hands GRPO to OpenRLHF's Ray trainer (`openrlhf.cli.train_ppo_ray`, vLLM rollouts,
DeepSpeed) and supplies everything vr2-specific as files under `<trainer.output_dir>/openrlhf/`:

- `prompts.jsonl`: one row per training sample, the chat-formatted prompt and a `label` holding
  the ground truth and the video settings as JSON (`vr2_openrlhf.data`);
- `reward.py`: vr2's own reward functions (accuracy, format, gated TAR, recipe weights) in
  OpenRLHF's `reward_func(queries, prompts, labels)` form (`vr2_openrlhf.rewards`);
- `agent.py`: the rollout (`--train.agent_func_path`) that samples the video with `vr2.video.sampling`,
  gives vLLM the frames with their timing metadata and gives OpenRLHF's training forward the
  processor's video tensors, so the video is in generation and in every log-prob forward
  (`vr2_openrlhf.rollout`);
- `run.json`, `recipe.toml`, and the command line (`vr2_openrlhf.command`).

Nothing here imports openrlhf, torch or transformers at import time; `vr2 plugins` stays fast.
"""

from __future__ import annotations

from vr2 import hookimpl

__all__ = ["INSTALL", "OPENRLHF_VERSION", "make_backend", "vr2_trainer_backends"]

OPENRLHF_VERSION = "0.11.2"
INSTALL = ("pip install openrlhf==0.11.2 vllm==0.29.0 "
           "(or, with this plugin: pip install './plugins/vr2-openrlhf[openrlhf]')")


def make_backend():
    """The `openrlhf` backend object (settings from the VR2_OPENRLHF_* environment)."""
    from vr2_openrlhf.backend import OpenRLHFBackend

    return OpenRLHFBackend()


@hookimpl
def vr2_trainer_backends():
    return {"openrlhf": make_backend}
