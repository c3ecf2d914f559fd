import json

import pytest

from vr2.config import load_recipe
from pathlib import Path

from vr2 import hookimpl
from vr2.errors import Vr2Error
from vr2.scoring.rewards import (TarReward, accuracy_reward, build_tar_reward, completion_text, format_reward,
                                 reward_functions, reward_weights, total_reward)

REPO = Path(__file__).resolve().parents[2]
OPTIONS = ["He washes his hands", "He pours oil into the pan", "He leaves", "He opens the fridge"]
GROUNDING = {"00:20": "He switches on the gas stove.", "00:25": "He pours cooking oil into the pan."}
GOOD = ("<think>At 00:21 he turns on the gas stove. At 00:24 he pours oil into the pan. "
        "Therefore, the answer is B.</think><answer>B</answer>")
FLIPPED = GOOD.replace("<answer>B</answer>", "<answer>C</answer>")


@pytest.fixture(scope="module")
def tar():
    return build_tar_reward(load_recipe().tar)


def test_accuracy_uses_explicit_answer_type_and_fixes_official_bugs():
    completions = ["<think>x</think><answer>brown</answer>", "<think>x</think><answer>Option B</answer>",
                   "<think>x</think><answer>1,000</answer>", "<think>x</think><answer>(B)</answer>",
                   "<think>x</think><answer>A or B or C</answer>", "<think>x</think><answer>B</answer>"]
    scores = accuracy_reward(
        completions,
        answer=["blue", "B", "1000", "He pours oil into the pan", "B", None],
        answer_type=["free_form", "multiple_choice", "numeric", "multiple_choice", "multiple_choice", None],
        options=[[], OPTIONS, [], OPTIONS, OPTIONS, OPTIONS],
    )
    assert scores[:5] == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert scores[5] is None  # no gold answer: excluded, not 0


def test_accuracy_infers_multiple_choice_only_from_options():
    assert accuracy_reward(["<think>x</think><answer>b) pours oil</answer>"], answer=["B"], options=[OPTIONS]) == [1.0]
    # no options: "brown" is free text, not option B
    assert accuracy_reward(["<think>x</think><answer>brown</answer>"], answer=["blue"]) == [0.0]


def test_format_reward_requires_exact_structure():
    assert format_reward([GOOD, "<answer>B</answer>", GOOD + " extra", "<think>a</think>\n<answer>b</answer>"]) == [1.0, 0.0, 0.0, 1.0]


