"""The `openrlhf.cli.train_ppo_ray` command line for a vr2 GRPO recipe, and what it cannot express.

GRPO in OpenRLHF 0.11.2 is its PPO trainer with `--algo.advantage.estimator group_norm`: no
critic, rewards normalised within each prompt's group of `--rollout.n_samples_per_prompt`
completions. The mapping from the recipe (paper settings in brackets):

| recipe | OpenRLHF |
|---|---|
| grpo.num_generations (8) | --rollout.n_samples_per_prompt |
| grpo.beta (0.04) | --algo.kl.init_coef, with --algo.kl.use_loss --algo.kl.estimator k3 (TRL's KL term); 0 = no reference model |
| grpo.loss_type grpo / dapo / dr_grpo | group_norm + seq-mean-token-mean / group_norm + token-mean / dr_grpo + token-mean |
| grpo.max_completion_length (1024), temperature (0.9), top_p | --rollout.max_new_tokens, --rollout.temperature, --rollout.top_p |
| grpo.top_k (50) | no flag in 0.11.2: the rollout sets it on each vLLM request (run.json `sampling`) |
| trainer.learning_rate, lr_scheduler, warmup_ratio, weight_decay | --actor.adam.lr, --actor.lr_scheduler, --actor.lr_warmup_ratio, --actor.adam.weight_decay |
| trainer.adam_beta1, adam_beta2, adam_epsilon (0.9, 0.999, 1e-8) | --actor.adam.betas (two numbers; OpenRLHF's own default is 0.9 0.95), --actor.adam.eps |
| trainer.max_grad_norm (0 = off, as the release) | --actor.max_norm (DeepSpeed's gradient_clipping; OpenRLHF's default is 1.0) |
| trainer.prompts_per_step | --rollout.batch_size (prompts per step); x n = --train.batch_size: one optimizer step per rollout, on-policy like TRL; trainer.completions_per_device = micro batches |
| trainer.epochs / max_steps | --train.num_episodes / --data.max_samples = max_steps x prompts per step |
| trainer.save_steps, output_dir | --ckpt.save_steps --ckpt.save_hf, --ckpt.path <out>/openrlhf/ckpt, --ckpt.output_dir <out>/final |
| trainer.deepspeed (a ZeRO JSON) or trainer.deepspeed_stage | --ds.zero_stage (the file's zero_optimization.stage, else the recipe's stage; 2 when neither) |
| model.freeze_vision = freeze_merger = true | --actor.freeze_visual_encoder |

Launch settings that a recipe does not hold come from `Launch` (the environment, or the
`vr2-openrlhf` command): GPUs per node, nodes, and extra OpenRLHF flags, appended last so they
override (argparse keeps the last value). Every flag is checked against OpenRLHF 0.11.2's own
argument list, so a typo fails here and not after Ray has started.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from vr2 import Vr2Error, deepspeed_stage_of

# Every option `openrlhf.cli.train_ppo_ray` 0.11.2 accepts (from its argument parser).
_ENTITY_OPTIONS = ("optim", "muon.lr", "muon.momentum", "muon.ns_steps", "muon.nesterov", "muon.no_nesterov",
                   "adam.lr", "adam.betas", "adam.eps", "adam.weight_decay", "lr_scheduler", "lr_warmup_ratio",
                   "min_lr_ratio", "max_norm")
KNOWN_FLAGS = frozenset("""
--actor.aux_loss_coef --actor.dual_clip --actor.entropy_coef --actor.eps_clip --actor.eps_clip_low_high
--actor.freeze_visual_encoder --actor.gradient_checkpointing_enable --actor.gradient_checkpointing_reentrant
--actor.loss_agg_mode --actor.model_name_or_path --actor.num_gpus_per_node --actor.num_nodes
--actor.policy_loss_type --algo.advantage.estimator --algo.advantage.gamma --algo.advantage.is_correction_gating
--algo.advantage.is_correction_level --algo.advantage.is_correction_mode --algo.advantage.is_correction_threshold
--algo.advantage.lambd --algo.advantage.no_std_norm --algo.dynamic_filtering_enable --algo.dynamic_filtering_range
--algo.kl.estimator --algo.kl.horizon --algo.kl.init_coef --algo.kl.target --algo.kl.unbiased_gradient
--algo.kl.use_loss --ckpt.best_metric_key --ckpt.disable_ds --ckpt.load_enable --ckpt.max_mem --ckpt.max_num
--ckpt.output_dir --ckpt.path --ckpt.save_hf --ckpt.save_steps --critic.freezing_steps --critic.model_name_or_path
--critic.num_gpus_per_node --critic.num_nodes --critic.save_value_network --critic.value_clip
--data.apply_chat_template --data.dataloader_num_workers --data.disable_fast_tokenizer --data.image_key
--data.input_key --data.input_template --data.label_key --data.max_images_per_prompt --data.max_len
--data.max_samples --data.prompt_dataset --data.prompt_probs --data.prompt_split --ds.adam_offload
--ds.attn_implementation --ds.deepcompile --ds.enable_sleep --ds.experts_implementation --ds.grad_accum_dtype
--ds.load_in_4bit --ds.lora.alpha --ds.lora.dropout --ds.lora.rank --ds.lora.target_modules --ds.overlap_comm
--ds.packing_samples --ds.param_dtype --ds.ring_attn_head_stride --ds.ring_attn_size --ds.tensor_parallel_size
--ds.use_liger_kernel --ds.use_universal_ckpt --ds.value_head_prefix --ds.zero_stage --ds.zpg --eval.dataset
--eval.n_samples_per_prompt --eval.split --eval.steps --eval.temperature --local_rank --logger.logging_steps
--logger.tensorboard_dir --logger.wandb.group --logger.wandb.key --logger.wandb.org --logger.wandb.project
--logger.wandb.run_name --ref.num_gpus_per_node --ref.num_nodes --ref.offload --reward.clip_range
--reward.model_name_or_path --reward.normalize_enable --reward.num_gpus_per_node --reward.num_nodes
--reward.offload --reward.overlong_buffer_len --reward.overlong_penalty_factor --reward.remote_url
--reward.stop_properly_penalty_coef --rollout.batch_size --rollout.max_new_tokens --rollout.max_tokens_per_gpu
--rollout.micro_batch_size --rollout.n_samples_per_prompt --rollout.temperature --rollout.top_p
--rollout.vllm_generate_batch_size --train.agent_func_path --train.async_enable --train.async_queue_size
--train.batch_size --train.colocate_actor_ref --train.colocate_all --train.colocate_critic_reward
--train.dynamic_batch_enable --train.ema_beta --train.enable_ema --train.full_determinism_enable
--train.max_epochs --train.max_tokens_per_gpu --train.micro_batch_size --train.num_episodes
--train.partial_rollout_enable --train.seed --use_ms --vllm.enable_prefix_caching --vllm.enable_sleep
--vllm.enforce_eager --vllm.gpu_memory_utilization --vllm.num_engines --vllm.sync_backend --vllm.sync_with_ray
--vllm.tensor_parallel_size
""".split()) | frozenset(f"--{who}.{name}" for who in ("actor", "critic") for name in _ENTITY_OPTIONS)

# Flags the backend sets for the video to reach the training forward, or rules out (an eval set would
# break the group-neutral fill's group size); extra args must not touch them.
PROTECTED_FLAGS = frozenset({"--eval.dataset", "--train.agent_func_path", "--data.prompt_dataset", "--data.input_key",
                             "--data.label_key", "--reward.remote_url", "--ds.packing_samples",
                             "--data.apply_chat_template", "--data.input_template", "--train.dynamic_batch_enable",
                             "--ds.ring_attn_size", "--data.max_images_per_prompt", "--data.image_key"})

LOSS_TYPES = {  # vr2 grpo.loss_type -> (advantage estimator, loss aggregation)
    "grpo": ("group_norm", "seq-mean-token-mean"),
    "dapo": ("group_norm", "token-mean"),
    "dr_grpo": ("dr_grpo", "token-mean"),
}
MODULE = "openrlhf.cli.train_ppo_ray"
ENV_PREFIX = "VR2_OPENRLHF_"


@dataclass(frozen=True)
class Launch:
    """Where and how to launch: what the recipe does not say."""

    gpus_per_node: int = 1
    nodes: int = 1
    gpu_memory_utilization: float = 0.6  # vLLM's share when colocated with the actor (hybrid engine)
    extra_args: tuple[str, ...] = ()
    dry_run: bool = False
    python: str = sys.executable

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Launch:
        """VR2_OPENRLHF_GPUS (default: the visible GPUs, at least 1), _NODES, _VLLM_MEMORY,
        _ARGS (extra flags, shell syntax) and _DRY_RUN (1 = write the files, print, don't run)."""
        env = os.environ if environ is None else environ
        gpus = env.get(ENV_PREFIX + "GPUS")
        return cls(
            gpus_per_node=_positive_int(gpus, ENV_PREFIX + "GPUS") if gpus else max(1, _visible_gpus()),
            nodes=_positive_int(env.get(ENV_PREFIX + "NODES", "1"), ENV_PREFIX + "NODES"),
            gpu_memory_utilization=_fraction(env.get(ENV_PREFIX + "VLLM_MEMORY", "0.6"), ENV_PREFIX + "VLLM_MEMORY"),
            extra_args=tuple(shlex.split(env.get(ENV_PREFIX + "ARGS", ""))),
            dry_run=env.get(ENV_PREFIX + "DRY_RUN", "").strip().lower() in ("1", "true", "yes"),
        )

    @property
    def gpus(self) -> int:
        return self.gpus_per_node * self.nodes


def _visible_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no torch build with CUDA: the user sets the count
        return 0


def _positive_int(text: str, name: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise Vr2Error(f"{name}: expected a whole number, got {text!r}") from None
    if value < 1:
        raise Vr2Error(f"{name}: must be >= 1, got {value}")
    return value


def _fraction(text: str, name: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise Vr2Error(f"{name}: expected a number, got {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise Vr2Error(f"{name}: must be in (0, 1], got {value}")
    return value


@dataclass(frozen=True)
class RunFiles:
    """The files of a prepared run, under `<trainer.output_dir>/openrlhf/`."""

    folder: Path

    @classmethod
    def for_recipe(cls, recipe) -> RunFiles:
        return cls(Path(os.path.abspath(recipe.trainer.output_dir)) / "openrlhf")

    @property
    def prompts(self) -> Path:
        return self.folder / "prompts.jsonl"

    @property
    def reward(self) -> Path:
        return self.folder / "reward.py"

    @property
    def agent(self) -> Path:
        return self.folder / "agent.py"

    @property
    def run(self) -> Path:
        return self.folder / "run.json"

    @property
    def recipe(self) -> Path:
        return self.folder / "recipe.toml"

    @property
    def checkpoints(self) -> Path:
        return self.folder / "ckpt"

    @property
    def log(self) -> Path:
        return self.folder / "train.log"

    @property
    def command(self) -> Path:
        return self.folder / "command.sh"

    @property
    def final(self) -> Path:
        return self.folder.parent / "final"


def zero_stage(recipe) -> int:
    """The ZeRO stage vr2's own plan gives the recipe on several GPUs (`trainer.deepspeed` file, else
    `trainer.deepspeed_stage`: 3 in the paper recipes, as the release ran); 2, OpenRLHF's default, when
    the recipe asks for none (OpenRLHF always runs DeepSpeed)."""
    stage, _ = deepspeed_stage_of(recipe, world_size=2)
    return stage or 2


def param_dtype(recipe) -> str:
    """bf16 or fp16 (OpenRLHF trains in one of the two)."""
    by_precision = {"auto": None, "bf16": "bf16", "fp16": "fp16"}
    by_dtype = {"auto": None, "bfloat16": "bf16", "float16": "fp16"}
    if recipe.trainer.precision not in by_precision:
        raise Vr2Error(f"{recipe.source}: trainer.precision = \"{recipe.trainer.precision}\": OpenRLHF 0.11.2 "
                       "trains in bf16 or fp16 only")
    if recipe.model.dtype not in by_dtype:
        raise Vr2Error(f"{recipe.source}: model.dtype = \"{recipe.model.dtype}\": OpenRLHF 0.11.2 loads the "
                       "policy in bf16 or fp16 only")
    a, b = by_precision[recipe.trainer.precision], by_dtype[recipe.model.dtype]
    if a and b and a != b:
        raise Vr2Error(f"{recipe.source}: trainer.precision ({a}) and model.dtype ({b}) disagree")
    return a or b or "bf16"


@dataclass(frozen=True)
class Batches:
    rollout: int  # prompts per step
    train: int  # completions per optimizer step
    micro: int  # completions per GPU forward


def batches(recipe, launch: Launch) -> Batches:
    """Prompts per step as the recipe says (trainer.prompts_per_step, all GPUs together)."""
    t, n = recipe.trainer, recipe.grpo.num_generations
    return Batches(rollout=t.prompts_per_step, train=t.prompts_per_step * n, micro=t.completions_per_device)


def episodes_and_limit(recipe, prompts_per_step: int) -> tuple[int, int | None]:
    """(--train.num_episodes, --data.max_samples or None) from trainer.epochs / max_steps."""
    t = recipe.trainer
    if t.max_steps and t.max_steps > 0:
        return 1, t.max_steps * prompts_per_step
    if t.epochs < 1 or t.epochs != int(t.epochs):
        raise Vr2Error(f"{recipe.source}: trainer.epochs = {t.epochs}: OpenRLHF runs whole passes over the "
                       "prompts; use a whole number, or trainer.max_steps")
    return int(t.epochs), None


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def build_command(recipe, files: RunFiles, launch: Launch, *, max_len: int, resume: bool) -> list[str]:
    """The full argv: python -m openrlhf.cli.train_ppo_ray --flag value ..."""
    g, t, m = recipe.grpo, recipe.trainer, recipe.model
    estimator, aggregation = LOSS_TYPES[g.loss_type]
    sizes = batches(recipe, launch)
    episodes, limit = episodes_and_limit(recipe, sizes.rollout)
    args: list[str] = [
        "--actor.model_name_or_path", model_path(m.name_or_path),
        "--actor.num_nodes", str(launch.nodes), "--actor.num_gpus_per_node", str(launch.gpus_per_node),
        "--ref.num_nodes", str(launch.nodes), "--ref.num_gpus_per_node", str(launch.gpus_per_node),
        "--vllm.num_engines", str(launch.gpus), "--vllm.tensor_parallel_size", "1",
        "--vllm.gpu_memory_utilization", _number(launch.gpu_memory_utilization),
        "--train.colocate_all", "--vllm.enable_sleep", "--ds.enable_sleep",
        "--train.agent_func_path", str(files.agent),
        "--data.prompt_dataset", str(files.prompts),
        "--data.input_key", "prompt", "--data.label_key", "label",
        "--data.max_len", str(max_len),
        "--algo.advantage.estimator", estimator, "--actor.loss_agg_mode", aggregation,
        "--rollout.n_samples_per_prompt", str(g.num_generations),
        "--rollout.max_new_tokens", str(g.max_completion_length),
        "--rollout.temperature", _number(g.temperature), "--rollout.top_p", _number(g.top_p),
        "--rollout.batch_size", str(sizes.rollout), "--rollout.micro_batch_size", str(sizes.micro),
        "--train.batch_size", str(sizes.train), "--train.micro_batch_size", str(sizes.micro),
        "--train.max_epochs", "1", "--train.num_episodes", str(episodes), "--train.seed", str(t.seed),
        "--algo.kl.init_coef", _number(g.beta),
        "--actor.adam.lr", _number(t.learning_rate), "--actor.adam.weight_decay", _number(t.weight_decay),
        "--actor.adam.betas", _number(t.adam_beta1), _number(t.adam_beta2), "--actor.adam.eps", _number(t.adam_epsilon),
        "--actor.max_norm", _number(t.max_grad_norm),
        "--actor.lr_scheduler", t.lr_scheduler, "--actor.lr_warmup_ratio", _number(t.warmup_ratio),
        "--ds.zero_stage", str(zero_stage(recipe)), "--ds.param_dtype", param_dtype(recipe),
        "--ds.attn_implementation", m.attn_implementation,
        "--ckpt.path", str(files.checkpoints), "--ckpt.output_dir", str(files.final),
        "--ckpt.save_steps", str(t.save_steps), "--ckpt.save_hf",
        "--logger.logging_steps", str(t.logging_steps),
    ]
    if g.beta > 0:
        args += ["--algo.kl.use_loss", "--algo.kl.estimator", "k3"]
    if limit is not None:
        args += ["--data.max_samples", str(limit)]
    if m.freeze_vision and m.freeze_merger:
        args.append("--actor.freeze_visual_encoder")
    if t.gradient_checkpointing:
        args.append("--actor.gradient_checkpointing_enable")
    if t.report_to == "tensorboard":
        args += ["--logger.tensorboard_dir", str(files.folder / "tensorboard")]
    if resume:
        args.append("--ckpt.load_enable")
    check_flags(args, source="vr2-openrlhf")
    check_extra_args(launch.extra_args)
    return [launch.python, "-m", MODULE, *args, *launch.extra_args]


def model_path(name: str) -> str:
    """A local model folder as an absolute path (Ray workers start elsewhere); a hub id as is."""
    return os.path.abspath(name) if Path(name).exists() else name


def flags_of(args: Sequence[str]) -> list[str]:
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]


def check_flags(args: Sequence[str], *, source: str) -> None:
    unknown = [flag for flag in flags_of(args) if flag not in KNOWN_FLAGS]
    if unknown:
        raise Vr2Error(f"{source}: {', '.join(unknown)}: not an option of openrlhf 0.11.2's train_ppo_ray")


def check_extra_args(args: Sequence[str]) -> None:
    """Extra flags must exist and must not take the video out of the loop."""
    source = ENV_PREFIX + "ARGS"
    check_flags(args, source=source)
    touched = sorted(set(flags_of(args)) & PROTECTED_FLAGS)
    if touched:
        raise Vr2Error(f"{source}: {', '.join(touched)} is set or ruled out by vr2-openrlhf (the video rollout, "
                       "its data, its reward groups and the unpacked VLM forward depend on it)")


def format_command(argv: Sequence[str]) -> str:
    """The command as shell text, one flag per line."""
    lines, current = [], [shlex.quote(argv[0]), *map(shlex.quote, argv[1:3])]
    for arg in argv[3:]:
        if arg.startswith("--"):
            lines.append(" ".join(current))
            current = [arg]
        else:
            current.append(shlex.quote(arg))
    lines.append(" ".join(current))
    return " \\\n    ".join(lines)
