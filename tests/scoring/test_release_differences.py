"""Every remaining difference between vr2's rewards and the release's reward code, pinned.

docs/method.md ("Differences from the release's reward code") lists each one with its reason; every row
names one test here (or elsewhere) and `test_the_table_names_a_test_for_every_difference` checks that the
tests it names exist. Each test below shows the release's outcome and vr2's on the same input.

The release's rules (train/src/train/reward_funcs.py, reward_utils.py, temporal_grounding_reward.py) are
restated in `Release`; where a checkout of the release is at $VR2_RELEASE_REPO (or this machine has its
mirror), `test_the_restatement_is_the_releases_code` checks the restatement against its own functions.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from vr2.config import load_recipe
from vr2.scoring.answers import infer_answer_type, score_answer
from vr2.scoring.claims import read_reference
from vr2.scoring.format import format_ok, parse_completion
from vr2.scoring.rewards import accuracy_reward, format_reward

REPO = Path(__file__).resolve().parents[2]
MIRROR = Path("/work/.mirror/mbzuai-oryx+Video-R2/repo")
PAPER = ("grpo", "grpo_tar", "tar_gated")


class Release:
    """The release's reward rules, restated."""

    @staticmethod
    def answer(text: str) -> str:
        """The first <answer> block (lower-case tags only), stripped; "" when there is none."""
        match = re.search(r"<answer>\s*(.*?)\s*</answer>", text, re.S)
        return match.group(1).strip() if match else ""

    @staticmethod
    def answer_type(gold: str) -> str:
        """From the gold text alone: any text starting with a-e is a choice; then numbers (more than three
        decimals: regression); then up to five plain words: OCR; else free form."""
        gold = gold.strip()
        if re.match(r"[A-Ea-e]", gold):
            return "multiple choice"
        if re.fullmatch(r"[-+]?\d{1,3}(,\d{3})*(\.\d+)?|[-+]?\d+(\.\d+)?", gold):
            return "regression" if "." in gold and len(gold.split(".")[-1]) > 3 else "numerical"
        if len(gold.split()) <= 5 and re.fullmatch(r"[A-Za-z0-9\s\-:]+", gold):
            return "OCR"
        return "free-form"

    @staticmethod
    def letter(text: str) -> str:
        match = re.match(r"[A-Ea-e]", text.strip())
        return match.group(0).upper() if match else text.strip()

    @staticmethod
    def number(text: str) -> float | None:
        try:
            return float(text.replace(",", ""))
        except ValueError:
            return None

    @classmethod
    def accuracy(cls, completion: str, gold: str) -> float:
        """Its accuracy reward for a completion against the gold reply's <answer>."""
        out, gt = cls.answer(completion), cls.answer(gold)
        kind = cls.answer_type(gt)
        if kind == "multiple choice":
            return float(cls.letter(out) == cls.letter(gt))
        if kind == "numerical":
            if (("." in gt) or ("," in gt)) != (("." in out) or ("," in out)):
                return 0.0
            a, b = cls.number(gt), cls.number(out)
            return float(a is not None and b is not None and round(a, 2) == round(b, 2))
        if kind == "regression":
            a, b = cls.number(gt), cls.number(out)
            if a is None or b is None:
                return 0.0
            return max(0.0, min(1.0, 1 - (abs(b - a) + 1e-9) / (abs(a) + 1e-9)))
        if kind == "OCR":
            ref, hyp = gt.split(), out.split()
            return max(0.0, min(1.0, 1 - _edits(ref, hyp) / max(1, len(ref))))
        from rouge_score import rouge_scorer

        scores = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True).score(gt, out)
        return max(0.0, min(1.0, sum(s.fmeasure for s in scores.values()) / 3))

    @staticmethod
    def format(completion: str) -> float:
        return float(bool(re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", completion, re.S)))

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


def _edits(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], previous if word == other else 1 + min(previous, row[j], row[j - 1])
    return row[-1]


def vr2_accuracy(completion: str, gold: str, answer_type: str | None = None, options=None) -> float | None:
    return accuracy_reward([completion], answer=[gold], answer_type=[answer_type], options=[options])[0]


def vr2_key(key: str) -> tuple[float, float] | None:
    claims, bad = read_reference({key: "A man sits."})
    return (claims[0].start, claims[0].end) if claims else None


# --- the format ---------------------------------------------------------------------------------------


def test_which_answer_block_counts():
    """The release reads the first <answer>; vr2 the last (its format reward gives two blocks 0 anyway)."""
    text = "<think>A, no: B.</think><answer>A</answer><answer>B</answer>"
    assert Release.answer(text) == "A" and parse_completion(text).answer == "B"
    assert Release.accuracy(text, "<answer>B</answer>") == 0.0 and vr2_accuracy(text, "B", options=["x", "y"]) == 1.0


def test_upper_case_tags():
    """The release reads lower-case tags only: 0 for accuracy, format and TAR. vr2 reads the answer in any
    case for accuracy; its format reward and TAR need lower-case tags, as the release's."""
    text = "<THINK>At 00:01 a man sits.</THINK><ANSWER>B</ANSWER>"
    assert Release.answer(text) == "" and Release.format(text) == 0.0
    assert vr2_accuracy(text, "B", options=["x", "y"]) == 1.0 and format_reward([text]) == [0.0]


def test_whitespace_around_the_format():
    """The release's format reward needs the text to start with <think> and end with </answer>; vr2 allows
    whitespace before and after. Between the blocks both allow it."""
    for text in ("\n<think>x</think><answer>B</answer>", "<think>x</think><answer>B</answer>\n "):
        assert Release.format(text) == 0.0 and format_reward([text]) == [1.0]
    between = "<think>x</think>\n\n<answer>B</answer>"
    assert Release.format(between) == 1.0 and format_reward([between]) == [1.0]


def test_a_second_block_in_the_format():
    """The release's lazy `.*?` under a full match stretches over extra tags: two answer blocks, or a think
    block inside the think block, still earn format 1. vr2 wants exactly one of each."""
    for text in ("<think>x</think><answer>A</answer><answer>B</answer>",
                 "<think><think>x</think><answer>B</answer>", "<think>x</think><answer>A</answer>y<answer>B</answer>"):
        assert Release.format(text) == 1.0 and format_ok(text) is False


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
    assert Release.answer_type(gold) == release
    assert infer_answer_type(gold, []) == vr2
    assert infer_answer_type("B", ["red", "blue"]) == "multiple_choice"


def test_multiple_choice_letter():
    """The release takes the first character when it is a-e; vr2 parses the option ("(B)", "Option B",
    the option's text, letters past E)."""
    gold = "<answer>B</answer>"
    for answer, release, vr2 in (("(B)", 0.0, 1.0), ("Option B", 0.0, 1.0), ("apple", 0.0, 0.0),
                                 ("blue", 1.0, 1.0), ("B. blue", 1.0, 1.0), ("b", 1.0, 1.0)):
        text = f"<think>x</think><answer>{answer}</answer>"
        assert Release.accuracy(text, gold) == release, answer
        assert vr2_accuracy(text, "B", options=["red", "blue"]) == vr2, answer
    assert Release.accuracy("<answer>apple</answer>", "<answer>A</answer>") == 1.0  # "apple" reads as A
    # Past E a gold letter is no choice to the release but an OCR word: only the bare letter scores.
    far = "<think>x</think><answer>(F)</answer>"
    assert Release.answer_type("F") == "OCR" and Release.accuracy(far, "<answer>F</answer>") == 0.0
    assert vr2_accuracy(far, "F", options=list("abcdef")) == 1.0


def test_numbers():
    """The release wants the same decimal mark on both sides and equality after rounding to 2 places; vr2
    compares the values (relative tolerance 1e-6), units and separators read."""
    for answer, gold, release, vr2 in (("1000", "1,000", 0.0, 1.0), ("12 m", "12", 0.0, 1.0),
                                       ("3.004", "3.001", 1.0, 0.0), ("2", "2", 1.0, 1.0)):
        text = f"<think>x</think><answer>{answer}</answer>"
        assert Release.accuracy(text, f"<answer>{gold}</answer>") == release, answer
        assert vr2_accuracy(text, gold, "numeric") == vr2, answer


def test_regression_gold_zero_and_units():
    """Same formula (7 against 10: 0.7); at gold 0 the release's 1e-9 terms give an exact 0 nothing, vr2 1.
    A unit after the number: the release reads nothing (0), vr2 the number."""
    gold = "<answer>10.00001</answer>"
    assert Release.accuracy("<answer>7</answer>", gold) == pytest.approx(0.7, abs=1e-5)
    assert vr2_accuracy("<answer>7</answer>", "10.00001", "regression") == pytest.approx(0.7, abs=1e-5)
    assert Release.accuracy("<answer>0</answer>", "<answer>0.00000</answer>") == 0.0
    assert vr2_accuracy("<answer>0</answer>", "0", "regression") == 1.0
    assert Release.accuracy("<answer>7 m</answer>", gold) == 0.0
    assert vr2_accuracy("<answer>7 m</answer>", "10.00001", "regression") == pytest.approx(0.7, abs=1e-5)


def test_ocr_words():
    """The release's word error rate counts case and punctuation; vr2 folds them ("B-52" = "B52")."""
    assert Release.accuracy("<answer>hello world</answer>", "<answer>Hello World</answer>") == 0.0
    assert vr2_accuracy("<answer>hello world</answer>", "Hello World", "ocr") == 1.0
    assert score_answer("B52", "B-52", "ocr") == 1.0


def test_free_form():
    """Both average ROUGE-1/2/L F1 with stemming; vr2 gives an exactly equal normalised answer 1.0 (ROUGE-2
    of a one-word answer is 0) and folds accents first."""
    assert Release.accuracy("<answer>sitting</answer>", "<answer>Sitting.</answer>") == pytest.approx(2 / 3)
    assert vr2_accuracy("<answer>sitting</answer>", "Sitting.", "free_form") == 1.0
    assert Release.accuracy("<answer>un cafe noir</answer>", "<answer>Un café noir.</answer>") < 1.0
    assert vr2_accuracy("<answer>un cafe noir</answer>", "Un café noir.", "free_form") == 1.0
    both = "<answer>He sits on a chair.</answer>"
    assert Release.accuracy(both, both) == pytest.approx(1.0) and vr2_accuracy(both, "He sits on a chair.") == 1.0


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
    assert Release.key(key) == release
    assert vr2_key(key) == vr2


def test_a_sentence_that_is_not_text():
    """null: both drop the entry (vr2 counts it). A number: the release's reward fails as a whole (0 for
    the completion); vr2 drops that entry only and counts it."""
    assert Release.sentences({"00:01": None, "00:03": "A man sits."}) == ["A man sits."]
    assert Release.sentences({"00:02": 5, "00:03": "A man sits."}) is None
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


def release_checkout(tmp_path_factory) -> Path | None:
    if os.environ.get("VR2_RELEASE_REPO"):
        return Path(os.environ["VR2_RELEASE_REPO"])
    if not MIRROR.is_dir():
        return None
    out = tmp_path_factory.mktemp("release")
    archive = subprocess.run(["git", "--git-dir", str(MIRROR), "archive", "HEAD", "train/src/train"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return out


def compiled(path: Path, names: set[str], scope: dict) -> dict:
    """The named top-level definitions of a release file, compiled alone (its imports load an OpenAI client
    and sentence-transformers, which building a score does not need)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [node for node in tree.body if getattr(node, "name", None) in names
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", None) in names for t in node.targets))]
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), scope)  # noqa: S102
    return scope


def test_the_restatement_is_the_releases_code(tmp_path_factory, capsys):
    checkout = release_checkout(tmp_path_factory)
    if checkout is None:
        pytest.skip("no release checkout ($VR2_RELEASE_REPO) and no mirror on this machine")
    train = checkout / "train" / "src" / "train"
    from rouge_score import rouge_scorer

    utils = compiled(train / "reward_utils.py", {"extract_answer", "normalize_number", "wer", "compute_rouge_score",
                                                 "infer_question_type", "normalize_mcq"},
                     {"re": re, "rouge_scorer": rouge_scorer, "Tuple": Tuple, "Optional": Optional})
    funcs = compiled(train / "reward_funcs.py", {"accuracy_reward", "format_reward"}, dict(utils))
    keys = compiled(train / "temporal_grounding_reward.py",
                    {"_TIME_SEP", "_to_seconds_loose", "_normalize_key_to_interval"},
                    {"re": re, "Optional": Optional, "Tuple": Tuple, "Dict": Dict})
    answers = ["B", "(B)", "Option B", "apple", "1000", "1,000", "12 m", "3.004", "7", "7 m", "0", "hello world",
               "Hello World", "the man sits", "F", ""]
    golds = ["B", "A", "1,000", "12", "3.001", "10.00001", "0.00000", "Hello World", "the man sits down", "F"]
    for answer in answers:
        for gold in golds:
            completion = f"<think>x</think><answer>{answer}</answer>"
            theirs = funcs["accuracy_reward"]([[{"content": completion}]], [{"content": f"<answer>{gold}</answer>"}])
            assert theirs[0] == pytest.approx(Release.accuracy(completion, f"<answer>{gold}</answer>")), (answer, gold)
    capsys.readouterr()  # its number parser prints each failure
    formats = ["\n<think>x</think><answer>B</answer>", "<think>x</think>\n<answer>B</answer>",
               "<think>x</think><answer>A</answer><answer>B</answer>", "<THINK>x</THINK><answer>B</answer>"]
    assert funcs["format_reward"]([[{"content": t}] for t in formats]) == [Release.format(t) for t in formats]
    for key in ("00:05~00:09", "00:05 until 00:09", "5s", "1h", "0:5", "00:75", "00:05.5", "00:05 - end",
                "00:05s", "5", "00:09-00:05", "00:05 to 00:09", "00:05–00:09", "1:02:03"):
        interval = keys["_normalize_key_to_interval"](key)
        theirs = None if interval is None or interval[1] is None else (min(interval), max(interval))
        assert theirs == Release.key(key), key
