"""Evaluation protocols: how `vr2 eval` turns a benchmark sample into model input.

Two protocols (`[eval] protocol`):

- `paper`: what the Video-R2 release's evaluation did (its lmms-eval fork run by
  eval/scripts/accuracy/run_all.sh), so that numbers are comparable with the paper's table.
  Frames: qwen-vl-utils' rule at `[video] fps` (2) capped at `[video] max_frames` (128), then
  re-indexed with linspace to exactly `max_frames` frames (plus the last one when missing; short
  clips repeat frames), each resized by qwen-vl-utils' rule into [min_pixels, max_pixels]
  (100,352-151,200), with no time or subtitle overlay (`vr2.video.sample_video_release`).
  Prompt: each benchmark's `*_think` task prompt of the fork (`paper_prompt`) under the system
  prompt "You are a helpful assistant."; greedy decoding; per-benchmark max_new_tokens (1024,
  Video-MMMU 2048). The `[video]` overlay switches are not used.
- `vr2`: vr2's own protocol, for models trained with vr2's overlays: `vr2.video.sample_video`
  (2 fps, at most 128 frames, never duplicated, the time drawn on every frame and subtitles
  when `[video] subtitles`), vr2's think/answer prompt (`vr2.prompts`), `[eval] max_new_tokens`.

The release evaluated only reasoning (think) prompts this way, so `paper` needs `mode = "think"`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vr2.errors import Vr2Error
from vr2.prompts import PAPER_SYSTEM_PROMPT

PROTOCOLS = ("paper", "vr2")
PAPER_MAX_NEW_TOKENS = 1024
# Benchmarks whose task sets another generation length (Video-MMMU's template: 2048).
PAPER_MAX_NEW_TOKENS_BY_BENCHMARK = {"videommmu": 2048}

# The fork's task prompts, verbatim: the published numbers were produced with exactly these words.
THINK = ("Please think about this question as if you were a human pondering deeply. Engage in an "
         "internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', 'oh, I see', "
         "'let's break it down', etc, or other natural language thought expressions. It's encouraged "
         "to include self-reflection or verification in the reasoning process. Provide your detailed "
         "reasoning between the <think> and </think> tags, and then give your final answer between "
         "the <answer> and </answer> tags.")
_VIDEOMME_HEAD = ("Select the best answer to the following multiple-choice question based on the video "
                  "and the subtitles. Respond with only the letter (A, B, C, or D) of the correct option.")
_TWO_WAY_HEAD = ("Select the best answer to the following multiple-choice question based on the video. "
                 "Respond with the letter (A or B) of the correct option.")
_FIVE_WAY_HEAD = ("Select the best answer to the following multiple-choice question based on the video. "
                  "Respond with the letter (A, B, C, D or E) of the correct option.")
_LETTER_DIRECTLY = "Answer with the option's letter from the given choices directly."
_TEMPCOMPASS_LETTER = "Answer with the option's letter (e.g., A, B, C, D, etc.) from the given choices directly. "
_MMVU_TAIL = ("Answer directly with the option letter from the given choices. " + THINK +
              " Ensure to include the thinking process inside <think> and </think> tags and the final "
              "answer inside <answer> and </answer> tags.")
_VIDEOMMMU_PRE = "You should watch and learn the video content. Then apply what you learned to "
_VIDEOMMMU_MCQ = ("answer the following multi-choice question. The image for this question is at the "
                  "end of the video.")
_VIDEOMMMU_OPEN = ("answer the following open-ended question. The image for this question is at the "
                   "end of the video.")
_VIDEOMMMU_QUIZ = "\nPlease ignore the Quiz question in last frame of the video."
_VSIBENCH_HEAD = "These are frames of a video."
_VSIBENCH_OPEN = "Please answer the question using a single word or phrase.\n" + THINK


def check(protocol: str, mode: str) -> None:
    if protocol not in PROTOCOLS:
        raise Vr2Error(f"eval.protocol: must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "paper" and mode != "think":
        raise Vr2Error("eval.protocol: 'paper' reproduces the release's think-prompt evaluation; "
                       "for direct answers use protocol = \"vr2\"")


# --------------------------------------------------------------------------- prompts


def _lettered(options: Sequence[str], style: str = "{L}. {text}") -> list[str]:
    from vr2.prompts import option_letter, strip_label

    return [style.format(L=option_letter(i), text=strip_label(o, option_letter(i)))
            for i, o in enumerate(options)]


def _mcq_head(options: Sequence[str]) -> str:
    return _TWO_WAY_HEAD if len(options) == 2 else _FIVE_WAY_HEAD


def paper_prompt(benchmark: str, sample) -> str:
    """The user text the release's `<task>_think` task gave the model for this sample.

    Options are written as the task writes them from its dataset row ("A. text" lines, MVBench
    "(A) text", MMVU "A: text"); a benchmark the release did not evaluate gets the plain form
    (question, "A. text" lines, the think instruction).
    """
    question = sample.question.strip()
    options = list(sample.options or [])
    lines = _lettered(options)
    builder = _PROMPTS.get(benchmark)
    if builder is None:
        return "\n".join([question, *lines]) + "\n" + THINK
    return builder(question, options, lines, sample)


def _mvbench(question, options, lines, sample):
    listed = "".join(f"{line}\n" for line in _lettered(options, "({L}) {text}"))
    return f"Question:{question}\nOption:\n{listed}\n{THINK}"


def _videomme(question, options, lines, sample):
    return "\n".join([_VIDEOMME_HEAD, question, *lines]) + "\n\n" + THINK


def _tempcompass(question, options, lines, sample):
    return "\n".join([question, *lines]) + "\n\n" + _TEMPCOMPASS_LETTER + "\n" + THINK


def _mlvu(question, options, lines, sample):
    # MLVU's question field carries its options as "(A) text" lines.
    listed = "\n".join(_lettered(options, "({L}) {text}"))
    return f"{question}\n{listed}\n{THINK}"


def _longvideobench(question, options, lines, sample):
    return "\n".join([question, *lines]) + "\n\n" + THINK


def _head_mcq(question, options, lines, sample):
    """VideoMathQA and MINERVA: a head naming the letters, question, options, instruction."""
    return "\n".join([_mcq_head(options), question, *lines]) + "\n\n" + THINK


def _videommmu(question, options, lines, sample):
    track = str((sample.extra or {}).get("track", "")).lower()
    if track == "adaptation":
        if options:
            return _VIDEOMMMU_PRE + _VIDEOMMMU_MCQ + question + "\n" + "\n".join(lines) + "\n" + THINK
        return _VIDEOMMMU_PRE + _VIDEOMMMU_OPEN + question + "\n" + THINK
    listed = "\n" + "\n".join(lines) if lines else "\n"
    return question + listed + _VIDEOMMMU_QUIZ + "\n" + THINK


def _mmvu(question, options, lines, sample):
    letters = "ABCDE"
    padded = (list(_lettered(options, "{text}")) + [""] * 5)[:5]
    listed = "\n".join(f"{letters[i]}: {padded[i]}" for i in range(5))
    return f"\nQuestion:{question}\n{listed}\n{_MMVU_TAIL}\n"


def _vsibench(question, options, lines, sample):
    if not options:
        return f"{_VSIBENCH_HEAD}\n{question}\n{_VSIBENCH_OPEN}"
    return "\n".join([_VSIBENCH_HEAD, question, "Options:\n" + "\n".join(lines), "\n" + THINK])


def _scivideobench(question, options, lines, sample):
    return f"{question}\n" + "\n".join(lines) + "\n" + _LETTER_DIRECTLY + "\n" + THINK


_PROMPTS = {"mvbench": _mvbench, "videomme": _videomme, "tempcompass": _tempcompass, "mlvu": _mlvu,
            "longvideobench": _longvideobench, "videomathqa": _head_mcq, "minerva": _head_mcq,
            "videommmu": _videommmu, "mmvu": _mmvu, "vsibench": _vsibench,
            "scivideobench": _scivideobench}


# --------------------------------------------------------------------------- the run


def max_new_tokens(recipe, benchmark: str) -> int:
    """The generation length for `benchmark`: the release's per-task value under `paper`."""
    if recipe.eval.protocol == "paper":
        return PAPER_MAX_NEW_TOKENS_BY_BENCHMARK.get(benchmark, PAPER_MAX_NEW_TOKENS)
    return recipe.eval.max_new_tokens


