"""Options shared by several subcommands, and turning flags into recipe overrides."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import typer

from vr2.config import load_recipe
from vr2.errors import Vr2Error

# The rule (see vr2.cli.main): RECIPE is the first positional argument wherever a command runs from a
# recipe; --recipe only where the positional slots hold the command's input (score, explain).
RecipeOption = typer.Option(None, "--recipe", help="Take settings from this recipe TOML.",
                            exists=False, dir_okay=False, metavar="RECIPE")
SetOption = typer.Option([], "--set", "-s", metavar="SECTION.KEY=VALUE",
                         help="Override a recipe key, e.g. -s tar.tau=0.8 (repeatable).")


def recipe_argument(help: str, *, required: bool = True):
    """The positional RECIPE of a command that runs from a recipe."""
    return typer.Argument(... if required else None, help=help, metavar="RECIPE", dir_okay=False,
                          show_default=False)


def finite(ctx: typer.Context, param: typer.CallbackParam, value: float | None) -> float | None:
    """Callback for number flags: NaN passes every range check (nan < lo is False), so refuse
    NaN and infinity here, naming the flag."""
    if value is not None and not math.isfinite(value):
        raise Vr2Error(f"{param.opts[0]}: must be a finite number, got {value}")
    return value


def flag_overrides(pairs: dict[str, Any]) -> list[str]:
    """Command-line flags that were given, as `section.key=value` overrides (None = not given)."""
    out = []
    for key, value in pairs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{key}={text}")
    return out


def load(recipe: Path | None, sets: list[str], flags: dict[str, Any]):
    """The recipe (or defaults) with --set overrides, then explicit flags on top."""
    return load_recipe(recipe, [*sets, *flag_overrides(flags)])
