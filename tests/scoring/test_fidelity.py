"""Issue classes found on real model outputs: the TAC gate, numbers, OCR and free-form answers.

Each class is checked with several phrasings, plus a property test where one fits.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.scoring.answers import parse_number, score_answer, word_error_rate
from vr2.scoring.consistency import check_parts, think_conclusion

OPTIONS = ["The dog runs away", "He does not pick up the cup", "The man waves",
           "The car never turns"]


# --- numeric conclusions ignore time mentions ---------------------------------------------

@pytest.mark.parametrize("think", [
    "I count carefully. So there are 5 people at 00:20.",
    "The answer is 5 at 0:45.",
    "Therefore, at 00:31 we see 5 people.",
    "Thus 5 people are visible around the 12-second mark.",
    "In total, 5 people appear between 00:10 and 00:20.",
    "So the count is 5 (at 1:02:03).",
    "Therefore there are 5 people at 12 seconds.",
])
def test_numeric_conclusion_ignores_times(think):
    assert think_conclusion(think, "numeric") == "5"
    assert check_parts(think, "5", "numeric").consistent is True


@pytest.mark.parametrize("think, value", [
    ("So the answer is 5 seconds.", "5"), ("Therefore it takes 12 s.", "12"),
    ("Hence the answer is 3 minutes.", "3"),
])
def test_a_lone_duration_is_still_the_numeric_conclusion(think, value):
    assert think_conclusion(think, "numeric") == value


@given(n=st.integers(0, 500), m=st.integers(0, 59), s=st.integers(0, 59))
def test_numeric_conclusion_never_reads_a_clock(n, m, s):
    think = f"Therefore there are {n} cars at {m:02d}:{s:02d}."
    assert think_conclusion(think, "numeric") == str(n)


@pytest.mark.parametrize("answer, value", [
    ("5 people at 00:20", 5), ("at 0:45 there are 7", 7), ("12 (seen at 00:12)", 12),
    ("3 times, at 00:05, 00:09 and 00:14", 3),
])
def test_numeric_answer_is_never_a_time(answer, value):
    assert parse_number(answer) == value


# --- negation words inside an option's own text ---------------------------------------------

@pytest.mark.parametrize("think, letter", [
    ("So the answer is The car never turns.", "D"),
    ("Therefore, the car never turns.", "D"),
    ("Therefore, (B) He does not pick up the cup.", "B"),
    ("The correct option is: he does not pick up the cup.", "B"),
    ("Thus, B is incorrect and C is correct.", "C"),
    ("Thus, A is wrong but C is correct.", "C"),
    ("Option A is not right, while C is the best.", "C"),
])
def test_negation_inside_option_text_is_not_a_negated_pick(think, letter):
    assert think_conclusion(think, "multiple_choice", OPTIONS) == letter
    assert check_parts(think, letter, "multiple_choice", OPTIONS).consistent is True


@pytest.mark.parametrize("think", [
    "So the answer is not A.", "Therefore, A is incorrect.", "Thus option A is wrong.",
])
def test_a_real_negated_pick_is_still_not_a_conclusion(think):
    assert think_conclusion(think, "multiple_choice", OPTIONS) is None


# --- pick / select / choose only as the speaker's choice ------------------------------------

@pytest.mark.parametrize("think, expected", [
    ("Therefore, he will pick up the red cup.", "he will pick up the red cup"),
    ("Thus the woman selects a blue scarf.", "the woman selects a blue scarf"),
    ("So the child chooses the small box.", "the child chooses the small box"),
    ("Hence they pick the apples from the tree.", "they pick the apples from the tree"),
])
def test_pick_inside_content_is_not_a_marker(think, expected):
    assert think_conclusion(think, "free_form") == expected
    assert check_parts(think, expected, "free_form").consistent is True


@pytest.mark.parametrize("think, letter", [
    ("I choose B.", "B"), ("I will pick C.", "C"), ("We'll go with A.", "A"),
    ("After all that, I select D.", "D"), ("My choice is B.", "B"),
])
def test_the_speakers_choice_is_a_marker(think, letter):
    assert think_conclusion(think, "multiple_choice") == letter


@pytest.mark.parametrize("think, answer, agree", [
    ("Therefore, he does not pick up the cup.", "he does not pick up the cup", True),
    ("So the answer is that the man never sits down.", "the man never sits down", True),
    ("Thus the boy doesn't open the door.", "The boy doesn't open the door", True),
    ("Therefore, the man is not cooking.", "cooking", False),
    ("So it is not that he never sits down.", "he never sits down", False),
])
def test_answer_with_its_own_negation_compares_like_text(think, answer, agree):
    assert check_parts(think, answer, "free_form").consistent is agree


# --- numbers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("1,5", 1.5), ("3,25", 3.25), ("0,75 m", 0.75), ("1,500", 1500), ("12,345.6", 12345.6),
    ("2 million", 2e6), ("1.5 billion", 1.5e9), ("3 thousand people", 3000),
    ("about 2 Million", 2e6), ("1,2,3", 3),
])
def test_numbers(text, value):
    assert parse_number(text) == pytest.approx(value)


def test_decimal_comma_gold_scores():
    assert score_answer("1.5", "1,5", "numeric") == 1.0
    assert score_answer("2000000", "2 million", "numeric") == 1.0
    assert score_answer("1500", "1,500", "numeric") == 1.0


@given(whole=st.integers(0, 10**6), frac=st.integers(1, 99))
def test_decimal_comma_property(whole, frac):
    assert parse_number(f"{whole},{frac:02d}") == pytest.approx(whole + frac / 100)


# --- OCR and free-form ----------------------------------------------------------------------

@pytest.mark.parametrize("pred, gold", [
    ("B52", "B-52"), ("Cafe", "CAFÉ"), ("cafe", "Café"), ("U.S.A.", "USA"),
    ("hello, world!", "Hello world"), ("naïve", "naive"), ("O'Brien", "OBrien"),
])
def test_ocr_ignores_case_accents_punctuation(pred, gold):
    assert word_error_rate(pred, gold) == 0.0
    assert score_answer(pred, gold, "ocr") == 1.0


def test_wer_counts_edits_per_gold_word():
    assert word_error_rate("a x c", "a b c") == pytest.approx(1 / 3)
    assert word_error_rate("", "a b") == 1.0 and word_error_rate("", "") == 0.0


@pytest.mark.parametrize("pred, gold", [
    ("the cats sit", "the cat sits"), ("running dogs", "the dog runs"),
])
def test_free_form_rouge_stems(pred, gold):
    from vr2.scoring.answers import rouge_f1

    stemmed = rouge_f1(pred, gold)["rouge1"]
    assert stemmed > 0.6


def test_free_form_matches_the_release_average():
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    gold, pred = "a man is cutting onions in the kitchen", "the man cuts an onion"
    s = scorer.score(gold, pred)
    expected = (s["rouge1"].fmeasure + s["rouge2"].fmeasure + s["rougeL"].fmeasure) / 3
    assert score_answer(pred, gold, "free_form") == pytest.approx(expected)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet="abc -.,ÉéB52", max_size=30))
def test_ocr_self_is_perfect(text):
    assert score_answer(text, text, "ocr") == 1.0 or not text.strip(" -.,")
