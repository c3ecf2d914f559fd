"""`vr2 plugins [RECIPE]`: what is installed, which hooks each plugin implements, what is selected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from vr2.cli.options import SetOption, load, recipe_argument
from vr2.errors import Vr2Error
from vr2.plugins.registry import KINDS, plugin_rows


def plugins(
    recipe: Optional[Path] = recipe_argument("Mark the components this recipe selects (default: the built-in "
                                             "defaults).", required=False),
    sets: list[str] = SetOption,
    as_json: bool = typer.Option(False, "--json", help="Print the rows as a JSON list instead of a table."),
    old_recipe: Optional[Path] = typer.Option(None, "--recipe", hidden=True, dir_okay=False),  # before 0.2
) -> None:
    """List loaded plugins and the components they offer; mark the ones the recipe selects."""
    if recipe is not None and old_recipe is not None:
        raise Vr2Error("give the recipe once: as RECIPE (--recipe is its old spelling)")
    config = load(recipe or old_recipe, sets, {})
    rows = component_rows(config)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows)


def component_rows(config) -> list[dict]:
    """One row per component a plugin offers (a plugin that offers none gets one row of '-')."""
    selected = {
        f"extractor:{config.tar.extractor}", f"embedder:{config.tar.embedder}",
        f"consistency:{config.tar.consistency}", f"backend:{config.trainer.backend}",
        f"engine:{config.eval.engine}", f"judge:{config.judge.backend}",
        f"teacher:{config.curate.teacher}",
        *(f"reward:{name}" for name, weight in config.rewards.items() if weight),
    }
    hook_of = {kind: hook for hook, kind in KINDS.items()}
    rows = []
    for row in plugin_rows():
        for offer in row["offers"] or ["-:-"]:
            kind, name = offer.split(":", 1)
            rows.append({"plugin": row["plugin"], "source": row["source"], "hook": hook_of.get(kind, "-"),
                         "kind": kind, "component": name, "selected": offer in selected})
    return rows


def _print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title="vr2 plugins (VR2_PLUGINS limits which entry points load)", title_justify="left")
    for name in ("plugin", "source", "hook", "kind", "component", "selected"):
        table.add_column(name)
    for row in rows:
        cells = [Text(str(row[key])) for key in ("plugin", "source", "hook", "kind", "component")]
        table.add_row(*cells, Text("*", style="green") if row["selected"] else "")
    Console().print(table)
