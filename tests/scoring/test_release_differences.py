"""Every remaining difference between vr2's rewards and the release's reward code, pinned.

docs/method.md ("Differences from the release's reward code") lists each one with its reason and the
recipe key that reproduces the release; every row names one test here (or elsewhere) and
`test_the_table_names_a_test_for_every_difference` checks that the tests and keys it names exist. Each
test below shows the release's outcome and vr2's on the same input.

The release's accuracy and format rules are vr2's `accuracy.rules = "release"` and `format.rules =
"release"` (`vr2.scoring.release_rewards`); its reference-key reading
(`train/src/train/temporal_grounding_reward.py`) is restated in `ReleaseKeys` below. Where a checkout of
the release is at $VR2_RELEASE_REPO, the tests at the end check both against the release's own functions
(example grids and hypothesis properties); without it they skip.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest
from release_repo import compiled_definitions, quietly, release_repo, release_reward_code

from vr2.config import load_recipe
from vr2.scoring.answers import infer_answer_type, score_answer
from vr2.scoring.claims import read_reference
from vr2.scoring.format import format_ok, parse_completion
from vr2.scoring.release_rewards import first_answer, guess_answer_type, release_accuracy_reward, release_format_reward
from vr2.scoring.rewards import accuracy_reward, format_reward

REPO = Path(__file__).resolve().parents[2]
PAPER = ("grpo", "grpo_tar", "tar_gated")


class ReleaseKeys:
    """The release's reading of reference keys and sentences (TAR), restated."""

    @staticmethod
    def seconds(token: str) -> int | None:
        """One time of a key: [[h:]m:]s with a float seconds field, rounded; bare numbers are seconds."""
        token = token.strip().strip("+.,").lower()
        if token in ("end", "eof"):
            return None
        try:
            if ":" in token:
                parts = token.split(":")
                if len(parts) not in (2, 3):
                    return None
                h = int(parts[0]) if len(parts) == 3 else 0
                return int(round(h * 3600 + int(parts[-2]) * 60 + float(parts[-1])))
            return int(token) if token.isdigit() else int(round(float(token)))
        except ValueError:
            return None

    @staticmethod
    def sentences(grounding: dict) -> list[str] | None:
        """The sentences its claim reader keeps (empty and null ones skipped); None where it raises on a
        sentence that is not text, which its reward turns into 0 for the completion."""
        try:
            return [s for s in ((v or "").strip() for v in grounding.values()) if s]
        except AttributeError:
            return None

    @classmethod
    def key(cls, key: str) -> tuple[int, int] | None:
        """A reference key as (start, end) seconds, or None where the release drops the entry."""
        parts = re.split(r"\s*(?:-|–|—|to)\s*", key.strip(), flags=re.I)
        if len(parts) > 2:
            return None
        start = cls.seconds(parts[0])
        end = start if len(parts) == 1 else cls.seconds(parts[1])
        if start is None or end is None:
            return None
        return (min(start, end), max(start, end))


def release_accuracy(completion: str, gold: str) -> float | None:
    return release_accuracy_reward([completion], answer=[gold])[0]


def vr2_accuracy(completion: str, gold: str, answer_type: str | None = None, options=None) -> float | None:
    return accuracy_reward([completion], answer=[gold], answer_type=[answer_type], options=[options])[0]


def vr2_key(key: str) -> tuple[float, float] | None:
    claims, bad = read_reference({key: "A man sits."})
    return (claims[0].start, claims[0].end) if claims else None


# --- the format ---------------------------------------------------------------------------------------


def test_which_answer_block_counts():
    """The release reads the first <answer>; vr2 the last (its format reward gives two blocks 0 anyway)."""
    text = "<think>A, no: B.</think><answer>A</answer><answer>B</answer>"
    assert first_answer(text) == "A" and parse_completion(text).answer == "B"
    assert release_accuracy(text, "B") == 0.0 and vr2_accuracy(text, "B", options=["x", "y"]) == 1.0


def test_upper_case_tags():
    """The release reads lower-case tags only: 0 for accuracy, format and TAR. vr2 reads the answer in any
    case for accuracy; its format reward and TAR need lower-case tags, as the release's."""
    text = "<THINK>At 00:01 a man sits.</THINK><ANSWER>B</ANSWER>"
    assert first_answer(text) == ""
    assert release_accuracy(text, "B") == 0.0 and release_format_reward([text]) == [0.0]
    assert vr2_accuracy(text, "B", options=["x", "y"]) == 1.0 and format_reward([text]) == [0.0]


