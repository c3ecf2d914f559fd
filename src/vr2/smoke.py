"""Smoke data: everything a 2-step training run needs, built offline in seconds.

`build_smoke(out)` writes, deterministically:
- `model/`: a tiny random Qwen2.5-VL (vr2.tiny);
- `videos/clip<k>.mp4`: short synthetic videos whose background colour changes every second
  (vr2.synthetic), so questions have true answers that can be read off the frames;
- `subtitles/clip0.srt`: one subtitle file, so the subtitle path is exercised too;
- `sft.json` and `grpo.json`: datasets in the released Video-R2 format (a JSON array of
  `video` + `conversations`, GRPO rows with `temporal_grounding`).

`recipes/smoke/*.toml` point at `runs/smoke/...`, so `vr2 synthetic runs/smoke` then
`vr2 grpo recipes/smoke/tar_gated.toml` runs on a laptop CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

CLIPS = 4
SECONDS = 4  # clip k lasts SECONDS + k seconds, so no two clips look the same
FPS = 10
# (width, height). Sampled down to 112 x 112 by the smoke recipes' pixel budget. x264 output at some
# other sizes (e.g. 112 x 112) differed between runs here, which would break determinism.
SIZE = (128, 128)
COLOURS = ["red", "green", "blue", "yellow", "purple", "teal", "orange", "grey", "lime", "pink"]
LETTERS = "ABCD"


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


def build_smoke(out: str | Path, seed: int = 0) -> dict[str, Path]:
    """Write the smoke model, videos, subtitles and datasets under `out`; returns their paths."""
    from vr2.synthetic import write_test_video
    from vr2.tiny import build_tiny_model

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
    return paths
