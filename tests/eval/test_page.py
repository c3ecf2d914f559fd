"""The eval report page: self-contained, escaped, with the paper rows, bars across runs, the
breakdowns, failures and the full protocol; checked in a real browser where one is installed."""

from __future__ import annotations

import re

import numpy as np
import pytest
from html_helpers import CHROMIUM, chromium, parse

from vr2.eval.metrics import averages
from vr2.eval.output import write_reports
from vr2.eval.page import PALETTE, PAPER_COLOUR, render
from vr2.eval.report import PAPER_ROWS, make_summary, paper_summary

CATEGORIES = {"mvbench": "generic", "videomme": "generic", "vsibench": "reasoning"}


def _summary(label, mv, vm, vsi, *, tac=80.0):
    per = {
        "mvbench": {"display": "MVBench", "category": "generic", "accuracy": mv - 2, "official_accuracy": mv,
                    "official_rule": "mean of the 20 task accuracies", "tac": tac, "tac_correctness": tac - 5,
                    "samples": 40, "scored": 39, "errors": 1,
                    "breakdown": {"task": {"action_count": {"accuracy": 50.0, "samples": 20},
                                           "object_shuffle": {"accuracy": 75.0, "samples": 20}}}},
        "videomme": {"display": "VideoMME", "category": "generic", "accuracy": vm, "official_accuracy": vm,
                     "tac": tac, "tac_correctness": tac - 5, "samples": 30, "scored": 30, "errors": 0,
                     "breakdown": {"duration": {"short": {"accuracy": 70.0, "samples": 10},
                                                "long": {"accuracy": 40.0, "samples": 20}}}},
        "vsibench": {"display": "VSIBench", "category": "reasoning", "accuracy": vsi, "official_accuracy": vsi,
                     "tac": None, "tac_correctness": None, "samples": 10, "scored": 10, "errors": 0},
    }
    return make_summary(label, per, averages(per, CATEGORIES), info={
        "source": "vr2 eval", "model": "runs/<b>tar</b>",
        "protocol": {"protocol": "paper", "frames": "qwen-vl-utils at 2 fps capped at 128, re-indexed",
                     "overlays": "none", "system_prompt": "You are a helpful assistant.",
                     "max_new_tokens": "1024 (Video-MMMU 2048)"},
        "failed": ["mvbench q7: data/missing.mp4: file not found"],
        "skipped": ["logs/x_samples_videomme.jsonl:9: not valid JSON"], "skipped_lines": 1})




@pytest.fixture()
def page():
    this = _summary('grpo <script>alert("x")</script>', 66.0, 61.0, 40.0)
    other = _summary("sft", 60.0, 55.0, 35.0, tac=95.0)
    return render(this, [other, paper_summary("+ SFT + GRPO + TAR + gate (Video-R2)")])


def test_self_contained_and_escaped(page):
    parsed = parse(page)
    tags = [tag for tag, _ in parsed.tags]
    assert "script" not in tags and "link" not in tags and "img" not in tags
    assert not any(k in ("src", "href") for _, attrs in parsed.tags for k in attrs)
    assert "&lt;script&gt;" in page and "runs/&lt;b&gt;tar&lt;/b&gt;" in page


def test_sections_and_protocol(page):
    text = " ".join(parse(page).text)
    for heading in ("Protocol", "Accuracy per benchmark (paper layout)", "Per benchmark across runs",
                    "Averages: Generic / Reasoning / Overall", "Official figure per benchmark",
                    "Per-category breakdowns", "Errors and skipped samples", "Notes"):
        assert heading in text, heading
    for setting in ("re-indexed", "overlays", "none", "You are a helpful assistant.", "1024 (Video-MMMU 2048)"):
        assert setting in text
    assert "MVBench by task" in text and "VideoMME by duration" in text
    assert "mvbench q7: data/missing.mp4: file not found" in text and "Skipped lines (1)" in text
    assert "MVBench: official 66.0 = mean of the 20 task accuracies" in text


def test_paper_rows_beside_the_run(page):
    rows = re.findall(r"<tr( class=\"(\w+)\")?>(.*?)</tr>", page.split("Per benchmark across runs")[0])
    classes = [cls for _, cls, _ in rows]
    assert classes[:3] == ["", "this", ""] and classes[3] == "paper"  # header, this run, sft, paper
    assert "paper: + SFT + GRPO + TAR + gate (Video-R2)" in page and ">67.5<" in page


