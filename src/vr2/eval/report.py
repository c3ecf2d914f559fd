"""Evaluation reports: `summary.json`, a terminal table, and Markdown/HTML tables laid out like
the paper's.

A summary is plain JSON (see `make_summary`): per-benchmark metrics (each with its `display` name
and `category`), the Generic / Reasoning / Overall averages, and the protocol used. Reports put
several summaries side by side, one row per run (`--compare` adds earlier runs, `paper_rows` the
numbers the paper reports), in two layouts:
1. accuracy per benchmark, generic benchmarks then their average, reasoning benchmarks then theirs,
   then Overall (the paper's main table);
2. Generic / Reasoning / Overall of each metric in one cell, "G / R / O" (the paper's ablation
   table), with VAS-judge and VAS-attn in separate columns: they are different measures.
An average over fewer benchmarks than its group has is marked `*`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vr2.errors import Vr2Error
from vr2.eval.metrics import GROUPS, OVERALL_NOTE
from vr2.eval.official import SEPARATES
from vr2.files import dumps_json, loads_json, read_text, write_atomic

SUMMARY_VERSION = 1

# The paper's numbers (docs/method.md#the-papers-ablation), for `--paper` reference rows.
PAPER_ORDER = ("mvbench", "videomme", "tempcompass", "mlvu", "longvideobench",
               "videomathqa", "videommmu", "mmvu", "vsibench", "minerva", "scivideobench")
PAPER_DISPLAY = dict(zip(PAPER_ORDER, ("MVBench", "VideoMME", "TempCompass", "MLVU", "LongVideoBench",
                                       "VideoMathQA", "Video-MMMU", "MMVU", "VSIBench", "MINERVA",
                                       "SciVideoBench")))
PAPER_CATEGORY = {name: ("generic" if i < 5 else "reasoning") for i, name in enumerate(PAPER_ORDER)}
PAPER_ACCURACY = dict(zip(PAPER_ORDER, (67.5, 63.8, 74.9, 68.3, 59.2,
                                        28.8, 50.8, 67.4, 39.4, 34.9, 28.4)))
PAPER_ROWS: dict[str, dict[str, tuple[float, float, float] | None]] = {
    "Qwen2.5-VL-7B, direct answer": {"accuracy": (67.5, 38.9, 51.9), "tac": None, "vas": None},
    "Qwen2.5-VL-7B, CoT prompt": {"accuracy": (59.6, 37.0, 47.3), "tac": (63.2, 49.1, 55.5),
                                  "vas": (53.2, 36.9, 44.3)},
    "+ SFT": {"accuracy": (60.9, 38.8, 48.9), "tac": (96.5, 97.1, 96.8), "vas": (76.8, 63.7, 69.7)},
    "+ SFT + GRPO (acc + format)": {"accuracy": (65.9, 41.0, 52.3), "tac": (82.9, 71.6, 76.8),
                                    "vas": (75.8, 61.5, 61.5)},  # as printed; see paper_notes
    "+ SFT + GRPO + TAR": {"accuracy": (66.5, 41.2, 52.7), "tac": (83.0, 72.9, 77.5),
                           "vas": (78.4, 62.9, 69.9)},
    "+ SFT + GRPO + TAR + gate (Video-R2)": {"accuracy": (66.7, 41.6, 53.0),
                                             "tac": (85.7, 78.2, 81.6), "vas": (78.9, 61.5, 69.4)},
}
PAPER_VIDEO_R2 = "+ SFT + GRPO + TAR + gate (Video-R2)"
# A printed Overall further than this from (5 x Generic + 6 x Reasoning) / 11 cannot be rounding
# (each printed number is within 0.05 of its true value).
PAPER_ROUNDING = 0.1

# Columns of the ablation layout: (header, summary metric). The paper's VAS is the judge's.
ABLATION_COLUMNS = (("Accuracy", "accuracy"), ("TAC", "tac"), ("TAC (correctness)", "tac_correctness"),
                    ("VAS-judge", "vas_judge"), ("VAS-attn", "vas_attn"), ("TAR", "tar"))


# --------------------------------------------------------------------------- summaries


def make_summary(label: str, per_benchmark: Mapping[str, dict], averages: Mapping[str, dict], *,
                 info: Mapping[str, Any] | None = None, notes: Sequence[str] = ()) -> dict:
    """The summary.json object. `per_benchmark[name]` must carry `display` and `category`."""
    return {
        "vr2_summary": SUMMARY_VERSION,
        "label": label,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **dict(info or {}),
        "benchmarks": dict(per_benchmark),
        "averages": dict(averages),
        "overall_note": OVERALL_NOTE,
        "notes": list(notes),
    }


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file (`vr2.files.write_atomic`), so a reader never sees
    half a summary; a NaN anywhere is written as null, so the file is always valid JSON."""
    write_atomic(path, dumps_json(data, indent=2, ensure_ascii=False) + "\n", "summary")