def test_trl_conversational_completions_are_read():
    conv = [{"role": "assistant", "content": GOOD}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": GOOD}]}]
    assert completion_text(conv) == completion_text(parts) == GOOD
    assert format_reward([conv]) == [1.0]


def test_gated_tar_is_zero_when_think_and_answer_disagree(tar):
    kwargs = dict(temporal_grounding=[GROUNDING, json.dumps(GROUNDING)], options=[OPTIONS] * 2,
                  answer=["B", "B"], answer_type=["multiple_choice"] * 2)
    details = tar.details([GOOD, FLIPPED], **kwargs)
    assert details[0].result.precision == 1.0 and details[0].gate == 1 and details[0].value == 1.0
    assert details[1].result.precision == 1.0 and details[1].gate == 0 and details[1].value == 0.0
    assert tar([GOOD, FLIPPED], **kwargs) == [1.0, 0.0]


def test_ungated_tar_ignores_consistency(tar):
    ungated = TarReward(tar.scorer, tar.extractor, tar.checker, gate=False)
    assert ungated([FLIPPED], temporal_grounding=[GROUNDING], options=[OPTIONS]) == [1.0]


def test_tar_is_none_without_reference(tar):
    assert tar([GOOD], options=[OPTIONS]) == [None]


class FailingJudge:
    name = "llm"

    def check(self, think, answer, answer_type, options):
        return None


class FailingExtractor:
    name = "llm"

    def extract(self, think):
        from vr2.errors import JudgeFailure

        raise JudgeFailure("timeout")


def test_a_missing_answer_closes_the_gate_even_with_a_judge(tar):
    judged = TarReward(tar.scorer, tar.extractor, FailingJudge())
    no_answer = GOOD.replace("<answer>B</answer>", "")
    detail = judged.details([no_answer], temporal_grounding=[GROUNDING], options=[OPTIONS])[0]
    assert detail.gate == 0 and detail.value == 0.0 and detail.failure is None


def test_judge_failures_are_masked_not_zero(tar):
    masked = TarReward(tar.scorer, tar.extractor, FailingJudge())
    detail = masked.details([GOOD], temporal_grounding=[GROUNDING], options=[OPTIONS])[0]
    assert detail.value is None and detail.gate is None and "judge" in detail.failure
    no_claims = TarReward(tar.scorer, FailingExtractor(), tar.checker)
    detail = no_claims.details([GOOD], temporal_grounding=[GROUNDING], options=[OPTIONS])[0]
    assert detail.value is None and "timeout" in detail.failure


def test_total_is_weighted_and_none_propagates():
    parts = {"accuracy": [1.0, 1.0], "format": [1.0, 0.0], "tar": [0.5, None]}
    assert total_reward(parts, {"accuracy": 1, "format": 1, "tar": 2}) == [3.0, None]
    assert total_reward(parts, {"accuracy": 1, "format": 1, "tar": 0}) == [2.0, 1.0]


def test_reward_functions_follow_the_recipe(tmp_path):
    funcs = reward_functions(load_recipe(None, ["rewards.tar=0"]))
    assert funcs == {"accuracy": accuracy_reward, "format": format_reward}
    recipe = load_recipe(None, ["rewards.tar=0.5", "tar.gate=false"])
    funcs = reward_functions(recipe)
    assert list(funcs) == ["accuracy", "format", "tar"] and funcs["tar"].gate is False
    assert reward_weights(recipe) == {"accuracy": 1.0, "format": 1.0, "tar": 0.5}


def test_the_builtin_rewards_come_through_the_hook():
    from vr2.plugins.registry import components, is_builtin

    found = components("vr2_rewards")
    assert list(found)[:3] == ["accuracy", "format", "tar"] and all(is_builtin(c.plugin) for c in found.values())


def test_an_unknown_reward_name_lists_the_known_ones(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text("[rewards]\naccuracy = 1.0\nbrevity = 0.5\n")
    with pytest.raises(Vr2Error, match=r"r.toml: unknown key 'rewards.brevity' \(allowed in \[rewards\]: "
                                        r"accuracy, format, tar\)"):
        load_recipe(path)
    with pytest.raises(Vr2Error, match="unknown key 'rewards.brevity'"):
        load_recipe(None, ["rewards.brevity=1"])
    with pytest.raises(Vr2Error, match=r"rewards.format must be >= 0"):
        load_recipe(None, ["rewards.format=-1"])


# --- a reward added by a plugin: the recipe weights it by name, and every reader of the registry uses it


def brevity_reward(completions, **kwargs):
    """1 for a completion of at most 120 characters, else 0."""
    return [1.0 if len(completion_text(c)) <= 120 else 0.0 for c in completions]


class BrevityPlugin:
    @hookimpl
    def vr2_rewards(self):
        return {"brevity": lambda recipe: brevity_reward}


@pytest.fixture
def brevity():
    from vr2.plugins import registry

    registry.register(BrevityPlugin(), name="brevity-test")
    yield
    registry.unregister("brevity-test")


def test_a_plugin_reward_is_weighted_by_name(tmp_path, brevity):
    recipe_path = tmp_path / "brief.toml"
    recipe_path.write_text('extends = "%s"\n\n[rewards]\nbrevity = 0.5\n' % (REPO / "recipes" / "tar_gated.toml"))
    recipe = load_recipe(recipe_path)
    # The shipped recipe's weights stay as they were; the plugin's reward joins them by name.
    assert recipe.rewards == {"accuracy": 1.0, "format": 1.0, "tar": 1.0, "brevity": 0.5}
    assert "brevity" not in reward_weights(load_recipe(None))  # a plugin's reward counts only once weighted


def test_grpo_trains_on_a_plugin_reward(tmp_path, brevity):
    from vr2.train.trl_backend import recipe_rewards

    funcs, weights = recipe_rewards(load_recipe(None, ["rewards.tar=0", "rewards.brevity=0.5"]))
    assert [f.__name__ for f in funcs] == ["accuracy", "format", "brevity"] and weights == [1.0, 1.0, 0.5]
    assert funcs[2].function is brevity_reward and funcs[2](["<answer>A</answer>"]) == [1.0]


def test_vr2_score_reports_a_plugin_reward(tmp_path, capsys, brevity):
    from cli_helpers import run_vr2

    recipe = tmp_path / "brief.toml"
    recipe.write_text("[rewards]\nformat = 0.0\nbrevity = 2.0\n")
    trace = tmp_path / "trace.json"
    trace.write_text(json.dumps({"completion": GOOD}))
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"temporal_grounding": GROUNDING, "answer": "B", "options": OPTIONS}))
    r = run_vr2(capsys, "score", trace, "--ref", ref, "--recipe", recipe, "--json")
    assert r.code == 0, r.err
    rewards = json.loads(r.out)["rewards"]
    assert rewards["brevity"] == 0.0 and rewards["accuracy"] == 1.0 and rewards["tar"] == 1.0
    assert rewards["total"] == pytest.approx(1.0 + 1.0)  # format weighs 0; brevity 2 x 0
    short = tmp_path / "short.json"
    short.write_text(json.dumps({"completion": "<think>At 00:21 the stove.</think><answer>B</answer>"}))
    r = run_vr2(capsys, "score", short, "--ref", ref, "--recipe", recipe, "-s", "rewards.tar=0", "--json")
    assert json.loads(r.out)["rewards"]["brevity"] == 1.0 and json.loads(r.out)["rewards"]["total"] == 3.0
    table = run_vr2(capsys, "score", short, "--ref", ref, "--recipe", recipe)
    assert "reward brevity (x2)" in table.out


