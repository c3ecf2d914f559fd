"""vLLM fast path for `vr2 eval`: the same prompts, frames and decoding as vr2's transformers path.

The glue is plain data and is importable (and tested) without vLLM:
- `build_request` turns one (sampled video, question, options) into the dict `vllm.LLM.generate`
  takes: the chat-formatted prompt (vr2's prompt through the model's own chat template, with a
  single video placeholder that vLLM expands) and `multi_modal_data["video"]` as
  `(frames, metadata)`. The metadata (`fps`, `duration`, `total_num_frames`, `frames_indices`,
  `do_sample_frames=False`) is what Qwen2.5-VL's processor needs to keep vr2's sampling and the
  real frame times; a bare frame array would be re-sampled at a guessed rate.
- `sampling_kwargs` is the decoding: greedy at temperature 0, top-p 1, no repetition penalty
  (the checkpoint's own sampling defaults are not used), `max_new_tokens`.

Only `VllmEngine` (and `sampling_params`) import vllm, lazily; without it they raise
`vr2.errors.MissingExtra` naming the install command.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from typing import Any

from vr2 import MissingExtra, Vr2Error
from vr2 import hookimpl

__all__ = ["VllmEngine", "VllmEvalEngine", "make_engine", "build_request", "sampling_kwargs", "sampling_params", "video_input",
           "require_vllm", "pin_gpu", "keep_out_of_the_launchers_group", "INSTALL"]

INSTALL = "pip install vllm (or, from a vr2 checkout: pip install ./plugins/vr2-vllm)"


def require_vllm():
    """The vllm module, or MissingExtra naming the install command."""
    try:
        import vllm
    except ImportError as exc:
        raise MissingExtra("vllm", INSTALL) from exc
    return vllm


def video_input(video: Any) -> tuple[Any, dict]:
    """`(frames, metadata)` for `multi_modal_data["video"]`: `SampledVideo.vllm_input()`."""
    return video.vllm_input()


def build_request(processor: Any, video: Any, question: str, options: Sequence[str] | None = None,
                  *, mode: str = "think") -> dict:
    """One `vllm.LLM.generate` input: `{"prompt": ..., "multi_modal_data": {"video": ...}}`."""
    from vr2 import LoadedModel, prompt_text

    # prompt_text only needs the processor's chat template: the same prompt as generate_batch.
    prompt = prompt_text(LoadedModel(model=None, processor=processor, device="cpu"), question,
                         options, mode)
    if prompt.count("<|video_pad|>") != 1:
        raise Vr2Error("prompt: expected exactly one video placeholder in the chat template's output")
    return {"prompt": prompt, "multi_modal_data": {"video": video_input(video)}}


def sampling_kwargs(*, max_new_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0,
                    seed: int = 0) -> dict:
    """Keyword arguments for `vllm.SamplingParams` (greedy when temperature == 0)."""
    if max_new_tokens < 1:
        raise Vr2Error(f"max_new_tokens: must be >= 1, got {max_new_tokens}")
    if temperature < 0:
        raise Vr2Error(f"temperature: must be >= 0, got {temperature}")
    return {
        "max_tokens": int(max_new_tokens),
        "temperature": float(temperature),
        "top_p": float(top_p) if temperature > 0 else 1.0,
        "repetition_penalty": 1.0,
        "seed": int(seed),
        "skip_special_tokens": True,
    }


def sampling_params(**kwargs: Any):
    """A `vllm.SamplingParams` from `sampling_kwargs(**kwargs)`."""
    return require_vllm().SamplingParams(**sampling_kwargs(**kwargs))


class VllmEngine:
    """Generates answers with `vllm.LLM`; one `generate` call per batch of samples.

    `vas_attn` is not available (vLLM exposes no attention weights).
    """

    name = "vllm"
    supports_vas_attn = False

    def __init__(self, model: str, *, dtype: str = "auto", seed: int = 0,
                 max_model_len: int | None = None, gpu_memory_utilization: float = 0.9,
                 **llm_options: Any):
        vllm = require_vllm()
        from transformers import AutoProcessor

        self.processor = AutoProcessor.from_pretrained(model)
        options = {"model": model, "dtype": dtype, "seed": seed,
                   "gpu_memory_utilization": gpu_memory_utilization,
                   "limit_mm_per_prompt": {"video": 1}, **llm_options}
        if max_model_len:
            options["max_model_len"] = max_model_len
        self.llm = vllm.LLM(**options)

    def generate(self, items: Sequence[tuple[Any, str, Sequence[str] | None]], *,
                 max_new_tokens: int = 1024, temperature: float = 0.0, top_p: float = 1.0,
                 seed: int = 0, mode: str = "think") -> list[str]:
        """Texts for (video, question, options) items, in order."""
        requests = [build_request(self.processor, video, question, options, mode=mode)
                    for video, question, options in items]
        params = sampling_params(max_new_tokens=max_new_tokens, temperature=temperature,
                                 top_p=top_p, seed=seed)
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [output.outputs[0].text for output in outputs]


def pin_gpu(device: str, environ: MutableMapping[str, str] = os.environ) -> str | None:
    """Make GPU `N` of `device` ("cuda:N") the only one vLLM sees; returns what was set.

    `vllm.LLM` takes no device: it uses the first GPU visible to its engine process. `vr2 eval`
    under torchrun or accelerate sets `model.device` to "cuda:<LOCAL_RANK>" in each process, so
    without this every rank would load its engine on GPU 0. As in vLLM's own data-parallel
    example, CUDA_VISIBLE_DEVICES is set before the engine starts; an existing list is indexed
    (with CUDA_VISIBLE_DEVICES=4,5,6,7, "cuda:1" means GPU 5). "auto", "cuda" and "cpu" change
    nothing.
    """
    kind, _, index = device.partition(":")
    if kind != "cuda" or not index:
        return None
    if not index.isdigit():
        raise Vr2Error(f"model.device: {device!r} is not cuda:<number>")
    visible = [v.strip() for v in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and int(index) >= len(visible):
        raise Vr2Error(f"model.device: {device} but CUDA_VISIBLE_DEVICES={environ['CUDA_VISIBLE_DEVICES']} "
                       f"lists {len(visible)} GPU(s)")
    chosen = visible[int(index)] if visible else index
    environ["CUDA_VISIBLE_DEVICES"] = chosen
    return chosen


def keep_out_of_the_launchers_group(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Under a launcher (WORLD_SIZE > 1) `vr2 eval` has joined a gloo group of all ranks. A vLLM
    engine process forked from this one would inherit that group and refuse its world size, so
    vLLM is told to spawn its processes instead (unless the user chose a method). Returns whether
    it was set."""
    if int(environ.get("WORLD_SIZE", "1") or 1) <= 1 or "VLLM_WORKER_MULTIPROC_METHOD" in environ:
        return False
    environ["VLLM_WORKER_MULTIPROC_METHOD"] = "spawn"
    return True


