"""Tests for vr2.scoring.consistency: think conclusions, TAC and TAC-by-correctness."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.scoring.answers import UnknownAnswerType
from vr2.scoring.consistency import (
    Consistency,
    RuleConsistency,
    answers_agree,
    check_consistency,
    check_parts,
    final_answer,
    tac_correctness,
    think_conclusion,
)

COLORS = ["red", "blue", "green", "yellow"]
TEN = [f"item {w}" for w in
       ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]]
TYPES = ["multiple_choice", "numeric", "regression", "ocr", "free_form"]


def mc(think: str, options=COLORS) -> str | None:
    return think_conclusion(think, "multiple_choice", options)


# ---------------------------------------------------------------- think_conclusion, multiple choice


@pytest.mark.parametrize("think, letter", [
    ("the answer is C", "C"),
    ("Therefore, D.", "D"),
    ("So the correct option is (B)", "B"),
    ("option B is correct", "B"),
    ("I choose (A)", "A"),
    ("I'll go with B", "B"),
    ("The shirt is blue, which corresponds to option C.", "C"),
    ("Thus, the best answer is D) yellow.", "D"),
    ("At 00:12 the man puts on a blue shirt. Therefore, the shirt is blue.", "B"),
    ("Hence the final answer: (a).", "A"),
    ("Option B fits best.", "B"),
    ("Therefore, it is not A, so the answer is B.", "B"),
    ("Thus I think B is correct.", "B"),
    ("Therefore, since A and B are wrong, C is correct.", "C"),
    ("So the answer is B, not C.", "B"),
    ("In conclusion, green.", "C"),
    ("The man waves at 0:05. Then he leaves at 0:09.\nAnswer: C", "C"),
    ("So, the correct choice is option d", "D"),
])
def test_conclusion_forms(think, letter):
    assert mc(think) == letter


def test_last_conclusion_wins():
    think = ("At first the answer seems to be A. But at 01:20 the car turns green. "
             "Therefore, the answer is C.")
    assert mc(think) == "C"
    think = ("The answer is B. Therefore, this is consistent with what the video shows.")
    assert mc(think) == "B"  # the last marked sentence names nothing, the one before does


@pytest.mark.parametrize("think", [
    "Option A shows a dog, option B shows a cat.",
    "Thus, option C is incorrect.",
    "The answer is not A.",
    "Is the answer B?",
    "If the answer is B, the car would be blue.",
    "So far, option A fits.",
    "So, let's look at option B first.",
    "So now consider option C.",
    "Therefore, the answer is A or B.",
    "The video shows a man in a blue shirt and a woman in a red one.",
    "",
    "We need to choose between A and B.",
    "Option C can be ruled out, so option D is eliminated too.",
])
def test_no_conclusion(think):
    assert mc(think) is None


# Issue 22 changed these expectations: real traces often end on a statement that names the answer
# without a marker ("The trajectory is direct and downward into the trailer"), so a trace without any
# marked conclusion is read from its final statement when that names exactly one option, one number
# or (free form, OCR) any text. Before, "The video shows a man in a blue shirt." concluded nothing.
@pytest.mark.parametrize("think, letter", [
    ("The video shows a man in a blue shirt.", "B"),
    ("The shirt is blue.", "B"),
    ("Option A is wrong. The shirt is green. Not D.", "C"),
])
def test_the_final_statement_concludes_when_nothing_is_marked(think, letter):
    assert mc(think) == letter


def test_conclusion_letters_beyond_e():
    assert mc("Therefore, the answer is (H).", TEN) == "H"
    assert mc("So I pick item seven.", TEN) == "H"
    assert mc("Therefore, the answer is (H).", COLORS) is None


def test_conclusion_without_options():
    assert mc("So the answer is G.", None) == "G"


# ---------------------------------------------------------------- think_conclusion, numbers and text


@pytest.mark.parametrize("think, number", [
    ("so the total is 12 apples", "12"),
    ("There are 3 rows of 4. Therefore, 3 groups of 4 give 12.", "12"),
    ("So the answer is 12, not 13.", "12"),
    ("I see 3 red and 4 blue cars. In total, 1,000 items.", "1000"),
    ("The length is about 2.5 m. Thus the answer is 2.5 meters.", "2.5"),
    ("Counting at 00:05 and 00:09 gives two birds. So the answer is seven.", "7"),
    ("The temperature drops. Hence the answer is -4.", "-4"),
])
def test_numeric_conclusion(think, number):
    assert think_conclusion(think, "numeric") == number
    assert think_conclusion(think, "regression") == number


@pytest.mark.parametrize("think", [
    "There are 3 apples and 4 pears.",
    "Let me count: 1, 2, 3.",
    "So the answer is 12 or 13.",
])
def test_numeric_no_conclusion(think):
    assert think_conclusion(think, "numeric") is None


def test_text_conclusion():
    assert think_conclusion("He holds a pan. Therefore, the man is cooking.", "free_form") == \
        "the man is cooking"
    assert think_conclusion("The answer is yes.", "free_form") == "yes"
    # issue 22: the final statement is the conclusion when no statement is marked (was None)
    assert think_conclusion("The sign reads OPEN 24 HOURS.", "ocr") == "The sign reads OPEN 24 HOURS"
    assert think_conclusion("Is it open? Let's look at the sign.", "ocr") is None
    assert think_conclusion("So the sign reads OPEN 24 HOURS.", "ocr") == "the sign reads OPEN 24 HOURS"


def test_unknown_type_raises():
    with pytest.raises(UnknownAnswerType, match="mcq"):
        think_conclusion("the answer is B", "mcq")
    with pytest.raises(ValueError):
        check_consistency("<think>x</think><answer>B</answer>", "choice")


@given(st.text(max_size=300), st.sampled_from(TYPES),
       st.one_of(st.none(), st.lists(st.text(max_size=15), max_size=10)))
@settings(max_examples=300, deadline=None)
def test_think_conclusion_never_raises(think, answer_type, options):
    result = think_conclusion(think, answer_type, options)
    assert result is None or isinstance(result, str)


@given(st.lists(st.sampled_from([
    "At 00:12 the man opens the door.", "Option A shows a dog, option B shows a cat.",
    "The video is 30 seconds long.", "I need to look closely.", "Is it C?",
]), max_size=5), st.sampled_from("ABCD"), st.sampled_from([
    "Therefore, the answer is {L}.", "So the correct option is ({L})", "I choose {L}.",
    "Option {L} is correct.", "I'll go with {L}.",
]))
@settings(max_examples=150, deadline=None)
def test_final_conclusion_is_found_after_any_observations(observations, letter, conclusion):
    think = " ".join(observations + [conclusion.format(L=letter)])
    assert mc(think) == letter


@pytest.mark.parametrize("text", [
    " " * 20000 + "so", "therefore, " * 3000, "answer is " * 3000, "A. " * 5000,
])
def test_think_conclusion_stays_fast_on_pathological_text(text):
    start = time.perf_counter()
    for answer_type in ("multiple_choice", "numeric", "free_form"):
        think_conclusion(text, answer_type, COLORS)
    assert time.perf_counter() - start < 3.0  # generous: a shared CI core


# ---------------------------------------------------------------- check_consistency


def completion(think: str, answer: str) -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def test_consistent_multiple_choice():
    result = check_consistency(completion("The shirt is blue. So the answer is B.", "(B)"),
                               "multiple_choice", COLORS)
    assert result == Consistency("B", "B", True)
    result = check_consistency(completion("The shirt is blue. So the answer is B.", "blue"),
                               "multiple_choice", COLORS)
    assert result.consistent is True


def test_inconsistent_multiple_choice():
    result = check_consistency(completion("So the answer is B.", "C"), "multiple_choice", COLORS)
    assert result == Consistency("B", "C", False)


def test_no_conclusion_or_unreadable_answer_is_inconsistent():
    # issue 22: "The shirt is blue." now concludes B (its final statement names option B's text)
    result = check_consistency(completion("Let's look at the shirt.", "B"), "multiple_choice", COLORS)
    assert result == Consistency(None, "B", False)
    result = check_consistency(completion("So the answer is B.", "A or B"), "multiple_choice", COLORS)
    assert result == Consistency("B", None, False)
    result = check_consistency(completion("", "B"), "multiple_choice", COLORS)
    assert result.consistent is False


def test_missing_blocks_cannot_be_judged():
    assert check_consistency("<answer>B</answer>", "multiple_choice", COLORS) == \
        Consistency(None, "B", None)
    assert check_consistency("<think>So the answer is B.</think>", "multiple_choice", COLORS) == \
        Consistency("B", None, None)
    assert check_consistency("B", "multiple_choice", COLORS).consistent is None


def test_consistency_numeric():
    assert check_consistency(completion("So the total is 1,000 apples.", "1000"), "numeric") == \
        Consistency("1000", "1000", True)
    assert check_consistency(completion("So the total is 12 apples.", "13"), "numeric").consistent \
        is False
    assert check_consistency(completion("So the mean is 2.50 m.", "2.5"), "regression").consistent


def test_consistency_text():
    think = "He stirs a pot at 00:10. Therefore, the man is cooking pasta."
    assert check_consistency(completion(think, "Cooking pasta."), "free_form").consistent is True
    assert check_consistency(completion(think, "dancing"), "free_form").consistent is False
    think = "Therefore, the man is not cooking pasta."
    assert check_consistency(completion(think, "cooking pasta"), "free_form").consistent is False


def test_answers_agree():
    assert answers_agree("B", "B", "multiple_choice")
    assert not answers_agree("B", "C", "multiple_choice")
    assert answers_agree("12", "12.0000000001", "numeric")
    assert not answers_agree(None, "12", "numeric")
    assert answers_agree("the sign reads open", "Open", "ocr")


def test_final_answer():
    assert final_answer("Option B", "multiple_choice", COLORS) == "B"
    assert final_answer("1,000 m", "numeric") == "1000"
    assert final_answer("  yes ", "free_form") == "yes"
    assert final_answer("   ", "free_form") is None
    assert final_answer(None, "numeric") is None


@given(st.text(max_size=300), st.sampled_from(TYPES))
@settings(max_examples=150, deadline=None)
def test_check_consistency_never_raises(text, answer_type):
    result = check_consistency(text, answer_type, COLORS)
    assert result.consistent in (None, True, False)


# ---------------------------------------------------------------- tac_correctness


def test_tac_correctness():
    both_right = check_consistency(completion("So the answer is B.", "B"), "multiple_choice", COLORS)
    assert tac_correctness(both_right, "B", "multiple_choice", COLORS) is True
    # both wrong but different choices: not `tac`, yet correctness agrees (the official notion)
    both_wrong = check_consistency(completion("So the answer is A.", "C"), "multiple_choice", COLORS)
    assert both_wrong.consistent is False
    assert tac_correctness(both_wrong, "B", "multiple_choice", COLORS) is True
    think_right = check_consistency(completion("So the answer is B.", "C"), "multiple_choice", COLORS)
    assert tac_correctness(think_right, "B", "multiple_choice", COLORS) is False
    # issue 22: "Blue shirt." now concludes B; a trace that only plans concludes nothing
    no_conclusion = check_consistency(completion("Let me look at the shirt.", "B"), "multiple_choice", COLORS)
    assert tac_correctness(no_conclusion, "B", "multiple_choice", COLORS) is False
    unjudged = check_consistency("<answer>B</answer>", "multiple_choice", COLORS)
    assert tac_correctness(unjudged, "B", "multiple_choice", COLORS) is None


def test_tac_correctness_numeric_and_graded():
    result = check_consistency(completion("So the total is 1,000.", "1000"), "numeric")
    assert tac_correctness(result, "1000", "numeric") is True
    result = check_consistency(completion("So the distance is 10 m.", "30"), "regression")
    assert tac_correctness(result, "10", "regression") is False


# ---------------------------------------------------------------- the rule checker plugin


def test_rule_consistency_plugin():
    checker = RuleConsistency()
    assert checker.name == "rule"
    assert checker.check("So the answer is B.", "B", "multiple_choice", COLORS) is True
    assert checker.check("So the answer is B.", "C", "multiple_choice", COLORS) is False
    assert checker.check("So the answer is B.", "C", "multiple_choice", []) is False
    assert checker.check(None, "B", "multiple_choice", COLORS) is None
    assert checker.check("So the answer is B.", None, "multiple_choice", COLORS) is None
    assert checker.check("So the total is 12.", "12", "numeric", []) is True
    assert checker.check("So the answer is B.", "(B)", None, COLORS) is True


def test_check_parts_matches_check_consistency():
    think, answer = "The car turns green at 01:20. Therefore, C.", "C) green"
    assert check_parts(think, answer, "multiple_choice", COLORS) == \
        check_consistency(completion(think, answer), "multiple_choice", COLORS) == \
        Consistency("C", "C", True)
