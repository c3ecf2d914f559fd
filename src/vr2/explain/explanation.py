"""Explaining one answer: a video question run end to end, with the evidence behind every score.

`vr2 explain` answers one question about one video and shows *why* the scores come out as they
do: which times the reasoning cites (and the frame the model saw at each), whether the reasoning
and the answer agree (TAC), how much the reasoning attended to the video and to which frames
(VAS, attention form), and, given a reference grounding, which claims match it (TAR).

Two steps, kept apart so that a given completion can be analysed without a model:
- `run_explain` samples the video, loads the model, generates (or replays a given completion),
  measures attention, then calls
- `analyze`, which works from the completion text, the sampled frame times and the optional
  reference alone. TAR goes through `vr2.scoring.rewards.TarReward`, the code training uses.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vr2.config import ModelConfig
from vr2.errors import Vr2Error
from vr2.model.runtime import (
    Generation,
    generate,
    load_model,
    prepare_inputs,
    split_batch,
)
from vr2.model.vas import vas_attn
from vr2.plugins import registry as plugins
from vr2.samples import ANSWER_TYPES
from vr2.scoring.batch import load_reference, load_trace, reference_fields
from vr2.scoring.claims import Claim, RuleExtractor
from vr2.scoring.consistency import Consistency, check_consistency
from vr2.scoring.format import parse_completion
from vr2.scoring.rewards import accuracy_reward, build_tar_reward, resolve_answer_type
from vr2.scoring.timestamps import TimeMention, find_times, format_clock
from vr2.video.sampling import video_settings

if TYPE_CHECKING:
    import numpy as np

    from vr2.config import Recipe
    from vr2.model.runtime import Generation, LoadedModel
    from vr2.model.vas import VasResult
    from vr2.scoring.rewards import TarDetail, TarReward
    from vr2.video.sampling import SampledVideo

DEFAULT_MODEL = "MBZUAI/Video-R2"
# A claim whose start lies this far past the end of the video cites a moment that does not exist.
BEYOND_VIDEO_S = 0.5

Progress = Callable[[str], None]


# --- inputs ------------------------------------------------------------------------------------


@dataclass
class Reference:
    """A reference file: the grounding (TAR) and, optionally, the gold answer."""

    source: str
    temporal_grounding: dict | str
    claims: list[Claim]
    answer: str | None = None
    answer_type: str | None = None
    options: list[str] = field(default_factory=list)


def load_reference_file(path: str | Path) -> Reference:
    """Read and check a reference JSON ({temporal_grounding, answer?, answer_type?, options?} or a
    bare {timestamp: sentence}); every problem raises Vr2Error naming the file."""
    source = str(path)
    data = load_reference(path)
    if data.get("temporal_grounding") is None:
        raise Vr2Error(f"{source}: no 'temporal_grounding' in the reference")
    ref = reference_fields(data, source)
    return Reference(source, ref["temporal_grounding"], ref["claims"], ref["answer"], ref["answer_type"],
                     ref["options"])


def read_completion(path: str | Path) -> str:
    """A completion to explain instead of generating one: a text file, or JSON with `completion`."""
    record = load_trace(path)
    completion = record.get("completion")
    if not isinstance(completion, str) or not completion.strip():
        raise Vr2Error(f"{path}: no completion text (a text file, or JSON with a 'completion' string)")
    return completion


# --- the result --------------------------------------------------------------------------------


@dataclass
class ClaimView:
    """One predicted claim with the frames it points at.

    `frames`: indices of the sampled frames the claim covers (a point: the nearest frame; a
    range: the frames inside it, or the nearest one). `attention`: the reasoning's attention
    to those frames relative to uniform (1.0 = as much as an average frame), None without VAS.
    `match`: (reference index, time gap s, similarity) when TAR matched it.
    """

    index: int
    claim: Claim
    frames: list[int]
    in_video: bool
    attention: float | None = None
    match: tuple[int, float, float] | None = None

    def to_dict(self, frame_times: Sequence[float]) -> dict:
        return {
            "index": self.index,
            **self.claim.to_dict(),
            "frames": self.frames,
            "frame_times": [frame_times[k] for k in self.frames],
            "in_video": self.in_video,
            "attention_vs_uniform": self.attention,
            "match": None if self.match is None else
            {"ref": self.match[0], "gap": self.match[1], "similarity": self.match[2]},
        }


@dataclass
class Explanation:
    """Everything `vr2 explain` shows for one video question (frames kept for the HTML report)."""

    video_path: str
    question: str
    options: list[str]
    completion: str
    think: str | None
    answer: str | None
    format_ok: bool
    answer_type: str
    consistency: Consistency
    claims: list[ClaimView]
    frame_times: list[float]
    duration: float
    reference: Reference | None = None
    ref_claims: list[Claim] = field(default_factory=list)
    tar: TarDetail | None = None
    accuracy: float | None = None
    vas: VasResult | None = None
    vas_note: str | None = None
    frames: np.ndarray | None = None
    model: str | None = None
    generated: bool = True
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def reasoning(self) -> str:
        """The text shown as reasoning: the <think> block, else the whole completion."""
        return self.think if self.think is not None else self.completion

    @property
    def matched_refs(self) -> set[int]:
        return {c.match[0] for c in self.claims if c.match is not None}

    def segments(self) -> list[tuple[str, TimeMention | None, int | None]]:
        """The reasoning cut into (text, time mention or None, claim index or None) pieces."""
        return highlight_segments(self.reasoning, self.claims if self.think is not None else [])

    def to_dict(self) -> dict:
        """Plain JSON-ready data (no frames)."""
        result = self.tar.result if self.tar is not None else None
        return {
            "video": self.video_path,
            "model": self.model,
            "generated": self.generated,
            "question": self.question,
            "options": self.options,
            "completion": self.completion,
            "think": self.think,
            "answer": self.answer,
            "format_ok": self.format_ok,
            "answer_type": self.answer_type,
            "tac": self.consistency.consistent,
            "think_answer": self.consistency.think_answer,
            "final_answer": self.consistency.final_answer,
            "accuracy": self.accuracy,
            "claims": [c.to_dict(self.frame_times) for c in self.claims],
            "ref_claims": [c.to_dict() for c in self.ref_claims],
            "tar": None if self.tar is None else self.tar.value,
            "tar_precision": result.precision if result else None,
            "tar_recall": result.recall if result else None,
            "tar_f1": result.f1 if result else None,
            "gate": None if self.tar is None else self.tar.gate,
            "vas_attn": None if self.vas is None else self.vas.score,
            "vas": None if self.vas is None else self.vas.to_dict(),
            "vas_note": self.vas_note,
            "frame_times": self.frame_times,
            "duration": self.duration,
            "settings": self.settings,
            "notes": self.notes,
        }


# --- analysis of a given completion ---------------------------------------------------------


def nearest_frame(times: Sequence[float], t: float) -> int:
    """Index of the sampled frame nearest to time t (the earlier one on a tie)."""
    if not times:
        raise ValueError("no frames")
    k = bisect_left(times, t)
    if k == 0:
        return 0
    if k == len(times):
        return len(times) - 1
    return k if times[k] - t < t - times[k - 1] else k - 1


def claim_frames(claim: Claim, times: Sequence[float]) -> list[int]:
    """The sampled frames a claim points at: a point its nearest frame; a range the frames whose
    time lies inside it (or its nearest frame when it falls between two frames)."""
    if not times:
        return []
    if claim.end > claim.start:
        inside = [k for k, t in enumerate(times) if claim.start <= t <= claim.end]
        if inside:
            return inside
    return [nearest_frame(times, (claim.start + claim.end) / 2)]


def _attention(frames: list[int], per_frame: Sequence[float]) -> float | None:
    if not frames or not per_frame:
        return None
    return sum(per_frame[k] for k in frames) / len(frames) * len(per_frame)


def highlight_segments(text: str, claims: Sequence[ClaimView] = ()) -> list[tuple[str, TimeMention | None, int | None]]:
    """`text` as pieces; each time mention is its own piece, tied to the first unused claim with
    the same interval (the rule extractor makes one claim per mention, in order)."""
    free = list(claims)
    pieces: list[tuple[str, TimeMention | None, int | None]] = []
    position = 0
    for mention in find_times(text):
        if mention.char_start > position:
            pieces.append((text[position:mention.char_start], None, None))
        owner = next((c for c in free if (c.claim.start, c.claim.end) == (mention.start, mention.end)), None)
        if owner is not None:
            free.remove(owner)
        pieces.append((text[mention.char_start:mention.char_end], mention, owner.index if owner else None))
        position = mention.char_end
    if position < len(text):
        pieces.append((text[position:], None, None))
    return pieces


def resolve_type(answer_type: str | None, reference: Reference | None, options: Sequence[str]) -> str:
    """Explicit type > the reference's > inferred (options -> multiple_choice)."""

    if answer_type is not None and answer_type not in ANSWER_TYPES:
        raise Vr2Error(f"--answer-type: must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}")
    chosen = answer_type or (reference.answer_type if reference else None)
    return resolve_answer_type(chosen, reference.answer if reference else None, list(options))


