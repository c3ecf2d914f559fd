"""`vr2 download WHAT`: the release's training set or a benchmark's data from the Hugging Face Hub,
unpacked where the recipes read it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vr2.cli import display
from vr2.data.hub import fetch_training_set
from vr2.eval import benchmarks

TRAINING = "training"


def download(
    what: str = typer.Argument(..., metavar="WHAT", show_default=False,
                               help="'training' for the release's training set (MBZUAI/Video-R2-Dataset), or a "
                                    "benchmark name (vr2 eval --list)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", file_okay=False,
                                          help="Folder to fill. Default: data (where the paper recipes read "
                                               "the training set), data/benchmarks for a benchmark (the eval "
                                               "recipes' data_dir; the benchmark gets its own sub-folder)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="Dataset revision (default: main; "
                                           "MVBench: video)."),
) -> None:
    """Fetch data from the Hugging Face Hub: resumable (rerun after a break), a progress bar, one-line
    errors without network. HF_TOKEN and HF_ENDPOINT are honoured."""
    if what == TRAINING:
        paths = fetch_training_set(output or Path("data"), revision=revision or "main")
    else:
        spec = benchmarks.get_benchmark(what)
        paths = {spec.name: benchmarks.download(spec, output or Path("data/benchmarks"), revision=revision)}
    for name, path in paths.items():
        display.err_console.print(f"{name:>10}: {path}", highlight=False, markup=False)
