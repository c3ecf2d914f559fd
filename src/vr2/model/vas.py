"""Video Attention Score from attention (`vas_attn`): how much reasoning looks at the video.

Definition (docs/method.md#video-attention-score-vas, the paper's Fig. 1 analysis): in the final transformer layer, take
the attention rows that generated the reasoning tokens (the tokens inside `<think>...
</think>` of the completion), average them over heads and tokens, and report the share of
attention that lands on video tokens (`<|video_pad|>` positions), x100. The video tokens
form a grid (time steps x merged patches); one time step covers `temporal_patch_size`
(2) sampled frames, which gives a per-frame profile.

How it is measured: one teacher-forced forward over prompt + generated ids, with the same
processor outputs, `mm_token_type_ids` and hence the same 3-D rotary positions as during
generation. Instead of asking every layer for its full attention matrix (`eager` +
`output_attentions=True`: layers x heads x L x L, tens of GB for a 7B model at 128
frames), the text attention is switched for the duration of the call to a registered
attention function that computes the normal output with SDPA and, in the last layer only,
rebuilds the softmax rows of the reasoning queries from the (already rotated) queries and
keys it is given. This is the same arithmetic as eager attention, needs no eager model for
generation, and holds only heads x chunk x L numbers at a time. The model's attention
implementation is restored afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vr2.errors import Vr2Error
from vr2.model.runtime import Generation, LoadedModel

THINK_OPEN = b"<think>"
THINK_CLOSE = b"</think>"
PROBE_IMPLEMENTATION = "vr2_vas_probe"
ROW_CHUNK = 256


@dataclass(frozen=True)
class VasResult:
    """`score` is None when the completion has no reasoning tokens (nothing to average).

    `per_frame[i]` is the share of the reasoning tokens' video attention that fell on
    sampled frame i (a grid step's share is split evenly between the frames it covers), so
    the list sums to 1; `per_frame_times[i]` is that frame's time in seconds.
    """

    score: float | None
    per_frame: list[float]
    per_frame_times: list[float]
    think_token_count: int
    video_token_count: int

    def to_dict(self) -> dict:
        return {
            "vas_attn": self.score,
            "per_frame": self.per_frame,
            "per_frame_times": self.per_frame_times,
            "think_token_count": self.think_token_count,
            "video_token_count": self.video_token_count,
        }


# --- which generated tokens are reasoning -------------------------------------------------


def _byte_alphabet() -> dict[str, int]:
    """Inverse of the byte-level BPE alphabet: each vocabulary character -> the byte it stands for.

    Printable bytes stand for themselves; the other 68 bytes are written as the characters
    after U+00FF, in byte order.
    """
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    table = {chr(b): b for b in printable}
    shifted = [b for b in range(256) if b not in set(printable)]
    for offset, b in enumerate(shifted):
        table[chr(256 + offset)] = b
    return table


_ALPHABET = _byte_alphabet()


def token_bytes(tokenizer: Any, ids: list[int]) -> list[bytes]:
    """The exact bytes each token contributes to the text (special tokens as their literal text)."""
    added = {int(i) for i in getattr(tokenizer, "added_tokens_decoder", {})}
    pieces = tokenizer.convert_ids_to_tokens(ids)
    out = []
    for token_id, piece in zip(ids, pieces):
        piece = piece or ""
        if token_id not in added and all(ch in _ALPHABET for ch in piece):
            out.append(bytes(_ALPHABET[ch] for ch in piece))
        else:
            out.append(piece.encode("utf-8"))
    return out


def reasoning_token_mask(tokenizer: Any, output_ids: list[int]) -> list[bool]:
    """True for generated tokens whose text overlaps the inside of the first <think> block.

    Working on bytes keeps multi-byte characters split across tokens exact. A block that
    is never closed (truncated generation) runs to the end of the completion.
    """
    pieces = token_bytes(tokenizer, output_ids)
    text = b"".join(pieces)
    opened = text.find(THINK_OPEN)
    if opened < 0:
        return [False] * len(pieces)
    start = opened + len(THINK_OPEN)
    closed = text.find(THINK_CLOSE, start)
    end = closed if closed >= 0 else len(text)
    mask, offset = [], 0
    for piece in pieces:
        mask.append(offset < end and offset + len(piece) > start)
        offset += len(piece)
    return mask


def reasoning_query_positions(tokenizer: Any, generation: Generation) -> list[int]:
    """Sequence positions of the queries that produced the reasoning tokens.

    Generated token j (0-based) was produced by the forward step at position
    prompt_len + j - 1, so those attention rows are the ones that "generated" it.
    """
    prompt_len = int(generation.prompt_ids.shape[0])
    mask = reasoning_token_mask(tokenizer, generation.output_ids.tolist())
    return [prompt_len + j - 1 for j, flag in enumerate(mask) if flag]


# --- replaying the generation ----------------------------------------------------------------


def _require_inputs(generation: Generation) -> None:
    if generation.inputs is None:
        raise Vr2Error("generation: made with keep_inputs=False, so its video cannot be replayed")


def replay_inputs(generation: Generation, device: str = "cpu") -> dict:
    """Model inputs for one teacher-forced pass over prompt + generated ids.

    Generated tokens are text (`mm_token_type_ids` 0), so the 3-D positions come out the
    same as during generation.
    """
    import torch

    _require_inputs(generation)
    inputs = generation.inputs
    prompt = generation.prompt_ids.reshape(-1).cpu()
    output = generation.output_ids.reshape(-1).cpu()
    ids = torch.cat([prompt, output])[None]
    mm_types = torch.cat([inputs["mm_token_type_ids"].reshape(-1).cpu(), torch.zeros_like(output)])[None]
    replay = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "mm_token_type_ids": mm_types,
        "pixel_values_videos": inputs["pixel_values_videos"],
        "video_grid_thw": inputs["video_grid_thw"],
    }
    if "second_per_grid_ts" in inputs:
        replay["second_per_grid_ts"] = inputs["second_per_grid_ts"]
    return {key: value.to(device) for key, value in replay.items()}


class _Probe:
    """Collects, in one layer, the attention the chosen query rows give to video steps."""

    def __init__(self, layer: int, rows: Any, video_positions: Any, steps: int):
        self.layer = layer
        self.rows = rows
        self.video_positions = video_positions
        self.steps = steps
        self.step_mass = None  # summed over heads and rows: attention per video time step
        self.row_count = 0
        self.seen = False

    def record(self, query: Any, key: Any, scaling: float) -> None:
        import torch

        heads, kv_heads = query.shape[1], key.shape[1]
        keys = key[0].float().repeat_interleave(heads // kv_heads, dim=0)  # (heads, L, d)
        positions = torch.arange(keys.shape[1], device=keys.device)
        mass = torch.zeros(self.steps, dtype=torch.float64, device=keys.device)
        for chunk in self.rows.split(ROW_CHUNK):
            scores = query[0][:, chunk].float() @ keys.transpose(1, 2) * scaling
            future = positions[None, :] > chunk[:, None]
            scores = scores.masked_fill(future[None], float("-inf"))
            probs = scores.softmax(dim=-1)[..., self.video_positions]  # (heads, rows, V)
            per_step = probs.reshape(heads, len(chunk), self.steps, -1).sum(dim=-1)
            mass += per_step.sum(dim=(0, 1)).double()
        self.step_mass = mass.cpu()
        self.row_count = heads * len(self.rows)
        self.seen = True


_ACTIVE: list[_Probe] = []


def _probe_attention(module, query, key, value, attention_mask, **kwargs):
    """SDPA attention that also feeds the active probe when it reaches the probed layer."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if _ACTIVE and getattr(module, "layer_idx", None) == _ACTIVE[-1].layer:
        scaling = kwargs.get("scaling")
        if scaling is None:
            scaling = query.shape[-1] ** -0.5
        _ACTIVE[-1].record(query, key, scaling)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _register_probe() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(PROBE_IMPLEMENTATION, _probe_attention)
    AttentionMaskInterface.register(PROBE_IMPLEMENTATION, sdpa_mask)


def _text_config(config: Any) -> Any:
    return getattr(config, "text_config", None) or config


def _set_text_attention(model: Any, implementation: str) -> None:
    if "text_config" in getattr(model.config, "sub_configs", {}):
        model.set_attn_implementation({"text_config": implementation})
    else:
        model.set_attn_implementation(implementation)


# --- frames ------------------------------------------------------------------------------------


def _frame_layout(loaded: LoadedModel, generation: Generation, frame_times: list[float] | None):
    """(grid steps, tokens per step, frame times) of the generation's single video."""
    vision = loaded.model.config.vision_config
    grid = generation.inputs["video_grid_thw"].reshape(-1, 3)
    if grid.shape[0] != 1:
        raise Vr2Error(f"generation: vas_attn needs exactly one video, found {grid.shape[0]}")
    steps, height, width = (int(v) for v in grid[0])
    per_step = height * width // vision.spatial_merge_size**2
    span = vision.temporal_patch_size
    times = frame_times if frame_times is not None else generation.frame_times
    if times is None:
        # Without the sampler's times, place frames by the grid's seconds-per-step.
        seconds = generation.inputs.get("second_per_grid_ts")
        step_seconds = float(seconds.reshape(-1)[0]) if seconds is not None else float(span)
        times = [k * step_seconds / span for k in range(steps * span)]
    times = [float(t) for t in times]
    if -(-len(times) // span) != steps:
        raise Vr2Error(
            f"frame_times: {len(times)} frames do not fit the video grid of {steps} steps "
            f"x {span} frames"
        )
    return steps, per_step, times


def _per_frame(step_mass: list[float], frames: int, span: int) -> list[float]:
    total = sum(step_mass)
    shares = []
    for frame in range(frames):
        step = frame // span
        covered = min(span, frames - step * span)
        shares.append(step_mass[step] / covered / total if total > 0 else 0.0)
    return shares


# --- the score -------------------------------------------------------------------------------


def vas_attn(
    loaded: LoadedModel,
    generation: Generation,
    *,
    frame_times: list[float] | None = None,
    layer: int = -1,
) -> VasResult:
    """Score one generation (made with `keep_inputs=True`) by its last-layer attention to video.

    `frame_times` defaults to the sampled video's times stored on the generation. `layer`
    picks another text layer for analysis (-1 = final, the paper's choice).
    """
    import torch

    _require_inputs(generation)
    model = loaded.model
    config = model.config
    steps, per_step, times = _frame_layout(loaded, generation, frame_times)
    video_id = config.video_token_id
    video_positions = (generation.prompt_ids == video_id).nonzero().reshape(-1)
    if len(video_positions) != steps * per_step:
        raise Vr2Error(
            f"generation: {len(video_positions)} video tokens in the prompt, "
            f"the grid needs {steps * per_step}"
        )
    rows = reasoning_query_positions(loaded.tokenizer, generation)
    if not rows:
        return VasResult(None, [], times, 0, len(video_positions))

    layers = _text_config(config).num_hidden_layers
    probe = _Probe(
        layer=layer % layers,
        rows=torch.tensor(rows, device=loaded.device),
        video_positions=video_positions.to(loaded.device),
        steps=steps,
    )
    _register_probe()
    previous = _text_config(config)._attn_implementation
    _set_text_attention(model, PROBE_IMPLEMENTATION)
    _ACTIVE.append(probe)
    try:
        with torch.inference_mode():
            model(**replay_inputs(generation, loaded.device), use_cache=False, logits_to_keep=1)
    finally:
        _ACTIVE.pop()
        _set_text_attention(model, previous)
    if not probe.seen:
        raise Vr2Error(f"{loaded.name}: layer {layer} of the text model was never reached")
    step_mass = probe.step_mass.tolist()
    score = 100.0 * sum(step_mass) / probe.row_count
    per_frame = _per_frame(step_mass, len(times), config.vision_config.temporal_patch_size)
    return VasResult(score, per_frame, times, len(rows), len(video_positions))
