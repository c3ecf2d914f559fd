"""`vr2 eval [RECIPE]`: a model over benchmarks with the paper's protocol, or vr2's metrics on
existing lmms-eval sample files (`--from-samples DIR`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vr2.cli import display
from vr2.cli.options import SetOption, finite, load, recipe_argument
from vr2.config import EvalConfig, with_changes
from vr2.errors import Vr2Error
from vr2.eval import benchmarks
from vr2.eval.output import write_reports
from vr2.eval.report import (
    PAPER_ROWS,
    footnotes,
    load_summary,
    paper_summary,
    rich_tables,
)
from vr2.eval.runner import download_benchmarks, evaluate, score_sample_files
from vr2.scoring.batch import to_json


def eval_command(
    recipe: Optional[Path] = recipe_argument("Eval recipe TOML (e.g. recipes/eval/tar_gated.toml); "
                                             "flags and --set override it.", required=False),
    benchmarks: list[str] = typer.Option([], "--benchmark", "-b", help="Benchmark name (repeatable, "
                                         "or comma-separated). Default: the recipe's."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model folder or hub id."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output folder (rows, summary, reports). Default: the recipe's \\[eval] output_dir, else runs/eval/<recipe name or model name>."),
    data_dir: Optional[str] = typer.Option(None, "--data-dir", help="Folder with the benchmark data."),
    video_dir: Optional[str] = typer.Option(None, "--video-dir", help="Folder with the benchmark videos."),
    mode: Optional[str] = typer.Option(None, "--mode", help="think (reason, then answer) or direct. "
                                       "With --from-samples also auto (default there)."),
    limit: Optional[int] = typer.Option(None, "--limit", help="At most this many samples per benchmark."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Samples per generate call."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Default 1024."),
    temperature: Optional[float] = typer.Option(None, "--temperature", callback=finite, help="0 = greedy (default)."),
    fps: Optional[float] = typer.Option(None, "--fps", callback=finite, help="Frames per second (default 2)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", help="Default 128."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", help="Pixels per frame (default 151200)."),
    engine: Optional[str] = typer.Option(None, "--engine", help="transformers (default) or vllm "
                                         "(pip install ./plugins/vr2-vllm)."),
    release_tasks: Optional[Path] = typer.Option(None, "--release-tasks", help="Protocol paper: the Video-R2 "
                                                 "release's task folder, <Video-R2>/eval/lmms-eval/lmms_eval/tasks, "
                                                 "whose prompt words it uses (default $VR2_RELEASE_TASKS).",
                                                 file_okay=False),
    no_vas_attn: bool = typer.Option(False, "--no-vas-attn", help="Skip attention VAS (one extra forward per sample)."),
    judge_url: Optional[str] = typer.Option(None, "--judge-url", help="OpenAI-compatible judge for VAS-judge."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="Judge model name."),
    force: bool = typer.Option(False, "--force", help="Replace an output folder whose rows were made with other settings (refused otherwise)."),
    compare: list[Path] = typer.Option([], "--compare", help="Earlier run's summary.json (or its folder) "
                                       "to put beside this one in the report (repeatable)."),
    paper: bool = typer.Option(False, "--paper", help="Add the paper's ablation rows to the report."),
    from_samples: Optional[Path] = typer.Option(None, "--from-samples", help="Score existing lmms-eval "
                                                "'*_samples_<task>.jsonl' files in DIR; no model is run.",
                                                file_okay=False),
    list_benchmarks: bool = typer.Option(False, "--list", help="List the benchmarks and exit."),
    download: bool = typer.Option(False, "--download", help="First fetch every benchmark whose data is missing "
                                  "from the Hugging Face Hub into \\[eval] data_dir/<name> (resumable; "
                                  "archives unpacked where the loaders look)."),
    as_json: bool = typer.Option(False, "--json", help="Print summary.json instead of tables."),
    sets: list[str] = SetOption,
) -> None:
    """Evaluate a model on video benchmarks: accuracy, TAC, VAS and TAR, in the paper's tables.

    Writes one JSONL row per sample as it goes (resumable: rerun the same command after a crash), then summary.json, report.md and report.html. Benchmarks: the paper's 11 (--list) or a .jsonl file in vr2's sample schema.
    """
    if list_benchmarks:
        _print_benchmarks(as_json)
        return
    names = [n.strip() for item in benchmarks for n in item.split(",") if n.strip()]
    if mode == "auto" and from_samples is None:
        raise Vr2Error("--mode: auto is only for --from-samples; use think or direct")
    config = load(recipe, sets, {
        "model.name_or_path": model, "eval.data_dir": data_dir, "eval.video_dir": video_dir,
        "eval.mode": None if mode == "auto" else mode, "eval.limit": limit,
        "eval.batch_size": batch_size, "eval.max_new_tokens": max_new_tokens,
        "eval.temperature": temperature, "video.fps": fps, "video.max_frames": max_frames,
        "video.max_pixels": max_pixels, "eval.engine": engine,
        "eval.release_tasks": str(release_tasks) if release_tasks else None,
        "eval.vas_attn": False if no_vas_attn else None,
        "judge.url": judge_url, "judge.model": judge_model,
        "eval.output_dir": str(output) if output else None,
    })

    if names:
        config = with_changes(config, "eval", benchmarks=names)
    if output is None and config.eval.output_dir == EvalConfig().output_dir:
        # No folder chosen: one per run name (or model), so two models never share one.
        config = with_changes(config, "eval", output_dir=str(Path(config.eval.output_dir) / _run_name(config)))
    others = _comparisons(compare, paper)
    if download and from_samples is None:
        _download(config)
    if from_samples is not None:
        _from_samples(from_samples, config, output, mode or "auto", others, as_json)
        return

    with display.progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=done, total=total)

        summary = evaluate(config, force=force, progress=progress, compare=others)
    if summary:  # in a sharded run only rank 0 reports
        _show(summary, Path(config.eval.output_dir), others, as_json)


def _download(config) -> None:
    for name, folder in download_benchmarks(config):
        display.err_console.print(f"{name:>14}: {folder}", highlight=False, markup=False)


def _run_name(config) -> str:
    import re

    name = config.name or Path(config.model.name_or_path.rstrip("/")).name
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "run"


def _comparisons(paths: list[Path], paper: bool) -> list[dict]:
    others = [load_summary(p) for p in paths]
    if paper:
        others += [paper_summary(row) for row in PAPER_ROWS]
    return others


def _from_samples(folder: Path, config, output: Optional[Path], mode: str, others, as_json: bool) -> None:
    from rich.text import Text


    if mode not in ("auto", "think", "direct"):
        raise Vr2Error(f"--mode: must be auto, think or direct, got {mode!r}")
    summary, warnings = score_sample_files(folder, config, mode=mode)
    for warning in warnings[:20]:
        display.err_console.print(Text(warning, style="yellow"), highlight=False, soft_wrap=True)
    if len(warnings) > 20:
        display.err_console.print(Text(f"... and {len(warnings) - 20} more", style="yellow"))
    out = output or folder / "vr2"
    write_reports(summary, out, others)
    _show(summary, out, others, as_json)


def _show(summary: dict, out: Path, others, as_json: bool) -> None:
    from rich.text import Text


    for warning in summary.get("warnings", []):
        display.err_console.print(Text(f"skipped: {warning}", style="yellow"), highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(to_json(summary, indent=2))  # valid JSON even if a value is NaN
        return
    for table in rich_tables(summary, others):
        display.console.print(table)
    errors = sum(b.get("errors", 0) for b in summary["benchmarks"].values())
    if errors:
        # From sample files the rows are the user's own files; a run writes them under out/samples.
        where = summary.get("samples_dir") or f"{out}/samples"
        display.err_console.print(Text(f"{errors} sample(s) could not be evaluated (see 'error' in "
                                       f"{where}); they are counted, not scored", style="yellow"))
    if summary.get("skipped_lines"):
        display.err_console.print(Text(f"{summary['skipped_lines']} line(s) of {summary.get('samples_dir')} "
                                       "could not be scored; listed in summary.json 'skipped'", style="yellow"))
    for note in footnotes(summary)[:1] + list(summary.get("notes", [])):
        display.console.print(Text(note, style="dim"))
    display.console.print(Text(f"Written: {out}/summary.json, report.md, report.html", style="dim"))


def _print_benchmarks(as_json: bool = False) -> None:
    from rich.table import Table
    from rich.text import Text


    facts = [spec.describe() for spec in benchmarks.BENCHMARKS.values()]
    if as_json:
        typer.echo(json.dumps(facts, indent=2))
        return
    table = Table(title="Benchmarks (--json adds split, scoring, download command, lmms-eval tasks)",
                  title_justify="left")
    for column in ("name", "title", "group", "HF dataset", "paper"):
        table.add_column(column, overflow="fold")
    for fact in facts:
        dataset = fact["hf_dataset"] + (f" {fact['download_args']}" if fact["download_args"] else "")
        paper = "-" if fact["paper_accuracy"] is None else f"{fact['paper_accuracy']:.1f}"
        table.add_row(*(Text(str(c)) for c in (fact["name"], fact["title"], fact["group"], dataset, paper)))
    display.console.print(table)
