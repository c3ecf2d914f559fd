"""The `vr2 eval` report page (`report.html`): one self-contained file, no script, no external
resource, every text escaped.

What it shows, top to bottom: the run's headline numbers (Generic / Reasoning / Overall of the
official accuracy, TAC, VAS), the full protocol, the paper-layout table with the compared runs and
the paper's published rows beside this one, bars per benchmark for accuracy / TAC / VAS across
the runs, the averages table, every metric per benchmark, how each official number is combined,
the per-category breakdowns with bars, and the samples that failed or were skipped with their
reasons. The tables are the ones `vr2.eval.report` builds for report.md, so both say the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vr2.eval import report as rp
from vr2.html import esc

PALETTE = ("#3b6fd6", "#e07b39", "#2e9e6a", "#a452c7", "#c0392b", "#7a8699", "#d4a017", "#17a2b8")
PAPER_COLOUR = "#8a93a3"
BAR_METRICS = (("Accuracy (official)", "headline"), ("TAC", "tac"), ("TAC (correctness)", "tac_correctness"),
               ("VAS-judge", "vas_judge"))

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1640px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:30px 0 10px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
h3{font-size:1em;margin:18px 0 6px}
.meta{color:#5b6475;font-size:.9em}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:8px;padding:12px 16px;margin:8px 0}
.scores{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:10px}
.score .name{font-size:.8em;color:#5b6475;text-transform:uppercase;letter-spacing:.04em}
.score .value{font-size:1.6em;font-weight:600;margin:2px 0}
.score .detail{font-size:.85em;color:#5b6475}
dl.protocol{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.protocol dt{color:#5b6475}dl.protocol dd{margin:0}
.scroll{overflow-x:auto;background:#fff;border:1px solid #d5d9e0;border-radius:8px;margin:8px 0}
table{border-collapse:collapse;background:#fff;margin:0;min-width:100%}
th,td{border-bottom:1px solid #e3e6eb;padding:4px 6px;text-align:right;font-size:.8em;white-space:nowrap}
th{white-space:normal;vertical-align:bottom}
th:first-child,td:first-child{text-align:left;white-space:normal;min-width:9em;max-width:22em}
th{background:#eef0f4}
td .sub{font-size:.85em;font-weight:400;color:#5b6475;white-space:normal}
tr.this td{font-weight:600;background:#f3f7ff}
tr.paper td{color:#5b6475;font-style:italic}
.legend{display:flex;flex-wrap:wrap;gap:12px;font-size:.85em;margin:4px 0 10px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.bars{display:grid;grid-template-columns:minmax(9em,max-content) 1fr;gap:3px 10px;align-items:center}
.bars .label{font-size:.85em;text-align:right;color:#333;max-width:26em;overflow-wrap:anywhere}
.track{display:flex;flex-direction:column;gap:2px}
.bar{height:9px;border-radius:2px;min-width:1px}
.barrow{display:flex;align-items:center;gap:6px;font-size:.75em;color:#5b6475}
.na{color:#8a93a3}.warn{color:#a15c00}
ul.plain{margin:4px 0;padding-left:20px}
li{margin:2px 0}
"""


def _fmt(value: Any, digits: int = 1) -> str:
    return rp._fmt(value, digits)


def _cell(text: str) -> str:
    """A number with its remark ("58.3 (scored 96 of 100)") on a second, wrapping line, so the
    remark does not widen the column."""
    value, _, remark = str(text).partition(" (")
    if not remark or not remark.endswith(")") or " " in value:
        return esc(text)
    return f'{esc(value)}<br><span class="sub">({esc(remark)}</span>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] = ()) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if i < len(classes) and classes[i] else ""
        cells = [f"<td>{esc(row[0])}</td>"] + [f"<td>{_cell(c)}</td>" for c in row[1:]]
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _is_paper(summary: Mapping) -> bool:
    return str(summary.get("label", "")).startswith("paper: ")


def _colours(runs: Sequence[Mapping]) -> list[str]:
    colours, k = [], 0
    for run in runs:
        if _is_paper(run):
            colours.append(PAPER_COLOUR)
        else:
            colours.append(PALETTE[k % len(PALETTE)])
            k += 1
    return colours


