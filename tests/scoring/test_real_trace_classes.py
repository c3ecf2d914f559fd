"""Issue 22: the classes of misreadings found on real model outputs, each reproduced in our own words.

Every example case here failed on the readers before issue 22 (checked by running this file against
them); the property tests at the end are guards.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import run_vr2
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.plugins.registry import make_embedder
from vr2.scoring.answers import parse_number
from vr2.scoring.claims import RuleExtractor
from vr2.scoring.consistency import check_parts, think_conclusion

FOUR = ["a red car", "a blue bus", "a green tram", "a white van"]
TEMPS = ["50\\degree C", "30\\degree C", "60\\degree C", "45\\degree C"]


@pytest.fixture(scope="module")
def minilm():
    return make_embedder("minilm")


def mc(think: str, options=FOUR) -> str | None:
    return think_conclusion(think, "multiple_choice", options)


def times(think: str) -> list[tuple[float, float]]:
    return [(c.start, c.end) for c in RuleExtractor().extract(think)]


# ---------------------------------------------------------------- conclusions


@pytest.mark.parametrize("think, letter", [
    ("The van parks at 00:12. The correct answer is:\n\\boxed{D}", "D"),
    ("Thus, the correct answer is:\n\n\\[ \\boxed{C} \\]", "C"),
    ("Therefore, the correct answer is:\nA. a red car", "A"),
    ("I compared every vehicle.\nThe answer is:\n- B", "B"),
    ("### Answer\nC", "C"),
])
def test_an_answer_on_the_line_after_its_marker_or_boxed(think, letter):
    assert mc(think) == letter


@pytest.mark.parametrize("think, letter", [
    ("So the answer isn't B, it has to be D.", "D"),
    ("The answer is not A; it's C.", "C"),
    ("D looks like the likeliest choice.", "D"),
    ("The bus leaves and the car stays parked. That leaves only D.", "D"),
    ("D, not B, is correct.", "D"),
    ("This matches the description given in option C.", "C"),
    ("Option B aligns with what we see at 00:20.", "B"),
    ("It is C rather than A.", "C"),
])
def test_rejection_and_commitment_wordings(think, letter):
    assert mc(think) == letter


def test_a_rejected_option_is_never_the_pick():
    assert mc("So the answer isn't B.") is None
    assert mc("Option A is wrong. Option B is wrong too.") is None


def test_a_temperature_is_not_an_option_letter():
    think = "Based on the video, the correct answer is B. 30°C.\nThus, the boiling point is 30°C."
    assert mc(think, TEMPS) == "B"
    assert check_parts(think, "B", "multiple_choice", TEMPS).consistent is True


@pytest.mark.parametrize("degree", ["\\degree C", "\\degree{} C", "^\\circ C", "^{\\circ} C"])
def test_a_latex_temperature_is_not_an_option_letter(degree):
    """LaTeX degrees with a space before the unit: "30\\degree C" must not leave a lone "C" behind."""
    assert mc(f"The thermometer reads 30{degree} at the end, so the temperature is 30{degree}.", TEMPS) == "B"


def test_the_letter_wins_over_the_words_after_it():
    think = "Therefore, the correct answer is:\nD. a red car"
    assert mc(think) == "D"


def test_a_count_followed_by_a_time_concludes_the_count():
    assert think_conclusion("So there are 3 cars in total by 00:20.", "numeric") == "3"
    assert think_conclusion("In total, 4 birds have landed by the 12-second mark.", "numeric") == "4"


def test_the_value_of_the_main_clause_not_of_a_when_clause():
    think = "Therefore, the base slides at about 3.43 feet per second when it is 7 feet from the wall."
    assert think_conclusion(think, "numeric") == "3.43"


def test_a_conclusion_that_there_is_no_answer_is_not_skipped_back():
    think = "For 2019 the income is 9.7, so the flow is 10.7. Therefore, the answer is not provided."
    assert think_conclusion(think, "numeric") is None
    think = "The closest is option B. However, the answer is not among the provided options."
    assert mc(think) is None


def test_a_boxed_letter_for_a_numeric_question_agrees_with_the_same_letter():
    assert check_parts("The answer is: \\boxed{B}", "B", "numeric").consistent is True


def test_a_final_statement_naming_one_option_in_other_words():
    options = ["It floats up into the sky", "It is not shown", "It falls into a green trailer",
               "It is sprayed across the field"]
    think = "The corn leaves the harvester's arm. Its trajectory ends down in the green trailer."
    assert mc(think, options) == "C"


def test_free_form_in_other_words(minilm):
    think = "His brows are furrowed and he shouts. Overall, this man's emotion is primarily anger."
    assert check_parts(think, "angry", "free_form", embedder=minilm).consistent is True
    assert check_parts(think, "happy", "free_form", embedder=minilm).consistent is False
    think = "At 00:03 he runs up. So the boy is kicking a ball."
    assert check_parts(think, "He kicks the ball.", "free_form").consistent is True


@pytest.mark.parametrize("think, letter", [
    ("Okay. 因此，答案是 B。", "B"),
    ("Die Antwort ist also C.", "C"),
    ("Por lo tanto, la respuesta es A.", "A"),
    ("Donc, la réponse est D.", "D"),
    ("Следовательно, ответ: B.", "B"),
    ("したがって、答えは C です。", "C"),
])
def test_non_english_conclusions(think, letter):
    assert mc(think) == letter


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize("text, value", [("1:30", 90), ("the answer is 1:30", 90), ("1:02:03", 3723)])
def test_a_lone_clock_is_its_seconds(text, value):
    assert parse_number(text) == value


# ---------------------------------------------------------------- claims that are not moments


@pytest.mark.parametrize("think", [
    "At 00:05 the board shows x = 3h, so h = 40.",
    "At 00:05 we see the inductor labeled as 2H.",
    "At 00:05 the denominator is 4s^3 + 9s^2 + 8s.",
    "At 00:05 the narrator says bacteria have 70S ribosomes.",
    "At 00:05 the clock's hands point to 3:15.",
    "At 00:05 she says the train leaves at 7:45.",
    "At 00:05 the caption reads 'see you at 10:15'.",
    "At 00:05 the title appears. The whole clip lasts 02:30.",
    "At 00:05 the door opens. Roughly 5 seconds after the door opens, a dog runs in.",
    "At 00:05 the dog sits. So the answer is 45 seconds.",
    "At 00:05 the dog sits. The options are:\nA. 5 s\nB. 10 s\nC. 15 s",
    "At 00:05 the dog sits, and the time constant is 20 seconds.",
    "At 00:05 the ball is thrown. With t = 2 s, it lands.",
    "At 00:05 the dog sits. The video does not show a cat at 00:09.",
])
def test_times_that_are_not_moments(think):
    assert times(think) == [(5, 5)]


def test_a_long_question_restated_is_not_a_claim():
    think = ("The question asks what the speaker says after the phrase about the weather, the traffic, the "
             "long list of other small things and the closing remark in relation to the topic at around 2:50. "
             "At 02:55 the speaker smiles.")
    assert times(think) == [(175, 175)]


def test_the_last_seconds_are_the_range_given_not_a_point():
    assert times("In the final 20 seconds (01:40-02:00), the man sits on the bench.") == [(100, 120)]


# ---------------------------------------------------------------- claims missed or misshaped


def test_an_observation_after_an_option_is_a_claim():
    think = "Option A suggests the man leaves the room, but at 00:20 he is still sitting at the desk."
    assert times(think) == [(20, 20)]


def test_a_time_in_number_words():
    assert times("Near the two-minute mark the man gets up.") == [(120, 120)]


def test_from_the_start_until():
    assert times("From the start of the clip until 00:15, the man reads.") == [(0, 15)]


def test_a_time_restated_from_the_question_is_a_claim_only_when_asserted():
    think = ("Let's analyze the video to determine which muscle appears at the 0:30 mark.\n"
             "At the 0:30 mark, the animation colours the upper arm.")
    claims = RuleExtractor().extract(think)
    assert [(c.start, c.end) for c in claims] == [(30, 30)]
    assert claims[0].text == "the animation colours the upper arm"


# ---------------------------------------------------------------- claim text that stands alone


def test_a_pronoun_takes_the_subject_of_the_sentence_before():
    claims = RuleExtractor().extract("The square slides to the right. At 00:04 it reaches the edge.")
    assert [c.text for c in claims] == ["The square reaches the edge"]


def test_filler_is_dropped():
    claims = RuleExtractor().extract("We can see that at 00:22 the door opens slowly.")
    assert [c.text for c in claims] == ["the door opens slowly"]


def test_standalone_text_recovers_reference_matches(minilm):
    from vr2.scoring.claims import reference_claims
    from vr2.scoring.tar import TarScorer, TarSettings

    scorer = TarScorer(minilm, TarSettings(buffer_seconds=2.0, tau=0.75))
    think = "The square slides to the right. At 00:04 it reaches the edge."
    ref = reference_claims({"00:04": "The square reaches the edge."})
    assert scorer.score(RuleExtractor(standalone=False).extract(think), ref).matches == []
    assert len(scorer.score(RuleExtractor().extract(think), ref).matches) == 1


# ---------------------------------------------------------------- no reference, still claims


def test_claims_are_reported_without_a_reference(tmp_path, capsys):
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"completion": "<think>At 00:07 the man waves. So B.</think><answer>B</answer>"}))
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"temporal_grounding": {}}))
    result = run_vr2(capsys, "score", trace, "--ref", ref, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [(c["start"], c["end"]) for c in data["pred_claims"]] == [(7, 7)]
    assert data["ref_claims"] == [] and data["tar"] is None


# ---------------------------------------------------------------- properties


@given(st.sampled_from(["he", "she", "it", "they"]), st.integers(0, 59),
       st.sampled_from(["reaches the edge", "waves", "sits down"]))
def test_a_pronoun_without_a_subject_before_stays(pronoun, second, action):
    claims = RuleExtractor().extract(f"At 00:{second:02d} {pronoun} {action}.")
    assert [(c.start, c.text) for c in claims] == [(second, f"{pronoun} {action}")]


@given(st.text(max_size=400), st.sampled_from(["multiple_choice", "numeric", "free_form", "ocr"]))
@settings(max_examples=200, deadline=None)
def test_the_readers_never_raise(text, kind):
    think_conclusion(text, kind, FOUR)
    think_conclusion(text, kind, FOUR, explicit_only=True)
    RuleExtractor().extract(text)
