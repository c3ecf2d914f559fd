"""The `openrlhf` trainer backend: checks a GRPO recipe, writes the run's files, launches OpenRLHF.

`grpo(recipe, resume=...)`:
1. refuses what OpenRLHF 0.11.2 cannot do as the recipe says (`check_recipe`), before any work;
2. without a dry run, requires openrlhf 0.11.2 exactly: the video path through its training
   forward (`vr2_openrlhf.rollout`) was verified against that version's `Actor.forward`, and
   another version could silently train on video-less log-probs;
3. converts the training data (`vr2.train.data.load_samples`, bad rows reported) into
   `prompts.jsonl`, writes `run.json`, `recipe.toml`, `reward.py`, `agent.py`, `command.sh`;
4. runs `python -m openrlhf.cli.train_ppo_ray ...`, streaming its output to the terminal and to
   `train.log`; returns `<trainer.output_dir>/final` (OpenRLHF's `--ckpt.output_dir`).
With a dry run (`VR2_OPENRLHF_DRY_RUN=1`, or `vr2-openrlhf RECIPE --dry-run`) step 4 only prints.

`sft` is refused: OpenRLHF 0.11.2's SFT trainer reads text only, so the video would not be
learned from; vr2's `trl` backend does SFT with the video.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from vr2 import MissingExtra, Vr2Error, first_line, stderr_console

from vr2_openrlhf import INSTALL, OPENRLHF_VERSION
from vr2_openrlhf.command import (
    LOSS_TYPES, Launch, RunFiles, batches, build_command, episodes_and_limit, format_command, param_dtype, zero_stage,
)

RUN_FORMAT = "vr2-openrlhf-run/2"  # 2: adds `sampling`

REWARD_FILE = '''"""vr2's rewards in OpenRLHF's reward-file form. Written by vr2-openrlhf for this run; rewritten on
every launch, so edit the recipe instead. OpenRLHF's contract: `reward_func(queries, prompts, labels)`
-> {"rewards", "scores", "extra_logs"}. The scoring is vr2_openrlhf.rewards (vr2's own reward
functions with the recipe in recipe.toml, named by run.json)."""

from pathlib import Path

RUN_FILE = Path(__file__).with_name("run.json")


def reward_func(queries, prompts, labels, **kwargs):
    from vr2_openrlhf.rewards import computer_for

    return computer_for(RUN_FILE).openrlhf_result(queries, prompts, labels)
'''

AGENT_FILE = '''"""vr2's video rollout for OpenRLHF (--train.agent_func_path). Written by vr2-openrlhf for this run.

