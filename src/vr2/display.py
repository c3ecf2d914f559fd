"""Terminal output with rich: score tables, batch summaries and progress bars."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from vr2.timestamps import format_clock

console = Console()
err_console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=transient)


def _span(claim: dict) -> str:
    if claim["start"] == claim["end"]:
        return format_clock(claim["start"])
    return f"{format_clock(claim['start'])}-{format_clock(claim['end'])}"


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "[dim]n/a[/dim]"
    if isinstance(value, bool):
        return "[green]yes[/green]" if value else "[red]no[/red]"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def claims_table(result: dict) -> Table:
    """Predicted claims beside the reference claim each matched (gap, similarity)."""
    by_pred = {m["pred"]: m for m in result["matches"]}
    table = Table(title="Predicted claims (from <think>)", title_justify="left")
    for name in ("#", "time", "claim", "matched reference", "gap s", "sim"):
        table.add_column(name, overflow="fold")
    for i, claim in enumerate(result["pred_claims"]):
        m = by_pred.get(i)
        ref = result["ref_claims"][m["ref"]] if m else None
        table.add_row(
            str(i), _span(claim), claim["text"],
            f"[green]{_span(ref)} {ref['text']}[/green]" if ref else "[red]no match[/red]",
            _num(m["gap"], 1) if m else "", _num(m["similarity"], 2) if m else "",
        )
    return table


def reference_table(result: dict) -> Table:
    matched = {m["ref"] for m in result["matches"]}
    table = Table(title="Reference grounding", title_justify="left")
    for name in ("#", "time", "sentence", "matched"):
        table.add_column(name, overflow="fold")
    for j, claim in enumerate(result["ref_claims"]):
        table.add_row(str(j), _span(claim), claim["text"], _num(j in matched))
    return table


def scores_table(result: dict, weights: dict) -> Table:
    table = Table(title="Scores", title_justify="left", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    rows = [
        ("TAR precision (paper's TAR)", _num(result["tar_precision"])),
        ("TAR recall / F1", f"{_num(result['tar_recall'])} / {_num(result['tar_f1'])}"),
        ("consistency gate", {1: "[green]open[/green]", 0: "[red]closed[/red]"}.get(result["gate"], "[yellow]masked[/yellow]")),
        ("TAC (think and answer agree)", _num(result["tac"])),
        ("think concludes / answer says", f"{result['think_answer']} / {result['final_answer']}"),
        ("format ok", _num(result["format_ok"])),
    ]
    for name, value in result["rewards"].items():
        weight = f" (x{weights[name]:g})" if name in weights else ""
        rows.append((f"reward {name}{weight}", _num(value)))
    for name, value in rows:
        table.add_row(name, value)
    if result.get("note"):
        table.add_row("note", f"[yellow]{result['note']}[/yellow]")
    return table


def print_score(result: dict, item, config) -> None:
    from vr2.scoring import weights_of

    tar = config.tar
    console.print(f"[dim]buffer {tar.buffer_seconds:g}s, tau {tar.tau:g}, matching {tar.matching}, "
                  f"extractor {tar.extractor}, embedder {tar.embedder}, gate {'on' if tar.gate else 'off'}[/dim]")
    console.print(claims_table(result))
    console.print(reference_table(result))
    console.print(scores_table(result, weights_of(config)))


def run_batch(trace: Path, out: Path, tar, weights: dict, *, resume: bool):
    from vr2.scoring import score_jsonl

    total = sum(1 for line in trace.open(encoding="utf-8") if line.strip()) if trace.exists() else 0
    with progress_bar() as bar:
        task = bar.add_task("scoring", total=total)
        report = score_jsonl(trace, out, tar, weights, resume=resume,
                             progress=lambda n: bar.advance(task, n))
        bar.update(task, completed=total)
    return report


def print_batch(report, summary: dict, out: Path, trace: Path, *, as_json: bool) -> None:
    for number, reason in report.bad_lines:
        err_console.print(f"[yellow]{escape(f'{trace}:{number}: skipped: {reason}')}[/yellow]",
                          highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    table = Table(title=f"Summary of {summary['scored']} traces -> {out}", title_justify="left",
                  show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("mean")
    for key, value in summary.items():
        table.add_row(key, _num(value))
    console.print(table)
