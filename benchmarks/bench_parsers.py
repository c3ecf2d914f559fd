"""Parser time on adversarial text: vr2's linear parsers versus the plain regular expressions.

Baselines are the obvious patterns (`<think>(.*?)</think>` and friends for the completion format,
`\\s*\\**\\s*`-style score patterns for a judge reply), timed on the inputs that make them
backtrack. Each row: the input, its size, baseline seconds, vr2 seconds and the ratio.

Run: PYTHONPATH=src python benchmarks/bench_parsers.py [--kb 20]
"""

from __future__ import annotations

import argparse
import re
import time

from vr2.scoring.format import format_ok, parse_completion
from vr2.scoring.release_rewards import first_answer, release_format_ok
from vr2.judge.client import parse_score

THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
STRICT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.S)
NUMBER = r"(-?\d{1,6}(?:\.\d+)?)"
SCORE_LABEL = re.compile(r"score\W{0,5}?(?:is|of|=|:)?\s*\**\s*" + NUMBER + r"(?!\.?\d)", re.I)
BARE = re.compile(r"\s*\**\s*" + NUMBER + r"\s*\**\s*\.?\s*")
# The release's own patterns, run as written (accuracy.rules / format.rules = "release" restate them).
RELEASE_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.S)
RELEASE_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.S)


def baseline_completion(text):
    THINK.search(text)
    ANSWER.findall(text)
    STRICT.fullmatch(text)


def vr2_completion(text):
    parse_completion(text)
    format_ok(text)


def baseline_release(text):
    RELEASE_FORMAT.fullmatch(text)
    RELEASE_ANSWER.search(text)


def vr2_release(text):
    release_format_ok(text)
    first_answer(text)


def baseline_score(text):
    SCORE_LABEL.findall(text)
    BARE.fullmatch(text)


def seconds(fn, text) -> float:
    start = time.perf_counter()
    fn(text)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kb", type=int, default=20, help="input size in KB (the baselines are quadratic)")
    size = parser.parse_args().kb * 1000
    cases = [
        ("completion", "<think> repeated", "<think>", baseline_completion, vr2_completion),
        ("completion", "<answer> repeated", "<answer>", baseline_completion, vr2_completion),
        ("completion", "closed blocks + junk", "</think><answer></answer>x", baseline_completion, vr2_completion),
        ("release rules", "<answer> repeated", "<answer>", baseline_release, vr2_release),
        ("release rules", "</think><answer> repeated", "</think><answer>", baseline_release, vr2_release),
        ("judge score", "'score' + spaces", None, baseline_score, parse_score),
        ("judge score", "spaces + 'x'", " ", baseline_score, parse_score),
    ]
    print(f"| parser | input ({size // 1000} KB) | baseline s | vr2 s | baseline / vr2 |")
    print("|---|---|---|---|---|")
    for parser_name, label, unit, base, ours in cases:
        if unit is None:
            text = "score" + " " * size
        elif unit == " ":
            text = " " * size + "x"
        else:
            text = (unit * (size // len(unit) + 1))[:size]
        if unit and unit.startswith("</think>"):
            text = "<think>" + text
        b, v = seconds(base, text), seconds(ours, text)
        print(f"| {parser_name} | {label} | {b:.3f} | {v:.5f} | {b / max(v, 1e-6):,.0f}x |")


if __name__ == "__main__":
    main()
