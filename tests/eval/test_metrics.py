"""Evaluation metrics: per-sample scores come from the reward code; per-benchmark numbers and
the Generic / Reasoning / Overall averages follow the paper."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.config import JudgeConfig, load_recipe
from vr2.judge.client import JudgeClient
from vr2.eval.metrics import (
    as_scored_completion,
    averages,
    benchmark_metrics,
    build_scorer,
    score_responses,
)
from vr2.scoring.rewards import accuracy_reward
from vr2.scoring.batch import ScoreInput

WEIGHTS = load_recipe(None).rewards
OPTIONS = ["a red ball", "a blue cup", "a green box"]


@pytest.fixture(scope="module")
def rewards():
    return build_scorer(load_recipe(None))


def item(completion, answer="B", options=OPTIONS, **kw):
    return ScoreInput(completion=completion, answer=answer, options=list(options or []), **kw)


def test_correct_consistent_answer(rewards):
    text = "<think>At 00:02 a blue cup appears. Therefore the answer is B.</think><answer>B</answer>"
    row = score_responses([item(text)], rewards, WEIGHTS)[0]
    assert row["accuracy"] == 1.0 and row["format"] == 1.0
    assert row["tac"] is True and row["tac_correctness"] is True and row["has_think"] is True
    assert (row["think_answer"], row["final_answer"]) == ("B", "B")
    assert row["tar"] is None  # no reference grounding


def test_think_and_answer_disagree(rewards):
    text = "<think>The cup is red, so the answer is A.</think><answer>B</answer>"
    row = score_responses([item(text)], rewards, WEIGHTS)[0]
    assert row["accuracy"] == 1.0 and row["tac"] is False
    assert row["tac_correctness"] is False  # think wrong, answer right


def test_direct_answers_are_the_whole_text():
    assert as_scored_completion(" B ", "direct") == "<answer>B</answer>"
    assert as_scored_completion("<answer>B</answer>", "direct") == "<answer>B</answer>"
    assert as_scored_completion("B", "think") == "B"


def test_direct_mode_scores_like_the_reward(rewards):
    rows = score_responses([item(as_scored_completion("B", "direct")), item("B")], rewards, WEIGHTS)
    assert rows[0]["accuracy"] == 1.0 and rows[0]["has_think"] is False
    assert rows[1]["accuracy"] == 0.0  # think mode: no <answer> block, no answer (as in training)


def test_benchmarks_score_regression_by_mean_relative_accuracy(rewards):
    """VSIBench's metric (MRA: 7 against 10 is 0.5), whatever formula the recipe trains with (0.7)."""
    text = "<think>About seven chairs.</think><answer>7</answer>"
    regression = item(text, answer="10", options=[], answer_type="regression")
    assert score_responses([regression], rewards, WEIGHTS)[0]["accuracy"] == pytest.approx(0.5)
    assert build_scorer(load_recipe(None))["accuracy"]([text], answer=["10"], answer_type=["regression"]) == [
        pytest.approx(0.7)]


def test_unreadable_gold_is_one_sample_error(rewards):
    good = item("<think>So B.</think><answer>B</answer>")
    bad = item("<think>So B.</think><answer>B</answer>", answer="purple")  # names no option
    rows = score_responses([good, bad, good], rewards, WEIGHTS)
    assert [("score_error" in r) for r in rows] == [False, True, False]
    assert "purple" in rows[1]["score_error"]
    assert rows[0]["accuracy"] == rows[2]["accuracy"] == 1.0


def test_no_embedder_is_loaded_without_grounding(rewards):
    score_responses([item("<think>At 00:01 x.</think><answer>A</answer>")], rewards, WEIGHTS)
    assert rewards["tar"].scorer.embedder.inner._inner is None


def test_tar_with_reference_grounding(rewards):
    text = ("<think>At 00:05 a man opens the red door. Therefore the answer is B.</think>"
            "<answer>B</answer>")
    grounding = {"00:05": "A man opens the red door.", "00:20": "A dog runs across the yard."}
    row = score_responses([item(text, temporal_grounding=grounding)], rewards, WEIGHTS)[0]
    assert row["tar_precision"] == 1.0 and row["tar"] == 1.0 and row["gate"] == 1


