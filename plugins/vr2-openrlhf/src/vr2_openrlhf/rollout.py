"""The rollout OpenRLHF runs for vr2 (`--train.agent_func_path agent.py`): video in, scored text out.

OpenRLHF 0.11.2 feeds images only: its default rollout never decodes a video, and its training
forward gets only what a rollout returns as `mm_train_inputs`. This rollout closes both gaps for
one (prompt, label) at a time, inside a vLLM actor:

1. Video. The label names the video and the recipe's [video] settings; the frames are sampled
   and stamped by `vr2.video.sampling` (via `vr2.train.collate.sample_frames`, the TRL backend's code) and the
   prompt is encoded by `vr2.model.runtime.prepare_inputs`, the one place that decides model inputs.
   The n completions of a prompt share one decode (`PromptCache`).
2. Generation. vLLM gets the prompt ids with the video placeholder collapsed to one token and
   `multi_modal_data={"video": (frames, {fps, duration, total_num_frames, frames_indices,
   do_sample_frames: False})}`, so it neither re-samples the frames nor loses their times. The
   prompt ids vLLM reports back must match the processor's expansion, or the rollout stops.
3. Training forward. The response's `observation_tokens` hold the processor's prompt ids (video
   expanded) + the completion, and `mm_train_inputs` holds `pixel_values_videos`,
   `video_grid_thw` and `second_per_grid_ts`. OpenRLHF concatenates these per batch and passes
   them to the policy's, the reference's and the old-policy log-prob forwards. Its
   `Actor.forward` rebuilds the token types (2 = video) but files them under
   `mm_token_type_ids` (which Qwen2.5-VL needs for its 3-D rotary positions) only when
   `image_grid_thw` is among the inputs; without it the positions silently fall back to 1-D.
   So the rollout adds an empty `image_grid_thw` (0 x 3): no image is described, and the video
   positions come out exactly as in vr2's own forward (tested against that forward).
4. Reward. The completion is scored by the run's reward.py (vr2's reward functions); a masked
   completion gets the group-neutral reward (`GroupFill`). Generated vision tokens (which would
   have no pixels behind them in the training forward) end the completion there.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from vr2 import Vr2Error

VIDEO_TOKEN = "<|video_pad|>"
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")
VIDEO_KEYS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
# OpenRLHF 0.11.2 Actor.forward: token types go to `mm_token_type_ids` only if this key is present.
POSITION_KEY = "image_grid_thw"


def video_request(video: Any) -> tuple[Any, dict]:
    """`(frames, metadata)` for vLLM's `multi_modal_data["video"]`: `SampledVideo.vllm_input()`,
    the same request the vLLM eval engine sends."""
    return video.vllm_input()


def collapse_video_tokens(ids: Sequence[int], video_token_id: int) -> list[int]:
    """Prompt ids with each run of video placeholders cut to one (vLLM expands it itself)."""
    out: list[int] = []
    for token in ids:
        if token == video_token_id and out and out[-1] == video_token_id:
            continue
        out.append(int(token))
    return out


def training_inputs(inputs: dict) -> dict:
    """The processor's video tensors for OpenRLHF's training forward, plus the empty image grid."""
    import torch

    missing = [key for key in VIDEO_KEYS if key not in inputs]
    if missing:
        raise Vr2Error(f"processor: no {', '.join(missing)} in its output; is this a Qwen2.5-VL processor?")
    out = {key: inputs[key].detach().cpu() for key in VIDEO_KEYS}
    out[POSITION_KEY] = torch.zeros((0, 3), dtype=torch.long)
    return out


@dataclass
class PreparedPrompt:
    """One prompt ready for vLLM and for the training forward (shared by its n completions)."""

    prompt_ids: list[int]  # the processor's ids, video expanded: what the training forward sees
    vllm_ids: list[int]  # the same with the video placeholder collapsed to one token
    video: tuple[Any, dict]  # vLLM's (frames, metadata)
    mm_train_inputs: dict
    video_tokens: int


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def token_id(processor: Any, token: str) -> int:
    tokenizer = _tokenizer(processor)
    value = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(value, int) or value == tokenizer.unk_token_id:
        raise Vr2Error(f"processor: the tokenizer has no {token} token; is this a Qwen2.5-VL model?")
    return value


def prepare_prompt(processor: Any, prompt: str, label: dict) -> PreparedPrompt:
    """Sample the label's video and encode the prompt with it (blocking: decoding, processor)."""
    from vr2 import sample_frames
    from vr2 import LoadedModel, prepare_inputs, training_prompt

    from vr2_openrlhf.data import prompt_for, sample_from_label, settings_from_label

    sample = sample_from_label(label)
    style = label["prompt_style"]
    if prompt_for(processor, sample, style) != prompt:
        raise Vr2Error(f"prompts.jsonl row {label['index']} (id {label['id']}): the prompt is not vr2's prompt for "
                       "this model; run the backend again to rewrite the data")
    video = sample_frames(sample, settings_from_label(label))
    inputs = prepare_inputs(LoadedModel(model=None, processor=processor, device="cpu"), video,
                            *training_prompt(sample, style, "grpo"))
    prompt_ids = [int(t) for t in inputs["input_ids"][0].tolist()]
    video_id = token_id(processor, VIDEO_TOKEN)
    return PreparedPrompt(
        prompt_ids=prompt_ids, vllm_ids=collapse_video_tokens(prompt_ids, video_id), video=video_request(video),
        mm_train_inputs=training_inputs(inputs), video_tokens=prompt_ids.count(video_id),
    )


