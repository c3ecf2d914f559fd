"""Options shared by several subcommands, and turning flags into recipe overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

RecipeOption = typer.Option(None, "--recipe", help="Take settings from this recipe TOML.",
                            exists=False, dir_okay=False)
SetOption = typer.Option([], "--set", "-s", help="Override a recipe key: section.key=value (repeatable).")


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
    from vr2.config import load_recipe

    return load_recipe(recipe, [*sets, *flag_overrides(flags)])
