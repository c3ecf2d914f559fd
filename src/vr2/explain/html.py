"""A self-contained HTML report of one explained answer (`vr2 explain --html`).

One file a person opens in any browser, offline: frames are embedded as JPEG data URIs, the
style is inline CSS and the attention plot is inline SVG; there is no script and no external
resource. Every piece of text from the model, the question or the reference is escaped.
"""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from vr2.errors import Vr2Error
from vr2.explain.explanation import claim_frames
from vr2.html import esc
from vr2.model.prompts import option_letter, strip_label
from vr2.scoring.timestamps import format_clock

if TYPE_CHECKING:
    import numpy as np

    from vr2.explain.explanation import ClaimView, Explanation

CLAIM_THUMB_WIDTH = 224
GRID_THUMB_WIDTH = 128
JPEG_QUALITY = 80
PLOT_WIDTH, PLOT_HEIGHT = 960, 260
# Tick spacings (seconds) for the time axis; the smallest giving at most MAX_TICKS ticks wins.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
MAX_TICKS = 12

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.15em;margin:28px 0 10px;border-bottom:1px solid #d5d9e0;padding-bottom:4px}
.meta{color:#5b6475;font-size:.9em}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:8px;padding:12px 16px;margin:8px 0}
.scores{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:10px}
.score .name{font-size:.8em;color:#5b6475;text-transform:uppercase;letter-spacing:.04em}
.score .value{font-size:1.6em;font-weight:600;margin:2px 0}
.score .detail{font-size:.85em;color:#5b6475}
.good{color:#1a7f37}.bad{color:#c0392b}.na{color:#8a93a3}
.reasoning{white-space:pre-wrap;line-height:1.55}
mark.t{background:#ffe08a;border-radius:3px;padding:0 2px}
mark.t a{color:inherit;text-decoration:none}
mark.t.matched{background:#b7ebc6}mark.t.unmatched{background:#ffc9c2}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e6eb;padding:6px 8px;text-align:left;vertical-align:top;font-size:.92em}
th{background:#eef0f4}
figure{display:inline-block;margin:0 6px 4px 0;text-align:center}
figure img{display:block;border:1px solid #c9ced8;border-radius:4px}
figcaption{font-size:.78em;color:#5b6475}
.grid{display:flex;flex-wrap:wrap;gap:6px}
.grid figure{margin:0}
.bar{height:5px;background:#3b6fd6;margin-top:2px}
.warn{color:#a15c00}
svg text{font-family:system-ui,sans-serif}
"""


# --- writing -----------------------------------------------------------------------------------


def check_output(path: str | Path, force: bool = False) -> Path:
    """Fail early (before any model runs) when the report cannot or must not be written."""
    path = Path(path)
    if path.is_dir():
        raise Vr2Error(f"{path}: is a directory; give a file name such as report.html")
    if path.exists() and not force:
        raise Vr2Error(f"{path}: already exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise Vr2Error(f"{path}: folder {path.parent} does not exist")
    return path


def write_report(explanation: Explanation, path: str | Path, *, force: bool = False) -> Path:
    """Render and write the report; an existing file is replaced only with `force`."""
    path = check_output(path, force)
    text = render(explanation)
    # Write next to the target and rename, so a failure never leaves half a report behind.
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if not force and path.exists():
            raise Vr2Error(f"{path}: already exists; pass --force to overwrite it")
        os.chmod(temp, 0o666 & ~_umask())  # mkstemp makes it private; a report is a normal file
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- pieces ------------------------------------------------------------------------------------


def frame_data_uri(frame: np.ndarray, width: int, quality: int = JPEG_QUALITY) -> str:
    """A uint8 (H, W, 3) frame as a `data:image/jpeg;base64,...` URI, scaled to `width` pixels."""
    from PIL import Image

    image = Image.fromarray(frame)
    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class _Thumbs:
    """Encodes each (frame, width) once; claims often share frames."""

    def __init__(self, frames: np.ndarray | None):
        self.frames = frames
        self.cache: dict[tuple[int, int], str] = {}

    def uri(self, index: int, width: int) -> str | None:
        if self.frames is None or not 0 <= index < len(self.frames):
            return None
        key = (index, width)
        if key not in self.cache:
            self.cache[key] = frame_data_uri(self.frames[index], width)
        return self.cache[key]

    def figure(self, index: int, width: int, caption: str) -> str:
        uri = self.uri(index, width)
        if uri is None:
            return ""
        return (f'<figure><img src="{uri}" width="{width}" alt="{esc(caption)}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>")


def span_text(start: float, end: float) -> str:
    if start == end:
        return format_clock(start)
    return f"{format_clock(start)}–{format_clock(end)}"


def _verdict(value: bool | None, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return '<span class="na">n/a</span>'
    return f'<span class="good">{yes}</span>' if value else f'<span class="bad">{no}</span>'


def _number(value: float | None, digits: int = 2) -> str:
    return '<span class="na">n/a</span>' if value is None else f"{value:.{digits}f}"


def _score(name: str, value: str, detail: str = "") -> str:
    return (f'<div class="card score"><div class="name">{esc(name)}</div>'
            f'<div class="value">{value}</div><div class="detail">{detail}</div></div>')


# --- sections ----------------------------------------------------------------------------------


def _header(e: Explanation) -> str:
    s = e.settings
    parts = [f"video <b>{esc(e.video_path)}</b> ({e.duration:.1f} s)"]
    if s:
        size = s.get("frame_size") or ["?", "?"]
        parts.append(f"{s.get('frames')} frames at {s.get('sample_fps', 0):.3g} fps, {size[0]}×{size[1]} px")
    if e.model:
        parts.append(f"model <b>{esc(e.model)}</b>")
    parts.append("answer generated by the model" if e.generated else "completion given (not generated)")
    return f"<h1>vr2 explain</h1><div class=\"meta\">{' · '.join(parts)}</div>"


def _question(e: Explanation) -> str:
    items = "".join(f"<li><b>{option_letter(i)}.</b> {esc(strip_label(o, option_letter(i)))}</li>"
                    for i, o in enumerate(e.options))
    listing = f'<ul style="list-style:none;padding-left:0">{items}</ul>' if items else ""
    return f'<h2>Question</h2><div class="card"><div class="reasoning">{esc(e.question)}</div>{listing}</div>'


def _scores(e: Explanation) -> str:
    c = e.consistency
    cards = [_score("TAC (think ↔ answer)", _verdict(c.consistent, "consistent", "inconsistent"),
                    f"think concludes <b>{esc(c.think_answer)}</b>, answer says <b>{esc(c.final_answer)}</b>")]
    if e.vas is not None and e.vas.score is not None:
        cards.append(_score("VAS (attention)", f"{e.vas.score:.1f}",
                            f"share of last-layer attention from {e.vas.think_token_count} reasoning "
                            f"tokens on {e.vas.video_token_count} video tokens (0–100)"))
    else:
        cards.append(_score("VAS (attention)", '<span class="na">n/a</span>', esc(e.vas_note or "")))
    if e.tar is not None:
        result = e.tar.result
        gate = {1: "gate open", 0: "gate closed (think and answer disagree)"}.get(e.tar.gate, "gate masked")
        detail = esc(gate)
        if result is not None:
            detail += (f"<br>precision {_number(result.precision)} · recall {_number(result.recall)} · "
                       f"F1 {_number(result.f1)}<br>{len(result.matches)} of {len(result.pred_claims)} "
                       f"claims matched {len(result.ref_claims)} reference moments")
        if e.tar.failure:
            detail += f"<br>{esc(e.tar.failure)}"
        cards.append(_score("TAR (gated)", _number(e.tar.value), detail))
    cards.append(_score("Format", _verdict(e.format_ok, "ok", "broken"),
                        "&lt;think&gt;…&lt;/think&gt;&lt;answer&gt;…&lt;/answer&gt;"))
    if e.accuracy is not None:
        gold = esc(e.reference.answer) if e.reference else ""
        cards.append(_score("Accuracy", _number(e.accuracy), f"gold answer <b>{gold}</b> ({esc(e.answer_type)})"))
    return f'<h2>Scores</h2><div class="scores">{"".join(cards)}</div>'


def _reasoning(e: Explanation) -> str:
    pieces = []
    claims = {c.index: c for c in e.claims}
    for text, mention, claim in e.segments():
        if mention is None:
            pieces.append(esc(text))
            continue
        seconds = mention.start if mention.start == mention.end else f"{mention.start:g}–{mention.end:g}"
        css = "t"
        if claim is not None and e.tar is not None and e.tar.result is not None:
            css += " matched" if claims[claim].match is not None else " unmatched"
        inner = esc(text)
        if claim is not None:
            inner = f'<a href="#claim-{claim}">{inner}</a>'
        pieces.append(f'<mark class="{css}" title="{esc(seconds)} s">{inner}</mark>')
    title = "Reasoning (&lt;think&gt;)" if e.think is not None else "Completion (no &lt;think&gt; block)"
    answer = esc(e.answer) if e.answer is not None else '<span class="na">no &lt;answer&gt; block</span>'
    return (f'<h2>{title}</h2><div class="card reasoning">{"".join(pieces)}</div>'
            f'<h2>Answer</h2><div class="card"><b>{answer}</b></div>')


def _claim_row(e: Explanation, claim: ClaimView, thumbs: _Thumbs) -> str:
    frames = claim.frames if len(claim.frames) <= 2 else [claim.frames[0], claim.frames[-1]]
    # The exact time too: the burned-in clock is floored to the second.
    figures = "".join(thumbs.figure(k, CLAIM_THUMB_WIDTH, f"frame {k} · {e.frame_times[k]:.1f} s")
                      for k in frames)
    when = esc(span_text(claim.claim.start, claim.claim.end))
    if not claim.in_video:
        when += f'<br><span class="warn">beyond the video ({e.duration:.1f} s): nearest frame shown</span>'
    attention = "" if claim.attention is None else f"{claim.attention:.2f}×"
    cells = [f'<td id="claim-{claim.index}">{claim.index + 1}</td>', f"<td>{when}</td>",
             f"<td>{figures}</td>", f"<td>{esc(claim.claim.text) or '<span class=na>(no words)</span>'}</td>",
             f"<td>{attention}</td>"]
    if e.tar is not None:
        if claim.match is not None:
            ref, gap, similarity = claim.match
            r = e.ref_claims[ref]
            cells.append(f'<td class="good">R{ref + 1} {esc(span_text(r.start, r.end))}: {esc(r.text)}'
                         f"<br>gap {gap:.1f} s · similarity {similarity:.2f}</td>")
        else:
            cells.append('<td class="bad">no match</td>')
    return "<tr>" + "".join(cells) + "</tr>"


def _claims(e: Explanation, thumbs: _Thumbs) -> str:
    if not e.claims:
        return '<h2>Claims</h2><div class="card na">The reasoning cites no times.</div>'
    head = ["#", "time", "frame the model saw", "claim", "attention vs uniform"]
    if e.tar is not None:
        head.append("matched reference")
    rows = "".join(_claim_row(e, c, thumbs) for c in sorted(e.claims, key=lambda c: (c.claim.start, c.index)))
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (f"<h2>Claims timeline ({len(e.claims)})</h2>"
            f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")


def _references(e: Explanation, thumbs: _Thumbs) -> str:
    if e.reference is None:
        return ""
    by_ref = {c.match[0]: c.index for c in e.claims if c.match is not None}
    rows = []
    for j, r in enumerate(e.ref_claims):
        frames = claim_frames(r, e.frame_times)[:1]
        figures = "".join(thumbs.figure(k, GRID_THUMB_WIDTH, format_clock(e.frame_times[k])) for k in frames)
        matched = (f'<a href="#claim-{by_ref[j]}" class="good">claim {by_ref[j] + 1}</a>'
                   if j in by_ref else '<span class="bad">not matched</span>')
        rows.append(f"<tr><td>R{j + 1}</td><td>{esc(span_text(r.start, r.end))}</td><td>{figures}</td>"
                    f"<td>{esc(r.text)}</td><td>{matched}</td></tr>")
    return (f"<h2>Reference grounding ({esc(e.reference.source)})</h2><table><thead><tr><th>#</th>"
            "<th>time</th><th>frame</th><th>sentence</th><th>matched by</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _frame_grid(e: Explanation, thumbs: _Thumbs) -> str:
    if e.frames is None or not len(e.frame_times):
        return ""
    per_frame = e.vas.per_frame if e.vas is not None and e.vas.per_frame else []
    top = max(per_frame) if per_frame else 0.0
    cited = {k for c in e.claims for k in c.frames}
    cells = []
    for k, t in enumerate(e.frame_times):
        uri = thumbs.uri(k, GRID_THUMB_WIDTH)
        caption = format_clock(t) + (" ◆" if k in cited else "")
        bar = ""
        if per_frame:
            share = per_frame[k]
            bar = (f'<div class="bar" style="width:{100 * share / top if top else 0:.1f}%" '
                   f'title="{100 * share:.2f}% of video attention"></div>')
        cells.append(f'<figure><img src="{uri}" width="{GRID_THUMB_WIDTH}" alt="frame {k} at {esc(format_clock(t))}">'
                     f"<figcaption>{esc(caption)}</figcaption>{bar}</figure>")
    legend = "bar: the reasoning's attention on the frame; ◆: a claim cites it" if per_frame else "◆: a claim cites it"
    return (f"<h2>All sampled frames ({len(e.frame_times)})</h2><div class=\"meta\">{legend}</div>"
            f'<div class="card grid">{"".join(cells)}</div>')


def _footer(e: Explanation) -> str:
    from vr2 import __version__

    notes = "".join(f'<li class="warn">{esc(n)}</li>' for n in e.notes)
    settings = ", ".join(f"{esc(k)}={esc(v)}" for k, v in e.settings.items())
    return (f"<h2>Notes and settings</h2><div class=\"card\"><ul>{notes}</ul>"
            f'<div class="meta">{settings}<br>vr2 {esc(__version__)}</div></div>')


# --- the attention plot ------------------------------------------------------------------------


def time_ticks(end: float) -> list[float]:
    """Tick times from 0 to `end` at the smallest listed spacing giving at most MAX_TICKS ticks."""
    if end <= 0:
        return [0.0]
    step = next((s for s in TICK_STEPS if end / s <= MAX_TICKS), None)
    if step is None:
        step = math.ceil(end / MAX_TICKS / 3600) * 3600
    return [k * step for k in range(int(end // step + 1e-9) + 1)]


def attention_svg(e: Explanation, width: int = PLOT_WIDTH, height: int = PLOT_HEIGHT) -> str:
    """Per-frame attention against time, with claimed times (orange) and reference times (green)."""
    left, right, top, bottom = 60, 20, 30, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    times = e.frame_times
    step = (times[1] - times[0]) if len(times) > 1 else 1.0
    end = max(e.duration, (times[-1] + step / 2) if times else 0.0, 1e-6)

    def x(t: float) -> float:
        return left + plot_w * min(max(t, 0.0), end) / end

    base = top + plot_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="attention over time">',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#c9ced8"/>']
    per_frame = e.vas.per_frame if e.vas is not None and e.vas.per_frame else []
    out += _bars(per_frame, times, step, x, base, plot_h, left, top)
    if not per_frame:
        message = "attention " + (e.vas_note or "not measured")
        out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
                   f'fill="#8a93a3" font-size="14">{esc(message)}</text>')
    for t in time_ticks(end):
        out.append(f'<line x1="{x(t):.1f}" y1="{base}" x2="{x(t):.1f}" y2="{base + 5}" stroke="#5b6475"/>'
                   f'<text x="{x(t):.1f}" y="{base + 18}" text-anchor="middle" font-size="11" '
                   f'fill="#5b6475">{esc(format_clock(t))}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle" font-size="12" '
               'fill="#5b6475">time in the video</text>')
    out += _claim_marks(e, x, end, top, base)
    out += _reference_marks(e, x, base)
    out.append("</svg>")
    return "".join(out)


def _bars(per_frame: Sequence[float], times: Sequence[float], step: float, x, base: float,
          plot_h: float, left: float, top: float) -> list[str]:
    if not per_frame:
        return []
    peak = max(per_frame) or 1.0
    out = []
    for t, share in zip(times, per_frame):
        x0, x1 = x(t - step / 2), x(t + step / 2)
        h = plot_h * share / peak
        out.append(f'<rect x="{x0:.1f}" y="{base - h:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" height="{h:.1f}" '
                   f'fill="#3b6fd6" fill-opacity="0.8"><title>{esc(format_clock(t))}: '
                   f"{100 * share:.2f}% of video attention</title></rect>")
    uniform = base - plot_h * (1 / len(per_frame)) / peak
    out.append(f'<line x1="{left}" y1="{uniform:.1f}" x2="{x(times[-1] + step / 2):.1f}" y2="{uniform:.1f}" '
               'stroke="#5b6475" stroke-dasharray="2,3"><title>uniform attention</title></line>')
    out.append(f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11" fill="#5b6475">'
               f"{100 * peak:.1f}%</text>"
               f'<text x="{left - 6}" y="{base}" text-anchor="end" font-size="11" fill="#5b6475">0%</text>'
               f'<text x="14" y="{top + (base - top) / 2}" font-size="11" fill="#5b6475" text-anchor="middle" '
               f'transform="rotate(-90 14 {top + (base - top) / 2})">attention per frame</text>')
    return out


def _claim_marks(e: Explanation, x, end: float, top: float, base: float) -> list[str]:
    out = []
    for c in e.claims:
        label = f"{c.index + 1}" if c.claim.start <= end else f"{c.index + 1}›"
        tip = f"claim {c.index + 1} at {span_text(c.claim.start, c.claim.end)}: {c.claim.text}"
        if c.claim.end > c.claim.start and c.claim.start <= end:
            x0, x1 = x(c.claim.start), x(c.claim.end)
            out.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 2):.1f}" height="{base - top}" '
                       f'fill="#f08c00" fill-opacity="0.18" stroke="#f08c00"><title>{esc(tip)}</title></rect>')
        else:
            xc = x(c.claim.start)
            out.append(f'<line x1="{xc:.1f}" y1="{top}" x2="{xc:.1f}" y2="{base}" stroke="#f08c00" '
                       f'stroke-width="2" stroke-dasharray="5,3"><title>{esc(tip)}</title></line>')
        out.append(f'<text x="{x(c.claim.start):.1f}" y="{top - 8}" text-anchor="middle" font-size="11" '
                   f'fill="#b35f00" font-weight="600">{esc(label)}</text>')
    return out


def _reference_marks(e: Explanation, x, base: float) -> list[str]:
    out = []
    for j, r in enumerate(e.ref_claims):
        x0, x1 = x(r.start), x(r.end)
        tip = f"reference R{j + 1} at {span_text(r.start, r.end)}: {r.text}"
        out.append(f'<path d="M{x0:.1f},{base - 1} l-5,9 h10 z" fill="#1a7f37"><title>{esc(tip)}</title></path>')
        if x1 > x0:
            out.append(f'<rect x="{x0:.1f}" y="{base - 3}" width="{x1 - x0:.1f}" height="3" fill="#1a7f37"/>')
    return out


def _plot(e: Explanation) -> str:
    legend = ("blue bars: the reasoning's last-layer attention per frame (dotted: uniform) · "
              "orange: times the reasoning cites")
    if e.ref_claims:
        legend += " · green: reference times"
    return (f'<h2>Attention over time</h2><div class="card">{attention_svg(e)}'
            f'<div class="meta">{legend}</div></div>')


# --- the page ----------------------------------------------------------------------------------


def render(e: Explanation) -> str:
    """The whole report as one HTML string."""
    thumbs = _Thumbs(e.frames)
    body = "".join([
        _header(e), _question(e), _scores(e), _plot(e), _reasoning(e), _claims(e, thumbs),
        _references(e, thumbs), _frame_grid(e, thumbs), _footer(e),
    ])
    title = f"vr2 explain: {Path(e.video_path).name}" if e.video_path else "vr2 explain"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body><main>{body}</main></body></html>\n")
