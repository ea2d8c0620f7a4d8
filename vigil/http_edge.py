"""What every HTTP server of Vigil answers before its app does (issue 10): size, rate, metrics.

``vigil api`` and the Twilio callbacks of ``vigil run`` face the network. Without limits a
single client can hold the process: a body of a gigabyte is read into memory (the NUL
guard reads bodies whole), and a loop of requests starves everyone else. So:

- a body larger than ``max_body_bytes`` is refused with 413, by its ``Content-Length``
  before a byte of it is read, or as soon as a chunked body passes the limit;
- each client address has a token bucket (``rate_per_s`` sustained, ``burst`` at once);
  past it, 429 with ``Retry-After``. ``/healthz`` is never limited. The address is the
  socket's peer: behind a reverse proxy every client shares the proxy's bucket, so set
  the proxy's own limits there (docs/operations.md);
- every answer is counted by route template (never by raw path: ids would make a series
  per wearer), method and status, with its duration, and each refusal by reason.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, Counter, Histogram

from vigil.rate_limits import TokenBuckets

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNLIMITED_PATHS = frozenset({"/healthz"})


class EdgeLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits; a rate of 0 turns rate limiting off."""

    max_body_bytes: int = 1 << 20
    rate_per_s: float = 50.0
    burst: int = 200


class HttpMeter:
    """The HTTP metrics of one server, in their own registry."""

    def __init__(self, server: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.server = server
        self.requests = Counter(
            "vigil_http_requests",
            "answers given, by route template, method and status",
            ["server", "route", "method", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "vigil_http_request_seconds",
            "time from the request to the end of the answer, by route template",
            ["server", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.refused = Counter(
            "vigil_http_refused",
            "requests refused at the edge, by reason (too_large, rate_limited)",
            ["server", "reason"],
            registry=self.registry,
        )
        for reason in ("too_large", "rate_limited"):  # shown at 0 before the first
            self.refused.labels(server, reason)

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answer."""
        self.requests.labels(self.server, route, method, str(status)).inc()
        self.seconds.labels(self.server, route).observe(seconds)

    def refuse(self, reason: str) -> None:
        """Count one refusal."""
        self.refused.labels(self.server, reason).inc()


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class HttpEdge:
    """ASGI middleware: size and rate limits, and metrics, around ``app``."""

    def __init__(self, app: App, *, limits: EdgeLimits, meter: HttpMeter) -> None:
        self.app = app
        self.limits = limits
        self.meter = meter
        self.buckets = (
            TokenBuckets(limits.rate_per_s, limits.burst) if limits.rate_per_s > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what an app that fails before answering gives

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self._handle(scope, receive, sending)
        finally:
            self.meter.answered(
                _route_of(scope), scope["method"], status, time.perf_counter() - started
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is not None and scope["path"] not in _UNLIMITED_PATHS:
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "")
            if wait > 0:
                self.meter.refuse("rate_limited")
                retry = str(max(1, math.ceil(wait)))
                await _answer(send, 429, "too many requests", [(b"retry-after", retry.encode())])
                return
        limit = self.limits.max_body_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await self._too_large(send)
            return
        # Read the body here, up to the limit, then hand it on: an app's own read cannot be
        # stopped half-way without it answering 500 first.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # a disconnect: the app sees it as it came
                await self.app(scope, _once(message, receive), send)
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > limit:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _once(whole, receive), send)

    async def _too_large(self, send: Send) -> None:
        self.meter.refuse("too_large")
        await _answer(send, 413, f"the body is over {self.limits.max_body_bytes} bytes")


def _once(first: Message, receive: Receive) -> Receive:
    """``first``, then whatever ``receive`` gives."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        return await receive()

    return replay


async def _answer(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
