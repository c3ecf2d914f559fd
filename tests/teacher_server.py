"""A scripted teacher: a real HTTP server on 127.0.0.1 that speaks the OpenAI chat completions API.

Replies are deterministic and depend on the question in the request: good traces (right answer,
times inside the video, grounding that matches the reasoning), and on purpose failures (HTTP 500
once or always), garbage, slow replies, wrong answers and times past the end of the video.
Every request is logged with the sha256 of its body and whether it was answered.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD, FAIL_ONCE, ALWAYS_FAIL, GARBAGE, SLOW, WRONG, LATE = (
    "good", "fail_once", "always_fail", "garbage", "slow", "wrong", "late_time")
RATE_GARBAGE = "rate_garbage"  # in `rate_script`: the difficulty rating is unreadable


def trace(answer: str, seconds: tuple[int, int] = (1, 2)) -> str:
    a, b = seconds
    think = (f"At 00:{a:02d} the background is red. At 00:{b:02d} the background turns green. "
             f"So the answer is {answer}.")
    grounding = {f"00:{a:02d}": "the background is red", f"00:{b:02d}": "the background turns green"}
    return f"<think>{think}</think><answer>{answer}</answer>\n<grounding>{json.dumps(grounding)}</grounding>"


def question_of(body: dict) -> tuple[str, str]:
    """(kind, question first line) of a request: kind "teach" or "rate"."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return "rate", content.split("Question:\n", 1)[1].split("\n", 1)[0]
    text = next(p["text"] for p in reversed(content) if p.get("type") == "text")
    return "teach", text.split("Question:\n", 1)[1].split("\n", 1)[0]


class TeacherServer:
    """`answers`: question -> gold answer; `script`: question -> behaviour (default good)."""

    def __init__(self, answers: dict[str, str], script: dict[str, str] | None = None,
                 rate_script: dict[str, str] | None = None, delay: float = 0.0):
        self.answers = answers
        self.script = dict(script or {})
        self.rate_script = dict(rate_script or {})
        self.delay = delay  # seconds before every reply (a slower endpoint)
        self.down = False  # True: every request is an HTTP 503
        self.log: list[dict] = []
        self.seen: dict[str, int] = {}
        self.on_teach = None  # called with the number of teach requests so far
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> TeacherServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answered(self, kind: str = "teach") -> list[str]:
        return [e["hash"] for e in self.log if e["status"] == 200 and e["kind"] == kind]

    def reply(self, body: dict) -> tuple[int, str]:
        kind, question = question_of(body)
        with self.lock:
            self.seen[question] = self.seen.get(question, 0) + 1
            count = self.seen[question]
            teaches = sum(1 for e in self.log if e["kind"] == "teach") + (kind == "teach")
        if kind == "teach" and self.on_teach is not None:
            self.on_teach(teaches)
        if self.delay:
            time.sleep(self.delay)
        if self.down:
            return 503, "endpoint down"
        if kind == "rate" and self.rate_script.get(question) == RATE_GARBAGE:
            return 200, "hard to say"
        if kind == "rate":
            return 200, json.dumps({"difficulty": 1 + int(hashlib.sha256(question.encode()).hexdigest(), 16) % 5})
        behaviour = self.script.get(question, GOOD)
        answer = self.answers[question]
        if behaviour == ALWAYS_FAIL or (behaviour == FAIL_ONCE and count == 1):
            return 500, "teacher overloaded"
        if behaviour == GARBAGE:
            return 200, "I am not sure what you mean. Lorem ipsum {"
        if behaviour == SLOW:
            time.sleep(0.3)
        if behaviour == WRONG:
            return 200, trace("Z" if len(answer) == 1 and answer.isalpha() else "no such thing")
        if behaviour == LATE:
            return 200, trace(answer, (1, 30))
        return 200, trace(answer)

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                from vr2.judge.client import cache_key

                raw = self.rfile.read(int(self.headers["Content-Length"]))
                body = json.loads(raw)
                status, text = outer.reply(body)
                kind, question = question_of(body)
                with outer.lock:
                    outer.log.append({"hash": hashlib.sha256(raw).hexdigest(), "key": cache_key(body), "kind": kind,
                                      "question": question, "status": status})
                if status != 200:
                    payload = json.dumps({"error": {"message": text}}).encode()
                else:
                    payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                                          "choices": [{"index": 0, "finish_reason": "stop",
                                                       "message": {"role": "assistant", "content": text}}]}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client is gone (a test killed it)
                    pass

        return Handler


def gold_answers(recipe) -> dict[str, str]:
    """question -> gold answer of every row the recipe's sources hold (as vr2 curate reads them)."""
    from vr2.curate.sources import SourceSpec, load_source
    from vr2.data.datasets import Skipped

    return {s.question: s.answer for spec in map(SourceSpec.parse, recipe.curate.sources)
            for s in load_source(spec) if not isinstance(s, Skipped)}


def serve(script: dict[str, str] | None = None, recipe=None, **options) -> TeacherServer:
    """A server whose gold answers come from the recipe's sources."""
    return TeacherServer(gold_answers(recipe), script, **options)
