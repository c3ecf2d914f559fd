"""Evaluation protocols: how `vr2 eval` turns a benchmark sample into model input.

Two protocols (`[eval] protocol`):

- `paper`: what the Video-R2 release's evaluation did (its lmms-eval fork run by
  eval/scripts/accuracy/run_all.sh), so that numbers are comparable with the paper's table.
  Frames: qwen-vl-utils' rule at `[video] fps` (2) capped at `[video] max_frames` (128), then
  re-indexed with linspace to exactly `max_frames` frames (plus the last one when missing; short
  clips repeat frames), each resized by qwen-vl-utils' rule into [min_pixels, max_pixels]
  (100,352-151,200), with no time or subtitle overlay (`vr2.video.sampling.sample_video_release`).
  Prompt: each benchmark's `*_think` task prompt of the fork (`paper_prompt`), its words read from
  the user's checkout of the release (`vr2.eval.release_prompts`, `[eval] release_tasks`), under Qwen's
  default system prompt (`vr2.model.prompts.PAPER_SYSTEM_PROMPT`); greedy decoding; per-benchmark max_new_tokens (1024,
  Video-MMMU 2048). The `[video]` overlay switches are not used.
- `vr2`: vr2's own protocol, for models trained with vr2's overlays: `vr2.video.sampling.sample_video`
  (2 fps, at most 128 frames, never duplicated, the time drawn on every frame and subtitles
  when `[video] subtitles`), vr2's think/answer prompt (`vr2.model.prompts`), `[eval] max_new_tokens`.

The release evaluated only reasoning (think) prompts this way, so `paper` needs `mode = "think"`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from vr2.errors import Vr2Error
from vr2.eval.release_prompts import describe as release_describe
from vr2.eval.release_prompts import for_recipe, tasks_dir
from vr2.model.prompts import (
    PAPER_SYSTEM_PROMPT,
    SYSTEM_PROMPT,
    option_letter,
)
from vr2.video.sampling import load_sample_video, video_settings

PROTOCOLS = ("paper", "vr2")
PAPER_MAX_NEW_TOKENS = 1024
# Benchmarks whose task sets another generation length (Video-MMMU's template: 2048).
PAPER_MAX_NEW_TOKENS_BY_BENCHMARK = {"videommmu": 2048}

# The words of the fork's task prompts are not in vr2: `vr2.eval.release_prompts` reads them from the
# user's checkout of the release. This module keeps where they go around question and options.

def check(protocol: str, mode: str) -> None:
    if protocol not in PROTOCOLS:
        raise Vr2Error(f"eval.protocol: must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "paper" and mode != "think":
        raise Vr2Error("eval.protocol: 'paper' reproduces the release's think-prompt evaluation; "
                       "for direct answers use protocol = \"vr2\"")


# --------------------------------------------------------------------------- prompts


def _lettered(options: Sequence[str], style: str = "{L}. {text}") -> list[str]:
    """Plain option texts under their letters (a text that starts with its own letter keeps it:
    "C. elegans worm" is option C's whole text, so the line is "C. C. elegans worm")."""
    return [style.format(L=option_letter(i), text=str(o)) for i, o in enumerate(options)]


def release_fields(sample) -> dict:
    """The dataset row's own question and option fields, as the loader recorded them
    (`extra["release_fields"]`): the release's tasks build the prompt from these, verbatim."""
    fields = (sample.extra or {}).get("release_fields")
    return fields if isinstance(fields, dict) else {}


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _question(sample) -> str:
    """The question as the row wrote it (the release keeps its spaces and newlines)."""
    raw = release_fields(sample).get("question")
    return raw if isinstance(raw, str) and raw.strip() else sample.question


def _option_lines(benchmark: str, sample) -> list[str]:
    """The option lines the release's task writes for this sample (see each task below)."""
    raw = release_fields(sample)
    options = list(sample.options or [])
    if benchmark == "mvbench":
        return _lettered(_strings(raw.get("candidates")) or options, "({L}) {text}")
    if benchmark in ("videomme", "tempcompass", "videomathqa", "minerva", "vsibench"):
        return _strings(raw.get("options")) or _lettered(options)  # the row's own "A. text" lines
    if benchmark == "longvideobench":
        found = [raw[f"option{i}"] for i in range(5) if isinstance(raw.get(f"option{i}"), str)]
        texts = found[:next((i for i, t in enumerate(found) if t == "N/A"), len(found))]
        return _lettered(texts or options)
    if benchmark == "scivideobench":
        given = raw.get("options")
        if isinstance(given, dict) and given and all(isinstance(v, str) for v in given.values()):
            return [f"{key}. {given[key]}" for key in sorted(given)]
        return _lettered(_strings(given) or options)
    if benchmark == "videommmu":
        texts = _strings(raw.get("options")) or options
        if all(t.startswith(f"{option_letter(i)}.") for i, t in enumerate(texts)):
            return texts  # already lettered: kept as they are
        return _lettered(texts)
    return _lettered(options)


def paper_prompt(benchmark: str, sample, pieces: dict) -> str:
    """The user text the release's `<task>_think` task gave the model for this sample.

    `pieces` are the release's words (`vr2.eval.release_prompts.load`). The question and options
    are the dataset row's own fields where the loader recorded them (`release_fields`), written
    as the task writes them: "A. text" lines, MVBench "(A) text", MMVU "A: text", MLVU's question
    with its options inside. A benchmark the release did not evaluate gets the plain form
    (question, "A. text" lines, the think instruction of the Video-MME task).
    """
    question = _question(sample)
    options = list(sample.options or [])
    lines = _option_lines(benchmark, sample)
    p = {name: piece.text for name, piece in pieces.items()}
    builder = _PROMPTS.get(benchmark)
    if builder is None:
        return "\n".join([question, *lines]) + p["videomme.post"]
    return builder(question, options, lines, sample, p)


def _mvbench(question, options, lines, sample, p):
    listed = "".join(f"{line}\n" for line in lines)
    return f"Question:{question}\nOption:\n{listed}" + p["mvbench.post"]


def _videomme(question, options, lines, sample, p):
    return "\n".join([p["videomme.head"], question, *lines]) + "\n" + p["videomme.post"]


def _tempcompass(question, options, lines, sample, p):
    return "\n".join([question, *lines]) + "\n" + p["tempcompass.post"]


def _mlvu(question, options, lines, sample, p):
    # MLVU's question field carries its options as "(A) text" lines; the task adds nothing.
    raw = release_fields(sample).get("question")
    if isinstance(raw, str) and raw.strip():
        return p["mlvu.pre"] + raw + p["mlvu.post"]
    listed = "\n".join(_lettered(options, "({L}) {text}"))
    return p["mlvu.pre"] + f"{question}\n{listed}" + p["mlvu.post"]


def _longvideobench(question, options, lines, sample, p):
    return p["longvideobench.pre"] + "\n".join([question, *lines]) + "\n" + p["longvideobench.post"]


def _head_mcq(benchmark):
    """VideoMathQA and MINERVA: a head naming the letters (two or five), question, options, instruction."""
    def build(question, options, lines, sample, p):
        head = p[f"{benchmark}.head2" if len(lines) == 2 else f"{benchmark}.head5"]
        return "\n".join([head, question, *lines]) + "\n" + p[f"{benchmark}.post"]
    return build


def _videommmu(question, options, lines, sample, p):
    track = str((sample.extra or {}).get("track", "")).lower()
    if track == "adaptation":
        if options:
            return p["videommmu.pre"] + p["videommmu.mcq"] + question + "\n" + "\n".join(lines) + p["videommmu.post"]
        return p["videommmu.pre"] + p["videommmu.open"] + question + p["videommmu.post"]
    listed = "\n" + "\n".join(lines) if lines else "\n"
    return question + listed + p["videommmu.quiz"] + p["videommmu.post"]


def _mmvu(question, options, lines, sample, p):
    if not options:
        return p["mmvu.open"].format(question=question)
    raw = release_fields(sample).get("choices")
    if isinstance(raw, dict) and all(isinstance(raw.get(k, ""), str) for k in "ABCDE"):
        texts = [raw.get(k, "") for k in "ABCDE"]
    else:
        texts = (list(options) + [""] * 5)[:5]
    return p["mmvu.mcq"].format(question=question, **dict(zip("abcde", texts)))


def _vsibench(question, options, lines, sample, p):
    head = p["vsibench.pre"] or p["vsibench.default_pre"]
    if not options:
        return f"{head}\n{question}\n" + p["vsibench.na_post"]
    return "\n".join([head, question, "Options:\n" + "\n".join(lines), p["vsibench.mca_post"]])


def _scivideobench(question, options, lines, sample, p):
    return p["scivideobench.pre"] + f"{question}\n" + "\n".join(lines) + p["scivideobench.post"]


_PROMPTS = {"mvbench": _mvbench, "videomme": _videomme, "tempcompass": _tempcompass, "mlvu": _mlvu,
            "longvideobench": _longvideobench, "videomathqa": _head_mcq("videomathqa"),
            "minerva": _head_mcq("minerva"), "videommmu": _videommmu, "mmvu": _mmvu,
            "vsibench": _vsibench, "scivideobench": _scivideobench}


# --------------------------------------------------------------------------- the run


def max_new_tokens(recipe, benchmark: str) -> int:
    """The generation length for `benchmark`: the release's per-task value under `paper`."""
    if recipe.eval.protocol == "paper":
        return PAPER_MAX_NEW_TOKENS_BY_BENCHMARK.get(benchmark, PAPER_MAX_NEW_TOKENS)
    return recipe.eval.max_new_tokens


def video(sample, recipe):
    """The sampled frames of one sample under the recipe's protocol."""
    return video_loader(recipe)(sample)


def video_loader(recipe) -> Callable[[Any], Any]:
    """`video` for this recipe as a picklable function of the sample alone (for decode workers)."""
    return functools.partial(load_sample_video, settings=video_settings(recipe.video),
                             release=recipe.eval.protocol == "paper")


def model_item(sample, benchmark: str, recipe, frames) -> tuple:
    """(video, question, options) for the engine. Under `paper` the question is the task's whole
    prompt and options are None (the prompt already lists them; see prompt mode "paper")."""
    if recipe.eval.protocol == "paper":
        return frames, paper_prompt(benchmark, sample, for_recipe(recipe)), None
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
                "overlays": "none",
                "prompt": f"the release's <task>_think prompts, words read from {tasks_dir(recipe)}",
                "release_prompts": {name: f"{d['file']} {d['where']} (sha256 {d['sha256'][:16]})"
                                    for name, d in release_describe(for_recipe(recipe)).items()},
                "system_prompt": PAPER_SYSTEM_PROMPT,
                "max_new_tokens": f"{PAPER_MAX_NEW_TOKENS} (Video-MMMU "
                                  f"{PAPER_MAX_NEW_TOKENS_BY_BENCHMARK['videommmu']})"}

    overlays = [name for name, on in (("time", v.timestamp_overlay), ("subtitles", v.subtitles)) if on]
    return {**common, "frames": f"{v.fps:g} fps, at most {v.max_frames}, no duplication",
            "pixels": f"{v.min_pixels:,}-{v.max_pixels:,} per frame",
            "overlays": " + ".join(overlays) or "none", "prompt": "vr2's think/answer prompt"
            if e.mode == "think" else "vr2's direct-answer prompt",
            "system_prompt": SYSTEM_PROMPT, "max_new_tokens": e.max_new_tokens}