completions = st.one_of(
    st.text(max_size=40),
    st.builds(lambda t, a: f"<think>{t}</think><answer>{a}</answer>",
              st.text(max_size=30), st.sampled_from(["A", "B", "C", "(b)", "a blue cup", "B or C", ""])),
)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(completions, min_size=1, max_size=5), gold=st.sampled_from(["A", "B", "C"]))
def test_accuracy_is_the_reward_functions(rewards, texts, gold):
    items = [item(t, answer=gold) for t in texts]
    rows = score_responses(items, rewards, WEIGHTS)
    expected = accuracy_reward(texts, answer=[gold] * len(texts), answer_type=[None] * len(texts),
                               options=[OPTIONS] * len(texts))
    assert [r["accuracy"] for r in rows] == expected


# --------------------------------------------------------------------------- judge


class _Judge(ThreadingHTTPServer):
    def __init__(self, status: int, content: str):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status, self.content, self.requests = status, content, 0


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests += 1
        body = json.dumps({"choices": [{"message": {"content": self.server.content}}]}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def judge_server(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    servers = []

    def start(status=200, content='{"score": 7}'):
        server = _Judge(status, content)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return server, JudgeClient(JudgeConfig(url=url, model="m", retries=0, timeout=2.0))

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_vas_judge_scores_and_failures(rewards, judge_server):
    texts = ["<think>A man in a red coat at 00:03.</think><answer>B</answer>", "<answer>B</answer>"]
    server, client = judge_server()
    rows = score_responses([item(t) for t in texts], rewards, WEIGHTS, judge=client, questions=["Q?", "Q?"])
    assert [r["vas_judge"] for r in rows] == [70.0, 0.0]  # no think: 0 without asking
    assert server.requests == 1
    _, failing = judge_server(status=500)
    rows = score_responses([item(texts[0])], rewards, WEIGHTS, judge=failing)
    assert rows[0]["vas_judge"] is None and rows[0]["vas_judge_failed"] is True
    metrics = benchmark_metrics(rows)
    assert metrics["vas_judge"] is None and metrics["vas_judge_failures"] == 1


# --------------------------------------------------------------------------- per benchmark


def row(**kw):
    base = {"accuracy": 1.0, "format": 1.0, "tac": True, "tac_correctness": True, "has_think": True,
            "final_answer": "B", "tar": None, "vas_attn": None, "error": None}
    return {**base, **kw}


def test_benchmark_metrics_by_hand():
    rows = [
        row(accuracy=1.0, tac=True, vas_attn=40.0, tar=0.5),
        row(accuracy=0.0, tac=False, tac_correctness=False, vas_attn=20.0),
        row(accuracy=0.5, tac=None, tac_correctness=None, final_answer=None, format=0.0),
        row(error="clip.mp4: cannot decode video", accuracy=None),
    ]
    m = benchmark_metrics(rows)
    assert (m["samples"], m["scored"], m["errors"], m["no_answer"]) == (4, 3, 1, 1)
    assert m["accuracy"] == pytest.approx(50.0)  # (1 + 0 + 0.5) / 3, the error left out
    assert m["tac"] == pytest.approx(100 / 3)  # a missing block counts as not consistent
    assert m["tac_correctness"] == pytest.approx(100 / 3)
    assert m["format"] == pytest.approx(200 / 3)
    assert (m["vas_attn"], m["vas_attn_samples"]) == (30.0, 2)
    assert (m["tar"], m["tar_samples"]) == (50.0, 1)


def test_direct_answer_rows_have_no_tac():
    m = benchmark_metrics([row(mode="direct", has_think=False, tac=None, tac_correctness=None)])
    assert m["tac"] is None and m["tac_correctness"] is None and m["accuracy"] == 100.0


def test_think_run_without_reasoning_has_tac_zero():
    m = benchmark_metrics([row(mode="think", has_think=False, tac=None, tac_correctness=None)])
    assert m["tac"] == 0.0 and m["tac_correctness"] == 0.0


def test_empty_benchmark():
    m = benchmark_metrics([])
    assert m["samples"] == 0 and m["accuracy"] is None and m["tac"] is None


GENERIC = ["mvbench", "videomme", "tempcompass", "mlvu", "longvideobench"]
REASONING = ["videomathqa", "videommmu", "mmvu", "vsibench", "minerva", "scivideobench"]
CATEGORIES = {**{n: "generic" for n in GENERIC}, **{n: "reasoning" for n in REASONING}}


def test_paper_averages_reproduce_video_r2_overall():
    # the paper's per-benchmark accuracy of Video-R2 -> its averages 66.7 / 41.6 / 53.0
    values = [67.5, 63.8, 74.9, 68.3, 59.2, 28.8, 50.8, 67.4, 39.4, 34.9, 28.4]
    per = {n: {"accuracy": v} for n, v in zip(GENERIC + REASONING, values)}
    avg = averages(per, CATEGORIES, metrics=("accuracy",))
    assert round(avg["generic"]["accuracy"], 1) == 66.7
    assert round(avg["reasoning"]["accuracy"], 1) == 41.6
    assert round(avg["overall"]["accuracy"], 1) == 53.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=11, max_size=11))
