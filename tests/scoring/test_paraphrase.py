"""Tests for vr2.scoring.paraphrase: stems, the option a statement describes, free-form meaning."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.scoring.paraphrase import covers, described_option, items, predicate, same_meaning, stem, stems
from vr2.scoring.time_roles import moments
from vr2.scoring.timestamps import find_times


@pytest.mark.parametrize("a, b", [
    ("kicking", "kicks"), ("happiness", "happy"), ("downwards", "downward"), ("transferred", "transfer"),
    ("exercising", "exercise"), ("running", "runs"), ("carries", "carried"), ("moving", "move"),
])
def test_word_forms_share_a_stem(a, b):
    assert stem(a) == stem(b)


def test_stems_leave_out_function_words():
    assert stems("The boy is kicking a ball.") == ["boy", "kick", "ball"]
    assert stems(None) == []


SEQUENCE = ["The glass falls, then breaks", "The glass breaks, then falls", "The glass stays on the table",
            "The video does not show the glass"]


@pytest.mark.parametrize("statement, index", [
    ("It falls and then it breaks.", 0),
    ("First it breaks and then it falls.", 1),
    ("It stays on the table until the end.", 2),
    ("The video never shows any glass.", 3),
    ("The cat walks past.", None),
    ("The glass is shown falling off.", None),  # "glass" and "falls" fit options 0, 1 and 3 alike
])
def test_described_option(statement, index):
    assert described_option(statement, SEQUENCE) == index


def test_a_negated_option_is_not_described_by_an_affirmative_statement():
    options = ["It floats into the sky", "The video does not show the corn being transferred",
               "It is transferred into a trailer"]
    assert described_option("The corn is seen being transferred in an arc.", options) != 1


def test_items_and_predicates():
    assert items("confusion, anger, and excitement") == ["confusion", "anger", "excitement"]
    assert predicate("the child is very sad") == "sad"
    assert predicate("He kicks the ball.") == "He kicks the ball."
    assert covers("the boy is kicking a ball", "He kicks the ball.")
    assert not covers("the boy is kicking a ball", "He throws the ball.")


def test_same_meaning_without_an_embedder_is_stems_only():
    assert same_meaning("she is swimming", "She swims.")
    assert not same_meaning("the emotion is primarily anger", "angry")


@given(st.text(max_size=200), st.lists(st.text(max_size=30), max_size=6))
@settings(max_examples=150, deadline=None)
def test_described_option_is_an_index_or_none(statement, options):
    found = described_option(statement, options)
    assert found is None or 0 <= found < len(options)


@given(st.text(max_size=300))
@settings(max_examples=150, deadline=None)
def test_every_mention_gets_a_role(text):
    mentions = find_times(text)
    assert len(moments(text, mentions)) == len(mentions)
