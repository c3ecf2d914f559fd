"""The LLM judge client and tasks, against a real local HTTP server that imitates the endpoint."""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import timeit
import zlib
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vr2.config import JudgeConfig, load_recipe
from vr2.errors import JudgeFailure, Vr2Error
from vr2.judge import client as judge_mod
from vr2.scoring.claims import Claim
from vr2.judge.client import (
    JudgeClient,
    LLMConsistency,
    LLMExtractor,
    cache_key,
    config_from_env,
    extract_json_object,
    judge_consistency,
    judge_extract_claims,
    make_judge,
    parse_score,
    parse_verdict,
    vas_judge,
)

# --------------------------------------------------------------------------- fake endpoint


def chat_body(text: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}]}).encode()


class FakeJudge(ThreadingHTTPServer):
    """Answers POSTs from a script of behaviours, then with `default`; records every request.

    A behaviour is ("reply", text), ("delay", seconds, text), ("status", code), ("echo", code)
    or ("raw", bytes).
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple] = []
        self.default: tuple = ("reply", '{"score": 5}')
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def push(self, *behaviours: tuple) -> None:
        with self.lock:
            self.script.extend(behaviours)

    def next_behaviour(self, record: dict) -> tuple:
        with self.lock:
            self.requests.append(record)
            return self.script.pop(0) if self.script else self.default


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"null")
        record = {"path": self.path, "body": body, "auth": self.headers.get("Authorization"),
                  "headers": {k.lower(): v for k, v in self.headers.items()}}
        behaviour = self.server.next_behaviour(record)
        kind = behaviour[0]
        if kind == "delay":
            time.sleep(behaviour[1])
            payload, code = chat_body(behaviour[2]), 200
        elif kind == "status":
            payload, code = b'{"error": "scripted"}', behaviour[1]
        elif kind == "echo":  # a careless server that echoes the request headers in its error
            payload, code = json.dumps({"error": "bad", "headers": dict(self.headers)}).encode(), behaviour[1]
        elif kind == "raw":
            payload, code = behaviour[1], 200
        else:
            payload, code = chat_body(behaviour[1]), 200
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass


@pytest.fixture
def server():
    srv = FakeJudge()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    # The HTTP client honours proxy variables; the fake judge is local.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def make_client(server, **overrides) -> JudgeClient:
    options = dict(url=server.url, model="judge-model", timeout=2.0, retries=2, backoff=0.01)
    options.update(overrides)
    return JudgeClient(JudgeConfig(**options))


CHAT = [{"role": "user", "content": "hello"}]
RESPONSE = ("<think>At 00:05 a man in a red jacket picks up three cups; the sign reads EXIT."
            "</think><answer>B</answer>")

# --------------------------------------------------------------------------- client


def test_normal_reply_and_request_body(server, monkeypatch):
    monkeypatch.setenv("MY_JUDGE_API_KEY", "sk-test")
    server.push(("reply", "hi there"))
    client = make_client(server, api_key_env="MY_JUDGE_API_KEY", seed=1234)
    assert client.complete(CHAT) == "hi there"
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "judge-model"
    assert body["messages"] == CHAT
    assert body["temperature"] == 0.0
    assert body["seed"] == 1234
    assert body["max_tokens"] == 512
    assert client.stats.as_dict() == {"calls": 1, "cache_hits": 0, "requests": 1, "retries": 0,
                                      "failures": 0, "unparseable": 0}


def test_no_authorization_header_without_key(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make_client(server).complete(CHAT)
    assert server.requests[0]["auth"] is None


def test_openai_environment_is_not_sent_past_the_allow_list(server, monkeypatch):
    # The openai package reads these by itself; a recipe's URL must not receive them.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-key")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-key")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-secret")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-secret")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-custom")
    assert make_client(server, api_key_env="").complete(CHAT) == '{"score": 5}'
    headers = server.requests[0]["headers"]
    assert "authorization" not in headers
    assert not {"openai-organization", "openai-project"} & set(headers)
    assert "secret" not in json.dumps(headers) and "sk-" not in json.dumps(headers)


def test_debug_logs_of_the_http_stack_hide_the_key(server, monkeypatch, caplog):
    monkeypatch.setenv("MY_JUDGE_API_KEY", "sk-debug-secret")
    client = make_client(server, api_key_env="MY_JUDGE_API_KEY")
    with caplog.at_level("DEBUG"):
        assert client.complete(CHAT) == '{"score": 5}'
    assert server.requests[0]["auth"] == "Bearer sk-debug-secret"
    assert caplog.records and "sk-debug-secret" not in caplog.text


def test_timeout_gives_up_and_counts(server):
    server.default = ("delay", 1.5, "too late")
    client = make_client(server, timeout=0.2, retries=1, backoff=0.05)
    start = time.monotonic()
    assert client.complete(CHAT) is None
    elapsed = time.monotonic() - start
    # two attempts of 0.2 s plus one 0.05 s wait, with slack for a loaded machine
    assert elapsed < 0.2 * 2 + 0.05 + 0.6
    assert client.stats.failures == 1
    assert client.stats.retries == 1
    assert client.stats.requests == 2


def test_garbage_body_is_a_failure_not_retried(server):
    server.push(("raw", b"<html>oops</html>"))
    client = make_client(server)
    assert client.complete(CHAT) is None
    assert client.stats.failures == 1 and client.stats.requests == 1


@pytest.mark.parametrize("payload", [
    b'{"choices": []}', b'{"object": "error"}', b'{"choices": [{"message": {"content": null}}]}',
    b'[1, 2]', b'\xff\xfe',
])
def test_malformed_replies_are_failures(server, payload):
    server.push(("raw", payload))
    assert make_client(server).complete(CHAT) is None


def test_http_500_then_success_retries(server):
    server.push(("status", 500), ("status", 503), ("reply", "ok"))
    client = make_client(server, retries=2)
    assert client.complete(CHAT) == "ok"
    assert client.stats.retries == 2 and client.stats.requests == 3 and client.stats.failures == 0


def test_http_429_is_retried(server):
    server.push(("status", 429), ("reply", "ok"))
    assert make_client(server).complete(CHAT) == "ok"
    assert len(server.requests) == 2


def test_http_500_every_time_runs_out_of_retries(server):
    server.default = ("status", 500)
    client = make_client(server, retries=2)
    assert client.complete(CHAT) is None
    assert client.stats.requests == 3 and client.stats.failures == 1


def test_http_400_not_retried(server):
    server.push(("status", 400), ("reply", "should not be reached"))
    client = make_client(server, retries=3)
    assert client.complete(CHAT) is None
    assert len(server.requests) == 1
    assert client.stats.retries == 0 and client.stats.failures == 1


def test_connection_refused_is_a_failure():
    srv = FakeJudge()
    url = srv.url
    srv.server_close()  # nothing listens on that port any more
    client = JudgeClient(JudgeConfig(url=url, model="m", timeout=0.5, retries=1, backoff=0.01))
    assert client.complete(CHAT) is None
    assert client.stats.failures == 1 and client.stats.retries == 1


def test_cache_hit_makes_no_request(server, tmp_path):
    server.push(("reply", "first"), ("reply", "second"))
    client = make_client(server, cache_dir=str(tmp_path / "cache"))
    assert client.complete(CHAT) == "first"
    assert client.complete(CHAT) == "first"
    assert len(server.requests) == 1
    assert client.stats.cache_hits == 1 and client.stats.calls == 2
    # a fresh client (another process, another URL) reads the same cache without asking
    other = JudgeClient(JudgeConfig(url="http://127.0.0.1:9/v1", model="judge-model",
                                    cache_dir=str(tmp_path / "cache"), retries=0, timeout=0.2))
    assert other.complete(CHAT) == "first"
    assert other.stats.requests == 0


def test_cache_key_depends_on_content_not_order():
    a = {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 0.0,
         "seed": 0, "max_tokens": 5}
    b = {"max_tokens": 5, "seed": 0, "temperature": 0.0,
         "messages": [{"content": "x", "role": "user"}], "model": "m"}
    assert cache_key(a) == cache_key(b)
    assert cache_key(a) != cache_key({**a, "seed": 1})
    assert cache_key(a) != cache_key({**a, "model": "other"})
    assert cache_key(a) != cache_key({**a, "messages": [{"role": "user", "content": "y"}]})


def test_cache_files_are_whole_and_named_by_key(server, tmp_path):
    client = make_client(server, cache_dir=str(tmp_path))
    server.push(("reply", "cached reply"))
    client.complete(CHAT)
    files = sorted(os.listdir(tmp_path))
    key = cache_key(client.request_body(CHAT))
    assert files == [f"{key}.json"]  # no temporary file left behind
    entry = json.loads((tmp_path / files[0]).read_text())
    assert entry["reply"] == "cached reply" and entry["key"] == key


def test_cache_write_goes_through_rename(server, tmp_path, monkeypatch):
    # If the rename never happens, the final file must not exist at all (no half-written
    # entry) and the temporary file is cleaned up; the reply is still returned.
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(judge_mod.os, "replace", refuse)
    server.push(("reply", "kept"))
    client = make_client(server, cache_dir=str(tmp_path))
    assert client.complete(CHAT) == "kept"
    assert os.listdir(tmp_path) == []


def test_corrupt_cache_entry_is_a_miss(server, tmp_path):
    client = make_client(server, cache_dir=str(tmp_path))
    key = cache_key(client.request_body(CHAT))
    (tmp_path / f"{key}.json").write_text('{"reply": ')
    server.push(("reply", "fresh"))
    assert client.complete(CHAT) == "fresh"
    assert json.loads((tmp_path / f"{key}.json").read_text())["reply"] == "fresh"


def test_failures_are_not_cached(server, tmp_path):
    server.push(("status", 400), ("reply", "later"))
    client = make_client(server, cache_dir=str(tmp_path))
    assert client.complete(CHAT) is None
    assert os.listdir(tmp_path) == []
    assert client.complete(CHAT) == "later"


def test_thread_pool_counts_every_call(server):
    client = make_client(server)
    chats = [[{"role": "user", "content": str(i)}] for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(client.complete, chats))
    assert replies == ['{"score": 5}'] * 16
    assert client.stats.calls == 16 and client.stats.requests == 16


def test_config_validation():
    with pytest.raises(Vr2Error, match="judge.url"):
        JudgeClient(JudgeConfig(url="", model="m"))
    with pytest.raises(Vr2Error, match="judge.url"):
        JudgeConfig(url="localhost:8000/v1", model="m")
    with pytest.raises(Vr2Error, match="judge.model"):
        JudgeClient(JudgeConfig(url="http://x/v1", model=""))
    with pytest.raises(Vr2Error, match="judge.retries"):
        JudgeConfig(url="http://x/v1", model="m", retries=-1)
    with pytest.raises(Vr2Error, match="judge.max_tokens must be an integer"):
        JudgeConfig(url="http://x/v1", model="m", max_tokens="512")
    assert JudgeConfig(url="", model="").url == ""  # a recipe without a judge is valid
    assert JudgeConfig(url="http://x/v1/", model="m").endpoint == "http://x/v1/chat/completions"
    assert JudgeConfig(url="http://x/v1/chat/completions", model="m").endpoint.count("chat") == 1
    assert JudgeConfig(url="http://x/v1/chat/completions", model="m").base_url == "http://x/v1"


# --------------------------------------------------------------------------- construction


@pytest.fixture
def no_judge_env(monkeypatch):
    for name in ("VR2_JUDGE_URL", "VR2_JUDGE_MODEL", "VR2_JUDGE_API_KEY_ENV", "VR2_JUDGE_CACHE"):
        monkeypatch.delenv(name, raising=False)


def test_config_from_env(monkeypatch, tmp_path, no_judge_env):
    assert config_from_env() is None
    monkeypatch.setenv("VR2_JUDGE_URL", "http://127.0.0.1:1/v1")
    with pytest.raises(Vr2Error, match="VR2_JUDGE_MODEL"):
        config_from_env()
    monkeypatch.setenv("VR2_JUDGE_MODEL", "qwen")
    monkeypatch.setenv("VR2_JUDGE_API_KEY_ENV", "OTHER_API_KEY")
    monkeypatch.setenv("VR2_JUDGE_CACHE", str(tmp_path / "c"))
    client = make_judge(None)
    assert client.config.model == "qwen" and client.config.api_key_env == "OTHER_API_KEY"
    assert client.config.cache_dir == str(tmp_path / "c") and (tmp_path / "c").is_dir()


def test_make_judge_recipe_section_then_env(monkeypatch, no_judge_env):
    recipe = load_recipe(None, ['judge.url="http://h:8000/v1"', 'judge.model="m"', "judge.timeout=5",
                                "judge.retries=1", "judge.max_tokens=64"])
    client = make_judge(recipe.judge)
    assert isinstance(client, JudgeClient) and client.config is recipe.judge
    assert client.request_body(CHAT)["max_tokens"] == 64 and not client.config.cache_dir
    assert make_judge(client) is client  # a ready judge is used as is
    with pytest.raises(Vr2Error, match="VR2_JUDGE_URL"):
        make_judge(None)
    with pytest.raises(Vr2Error, match="VR2_JUDGE_URL"):
        make_judge(JudgeConfig())  # url empty and no environment: not configured
    assert make_judge(JudgeConfig(), required=False) is None
    monkeypatch.setenv("VR2_JUDGE_URL", "http://e:1/v1")
    monkeypatch.setenv("VR2_JUDGE_MODEL", "env-model")
    assert make_judge(None).config.model == "env-model"
    assert make_judge(JudgeConfig()).config.model == "env-model"
    assert make_judge(recipe.judge).config.model == "m"  # the recipe's judge wins


def test_every_judge_user_goes_through_make_judge(server, monkeypatch, no_judge_env):
    """The llm extractor and checker, TAR, eval's VAS-judge and the curate teacher build their
    judge in one place: replacing it replaces the judge of each of them."""
    from vr2.config import CurateConfig
    from vr2.curate.teacher import OpenAITeacher
    from vr2.eval import runner
    from vr2.judge import builtins
    from vr2.plugins import registry as plugins
    from vr2.scoring.rewards import build_tar_reward

    built = []

    def recording(settings=None, **kwargs):
        built.append(settings)
        return make_judge(settings, **kwargs)

    import vr2.curate.teacher as teacher_mod

    assert runner.make_judge is teacher_mod.make_judge is builtins.make_judge is make_judge
    for module in (builtins, teacher_mod):
        monkeypatch.setattr(module, "make_judge", recording)
    recipe = load_recipe(None, [f'judge.url="{server.url}"', 'judge.model="judge-model"',
                                'tar.extractor="llm"', 'tar.consistency="llm"'])
    build_tar_reward(recipe.tar, recipe.judge)
    assert built == [recipe.judge, recipe.judge]
    OpenAITeacher(CurateConfig(teacher_url=server.url, teacher_model="t"))
    assert built[-1].model == "t" and built[-1].max_tokens == 2048
    assert plugins.make_consistency("llm", judge=recipe.judge).client.config is recipe.judge


# --------------------------------------------------------------------------- VAS


@pytest.mark.parametrize("reply, expected", [
    ('{"score": 7}', 70.0),
    ('```json\n{"score": 10}\n```', 100.0),
    ("Score: 7/10", 70.0),
    ("The reasoning cites counts and text. **Score:** 6", 60.0),
    ("I would rate this 8 out of 10.", 80.0),
    ("3", 30.0),
    ('<think>maybe score 2, no</think>{"score": 9}', 90.0),
    ('{"score": 7.5}', 75.0),
    ('{"score": 0}', 0.0),
])
def test_vas_judge_parses_scores(server, reply, expected):
    server.push(("reply", reply))
    assert vas_judge(make_client(server), "What is on the table?", RESPONSE) == expected


@pytest.mark.parametrize("reply", ['{"score": 11}', "Score: -2", "no idea", '{"score": "high"}',
                                   "Score: 70/100", '{"score": true}'])
def test_vas_judge_unparseable_or_out_of_range_is_none(server, reply):
    server.push(("reply", reply))
    client = make_client(server)
    assert vas_judge(client, "q", RESPONSE) is None
    assert client.stats.unparseable == 1


def test_vas_judge_sends_question_and_response(server):
    client = make_client(server)
    vas_judge(client, "How many cups?", RESPONSE)
    messages = server.requests[0]["body"]["messages"]
    assert messages[0]["role"] == "system" and "0 to 10" in messages[0]["content"]
    assert "How many cups?" in messages[1]["content"] and "red jacket" in messages[1]["content"]


@pytest.mark.parametrize("response", ["<answer>B</answer>", "<think>  </think><answer>B</answer>",
                                      "", "B"])
def test_vas_judge_missing_think_is_zero_without_request(server, response):
    client = make_client(server)
    assert vas_judge(client, "q", response) == 0.0
    assert server.requests == [] and client.stats.calls == 0


def test_vas_judge_failure_is_none(server):
    server.default = ("status", 500)
    client = make_client(server, retries=1)
    assert vas_judge(client, "q", RESPONSE) is None
    assert client.stats.failures == 1


# --------------------------------------------------------------------------- consistency


@pytest.mark.parametrize("reply, expected", [
    ("TRUE", True), ("FALSE", False), ("true.", True), ("**FALSE**", False),
    ("Verdict: TRUE", True), ('{"consistent": false}', False),
    ("The think concludes C and the answer is C, so TRUE", True),
    ("FALSE. The reasoning picks B; it is not TRUE that it picks A.", False),
    ("<think>TRUE or FALSE? it said B</think>FALSE", False),
    ("Yes", True),
])
def test_judge_consistency_verdicts(server, reply, expected):
    server.push(("reply", reply))
    assert judge_consistency(make_client(server), "So the answer is B.", "B") is expected


@pytest.mark.parametrize("reply", ["maybe", "It could be TRUE or FALSE", ""])
def test_judge_consistency_garbage_is_none(server, reply):
    server.push(("reply", reply))
    client = make_client(server)
    assert judge_consistency(client, "So the answer is B.", "B") is None
    assert client.stats.unparseable == 1


def test_judge_consistency_failure_is_none_not_false(server):
    server.push(("raw", b"not json"))
    assert judge_consistency(make_client(server), "answer B", "B") is None


def test_judge_consistency_missing_parts_is_false_without_request(server):
    client = make_client(server)
    assert judge_consistency(client, "", "B") is False
    assert judge_consistency(client, "answer is B", None) is False
    assert server.requests == []


def test_llm_consistency_adapter_shows_options(server):
    server.push(("reply", "TRUE"))
    checker = LLMConsistency(make_client(server))
    assert checker.name == "llm"
    options = ["A. blue car", "B. red car"]
    assert checker.check("the red car wins", "B", "multiple_choice", options) is True
    content = server.requests[0]["body"]["messages"][1]["content"]
    assert "B. red car" in content and "THINK:" in content and "ANSWER:" in content
    server.push(("status", 400))
    assert checker.check("x", "y") is None


# --------------------------------------------------------------------------- claims


def test_judge_extract_claims_with_fences(server):
    reply = ('Here are the claims:\n```json\n{"00:05": "man picks up three cups",'
             ' "00:12-00:18": "sign reads EXIT", "1:02:03": "door closes"}\n```\nDone.')
    server.push(("reply", reply))
    claims = judge_extract_claims(make_client(server), "At 00:05 ... (long reasoning)")
    assert claims == [Claim(5.0, 5.0, "man picks up three cups"),
                      Claim(12.0, 18.0, "sign reads EXIT"),
                      Claim(3723.0, 3723.0, "door closes")]


def test_judge_extract_claims_skips_bad_keys_and_reads_lists(server):
    server.push(("reply", '{"soon": "x", "00:10": ["a b", "c d"], "00:20": 5}'))
    claims = judge_extract_claims(make_client(server), "text")
    assert claims == [Claim(10.0, 10.0, "a b"), Claim(10.0, 10.0, "c d")]


def test_judge_extract_claims_empty_object_and_empty_think(server):
    server.push(("reply", "{}"))
    client = make_client(server)
    assert judge_extract_claims(client, "no times here") == []
    assert judge_extract_claims(client, "   ") == []
    assert len(server.requests) == 1


def test_judge_extract_claims_failure_and_garbage_are_none(server):
    server.push(("reply", "I cannot find any JSON to give"), ("status", 404))
    client = make_client(server)
    assert judge_extract_claims(client, "At 00:05 x") is None
    assert judge_extract_claims(client, "At 00:06 y") is None
    assert client.stats.unparseable == 1 and client.stats.failures == 1


def test_llm_extractor_raises_judge_failure(server):
    server.push(("reply", '{"00:01": "a"}'), ("status", 400))
    extractor = LLMExtractor(make_client(server))
    assert extractor.name == "llm"
    assert extractor.extract("At 00:01 a") == [Claim(1.0, 1.0, "a")]
    with pytest.raises(JudgeFailure, match="LLM claim extraction failed"):
        extractor.extract("At 00:02 b")
    assert judge_mod.JudgeFailure is JudgeFailure


# --------------------------------------------------------------------------- parser properties


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_parse_score_never_raises_and_stays_in_range(text):
    score = parse_score(text)
    assert score is None or 0.0 <= score <= 10.0


@settings(deadline=None)
@given(st.integers(0, 10), st.text(alphabet="abc .,\n", max_size=20))
def test_parse_score_reads_json_score(n, noise):
    assert parse_score(noise + json.dumps({"score": n}) + noise) == float(n)
    assert parse_score(f"Score: {n}/10") == float(n)


@settings(deadline=None)
@given(st.integers(11, 10**6))
def test_parse_score_rejects_out_of_range(n):
    assert parse_score(json.dumps({"score": n})) is None
    assert parse_score(f"Score: {n}") is None


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_parse_verdict_never_raises(text):
    assert parse_verdict(text) in (True, False, None)


@settings(deadline=None)
@given(st.booleans(), st.text(alphabet="xyz .\n", max_size=20))
def test_parse_verdict_reads_a_lone_word(value, noise):
    word = "TRUE" if value else "FALSE"
    assert parse_verdict(word + " " + noise) is value
    assert parse_verdict(noise + " " + word.lower()) is value


@given(st.text())
@settings(max_examples=300, deadline=None)
def test_extract_json_object_never_raises(text):
    result = extract_json_object(text)
    assert result is None or isinstance(result, dict)


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(), inner, max_size=3), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), json_values, max_size=5), st.sampled_from(["", "json"]))
def test_extract_json_object_round_trips_through_fences(obj, lang):
    text = f"Sure, here it is:\n```{lang}\n{json.dumps(obj)}\n```\nAnything else?"
    assert extract_json_object(text) == obj
    assert extract_json_object(json.dumps(obj, indent=2)) == obj


@given(st.text(max_size=200))
@settings(max_examples=200, deadline=None)
def test_claims_from_reply_never_raises(text):
    claims = judge_mod.claims_from_reply(text)
    assert claims is None or all(isinstance(c, Claim) for c in claims)


# --------------------------------------------------------------------------- parser time


JUDGE_TOKENS = ["score", "Score:", " ", "\n", "*", "1", "7", ".", "/", "10", " out of ", "=", "{", "}",
                '"score": ', '"', "<think>", "</think>", "TRUE", "false", "answer:", "x", ","]


def _fast(*parsers, text):
    """Seconds, best of two runs (the machine may be shared; a quadratic parser is always slow)."""
    def run():
        for parse in parsers:
            parse(text)
    return min(timeit.repeat(run, number=1, repeat=2))


@pytest.mark.parametrize("unit", ["score" + " " * 50, " ", "*", "<think>", "score*", "1.", "{\"a\":",
                                  "{", "score: " + "*" * 40, "TRUE FALSE "])
def test_judge_parsers_stay_fast_on_100kb(unit):
    # "score" + 20 KB of spaces once took 30 s (adjacent \s* around optional stars).
    text = unit * (100_000 // len(unit)) + "x"
    assert _fast(parse_score, parse_verdict, judge_mod.claims_from_reply, text=text) < 1.0
    assert _fast(parse_score, text=json.dumps({"score": "1" + " " * 100_000 + "x"})) < 1.0


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(JUDGE_TOKENS), min_size=1, max_size=6).map("".join))
def test_judge_parsers_stay_fast_on_any_repeated_fragment(unit):
    text = unit * (100_000 // len(unit))
    assert _fast(parse_score, parse_verdict, judge_mod.claims_from_reply, text=text) < 1.0


def test_score_parser_reads_spaced_and_starred_scores():
    assert parse_score("Score:" + " " * 5000 + "**7**") == 7.0
    assert parse_score(" " * 5000 + "8" + " " * 5000) == 8.0
    assert parse_score('{"score": " 6  /  10 "}') == 6.0
    assert parse_score("<think>score: 2</think>\n\nThe score is 9.") == 9.0


# --------------------------------------------------------------------------- secrets and cache


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "HOME", "openai_api_key",
                                  "MY_API_KEY_BACKUP", "PATH"])
def test_api_key_env_must_be_a_key_variable(server, monkeypatch, name):
    monkeypatch.delenv("VR2_JUDGE_KEY_ENVS", raising=False)
    with pytest.raises(Vr2Error, match=f"judge.api_key_env: '{name}' is not an API key variable"):
        make_client(server, api_key_env=name)


def test_api_key_env_allow_list_and_notice(server, monkeypatch, caplog):
    monkeypatch.setenv("VR2_JUDGE_KEY_ENVS", "HF_TOKEN, OTHER")
    monkeypatch.setenv("HF_TOKEN", "hf-secret")
    client = make_client(server, api_key_env="HF_TOKEN")
    with caplog.at_level("WARNING", logger="vr2.judge.client"):
        client.complete(CHAT)
        client.complete(CHAT)
    assert server.requests[0]["auth"] == "Bearer hf-secret"
    notices = [r.getMessage() for r in caplog.records if "sending the API key" in r.getMessage()]
    assert notices == [f"judge: sending the API key from $HF_TOKEN (listed in VR2_JUDGE_KEY_ENVS) "
                       f"to {server.url.split('/')[2]}"]
    assert "hf-secret" not in caplog.text
    # a recipe cannot widen the allow-list: it is read from the environment only
    monkeypatch.delenv("VR2_JUDGE_KEY_ENVS")
    with pytest.raises(Vr2Error, match="VR2_JUDGE_KEY_ENVS"):
        make_client(server, api_key_env="HF_TOKEN")


def test_error_body_echoing_headers_never_shows_the_key(server, monkeypatch, caplog, capsys):
    monkeypatch.setenv("MY_JUDGE_API_KEY", "sk-very-secret-123")
    server.push(("echo", 401))
    client = make_client(server, api_key_env="MY_JUDGE_API_KEY")
    with caplog.at_level("INFO", logger="vr2.judge.client"):
        assert client.complete(CHAT) is None
    shown = caplog.text + "".join(capsys.readouterr())
    assert "HTTP 401" in shown and "[redacted]" in shown
    assert "sk-very-secret" not in shown


@pytest.mark.parametrize("text", [
    "Authorization: Bearer abc.def-123", '{"Authorization": "Bearer abc.def-123"}', "bearer abc.def-123",
    "api_key=abc.def-123", '"x-api-key": "abc.def-123"', "Authorization: Basic abc.def-123",
])
def test_redact_hides_tokens(text):
    assert "abc.def" not in judge_mod.redact(text) and "[redacted]" in judge_mod.redact(text)


def test_unparseable_reply_is_not_cached_and_healthy_judge_unmasks(server, tmp_path):
    cache = str(tmp_path / "cache")
    server.push(("reply", "I cannot grade this"), ("reply", '{"score": 7}'))
    client = make_client(server, cache_dir=cache)
    assert vas_judge(client, "q", RESPONSE) is None  # masked this time
    assert list((tmp_path / "cache").iterdir()) == []  # ... but not remembered
    assert vas_judge(client, "q", RESPONSE) == 70.0  # the judge is healthy again
    assert vas_judge(make_client(server, cache_dir=cache), "q", RESPONSE) == 70.0
    assert len(server.requests) == 2  # the good reply came from the cache


def test_a_cached_unparseable_reply_is_asked_again(server, tmp_path):
    """Caches written before this fix may hold garbage: it must not mask the sample forever."""
    client = make_client(server, cache_dir=str(tmp_path))
    body = client.request_body([{"role": "system", "content": judge_mod.CONSISTENCY_SYSTEM},
                                {"role": "user", "content": "THINK:\nSo B.\n\nANSWER:\nB"}])
    (tmp_path / f"{cache_key(body)}.json").write_text(json.dumps({"reply": "garbage"}))
    server.push(("reply", "TRUE"))
    assert judge_consistency(client, "So B.", "B") is True and len(server.requests) == 1
    assert judge_consistency(client, "So B.", "B") is True and len(server.requests) == 1


# --------------------------------------------------------------------------- hostile replies (issue 19)


@functools.lru_cache(maxsize=1)
def gzip_bomb() -> bytes:
    """About 200 KB of gzip that inflates to 200 MB of JSON whitespace."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1024 * 1024)
    return packer.compress(b"{") + b"".join(packer.compress(block) for _ in range(200)) + packer.flush()


