"""`vr2 grpo RECIPE`: stage 2, GRPO with accuracy, format and (gated) TAR rewards."""

from __future__ import annotations

from pathlib import Path

import typer

from vr2.cli.options import SetOption, recipe_argument
from vr2.config import load_recipe
from vr2.train.grpo import run_grpo
from vr2.train.plan import print_dry_run


def grpo(
    recipe: Path = recipe_argument("Recipe TOML, e.g. recipes/tar_gated.toml."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint "
                                "in trainer.output_dir."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved plan (batch, steps, dtypes, "
                                 "DeepSpeed) without loading a model or training."),
    world_size: int = typer.Option(0, "--world-size", min=0, help="With --dry-run: number of GPUs/processes "
                                   "to plan for (default: this launch's)."),
    as_json: bool = typer.Option(False, "--json", help="With --dry-run: print the plan as JSON."),
    sets: list[str] = SetOption,
) -> None:
    """Reinforcement learning on videos (GRPO); the video reaches generation and every loss forward."""
    from rich.console import Console


    config = load_recipe(recipe, sets)
    if dry_run:
        print_dry_run(config, "grpo", world_size=world_size or None, as_json=as_json)
        return
    path = run_grpo(config, resume=resume)
    Console(stderr=True, soft_wrap=True).print(f"run output: [bold]{path}[/bold]")
