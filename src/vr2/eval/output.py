"""What an eval run leaves behind: summary.json, report.md and report.html in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from vr2.eval.page import render
from vr2.eval.report import markdown_report, write_json
from vr2.files import make_folder, write_atomic


def html_report(summary: Mapping, others: Sequence[Mapping] = ()) -> str:
    """The self-contained report page (`vr2.eval.page`)."""
    return render(summary, others)


def write_reports(summary: Mapping, out_dir: Path, others: Sequence[Mapping] = ()) -> dict[str, Path]:
    """summary.json, report.md and report.html in `out_dir`; returns their paths.

    Each file is written whole through a temporary file and renamed into place, so a symlink
    planted at one of these names is replaced, never written through, and a full disk leaves
    the previous file as it was (one-line error). An output folder that is a symlink is refused."""
    make_folder(out_dir)
    paths = {"summary": out_dir / "summary.json", "markdown": out_dir / "report.md",
             "html": out_dir / "report.html"}
    write_json(paths["summary"], summary)
    write_atomic(paths["markdown"], markdown_report(summary, others), "report")
    write_atomic(paths["html"], html_report(summary, others), "report")
    return paths