class HostileHandler(BaseHTTPRequestHandler):
    """One hostile behaviour per server: `mode` is trickle_body, trickle_head, huge or gzip_bomb."""

    mode = "trickle_body"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            if self.mode == "trickle_head":  # the status line itself, one byte at a time
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 300:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            body = chat_body("x" * (3 * 1024 * 1024) if self.mode == "huge" else '{"score": 5}')
            headers = {"Content-Type": "application/json"}
            if self.mode == "gzip_bomb":
                body = gzip_bomb()
                headers["Content-Encoding"] = "gzip"
            self.send_response(200)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.mode == "trickle_body":
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.1)
            else:
                self.wfile.write(body)
        except OSError:  # the client hung up, as it should
            pass


@pytest.fixture
def hostile():
    servers = []

    def start(mode: str) -> str:
        handler = type("Handler", (HostileHandler,), {"mode": mode})
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        srv.daemon_threads = True
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{srv.server_address[1]}/v1"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("mode", ["trickle_body", "trickle_head"])
def test_timeout_bounds_the_whole_request_against_a_trickling_server(hostile, mode):
    client = JudgeClient(JudgeConfig(url=hostile(mode), model="m", timeout=1.0, retries=0))
    start = time.monotonic()
    assert client.complete(CHAT) is None
    assert time.monotonic() - start < 3.0  # a byte every 0.1 s would keep it alive for minutes
    assert client.stats.failures == 1