def test_overall_is_five_generic_six_reasoning(values):
    per = {n: {"accuracy": v} for n, v in zip(GENERIC + REASONING, values)}
    avg = averages(per, CATEGORIES, metrics=("accuracy",))
    g, r, o = (avg[k]["accuracy"] for k in ("generic", "reasoning", "overall"))
    assert o == pytest.approx((5 * g + 6 * r) / 11)


def test_partial_coverage_and_missing_metrics():
    per = {"mvbench": {"accuracy": 60.0, "tac": 80.0}, "videomme": {"accuracy": 40.0, "tac": None},
           "vsibench": {"accuracy": 30.0, "tac": 50.0}, "mine": {"accuracy": 10.0, "tac": None}}
    avg = averages(per, {**CATEGORIES, "mine": "other"}, metrics=("accuracy", "tac"))
    assert avg["generic"]["benchmarks"] == ["mvbench", "videomme"]
    assert avg["generic"]["accuracy"] == 50.0 and avg["reasoning"]["accuracy"] == 30.0
    assert avg["overall"]["accuracy"] == 35.0  # mean over the 4 covered, "other" included
    assert avg["overall"]["tac"] == 65.0 and avg["overall"]["missing"]["tac"] == ["videomme", "mine"]
    assert avg["generic"]["missing"] == {"tac": ["videomme"]}


# --------------------------------------------------------------------------- official aggregations


def _row(accuracy, **fields):
    return {"accuracy": accuracy, "answer_type": "multiple_choice", "error": None, **fields}


def test_breakdown_by_duration():
    """vr2's accuracy per category where a row has no official result."""
    from vr2.eval.metrics import breakdown

    rows = [_row(1.0, duration="short"), _row(0.0, duration="long"), _row(1.0, duration="long"),
            {"error": "video missing", "duration": "medium"}]
    assert breakdown(rows) == {"duration": {"long": {"accuracy": 50.0, "samples": 2},
                                                        "short": {"accuracy": 100.0, "samples": 1}}}


def test_breakdown_uses_the_official_score_where_there_is_one():
    from vr2.eval.metrics import breakdown

    rows = [_row(1.0, duration="short", official_source="log", official_score=0.0),
            _row(0.0, duration="long", official_source="rescored", official_score=1.0),
            _row(1.0, duration="long", official_source="log", official_score=None)]  # left out
    assert breakdown(rows) == {"duration": {"long": {"accuracy": 100.0, "samples": 1},
                                            "short": {"accuracy": 0.0, "samples": 1}}}
