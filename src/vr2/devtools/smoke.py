"""Smoke data: everything a 2-step training run needs, built offline in seconds.

`build_synthetic(out)` writes, deterministically:
- `model/`: a tiny random Qwen2.5-VL (vr2.devtools.tiny);
- `videos/clip<k>.mp4`: short synthetic videos whose background colour changes every second
  (vr2.devtools.synthetic), so questions have true answers that can be read off the frames;
- `subtitles/clip0.srt`: one subtitle file, so the subtitle path is exercised too;
- `sft.json` and `grpo.json`: datasets in the released Video-R2 format (a JSON array of
  `video` + `conversations`, GRPO rows with `temporal_grounding`).

The tiny model then gets a short SFT on `sft.json` (`warm_start`, WARM_STEPS steps, about half a
minute on two cores), the way the paper's GRPO starts from an SFT model: it half-learns to write
`<think>... At 00:00:01 ...</think><answer>B</answer>`, so its sampled completions differ in format,
answer and cited times, GRPO's rewards vary within a group and the smoke runs really learn
(non-zero advantages and gradients). `warm_steps=0` keeps the random model.

`recipes/smoke/*.toml` point at `runs/smoke/...`, so `vr2 synthetic runs/smoke` then
`vr2 grpo recipes/smoke/tar_gated.toml` runs on a laptop CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from vr2.config import PromptConfig, VideoConfig
from vr2.data.datasets import load_dataset_file
from vr2.devtools.synthetic import write_test_video
from vr2.devtools.tiny import build_tiny_model
from vr2.model.runtime import load_model
from vr2.train.collate import SftCollator, collate_sft
from vr2.train.data import sft_target
from vr2.video.sampling import video_settings

CLIPS = 4
SECONDS = 4  # clip k lasts SECONDS + k seconds, so no two clips look the same
FPS = 10
# (width, height). Sampled down to 112 x 112 by the smoke recipes' pixel budget. x264 output at some
# other sizes (e.g. 112 x 112) differed between runs here, which would break determinism.
SIZE = (128, 128)
COLOURS = ["red", "green", "blue", "yellow", "purple", "teal", "orange", "grey", "lime", "pink"]
LETTERS = "ABCD"
WARM_STEPS = 40
# Measured over 40 steps: under the release's prompt (the paper recipes' and so the smoke recipes') 6e-3
# stalls at a loss of 3.2; 3e-3 reaches 0.5, a model that half-writes the reply.
WARM_LR = 3e-3


def _stamp(second: int) -> str:
    return f"00:00:{second:02d}"


def _options(clip: int) -> list[str]:
    # The colours of the clip's seconds, rotated so the right letter differs between clips.
    colours = [COLOURS[s % len(COLOURS)] for s in range(SECONDS)]
    shift = clip % SECONDS
    return colours[shift:] + colours[:shift]


def _question(clip: int) -> tuple[str, list[str], str, int]:
    """(question, options, answer letter, asked second) for one clip."""
    second = (clip + 1) % SECONDS
    options = _options(clip)
    answer = LETTERS[options.index(COLOURS[second % len(COLOURS)])]
    return f"What colour is the background at {_stamp(second)}?", options, answer, second


def _reasoning(clip: int) -> str:
    _, options, answer, second = _question(clip)
    colour = COLOURS[second % len(COLOURS)]
    first = COLOURS[0]
    return (f"<think>At {_stamp(0)} the background is {first}. At {_stamp(second)} the background "
            f"turns {colour}. So the answer is {answer}.</think><answer>{answer}</answer>")


def clip_seconds(clip: int) -> int:
    return SECONDS + clip


def _grounding(clip: int) -> dict[str, str]:
    return {f"00:{s:02d}": f"the background is {COLOURS[s % len(COLOURS)]}" for s in range(clip_seconds(clip))}


def _human(question: str, options: list[str]) -> str:
    lines = [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
    return "<video>\n" + question + "\nOptions:\n" + "\n".join(lines)


def smoke_rows(stage: str) -> list[dict]:
    """The rows of `sft.json` (stage "sft") or `grpo.json` (stage "grpo")."""
    rows = []
    for clip in range(CLIPS):
        question, options, answer, _ = _question(clip)
        row = {
            "video": f"clip{clip}.mp4",
            "conversations": [
                {"from": "human", "value": _human(question, options)},
                {"from": "assistant", "value": _reasoning(clip)},
            ],
        }
        if stage == "grpo":
            row["temporal_grounding"] = _grounding(clip)
        rows.append(row)
    return rows


def _write_subtitles(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "clip0.srt"
    path.write_text("1\n00:00:00,000 --> 00:00:02,000\nThe clock starts.\n\n"
                    "2\n00:00:02,000 --> 00:00:04,000\nHalf way.\n", encoding="utf-8")
    return path


def warm_start(out: Path, steps: int = WARM_STEPS, lr: float = WARM_LR, seed: int = 0) -> list[float]:
    """A short SFT of `out/model` on `out/sft.json` (language model only, all clips in one batch).

    Plain AdamW on the same encoded examples vr2's SFT trains on (video included); the model
    is saved back in place. Returns the loss of every step.
    """
    import torch


    loaded = load_model(str(out / "model"), dtype="float32", device="cpu")
    model, processor = loaded.model, loaded.processor
    samples = load_dataset_file(out / "sft.json", out / "videos", subtitles_dir=out / "subtitles").samples
    # The [video] and [prompt] sections of recipes/smoke/*.toml, so the warm start sees what the smoke runs see.
    settings = video_settings(VideoConfig(max_frames=4, min_pixels=3136, max_pixels=12544))
    style = PromptConfig().style
    collator = SftCollator(processor, samples, [sft_target(s, style) for s in samples], settings, style=style)
    batch = collate_sft([collator.example(i) for i in range(len(samples))], processor.tokenizer.pad_token_id)
    torch.manual_seed(seed)
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(".visual." not in f".{name}")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
    model.eval()
    model.save_pretrained(out / "model")
    return losses


def build_synthetic(out: str | Path, seed: int = 0, warm_steps: int = WARM_STEPS) -> dict[str, Path]:
    """Write the smoke model, videos, subtitles and datasets under `out`; returns their paths."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_tiny_model(out / "model", seed=seed)
    videos = out / "videos"
    for clip in range(CLIPS):
        write_test_video(videos / f"clip{clip}.mp4", seconds=clip_seconds(clip), fps=FPS, size=SIZE)
    subtitles = _write_subtitles(out / "subtitles").parent
    paths = {"model": model, "videos": videos, "subtitles": subtitles}
    for stage in ("sft", "grpo"):
        path = out / f"{stage}.json"
        path.write_text(json.dumps(smoke_rows(stage), indent=1) + "\n", encoding="utf-8")
        paths[stage] = path
    if warm_steps:
        warm_start(out, warm_steps, seed=seed)
    return paths
