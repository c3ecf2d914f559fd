"""`vr2 recipe validate|show RECIPE`: check recipes and print the settings they resolve to."""

from __future__ import annotations

from pathlib import Path

import typer

from vr2.cli.options import SetOption
from vr2.config import dump_toml, load_recipe

app = typer.Typer(help="Check and show TOML recipes.", no_args_is_help=True)


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="Recipe files.", metavar="RECIPE", show_default=False),
    sets: list[str] = SetOption,
) -> None:
    """Parse and validate each recipe (with the -s overrides applied); exit 2 on the first bad one."""
    for path in files:
        load_recipe(path, sets)
        typer.echo(f"ok  {path}")


@app.command("show")
def show(
    file: Path = typer.Argument(..., help="Recipe file.", metavar="RECIPE", show_default=False),
    sets: list[str] = SetOption,
) -> None:
    """Print every setting the recipe resolves to (defaults, extends and overrides applied)."""
    typer.echo(dump_toml(load_recipe(file, sets)))