def load_summary(path: str | Path) -> dict:
    """A summary.json written by `vr2 eval` (a folder means its summary.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "summary.json"
    data = loads_json(read_text(path, "summary file"), str(path))
    if not (isinstance(data, dict) and isinstance(data.get("benchmarks"), dict)
            and isinstance(data.get("averages"), dict)):
        raise Vr2Error(f"{path}: not a vr2 eval summary (expected 'benchmarks' and 'averages')")
    data.setdefault("label", path.parent.name or path.stem)
    return data


def _inconsistent_overalls(row: str) -> list[tuple[str, tuple[float, float, float], float]]:
    """(metric, printed (generic, reasoning, overall), computed overall) for each metric of one of
    the paper's rows whose printed Overall is not (5 x Generic + 6 x Reasoning) / 11 up to rounding."""
    out = []
    for metric, values in PAPER_ROWS[row].items():
        if values is None:
            continue
        generic, reasoning, overall = values
        expected = (5 * generic + 6 * reasoning) / 11
        if abs(expected - overall) > PAPER_ROUNDING:
            out.append((metric, values, expected))
    return out


def paper_notes(row: str) -> list[str]:
    """Where one of the paper's printed rows looks inconsistent (`_inconsistent_overalls`). The
    row is shown as printed; the note says what the arithmetic gives, never a silent correction."""
    notes = []
    for metric, (generic, reasoning, overall), expected in _inconsistent_overalls(row):
        name = {"accuracy": "Accuracy", "tac": "TAC", "vas": "VAS"}[metric]
        notes.append(f"\u2020 paper row '{row}': {name} Overall is printed {overall:.1f}, but (5 x {generic:.1f} + "
                     f"6 x {reasoning:.1f}) / 11 = {expected:.1f}; shown as printed")
    return notes


def paper_summary(row: str) -> dict:
    """A summary-shaped object holding one of the paper's rows (averages only, plus the
    per-benchmark accuracy for the Video-R2 row)."""
    if row not in PAPER_ROWS:
        raise Vr2Error(f"paper row: unknown row {row!r} (known: {', '.join(PAPER_ROWS)})")
    numbers = PAPER_ROWS[row]
    averages: dict[str, dict] = {g: {"benchmarks": list(PAPER_ORDER) if g == "overall" else
                                     [n for n in PAPER_ORDER if PAPER_CATEGORY[n] == g],
                                     "missing": {}} for g in GROUPS}
    # The paper's TAC is the release's correctness-based summary: vr2's tac_correctness.
    for metric, key in (("accuracy", "accuracy"), ("official_accuracy", "accuracy"),
                        ("tac_correctness", "tac"), ("vas_judge", "vas")):
        values = numbers[key]
        for group, value in zip(GROUPS, values or (None, None, None)):
            averages[group][metric] = value
    benchmarks = {
        name: {"display": PAPER_DISPLAY[name], "category": PAPER_CATEGORY[name],
               "accuracy": PAPER_ACCURACY[name] if row == PAPER_VIDEO_R2 else None,
               "official_accuracy": PAPER_ACCURACY[name] if row == PAPER_VIDEO_R2 else None}
        for name in PAPER_ORDER
    }
    return {"label": f"paper: {row}", "benchmarks": benchmarks, "averages": averages,
            "notes": paper_notes(row), "flags": paper_flags(row)}


_PAPER_METRICS = {"accuracy": ("accuracy", "official_accuracy"), "tac": ("tac_correctness",), "vas": ("vas_judge",)}


def paper_flags(row: str) -> dict[str, str]:
    """{summary metric: short flag} for the ablation cells whose printed Overall looks
    inconsistent (`paper_notes`), shown beside the number."""
    # A dagger beside the cell; paper_notes says what it means.
    return {key: "\u2020" for metric, _, _ in _inconsistent_overalls(row) for key in _PAPER_METRICS[metric]}


# --------------------------------------------------------------------------- table model


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _partial(summary: Mapping, group: str, metric: str) -> bool:
    entry = summary["averages"].get(group, {})
    return bool(entry.get("missing", {}).get(metric))


