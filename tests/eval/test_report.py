"""Reports: summary.json round trip, the paper's table layouts, comparison rows, escaping."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from vr2.errors import Vr2Error
from vr2.eval.metrics import averages
from vr2.eval.output import html_report, write_reports
from vr2.eval.report import (
    PAPER_ORDER,
    PAPER_ROWS,
    accuracy_table,
    ablation_table,
    load_summary,
    make_summary,
    markdown_report,
    paper_summary,
    rich_tables,
)

DISPLAY = {"mvbench": "MVBench", "videomme": "VideoMME", "vsibench": "VSIBench", "mine": "My set"}
CATEGORY = {"mvbench": "generic", "videomme": "generic", "vsibench": "reasoning", "mine": "other"}


def summary(label, values: dict) -> dict:
    per = {n: {"display": DISPLAY[n], "category": CATEGORY[n], "samples": 10, "errors": 0, **m}
           for n, m in values.items()}
    return make_summary(label, per, averages(per, CATEGORY), info={"protocol": {"fps": 2.0}})


RUN = summary("grpo", {
    "mvbench": {"accuracy": 60.0, "tac": 80.0, "vas_attn": 12.5},
    "vsibench": {"accuracy": 30.0, "tac": 70.0, "vas_attn": 10.0},
    "videomme": {"accuracy": 50.0, "tac": None, "vas_attn": 11.0},
})


def test_summary_round_trip(tmp_path):
    paths = write_reports(RUN, tmp_path)
    assert {p.name for p in paths.values()} == {"summary.json", "report.md", "report.html"}
    loaded = load_summary(tmp_path)  # a folder means its summary.json
    assert loaded["benchmarks"] == RUN["benchmarks"] and loaded["averages"] == RUN["averages"]
    assert "5 x Generic + 6 x Reasoning" in loaded["overall_note"]
    assert not list(tmp_path.glob("*.tmp"))


def test_accuracy_table_paper_layout():
    headers, rows = accuracy_table([RUN])
    # generic benchmarks in registry order, their average, reasoning, theirs, then Overall
    assert headers == ["Run", "MVBench", "VideoMME", "Generic", "VSIBench", "Reasoning", "Overall"]
    # averages over fewer benchmarks than the paper's groups say so in words
    assert rows == [["grpo", "60.0", "50.0", "55.0 (over 2 of 5)", "30.0", "30.0 (over 1 of 6)",
                     "46.7 (over 3 of 11)"]]


def test_ablation_table_and_partial_marks():
    headers, rows = ablation_table([RUN])
    assert headers == ["Run", "Accuracy (G / R / O)", "TAC (G / R / O)", "VAS-attn (G / R / O)",
                       "Benchmarks covered"]
    assert rows[0][-1] == "3 of 11 (partial averages)"
    # videomme has no TAC: the generic and overall TAC averages cover fewer benchmarks -> '*'
    assert rows[0][2] == "80.0* / 70.0 / 75.0*"
    assert rows[0][1] == "55.0 / 30.0 / 46.7"


def test_comparison_and_paper_rows_side_by_side():
    other = summary("sft", {"mvbench": {"accuracy": 40.0}, "mine": {"accuracy": 20.0}})
    video_r2 = paper_summary("+ SFT + GRPO + TAR + gate (Video-R2)")
    headers, rows = accuracy_table([RUN, other, video_r2])
    assert [r[0] for r in rows] == ["grpo", "sft", "paper: + SFT + GRPO + TAR + gate (Video-R2)"]
    assert headers[-2:] == ["My set", "Overall"]  # a benchmark only the other run has
    assert len(headers) == 1 + 11 + 2 + 1 + 1  # 11 paper benchmarks, 2 group averages, mine, overall
    paper = dict(zip(headers, rows[2]))
    assert paper["MVBench"] == "67.5" and paper["SciVideoBench"] == "28.4"
    assert paper["Overall"] == "53.0" and paper["Generic"] == "66.7"
    _, ablation = ablation_table([video_r2])
    assert "85.7 / 78.2 / 81.6" in ablation[0] and "78.9 / 61.5 / 69.4" in ablation[0]


def test_every_paper_row_is_available():
    for row in PAPER_ROWS:
        s = paper_summary(row)
        assert s["averages"]["overall"]["benchmarks"] == list(PAPER_ORDER)
    with pytest.raises(Vr2Error, match="unknown row"):
        paper_summary("nope")


def test_markdown_and_html(tmp_path):
    evil = summary("<script>x</script> | pipe", {"mvbench": {"accuracy": 1.0}})
    md = markdown_report(RUN, [evil])
    assert "| Run | MVBench | VideoMME | Generic | VSIBench | Reasoning | Overall |" in md
    assert "\\| pipe" in md  # a '|' in a label does not break the table
    assert "covers 3 benchmark(s)" in md and "Protocol: fps 2.0" in md
    page = html_report(RUN, [evil])
    assert "<script>x" not in page and "&lt;script&gt;" in page
    assert page.count("<table>") == 3


def test_rich_tables_show_labels_literally():
    console = Console(record=True, width=200)
    for table in rich_tables(summary("[bold]run[/bold]", {"mvbench": {"accuracy": 1.0}})):
        console.print(table)
    assert "[bold]run[/bold]" in console.export_text()


@pytest.mark.parametrize("content, message", [
    (None, "summary file not found"),
    ("{", "not valid JSON"),
    (json.dumps({"benchmarks": []}), "not a vr2 eval summary"),
])
def test_bad_summary_files(tmp_path, content, message):
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(Vr2Error, match=message) as err:
        load_summary(path)
    assert str(path) in str(err.value)


def test_paper_rows_are_shown_as_printed_with_a_note_where_one_looks_inconsistent(tmp_path):
    from vr2.eval.report import ablation_table, paper_notes

    grpo = "+ SFT + GRPO (acc + format)"
    assert PAPER_ROWS[grpo]["vas"] == (75.8, 61.5, 61.5)  # printed so, though 5 x 75.8 + 6 x 61.5 gives 68.0
    (note,) = paper_notes(grpo)
    assert "VAS Overall is printed 61.5, but (5 x 75.8 + 6 x 61.5) / 11 = 68.0; shown as printed" in note
    assert all(not paper_notes(row) for row in PAPER_ROWS if row != grpo)  # the rest agree up to rounding
    headers, rows = ablation_table([paper_summary(grpo)])
    assert "75.8 / 61.5 / 61.5 \u2020" in rows[0]
    md = markdown_report(RUN, [paper_summary(grpo)])
    assert "\u2020 paper row '+ SFT + GRPO (acc + format)': VAS Overall is printed 61.5" in md
