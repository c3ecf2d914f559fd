"""`vr2 curate RECIPE`: build the SFT and GRPO sets with a teacher (see vr2.curate.pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vr2.cli.display import progress_bar
from vr2.cli.options import SetOption, recipe_argument
from vr2.config import load_recipe
from vr2.curate import pipeline

SHOWN_BAD_ROWS = 5


def curate(
    recipe: Path = recipe_argument("Recipe TOML with a \\[curate] section, e.g. recipes/curate.toml."),
    stage: Optional[str] = typer.Option(None, "--stage", help="Run one stage: ingest, teach, verify, rank, "
                                        "split, write, or merge (join --shard runs). Default: all."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/N: do part i of N (ingest to rank); "
                                        "then --stage merge joins them."),
    sets: list[str] = SetOption,
) -> None:
    """Curate training data: ingest, teach, verify, rank, split, write; resumable and cached."""
    from rich.console import Console


    config = load_recipe(recipe, sets)
    part = pipeline.Shard.parse(shard) if shard else None
    pipeline.plan(stage, part)  # a bad --stage fails before any work
    console = Console(stderr=True, soft_wrap=True)
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=max(total, 1))
            bar.update(tasks[name], completed=done if total else 1, total=max(total, 1))

        result = pipeline.run(config, stage=stage, shard=part, progress=progress)
    out = Path(config.curate.output_dir)
    for name, value in result.counts.items():
        console.print(f"{name}: {value}")
    if result.bad_rows:
        for row in result.bad_rows_listed[:SHOWN_BAD_ROWS]:
            console.print(f"bad row: {row['file']} row {row['row']}: {row['reason']}", markup=False)
        console.print(f"bad source rows: {result.bad_rows} (all listed in manifest.json, up to 1000)")
    if result.teacher_stats:
        s = result.teacher_stats
        console.print(f"teacher: {s['requests']} requests, {s['cache_hits']} cached, {s['retries']} retries, "
                      f"{s['failures']} failed")
    if len(result.endpoints) > 1 or any(calls.get("failed") for calls in result.endpoints.values()):
        for url, calls in result.endpoints.items():  # URLs come redacted; "[redacted]" is no markup
            console.print(f"teacher endpoint {url}: {calls.get('answered', 0)} answered, "
                          f"{calls.get('failed', 0)} failed", markup=False)
    if result.teacher_failures:
        console.print(f"[yellow]{result.teacher_failures} teacher calls failed; run the same command again "
                      f"to retry them[/yellow]")
    if "write" in result.stages or "merge" in result.stages:
        console.print(f"written: [bold]{out / 'sft.json'}[/bold], {out / 'grpo.json'}, "
                      f"{out / 'manifest.json'}, {out / 'report.html'}")
    elif part is not None and part.count > 1 and "rank" in result.stages:
        console.print(f"shard {part.index}/{part.count} done; once all are, run: vr2 curate {recipe} --stage merge")
