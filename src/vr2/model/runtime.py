"""Loading a Qwen2.5-VL-style policy and answering video questions with it.

One place decides how a question and a sampled video become model inputs (chat template,
processor with already-sampled frames and their metadata, `mm_token_type_ids` for the 3-D
rotary positions), and how text is generated from them, one sample or a left-padded batch.
Each `Generation` keeps its prompt ids, generated ids and (optionally) the processor
outputs, so the attention analysis in `vr2.model.vas` can replay exactly what the model saw.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vr2.errors import Vr2Error, first_line
from vr2.model import prompts

if TYPE_CHECKING:
    from vr2.video.sampling import SampledVideo

# Tokens that only the processor may place: a policy that emits them would make the
# replayed sequence hold more video slots than there are video features.
VISION_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

Item = tuple["SampledVideo", str, Sequence[str] | None]


@dataclass
class LoadedModel:
    """A model with its processor and the device it lives on."""

    model: Any
    processor: Any
    device: str
    name: str = ""

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer


@dataclass
class Generation:
    """One generated answer.

    `prompt_ids` and `output_ids` are 1-D CPU tensors without padding; `output_ids` holds
    only generated tokens (up to and including the end-of-turn token). `inputs` is this
    sample's processor output (unpadded, on CPU) or None when not kept.
    """

    text: str
    prompt_ids: Any
    output_ids: Any
    inputs: dict | None = None
    frame_times: list[float] | None = None


def resolve_device(device: str = "auto") -> str:
    """"auto" -> "cuda" when a GPU is visible, else "cpu"; anything else is kept."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise Vr2Error(f"device: {device!r} was asked for but no CUDA GPU is visible")
    return device


def resolve_dtype(dtype: Any, device: str) -> Any:
    """"auto" -> bfloat16 on GPU, float32 on CPU; names like "float16" map to torch dtypes."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        return dtype
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype):
        raise Vr2Error(f"dtype: unknown dtype {dtype!r} (use auto, bfloat16, float16 or float32)")
    return value


def _looks_local(name: str) -> bool:
    # A hub id is "org/name"; anything with more parts, or starting like a path, is a folder.
    return name.startswith((".", "/", "~")) or name.count("/") != 1 or Path(name).exists()


def load_model(
    name_or_path: str,
    *,
    dtype: Any = "auto",
    device: str = "auto",
    attn_implementation: str | None = None,
) -> LoadedModel:
    """Load a model folder or hub id with its processor, in eval mode on `device`.

    A missing folder, or a hub id that cannot be fetched (e.g. offline and not cached),
    raises Vr2Error naming it.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # vr2 shows its own progress; no per-file weight bars
    name = str(name_or_path)
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    if _looks_local(name):
        folder = Path(name).expanduser()
        if not (folder / "config.json").is_file():
            raise Vr2Error(f"{name}: no model folder here (expected a config.json)")
        name = str(folder)
    try:
        # The config alone first: one small file, so an unreachable hub fails after one
        # request rather than after one per processor and weight file.
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise Vr2Error(f"{name_or_path}: could not load the model config ({first_line(exc)})") from exc
    kwargs: dict[str, Any] = {"dtype": torch_dtype}
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    try:
        processor = AutoProcessor.from_pretrained(name)
        model = AutoModelForImageTextToText.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:
        raise Vr2Error(f"{name_or_path}: could not load the model ({first_line(exc)})") from exc
    model.to(device)
    model.eval()
    return LoadedModel(model=model, processor=processor, device=device, name=str(name_or_path))


def _video_kwargs(loaded: LoadedModel, videos: Sequence[SampledVideo]) -> dict:
    """Merge each video's processor arguments (frames + metadata) into one batch call.

    vr2's sampler already sized the frames to multiples of 28 within its pixel budget; the
    processor must not resize them again by its own budget (the real Qwen2.5-VL processor
    would upscale anything under 100,352 pixels), so resizing is switched off when every
    frame is already on the patch grid.
    """
    merged: dict[str, Any] = {"videos": [], "video_metadata": [], "do_sample_frames": False}
    for video in videos:
        own = video.processor_kwargs()
        merged["videos"].extend(own["videos"])
        merged["video_metadata"].extend(own["video_metadata"])
    video_processor = loaded.processor.video_processor
    factor = video_processor.patch_size * video_processor.merge_size
    if all(v.shape[-3] % factor == 0 and v.shape[-2] % factor == 0 for v in merged["videos"]):
        merged["do_resize"] = False
    if hasattr(video_processor, "cap_pixels_per_frame"):
        # Keep transformers' current per-frame sizing and silence its warning about a future default.
        merged["cap_pixels_per_frame"] = False
    return merged


def prompt_text(loaded: LoadedModel, question: str, options: Sequence[str] | None, mode: str) -> str:
    """The chat-formatted prompt, ending with the assistant turn opener."""
    messages = prompts.build_messages(question, options, mode=mode)
    return loaded.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prepare_batch(loaded: LoadedModel, items: Sequence[Item], mode: str = "think") -> dict:
    """Processor outputs for several (video, question, options), left-padded, on the device.

    The frames are already sampled, so `do_sample_frames=False`; the metadata carries the
    sampling fps that becomes `second_per_grid_ts` (the time axis of the 3-D positions).
    """
    texts = [prompt_text(loaded, question, options, mode) for _, question, options in items]
    batch = loaded.processor(
        text=texts,
        padding=True,
        padding_side="left",
        return_tensors="pt",
        return_mm_token_type_ids=True,
        **_video_kwargs(loaded, [video for video, _, _ in items]),
    )
    if "mm_token_type_ids" not in batch:
        # Without it transformers builds plain 1-D positions, silently unlike the real model.
        raise Vr2Error(f"{loaded.name}: the processor returned no mm_token_type_ids")
    return {key: value.to(loaded.device) for key, value in batch.items()}


