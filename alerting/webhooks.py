"""Twilio's callbacks: call outcomes, keypad confirmations, message statuses, SMS replies.

Every request must carry a valid ``X-Twilio-Signature``: HMAC-SHA1 with the account's
auth token over the public URL Twilio called (``public_url``, so a TLS-terminating
proxy in front changes nothing) and the POST parameters. A forged request gets 403.
So does a replay: the same signed request a second time (the signature covers the URL,
with the action's key, and every parameter, so two genuine callbacks never share one).
Signatures are kept for a week in the ladder store, so a replay after a restart is
refused too.

What each callback does to the ladder (``alerting/ladder.py``):

* ``/twilio/call-status?key=``: a call's final status becomes ``CallEnded``;
* ``/twilio/gather?key=``: the callee pressed 1: ``Acknowledged`` by that number;
* ``/twilio/sms-status?key=``: a message not delivered becomes ``SendFailed`` with
  Twilio's error code (21610: the number sent STOP);
* ``/twilio/sms-incoming``: a reply to an alert: ``1`` (or yes, ok) acknowledges,
  ``2`` (or no, false) cancels as a false alarm, for the open ladders that told that
  number; anything else gets the instructions again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from xml.sax.saxutils import escape

import uvicorn
from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from twilio.request_validator import RequestValidator

from alerting.driver import LadderDriver
from alerting.ladder import Acknowledged, CallEnded, Cancelled, SendFailed, ladder_id_of
from alerting.ladder_store import LadderStore

log = logging.getLogger(__name__)

KEEP_S = 7 * 24 * 3600.0  # longer than Twilio retries a callback
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
ACK_REPLIES = frozenset({"1", "yes", "y", "ok", "ack", "是", "好"})
CANCEL_REPLIES = frozenset({"2", "no", "false", "cancel", "误报", "取消"})
_EMPTY = "<Response></Response>"


class ReplayGuard:
    """Callback signatures seen, so that the same signed request is taken in once.

    Kept for ``KEEP_S`` in the ladder store: a replay after a restart is refused too.
    """

    def __init__(self, store: LadderStore) -> None:
        self._store = store

    async def first_time(self, signature: str) -> bool:
        """Whether ``signature`` is new (and remember it)."""
        now = dt.datetime.now(dt.UTC)
        return await asyncio.to_thread(self._store.first_signature, signature, now, KEEP_S)


def _twiml(body: str = _EMPTY) -> Response:
    return Response(content=body, media_type="application/xml")


def twilio_router(driver: LadderDriver, *, auth_token: str, public_url: str) -> APIRouter:
    """The callback routes, verifying each request before it touches a ladder."""
    router = APIRouter(prefix="/twilio")
    validator = RequestValidator(auth_token)
    replays = ReplayGuard(driver.store)
    base = public_url.rstrip("/")

    async def verified(request: Request) -> dict[str, str]:
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        query = f"?{request.url.query}" if request.url.query else ""
        url = f"{base}{request.url.path}{query}"
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature or not validator.validate(url, params, signature):
            log.warning("a Twilio callback to %s had no valid signature", request.url.path)
            raise HTTPException(status_code=403, detail="invalid signature")
        if not await replays.first_time(signature):
            log.warning("a Twilio callback to %s was replayed", request.url.path)
            raise HTTPException(status_code=403, detail="replayed")
        return params

    @router.post("/call-status")
    async def call_status(request: Request, key: str) -> Response:
        params = await verified(request)
        status = params.get("CallStatus", "")
        if status in FINAL_CALL_STATUSES:
            event = CallEnded(
                at=driver.clock(),
                key=key,
                status=status,
                answered_by=params.get("AnsweredBy"),
            )
            await driver.on_event(ladder_id_of(key), event, wait=False)
        return _twiml()

    @router.post("/gather")
    async def gather(request: Request, key: str) -> Response:
        params = await verified(request)
        if params.get("Digits") == "1":
            by = params.get("To", "the callee")
            await driver.on_event(
                ladder_id_of(key), Acknowledged(at=driver.clock(), by=by, via="call"), wait=False
            )
            return _twiml("<Response><Say>Thank you. The others will be told.</Say></Response>")
        return _twiml("<Response><Say>No confirmation received.</Say></Response>")

    @router.post("/sms-status")
    async def sms_status(request: Request, key: str) -> Response:
        params = await verified(request)
        if params.get("MessageStatus") in ("undelivered", "failed"):
            code = params.get("ErrorCode")
            event = SendFailed(
                at=driver.clock(),
                key=key,
                code=int(code) if code and code.isdigit() else None,
                reason=f"message {params.get('MessageStatus')}",
            )
            await driver.on_event(ladder_id_of(key), event, wait=False)
        return _twiml()

    @router.post("/sms-incoming")
    async def sms_incoming(request: Request) -> Response:
        params = await verified(request)
        sender = params.get("From", "")
        word = params.get("Body", "").strip().lower()
        told = [
            ladder
            for ladder in driver.store.open_ladders()
            if any(t.phone == sender for t in ladder.told)
        ]
        if not told or word not in ACK_REPLIES | CANCEL_REPLIES:
            help_text = "Vigil: reply 1 if you are handling the alert, 2 if it is a false alarm."
            return _twiml(f"<Response><Message>{escape(help_text)}</Message></Response>")
        for ladder in told:
            now = driver.clock()
            if word in ACK_REPLIES:
                ack = Acknowledged(at=now, by=sender, via="sms")
                await driver.on_event(ladder.ladder_id, ack, wait=False)
            else:
                cancel = Cancelled(at=now, by=sender, via="sms")
                await driver.on_event(ladder.ladder_id, cancel, wait=False)
        return _twiml()

    return router


def webhook_app(driver: LadderDriver, *, auth_token: str, public_url: str) -> FastAPI:
    """A FastAPI app serving only Twilio's callbacks (``vigil api`` will mount the router)."""
    app = FastAPI(title="Vigil Twilio callbacks")
    app.include_router(twilio_router(driver, auth_token=auth_token, public_url=public_url))
    return app


class _Server(uvicorn.Server):
    """uvicorn, leaving SIGINT and SIGTERM to the runner that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_webhooks(
    app: FastAPI,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    on_listening: Callable[[], None] | None = None,
    tls: tuple[str, str] | None = None,
) -> None:
    """Serve ``app`` until ``stop`` is set; ``on_listening`` once the socket accepts.

    ``tls``: (certificate file, key file) to serve HTTPS instead of HTTP.
    """
    cert, key = tls if tls is not None else (None, None)
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", ssl_certfile=cert, ssl_keyfile=key
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve())
    if on_listening is not None:
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn sets a plain flag
            await asyncio.sleep(0.02)
        if server.started:
            on_listening()
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await serving
