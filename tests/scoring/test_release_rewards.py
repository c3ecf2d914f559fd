"""vr2.scoring.release_rewards: the release's accuracy and format rewards, selectable from recipes.

Known outcomes are pinned here without the release; with a checkout at $VR2_RELEASE_REPO, hypothesis
checks the functions against the release's own `accuracy_reward` and `format_reward` on random
completions and golds (skipped otherwise). The differences to vr2's rules are in
test_release_differences.py.
"""

from __future__ import annotations

import json
import re
import timeit

import pytest
from cli_helpers import run_vr2
from hypothesis import given, settings
from hypothesis import strategies as st
from release_repo import quietly, release_reward_code

from vr2.config import dump_toml, load_recipe
from vr2.errors import Vr2Error
from vr2.eval.metrics import build_scorer, score_responses
from vr2.scoring.batch import ScoreInput, score_inputs
from vr2.scoring.release_rewards import (
    RELEASE_ANSWER_TYPES,
    choice_letter,
    first_answer,
    guess_answer_type,
    release_accuracy_reward,
    release_format_ok,
    release_format_reward,
    release_number,
    word_error_rate,
)
from vr2.scoring.rewards import accuracy_reward, format_reward, reported_rewards, reward_functions

RELEASE_RULES = ['accuracy.rules="release"', 'format.rules="release"']
BROWN = "<think>The shirt is brown.</think><answer>brown</answer>"  # against gold "blue"
SPACED = "\n<think>x</think><answer>B</answer>"  # whitespace before <think>

# What completions and golds are made of: the tags (both cases), whitespace the release's `\s` and
# `str.split` treat alike (Unicode included), letters around a-e, numbers in its formats, words.
TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<ANSWER>", "</THINK>"]
SPACES = [" ", "\n", "\t", "\u00a0", "\x1c", "\u2003"]
PIECES = ["A", "B", "b", "E", "F", "f", "(B)", "Option ", "B. blue", "apple", "brown", "blue", "dog",
          "0", "7", "12", "1,000", "1000", "3.001", "3.004", "10.00001", "0.00000", "-2", "+5", ".", ",",
          "1_0", "1e3", "inf", "nan", "\u0663", " m", "-", ":", "Hello", "hello", "world", "the man sits",
          "sitting", "Sitting.", "caf\u00e9", "!", "x"]
def joined(parts, min_size=0, max_size=3):
    return st.lists(st.sampled_from(parts), min_size=min_size, max_size=max_size).map("".join)


# Mostly the shape a model writes (with a few pieces around or inside the blocks), then anything.
shaped = st.builds("{}<think>{}</think>{}<answer>{}</answer>{}".format, joined(SPACES + TAGS, max_size=1),
                   joined(PIECES + TAGS), joined(SPACES), st.sampled_from(PIECES) | joined(SPACES + PIECES, 1),
                   joined(SPACES + TAGS + PIECES, max_size=2))
completions = shaped | joined(TAGS + SPACES + PIECES, max_size=12) | st.text(max_size=40)
golds = (st.sampled_from(PIECES) | joined(PIECES, 1, 2) | joined(SPACES + PIECES, 1, 6)
         | st.text(min_size=1, max_size=20)).filter(lambda g: g.strip() and "answer>" not in g)


def release_accuracy(completion, gold):
    return release_accuracy_reward([completion], answer=[gold])[0]


# --- known outcomes, no checkout needed ----------------------------------------------------------------


@pytest.mark.parametrize("answer, gold, expected", [
    ("brown", "blue", 1.0),           # both start with b: a choice to the release
    ("(B)", "B", 0.0),                # the first character is "(": no letter
    ("Option B", "B", 0.0),
    ("B. blue", "B", 1.0),
    ("apple", "A", 1.0),
    ("(F)", "F", 0.0),                # past E: an OCR word
    ("F", "F", 1.0),
    ("1000", "1,000", 0.0),           # a separator on one side only
    ("3.004", "3.001", 1.0),          # equal after rounding to 2 decimals
    ("12 m", "12", 0.0),              # a unit: no number
    ("7", "10.00001", pytest.approx(0.7, abs=1e-5)),  # more than three decimals: regression
    ("nan", "10.00001", 1.0),         # the release's clip order turns NaN into 1
    ("0", "0.00000", 0.0),            # its 1e-9 terms: an exact 0 at gold 0 earns nothing
    ("hello world", "Hello World", 0.0),
    ("sitting", "Sitting.", pytest.approx(2 / 3)),  # ROUGE-2 of one word is 0
])
def test_release_accuracy_outcomes(answer, gold, expected):
    assert release_accuracy(f"<think>x</think><answer>{answer}</answer>", gold) == expected