def prepare_inputs(
    loaded: LoadedModel,
    video: SampledVideo,
    question: str,
    options: Sequence[str] | None = None,
    mode: str = "think",
) -> dict:
    """Processor outputs for one (video, question, options), on the device."""
    return prepare_batch(loaded, [(video, question, options)], mode)


def _special_ids(loaded: LoadedModel, tokens: Sequence[str]) -> list[int]:
    tokenizer = loaded.tokenizer
    ids = [tokenizer.convert_tokens_to_ids(token) for token in tokens]
    return [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]


def generation_config(loaded: LoadedModel, max_new_tokens: int, temperature: float, top_p: float):
    """Explicit decoding settings: greedy when temperature == 0, else plain sampling.

    The checkpoint's own sampling defaults (Qwen2.5-VL ships top_k=1, top_p=0.001 and
    repetition_penalty=1.05) are dropped so that "greedy" and "temperature 0.9" mean what
    they say.
    """
    if temperature < 0:
        raise Vr2Error(f"temperature: must be >= 0, got {temperature}")
    config = copy.deepcopy(loaded.model.generation_config)
    config.max_new_tokens = max_new_tokens
    config.do_sample = temperature > 0
    config.temperature = temperature if temperature > 0 else 1.0
    config.top_p = top_p if temperature > 0 else 1.0
    config.top_k = None
    config.repetition_penalty = 1.0
    config.num_beams = 1
    config.suppress_tokens = _special_ids(loaded, VISION_TOKENS)
    if config.pad_token_id is None:
        config.pad_token_id = loaded.tokenizer.pad_token_id
    return config


def _end_ids(config) -> set[int]:
    eos = config.eos_token_id
    if eos is None:
        return set()
    return {eos} if isinstance(eos, int) else set(eos)


def _trim(row, end_ids: set[int]):
    """Generated ids up to and including the first end token (drops batch padding)."""
    for index, token in enumerate(row.tolist()):
        if token in end_ids:
            return row[: index + 1]
    return row


def split_batch(batch: dict) -> list[dict]:
    """Per-sample, unpadded CPU copies of a left-padded one-video-per-sample batch."""
    grids = batch["video_grid_thw"].cpu()
    patches = grids.prod(dim=-1).tolist()
    if grids.shape[0] != batch["input_ids"].shape[0]:
        raise Vr2Error("videos: each sample must carry exactly one video")
    pixels = batch["pixel_values_videos"].cpu().split(patches)
    items = []
    for row in range(batch["input_ids"].shape[0]):
        keep = batch["attention_mask"][row].bool().cpu()
        item = {
            "input_ids": batch["input_ids"][row].cpu()[keep][None],
            "attention_mask": batch["attention_mask"][row].cpu()[keep][None],
            "mm_token_type_ids": batch["mm_token_type_ids"][row].cpu()[keep][None],
            "pixel_values_videos": pixels[row],
            "video_grid_thw": grids[row : row + 1],
        }
        if "second_per_grid_ts" in batch:
            item["second_per_grid_ts"] = batch["second_per_grid_ts"].cpu()[row : row + 1]
        items.append(item)
    return items


def generate_batch(
    loaded: LoadedModel,
    items: Sequence[Item],
    *,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    mode: str = "think",
    keep_inputs: bool = True,
) -> list[Generation]:
    """Answer several (video, question, options) in one left-padded `generate` call.

    `keep_inputs=False` drops the per-sample processor outputs (pixels) from the results;
    keep them only when `vr2.model.vas` will replay the sample.
    """
    import torch

    if not items:
        return []
    batch = prepare_batch(loaded, items, mode)
    config = generation_config(loaded, max_new_tokens, temperature, top_p)
    torch.manual_seed(seed)
    with torch.inference_mode():
        output = loaded.model.generate(**batch, generation_config=config)
    prompt_len = batch["input_ids"].shape[1]
    end_ids = _end_ids(config)
    per_sample = split_batch(batch)
    results = []
    for row, (video, _, _) in enumerate(items):
        generated = _trim(output[row, prompt_len:].cpu(), end_ids)
        text = loaded.tokenizer.decode(generated, skip_special_tokens=True)
        inputs = per_sample[row]
        results.append(
            Generation(
                text=text,
                prompt_ids=inputs["input_ids"][0],
                output_ids=generated,
                inputs=inputs if keep_inputs else None,
                frame_times=list(getattr(video, "times", None) or []) or None,
            )
        )
    return results


def generate(
    loaded: LoadedModel,
    video: SampledVideo,
    question: str,
    options: Sequence[str] | None = None,
    *,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int = 0,
    mode: str = "think",
    keep_inputs: bool = True,
) -> Generation:
    """Answer one video question (greedy when temperature == 0)."""
    return generate_batch(
        loaded,
        [(video, question, options)],
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        mode=mode,
        keep_inputs=keep_inputs,
    )[0]


__all__ = [
    "Generation",
    "LoadedModel",
    "generate",
    "generate_batch",
    "load_model",
    "prepare_batch",
    "prepare_inputs",
    "split_batch",
]