def analyze(
    completion: str,
    *,
    question: str,
    options: Sequence[str] = (),
    frame_times: Sequence[float] = (),
    duration: float | None = None,
    reference: Reference | None = None,
    answer_type: str | None = None,
    extractor: Any = None,
    tar: TarReward | None = None,
    vas: VasResult | None = None,
    vas_note: str | None = None,
) -> Explanation:
    """Explain a completion: claims and their frames, TAC, TAR (given a reference), VAS.

    Claims come from `tar` (its extractor) when a reference is given, else from `extractor`
    (default: the rule extractor). `frame_times` are the sampled frames' times; `duration`
    defaults to the last frame time. Pure apart from the embedder inside `tar`.
    """
    options = list(options)
    times = [float(t) for t in frame_times]
    parsed = parse_completion(completion)
    kind = resolve_type(answer_type, reference, options)
    detail = None
    if reference is not None:
        if tar is None:
            raise Vr2Error("analyze: a reference needs a TarReward (vr2.scoring.rewards.build_tar_reward)")
        detail = tar.details([completion], temporal_grounding=[reference.temporal_grounding],
                             answer=[reference.answer], answer_type=[kind], options=[options])[0]
    if detail is not None:
        # No fallback to another extractor when TAR's failed: its failure is shown instead.
        result = detail.result
        predicted = list(result.pred_claims) if result else list(detail.claims)  # claims even without a reference
        matches = {m.pred: (m.ref, m.gap, m.similarity) for m in result.matches} if result else {}
        ref_claims = list(result.ref_claims) if result else list(reference.claims)
    else:
        predicted = list((extractor or RuleExtractor()).extract(parsed.think)) if parsed.think else []
        matches, ref_claims = {}, []
    if vas is not None and vas.score is None and vas_note is None:
        vas_note = "not measured: the completion has no reasoning (<think>) tokens"
    end = duration if duration is not None else (times[-1] if times else 0.0)
    per_frame = vas.per_frame if vas is not None else []
    views = []
    for i, claim in enumerate(predicted):
        frames = claim_frames(claim, times)
        views.append(ClaimView(i, claim, frames, claim.start <= end + BEYOND_VIDEO_S,
                               _attention(frames, per_frame), matches.get(i)))
    return Explanation(
        video_path="",
        question=question,
        options=options,
        completion=completion,
        think=parsed.think,
        answer=parsed.answer,
        format_ok=parsed.format_ok,
        answer_type=kind,
        consistency=check_consistency(completion, kind, options),
        claims=views,
        frame_times=times,
        duration=end,
        reference=reference,
        ref_claims=ref_claims,
        tar=detail,
        accuracy=_accuracy(completion, reference, kind, options),
        vas=vas,
        vas_note=vas_note,
        notes=_notes(completion, parsed) + _beyond_notes(views, end),
    )


