"""OpenRLHF prompt data: one JSONL row per training sample, the ground truth packed into `label`.

OpenRLHF hands each dataset row to the rollout as two strings only, the prompt and the label
(`--data.input_key prompt --data.label_key label`). So everything vr2 needs later travels inside
the label as one JSON object:

    {"format": "vr2-openrlhf/2", "index": 0, "id": "...", "question": "...", "options": [...],
     "answer": "B", "answer_type": "multiple_choice", "temporal_grounding": {"00:03": "..."} | null,
     "video": "/abs/clip.mp4", "start": null, "end": null, "subtitles": "/abs/clip.srt" | null,
     "video_settings": {"fps": 2.0, "max_frames": 32, "min_pixels": ..., "max_pixels": ...,
                        "timestamp_overlay": true, "subtitles": true},
     "prompt_style": "release", "human": "<video>\\nquestion ... options ..." | null}

The prompt is the recipe's training prompt (`prompt.style`, `vr2.model.prompts.training_prompt`: the
row's own human turn for "release", vr2's prompt for "vr2") through the model's own chat template, with
one `<|vision_start|><|video_pad|><|vision_end|>` placeholder: exactly the text the TRL backend gives the
processor. `human` is the row's human turn (null for a row without one). Paths are absolute because Ray
workers run elsewhere.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from vr2 import Vr2Error

LABEL_FORMAT = "vr2-openrlhf/2"  # 2: the prompt style and the human turn in place of a prompt mode
LABEL_FIELDS = ("format", "index", "id", "question", "options", "answer", "answer_type",
                "temporal_grounding", "video", "start", "end", "subtitles", "video_settings", "prompt_style",
                "human")
PROMPT_STYLES = ("release", "vr2")
SETTING_FIELDS = ("fps", "max_frames", "min_pixels", "max_pixels", "timestamp_overlay", "subtitles")
TOKEN_SIDE = 28  # Qwen2.5-VL: one LLM token per 28x28 pixels (14-pixel patches merged 2x2)
FRAMES_PER_TOKEN = 2  # and per pair of frames


@dataclass(frozen=True)
class Conversion:
    """What `write_prompts` produced: the file, its row count and the longest prompt in tokens."""

    path: Path
    rows: int
    max_prompt_tokens: int  # text tokens, with the video placeholder counted as one token


def _absolute(path: str | None) -> str | None:
    return os.path.abspath(path) if path else None


def settings_dict(video_config) -> dict[str, Any]:
    """The recipe's [video] section as the label's `video_settings` (JSON types)."""
    from vr2 import video_settings

    s = video_settings(video_config)
    return {
        "fps": float(s.fps),
        "max_frames": int(s.max_frames),
        "min_pixels": int(s.min_pixels),
        "max_pixels": int(s.max_pixels),
        "timestamp_overlay": bool(s.timestamp_overlay),
        "subtitles": bool(s.subtitles),
    }


def label_for(sample, index: int, settings: dict[str, Any], style: str = "release") -> dict[str, Any]:
    """The label of one `vr2.samples.Sample` (see the module docstring)."""
    human = (sample.extra or {}).get("prompt")
    return {
        "format": LABEL_FORMAT,
        "index": int(index),
        "id": str(sample.id),
        "question": sample.question,
        "options": list(sample.options or []),
        "answer": None if sample.answer is None else str(sample.answer),
        "answer_type": sample.answer_type,
        "temporal_grounding": dict(sample.temporal_grounding) if sample.temporal_grounding else None,
        "video": _absolute(sample.video),
        "start": sample.start,
        "end": sample.end,
        "subtitles": _absolute(sample.subtitles),
        "video_settings": dict(settings),
        "prompt_style": style,
        "human": human if isinstance(human, str) else None,
    }


def encode_label(label: dict[str, Any]) -> str:
    return json.dumps(label, ensure_ascii=False, sort_keys=True)


def decode_label(text: Any) -> dict[str, Any]:
    """A label back from its JSON text; anything else raises Vr2Error (never another exception)."""
    if not isinstance(text, str):
        raise Vr2Error(f"label: expected JSON text, got {type(text).__name__}")
    try:
        label = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise Vr2Error("label: not JSON (was the prompt file written by vr2-openrlhf?)") from None
    if not isinstance(label, dict) or label.get("format") != LABEL_FORMAT:
        raise Vr2Error(f"label: not a {LABEL_FORMAT} label")
    missing = [name for name in LABEL_FIELDS if name not in label]
    if missing:
        raise Vr2Error(f"label: missing {', '.join(missing)}")
    settings = label["video_settings"]
    if not isinstance(settings, dict) or any(name not in settings for name in SETTING_FIELDS):
        raise Vr2Error(f"label: video_settings must have {', '.join(SETTING_FIELDS)}")
    if not isinstance(label["video"], str) or not label["video"]:
        raise Vr2Error("label: no video path")
    if not isinstance(label["question"], str) or not isinstance(label["options"], list):
        raise Vr2Error("label: question must be text and options a list")
    if label["prompt_style"] not in PROMPT_STYLES or not isinstance(label["human"], (str, type(None))):
        raise Vr2Error(f"label: prompt_style must be one of {', '.join(PROMPT_STYLES)} and human text or null")
    return label


def sample_from_label(label: dict[str, Any]):
    """The `vr2.samples.Sample` a label describes (what vr2's video and prompt code read)."""
    from vr2 import Sample

    return Sample(
        id=str(label["id"]), video=label["video"], question=label["question"],
        options=list(label["options"]), answer=label["answer"], answer_type=label["answer_type"],
        temporal_grounding=label["temporal_grounding"], start=label["start"], end=label["end"],
        subtitles=label["subtitles"], extra={} if label["human"] is None else {"prompt": label["human"]},
    )


def settings_from_label(label: dict[str, Any]):
    """The `vr2.video.sampling.VideoSettings` a label carries (the recipe's [video] section)."""
    from vr2 import VideoSettings

    s = label["video_settings"]
    return VideoSettings(fps=float(s["fps"]), max_frames=int(s["max_frames"]),
                         min_pixels=int(s["min_pixels"]), max_pixels=int(s["max_pixels"]),
                         timestamp_overlay=bool(s["timestamp_overlay"]), subtitles=bool(s["subtitles"]))


def prompt_for(processor: Any, sample, style: str = "release") -> str:
    """The sample's GRPO chat prompt under prompt `style` (the same functions the TRL backend uses)."""
    from vr2 import LoadedModel, prompt_text, training_prompt

    prompt = prompt_text(LoadedModel(model=None, processor=processor, device="cpu"),
                         *training_prompt(sample, style, "grpo"))
    if prompt.count("<|video_pad|>") != 1:
        raise Vr2Error("prompt: the chat template must place exactly one <|video_pad|> placeholder")
    return prompt


def prompt_rows(processor: Any, samples: Sequence, video_config, style: str = "release") -> list[dict[str, str]]:
    """`{"prompt", "label"}` rows for the samples, in order."""
    settings = settings_dict(video_config)
    rows = []
    for index, sample in enumerate(samples):
        rows.append({
            "prompt": prompt_for(processor, sample, style),
            "label": encode_label(label_for(sample, index, settings, style)),
        })
    return rows


def write_prompts(path: str | Path, rows: Sequence[dict[str, str]], tokenizer: Any) -> Conversion:
    """Write the JSONL file OpenRLHF reads (`--data.prompt_dataset`), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(partial, path)
    longest = max((len(tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]) for row in rows),
                  default=0)
    return Conversion(path, len(rows), longest)


def video_token_bound(video_config) -> int:
    """The most LLM tokens one sampled video can take under the recipe's [video] settings.

    vr2 samples at most `max_frames` frames (an even count, or 1) of at most `max_pixels` pixels,
    on the 28-pixel grid; Qwen2.5-VL gives one token per 28x28 cell per pair of frames.
    """
    pairs = math.ceil(int(video_config.max_frames) / FRAMES_PER_TOKEN)
    return pairs * (int(video_config.max_pixels) // (TOKEN_SIDE * TOKEN_SIDE))


def sequence_budget(conversion: Conversion, video_config, max_new_tokens: int) -> int:
    """`--data.max_len`: the longest prompt with its video expanded, plus the completion."""
    return conversion.max_prompt_tokens - 1 + video_token_bound(video_config) + int(max_new_tokens)