class VllmEvalEngine:
    """`vr2 eval`'s engine interface over `VllmEngine`: text only, no attention VAS, on the GPU
    that `model.device` names (see `pin_gpu`)."""

    name = "vllm"
    supports_vas_attn = False

    def __init__(self, recipe: Any):
        self.recipe = recipe
        pin_gpu(recipe.model.device)
        keep_out_of_the_launchers_group()
        self.engine = VllmEngine(recipe.model.name_or_path, dtype=recipe.model.dtype, seed=recipe.trainer.seed)

    def run(self, items: Sequence[tuple], *, vas: bool, mode: str | None = None,
            max_new_tokens: int | None = None) -> list:
        """`mode` and `max_new_tokens` (an eval protocol's per-benchmark values) override the recipe's."""
        from vr2 import Output

        e = self.recipe.eval
        texts = self.engine.generate(items, max_new_tokens=max_new_tokens or e.max_new_tokens,
                                     temperature=e.temperature, seed=self.recipe.trainer.seed,
                                     mode=mode or e.mode)
        return [Output(text) for text in texts]


def make_engine(recipe: Any) -> VllmEvalEngine:
    """The engine for a validated `vr2.config.Recipe` (registered as `vllm` below)."""
    return VllmEvalEngine(recipe)


@hookimpl
def vr2_eval_engines():
    return {"vllm": make_engine}