def test_release_accuracy_reads_the_first_lower_case_answer_and_no_columns():
    assert release_accuracy("<think>x</think><answer>A</answer><answer>B</answer>", "B") == 0.0
    assert release_accuracy("<THINK>x</THINK><ANSWER>B</ANSWER>", "B") == 0.0
    # The row's answer type and options are not read: the type is guessed from the gold text.
    scores = release_accuracy_reward([BROWN], answer=["blue"], answer_type=["free_form"], options=[["x", "y"]])
    assert scores == [1.0] and accuracy_reward([BROWN], answer=["blue"]) == [0.0]


def test_release_accuracy_without_a_gold_answer_is_none():
    assert release_accuracy_reward([BROWN, BROWN, BROWN], answer=[None, "", "  "]) == [None, None, None]
    assert release_accuracy_reward([BROWN]) == [None]


def test_chat_message_completions_are_read_as_text():
    message = [{"role": "assistant", "content": BROWN}]
    assert release_accuracy_reward([message], answer=["blue"]) == [1.0]
    assert release_format_reward([message, [{"role": "assistant", "content": SPACED}]]) == [1.0, 0.0]


@pytest.mark.parametrize("text, expected", [
    ("<think>x</think><answer>B</answer>", 1.0),
    ("<think></think><answer></answer>", 1.0),
    ("<think>x</think>\n\n<answer>B</answer>", 1.0),
    ("<think>x</think><answer>A</answer><answer>B</answer>", 1.0),  # extra blocks inside pass
    ("<think><think>x</think><answer>B</answer>", 1.0),
    (SPACED, 0.0),
    ("<think>x</think><answer>B</answer>\n", 0.0),
    ("<think>x</think>y<answer>B</answer>", 0.0),
    ("<THINK>x</THINK><answer>B</answer>", 0.0),
    ("<think>x</think><answer>", 0.0),
    ("<think></answer>", 0.0),
])
def test_release_format_outcomes(text, expected):
    assert release_format_reward([text]) == [expected]


@pytest.mark.parametrize("gold, kind", [("B", "multiple choice"), ("brown", "multiple choice"),
                                        ("1,000", "numerical"), ("-3.5", "numerical"),
                                        ("3.14159", "regression"), ("playing guitar", "OCR"),
                                        ("Sitting.", "free-form"), ("", "free-form")])
def test_guessed_answer_types(gold, kind):
    assert guess_answer_type(gold) == kind


# --- the parsers: properties that need no checkout ------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(completions)
def test_release_format_is_its_full_match_pattern(text):
    """The one-pass check accepts exactly what the release's pattern, fully matched, accepts."""
    pattern = re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.S)
    assert release_format_ok(text) is (pattern is not None)


@settings(max_examples=400, deadline=None)
@given(completions)
def test_first_answer_is_its_search_pattern(text):
    """The one-pass reading gives what the release's first-match search of the answer block gives."""
    match = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.S)
    assert first_answer(text) == (match.group(1).strip() if match else "")


@settings(max_examples=300, deadline=None)
@given(completions, golds)
def test_release_accuracy_is_a_score_for_any_text(completion, gold):
    assert guess_answer_type(gold) in RELEASE_ANSWER_TYPES
    assert 0.0 <= release_accuracy(completion, gold) <= 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "B-52"]), max_size=6),
       st.lists(st.sampled_from(["a", "b", "c", "B-52"]), max_size=6))
def test_word_error_rate_is_the_word_edit_distance(ref, hyp):
    import jiwer

    rate = word_error_rate(" ".join(ref), " ".join(hyp))
    if ref:
        assert rate == pytest.approx(jiwer.wer(" ".join(ref), " ".join(hyp) or " "))
    else:
        assert rate == len(hyp)
    assert word_error_rate(" ".join(ref), " ".join(ref)) == 0.0


