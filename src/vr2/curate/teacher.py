"""The teacher: a strong multimodal model that writes the reasoning traces `vr2 curate` keeps.

For one sample the teacher sees frames sampled with the training protocol (the recipe's
`[video]` section), each with its time drawn top-left as in training and also named in the text,
the subtitles with their times, and the question. It replies with

    <think> reasoning that cites times </think><answer> final answer </answer>
    <grounding>{"MM:SS": "what happens then", "MM:SS-MM:SS": "..."}</grounding>

The grounding becomes the sample's reference `temporal_grounding`. The teacher is told neither
the gold answer nor that one exists: a trace is kept only when vr2's own scorers accept it.

The built-in teacher (`openai`) talks to any OpenAI-compatible chat endpoint that takes images
(vLLM or SGLang serving Qwen2.5-VL-72B, Gemini's OpenAI-compatible API, ...). It is an `openai`
judge built by `vr2.judge.client.make_judge`: temperature and seed from the recipe, retries with
exponential backoff, and an on-disk cache keyed by a hash of the whole request (frames
included), so a re-run asks nothing twice. A call that fails after its retries returns None: the
pipeline records it and asks again on the next run; it never becomes data.

Other teachers plug in through the `vr2_teachers` hook (see `vr2.plugins.hookspecs`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vr2.config import JudgeConfig
from vr2.errors import Vr2Error
from vr2.explain.html import frame_data_uri
from vr2.judge.client import JudgeStats, extract_json_object, make_judge, redact_url
from vr2.model.prompts import format_question
from vr2.plugins import registry as plugins
from vr2.scoring.format import parse_completion
from vr2.video.sampling import format_hms, sample_video
from vr2.video.subtitles import load_srt

SYSTEM = "You are an expert video analyst who writes careful, time-grounded reasoning."

TEACH_INSTRUCTION = (
    "Answer the question about the video above. Every frame shows its time as HH:MM:SS in its "
    "top-left corner, and the time of each frame is also written before it.\n"
    "Reply in exactly this form and nothing else:\n"
    "<think>step-by-step reasoning that names the time (MM:SS) of every moment it relies on</think>"
    "<answer>the final answer only{answer_hint}</answer>\n"
    "<grounding>a JSON object mapping each time you cite, \"MM:SS\" or \"MM:SS-MM:SS\", to one "
    "sentence saying what happens then</grounding>"
)

RATE_INSTRUCTION = (
    "Rate how hard this video question is for a strong video-language model, from 1 (trivial: "
    "answerable from one glance or from the question alone) to 5 (needs careful reasoning over "
    "many moments of the video). Reply with a JSON object {{\"difficulty\": N}} and nothing else.\n\n"
    "Question:\n{question}\n\nCorrect answer: {answer}\n\nA verified reasoning trace:\n{reasoning}"
)

_GROUNDING = re.compile(r"<grounding>(.*?)</grounding>", re.S | re.I)


@dataclass
class TeachRequest:
    """What the teacher sees for one sample: frames with their times, subtitles, the question."""

    key: str
    question: str
    options: list[str]
    answer_type: str
    duration: float
    frames: list[tuple[float, str]] = field(default_factory=list)  # (seconds, data: URI)
    subtitles: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Teaching:
    """A teacher reply split into the trace (`<think>..</think><answer>..</answer>`) and its
    reference grounding."""

    completion: str
    temporal_grounding: dict[str, str]


def parse_teaching(reply: str) -> Teaching | str:
    """The trace and grounding of a reply, or the reason it cannot be used."""
    if not isinstance(reply, str) or not reply.strip():
        return "empty teacher reply"
    parts = parse_completion(reply)
    if parts.think is None or parts.answer is None:
        return "teacher reply has no <think> and <answer>"
    end = reply.lower().rfind("</answer>") + len("</answer>")
    completion = reply[:end].strip()
    tagged = _GROUNDING.search(reply[end:])
    grounding = extract_json_object(tagged.group(1) if tagged else reply[end:])
    if not grounding:
        return "teacher reply has no grounding JSON object"
    if not all(isinstance(v, str) and v.strip() for v in grounding.values()):
        return "teacher grounding has a time without a sentence"
    return Teaching(completion, {str(k).strip(): v.strip() for k, v in grounding.items()})


def parse_rating(reply: str | None) -> int | None:
    """A 1-5 difficulty from a rating reply, or None (a rating outside 1-5 is not trusted)."""
    if not isinstance(reply, str):
        return None
    obj = extract_json_object(reply)
    value: Any = obj.get("difficulty") if obj else None
    if value is None:
        bare = re.fullmatch(r"\s*\**\s*([1-5])\s*\**\s*\.?\s*", reply)
        value = bare.group(1) if bare else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() and 1 <= number <= 5 else None


def _clock(seconds: float) -> str:
    return format_hms(seconds)


def teach_messages(request: TeachRequest) -> list[dict]:
    """OpenAI chat messages: each frame as an image after its time, then subtitles and question."""
    content: list[dict] = [{"type": "text", "text": f"A video of {request.duration:.1f} seconds, "
                            f"{len(request.frames)} frames:"}]
    for seconds, uri in request.frames:
        content.append({"type": "text", "text": f"Frame at {_clock(seconds)}:"})
        content.append({"type": "image_url", "image_url": {"url": uri}})
    if request.subtitles:
        lines = [f"[{_clock(a)}-{_clock(b)}] {text}" for a, b, text in request.subtitles]
        content.append({"type": "text", "text": "Subtitles:\n" + "\n".join(lines)})
    hint = " (the option letter)" if request.options else ""
    content.append({"type": "text", "text": "Question:\n" + format_question(request.question, request.options)
                    + "\n\n" + TEACH_INSTRUCTION.format(answer_hint=hint)})
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": content}]


def rate_messages(question: str, options: list[str], answer: str, reasoning: str) -> list[dict]:
    text = RATE_INSTRUCTION.format(question=format_question(question, options), answer=answer,
                                   reasoning=reasoning)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def sample_frames(video_path: str, subtitles: str | None, settings: dict, image_width: int,
                  start: float | None = None, end: float | None = None) -> tuple:
    """(frames as (seconds, data URI), duration, subtitle cues) of a video, sampled with the
    training protocol (`settings`: `vr2.video.sampling.sample_video` keyword arguments). Raises
    Vr2Error."""
    cues = load_srt(subtitles) if subtitles else []
    video = sample_video(video_path, **settings, start=start, end=end, subtitles=cues or None)
    frames = [(round(t, 3), frame_data_uri(f, image_width)) for t, f in zip(video.times, video.frames)]
    return frames, video.duration, [(c.start, c.end, c.text) for c in cues]


def prepare_request(key: str, sample: dict, video_path: str, subtitles: str | None, settings: dict,
                    image_width: int, frames: tuple | None = None) -> TeachRequest:
    """What the teacher sees for one sample (runs in a worker process; raises Vr2Error).
    `frames`: `sample_frames` of its video when already sampled for another question."""
    shown, duration, cues = frames or sample_frames(video_path, subtitles, settings, image_width,
                                                    sample.get("start"), sample.get("end"))
    return TeachRequest(key=key, question=sample["question"], options=list(sample.get("options") or []),
                        answer_type=sample["answer_type"], duration=duration, frames=list(shown),
                        subtitles=list(cues))


def endpoint_of(reply: Any) -> str:
    return getattr(reply, "endpoint", "") if reply is not None else ""


def teach_readable(reply: str) -> bool:
    return isinstance(parse_teaching(reply), Teaching)


def rating_readable(reply: str) -> bool:
    return parse_rating(reply) is not None


class EndpointPool:
    """Several OpenAI-compatible endpoints serving the same model. Each call goes to the endpoint
    with the fewest calls in flight; one that fails is rested (`backoff`, doubling per failure
    in a row, at most a minute) while the others carry on, and the call is tried again elsewhere
    (up to `retries` more times). Replies are cached by content, so any endpoint's reply serves."""

    MAX_REST_S = 60.0

    def __init__(self, clients: list, urls: list[str], retries: int, backoff: float):
        self.clients, self.urls, self.retries, self.backoff = clients, urls, retries, backoff
        self.lock = threading.Lock()
        self.in_flight = [0] * len(clients)
        self.rest_until = [0.0] * len(clients)
        self.failures_in_row = [0] * len(clients)
        self.counts = [Counter() for _ in clients]
        self.stats = JudgeStats()

    def _pick(self) -> int:
        while True:
            with self.lock:
                now = time.monotonic()
                awake = [i for i in range(len(self.clients)) if self.rest_until[i] <= now]
                if awake:
                    best = min(awake, key=lambda i: (self.in_flight[i], i))
                    self.in_flight[best] += 1
                    return best
                wait = min(self.rest_until) - now
            # All resting: wait for the first to wake without holding the lock, so calls in flight
            # can still report their outcome meanwhile.
            time.sleep(max(0.0, wait))

    def _done(self, i: int, ok: bool) -> None:
        with self.lock:
            self.in_flight[i] -= 1
            self.counts[i]["answered" if ok else "failed"] += 1
            if ok:
                self.failures_in_row[i] = 0
            else:
                self.failures_in_row[i] += 1
                rest = min(self.MAX_REST_S, max(self.backoff, 0.05) * 2 ** (self.failures_in_row[i] - 1))
                self.rest_until[i] = time.monotonic() + rest

    def complete(self, messages: list[dict], accept) -> str | None:
        """The reply (a `vr2.judge.client.Reply`: its `endpoint` says who answered), or None."""
        self._add("calls")
        for attempt in range(self.retries + 1):
            if attempt:
                self._add("retries")
            i = self._pick()
            try:
                reply = self.clients[i].complete(messages, accept=accept)
            except BaseException:
                self._done(i, False)
                raise
            if reply is not None and getattr(reply, "cached", False):
                with self.lock:
                    self.in_flight[i] -= 1
                return reply
            self._done(i, reply is not None)
            if reply is not None:
                return reply
        self._add("failures")
        return None

    def _add(self, name: str) -> None:
        with self.lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def combined_stats(self) -> JudgeStats:
        """Calls, retries and failures of the pool; requests and cache hits of its clients."""
        with self.lock:
            out = JudgeStats(**self.stats.as_dict())
        out.requests = sum(c.stats.requests for c in self.clients)
        out.cache_hits = sum(c.stats.cache_hits for c in self.clients)
        return out

    def take_counts(self) -> dict[str, dict[str, int]]:
        """Answered and failed calls per endpoint since the last take."""
        with self.lock:
            out = {self.urls[i]: dict(c) for i, c in enumerate(self.counts) if c}
            self.counts = [Counter() for _ in self.clients]
        return out