@pytest.mark.parametrize("mode", ["huge", "gzip_bomb"])
def test_oversized_and_compressed_bomb_replies_are_counted_failures_never_cached(hostile, mode, tmp_path):
    import tracemalloc

    client = JudgeClient(JudgeConfig(url=hostile(mode), model="m", timeout=20.0, retries=0,
                                     max_reply_bytes=1024 * 1024, cache_dir=str(tmp_path)))
    gzip_bomb()  # built before measuring: the server runs in this process
    tracemalloc.start()
    assert client.complete(CHAT) is None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 32 * 1024 * 1024  # the bomb is 200 MB inflated; the cap stops it at 1 MiB
    assert client.stats.failures == 1
    assert not list(tmp_path.glob("*.json"))


def test_reply_size_cap_is_a_recipe_key():
    recipe = load_recipe(None, ["judge.max_reply_bytes=2048", "curate.max_reply_bytes=4096"])
    assert (recipe.judge.max_reply_bytes, recipe.curate.max_reply_bytes) == (2048, 4096)
    assert JudgeConfig().max_reply_bytes >= 1024 * 1024


def test_credentials_in_the_url_never_reach_logs_or_reprs(server, monkeypatch, caplog):
    import logging

    monkeypatch.setenv("MY_JUDGE_API_KEY", "sk-test")
    url = server.url.replace("http://", "http://alice:s3cret-pw@")
    client = JudgeClient(JudgeConfig(url=url, model="m", api_key_env="MY_JUDGE_API_KEY", retries=0))
    server.default = ("status", 400)
    with caplog.at_level(logging.DEBUG):
        client.complete(CHAT)
    shown = caplog.text + repr(client)
    assert "s3cret-pw" not in shown and "alice" not in shown
    assert judge_mod.redact_url(url) == server.url.replace("http://", "http://[redacted]@")