def test_whitespace_around_the_format():
    """The release's format reward needs the text to start with <think> and end with </answer>; vr2 allows
    whitespace before and after. Between the blocks both allow it."""
    for text in ("\n<think>x</think><answer>B</answer>", "<think>x</think><answer>B</answer>\n "):
        assert release_format_reward([text]) == [0.0] and format_reward([text]) == [1.0]
    between = "<think>x</think>\n\n<answer>B</answer>"
    assert release_format_reward([between]) == [1.0] and format_reward([between]) == [1.0]


def test_a_second_block_in_the_format():
    """The release's lazy `.*?` under a full match stretches over extra tags: two answer blocks, or a think
    block inside the think block, still earn format 1. vr2 wants exactly one of each."""
    for text in ("<think>x</think><answer>A</answer><answer>B</answer>",
                 "<think><think>x</think><answer>B</answer>", "<think>x</think><answer>A</answer>y<answer>B</answer>"):
        assert release_format_reward([text]) == [1.0] and format_ok(text) is False


# --- accuracy ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gold, release, vr2", [
    ("B", "multiple choice", "free_form"),     # vr2: choice only with options (the released rows have them)
    ("brown", "multiple choice", "free_form"),  # a word that starts with a-e
    ("dog", "multiple choice", "free_form"),
    ("playing guitar", "OCR", "free_form"),
    ("1,000", "numerical", "numeric"),
    ("3.14159", "regression", "numeric"),
    ("a man opens the door and walks into the room", "multiple choice", "free_form"),
    ("the man opens the door and walks in slowly", "free-form", "free_form"),
])
def test_answer_type_inference(gold, release, vr2):
    """The release guesses the type from the gold text; vr2 takes the row's `answer_type` and otherwise
    infers only what is unambiguous: options -> multiple choice, a pure number -> numeric."""
    assert guess_answer_type(gold) == release
    assert infer_answer_type(gold, []) == vr2
    assert infer_answer_type("B", ["red", "blue"]) == "multiple_choice"


def test_multiple_choice_letter():
    """The release takes the first character when it is a-e; vr2 parses the option ("(B)", "Option B",
    the option's text, letters past E)."""
    for answer, release, vr2 in (("(B)", 0.0, 1.0), ("Option B", 0.0, 1.0), ("apple", 0.0, 0.0),
                                 ("blue", 1.0, 1.0), ("B. blue", 1.0, 1.0), ("b", 1.0, 1.0)):
        text = f"<think>x</think><answer>{answer}</answer>"
        assert release_accuracy(text, "B") == release, answer
        assert vr2_accuracy(text, "B", options=["red", "blue"]) == vr2, answer
    assert release_accuracy("<answer>apple</answer>", "A") == 1.0  # "apple" reads as A
    # Past E a gold letter is no choice to the release but an OCR word: only the bare letter scores.
    far = "<think>x</think><answer>(F)</answer>"
    assert guess_answer_type("F") == "OCR" and release_accuracy(far, "F") == 0.0
    assert vr2_accuracy(far, "F", options=list("abcdef")) == 1.0


def test_numbers():
    """The release wants the same decimal mark on both sides and equality after rounding to 2 places; vr2
    compares the values (relative tolerance 1e-6), units and separators read."""
    for answer, gold, release, vr2 in (("1000", "1,000", 0.0, 1.0), ("12 m", "12", 0.0, 1.0),
                                       ("3.004", "3.001", 1.0, 0.0), ("2", "2", 1.0, 1.0)):
        text = f"<think>x</think><answer>{answer}</answer>"
        assert release_accuracy(text, gold) == release, answer
        assert vr2_accuracy(text, gold, "numeric") == vr2, answer


def test_regression_gold_zero_and_units():
    """Same formula (7 against 10: 0.7); at gold 0 the release's 1e-9 terms give an exact 0 nothing, vr2 1.
    A unit after the number: the release reads nothing (0), vr2 the number."""
    gold = "10.00001"
    assert release_accuracy("<answer>7</answer>", gold) == pytest.approx(0.7, abs=1e-5)
    assert vr2_accuracy("<answer>7</answer>", "10.00001", "regression") == pytest.approx(0.7, abs=1e-5)
    assert release_accuracy("<answer>0</answer>", "0.00000") == 0.0
    assert vr2_accuracy("<answer>0</answer>", "0", "regression") == 1.0
    assert release_accuracy("<answer>7 m</answer>", gold) == 0.0
    assert vr2_accuracy("<answer>7 m</answer>", "10.00001", "regression") == pytest.approx(0.7, abs=1e-5)


