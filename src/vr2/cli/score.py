"""`vr2 score TRACE --ref REF`: TAR, TAC, format and rewards for reasoning traces."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vr2.cli import display
from vr2.cli.options import RecipeOption, SetOption, finite, load
from vr2.errors import Vr2Error
from vr2.scoring import batch as scoring
from vr2.scoring.rewards import reported_rewards


def score(
    trace: Path = typer.Argument(..., metavar="TRACE", show_default=False, help="Trace: JSON {completion, question?, options?}, a text "
                                 "file with the completion, or a .jsonl batch (one trace + reference per line)."),
    ref: Optional[Path] = typer.Option(None, "--ref", help="Reference: JSON {temporal_grounding, answer?, "
                                       "answer_type?, options?} or a bare {timestamp: sentence} object."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    out: Optional[Path] = typer.Option(None, "--output", "-o", help="Batch mode: results JSONL "
                                       "(default: <trace>.scores.jsonl)."),
    old_out: Optional[Path] = typer.Option(None, "--out", hidden=True),  # its spelling before 0.2
    resume: bool = typer.Option(False, "--resume", help="Batch mode: continue an interrupted run."),
    force: bool = typer.Option(False, "--force", help="Batch mode: overwrite an existing results file "
                               "(refused otherwise)."),
    buffer_seconds: Optional[float] = typer.Option(None, "--buffer-seconds", callback=finite, help="Temporal buffer (default 2)."),
    tau: Optional[float] = typer.Option(None, "--tau", callback=finite, help="Semantic similarity threshold (default 0.75)."),
    no_gate: bool = typer.Option(False, "--no-gate", help="Do not gate TAR on think-answer consistency."),
    matching: Optional[str] = typer.Option(None, "--matching", help="optimal (default) or greedy (official)."),
    w_accuracy: Optional[float] = typer.Option(None, "--w-accuracy", callback=finite, help="Shortcut for -s rewards.accuracy=W."),
    w_format: Optional[float] = typer.Option(None, "--w-format", callback=finite, help="Shortcut for -s rewards.format=W."),
    w_tar: Optional[float] = typer.Option(None, "--w-tar", callback=finite, help="Shortcut for -s rewards.tar=W (any reward: -s rewards.NAME=W)."),
    extractor: Optional[str] = typer.Option(None, "--extractor", help="Claim extractor plugin (default rule)."),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="Embedder plugin (default minilm)."),
    recipe: Optional[Path] = RecipeOption,
    sets: list[str] = SetOption,
) -> None:
    """Score reasoning traces: claims, TAR (precision/recall/F1), gate, TAC, format and rewards."""

    config = load(recipe, sets, {
        "tar.buffer_seconds": buffer_seconds, "tar.tau": tau, "tar.gate": False if no_gate else None,
        "tar.matching": matching, "tar.extractor": extractor, "tar.embedder": embedder,
        "rewards.accuracy": w_accuracy, "rewards.format": w_format, "rewards.tar": w_tar,
    })
    out = out or old_out
    if trace.suffix.lower() == ".jsonl":
        if ref is not None:
            raise Vr2Error(f"{trace}: a .jsonl batch carries its references per line; drop --ref")
        out = out or trace.with_name(trace.stem + ".scores.jsonl")
        scoring.check_output(out, trace, resume=resume, force=force)
        rewards = reported_rewards(config)
        report = display.run_batch(trace, out, rewards, config.rewards, resume=resume, force=force)
        summary = scoring.summarize(report.results, len(report.bad_lines))
        display.print_batch(report, summary, out, trace, as_json=as_json)
        return
    if ref is None:
        raise Vr2Error(f"{trace}: --ref REF is required for a single trace")
    record = {**scoring.load_reference(ref), **_without_none(scoring.load_trace(trace))}
    item = scoring.make_input(record, str(trace))
    result = scoring.score_inputs([item], reported_rewards(config), config.rewards)[0]
    if as_json:
        typer.echo(scoring.to_json(result, indent=2))
    else:
        display.print_score(result, item, config)


def _without_none(record: dict) -> dict:
    return {k: v for k, v in record.items() if v is not None}
