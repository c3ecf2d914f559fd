"""The prompt template: question and options formatting, modes, message structure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vr2.model import prompts
from vr2.errors import Vr2Error


def test_format_question_letters_options():
    assert prompts.format_question(" What? ", ["red", "blue"]) == "What?\nA. red\nB. blue"
    assert prompts.format_question("What?") == "What?"


@pytest.mark.parametrize("given_option", ["A. red", "(A) red", "A) red", "a: red", "red"])
def test_existing_own_label_is_not_repeated(given_option):
    assert prompts.format_question("Q", [given_option]) == "Q\nA. red"


def test_label_of_another_letter_is_kept():
    assert prompts.format_question("Q", ["x", "A. red"]) == "Q\nA. x\nB. A. red"


option_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), min_size=1, max_size=30)


@given(st.lists(option_text.filter(lambda s: s.strip()), min_size=1, max_size=10))
def test_labelled_and_bare_options_format_alike(options):
    bare = [o.strip() for o in options]
    labelled = [f"{prompts.LETTERS[i]}. {o}" for i, o in enumerate(bare)]
    # Labelling an option with its own letter changes nothing, unless its text itself starts
    # with a label of that letter (then the bare form is ambiguous by construction).
    own_label = [prompts._LABEL.match(o) for o in bare]
    if any(m and m.group(1).upper() == prompts.LETTERS[i] for i, m in enumerate(own_label)):
        return
    assert prompts.format_question("Q", labelled) == prompts.format_question("Q", bare)
    lines = prompts.format_question("Q", bare).split("\n")
    assert [line[:3] for line in lines[1:]] == [f"{prompts.LETTERS[i]}. " for i in range(len(bare))]


def test_too_many_options():
    with pytest.raises(Vr2Error, match="options"):
        prompts.format_question("Q", ["x"] * 27)


def test_think_messages_have_one_video_then_instruction():
    messages = prompts.build_messages("Why?", ["a", "b"], mode="think")
    assert messages[0] == {"role": "system", "content": prompts.SYSTEM_PROMPT}
    user = messages[1]
    assert user["role"] == "user"
    assert user["content"][0] == {"type": "video"}
    text = user["content"][1]["text"]
    assert text.startswith("Why?\nA. a\nB. b\n")
    assert "<think>" in text and "<answer>" in text and "HH:MM:SS" in text


def test_direct_mode_asks_for_answer_only():
    mcq = prompts.build_messages("Why?", ["a", "b"], mode="direct")[1]["content"][1]["text"]
    open_ = prompts.build_messages("Why?", None, mode="direct")[1]["content"][1]["text"]
    assert "<think>" not in mcq and mcq.endswith(prompts.DIRECT_MCQ_INSTRUCTION)
    assert open_.endswith(prompts.DIRECT_OPEN_INSTRUCTION)


def test_unknown_mode():
    with pytest.raises(Vr2Error, match="mode"):
        prompts.build_messages("Why?", mode="cot")


def test_no_system_turn():
    assert [m["role"] for m in prompts.build_messages("Why?", system=None)] == ["user"]