def video(sample, recipe):
    """The sampled frames of one sample under the recipe's protocol."""
    from vr2 import video as videos

    v = recipe.video
    if recipe.eval.protocol == "paper":
        return videos.sample_video_release(sample.video, fps=v.fps, max_frames=v.max_frames,
                                           min_pixels=v.min_pixels, max_pixels=v.max_pixels,
                                           start=sample.start, end=sample.end)
    subtitles: Any = (sample.subtitles or "auto") if v.subtitles else None
    return videos.sample_video(sample.video, fps=v.fps, max_frames=v.max_frames, min_pixels=v.min_pixels,
                               max_pixels=v.max_pixels, start=sample.start, end=sample.end,
                               timestamp_overlay=v.timestamp_overlay, subtitles=subtitles)


def model_item(sample, benchmark: str, recipe, frames) -> tuple:
    """(video, question, options) for the engine. Under `paper` the question is the task's whole
    prompt and options are None (the prompt already lists them; see prompt mode "paper")."""
    if recipe.eval.protocol == "paper":
        return frames, paper_prompt(benchmark, sample), None
    return frames, sample.question, list(sample.options) or None


def generate_overrides(recipe, benchmark: str) -> dict:
    """Keyword arguments for the engine's `run` that differ from the recipe's `[eval]`."""
    if recipe.eval.protocol != "paper":
        return {}
    return {"mode": "paper", "max_new_tokens": max_new_tokens(recipe, benchmark)}