def coverage(summary: Mapping, group: str) -> tuple[int, int]:
    """(paper benchmarks averaged, paper benchmarks the group has) for one average."""
    members = [n for n in PAPER_ORDER if group == "overall" or PAPER_CATEGORY[n] == group]
    covered = summary["averages"].get(group, {}).get("benchmarks", [])
    return sum(1 for n in members if n in covered), len(members)


def _avg_cell(summary: Mapping, group: str, metric: str, *, words: bool = False) -> str:
    entry = summary["averages"].get(group, {})
    text = _fmt(entry.get(metric))
    if text == "-":
        return text
    if _partial(summary, group, metric):
        text += "*"
    covered, total = coverage(summary, group)
    if words and covered < total:
        text += f" (over {covered} of {total})"  # never mistaken for the paper's full average
    return text


def headline(entry: Mapping) -> float | None:
    """A benchmark's number in the paper-layout table: its official aggregation when known
    (the paper's numbers are those), else the plain accuracy."""
    value = entry.get("official_accuracy")
    return value if value is not None else entry.get("accuracy")


def _headline_metric(summary: Mapping, group: str) -> str:
    entry = summary["averages"].get(group, {})
    return "official_accuracy" if entry.get("official_accuracy") is not None else "accuracy"


def _bench_cell(entry: Mapping) -> str:
    """A benchmark's number; flagged when fewer samples were scored than its log holds."""
    text = _fmt(headline(entry))
    lines, scored = entry.get("log_lines"), entry.get("scored")
    if isinstance(lines, int) and isinstance(scored, int) and scored < lines and text != "-":
        text += f" (scored {scored} of {lines})"
    return text


def benchmark_columns(summaries: Sequence[Mapping]) -> list[tuple[str, str, str]]:
    """(name, display, category) of every benchmark in any summary: generic first, then
    reasoning, then others; within each, the paper's order, then the order first seen."""
    seen: dict[str, tuple[str, str]] = {}
    for summary in summaries:
        for name, entry in summary["benchmarks"].items():
            if name not in seen:
                seen[name] = (entry.get("display") or name, entry.get("category") or "other")
    rank = {"generic": 0, "reasoning": 1}
    first = {name: i for i, name in enumerate(seen)}
    paper = {name: i for i, name in enumerate(PAPER_ORDER)}

    def key(item):
        name, (_, category) = item
        return rank.get(category, 2), paper.get(name, len(paper)), first[name]

    return [(name, display, category) for name, (display, category) in sorted(seen.items(), key=key)]


def accuracy_table(summaries: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """The paper's main layout: one row per run, accuracy per benchmark and the averages."""
    columns = benchmark_columns(summaries)
    headers = ["Run"]
    plan: list[tuple[str, str]] = []  # ("bench", name) or ("avg", group)
    for category in ("generic", "reasoning", "other"):
        members = [c for c in columns if c[2] == category]
        for name, display, _ in members:
            headers.append(display)
            plan.append(("bench", name))
        if members and category != "other":
            headers.append(category.capitalize())
            plan.append(("avg", category))
    headers.append("Overall")
    plan.append(("avg", "overall"))
    rows = []
    for summary in summaries:
        row = [summary.get("label", "")]
        for kind, key in plan:
            if kind == "bench":
                row.append(_bench_cell(summary["benchmarks"].get(key, {})))
            else:
                row.append(_avg_cell(summary, key, _headline_metric(summary, key), words=True))
        rows.append(row)
    return headers, rows


def ablation_table(summaries: Sequence[Mapping]) -> tuple[list[str], list[list[str]]]:
    """The paper's ablation layout: "Generic / Reasoning / Overall" of each metric per run."""
    used = [(header, metric) for header, metric in ABLATION_COLUMNS
            if any(s["averages"].get("overall", {}).get(metric) is not None for s in summaries)]
    headers = ["Run"] + [f"{header} (G / R / O)" for header, _ in used] + ["Benchmarks covered"]
    rows = []
    for summary in summaries:
        row = [summary.get("label", "")]
        for _, metric in used:
            # Accuracy is the official aggregation where the run has it, as the paper's rows are.
            cells = [_avg_cell(summary, group, _headline_metric(summary, group) if metric == "accuracy" else metric)
                     for group in GROUPS]
            text = "-" if all(c == "-" for c in cells) else " / ".join(cells)
            flag = (summary.get("flags") or {}).get(metric)
            row.append(f"{text} {flag}" if flag and text != "-" else text)
        covered, total = coverage(summary, "overall")
        row.append("all 11" if covered == total else f"{covered} of {total} (partial averages)")
        rows.append(row)
    return headers, rows


DETAIL_COLUMNS = (("Benchmark", None), ("Log lines", "log_lines"), ("Skipped lines", "skipped_lines"),
                  ("Samples", "samples"), ("Errors", "errors"),
                  ("Official", "official_accuracy"), ("vr2 reading", "accuracy"),
                  ("Readings differ", "official_differs"), ("TAC", "tac"), ("TAC (corr.)", "tac_correctness"),
                  ("VAS-attn", "vas_attn"), ("VAS-judge", "vas_judge"), ("TAR", "tar"),
                  ("Format", "format"), ("No answer", "no_answer"))


def detail_table(summary: Mapping) -> tuple[list[str], list[list[str]]]:
    """One run, one row per benchmark, every metric."""
    entries = summary["benchmarks"].values()
    # The log columns exist only for runs scored from lmms-eval sample files.
    optional = ("log_lines", "skipped_lines", "official_accuracy", "official_differs")
    columns = [(h, k) for h, k in DETAIL_COLUMNS
               if k not in optional or any(e.get(k) is not None for e in entries)]
    headers = [header for header, _ in columns]
    rows = []
    for name, display, _ in benchmark_columns([summary]):
        entry = summary["benchmarks"][name]
        rows.append([display] + [_fmt(entry.get(key)) for _, key in columns[1:]])
    return headers, rows


# --------------------------------------------------------------------------- rendering


_MD_SPECIAL = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\", "`": "\\`",
                             "[": "\\[", "]": "\\]", "|": "\\|"})


