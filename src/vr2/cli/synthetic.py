"""`vr2 synthetic OUT`: a tiny model, synthetic videos and SFT/GRPO data for smoke runs."""

from __future__ import annotations

from pathlib import Path

import typer


def synthetic(
    out: Path = typer.Argument(..., help="Folder to write into, e.g. runs/smoke (created if missing).",
                               file_okay=False),
) -> None:
    """Build everything recipes/smoke/*.toml need: tiny Qwen2.5-VL, mp4s, subtitles, datasets."""
    from rich.console import Console

    from vr2.smoke import build_smoke

    paths = build_smoke(out)
    console = Console(stderr=True, soft_wrap=True)
    for name, path in paths.items():
        console.print(f"{name:>10}: {path}", highlight=False)
