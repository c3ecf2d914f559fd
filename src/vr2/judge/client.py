"""The LLM judge: an OpenAI-compatible chat endpoint that vr2 asks three narrow questions.

1. ``vas_judge``: how much a reasoning trace claims concrete visual evidence (docs/method.md#video-attention-score-vas), 0-100.
2. ``judge_consistency``: do the reasoning and the answer reach the same conclusion (§3, the gate).
3. ``judge_extract_claims``: the timed statements in the reasoning, as claims (§2, LLM extractor).

A judge failure (timeout, refused connection, HTTP error, a reply that cannot be parsed) is
returned as ``None`` (or raised as ``JudgeFailure`` by the plugin adapters) and counted in
``JudgeClient.stats``; it is never turned into a score, so callers mask the sample instead of
learning from a fake 0. Requests use temperature 0 and a fixed seed, and replies are cached on
disk by a hash of the request content, so a re-run asks nothing and gives the same numbers.

Requests go through the ``openai`` package (the client for any OpenAI-compatible server: typed
errors, timeouts, connection pooling). vr2 keeps its own parts around it: the retry policy (so
retries are counted and the backoff is the recipe's), the reply check, the cache, failure
masking, the API-key allow-list and the redaction of keys in anything shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vr2.config import _URL_CREDENTIALS, JudgeConfig, redact_url
from vr2.errors import JudgeFailure, Vr2Error
from vr2.judge.http import ReplyRefused, bounded_transport
from vr2.plugins import registry as plugins
from vr2.scoring.claims import Claim
from vr2.scoring.format import parse_completion, without_think_blocks
from vr2.scoring.timestamps import (
    parse_time_key,  # lazy: only the LLM extractor needs it
)

__all__ = [
    "JudgeStats", "JudgeClient", "JudgeFailure", "Reply", "cache_key", "redact", "redact_url",
    "vas_judge", "judge_consistency", "judge_extract_claims",
    "parse_score", "parse_verdict", "extract_json_object", "claims_from_reply",
    "LLMExtractor", "LLMConsistency", "config_from_env", "make_judge",
]

log = logging.getLogger("vr2.judge.client")

ENV_URL = "VR2_JUDGE_URL"
ENV_MODEL = "VR2_JUDGE_MODEL"
ENV_KEY_ENV = "VR2_JUDGE_API_KEY_ENV"
ENV_CACHE = "VR2_JUDGE_CACHE"
# The user's own explicit allow-list of key variables (comma-separated), set in the shell: a
# recipe cannot widen it. Without it only names ending in `_API_KEY` may carry the judge's key.
ENV_ALLOWED_KEYS = "VR2_JUDGE_KEY_ENVS"
_KEY_NAME = re.compile(r"[A-Z][A-Z0-9_]*_API_KEY")


def check_api_key_env(name: str) -> str:
    """Refuse an `api_key_env` that is not a documented key variable, so a shared recipe cannot
    send an arbitrary secret (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, ...) to its own URL as a
    Bearer token. Returns which rule allowed it."""
    allowed = [n.strip() for n in os.environ.get(ENV_ALLOWED_KEYS, "").split(",") if n.strip()]
    if name in allowed:
        return f"listed in {ENV_ALLOWED_KEYS}"
    if _KEY_NAME.fullmatch(name):
        return "its name ends in _API_KEY"
    raise Vr2Error(f"judge.api_key_env: '{name}' is not an API key variable; vr2 sends only "
                   f"variables named *_API_KEY (upper case) or listed in {ENV_ALLOWED_KEYS}")


_BEARER = re.compile(r"((?:bearer|basic|token)\s+)[^\s\"',;}\]]+", re.I)
_KEY_FIELD = re.compile(r"((?:authorization|api[-_]?key|x-api-key)[\"']?\s*[:=]\s*[\"']?)(?!(?:bearer|basic|token)\s)"
                        r"[^\s\"',;}\]]+", re.I)


def redact(text: str, secret: str = "") -> str:
    """Text safe to show: Bearer tokens, Authorization/api-key values, credentials in URLs and the
    key itself hidden."""
    if secret:
        text = text.replace(secret, "[redacted]")
    return redact_url(_KEY_FIELD.sub(r"\1[redacted]", _BEARER.sub(r"\1[redacted]", text)))


def without_credentials(url: str) -> str:
    """The URL without its `user:password@` part (sent as a Basic Authorization header instead,
    so the HTTP stack's own logs never see it)."""
    return _URL_CREDENTIALS.sub(r"\1", url)


def url_credentials(url: str) -> str:
    """`user:password` of a URL, percent-decoded ('' when it has none)."""
    match = _URL_CREDENTIALS.match(url.strip())
    if not match:
        return ""
    return urllib.parse.unquote(url.strip()[match.end(1):match.end() - 1])


# --------------------------------------------------------------------------- client


@dataclass
class JudgeStats:
    """Counters for one client. ``failures`` are calls that returned None after all attempts;
    ``unparseable`` are replies that arrived but could not be read by a judge task."""

    calls: int = 0
    cache_hits: int = 0
    requests: int = 0
    retries: int = 0
    failures: int = 0
    unparseable: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Reply(str):
    """A reply's text that also says which endpoint gave it (its URL, credentials hidden; for a
    cached reply, the endpoint that gave it first) and whether it came from the cache."""

    def __new__(cls, text: str, endpoint: str = "", cached: bool = False):
        reply = super().__new__(cls, text)
        reply.endpoint, reply.cached = endpoint, cached
        return reply


class _Retryable(Exception):
    """A failure worth another attempt (timeout, connection, HTTP 429/5xx)."""


class _Fatal(Exception):
    """A failure that another identical request would repeat (HTTP 4xx, malformed body)."""


def cache_key(body: dict) -> str:
    """sha256 of the request content that decides the reply; the URL is deliberately left out
    so the same judge model served elsewhere reuses the cache."""
    content = {k: body.get(k) for k in ("model", "messages", "temperature", "seed", "max_tokens")}
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class JudgeClient:
    """A small chat-completions client with retries, failure counting and a disk cache.

    Thread safety: ``complete`` may be called from many threads at once (e.g. a
    ``ThreadPoolExecutor``). Each call builds its own request; the counters are guarded by a
    lock; cache files are written to a temporary file and renamed into place, so a reader sees
    either no file or a whole one. Two threads asking the same uncached question at the same
    moment may both send it; both write the same reply.
    """

    def __init__(self, config: JudgeConfig):
        if not config.url:
            raise Vr2Error("judge.url: the judge needs an OpenAI-compatible base URL")
        if not config.model:
            raise Vr2Error("judge.model: the judge needs a model name")
        if config.api_key_env:
            check_api_key_env(config.api_key_env)
        self.config = config
        self.stats = JudgeStats()
        self._lock = threading.Lock()
        self._key_announced = False
        self._openai = None  # built on the first request: importing openai takes about a second
        if config.cache_dir:
            Path(config.cache_dir).mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"JudgeClient({redact_url(self.config.endpoint)!r}, model={self.config.model!r})"

    # -- public

    def complete(self, messages: list[dict], accept=None) -> str | None:
        """The reply text to a chat, or None when the judge gave no usable reply.

        `accept(reply) -> bool` says whether the caller can read the reply: only accepted
        replies are cached (and a cached one that is not accepted is asked again), so one
        garbled answer does not mask its sample forever.
        """
        body = self.request_body(messages)
        key = cache_key(body)
        self._count("calls")
        cached = self._read_cache(key)
        if cached is not None and (accept is None or accept(cached)):
            self._count("cache_hits")
            return cached
        text = self._send_with_retries(body)
        if text is None:
            self._count("failures")
            return None
        reply = Reply(text, redact_url(self.config.base_url))
        if accept is None or accept(reply):
            self._write_cache(key, body, reply)
        return reply

    def request_body(self, messages: list[dict]) -> dict:
        c = self.config
        return {"model": c.model, "messages": messages, "temperature": c.temperature,
                "seed": c.seed, "max_tokens": c.max_tokens}

    def note_unparseable(self, task: str, reply: str) -> None:
        """Count a reply that a judge task could not read (it is a failure, not a score)."""
        self._count("unparseable")
        log.warning("judge %s: unparseable reply %r", task, self.redact(reply[:200]))

    def redact(self, text: str) -> str:
        """`text` with the API key, any Bearer token or key field and URL credentials hidden."""
        text = redact(text, self._key())
        login = url_credentials(self.config.url)
        return text.replace(login, "[redacted]") if login else text

    # -- counters

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + by)

    # -- HTTP

    def _send_with_retries(self, body: dict) -> str | None:
        reason = "no attempt"
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._count("retries")
                time.sleep(self.config.backoff * 2 ** (attempt - 1))
            try:
                return self._post(body)
            except _Retryable as exc:
                reason = self.redact(str(exc))
                log.info("judge attempt %d failed: %s", attempt + 1, reason)
            except _Fatal as exc:
                log.warning("judge request failed (not retried): %s", self.redact(str(exc)))
                return None
        log.warning("judge request failed after %d attempts: %s", self.config.retries + 1, reason)
        return None

    def _post(self, body: dict) -> str:
        import httpx2
        import openai

        self._count("requests")
        try:
            # Streamed, so the reply is read through the size cap, never whole at once; a body
            # without text content is a failure in `_reply_text`, where the typed parse would
            # quietly give None or a half-built object.
            with self._client().chat.completions.with_streaming_response.create(
                    **body, extra_headers=self._headers()) as raw:
                data = raw.http_response.read()
        except openai.APIStatusError as exc:
            detail = _error_body(exc)
            if exc.status_code == 429 or exc.status_code >= 500:
                raise _Retryable(f"HTTP {exc.status_code} {detail}") from None
            raise _Fatal(f"HTTP {exc.status_code} {detail}") from None
        except openai.APIConnectionError as exc:
            # Refused connections, dropped connections and timeouts (APITimeoutError); the cause
            # may be a refused reply (too large), which no retry would change.
            if isinstance(exc.__cause__, ReplyRefused):
                raise _Fatal(f"reply refused: {exc.__cause__}") from None
            raise _Retryable(f"{type(exc).__name__}: {exc}") from None
        except ReplyRefused as exc:
            raise _Fatal(f"reply refused: {exc}") from None
        except httpx2.HTTPError as exc:  # the body stopped (the whole-request deadline shut it)
            raise _Retryable(f"reply cut off ({type(exc).__name__}: {exc or 'time ran out'})") from None
        return _reply_text(data)

    def _client(self):
        import openai

        with self._lock:
            if self._openai is None:
                # The placeholder key is never sent: `_headers` sets Authorization on each request.
                # max_retries=0: vr2's own loop retries, so each retry is counted and waits the
                # recipe's backoff.
                # The transport bounds the whole request and the reply's size (vr2.judge.http).
                c = self.config
                http = openai.DefaultHttpxClient(transport=bounded_transport(c.base_url, c.timeout,
                                                                             c.max_reply_bytes))
                self._openai = openai.OpenAI(base_url=without_credentials(c.base_url), api_key="unused",
                                             timeout=c.timeout, max_retries=0, http_client=http)
        return self._openai

    def _headers(self) -> dict:
        """Per-request headers that win over what the openai client takes from the environment.

        The key goes out only from `api_key_env` (the allow-list): without one, no Authorization
        header at all, whatever OPENAI_API_KEY, OPENAI_ADMIN_KEY or OPENAI_CUSTOM_HEADERS hold;
        the OpenAI organisation and project ids are not sent to other servers. Never logged.
        """
        from openai import Omit

        key = self._key()
        if key:
            self._say_key_once()
            auth: Any = f"Bearer {key}"
        else:  # credentials written in the URL go as HTTP Basic, as a browser would send them
            login = url_credentials(self.config.url)
            auth = "Basic " + base64.b64encode(login.encode("utf-8")).decode("ascii") if login else Omit()
        return {"Authorization": auth,
                "OpenAI-Organization": Omit(), "OpenAI-Project": Omit()}

    def _key(self) -> str:
        return os.environ.get(self.config.api_key_env, "") if self.config.api_key_env else ""

    def _say_key_once(self) -> None:
        with self._lock:
            if self._key_announced:
                return
            self._key_announced = True
        rule = check_api_key_env(self.config.api_key_env)
        host = urllib.parse.urlsplit(without_credentials(self.config.endpoint)).netloc
        log.warning("judge: sending the API key from $%s (%s) to %s",
                    self.config.api_key_env, rule, host)

    # -- cache

    def _cache_path(self, key: str) -> Path | None:
        return Path(self.config.cache_dir) / f"{key}.json" if self.config.cache_dir else None

    def _read_cache(self, key: str) -> Reply | None:
        path = self._cache_path(key)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("judge cache %s unreadable (%s); asking again", path, exc)
            return None
        reply = entry.get("reply") if isinstance(entry, dict) else None
        if not isinstance(reply, str):
            return None
        endpoint = entry.get("endpoint")
        return Reply(reply, endpoint if isinstance(endpoint, str) else "", cached=True)

    def _write_cache(self, key: str, body: dict, reply: str) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        entry = {"key": key, "model": body["model"], "reply": str(reply), "endpoint": reply.endpoint}
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle, ensure_ascii=False)
            os.replace(tmp, path)  # atomic: readers never see a half-written entry
        except OSError as exc:
            # A cache that cannot be written costs a repeat request later, not this reply.
            log.warning("judge cache %s not written: %s", path, exc)
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)


