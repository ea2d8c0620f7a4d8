r"""Refuse text with NUL characters at the door: 422, before any route or database sees it.

PostgreSQL text cannot hold NUL (U+0000); a NUL reaching a query would fail as a server
error. Found by schemathesis (a user name ``%00`` at ``POST /v1/token``). The guard looks
at the path, the query string and the body: a raw NUL byte, a percent-encoded ``%00``,
or a JSON ``\u0000`` escape. No legitimate Vigil input holds one.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_ENCODED_NUL = {b"application/x-www-form-urlencoded": b"%00", b"application/json": b"\\u0000"}
_DETAIL = [{"loc": ["body"], "msg": "text may not contain NUL characters", "type": "value_error"}]


def _has_nul(raw: bytes, encoded: bytes | None) -> bool:
    r"""A raw NUL, or the encoding's escape for one (``%00`` in forms, ``\u0000`` in JSON)."""
    return b"\x00" in raw or (encoded is not None and encoded in raw.lower())


def _encoding(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-type":
            media = value.split(b";")[0].strip().lower()
            return _ENCODED_NUL.get(media)
    return None


class NulGuard:
    """ASGI middleware: 422 for a request whose path, query or body carries a NUL."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or _has_nul(scope.get("query_string", b""), b"%00"):
            await _refuse(send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # a disconnect: pass it on as it came
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _has_nul(body, _encoding(scope)):
            await _refuse(send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send) -> None:
    payload = json.dumps({"detail": _DETAIL}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