def test_bars_across_runs(page):
    bars = [attrs["style"] for tag, attrs in parse(page).tags if tag == "div" and attrs.get("class") == "bar"]
    section = page.split("Per benchmark across runs")[1].split("Averages: Generic")[0]
    accuracy = section.split("<h3>TAC</h3>")[0]
    # this run and sft: 3 benchmarks each; the paper's Video-R2 row: all 11
    assert accuracy.count('class="bar"') == 3 + 3 + 11
    assert f"background:{PALETTE[0]}" in accuracy and f"background:{PALETTE[1]}" in accuracy
    assert f"background:{PAPER_COLOUR}" in accuracy
    assert "width:66.0%" in accuracy and "width:67.5%" in accuracy
    assert all(re.search(r"width:\d+\.\d%", style) for style in bars)
    tac = section.split("<h3>TAC</h3>")[1].split("<h3>")[0]
    assert "width:95.0%" in tac and "VSIBench" not in tac  # no run has TAC there: no empty row


def test_write_reports_uses_the_page(tmp_path):
    paths = write_reports(_summary("run", 66.0, 61.0, 40.0), tmp_path, [paper_summary(next(iter(PAPER_ROWS)))])
    assert "Per benchmark across runs" in paths["html"].read_text()



@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")
def test_renders_in_chromium_with_its_bars(page, tmp_path):
    from PIL import Image

    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    dom = chromium(tmp_path / "p1", "--dump-dom", path.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Per benchmark across runs" in dom.stdout and "<script>" not in dom.stdout.split("</head>")[1]
    shot = tmp_path / "shot.png"
    result = chromium(tmp_path / "p2", f"--screenshot={shot}", "--window-size=1200,2400", path.resolve().as_uri())
    assert shot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3).astype(int)
    for colour in (PALETTE[0], PALETTE[1]):  # the bars were painted in each run's colour
        rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - rgb).max(axis=1) < 12).sum() > 300, colour


# --------------------------------------------------------------------------- layout in a real browser

MEASURE = """<script>
addEventListener("load", () => {
  const out = {tables: [], labels: [], width: innerWidth};
  for (const box of document.querySelectorAll(".scroll")) {
    const table = box.querySelector("table"), r = box.getBoundingClientRect();
    out.tables.push({title: box.previousElementSibling ? box.previousElementSibling.textContent : "",
                     inside: r.left >= 0 && r.right <= innerWidth + 1,
                     fits: table.offsetWidth <= box.clientWidth + 1,
                     scrolls: getComputedStyle(box).overflowX === "auto"});
  }
  for (const label of document.querySelectorAll(".bars .label")) {
    const r = label.getBoundingClientRect(), card = label.parentElement.getBoundingClientRect();
    out.labels.push({text: label.textContent, clipped: label.scrollWidth > label.clientWidth + 1
                     || r.left < card.left - 1 || r.right > card.right + 1});
  }
  const pre = document.createElement("pre"); pre.id = "measured"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _all_eleven():
    from vr2.eval.report import PAPER_CATEGORY, PAPER_DISPLAY, PAPER_ORDER

    long_label = "a category label far longer than any fixed label column would hold without clipping it"
    per = {name: {"display": PAPER_DISPLAY[name], "category": PAPER_CATEGORY[name], "accuracy": 40.0 + i,
                  "official_accuracy": 41.0 + i, "official_rule": "rule", "tac": 80.0, "tac_correctness": 75.0,
                  "vas_judge": 60.0, "samples": 100, "scored": 96, "log_lines": 100, "errors": 0,
                  "breakdown": {"category": {long_label: {"accuracy": 50.0, "samples": 3},
                                             "short": {"accuracy": 70.0, "samples": 5}}}}
           for i, name in enumerate(PAPER_ORDER)}
    per["vsibench"]["official_groups"] = {"object_counting": {"accuracy": 40.0, "samples": 4},
                                          "object_rel_direction (merged)": {"accuracy": 33.3, "samples": 3}}
    categories = {name: PAPER_CATEGORY[name] for name in PAPER_ORDER}
    return make_summary("a run with a rather long label, as runs get", per, averages(per, categories),
                        info={"source": "lmms-eval samples"})


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian chromium")
@pytest.mark.parametrize("width", [1400, 1000])
def test_tables_fit_or_scroll_inside_their_cards_and_labels_are_whole(tmp_path, width):
    import json

    page = render(_all_eleven(), [paper_summary(row) for row in PAPER_ROWS])
    assert "object_rel_direction (merged)" in page  # the group the official VSIBench figure averages
    path = tmp_path / "measured.html"  # a test-only copy with a measuring script; the report has none
    path.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    dom = chromium(tmp_path / "p", "--dump-dom", f"--window-size={width},1200", path.resolve().as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["width"] == width
    assert measured["tables"] and all(t["inside"] and (t["fits"] or t["scrolls"]) for t in measured["tables"])
    paper = next(t for t in measured["tables"] if t["title"].startswith("Accuracy per benchmark"))
    if width == 1400:  # the paper table with all 11 benchmarks, both averages and Overall fits whole
        assert paper["fits"], measured["tables"]
    assert measured["labels"] and not [x["text"] for x in measured["labels"] if x["clipped"]]