class OpenAITeacher:
    """Teacher plugin ``openai``: any OpenAI-compatible multimodal chat endpoint, or several
    (`teacher_url` as a list: an `EndpointPool`)."""

    name = "openai"

    def __init__(self, settings: Any, cache_dir: str | Path | None = None):
        urls = settings.teacher_url if isinstance(settings.teacher_url, list) else [settings.teacher_url]
        urls = [u.strip() for u in urls if u.strip()]
        if not urls or not settings.teacher_model:
            raise Vr2Error("curate.teacher_url and curate.teacher_model: the teacher needs an "
                           "OpenAI-compatible base URL (or a list of them) and a model name")
        self.model = settings.teacher_model
        self.urls = [redact_url(u) for u in urls]
        self.url = self.urls[0]
        clients = []
        for url in urls:
            try:  # the teacher is an OpenAI-compatible judge with the [curate] settings
                config = JudgeConfig(
                    backend="openai", url=url, model=settings.teacher_model,
                    api_key_env=settings.teacher_api_key_env, timeout=settings.timeout,
                    retries=0, backoff=settings.backoff, seed=settings.seed,
                    max_reply_bytes=settings.max_reply_bytes,
                    temperature=settings.temperature, max_tokens=settings.max_tokens,
                    cache_dir=str(cache_dir or ""))
                clients.append(make_judge(config))
            except Vr2Error as exc:
                raise Vr2Error(f"curate teacher: {redact_url(str(exc))}") from None
        # The pool retries: a failed attempt goes to whichever endpoint is least busy next.
        self.pool = EndpointPool(clients, self.urls, settings.retries, settings.backoff)

    @property
    def stats(self):
        return self.pool.combined_stats()

    def take_endpoint_counts(self) -> dict:
        return self.pool.take_counts()

    def teach(self, request: TeachRequest) -> str | None:
        # Only a reply that parses is cached: an unreadable one is asked again on the next run.
        return self.pool.complete(teach_messages(request), accept=teach_readable)

    def rate(self, question: str, options: list[str], answer: str, reasoning: str) -> str | None:
        return self.pool.complete(rate_messages(question, options, answer, reasoning), accept=rating_readable)


def make_teacher(settings: Any, cache_dir: str | Path | None = None) -> Any:
    """The teacher `[curate] teacher` names (a `vr2_teachers` plugin)."""
    return plugins.create("vr2_teachers", settings.teacher, settings=settings, cache_dir=cache_dir)