def test_ocr_words():
    """The release's word error rate counts case and punctuation; vr2 folds them ("B-52" = "B52")."""
    assert release_accuracy("<answer>hello world</answer>", "Hello World") == 0.0
    assert vr2_accuracy("<answer>hello world</answer>", "Hello World", "ocr") == 1.0
    assert score_answer("B52", "B-52", "ocr") == 1.0


def test_free_form():
    """Both average ROUGE-1/2/L F1 with stemming; vr2 gives an exactly equal normalised answer 1.0 (ROUGE-2
    of a one-word answer is 0) and folds accents first."""
    assert release_accuracy("<answer>sitting</answer>", "Sitting.") == pytest.approx(2 / 3)
    assert vr2_accuracy("<answer>sitting</answer>", "Sitting.", "free_form") == 1.0
    assert release_accuracy("<answer>un cafe noir</answer>", "Un café noir.") < 1.0
    assert vr2_accuracy("<answer>un cafe noir</answer>", "Un café noir.", "free_form") == 1.0
    both = "<answer>He sits on a chair.</answer>"
    assert release_accuracy(both, "He sits on a chair.") == pytest.approx(1.0)
    assert vr2_accuracy(both, "He sits on a chair.") == 1.0


# --- TAR -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key, release, vr2", [
    ("00:05~00:09", None, (5.0, 9.0)),
    ("00:05 until 00:09", None, (5.0, 9.0)),
    ("5s", None, (5.0, 5.0)),
    ("1h", None, (3600.0, 3600.0)),
    ("0:5", (5, 5), None),
    ("00:75", (75, 75), None),
    ("00:05.5", (6, 6), (5.5, 5.5)),
    ("00:05 - end", None, None),
    ("00:05s", None, None),
    ("5", (5, 5), (5.0, 5.0)),
    ("00:09-00:05", (5, 9), (5.0, 9.0)),
    ("00:05 to 00:09", (5, 9), (5.0, 9.0)),
    ("00:05–00:09", (5, 9), (5.0, 9.0)),
    ("1:02:03", (3723, 3723), (3723.0, 3723.0)),
])
def test_reference_keys_each_side_accepts(key, release, vr2):
    """Which reference keys each side reads as a time. A key the release drops loses its claim silently; vr2
    reads unambiguous forms (`~`, `until`, `5s`, `1h`) and drops a seconds field of 60 or more or a
    one-digit one (`00:75`, `0:5`), reporting the row; `tar.matching = "greedy"` rounds to whole seconds."""
    assert ReleaseKeys.key(key) == release
    assert vr2_key(key) == vr2


def test_a_sentence_that_is_not_text():
    """null: both drop the entry (vr2 counts it). A number: the release's reward fails as a whole (0 for
    the completion); vr2 drops that entry only and counts it."""
    assert ReleaseKeys.sentences({"00:01": None, "00:03": "A man sits."}) == ["A man sits."]
    assert ReleaseKeys.sentences({"00:02": 5, "00:03": "A man sits."}) is None
    claims, bad = read_reference({"00:01": None, "00:02": 5, "00:03": "A man sits."})
    assert [c.text for c in claims] == ["A man sits."] and len(bad) == 2


def test_paper_recipes_pick_vr2s_tar_components():
    """The rule extractor and checker (the release served Qwen3-Next-80B for both), optimal matching, MiniLM on
    the CPU through ONNX Runtime (the release: sentence-transformers on the GPU; `tar.embedder_device`)."""
    for name in PAPER:
        tar = load_recipe(REPO / "recipes" / f"{name}.toml").tar
        assert (tar.extractor, tar.consistency, tar.matching) == ("rule", "rule", "optimal"), name
        assert (tar.embedder, tar.embedder_device, tar.buffer_seconds, tar.tau) == ("minilm", "cpu", 2.0, 0.75)


# --- the table and the release's own code ------------------------------------------------------------------


