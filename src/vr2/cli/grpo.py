"""`vr2 grpo RECIPE`: stage 2, GRPO with accuracy, format and (gated) TAR rewards."""

from __future__ import annotations

from pathlib import Path

import typer

from vr2.cli.options import SetOption


def grpo(
    recipe: Path = typer.Argument(..., help="Recipe TOML, e.g. recipes/tar_gated.toml.", dir_okay=False),
    resume: bool = typer.Option(False, "--resume", help="Continue from the newest complete checkpoint "
                                "in trainer.output_dir."),
    sets: list[str] = SetOption,
) -> None:
    """Reinforcement learning on videos (GRPO); the video reaches generation and every loss forward."""
    from rich.console import Console

    from vr2.config import load_recipe
    from vr2.grpo import run_grpo

    config = load_recipe(recipe, sets)
    path = run_grpo(config, resume=resume)
    Console(stderr=True, soft_wrap=True).print(f"run output: [bold]{path}[/bold]")