def _accuracy(completion: str, reference: Reference | None, kind: str, options: list[str]) -> float | None:
    if reference is None or reference.answer is None:
        return None
    return accuracy_reward([completion], answer=[reference.answer], answer_type=[kind], options=[options])[0]


def _beyond_notes(views: list[ClaimView], end: float) -> list[str]:
    return [f"claim {v.index + 1} cites {format_clock(v.claim.start)}, after the end of the video "
            f"({end:.1f} s)" for v in views if not v.in_video]


def _notes(completion: str, parsed) -> list[str]:
    notes = []
    if parsed.think is None:
        if "<think>" in completion:
            notes.append("the <think> block is never closed (cut off?): no claims, TAC or TAR")
        else:
            notes.append("the completion has no <think> block: no claims, TAC or TAR")
    if parsed.answer is None:
        notes.append("the completion has no <answer> block")
    elif not parsed.format_ok:
        notes.append("the completion is not exactly <think>...</think><answer>...</answer> (format reward 0)")
    return notes


# --- running the model -------------------------------------------------------------------------


def sample(video_path: str | Path, recipe: Recipe) -> SampledVideo:
    """The video sampled with the recipe's [video] settings (default: the paper's eval protocol)."""
    settings = video_settings(recipe.video)
    return settings.sample(video_path, subtitles=settings.subtitles_for(None))


def replay_generation(loaded: LoadedModel, video: SampledVideo, question: str,
                      options: Sequence[str], completion: str) -> Generation:
    """A Generation holding a given completion, as if the model had written it (for VAS)."""
    import torch

    inputs = split_batch(prepare_inputs(loaded, video, question, list(options) or None))[0]
    ids = loaded.tokenizer(completion, add_special_tokens=False)["input_ids"]
    return Generation(text=completion, prompt_ids=inputs["input_ids"][0],
                      output_ids=torch.tensor(ids, dtype=torch.long), inputs=inputs,
                      frame_times=list(video.times))