@pytest.mark.parametrize("unit", ["<think>", "</think><answer>", "<answer>", "</think> \n", "<answer>x</answer>"])
def test_100kb_of_repeated_tags_is_fast(unit):
    """The release's patterns, run as written, are quadratic here (128 KB: 3 s each; 1 MB: minutes)."""
    text = "<think>" + unit * (100_000 // len(unit)) + "x"
    for candidate in (text, text + "</answer>"):
        seconds = min(timeit.repeat(lambda: (release_format_reward([candidate]),
                                             release_accuracy_reward([candidate], answer=["B"])),
                                    number=1, repeat=2))
        assert seconds < 1.0


# --- recipes pick the rules; every reader of rewards by name follows ----------------------------------------


def test_recipes_pick_the_rules():
    default = reward_functions(load_recipe(None, ["rewards.tar=0"]))
    assert default == {"accuracy": accuracy_reward, "format": format_reward}
    release = reward_functions(load_recipe(None, [*RELEASE_RULES, "rewards.tar=0"]))
    assert release == {"accuracy": release_accuracy_reward, "format": release_format_reward}
    one = reward_functions(load_recipe(None, ['format.rules="release"', "rewards.tar=0"]))
    assert one["format"] is release_format_reward and one["accuracy"] is accuracy_reward


def test_the_rules_survive_a_saved_recipe(tmp_path):
    """A run saves its resolved recipe (TRL's output folder, OpenRLHF's recipe.toml) and reads it back."""
    saved = tmp_path / "recipe.toml"
    saved.write_text(dump_toml(load_recipe(None, RELEASE_RULES)), encoding="utf-8")
    recipe = load_recipe(saved)
    assert (recipe.accuracy.rules, recipe.format.rules) == ("release", "release")


def test_release_rules_refuse_another_regression_metric(tmp_path):
    with pytest.raises(Vr2Error, match=r'accuracy.regression = "mra" needs accuracy.rules = "vr2"'):
        load_recipe(None, ['accuracy.rules="release"', 'accuracy.regression="mra"'])
    recipe = tmp_path / "r.toml"
    recipe.write_text('[accuracy]\nrules = "release"\nregression = "mra"\n', encoding="utf-8")
    with pytest.raises(Vr2Error, match=re.escape(str(recipe))):
        load_recipe(recipe)
    with pytest.raises(Vr2Error, match="must be one of vr2, release"):
        load_recipe(None, ['format.rules="paper"'])


def test_trl_rewards_follow_the_rules():
    from vr2.train.trl_backend import recipe_rewards

    functions, weights = recipe_rewards(load_recipe(None, [*RELEASE_RULES, "rewards.tar=0"]))
    assert [f.__name__ for f in functions] == ["accuracy", "format"] and weights == [1.0, 1.0]
    assert functions[0]([[{"role": "assistant", "content": BROWN}]], answer=["blue"]) == [1.0]
    assert functions[1]([SPACED]) == [0.0]


def test_score_and_eval_follow_the_rules():
    item = ScoreInput(completion=BROWN, answer="blue")
    for sets, expected in (([], 0.0), (RELEASE_RULES, 1.0)):
        recipe = load_recipe(None, sets)
        scored = score_inputs([item], reported_rewards(recipe), recipe.rewards)[0]
        assert scored["rewards"]["accuracy"] == expected and scored["rewards"]["format"] == 1.0
        assert score_responses([item], build_scorer(recipe), recipe.rewards)[0]["accuracy"] == expected
    spaced = ScoreInput(completion=SPACED, answer="B", options=["red", "blue"])
    recipe = load_recipe(None, RELEASE_RULES)
    assert score_inputs([spaced], reported_rewards(recipe), recipe.rewards)[0]["rewards"]["format"] == 0.0


def test_vr2_score_takes_the_rules_from_set(tmp_path, capsys):
    trace, ref = tmp_path / "trace.json", tmp_path / "ref.json"
    trace.write_text(json.dumps({"completion": BROWN}), encoding="utf-8")
    ref.write_text(json.dumps({"answer": "blue"}), encoding="utf-8")
    for sets, expected in (([], 0.0), (["-s", 'accuracy.rules="release"'], 1.0)):
        result = run_vr2(capsys, "score", trace, "--ref", ref, "--json", *sets)
        assert result.code == 0, result.err
        assert json.loads(result.out)["rewards"]["accuracy"] == expected


# --- against the release's own functions (needs $VR2_RELEASE_REPO) ------------------------------------------


@pytest.fixture(scope="module")
def release():
    return release_reward_code()


@settings(max_examples=600, deadline=None)
@given(completions, golds)
def test_accuracy_equals_the_releases_on_random_answers(release, completion, gold):
    theirs = quietly(release["accuracy_reward"], [[{"content": completion}]], [{"content": f"<answer>{gold}</answer>"}])
    assert theirs == [release_accuracy(completion, gold)]


@settings(max_examples=600, deadline=None)
@given(completions)
def test_format_equals_the_releases_on_random_text(release, text):
    assert release["format_reward"]([[{"content": text}]]) == release_format_reward([text])


@settings(max_examples=400, deadline=None)
@given(completions, golds)
def test_the_parsers_equal_the_releases(release, text, gold):
    assert first_answer(text) == release["extract_answer"](text)
    assert guess_answer_type(gold) == release["infer_question_type"](gold)
    assert choice_letter(text) == release["normalize_mcq"](text)
    ours, theirs = release_number(gold), quietly(release["normalize_number"], gold)
    assert ours == theirs or (ours != ours and theirs != theirs)  # NaN: "nan" reads as NaN on both sides
    assert word_error_rate(gold, text) == release["wer"](gold, text)
