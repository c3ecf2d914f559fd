"""The teacher: its prompt (frames with times, subtitles), reply parsing, and the built-in
OpenAI-compatible client against a real local HTTP server."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from teacher_server import ALWAYS_FAIL, FAIL_ONCE, TeacherServer, trace
from vr2.config import load_recipe
from vr2.curate.teacher import (EndpointPool, OpenAITeacher, Teaching, TeachRequest, parse_rating, parse_teaching,
                         prepare_request, teach_messages)

VIDEO = Path(__file__).resolve().parent.parent / "fixtures" / "curate" / "videos" / "own" / "kitchen.mp4"


def test_reply_is_split_into_trace_and_grounding():
    parsed = parse_teaching(trace("B"))
    assert isinstance(parsed, Teaching)
    assert parsed.completion.startswith("<think>At 00:01") and parsed.completion.endswith("<answer>B</answer>")
    assert parsed.temporal_grounding == {"00:01": "the background is red", "00:02": "the background turns green"}
    bare = parse_teaching('<think>x</think><answer>A</answer> {"00:03": "a door opens"}')
    assert bare.temporal_grounding == {"00:03": "a door opens"}


def test_unusable_replies_say_why():
    assert parse_teaching("") == "empty teacher reply"
    assert parse_teaching("the answer is B") == "teacher reply has no <think> and <answer>"
    assert parse_teaching("<think>x</think><answer>A</answer>") == "teacher reply has no grounding JSON object"
    assert "without a sentence" in parse_teaching('<think>x</think><answer>A</answer><grounding>{"00:01": 3}</grounding>')


def test_ratings_outside_one_to_five_are_not_trusted():
    assert parse_rating('{"difficulty": 4}') == 4
    assert parse_rating("3") == 3
    assert parse_rating('{"difficulty": 9}') is None
    assert parse_rating('{"difficulty": 2.5}') is None
    assert parse_rating("hard") is None and parse_rating(None) is None


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_reply_parsers_never_raise(text):
    assert isinstance(parse_teaching(text), (Teaching, str))
    assert parse_rating(text) in (None, 1, 2, 3, 4, 5)


def test_frames_carry_their_times_drawn_and_written():
    recipe = load_recipe(None, ["video.fps=1.0", "video.max_frames=4", "video.min_pixels=3136",
                                "video.max_pixels=12544"])
    from vr2.curate.pipeline import frame_options

    request = prepare_request("k", {"question": "Q?", "options": ["a", "b"], "answer_type": "multiple_choice"},
                              str(VIDEO), None, frame_options(recipe), 112)
    assert [t for t, _ in request.frames] == [0.0, 1.0, 2.0, 3.0]
    assert all(uri.startswith("data:image/jpeg;base64,") for _, uri in request.frames)
    base64.b64decode(request.frames[0][1].split(",", 1)[1], validate=True)
    request.subtitles = [(0.0, 2.0, "Hello there")]
    content = teach_messages(request)[-1]["content"]
    texts = [p["text"] for p in content if p["type"] == "text"]
    assert "Frame at 00:00:02:" in texts and sum(p["type"] == "image_url" for p in content) == 4
    assert "[00:00:00-00:00:02] Hello there" in texts[-2]
    assert texts[-1].startswith("Question:\nQ?\nA. a\nB. b")


def teacher(server, tmp_path, **changes):
    overrides = [f'curate.teacher_url="{server.url}"', 'curate.teacher_model="m"', "curate.backoff=0.01",
                 "curate.retries=2", "curate.timeout=5.0", *[f"curate.{k}={v}" for k, v in changes.items()]]
    return OpenAITeacher(load_recipe(None, overrides).curate, tmp_path / "cache")


def request(question: str) -> TeachRequest:
    return TeachRequest("k", question, ["x", "y"], "multiple_choice", 4.0, [(0.0, "data:image/jpeg;base64,AA==")])


def test_client_retries_caches_and_never_caches_a_failure(tmp_path):
    with TeacherServer({"ok": "A", "flaky": "B", "down": "A"}, {"flaky": FAIL_ONCE, "down": ALWAYS_FAIL}) as server:
        client = teacher(server, tmp_path)
        assert parse_teaching(client.teach(request("flaky"))).completion.endswith("<answer>B</answer>")
        assert client.teach(request("down")) is None
        assert client.teach(request("ok")) == client.teach(request("ok"))
        asked = [(e["question"], e["status"]) for e in server.log]
        assert asked == [("flaky", 500), ("flaky", 200), ("down", 500), ("down", 500), ("down", 500), ("ok", 200)]
        assert client.stats.cache_hits == 1 and client.stats.failures == 1
        assert len(list((tmp_path / "cache").glob("*.json"))) == 2  # flaky and ok; the failure is not kept
        server.script["down"] = "good"
        assert client.teach(request("down")) is not None  # asked again, and it now answers


def test_a_teacher_plugin_is_picked_by_name():
    from vr2.plugins import registry as plugins
    from vr2.plugins.registry import hookimpl
    from vr2.curate.teacher import make_teacher

    class Echo:
        name, model, stats = "echo", "none", None

        def __init__(self, settings, cache_dir=None):
            self.cache_dir = cache_dir

        def teach(self, request):
            return trace("A")

        def rate(self, question, options, answer, reasoning):
            return '{"difficulty": 2}'

    class Plugin:
        @hookimpl
        def vr2_teachers(self):
            return {"echo": Echo}

    plugins.register(Plugin(), "echo-teacher")
    try:
        teacher = make_teacher(load_recipe(None, ['curate.teacher="echo"']).curate, "somewhere")
        assert isinstance(teacher, Echo) and teacher.cache_dir == "somewhere"
        assert "echo" in plugins.components("vr2_teachers") and "openai" in plugins.components("vr2_teachers")
    finally:
        plugins.unregister("echo-teacher")


def test_a_reply_slower_than_the_timeout_is_a_failure_not_data(tmp_path):
    from teacher_server import SLOW

    with TeacherServer({"late": "A"}, {"late": SLOW}) as server:
        client = teacher(server, tmp_path, timeout=0.1, retries=1)
        assert client.teach(request("late")) is None
        assert client.stats.failures == 1 and client.stats.retries == 1
        assert not list((tmp_path / "cache").glob("*.json"))


class _FailsOnce:
    """A teacher endpoint whose first call fails (so the pool rests it) and later ones answer."""

    def __init__(self):
        self.calls = 0

    def complete(self, messages, accept=None):
        self.calls += 1
        return None if self.calls == 1 else "reply"


def test_a_call_waiting_for_a_resting_endpoint_does_not_hold_the_pool():
    import threading
    import time

    pool = EndpointPool([_FailsOnce()], ["http://one/v1"], retries=1, backoff=1.0)
    replies = []
    caller = threading.Thread(target=lambda: replies.append(pool.complete([], accept=None)))
    caller.start()  # the first attempt fails at once; the retry waits a second for the endpoint
    time.sleep(0.2)
    started = time.monotonic()
    counts = pool.take_counts()  # what every other caller does when its call ends: takes the lock
    waited = time.monotonic() - started
    caller.join()
    assert waited < 0.5 and counts == {"http://one/v1": {"failed": 1}}
    assert replies == ["reply"]
