"""`vr2 synthetic OUT`: a tiny model, synthetic videos and SFT/GRPO data for smoke runs."""

from __future__ import annotations

from pathlib import Path

import typer

from vr2.devtools.smoke import build_synthetic


def synthetic(
    out: Path = typer.Argument(..., metavar="OUT", show_default=False, help="Folder to write into, e.g. runs/smoke (created if missing).",
                               file_okay=False),
    sft_steps: int = typer.Option(40, "--sft-steps", min=0, help="Steps of the short SFT that teaches the tiny "
                                  "model the answer format (0 = keep it random)."),
) -> None:
    """Build everything recipes/smoke/*.toml need: tiny Qwen2.5-VL, mp4s, subtitles, datasets."""
    from rich.console import Console

    paths = build_synthetic(out, warm_steps=sft_steps)
    console = Console(stderr=True, soft_wrap=True)
    for name, path in paths.items():
        console.print(f"{name:>10}: {path}", highlight=False)
