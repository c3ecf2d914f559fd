"""`report.html` of a `vr2 curate` run: its manifest as one self-contained page of bar charts
(inline SVG, no scripts, no network), and a few kept and rejected samples per source: the
question, the teacher's reasoning with its cited times highlighted, the frames the teacher saw at
those times, and the verdict with its reason. Every text from a source or the teacher is escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping

from vr2.html import esc
from vr2.model.prompts import format_question
from vr2.scoring.timestamps import find_times

BAR_HEIGHT = 18
BAR_WIDTH = 360
CHAR_WIDTH = 7.2  # px per character of a 12 px label, generous: a label is never cut

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
svg text { font-size: 12px; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.8em; }
.example { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; margin: 0.8em 0; }
.example.kept { border-left: 5px solid #3a8f4b; } .example.rejected { border-left: 5px solid #c0392b; }
.example .q { white-space: pre-wrap; font-weight: 600; } .example .think { white-space: pre-wrap; }
mark.t { background: #ffe08a; } .frames img { margin: 4px 6px 0 0; border: 1px solid #ccc; }
.frames figure { display: inline-block; margin: 0; font-size: 0.8em; text-align: center; }
"""


def bar_chart(title: str, values: Mapping[str, float]) -> str:
    """A horizontal bar chart, one bar per label, as an SVG element."""
    if not values:
        return f"<h2>{esc(title)}</h2><p>nothing to show</p>"
    top = max(values.values()) or 1
    height = BAR_HEIGHT * len(values) + 8
    label_width = int(max(len(str(label)) for label in values) * CHAR_WIDTH) + 16
    rows = []
    for i, (label, value) in enumerate(values.items()):
        y = 4 + i * BAR_HEIGHT
        width = BAR_WIDTH * value / top
        rows.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{esc(label)}</text>'
            f'<rect x="{label_width}" y="{y + 2}" width="{width:.1f}" height="{BAR_HEIGHT - 4}" fill="#4a78b5"/>'
            f'<text x="{label_width + width + 4:.1f}" y="{y + 13}">{esc(value)}</text>')
    total_width = label_width + BAR_WIDTH + 80
    return (f"<h2>{esc(title)}</h2><svg xmlns='http://www.w3.org/2000/svg' width='{total_width}' "
            f"height='{height}' role='img' aria-label='{esc(title)}'>{''.join(rows)}</svg>")


def _source_table(per_source: Mapping[str, Mapping[str, int]]) -> str:
    columns = ["loaded", "ingest", "verify", "rank", "sft", "grpo"]
    head = "".join(f"<th>{c}</th>" for c in ["source", *columns])
    rows = "".join("<tr><td>" + esc(source) + "</td>" + "".join(f"<td>{counts.get(c, 0)}</td>" for c in columns)
                   + "</tr>" for source, counts in per_source.items())
    return f"<h2>Samples per source and stage</h2><table><tr>{head}</tr>{rows}</table>"


def _rejections(rejections: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    return {f"{stage}: {reason}": n for stage, reasons in rejections.items() for reason, n in reasons.items()}


def _stat_line(name: str, stats: Mapping) -> str:
    if not stats.get("count"):
        return f"<p>{esc(name)}: none</p>"
    return (f"<p>{esc(name)}: n = {stats['count']}, mean {stats['mean']}, median {stats['median']}, "
            f"min {stats['min']}, max {stats['max']}</p>")


def highlighted(text: str) -> str:
    """`text` escaped, each time it cites marked."""
    out, position = [], 0
    for mention in find_times(text):
        out.append(esc(text[position:mention.char_start]))
        span = f"{mention.start:g} s" if mention.start == mention.end else f"{mention.start:g}-{mention.end:g} s"
        out.append(f'<mark class="t" title="{esc(span)}">{esc(text[mention.char_start:mention.char_end])}</mark>')
        position = mention.char_end
    return "".join(out) + esc(text[position:])


def _example(example: Mapping) -> str:
    kept = example["verdict"] == "kept"
    verdict = (f"kept (TAR {example.get('tar')}, to {example.get('split')})" if kept
               else f"rejected: {example.get('reason')}")
    frames = "".join(f'<figure><img src="{esc(uri)}" alt="frame at {seconds:g} s" width="160">'
                     f'<figcaption>{seconds:g} s</figcaption></figure>' for seconds, uri in example.get("frames", []))
    return (f'<div class="example {"kept" if kept else "rejected"}"><div><b>{esc(verdict)}</b> · '
            f'{esc(example["key"])} · {esc(example["video"])}</div>'
            f'<div class="q">{esc(format_question(example["question"], example["options"]))}</div>'
            f'<div class="think">{highlighted(example.get("think") or "")}</div>'
            f'<div>Answer: <b>{esc(example.get("answer") or "")}</b> (gold: {esc(example["gold"])})</div>'
            f'<div class="frames">{frames}</div></div>')


def _examples(examples: Mapping | None) -> str:
    if not examples:
        return ""
    parts = ["<h2>Examples</h2><p>A few kept and rejected samples per source, the times the teacher "
             "cites highlighted, with the frames it saw at those times.</p>"]
    for source, groups in sorted(examples.items()):
        parts.append(f"<h3>{esc(source)}</h3>")
        parts += [_example(e) for e in groups.get("kept", []) + groups.get("rejected", [])]
    return "\n".join(parts)


def render_report(manifest: Mapping, examples: Mapping | None = None) -> str:
    counts = manifest["counts"]
    samples, videos = counts["samples"], counts["videos"]
    teacher = manifest.get("teacher", {})
    parts = [
        f"<h1>vr2 curate: {esc(manifest.get('recipe') or 'run')}</h1>",
        f"<p>{samples['total']} samples over {videos['total']} videos: {samples['sft']} SFT "
        f"({videos['sft']} videos), {samples['grpo']} GRPO ({videos['grpo']} videos). "
        f"Teacher: {esc(teacher.get('plugin', ''))} {esc(teacher.get('model', ''))}. "
        f"Bad source rows: {manifest['bad_rows']['count']}.</p>",
        _source_table(counts["per_source"]),
        bar_chart("Rejections by stage and reason", _rejections(manifest["rejections"])),
        bar_chart("Video duration (seconds)", manifest["video_duration_s"]["histogram"]),
        _stat_line("Video duration (s)", manifest["video_duration_s"]),
        bar_chart("Reasoning length (tokens)", manifest["reasoning_tokens"]["histogram"]),
        _stat_line("Reasoning tokens", manifest["reasoning_tokens"]),
        bar_chart(f"Difficulty ({manifest['difficulty']['method']})", manifest["difficulty"]["histogram"]),
        bar_chart("Answer types", manifest["answer_types"]),
        _examples(examples),
        "<h2>Settings</h2><pre>" + esc(json.dumps(manifest["settings"], indent=1, sort_keys=True)) + "</pre>",
    ]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>vr2 curate report</title>"
            f"<style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>\n")