def model_name(flag: str | None, recipe: Recipe) -> str:
    """--model, else the recipe's model when it names one other than the built-in default,
    else the released Video-R2."""
    if flag:
        return flag
    if recipe.model.name_or_path != ModelConfig().name_or_path:
        return recipe.model.name_or_path
    return DEFAULT_MODEL


def run_explain(
    video_path: str | Path,
    question: str,
    options: Sequence[str] = (),
    *,
    recipe: Recipe,
    model: str | None = None,
    reference: Reference | None = None,
    completion: str | None = None,
    answer_type: str | None = None,
    vas: bool = True,
    loaded: LoadedModel | None = None,
    progress: Progress | None = None,
) -> Explanation:
    """Answer (or replay `completion` for) one video question and explain it.

    The recipe gives the video sampling ([video]), decoding ([eval] max_new_tokens,
    temperature), the model's dtype/device ([model]) and TAR's components ([tar], [judge]).
    The model is loaded only when needed (no `completion`, or VAS wanted); pass `loaded` to
    reuse one.
    """
    say = progress or (lambda message: None)
    options = list(options) or (list(reference.options) if reference else [])
    if not question.strip():
        raise Vr2Error("QUESTION: empty question")
    kind = resolve_type(answer_type, reference, options)  # check before the slow steps
    tar, extractor = None, None
    if reference is not None:
        tar = build_tar_reward(recipe.tar, recipe.judge)
    else:
        extractor = make_extractor(recipe)
    say(f"sampling {video_path}")
    video = sample(video_path, recipe)
    generated = completion is None
    name = loaded.name if loaded is not None else model_name(model, recipe)
    generation = None
    notes: list[str] = []
    if generated or vas:
        if loaded is None:
            say(f"loading {name}")
            loaded = load(name, recipe)
        if generated:
            say("generating")
            generation = _generate(loaded, video, question, options, recipe)
            completion = generation.text
            if len(generation.output_ids) >= recipe.eval.max_new_tokens:
                notes.append(f"generation stopped at max_new_tokens={recipe.eval.max_new_tokens}; "
                             "the reasoning may be cut off")
        else:
            generation = replay_generation(loaded, video, question, options, completion)
    vas_result, vas_note = None, (None if vas else "not measured (switched off)")
    if generation is not None and vas:
        say("measuring attention")

        vas_result = vas_attn(loaded, generation)
    if reference is not None:
        say("scoring TAR")
    result = analyze(completion, question=question, options=options, frame_times=video.times,
                     duration=video.duration, reference=reference, answer_type=kind,
                     extractor=extractor, tar=tar, vas=vas_result, vas_note=vas_note)
    result.video_path = str(video_path)
    result.frames = video.frames
    result.model = name if loaded is not None else None
    result.generated = generated
    result.settings = _settings(video, recipe, generated)
    result.notes = notes + result.notes
    return result


def load(name: str, recipe: Recipe) -> LoadedModel:
    """The model with the recipe's [model] dtype, device and attention implementation."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # vr2 reports its own steps; no "Loading weights" bar
    m = recipe.model
    return load_model(name, dtype=m.dtype, device=m.device, attn_implementation=m.attn_implementation)


def make_extractor(recipe: Recipe) -> Any:
    """The claim extractor the recipe's [tar] names (the same one TAR would use)."""
    return plugins.make_extractor(recipe.tar.extractor, judge=recipe.judge)


def _generate(loaded: LoadedModel, video: SampledVideo, question: str, options: list[str],
              recipe: Recipe) -> Generation:
    return generate(loaded, video, question, options or None,
                    max_new_tokens=recipe.eval.max_new_tokens, temperature=recipe.eval.temperature,
                    seed=recipe.trainer.seed, mode="think", keep_inputs=True)


def _settings(video: SampledVideo, recipe: Recipe, generated: bool) -> dict:
    v = recipe.video
    settings = {
        "fps": v.fps,
        "max_frames": v.max_frames,
        "min_pixels": v.min_pixels,
        "max_pixels": v.max_pixels,
        "frames": len(video.times),
        "sample_fps": video.sample_fps,
        "frame_size": [int(video.frames.shape[2]), int(video.frames.shape[1])],
        "subtitles": video.subtitle_file,
    }
    if generated:
        settings["max_new_tokens"] = recipe.eval.max_new_tokens
        settings["temperature"] = recipe.eval.temperature
    return settings
