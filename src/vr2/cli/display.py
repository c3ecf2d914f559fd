"""Terminal output with rich: score tables, batch summaries and progress bars."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from vr2.model.prompts import format_question
from vr2.scoring.batch import count_lines, score_jsonl, to_json
from vr2.scoring.timestamps import format_clock

console = Console()
err_console = Console(stderr=True)


def progress_bar(transient: bool = False) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), console=err_console, transient=transient)


def _span(claim: dict) -> str:
    if claim["start"] == claim["end"]:
        return format_clock(claim["start"])
    return f"{format_clock(claim['start'])}-{format_clock(claim['end'])}"


def _num(value, digits: int = 3) -> str:
    if value is None:
        return "[dim]n/a[/dim]"
    if isinstance(value, bool):
        return "[green]yes[/green]" if value else "[red]no[/red]"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def claims_table(result: dict) -> Table:
    """Predicted claims beside the reference claim each matched (gap, similarity)."""
    by_pred = {m["pred"]: m for m in result["matches"]}
    table = Table(title="Predicted claims (from <think>)", title_justify="left")
    for name in ("#", "time", "claim", "matched reference", "gap s", "sim"):
        table.add_column(name, overflow="fold")
    for i, claim in enumerate(result["pred_claims"]):
        m = by_pred.get(i)
        ref = result["ref_claims"][m["ref"]] if m else None
        table.add_row(
            str(i), _span(claim), claim["text"],
            f"[green]{_span(ref)} {ref['text']}[/green]" if ref else "[red]no match[/red]",
            _num(m["gap"], 1) if m else "", _num(m["similarity"], 2) if m else "",
        )
    return table


def reference_table(result: dict) -> Table:
    matched = {m["ref"] for m in result["matches"]}
    table = Table(title="Reference grounding", title_justify="left")
    for name in ("#", "time", "sentence", "matched"):
        table.add_column(name, overflow="fold")
    for j, claim in enumerate(result["ref_claims"]):
        table.add_row(str(j), _span(claim), claim["text"], _num(j in matched))
    return table


def scores_table(result: dict, weights: dict) -> Table:
    table = Table(title="Scores", title_justify="left", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    rows = [
        ("TAR precision (paper's TAR)", _num(result["tar_precision"])),
        ("TAR recall / F1", f"{_num(result['tar_recall'])} / {_num(result['tar_f1'])}"),
        ("consistency gate", {1: "[green]open[/green]", 0: "[red]closed[/red]"}.get(result["gate"], "[yellow]masked[/yellow]")),
        ("TAC (think and answer agree)", _num(result["tac"])),
        ("think concludes / answer says", f"{result['think_answer']} / {result['final_answer']}"),
        ("format ok", _num(result["format_ok"])),
    ]
    for name, value in result["rewards"].items():
        weight = f" (x{weights[name]:g})" if name in weights else ""
        rows.append((f"reward {name}{weight}", _num(value)))
    for name, value in rows:
        table.add_row(name, value)
    if result.get("note"):
        table.add_row("note", f"[yellow]{result['note']}[/yellow]")
    if result.get("bad_ref_keys"):
        table.add_row("reference keys dropped", f"[yellow]{result['bad_ref_keys']} (not a time)[/yellow]")
    return table


def print_score(result: dict, item, config) -> None:
    tar = config.tar
    console.print(f"[dim]buffer {tar.buffer_seconds:g}s, tau {tar.tau:g}, matching {tar.matching}, "
                  f"extractor {tar.extractor}, embedder {tar.embedder}, gate {'on' if tar.gate else 'off'}[/dim]")
    console.print(claims_table(result))
    console.print(reference_table(result))
    console.print(scores_table(result, config.rewards))


def run_batch(trace: Path, out: Path, rewards: dict, weights: dict, *, resume: bool, force: bool = True):
    total = count_lines(trace)
    with progress_bar() as bar:
        task = bar.add_task("scoring", total=total)
        report = score_jsonl(trace, out, rewards, weights, resume=resume, force=force,
                             progress=lambda n: bar.advance(task, n))
        bar.update(task, completed=total)
    return report


def print_batch(report, summary: dict, out: Path, trace: Path, *, as_json: bool) -> None:
    for number, reason in report.bad_lines:
        err_console.print(f"[yellow]{escape(f'{trace}:{number}: skipped: {reason}')}[/yellow]",
                          highlight=False, soft_wrap=True)
    if as_json:
        console.print_json(to_json(summary))
        return
    table = Table(title=f"Summary of {summary['scored']} traces -> {out}", title_justify="left",
                  show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("mean")
    for key, value in summary.items():
        table.add_row(key, _num(value))
    console.print(table)


# --- vr2 explain ---------------------------------------------------------------------------------

BLOCKS = "▁▂▃▄▅▆▇█"
STRIP_WIDTH = 64  # frames per row of the attention strip
LABEL_EVERY = 8  # a time label under every 8th frame ("MM:SS" + room)


def attention_blocks(per_frame) -> str:
    """One block character per frame, its height relative to the most-attended frame."""
    values = list(per_frame)
    peak = max(values, default=0.0)
    if peak <= 0:
        return BLOCKS[0] * len(values)
    return "".join(BLOCKS[min(len(BLOCKS) - 1, round(v / peak * (len(BLOCKS) - 1)))] for v in values)


def attention_strip(per_frame, times, cited=(), width: int = STRIP_WIDTH) -> list[str]:
    """Text rows: attention blocks, `^` under frames a claim cites, time labels under every
    LABEL_EVERY-th frame; wrapped every `width` frames (blank line between groups)."""
    blocks = attention_blocks(per_frame) if per_frame else "·" * len(times)
    cited = set(cited)
    rows: list[str] = []
    for first in range(0, len(times), width):
        last = min(first + width, len(times))
        marks = "".join("^" if k in cited else " " for k in range(first, last)).rstrip()
        labels = [" "] * (last - first)
        for k in range(first, last, LABEL_EVERY):
            label = format_clock(times[k])
            column = k - first
            if column + len(label) <= len(labels) or k == first:
                labels[column:column + len(label)] = label
        if rows:
            rows.append("")
        rows += [blocks[first:last], marks, "".join(labels).rstrip()]
    return rows


def reasoning_text(explanation):
    """The reasoning as rich Text with every time mention highlighted (matched claims green,
    unmatched red when a reference was given) and the claim number after it."""
    from rich.text import Text

    text = Text()
    scored = explanation.tar is not None and explanation.tar.result is not None
    claims = {c.index: c for c in explanation.claims}
    for piece, mention, claim in explanation.segments():
        if mention is None:
            text.append(piece)
            continue
        style = "bold black on yellow"
        if scored and claim is not None:
            style = "bold black on green" if claims[claim].match is not None else "bold white on red"
        text.append(piece, style=style)
        if claim is not None:
            text.append(f"[{claim + 1}]", style="dim")
    return text


def explain_claims_table(explanation) -> Table:
    e = explanation
    table = Table(title="Claims timeline (times cited in <think>)", title_justify="left")
    table.add_column("#", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("frame seen", no_wrap=True)
    table.add_column("attn ×unif", no_wrap=True)
    table.add_column("claim", overflow="fold", ratio=1)
    if e.tar is not None:
        table.add_column("matched reference", overflow="fold", ratio=1)
        table.add_column("gap s", no_wrap=True)
        table.add_column("sim", no_wrap=True)
    for c in sorted(e.claims, key=lambda c: (c.claim.start, c.index)):
        when = _span(c.claim.to_dict())
        if not c.in_video:
            when = f"[yellow]{when} ![/yellow]"  # explained in the notes under the view
        seen = ", ".join(format_clock(e.frame_times[k]) for k in c.frames[:1] + c.frames[1:][-1:])
        row = [str(c.index + 1), when, seen, _num(c.attention, 2), escape(c.claim.text)]
        if e.tar is not None:
            if c.match is not None:
                ref, gap, sim = c.match
                r = e.ref_claims[ref]
                row += [f"[green]R{ref + 1} {_span(r.to_dict())} {escape(r.text)}[/green]", _num(gap, 1), _num(sim, 2)]
            else:
                row += ["[red]no match[/red]", "", ""]
        table.add_row(*row)
    return table


def explain_reference_table(explanation) -> Table:
    e = explanation
    matched = {c.match[0]: c.index for c in e.claims if c.match is not None}
    table = Table(title=f"Reference grounding ({escape(e.reference.source)})", title_justify="left")
    for name in ("#", "time", "sentence", "matched by"):
        table.add_column(name, overflow="fold")
    for j, r in enumerate(e.ref_claims):
        by = f"[green]claim {matched[j] + 1}[/green]" if j in matched else "[red]none[/red]"
        table.add_row(f"R{j + 1}", _span(r.to_dict()), escape(r.text), by)
    return table


def explain_scores_table(explanation) -> Table:
    e = explanation
    c = e.consistency
    table = Table(title="Verdicts", title_justify="left", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    tac = {True: "[green]consistent[/green]", False: "[red]inconsistent[/red]"}.get(c.consistent, "[dim]n/a[/dim]")
    table.add_row("TAC (think and answer agree)", f"{tac}  think concludes {escape(str(c.think_answer))}, "
                  f"answer says {escape(str(c.final_answer))}")
    if e.vas is not None and e.vas.score is not None:
        table.add_row("VAS (attention on video, 0-100)",
                      f"{e.vas.score:.1f}  ({e.vas.think_token_count} reasoning tokens, "
                      f"{e.vas.video_token_count} video tokens)")
    else:
        table.add_row("VAS (attention on video, 0-100)", f"[dim]n/a: {escape(e.vas_note or '')}[/dim]")
    if e.tar is not None:
        result = e.tar.result
        gate = {1: "[green]open[/green]", 0: "[red]closed[/red]"}.get(e.tar.gate, "[yellow]masked[/yellow]")
        table.add_row("TAR (gated)", f"{_num(e.tar.value)}  gate {gate}")
        if result is not None:
            table.add_row("TAR precision / recall / F1",
                          f"{_num(result.precision)} / {_num(result.recall)} / {_num(result.f1)}  "
                          f"({len(result.matches)} matched of {len(result.pred_claims)} claims, "
                          f"{len(result.ref_claims)} reference)")
        if e.tar.failure:
            table.add_row("note", f"[yellow]{escape(e.tar.failure)}[/yellow]")
    table.add_row("format ok", _num(e.format_ok))
    if e.accuracy is not None:
        table.add_row(f"accuracy (gold {escape(str(e.reference.answer))})", _num(e.accuracy))
    return table


def print_attention_strip(explanation) -> None:
    e = explanation
    per_frame = e.vas.per_frame if e.vas is not None else []
    cited = {k for c in e.claims for k in c.frames}
    title = "Attention per frame (^ = a claim cites the frame)" if per_frame else \
        f"Sampled frames (^ = a claim cites the frame; attention {e.vas_note or 'not measured'})"
    console.print(f"[bold]{escape(title)}[/bold]")
    # rows come in groups: blocks, claim marks, time labels, blank line
    styles = ("blue", "dark_orange", "dim", "")
    for k, row in enumerate(attention_strip(per_frame, e.frame_times, cited)):
        console.print(row, style=styles[k % 4], highlight=False, markup=False, soft_wrap=True)


def print_explanation(explanation) -> None:
    """The terminal view of `vr2 explain`."""
    from rich.panel import Panel
    from rich.text import Text

    e = explanation
    s = e.settings
    head = f"{e.video_path} ({e.duration:.1f} s, {s.get('frames', len(e.frame_times))} frames"
    if "sample_fps" in s:
        head += f" at {s['sample_fps']:.3g} fps"
    head += ")"
    if e.model:
        head += f"  model {e.model}"
    console.print(Text(head, style="dim"))

    question = Text(format_question(e.question, e.options))
    console.print(Panel(question, title="Question", title_align="left"))
    title = "Reasoning <think>" if e.think is not None else "Completion (no <think> block)"
    console.print(Panel(reasoning_text(e), title=escape(title), title_align="left"))
    answer = Text(e.answer) if e.answer is not None else Text("(no <answer> block)", style="red")
    console.print(Panel(answer, title="Answer", title_align="left"))
    if e.claims:
        console.print(explain_claims_table(e))
    else:
        console.print("[dim]The reasoning cites no times.[/dim]")
    if e.reference is not None:
        console.print(explain_reference_table(e))
    console.print(explain_scores_table(e))
    if e.frame_times:
        print_attention_strip(e)
    for note in e.notes:
        console.print(f"[yellow]note: {escape(note)}[/yellow]")