def table_rows() -> list[dict[str, str]]:
    text = (REPO / "docs" / "method.md").read_text(encoding="utf-8")
    section = text.split("## Differences from the release's reward code", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def test_the_table_names_a_test_for_every_difference():
    rows = table_rows()
    text = " ".join(row["difference"] for row in rows)
    for topic in ("first `<answer>`", "upper-case", "whitespace", "`~`", "`until`", "`5s`", "`1h`", "`0:5`",
                  "answer type", "second", "not text", "matching", "gate", "claims", "embedding"):
        assert topic in text, topic
    for row in rows:
        assert row["paper recipes"] and row["reason"], row["difference"]
        for ref in re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", row["test"]) or pytest.fail(row["difference"]):
            path, name = ref
            assert re.search(rf"^def {name}\(", (REPO / path).read_text(encoding="utf-8"), re.M), f"{path}::{name}"


def test_the_table_names_the_key_that_reproduces_the_release():
    """Each row says which recipe key gives the release's behaviour (or why none is needed); every key
    named is a real key and value, so `-s KEY=VALUE` works as the table says."""
    rows = table_rows()
    for row in rows:
        cell = row["release mode"]
        keys = re.findall(r'`([a-z_]+\.[a-z_]+) = "([\w:-]+)"`', cell)
        assert keys or cell.startswith("none"), row["difference"]
        for key, value in keys:
            load_recipe(None, [f'{key}="{value}"'])
    named = " ".join(row["release mode"] for row in rows)
    for key in ('accuracy.rules = "release"', 'format.rules = "release"', 'tar.matching = "greedy"',
                'tar.extractor = "llm"', 'tar.consistency = "llm"'):
        assert key in named, key


def test_the_restatement_is_the_releases_code():
    """vr2's release mode (`vr2.scoring.release_rewards`) and `ReleaseKeys` against the release's own
    functions on every example above; skipped unless $VR2_RELEASE_REPO names a checkout."""
    funcs = release_reward_code()
    keys = compiled_definitions(release_repo("train", "src", "train", "temporal_grounding_reward.py"),
                                {"_TIME_SEP", "_to_seconds_loose", "_normalize_key_to_interval"},
                                {"re": re, "Optional": Optional, "Tuple": Tuple, "Dict": Dict})
    answers = ["B", "(B)", "Option B", "apple", "1000", "1,000", "12 m", "3.004", "7", "7 m", "0", "hello world",
               "Hello World", "the man sits", "F", "", "sitting", "un cafe noir", "He sits on a chair.", "nan", "inf",
               "1_0", "one two three", "one two three four five", "\u00a0B\u2003"]
    golds = ["B", "A", "1,000", "12", "3.001", "10.00001", "0.00000", "Hello World", "the man sits down", "F",
             "brown", "playing guitar", "Sitting.", "Un café noir.", "He sits on a chair.", "one two three four five",
             "one two three four five six", "-2", "\u0663"]
    for answer in answers:
        for gold in golds:
            for completion in (f"<think>x</think><answer>{answer}</answer>",
                               f"<think>x</think><answer>{answer}</answer><answer>B</answer>",
                               f"<THINK>x</THINK><ANSWER>{answer}</ANSWER>"):
                theirs = quietly(funcs["accuracy_reward"], [[{"content": completion}]],
                                 [{"content": f"<answer>{gold}</answer>"}])
                assert theirs == [release_accuracy(completion, gold)], (completion, gold)
    formats = ["\n<think>x</think><answer>B</answer>", "<think>x</think>\n<answer>B</answer>",
               "<think>x</think><answer>A</answer><answer>B</answer>", "<THINK>x</THINK><answer>B</answer>",
               "<think>x</think><answer>B</answer>\n ", "<think><think>x</think><answer>B</answer>",
               "<think>x</think><answer>A</answer>y<answer>B</answer>", "<think></think><answer></answer>"]
    assert funcs["format_reward"]([[{"content": t}] for t in formats]) == release_format_reward(formats)
    for key in ("00:05~00:09", "00:05 until 00:09", "5s", "1h", "0:5", "00:75", "00:05.5", "00:05 - end",
                "00:05s", "5", "00:09-00:05", "00:05 to 00:09", "00:05–00:09", "1:02:03"):
        interval = keys["_normalize_key_to_interval"](key)
        theirs = None if interval is None or interval[1] is None else (min(interval), max(interval))
        assert theirs == ReleaseKeys.key(key), key
