"""A small stateful fake of Twilio's REST API for tests and testers, over real HTTP.

It takes what the official ``twilio`` client sends (Messages and Calls of API
2010-04-01, Basic auth with the account SID and auth token; a wrong one gets 401 with
Twilio's error 20003), answers with a resource like Twilio's, and then plays the
callee: after ``ring_s`` it posts, signed with ``X-Twilio-Signature`` as Twilio signs
them, what each destination number was scripted to do (``Script``):

* a call: a keypad digit to the call's Gather ``action`` URL (the callee pressed 1),
  then the final status to its ``StatusCallback``: ``completed`` (with ``AnsweredBy``
  ``human`` or ``machine_end_beep`` for a voicemail), ``busy``, ``no-answer``, ``failed``;
* a message: ``delivered``, or ``undelivered`` with ``ErrorCode`` 30003; a number that
  opted out is refused at once with 400 and Twilio's error 21610.

Each callback carries an ``I-Twilio-Idempotency-Token``. Facts on Twilio: design
INTEGRATIONS.md; status values: Twilio's call and message resources.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import msgspec

CallScript = Literal["completed", "confirm", "voicemail", "busy", "no-answer", "failed"]
#: What the fake does to one REST request: ``error_500`` refuses it (Twilio had trouble,
#: nothing sent); ``slow`` takes it (the message or call goes out) but answers late.
Fault = Literal["error_500", "slow"]
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<kind>Messages|Calls)\.json$")


class Script(msgspec.Struct, frozen=True, kw_only=True):
    """What a destination number does."""

    call: CallScript = "no-answer"
    opted_out: bool = False  # sent STOP: messages refused with 21610
    undelivered: bool = False


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """A REST request the fake took (for the test to read)."""

    kind: Literal["Messages", "Calls"]
    to: str
    form: dict[str, list[str]]
    sid: str
    at: float  # time.monotonic() on arrival

    @property
    def action_key(self) -> str | None:
        """The ``key`` of the status callback URL (Vigil's ladder action), if any."""
        url = self.form.get("StatusCallback", [""])[0]
        keys = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("key")
        return keys[0] if keys else None


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL and the sorted POST params.

    Twilio's documented scheme (INTEGRATIONS.md); written here so the fake does not
    sign with the validator it is meant to test.
    """
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    data = url + "".join(k + params[k] for k in sorted(params))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class FakeTwilio:
    """The fake server; use as a context manager. ``base_url`` is what the client calls."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        scripts: Mapping[str, Script] | None = None,
        *,
        ring_s: float = 0.3,
        faults: Sequence[Fault] = (),
        slow_s: float = 2.0,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.scripts = dict(scripts or {})
        self.ring_s = ring_s
        self.faults = list(faults)  # for the next REST requests, in order (chaos tests)
        self.slow_s = slow_s
        self.refused = 0  # requests answered 500 (not taken)
        self.requests: list[Request] = []
        self.callbacks: list[tuple[str, dict[str, str], int]] = []  # url, params, status
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The fake's address (``http://127.0.0.1:PORT``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the REST side -------------------------------------------------------------------

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def _take(self, kind: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        to = form.get("To", [""])[0]
        script = self.scripts.get(to, Script())
        if kind == "Messages" and script.opted_out:
            return 400, {
                "code": 21610,
                "message": "Attempt to send to unsubscribed recipient",
                "status": 400,
            }
        prefix = "SM" if kind == "Messages" else "CA"
        sid = f"{prefix}{next(self._ids):032x}"
        with self._lock:
            self.requests.append(
                Request(kind=kind, to=to, form=form, sid=sid, at=time.monotonic())  # type: ignore[arg-type]
            )
        threading.Thread(target=self._play, args=(kind, sid, form, script), daemon=True).start()
        status = "queued"
        return 201, {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From", [""])[0],
            "status": status,
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/{kind}/{sid}.json",
        }

    # -- the callee's side ---------------------------------------------------------------

    def _play(self, kind: str, sid: str, form: dict[str, list[str]], script: Script) -> None:
        time.sleep(self.ring_s)
        base = {"AccountSid": self.account_sid, "To": form.get("To", [""])[0]}
        if kind == "Messages":
            url = form.get("StatusCallback", [None])[0]
            params = {**base, "MessageSid": sid, "MessageStatus": "delivered"}
            if script.undelivered:
                params.update(MessageStatus="undelivered", ErrorCode="30003")
            if url:
                self._post(url, params)
            return
        call = {**base, "CallSid": sid}
        if script.call == "confirm":
            action = _gather_action(form.get("Twiml", [""])[0])
            if action:
                self._post(action, {**call, "Digits": "1", "CallStatus": "in-progress"})
        status, answered_by = {
            "completed": ("completed", "human"),
            "confirm": ("completed", "human"),
            "voicemail": ("completed", "machine_end_beep"),
            "busy": ("busy", None),
            "no-answer": ("no-answer", None),
            "failed": ("failed", None),
        }[script.call]
        final = {**call, "CallStatus": status}
        if answered_by is not None:
            final["AnsweredBy"] = answered_by
        url = form.get("StatusCallback", [None])[0]
        if url:
            self._post(url, final)

    def _post(self, url: str, params: dict[str, str]) -> None:
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(  # noqa: S310 - the app's own callback URL
            url,
            data=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sign(self.auth_token, url, params),
                "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        with self._lock:
            self.callbacks.append((url, params, status))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return  # quiet

            def _reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                match = _PATH.match(urllib.parse.urlparse(self.path).path)
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if match is None:
                    self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                if match["sid"] != fake.account_sid or not fake._authorised(
                    self.headers.get("Authorization")
                ):
                    self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
                    return
                with fake._lock:
                    fault = fake.faults.pop(0) if fake.faults else None
                if fault == "error_500":
                    fake.refused += 1
                    self._reply(
                        500, {"code": 20500, "message": "Internal Server Error", "status": 500}
                    )
                    return
                answer = fake._take(match["kind"], form)
                if fault == "slow":
                    time.sleep(fake.slow_s)  # taken, but the answer comes after the client gave up
                self._reply(*answer)

        return Handler


def _gather_action(twiml: str) -> str | None:
    match = re.search(r'<Gather[^>]*\baction="([^"]+)"', twiml)
    return match.group(1).replace("&amp;", "&") if match else None