Samples each prompt's video with vr2, generates with vLLM from the frames and their timing
metadata, scores with reward.py, and returns the video tensors OpenRLHF's training forward needs.
See vr2_openrlhf.rollout."""

from pathlib import Path

from openrlhf.utils.agent import AgentExecutorBase

from vr2_openrlhf.rollout import VideoRollout

RUN_FILE = Path(__file__).with_name("run.json")


class AgentExecutor(AgentExecutorBase):
    def __init__(self):
        self.rollout = VideoRollout(RUN_FILE)

    async def execute(self, prompt, label, sampling_params, max_length, hf_tokenizer, llm_engine, images=None):
        return await self.rollout.execute(prompt, label, sampling_params, max_length, hf_tokenizer, llm_engine,
                                          images=images)
'''


def check_recipe(recipe) -> None:
    """Refuse, with the reason, any recipe OpenRLHF 0.11.2 would not train as written."""
    src, m = recipe.source, recipe.model
    if m.freeze_llm:
        raise Vr2Error(f"{src}: model.freeze_llm = true: OpenRLHF 0.11.2 always trains the language model; "
                       "use trainer.backend = \"trl\"")
    if m.freeze_vision != m.freeze_merger:
        raise Vr2Error(f"{src}: model.freeze_vision = {str(m.freeze_vision).lower()} but model.freeze_merger = "
                       f"{str(m.freeze_merger).lower()}: OpenRLHF 0.11.2 freezes the vision tower and the merger "
                       "together (--actor.freeze_visual_encoder) or neither; use trainer.backend = \"trl\"")
    if recipe.lora.enabled:
        raise Vr2Error(f"{src}: lora.enabled = true: OpenRLHF 0.11.2 syncs weights to vLLM by parameter name "
                       "and its LoRA adapters would also land on the vision tower's MLPs; the paper's GRPO trains "
                       "the full language model (lora.enabled = false), or use trainer.backend = \"trl\"")
    if recipe.grpo.loss_type not in LOSS_TYPES:
        raise Vr2Error(f"{src}: grpo.loss_type = \"{recipe.grpo.loss_type}\" has no OpenRLHF 0.11.2 equivalent "
                       f"(supported: {', '.join(LOSS_TYPES)})")
    if recipe.trainer.use_cpu or m.device == "cpu":
        raise Vr2Error(f"{src}: trainer.use_cpu / model.device = \"cpu\": OpenRLHF trains on GPUs only (Ray, "
                       "vLLM, DeepSpeed); use trainer.backend = \"trl\" on a CPU")
    if recipe.trainer.report_to not in ("none", "tensorboard"):
        raise Vr2Error(f"{src}: trainer.report_to = \"{recipe.trainer.report_to}\": the openrlhf backend logs to "
                       "tensorboard (or none); pass --logger.wandb.* in VR2_OPENRLHF_ARGS for wandb")
    from vr2 import reward_weights

    if not reward_weights(recipe):
        raise Vr2Error(f"{src}: every reward weight is 0; nothing to learn (weight one in [rewards])")
    if not recipe.data.train_file:
        raise Vr2Error(f"{src}: data.train_file is not set")
    param_dtype(recipe)
    zero_stage(recipe)
    episodes_and_limit(recipe, 1)


def require_openrlhf() -> str:
    """The installed openrlhf version, which must be the verified one; else MissingExtra/Vr2Error."""
    if importlib.util.find_spec("openrlhf") is None:
        raise MissingExtra("openrlhf", INSTALL)
    try:
        version = importlib.metadata.version("openrlhf")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if version != OPENRLHF_VERSION:
        raise Vr2Error(
            f"openrlhf {version} is installed; vr2-openrlhf needs openrlhf {OPENRLHF_VERSION}, the version whose "
            "training forward it was verified to give the video to (another version could train on log-probs "
            f"without the video): pip install openrlhf=={OPENRLHF_VERSION}"
        )
    return version


def check_checkpoints(files: RunFiles, resume: bool) -> None:
    """`--resume` needs OpenRLHF's checkpoint; a fresh start must not mix with an earlier run."""
    saved = files.checkpoints / "_actor"
    has_checkpoint = saved.is_dir() and any(saved.iterdir())
    if resume and not has_checkpoint:
        raise Vr2Error(f"{files.checkpoints}: no OpenRLHF checkpoint to resume from (trainer.output_dir)")
    if not resume and has_checkpoint:
        raise Vr2Error(f"{files.checkpoints}: already holds checkpoints of an earlier run; pass --resume to "
                       "continue it or set trainer.output_dir to a new folder")


def load_processor(name: str):
    """The model's processor (chat template, tokenizer, video processor); errors name the model."""
    from transformers import AutoConfig, AutoProcessor

    try:
        config = AutoConfig.from_pretrained(name)
        processor = AutoProcessor.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise Vr2Error(f"{name}: could not load the model's config/processor ({first_line(exc)})") from None
    if getattr(config, "video_token_id", None) is None or getattr(config, "vision_config", None) is None:
        raise Vr2Error(f"{name}: not a video model with a video token (model.name_or_path must be Qwen2.5-VL-style)")
    if not hasattr(processor, "video_processor"):
        raise Vr2Error(f"{name}: the processor has no video processor")
    return processor


@dataclass
class Plan:
    """A prepared run: its files and the command that trains it."""

    files: RunFiles
    command: list[str]
    rows: int
    max_len: int