def test_vr2_score_batch_summary_has_every_reward(tmp_path, capsys, brevity):
    from cli_helpers import run_vr2

    batch = tmp_path / "traces.jsonl"
    rows = [{"id": k, "completion": text, "temporal_grounding": GROUNDING, "answer": "B", "options": OPTIONS}
            for k, text in enumerate([GOOD, "<think>x</think><answer>B</answer>"])]
    batch.write_text("".join(json.dumps(row) + "\n" for row in rows))
    r = run_vr2(capsys, "score", batch, "-s", "rewards.brevity=1", "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    assert summary["brevity"] == 0.5 and summary["accuracy"] == 1.0 and summary["format"] == 1.0


def test_reward_signature_accepts_trl_keywords(tar):
    out = tar(prompts=["p"], completions=[GOOD], completion_ids=[[1]], temporal_grounding=[GROUNDING],
              options=[OPTIONS], trainer_state=None, log_metric=lambda *a: None)
    assert out == [1.0]


def test_training_log_metrics(tar):
    logged = {}
    tar([GOOD, FLIPPED], temporal_grounding=[GROUNDING] * 2, options=[OPTIONS] * 2,
        log_metric=lambda name, value: logged.__setitem__(name, value))
    assert logged["tar/gate_rate"] == 0.5 and logged["tar/claims_per_completion"] == 2.0
    assert logged["tar/precision_ungated"] == 1.0 and logged["tar/masked"] == 0.0
    assert logged["tar/bad_ref_keys"] == 0.0


@pytest.mark.parametrize("bad_key", ["00:05 - end", "00:75", "00:05-00:09s", "the end"])
def test_bad_reference_keys_never_raise_inside_the_reward(tar, bad_key):
    logged = {}
    grounding = {**GROUNDING, bad_key: "The video ends."}
    out = tar([GOOD, GOOD], temporal_grounding=[grounding, json.dumps(grounding)],
              options=[OPTIONS] * 2, log_metric=lambda name, value: logged.__setitem__(name, value))
    assert out == tar([GOOD, GOOD], temporal_grounding=[GROUNDING] * 2, options=[OPTIONS] * 2)
    assert logged["tar/bad_ref_keys"] == 2.0


@pytest.mark.parametrize("grounding", ["{not json", "[1, 2]", "5"])
def test_a_grounding_that_is_not_an_object_gives_no_reward_not_a_crash(tar, grounding):
    (detail,) = tar.details([GOOD], temporal_grounding=[grounding], options=[OPTIONS])
    assert detail.value is None and "bad reference grounding" in detail.failure


def test_vr2_plugins_marks_the_weighted_rewards(capsys, brevity):
    from cli_helpers import run_vr2

    def row(out):
        return next(line for line in out.splitlines() if "brevity" in line)

    assert "*" not in row(run_vr2(capsys, "plugins").out)
    assert "*" in row(run_vr2(capsys, "plugins", "-s", "rewards.brevity=0.5").out)


def test_training_logs_the_embedding_cache_hit_rate_across_steps():
    tar = build_tar_reward(load_recipe().tar)  # a fresh cache
    logged = []
    for _ in range(2):  # two GRPO steps on the same prompt: the second finds every sentence cached
        tar([GOOD, FLIPPED], temporal_grounding=[GROUNDING] * 2, options=[OPTIONS] * 2,
            log_metric=lambda name, value: logged.append(value) if name == "tar/embedding_cache_hit_rate" else None)
    assert logged[0] == 0.0 and logged[1] == 0.5


REGRESSION = "<think>About seven.</think><answer>7</answer>"


def test_training_scores_regression_with_the_releases_formula():
    """7 against 10 earns 0.7 in training (the release's reward_funcs.py), 0.5 under VSIBench's MRA."""
    assert accuracy_reward([REGRESSION], answer=["10"], answer_type=["regression"]) == [pytest.approx(0.7)]
    assert accuracy_reward([REGRESSION], answer=["10"], answer_type=["regression"],
                           regression=["mra"]) == [pytest.approx(0.5)]
    paper = load_recipe(Path(__file__).resolve().parents[2] / "recipes" / "tar_gated.toml")
    assert paper.accuracy.regression == "release"
    trained = reward_functions(paper)["accuracy"]
    assert trained([REGRESSION], answer=["10"], answer_type=["regression"]) == [pytest.approx(0.7)]
    named = reward_functions(load_recipe(None, ['accuracy.regression="mra"']))["accuracy"]
    assert named([REGRESSION], answer=["10"], answer_type=["regression"]) == [pytest.approx(0.5)]
    # a column that names the metric (benchmark scoring) wins over the recipe's choice
    assert trained([REGRESSION], answer=["10"], answer_type=["regression"], regression=["mra"]) == [
        pytest.approx(0.5)]