def _header(summary: Mapping) -> str:
    facts = [summary.get("source"), summary.get("model"), summary.get("created")]
    where = summary.get("output_dir") or summary.get("samples_dir")
    return (f"<h1>vr2 eval: {esc(summary.get('label', ''))}</h1>"
            f"<div class=\"meta\">{' · '.join(esc(f) for f in facts if f)}"
            f"{'<br>' + esc(where) if where else ''}</div>")


def _score(name: str, value: str, detail: str = "") -> str:
    return (f'<div class="card score"><div class="name">{esc(name)}</div>'
            f'<div class="value">{esc(value)}</div><div class="detail">{esc(detail)}</div></div>')


def _headline_scores(summary: Mapping) -> str:
    cards = []
    for title, metric in (("Accuracy", "official_accuracy"), ("TAC", "tac"),
                          ("TAC (correctness)", "tac_correctness"), ("VAS-judge", "vas_judge"),
                          ("VAS-attn", "vas_attn"), ("TAR", "tar")):
        groups = summary.get("averages", {})
        chosen = metric
        if metric == "official_accuracy" and groups.get("overall", {}).get(metric) is None:
            chosen = "accuracy"
        values = [groups.get(g, {}).get(chosen) for g in rp.GROUPS]
        if all(v is None for v in values):
            continue
        covered, total = rp.coverage(summary, "overall")
        detail = "Generic / Reasoning / Overall"
        if covered < total:
            detail += f" (partial: {covered} of {total} benchmarks)"
        cards.append(_score(title, " / ".join(_fmt(v) for v in values), detail))
    return f'<div class="scores">{"".join(cards)}</div>' if cards else ""


def _setting(value) -> str:
    if isinstance(value, Mapping):  # e.g. release_prompts: one line per prompt piece
        return "<br>".join(f"{esc(k)}: {esc(v)}" for k, v in value.items())
    return esc(", ".join(value) if isinstance(value, list) else value)


def _protocol(summary: Mapping) -> str:
    protocol = summary.get("protocol") or {}
    extra = {k: summary.get(k) for k in ("mode", "tasks") if summary.get(k)}
    items = {**protocol, **extra}
    if not items:
        return ""
    rows = "".join(f"<dt>{esc(k.replace('_', ' '))}</dt><dd>{_setting(v)}</dd>" for k, v in items.items())
    return f'<h2>Protocol</h2><div class="card"><dl class="protocol">{rows}</dl></div>'


def _paper_table(summary: Mapping, others: Sequence[Mapping]) -> str:
    runs = [summary, *others]
    headers, rows = rp.accuracy_table(runs)
    classes = ["this"] + ["paper" if _is_paper(o) else "" for o in others]
    return ("<h2>Accuracy per benchmark (paper layout)</h2>" + _table(headers, rows, classes))


def _value(entry: Mapping, metric: str) -> float | None:
    return rp.headline(entry) if metric == "headline" else entry.get(metric)


def _bar_charts(summary: Mapping, others: Sequence[Mapping]) -> str:
    runs = [summary, *others]
    colours = _colours(runs)
    columns = rp.benchmark_columns(runs)
    parts = []
    for title, metric in BAR_METRICS:
        shown = [i for i, run in enumerate(runs)
                 if any(_value(run["benchmarks"].get(n, {}), metric) is not None for n, _, _ in columns)]
        if not shown:
            continue
        legend = "".join(f'<span><span class="swatch" style="background:{colours[i]}"></span>'
                         f'{esc(runs[i].get("label", ""))}</span>' for i in shown)
        grid = []
        for name, display, _ in columns:
            if all(_value(runs[i]["benchmarks"].get(name, {}), metric) is None for i in shown):
                continue  # no run has this metric here: no empty row
            bars = []
            for i in shown:
                value = _value(runs[i]["benchmarks"].get(name, {}), metric)
                if value is None:
                    bars.append('<div class="barrow"><span class="na">-</span></div>')
                    continue
                width = max(0.0, min(100.0, float(value)))
                bars.append(f'<div class="barrow"><div class="bar" style="width:{width:.1f}%;'
                            f'background:{colours[i]}"></div>{esc(_fmt(value))}</div>')
            grid.append(f'<div class="label">{esc(display)}</div><div class="track">{"".join(bars)}</div>')
        parts.append(f"<h3>{esc(title)}</h3><div class=\"legend\">{legend}</div>"
                     f'<div class="card bars">{"".join(grid)}</div>')
    return "<h2>Per benchmark across runs</h2>" + "".join(parts) if parts else ""