def check_expansion(reported: Sequence[int] | None, prepared: PreparedPrompt) -> None:
    """vLLM's prompt ids must be ours (expanded) or what we sent; otherwise the video tokens that
    generation saw differ from those the training forward will see."""
    if reported is None:
        return
    reported = [int(t) for t in reported]
    if reported in (prepared.prompt_ids, prepared.vllm_ids):
        return
    raise Vr2Error(
        f"vLLM's prompt has {len(reported)} tokens, the processor's {len(prepared.prompt_ids)} "
        f"({prepared.video_tokens} video tokens): vLLM resized or re-sampled the video differently; "
        "check that vLLM and transformers load the same processor settings"
    )


def cut_at_vision_token(tokens: Sequence[int], vision_ids: set[int]) -> tuple[list[int], bool]:
    """Generated ids up to (not including) the first vision token, and whether one was cut."""
    tokens = [int(t) for t in tokens]
    for position, token in enumerate(tokens):
        if token in vision_ids:
            return tokens[:position], True
    return tokens, False


class PromptCache:
    """One decode per prompt group: the first completion builds, the other n - 1 wait for it."""

    def __init__(self, uses: int, limit: int = 512):
        self.uses = max(1, int(uses))
        self.limit = limit
        self._entries: OrderedDict[Any, list] = OrderedDict()  # key -> [task, uses left]

    async def get(self, key: Any, build: Callable[[], PreparedPrompt]) -> PreparedPrompt:
        entry = self._entries.get(key)
        if entry is None:
            entry = [asyncio.ensure_future(asyncio.to_thread(build)), self.uses]
            self._entries[key] = entry
            while len(self._entries) > self.limit:  # a group that never completed must not leak
                self._entries.popitem(last=False)
        entry[1] -= 1
        if entry[1] <= 0:
            self._entries.pop(key, None)
        return await entry[0]


_FAILED = object()


@dataclass
class _Group:
    values: list = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def neutral(self) -> float:
        scored = [v for v in self.values if isinstance(v, float)]
        return sum(scored) / len(scored) if scored else 0.0


