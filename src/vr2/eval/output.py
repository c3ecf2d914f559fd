"""What an eval run leaves behind: summary.json, report.md and report.html in its folder."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from vr2.eval.page import render
from vr2.eval.report import markdown_report, write_json


def html_report(summary: Mapping, others: Sequence[Mapping] = ()) -> str:
    """The self-contained report page (`vr2.eval.page`)."""
    return render(summary, others)


def write_reports(summary: Mapping, out_dir: Path, others: Sequence[Mapping] = ()) -> dict[str, Path]:
    """summary.json, report.md and report.html in `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"summary": out_dir / "summary.json", "markdown": out_dir / "report.md",
             "html": out_dir / "report.html"}
    write_json(paths["summary"], summary)
    paths["markdown"].write_text(markdown_report(summary, others), encoding="utf-8")
    paths["html"].write_text(html_report(summary, others), encoding="utf-8")
    return paths
