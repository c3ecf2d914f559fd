"""HTTP with bounds a hostile server cannot stretch: a deadline for the whole request and a cap on
the reply's size after decompression.

The `openai` client's timeout applies to each socket read, so a server that sends one byte every
half second keeps a request alive for as long as it likes, and `httpx` inflates a gzip body in
memory whatever it grows to. `BoundedTransport` sits under the `openai` client (an `httpx`
transport) and bounds both:

- deadline: every request opens its own connection (no keep-alive, so the socket is known from
  the moment it connects, through the `trace` extension); a timer shuts that socket down when
  `timeout` seconds have passed since the request started, which ends any read at once, headers
  and body alike. Each chunk of the body is also checked against the deadline.
- size: the reply is asked for uncompressed (`Accept-Encoding: identity`); a gzip or deflate body
  is inflated here, a bounded piece at a time, and any other encoding is refused. More than
  `max_bytes` (raw or inflated) raises `ReplyRefused`, before the rest is read.

Proxies from the environment (`http_proxy`, `https_proxy`, `no_proxy`) are honoured as `httpx`
honours them by default.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any


class ReplyRefused(Exception):
    """The reply broke a bound (too large, an unknown encoding, past the deadline)."""


def _env_proxy(url: str) -> str | None:
    split = urllib.parse.urlsplit(url)
    if split.hostname and urllib.request.proxy_bypass(split.hostname):
        return None
    return urllib.request.getproxies().get(split.scheme)


class _Inflater:
    """gzip/deflate decoding that never holds more than `limit` inflated bytes."""

    def __init__(self, encoding: str, limit: int):
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise ReplyRefused(f"reply uses the content encoding '{encoding}', which vr2 does not accept")
        self.plain = encoding in ("", "identity")
        # 47: a gzip or zlib header, detected; deflate servers often send raw zlib streams.
        self.decoder = None if self.plain else zlib.decompressobj(47 if "gzip" in encoding else 15)
        self.limit = limit
        self.total = 0

    def feed(self, chunk: bytes) -> bytes:
        if self.plain:
            return self._count(chunk)
        try:
            out = self.decoder.decompress(chunk, self.limit + 1 - self.total)
            if self.decoder.unconsumed_tail:  # more would come out than the cap allows
                raise ReplyRefused(f"reply inflates to more than {self.limit} bytes")
        except zlib.error as exc:
            raise ReplyRefused(f"reply is not valid compressed data ({exc})") from None
        return self._count(out)

    def _count(self, data: bytes) -> bytes:
        self.total += len(data)
        if self.total > self.limit:
            raise ReplyRefused(f"reply is larger than {self.limit} bytes")
        return data


class _BoundedStream:
    """The response body: inflated, size-capped, deadline-checked; ends the timer when closed."""

    def __init__(self, inner: Any, inflater: _Inflater, raw_limit: int, deadline: float, timer: threading.Timer):
        self.inner, self.inflater, self.raw_limit = inner, inflater, raw_limit
        self.deadline, self.timer, self.raw = deadline, timer, 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.inner:
            self.raw += len(chunk)
            if self.raw > self.raw_limit:
                raise ReplyRefused(f"reply is larger than {self.raw_limit} bytes")
            if time.monotonic() > self.deadline:
                raise ReplyRefused("reply still arriving when the request's time ran out")
            data = self.inflater.feed(chunk)
            if data:
                yield data

    def close(self) -> None:
        self.timer.cancel()
        self.inner.close()


def _shutdown(sockets: list) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def bounded_transport(url: str, timeout: float, max_bytes: int) -> Any:
    """An httpx transport for requests to `url` that bounds time and reply size."""
    import httpx2

    class Stream(_BoundedStream, httpx2.SyncByteStream):
        pass

    class BoundedTransport(httpx2.BaseTransport):
        def __init__(self):
            self.inner = httpx2.HTTPTransport(proxy=_env_proxy(url),
                                              limits=httpx2.Limits(max_keepalive_connections=0))

        def handle_request(self, request):
            sockets: list = []

            def trace(event: str, info: dict) -> None:
                if event == "connection.connect_tcp.complete" and info.get("return_value") is not None:
                    sockets.append(info["return_value"].get_extra_info("socket"))

            request.extensions = {**request.extensions, "trace": trace}
            request.headers["Accept-Encoding"] = "identity"
            deadline = time.monotonic() + timeout
            timer = threading.Timer(timeout, _shutdown, args=(sockets,))
            timer.daemon = True
            timer.start()
            try:
                response = self.inner.handle_request(request)
                inflater = _Inflater(response.headers.get("content-encoding", "").strip().lower(), max_bytes)
            except BaseException:
                timer.cancel()
                if time.monotonic() >= deadline:
                    raise httpx2.ReadTimeout(f"no whole reply within {timeout:g} s", request=request) from None
                raise
            headers = [(k, v) for k, v in response.headers.raw if k.lower() not in (b"content-encoding",
                                                                                      b"content-length")]
            stream = Stream(response.stream, inflater, max_bytes, deadline, timer)
            return httpx2.Response(response.status_code, headers=headers, stream=stream,
                                   extensions=response.extensions)

        def close(self):
            self.inner.close()

    return BoundedTransport()