class GroupFill:
    """The group-neutral reward for masked completions.

    GRPO's advantage is (r - mean) / std over the n completions of a prompt. A masked completion
    (its reward could not be computed) gets the mean reward of the group's unmasked completions,
    which leaves the group mean where it was and gives it an advantage of exactly 0: it teaches
    nothing, and nothing false. If every completion is masked they all get 0, a constant, which
    is neutral too. Unmasked completions return at once; a masked one waits for the rest of its
    group (the n completions of a prompt run concurrently in one vLLM actor).
    """

    def __init__(self, size: int, timeout_s: float = 1800.0):
        if size < 1:
            raise Vr2Error(f"group size must be >= 1, got {size}")
        self.size = int(size)
        self.timeout_s = float(timeout_s)
        self._open: dict[Any, list[_Group]] = {}

    def _join(self, key: Any, value: Any) -> _Group:
        groups = self._open.setdefault(key, [])
        if not groups:
            groups.append(_Group())
        group = groups[0]
        group.values.append(value)
        if len(group.values) >= self.size:
            group.done.set()
            groups.pop(0)
            if not groups:
                del self._open[key]
        return group

    async def settle(self, key: Any, reward: float | None) -> tuple[float, bool]:
        """(reward to use, whether it was filled) for one completion of the group `key`."""
        group = self._join(key, None if reward is None else float(reward))
        if reward is not None:
            return float(reward), False
        try:
            await asyncio.wait_for(group.done.wait(), self.timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            raise Vr2Error(
                f"vr2 rollout: a masked completion waited {self.timeout_s:.0f} s for the other "
                f"{self.size - 1} completions of its prompt; is rollout.n_samples_per_prompt "
                f"{self.size} (grpo.num_generations)?"
            ) from None
        return group.neutral(), True

    def abandon(self, key: Any) -> None:
        """A completion that failed still counts as a member, so its group can close."""
        self._join(key, _FAILED)


def vllm_top_k(top_k: int) -> int:
    """grpo.top_k as vLLM's SamplingParams.top_k: 0 (no limit) is vLLM's -1."""
    return int(top_k) if top_k and top_k > 0 else -1


def load_reward_func(path: str | Path) -> Callable:
    """`reward_func` from a reward file, loaded the way OpenRLHF loads one."""
    spec = importlib.util.spec_from_file_location("vr2_openrlhf_reward_file", str(path))
    if spec is None or spec.loader is None:
        raise Vr2Error(f"{path}: cannot load the reward file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "reward_func", None)):
        raise Vr2Error(f"{path}: defines no reward_func(queries, prompts, labels)")
    return module.reward_func


def _scalar(value: Any) -> float:
    if hasattr(value, "flatten"):
        return float(value.flatten()[0].item())
    if isinstance(value, (list, tuple)):
        return float(value[0])
    return float(value)


class VideoRollout:
    """What agent.py's AgentExecutor does for each of the n completions of a prompt."""

    def __init__(self, run_file: str | Path):
        from vr2_openrlhf.rewards import read_run

        run = read_run(run_file)
        self.reward_func = load_reward_func(run["reward_file"])
        self.group_size = int(run["group_size"])
        self.ban_vision_tokens = bool(run.get("ban_vision_tokens", True))
        self.top_k = vllm_top_k(run["sampling"]["top_k"])
        self.cache = PromptCache(self.group_size)
        self.groups = GroupFill(self.group_size, float(run.get("fill_timeout_s", 1800.0)))

    async def execute(self, prompt: str, label: str, sampling_params: Any, max_length: int,
                      hf_tokenizer: Any, llm_engine: Any, images: Any = None) -> dict:
        key = (prompt, label)
        try:
            return await self._execute(key, prompt, label, sampling_params, max_length, hf_tokenizer, llm_engine)
        except BaseException:
            self.groups.abandon(key)
            raise

    async def _execute(self, key, prompt, label, sampling_params, max_length, processor, llm_engine) -> dict:
        from vr2_openrlhf.data import decode_label

        label_data = decode_label(label)
        prepared = await self.cache.get(key, lambda: prepare_prompt(processor, prompt, label_data))
        vision_ids = {token_id(processor, token) for token in VISION_TOKENS}
        params = self._sampling(sampling_params, max_length, len(prepared.prompt_ids), vision_ids)
        output = await llm_engine.generate(prepared.vllm_ids, params, multi_modal_data={"video": prepared.video})
        check_expansion(getattr(output, "prompt_token_ids", None), prepared)
        generated = output.outputs[0]
        action, cut = cut_at_vision_token(generated.token_ids, vision_ids)
        query = prompt + processor.decode(action, skip_special_tokens=False)
        info = await asyncio.to_thread(self.reward_func, [query], [prompt], [label])
        logs = {name: _scalar(value) for name, value in (info.get("extra_logs") or {}).items()}
        masked = logs.get("vr2/masked", 0.0) >= 0.5
        reward, filled = await self.groups.settle(key, None if masked else _scalar(info["rewards"]))
        logs["vr2/filled"] = float(filled)
        logs["vr2/vision_token_cut"] = float(cut)
        observation = prepared.prompt_ids + action
        return {
            "prompt": prompt,
            "label": label,
            "images": None,
            "mm_train_inputs": prepared.mm_train_inputs,
            "observation_tokens": observation,
            "action_ranges": [(len(prepared.prompt_ids), len(observation))],
            "rollout_log_probs": self._log_probs(params, generated, action, len(prepared.prompt_ids)),
            "truncated": generated.finish_reason == "length" or cut,
            "reward": reward,
            "scores": reward,
            "extra_logs": logs,
        }

    def _sampling(self, sampling_params: Any, max_length: int, prompt_length: int, vision_ids: set[int]) -> Any:
        budget = int(max_length) - prompt_length
        if budget < 1:
            raise Vr2Error(f"data.max_len={max_length} leaves no room to generate after a {prompt_length}-token "
                           "prompt; the [video] settings grew since the data was written? run the backend again")
        params = copy.deepcopy(sampling_params)
        params.max_tokens = budget if params.max_tokens is None else min(int(params.max_tokens), budget)
        params.top_k = self.top_k  # OpenRLHF builds its SamplingParams with top_k -1 (no limit)
        if self.ban_vision_tokens and hasattr(params, "logit_bias"):
            params.logit_bias = {**(params.logit_bias or {}), **{i: -100.0 for i in sorted(vision_ids)}}
        return params

    @staticmethod
    def _log_probs(params: Any, generated: Any, action: list[int], prompt_length: int) -> list[float] | None:
        if getattr(params, "logprobs", None) is None or not getattr(generated, "logprobs", None):
            return None
        values = [0.0] * prompt_length
        for token, options in zip(action, generated.logprobs):
            entry = options.get(token) if options else None
            values.append(float(entry.logprob) if entry is not None else 0.0)
        return values
