"""The samples a training stage uses, loaded from the recipe's [data] section.

Bad rows are never silently replaced: the loader reports each (row number, reason) and skips it,
and this module prints that report before training starts. SFT also needs the assistant reply
to learn (`<think>...</think><answer>...</answer>`); rows without one are reported the same way.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from vr2.console import stderr_console
from vr2.data.datasets import load_dataset_file
from vr2.errors import Vr2Error
from vr2.model.prompts import build_messages, training_prompt
from vr2.samples import Sample

SHOWN_SKIPS = 20  # report this many skipped rows one by one, then only the count


def report_skipped(path: str, skipped: Sequence[Any]) -> None:
    """Print the rows that were skipped, with their row numbers and reasons."""
    if not skipped:
        return
    console = stderr_console()
    for item in list(skipped)[:SHOWN_SKIPS]:
        row, reason = _row_and_reason(item)
        console.print(f"[yellow]skipped[/yellow] {path} row {row}: {reason}", markup=True, highlight=False)
    if len(skipped) > SHOWN_SKIPS:
        console.print(f"[yellow]skipped[/yellow] {len(skipped) - SHOWN_SKIPS} more rows of {path}")


def _row_and_reason(item: Any) -> tuple[Any, str]:
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], str(item[1])
    row = getattr(item, "row", getattr(item, "line", "?"))
    return row, str(getattr(item, "reason", item))


def load_samples(recipe) -> list[Sample]:
    """The recipe's training samples (bad rows reported and skipped, `data.limit` applied)."""
    data = recipe.data
    if not data.train_file:
        raise Vr2Error(f"{recipe.source}: data.train_file is not set")
    result = load_dataset_file(data.train_file, data.video_dir, subtitles_dir=data.subtitles_dir or None,
                               check_videos=data.check_videos, probe_videos=data.check_videos)
    report_skipped(data.train_file, result.skipped)
    for row, reason in getattr(result, "bad_ref_keys", []):
        stderr_console().print(f"[yellow]reference key[/yellow] {data.train_file} row {row}: {reason}",
                         markup=True, highlight=False)
    samples = list(result.samples)
    if data.limit:
        samples = samples[: data.limit]
    if not samples:
        raise Vr2Error(f"{data.train_file}: no usable rows to train on")
    stderr_console().print(f"{data.train_file}: {len(samples)} samples, {len(result.skipped)} rows skipped",
                     highlight=False)
    return samples


def sft_target(sample: Sample, style: str = "release") -> str | None:
    """The assistant reply SFT learns: the dataset's full reply, or think + answer put together.

    Prompt style "release" learns the row's assistant turn verbatim, as the release did; "vr2" strips it.
    """
    reply = sample.extra.get("response") if sample.extra else None
    if isinstance(reply, str) and reply.strip():
        return reply if style == "release" else reply.strip()
    reasoning = (sample.reasoning or "").strip()
    if "<answer>" in reasoning:
        return reasoning
    if reasoning and sample.answer:
        think = reasoning if reasoning.startswith("<think>") else f"<think>{reasoning}</think>"
        return f"{think}<answer>{sample.answer}</answer>"
    return None


def sft_pairs(recipe) -> tuple[list[Sample], list[str]]:
    """Samples with the replies to learn; rows without a reply are reported and skipped."""
    samples, targets, missing = [], [], []
    for sample in load_samples(recipe):
        target = sft_target(sample, recipe.prompt.style)
        if target is None:
            missing.append((sample.id, "no assistant reply to learn (needs <think>...</think><answer>...</answer>)"))
            continue
        samples.append(sample)
        targets.append(target)
    report_skipped(recipe.data.train_file, missing)
    if not samples:
        raise Vr2Error(f"{recipe.data.train_file}: no row has an assistant reply; SFT needs one per row")
    return samples, targets


def grounding_text(grounding: Any) -> str | None:
    """Temporal grounding as a JSON string: a table column needs one type for every row."""
    if grounding is None or grounding == {} or grounding == "":
        return None
    return grounding if isinstance(grounding, str) else json.dumps(grounding, ensure_ascii=False)


def grpo_rows(samples: Sequence[Sample], style: str = "release") -> list[dict]:
    """One table row per sample: what GRPO's reward functions read, plus the sample's position.

    The prompt text (the user turn's text under prompt `style`) is for TRL's logs only; the model's
    prompt (with its video) is built by `vr2.train.collate.encode_prompt` from the sample itself.
    """
    rows = []
    for index, sample in enumerate(samples):
        question, options, mode = training_prompt(sample, style, "grpo")
        user = build_messages(question, options, mode=mode, system=None)[0]["content"][-1]["text"]
        rows.append({
            "prompt": user,
            "index": index,
            "id": str(sample.id),
            "answer": None if sample.answer is None else str(sample.answer),
            "answer_type": sample.answer_type,
            "options": list(sample.options or []),
            "temporal_grounding": grounding_text(sample.temporal_grounding),
        })
    return rows


def sft_rows(samples: Sequence[Sample]) -> list[dict]:
    """SFT table rows: the collator decodes the video of `index` when the batch is built."""
    return [{"index": index, "id": str(sample.id)} for index, sample in enumerate(samples)]