def _tables(summary: Mapping, others: Sequence[Mapping]) -> str:
    parts = []
    headers, rows = rp.ablation_table([summary, *others])
    if len(headers) > 1:
        classes = ["this"] + ["paper" if _is_paper(o) else "" for o in others]
        parts.append("<h2>Averages: Generic / Reasoning / Overall</h2>" + _table(headers, rows, classes))
    headers, rows = rp.detail_table(summary)
    if rows:
        parts.append(f"<h2>{esc(summary.get('label', 'this run'))}: every metric per benchmark</h2>"
                     + _table(headers, rows))
    return "".join(parts)


def _official(summary: Mapping) -> str:
    rules = rp.official_notes(summary)
    if not rules:
        return ""
    return ("<h2>Official figure per benchmark</h2><div class=\"card\"><ul class=\"plain\">"
            + "".join(f"<li>{esc(r)}</li>" for r in rules) + "</ul></div>")


def _breakdowns(summary: Mapping) -> str:
    parts = []
    for title, _, table in rp.breakdown_groups(summary):
        grid = []
        for value, cell in table.items():
            accuracy = cell.get("accuracy")
            width = 0.0 if accuracy is None else max(0.0, min(100.0, float(accuracy)))
            grid.append(f'<div class="label">{esc(value)}</div><div class="track"><div class="barrow">'
                        f'<div class="bar" style="width:{width:.1f}%;background:{PALETTE[0]}"></div>'
                        f'{esc(_fmt(accuracy))} ({esc(cell.get("samples"))})</div></div>')
        parts.append(f"<h3>{esc(title)}</h3>"
                     f'<div class="card bars">{"".join(grid)}</div>')
    return "<h2>Per-category breakdowns</h2>" + "".join(parts) if parts else ""


def _problems(summary: Mapping) -> str:
    lines = []
    errors = [(e.get("display") or n, e.get("errors", 0)) for n, e in summary["benchmarks"].items() if e.get("errors")]
    if errors:
        lines.append("<p>Counted, not scored: " + ", ".join(f"{esc(d)} {esc(c)}" for d, c in errors) + ".</p>")
    failed = summary.get("failed") or []
    if failed:
        lines.append("<h3>Samples that failed</h3><ul class=\"plain\">"
                     + "".join(f"<li>{esc(f)}</li>" for f in failed) + "</ul>")
    skipped = summary.get("skipped") or []
    if skipped:
        lines.append(f"<h3>Skipped lines ({esc(summary.get('skipped_lines', len(skipped)))})</h3><ul class=\"plain\">"
                     + "".join(f"<li>{esc(s)}</li>" for s in skipped) + "</ul>")
    warnings = summary.get("warnings") or []
    if warnings:
        lines.append("<h3>Data rows skipped by the loaders</h3><ul class=\"plain\">"
                     + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")
    if not lines:
        return ""
    return '<h2>Errors and skipped samples</h2><div class="card warn">' + "".join(lines) + "</div>"


def _notes(summary: Mapping, others: Sequence[Mapping] = ()) -> str:
    notes = rp.footnotes(summary) + rp.compared_notes(others)
    return ("<h2>Notes</h2><ul class=\"plain\">" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")


def render(summary: Mapping, others: Sequence[Mapping] = ()) -> str:
    """The whole page for one run and the runs it is compared with."""
    body = [_header(summary), _headline_scores(summary), _protocol(summary), _paper_table(summary, others),
            _bar_charts(summary, others), _tables(summary, others), _official(summary),
            _breakdowns(summary), _problems(summary), _notes(summary, others)]
    title = esc(f"vr2 eval: {summary.get('label', '')}")
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{title}</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(b for b in body if b)}</main></body></html>\n")
