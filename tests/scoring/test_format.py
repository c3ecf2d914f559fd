"""The completion format parser: same answers as the plain regular expressions it replaces, and
linear time on hostile text (these once took 24 s on 200 KB of repeated `<think>`)."""

import re
import timeit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.scoring.format import format_ok, parse_completion, without_think_blocks

# The obvious patterns, as the reference for what the linear code must return (on short text,
# where their quadratic cost does not matter).
THINK = re.compile(r"<think>(.*?)</think>", re.S | re.I)
ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
STRICT = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.S)

TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "<THINK>", "</Think>", "<ANSWER>",
          "</answer >", "<think", " ", "\n", "\u00a0", "x", "B", "At 00:05", "*", "score: 7", "{", "}"]
fragments = st.lists(st.sampled_from(TOKENS), max_size=12).map("".join)


def reference(text):
    think = THINK.search(text)
    answers = ANSWER.findall(text)
    ok = bool(STRICT.fullmatch(text)) and text.count("<think>") == 1 and text.count("<answer>") == 1
    return (think.group(1).strip() if think else None, answers[-1].strip() if answers else None, ok)


@settings(max_examples=500, deadline=None)
@given(fragments)
def test_same_result_as_the_regular_expressions(text):
    parsed = parse_completion(text)
    assert (parsed.think, parsed.answer, format_ok(text)) == reference(text)
    assert without_think_blocks(text) == THINK.sub(" ", text)


def test_examples():
    good = " <think>At 00:05 a cat.</think>\n<answer> B </answer>\n"
    assert parse_completion(good).think == "At 00:05 a cat." and parse_completion(good).answer == "B"
    assert format_ok(good)
    assert not format_ok("<think>a</think><answer>B</answer><answer>C</answer>")
    assert not format_ok("<think>a</think>x<answer>B</answer>")
    assert not format_ok("<THINK>a</THINK><answer>B</answer>")
    assert parse_completion("<THINK>a</THINK><answer>B</answer><answer>C</answer>").answer == "C"
    assert parse_completion("<think>never closed <answer>B").think is None


ADVERSARIAL = ["<think>", "<answer>", "<think></think><answer></answer>x", "</think><answer>",
               "<answer></answer>", " ", "<THINK> ", "<think>x</answer>"]


@pytest.mark.parametrize("unit", ADVERSARIAL)
def test_100kb_of_repeated_tags_is_fast(unit):
    text = unit * (100_000 // len(unit))
    assert _seconds(text) < 1.0  # linear: milliseconds; the regexes took 3-7 s at this size


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=6).map("".join), fragments)
def test_any_repeated_fragment_of_100kb_is_fast(unit, tail):
    text = unit * (100_000 // len(unit)) + tail
    assert _seconds(text) < 1.0


def _seconds(text):
    """Best of two runs: the machine may be shared, a quadratic parser is slow every time."""
    def run():
        parse_completion(text)
        format_ok(text)
        without_think_blocks(text)
    return min(timeit.repeat(run, number=1, repeat=2))