def write_run_files(recipe, files: RunFiles, *, fill_timeout_s: float = 1800.0) -> None:
    """recipe.toml (the resolved recipe), run.json, reward.py and agent.py."""
    from vr2 import dump_toml

    files.folder.mkdir(parents=True, exist_ok=True)
    files.recipe.write_text(dump_toml(recipe), encoding="utf-8")
    run = {
        "format": RUN_FORMAT,
        "recipe": str(files.recipe),
        "reward_file": str(files.reward),
        "group_size": recipe.grpo.num_generations,
        "fill_timeout_s": fill_timeout_s,
        "ban_vision_tokens": True,
        # Sampling settings OpenRLHF 0.11.2 has no flag for; the rollout sets them on every vLLM request.
        "sampling": {"top_k": recipe.grpo.top_k},
    }
    files.run.write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    files.reward.write_text(REWARD_FILE, encoding="utf-8")
    files.agent.write_text(AGENT_FILE, encoding="utf-8")


def prepare(recipe, launch: Launch, *, resume: bool = False) -> Plan:
    """Steps 1-3 of the module docstring; returns the plan (nothing is launched)."""
    from vr2 import dump_toml
    from vr2 import load_samples

    from vr2_openrlhf.data import prompt_rows, sequence_budget, write_prompts

    check_recipe(recipe)
    if not launch.dry_run:
        require_openrlhf()
    files = RunFiles.for_recipe(recipe)
    check_checkpoints(files, resume)
    processor = load_processor(recipe.model.name_or_path)
    samples = load_samples(recipe)
    per_step = batches(recipe, launch).rollout
    if len(samples) < per_step:
        raise Vr2Error(f"{recipe.data.train_file}: {len(samples)} prompts, fewer than the {per_step} one step takes "
                       f"(trainer.prompts_per_step); "
                       "OpenRLHF would train 0 steps")
    conversion = write_prompts(files.prompts, prompt_rows(processor, samples, recipe.video, recipe.prompt.style),
                               processor.tokenizer)
    max_len = sequence_budget(conversion, recipe.video, recipe.grpo.max_completion_length)
    write_run_files(recipe, files)
    (files.folder.parent / "recipe.toml").write_text(dump_toml(recipe), encoding="utf-8")
    command = build_command(recipe, files, launch, max_len=max_len, resume=resume)
    files.command.write_text("#!/bin/sh\n" + format_command(command) + "\n", encoding="utf-8")
    return Plan(files, command, conversion.rows, max_len)


def run_command(argv: Sequence[str], log: Path, *, env: dict | None = None) -> None:
    """Run a command, streaming its output line by line to stdout and to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    try:
        process = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   bufsize=1, env=environ)
    except OSError as exc:
        raise Vr2Error(f"{argv[0]}: cannot start ({exc.strerror or exc})") from None
    with log.open("a", encoding="utf-8") as out:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            out.write(line)
    code = process.wait()
    if code != 0:
        raise Vr2Error(f"{' '.join(argv[1:3])} exited with code {code}; its output is in {log}")


class OpenRLHFBackend:
    """`openrlhf`: GRPO on OpenRLHF 0.11.2 (Ray + vLLM + DeepSpeed) with the video everywhere."""

    name = "openrlhf"

    def __init__(self, launch: Launch | None = None):
        self._launch = launch

    @property
    def launch(self) -> Launch:
        return self._launch if self._launch is not None else Launch.from_env()

    def sft(self, recipe, *, resume: bool = False) -> Path:
        raise Vr2Error(f"{recipe.source}: trainer.backend = \"openrlhf\" runs GRPO only: OpenRLHF 0.11.2's SFT "
                       "trainer reads text, so SFT would learn without the video; run SFT with "
                       "trainer.backend = \"trl\" (the default)")

    def prepare(self, recipe, *, resume: bool = False) -> Plan:
        return prepare(recipe, self.launch, resume=resume)

    def grpo(self, recipe, *, resume: bool = False) -> Path:
        launch = self.launch
        plan = prepare(recipe, launch, resume=resume)
        console = stderr_console()
        console.print(f"{plan.files.prompts}: {plan.rows} prompts; data.max_len {plan.max_len}", highlight=False)
        if launch.dry_run:
            print(format_command(plan.command))
            console.print(f"dry run: nothing launched; the command is in {plan.files.command}", highlight=False)
            return plan.files.folder
        run_command(plan.command, plan.files.log)
        return plan.files.final
