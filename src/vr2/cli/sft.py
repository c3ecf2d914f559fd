"""`vr2 sft RECIPE`: stage 1, timestamp-aware SFT (LoRA by default), then merge the adapter."""

from __future__ import annotations

from pathlib import Path

import typer

from vr2.cli.options import SetOption, recipe_argument
from vr2.config import load_recipe
from vr2.train.plan import print_dry_run
from vr2.train.sft import merge_run, run_sft


def sft(
    recipe: Path = recipe_argument("Recipe TOML, e.g. recipes/sft.toml."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint "
                                "in trainer.output_dir."),
    merge: bool = typer.Option(False, "--merge", help="Only merge the run's LoRA adapter (final/ or the "
                               "newest checkpoint) into <output_dir>/merged; no training."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved plan (batch, steps, dtypes, "
                                 "DeepSpeed) without loading a model or training."),
    world_size: int = typer.Option(0, "--world-size", min=0, help="With --dry-run: number of GPUs/processes "
                                   "to plan for (default: this launch's)."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: print the plan as JSON."),
    sets: list[str] = SetOption,
) -> None:
    """Supervised fine-tuning on videos: only the assistant reply is learned."""
    from rich.console import Console


    config = load_recipe(recipe, sets)
    if dry_run:
        print_dry_run(config, "sft", world_size=world_size or None, as_json=as_json)
        return
    path = merge_run(config) if merge else run_sft(config, resume=resume)
    Console(stderr=True, soft_wrap=True).print(f"model written to [bold]{path}[/bold]")