def _error_body(exc) -> str:
    try:
        return exc.response.text[:300].strip()
    except Exception:  # the error body is only for the log message
        return ""


def _reply_text(raw: bytes) -> str:
    """choices[0].message.content of a chat-completions body; anything else is malformed."""
    try:
        body = json.loads(raw.decode("utf-8"))
        content = body["choices"][0]["message"]["content"]
    except (UnicodeDecodeError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise _Fatal(f"malformed reply ({type(exc).__name__}): {raw[:200]!r}") from None
    if not isinstance(content, str):
        raise _Fatal(f"reply has no text content: {raw[:200]!r}")
    return content


# --------------------------------------------------------------------------- reply parsers

_NUMBER = r"(-?\d{1,6}(?:\.\d+)?)"
_SCORE_LABEL = re.compile(r"score\W{0,5}?(?:is|of|=|:)?\s*\**\s*" + _NUMBER + r"(?!\.?\d)", re.I)
_OUT_OF_TEN = re.compile(_NUMBER + r"\s*(?:/|out of)\s*10(?!\d)", re.I)
_BARE_NUMBER = re.compile(r"\s*\**\s*" + _NUMBER + r"\s*\**\s*\.?\s*")
_VERDICT_WORD = re.compile(r"\b(true|false)\b", re.I)
_VERDICT_LABEL = re.compile(r"(?:verdict|answer|consistent|output)\W{0,5}\b(true|false)\b", re.I)
_MAX_JSON_STARTS = 200
# The score patterns put `\s*` next to `\s*` (around optional `*`s). On a long run of spaces
# that backtracks quadratically (a 20 KB reply took 30 s), so runs are collapsed to one space
# before those patterns run: then each `\s*` has at most one character to try.
_WHITESPACE_RUN = re.compile(r"\s+")


def _one_space(text: str) -> str:
    return _WHITESPACE_RUN.sub(" ", text)


def _strip_judge_reasoning(reply: str) -> str:
    """Drop a reasoning judge's own <think> block, which may mention any score or verdict."""
    return without_think_blocks(reply)


def _as_score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        match = re.fullmatch(r"\s*" + _NUMBER + r"(?:\s*/\s*10)?\s*", _one_space(value))
        if not match:
            return None
        number = float(match.group(1))
    else:
        return None
    return number if math.isfinite(number) and 0.0 <= number <= 10.0 else None


def parse_score(reply: str) -> float | None:
    """A 0-10 score from a judge reply, or None.

    Reads, in order: a JSON object with a ``score`` key; the last "score: N" (or "Score = N",
    "score of N"); the last "N/10" or "N out of 10"; a reply that is only a number. A number
    outside 0-10 gives None rather than being clipped: a judge that ignored the scale is not
    trusted with it.
    """
    text = _strip_judge_reasoning(reply)
    obj = extract_json_object(text)
    if obj is not None:
        for key, value in obj.items():
            if isinstance(key, str) and key.strip().lower() == "score":
                return _as_score(value)
    text = _one_space(text)
    for pattern in (_SCORE_LABEL, _OUT_OF_TEN):
        found = pattern.findall(text)
        if found:
            return _as_score(float(found[-1]))
    bare = _BARE_NUMBER.fullmatch(text)
    return _as_score(float(bare.group(1))) if bare else None


def parse_verdict(reply: str) -> bool | None:
    """TRUE/FALSE from a judge reply, or None when it says neither or is ambiguous.

    A reply that starts with TRUE or FALSE (after markdown and punctuation) is read from its first
    word; otherwise a labelled verdict ("Answer: FALSE") wins, the last one if several; otherwise
    the reply must mention exactly one of the two words. JSON {"consistent": true} works too.
    """
    text = _strip_judge_reasoning(reply)
    obj = extract_json_object(text)
    if obj is not None:
        for value in obj.values():
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in ("true", "false"):
                return value.strip().lower() == "true"
    head = re.match(r"[\s\W_]*(true|false)\b", text, re.I)
    if head:
        return head.group(1).lower() == "true"
    labelled = _VERDICT_LABEL.findall(text)
    if labelled:
        return labelled[-1].lower() == "true"
    words = {w.lower() for w in _VERDICT_WORD.findall(text)}
    if len(words) == 1:
        return words.pop() == "true"
    plain = text.strip().strip(".!*").strip().lower()
    if plain in ("yes", "no"):
        return plain == "yes"
    return None


def extract_json_object(text: str) -> dict | None:
    """The first JSON object in a reply (code fences and surrounding prose are tolerated)."""
    # Decoding from each "{" in turn skips prose and code fences without touching the text
    # (a fence inside a JSON string must survive).
    decoder = json.JSONDecoder()
    start = text.find("{")
    tries = 0
    while start != -1 and tries < _MAX_JSON_STARTS:
        tries += 1
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


def claims_from_reply(reply: str) -> list[Claim] | None:
    """Claims from a ``{time: clause}`` reply; None when the reply holds no JSON object.

    Keys are read by ``vr2.scoring.timestamps.parse_time_key``; a key it cannot read is skipped (logged)
    because the other claims are still good. A value that is a list gives one claim per item.
    """
    obj = extract_json_object(_strip_judge_reasoning(reply))
    if obj is None:
        return None
    claims = []
    for key, value in obj.items():
        span = parse_time_key(str(key))
        texts = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        texts = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
        if span is None or not texts:
            log.info("judge claims: skipped entry %r: %r", key, value)
            continue
        claims += [Claim(float(span[0]), float(span[1]), t) for t in texts]
    return sorted(claims, key=lambda c: (c.start, c.end, c.text))


# --------------------------------------------------------------------------- judge tasks

VAS_SYSTEM = """\
You grade the reasoning written by a video question-answering model. You do not see the video, \
and you do not decide whether the answer is right. You measure one thing: how much the \
reasoning inside <think> ... </think> rests on concrete things it says it saw in the video.

Concrete visual evidence means statements about specific observed content, such as:
- particular people, animals or objects ("a man in a red jacket", "the second car");
- their attributes: colour, size, shape, clothing, state;
- counts ("three cups on the table");
- text or numbers shown on screen;
- spatial relations ("the ball is left of the box");
- the order or timing of events ("first she opens the door, then at 00:12 ...").

The following are NOT visual evidence: comparing or eliminating answer options, general world \
knowledge or common sense, guesses, restating the question, and generic phrases such as \
"based on the video" or "the video shows" that name nothing specific.

Score from 0 to 10:
0 = no concrete visual claim at all;
3 = a few visual details, mostly vague or generic;
6 = several specific observations that carry part of the argument;
10 = nearly every step is built on specific observations.

Reply with a JSON object and nothing else: {"score": <integer 0-10>}"""

CONSISTENCY_SYSTEM = """\
You check whether a model's reasoning and its final answer agree. You are given the reasoning \
(THINK) and the final answer (ANSWER) of one response. Find the conclusion THINK finally reaches \
(its last explicit choice, value or statement of the answer) and compare it with ANSWER.

Reply TRUE if THINK reaches a conclusion and ANSWER states that same conclusion (the same option, \
the same number, or the same meaning). Reply FALSE if THINK concludes something different, \
reaches no conclusion, or ANSWER contradicts it. Do not judge whether either is correct.

Reply with exactly one word: TRUE or FALSE."""

CLAIMS_SYSTEM = """\
You extract the time-stamped statements from a model's reasoning about a video. Find every \
place where the reasoning ties something to a time or a time span in the video (e.g. "at 01:45", \
"between 0:12 and 0:18", "around the 16-second mark", "from 3s to 5s").

Return one JSON object. Each key is the time, written as MM:SS or HH:MM:SS for a moment, or \
MM:SS-MM:SS for a span. Each value is what the reasoning says happens at that time, in at most \
10 words, without the time itself. Use the reasoning's own words where possible and do not add \
anything it does not say. If the same time appears twice, merge the statements into one value. \
If there are no timed statements, return {}.

Reply with the JSON object only."""


def vas_judge(client: JudgeClient, question: str, response: str) -> float | None:
    """Judge-based video attention score (0-100) of one response, or None on judge failure.

    A response without a (non-empty) <think> block scores 0 without asking the judge.
    """
    think = parse_completion(response).think
    if not think:
        return 0.0
    user = f"QUESTION:\n{question.strip()}\n\nRESPONSE:\n{response.strip()}"
    reply = _ask(client, [{"role": "system", "content": VAS_SYSTEM},
                          {"role": "user", "content": user}], parse_score)
    if reply is None:
        return None
    score = parse_score(reply)
    if score is None:
        _unparseable(client, "vas", reply)
        return None
    return score * 10.0


def judge_consistency(client: JudgeClient, think: str | None, answer: str | None,
                      options: list[str] | None = None) -> bool | None:
    """True when THINK and ANSWER reach the same conclusion; None on judge failure.

    A missing or empty think or answer cannot agree with anything: False, without a request.
    ``options`` (multiple-choice texts) are shown so the judge can map an option's text to its
    letter.
    """
    if not think or not think.strip() or not answer or not answer.strip():
        return False
    parts = []
    if options:
        parts.append("OPTIONS:\n" + "\n".join(str(o) for o in options))
    parts += [f"THINK:\n{think.strip()}", f"ANSWER:\n{answer.strip()}"]
    reply = _ask(client, [{"role": "system", "content": CONSISTENCY_SYSTEM},
                          {"role": "user", "content": "\n\n".join(parts)}], parse_verdict)
    if reply is None:
        return None
    verdict = parse_verdict(reply)
    if verdict is None:
        _unparseable(client, "consistency", reply)
    return verdict


def judge_extract_claims(client: JudgeClient, think: str | None) -> list[Claim] | None:
    """Every timed statement in a reasoning text, read by the judge; None on judge failure.

    An empty think has no claims: [] without a request.
    """
    if not think or not think.strip():
        return []
    reply = _ask(client, [{"role": "system", "content": CLAIMS_SYSTEM},
                          {"role": "user", "content": f"REASONING:\n{think.strip()}"}], claims_from_reply)
    if reply is None:
        return None
    claims = claims_from_reply(reply)
    if claims is None:
        _unparseable(client, "claims", reply)
    return claims


# --------------------------------------------------------------------------- plugin adapters


class LLMExtractor:
    """Claim extractor plugin ``llm``: the judge reads the claims (the paper's way).

    Raises ``JudgeFailure`` when the judge gives no usable reply, so the caller masks the sample.
    """

    name = "llm"

    def __init__(self, client: JudgeClient):
        self.client = client

    def extract(self, think: str) -> list[Claim]:
        claims = judge_extract_claims(self.client, think)
        if claims is None:
            raise JudgeFailure(
                f"LLM claim extraction failed ({self.client!r}; see the vr2.judge.client log)")
        return claims


class LLMConsistency:
    """Consistency checker plugin ``llm``: the judge answers TRUE/FALSE; None = failed (mask)."""

    name = "llm"

    def __init__(self, client: JudgeClient):
        self.client = client

    def check(self, think: str, answer: str, answer_type: str | None = None,
              options: list[str] | None = None) -> bool | None:
        # answer_type is not needed: the judge compares conclusions of any kind.
        return judge_consistency(self.client, think, answer, options or None)


# --------------------------------------------------------------------------- construction


def config_from_env() -> JudgeConfig | None:
    """Judge settings from VR2_JUDGE_URL and VR2_JUDGE_MODEL (optional VR2_JUDGE_API_KEY_ENV,
    VR2_JUDGE_CACHE); None when VR2_JUDGE_URL is not set."""
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        return None
    model = os.environ.get(ENV_MODEL, "").strip()
    if not model:
        raise Vr2Error(f"{ENV_MODEL}: must name the judge model when {ENV_URL} is set")
    return JudgeConfig(url=url, model=model,
                       api_key_env=os.environ.get(ENV_KEY_ENV, "").strip() or "OPENAI_API_KEY",
                       cache_dir=os.environ.get(ENV_CACHE, "").strip())


def _ask(client: Any, messages: list[dict], parse) -> str | None:
    """The reply, cached by the built-in client only when `parse` can read it. Plugin judges
    take just the messages."""
    if isinstance(client, JudgeClient):
        return client.complete(messages, accept=lambda reply: parse(reply) is not None)
    return client.complete(messages)


def _unparseable(client: Any, task: str, reply: str) -> None:
    # Plugin judges need not count unreadable replies; the built-in client does.
    note = getattr(client, "note_unparseable", None)
    if note is not None:
        note(task, reply)
    else:
        log.warning("judge %s: unparseable reply %r", task, redact(reply[:200]))


def make_judge(settings: JudgeConfig | None = None, *, required: bool = True) -> Any:
    """The judge to use: the one place vr2 picks and builds it.

    `settings` is a `JudgeConfig` (a recipe's `[judge]`, or one built in code such as the curate
    teacher's). It is used when it names a URL, or a `backend` plugin other than the built-in
    `openai` (which may need no URL); otherwise the VR2_JUDGE_* environment is. `[judge] backend`
    names the `vr2_judges` plugin that builds the judge. A ready judge (anything with
    `complete`) is returned as is. With nothing configured: a one-line error, or None when the
    judge is optional (`required=False`, e.g. VAS-judge in `vr2 eval`).
    """
    if hasattr(settings, "complete"):
        return settings
    if settings is not None and (settings.url or settings.backend != "openai"):
        config = settings
    else:
        config = config_from_env()
    if config is None:
        if not required:
            return None
        raise Vr2Error(f"judge: no LLM judge configured; set [judge] url and model in the recipe "
                       f"or the environment variables {ENV_URL} and {ENV_MODEL}")
    return plugins.create("vr2_judges", config.backend, settings=config)