def describe(recipe) -> dict:
    """Every setting of the protocol, for the report's protocol line and summary.json."""
    v, e = recipe.video, recipe.eval
    common = {"protocol": e.protocol, "mode": e.mode, "temperature": e.temperature,
              "decoding": "greedy" if e.temperature == 0 else f"sampling at temperature {e.temperature}",
              "engine": e.engine, "batch_size": e.batch_size}
    if e.protocol == "paper":
        return {**common, "frames": (f"qwen-vl-utils at {v.fps:g} fps capped at {v.max_frames}, "
                                     f"re-indexed by linspace to exactly {v.max_frames} (+ last frame)"),
                "pixels": f"{v.min_pixels:,}-{v.max_pixels:,} per frame (qwen-vl-utils resize)",
                "overlays": "none", "prompt": "the release's <task>_think prompts",
                "system_prompt": PAPER_SYSTEM_PROMPT,
                "max_new_tokens": f"{PAPER_MAX_NEW_TOKENS} (Video-MMMU "
                                  f"{PAPER_MAX_NEW_TOKENS_BY_BENCHMARK['videommmu']})"}
    from vr2.prompts import SYSTEM_PROMPT

    overlays = [name for name, on in (("time", v.timestamp_overlay), ("subtitles", v.subtitles)) if on]
    return {**common, "frames": f"{v.fps:g} fps, at most {v.max_frames}, no duplication",
            "pixels": f"{v.min_pixels:,}-{v.max_pixels:,} per frame",
            "overlays": " + ".join(overlays) or "none", "prompt": "vr2's think/answer prompt"
            if e.mode == "think" else "vr2's direct-answer prompt",
            "system_prompt": SYSTEM_PROMPT, "max_new_tokens": e.max_new_tokens}
