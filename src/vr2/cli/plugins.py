"""`vr2 plugins`: what is installed, which hooks each plugin implements, what is selected."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vr2.cli.options import RecipeOption, SetOption, load


def plugins(recipe: Optional[Path] = RecipeOption, sets: list[str] = SetOption) -> None:
    """List loaded plugins and the components they offer; mark the ones the recipe selects."""
    from rich.console import Console
    from rich.table import Table

    from vr2.plugins.registry import KINDS, plugin_rows

    config = load(recipe, sets, {})
    selected = {
        f"extractor:{config.tar.extractor}", f"embedder:{config.tar.embedder}",
        f"consistency:{config.tar.consistency}", f"backend:{config.trainer.backend}",
        f"engine:{config.eval.engine}", f"judge:{config.judge.backend}",
        f"teacher:{config.curate.teacher}",
        *(f"reward:{name}" for name, weight in config.rewards.items() if weight),
    }
    table = Table(title="vr2 plugins (VR2_PLUGINS limits which entry points load)", title_justify="left")
    hook_of = {kind: hook for hook, kind in KINDS.items()}
    for name in ("plugin", "source", "hook", "kind", "component", "selected"):
        table.add_column(name)
    for row in plugin_rows():
        for offer in row["offers"] or ["-:-"]:
            kind, name = offer.split(":", 1)
            mark = "[green]*[/green]" if offer in selected else ""
            table.add_row(row["plugin"], row["source"], hook_of.get(kind, "-"), kind, name, mark)
    Console().print(table)