def _md_escape(text: Any) -> str:
    """Text for report.md that stays text: no HTML, link, code span or table cell can come out of
    a label, a file name or a log line; control characters and newlines become spaces."""
    text = "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch for ch in str(text))
    return text.translate(_MD_SPECIAL)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(_md_escape(h) for h in headers) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"


def breakdown_groups(summary: Mapping) -> list[tuple[str, str, Mapping[str, Mapping]]]:
    """(title, first column, {value: {"accuracy", "samples"}}) per benchmark: first the groups its
    official figure combines (MVBench's tasks, MLVU's 7 task types, VSIBench's question types
    with the merged direction group), then a VSIBench figure not in the official column, then
    the official score per category field."""
    out = []
    for name, display, _ in benchmark_columns([summary]):
        entry = summary["benchmarks"][name]
        if entry.get("official_groups"):
            out.append((f"{display}: the groups its official figure averages", "group", entry["official_groups"]))
        for figure in entry.get("official_figures") or []:
            if figure.get("groups") and not figure.get("used"):
                out.append((f"{display}: {figure['name']} by question type", "group", figure["groups"]))
        for field, table in (entry.get("breakdown") or {}).items():
            out.append((f"{display} by {field.replace('_', ' ')}", field, table))
    return out


def breakdown_tables(summary: Mapping) -> list[tuple[str, tuple[list[str], list[list[str]]]]]:
    """`breakdown_groups` as (title, (headers, rows)) text tables."""
    return [(title, ([column, "Accuracy", "Samples"],
                     [[str(value), _fmt(cell.get("accuracy")), _fmt(cell.get("samples"))]
                      for value, cell in table.items()]))
            for title, column, table in breakdown_groups(summary)]


def _sections(summary: Mapping, others: Sequence[Mapping]) -> list[tuple[str, tuple]]:
    everyone = [summary, *others]
    sections = [("Accuracy per benchmark (paper layout)", accuracy_table(everyone)),
                ("Averages: Generic / Reasoning / Overall", ablation_table(everyone)),
                (f"{summary.get('label', 'this run')}: every metric per benchmark", detail_table(summary))]
    return [(title, table) for title, table in sections if len(table[0]) > 1]  # no empty tables


def official_notes(summary: Mapping) -> list[str]:
    """For each benchmark: its official figure and the rule that produced it, where the
    per-sample results came from, what the denominator left out, and vr2's reading beside it."""
    notes = []
    for name, display, _ in benchmark_columns([summary]):
        entry = summary["benchmarks"][name]
        if not entry.get("official_rule"):
            continue
        text = f"{display}: official {_fmt(entry.get('official_accuracy'))} = {entry['official_rule']}"
        counts = [f"{entry.get('official_from_log', 0)} from the log", f"{entry.get('official_rescored', 0)} re-scored by vr2"]
        for key, words in (("official_left_out", "left out of the denominator"), ("official_errors", "errors"),
                           ("official_random_draws", "random options drawn")):
            if entry.get(key):
                counts.append(f"{entry[key]} {words}")
        text += f" ({', '.join(counts)})"
        for figure in entry.get("official_figures") or []:
            mark = "official column" if figure.get("used") else "shown beside it"
            text += f"; {figure['name']} {_fmt(figure.get('accuracy'))} ({mark}): {figure['rule']}"
        if entry.get("accuracy") is not None:
            text += (f"; vr2 reading {_fmt(entry['accuracy'])}, the two readings differ on "
                     f"{entry.get('official_differs', 0)} sample(s)")
        notes.append(text)
    if notes:
        notes.append(SEPARATES)
    return notes


