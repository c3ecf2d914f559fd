"""`vr2 tiny-model OUT --seed N`: write a tiny random Qwen2.5-VL for smoke runs and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vr2.devtools.tiny import build_tiny_model


def run(
    out: Annotated[Path, typer.Argument(metavar="OUT", help="Folder to write the model into (created if missing).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random weights.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty folder.")] = False,
) -> None:
    """Build a tiny random Qwen2.5-VL (about 300k parameters) that loads like the real one."""
    from rich.console import Console

    path = build_tiny_model(out, seed=seed, overwrite=force)
    Console().print(f"tiny Qwen2.5-VL (seed {seed}) written to [bold]{path}[/bold]")