def footnotes(summary: Mapping) -> list[str]:
    notes = [summary.get("overall_note") or OVERALL_NOTE,
             "`*` = averaged over fewer benchmarks than the group has (some lack that metric).",
             "VAS-judge is the LLM judge's score (the paper's VAS); VAS-attn is last-layer "
             "attention on video tokens (the paper's Fig. 1). They are not comparable."]
    covered = summary["averages"].get("overall", {}).get("benchmarks", [])
    if covered and len(covered) != len(PAPER_ORDER):
        notes.insert(0, f"This run covers {len(covered)} benchmark(s): {', '.join(covered)}; "
                        "its averages are over those only.")
    partial = [f"{group.capitalize()} is averaged over {c} of the paper's {t} benchmarks"
               for group in GROUPS for c, t in [coverage(summary, group)] if 0 < c < t]
    if partial:
        notes.insert(0, "; ".join(partial) + ": these are partial averages, not comparable with "
                        "the paper's (marked '(over k of n)' in the tables).")
    short = [f"{entry.get('display') or name}: scored {entry['scored']} of the {entry['log_lines']} "
             f"lines its log holds" for name, entry in summary["benchmarks"].items()
             if isinstance(entry.get("log_lines"), int) and entry.get("scored", 0) < entry["log_lines"]]
    if short:
        notes.insert(0, "; ".join(short) + " (skipped lines are listed in summary.json 'skipped'; "
                        "errors are counted, not scored).")
    return notes + list(summary.get("notes", []))


def markdown_report(summary: Mapping, others: Sequence[Mapping] = ()) -> str:
    esc = _md_escape
    parts = [f"# vr2 eval: {esc(summary.get('label', ''))}", ""]
    protocol = summary.get("protocol")
    if protocol:
        parts += ["Protocol: " + esc(", ".join(f"{k} {v}" for k, v in protocol.items() if not isinstance(v, Mapping))),
                  ""]
        for key, value in protocol.items():  # e.g. release_prompts: where each prompt's words came from
            if isinstance(value, Mapping):
                parts += [f"{esc(key.replace('_', ' ').capitalize())}:", ""]
                parts += [f"- {esc(name)}: {esc(text)}" for name, text in value.items()] + [""]
    for title, (headers, rows) in _sections(summary, others):
        parts += [f"## {esc(title)}", "", markdown_table(headers, rows), ""]
    parts += [f"- {esc(note)}" for note in footnotes(summary) + compared_notes(others)]
    rules = official_notes(summary)
    if rules:
        parts += ["", "## Official figure per benchmark", ""] + [f"- {esc(rule)}" for rule in rules]
    breakdowns = breakdown_tables(summary)
    if breakdowns:
        parts += ["", "## Per-category breakdowns", ""]
        for title, (headers, rows) in breakdowns:
            parts += [f"### {esc(title)}", "", markdown_table(headers, rows), ""]
    skipped = summary.get("skipped") or []
    if skipped:
        parts += ["", f"## Skipped lines ({summary.get('skipped_lines', len(skipped))})", ""]
        parts += [f"- {_md_escape(line)}" for line in skipped]
    return "\n".join(parts) + "\n"


def compared_notes(others: Sequence[Mapping]) -> list[str]:
    """The notes of the compared runs and paper rows (e.g. a printed paper number that looks
    inconsistent), once each."""
    return list(dict.fromkeys(note for other in others for note in other.get("notes", [])))


def rich_tables(summary: Mapping, others: Sequence[Mapping] = ()) -> list:
    """The same sections as rich Tables, for the terminal."""
    from rich.table import Table
    from rich.text import Text

    tables = []
    for title, (headers, rows) in _sections(summary, others):
        table = Table(title=title, title_justify="left")
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i == 0 else "right", overflow="fold")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))  # labels are not markup
        tables.append(table)
    return tables
