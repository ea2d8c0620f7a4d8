"""The Twilio sender: SMS and voice calls through the official ``twilio`` client.

Each message and call names a status callback on Vigil's public URL carrying the
action's key, so the webhooks (``alerting/webhooks.py``) can find the ladder. A call
reads its text inside a keypad ``Gather`` (one digit, sent to the gather webhook):
only a callee who presses 1 acknowledges; Twilio's answering-machine detection
(``MachineDetection=Enable``) tells a voicemail from a person in ``AnsweredBy``.

The client is synchronous (``requests``), so each request runs in a thread. A refused
request becomes ``SendError`` with Twilio's error code; a 4xx is permanent (bad or
opted-out number), a 5xx or a network failure is not.

``api_base`` points the client at another server with the same REST API (the fake
Twilio of ``device_sim/fake_twilio.py``): the client's own ``edge``/``region`` only
change the host's subdomain (INTEGRATIONS.md).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from alerting.driver import SendError
from alerting.ladder import Action, DeviceCommand, PlaceCall

# Twilio's <Say> voices by language (Amazon Polly voices Twilio offers).
_VOICES = {"en": ("en-GB", "Polly.Amy"), "zh": ("cmn-CN", "Polly.Zhiyu")}


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends every request to ``base`` instead of Twilio's hosts, path kept."""

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._base = urllib.parse.urlsplit(base)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        parts = urllib.parse.urlsplit(url)
        rebased = parts._replace(scheme=self._base.scheme, netloc=self._base.netloc)
        return super().request(method, urllib.parse.urlunsplit(rebased), *args, **kwargs)


def twilio_client(
    account_sid: str, auth_token: str, api_base: str | None = None, *, timeout_s: float = 10.0
) -> Client:
    """The official client, talking to Twilio or (``api_base``) a local stand-in."""
    http = (
        RebasedHttpClient(api_base, timeout=timeout_s)
        if api_base
        else TwilioHttpClient(timeout=timeout_s)
    )
    return Client(account_sid, auth_token, http_client=http)


def call_twiml(action: PlaceCall, text: str, gather_url: str) -> str:
    """The call's script: the text inside a one-digit Gather, said again once."""
    language, voice = _VOICES[action.language]
    say = f"<Say language={quoteattr(language)} voice={quoteattr(voice)}>{escape(text)}</Say>"
    if not action.confirm:
        return f"<Response>{say}</Response>"
    return (
        f'<Response><Gather numDigits="1" timeout="10" action={quoteattr(gather_url)}>'
        f"{say}</Gather>{say}</Response>"
    )


class TwilioSender:
    """SMS and calls through Twilio (band commands go elsewhere: ``RoutedSender``)."""

    def __init__(self, client: Client, from_number: str, public_url: str) -> None:
        self.client = client
        self.from_number = from_number
        self.public_url = public_url.rstrip("/")

    def _url(self, path: str, key: str) -> str:
        return f"{self.public_url}/twilio/{path}?{urllib.parse.urlencode({'key': key})}"

    async def send(self, action: Action, text: str) -> str | None:
        """Send the SMS or place the call; the message or call SID."""
        if isinstance(action, DeviceCommand):
            raise SendError("a band command is not for Twilio", permanent=True)
        try:
            if isinstance(action, PlaceCall):
                call = await asyncio.to_thread(
                    self.client.calls.create,
                    to=action.to,
                    from_=self.from_number,
                    twiml=call_twiml(action, text, self._url("gather", action.key)),
                    status_callback=self._url("call-status", action.key),
                    status_callback_event=["completed"],
                    machine_detection="Enable",
                )
                return str(call.sid)
            message = await asyncio.to_thread(
                self.client.messages.create,
                to=action.to,
                from_=self.from_number,
                body=text,
                status_callback=self._url("sms-status", action.key),
            )
            return str(message.sid)
        except TwilioRestException as exc:
            raise SendError(str(exc.msg), code=exc.code, permanent=exc.status < 500) from exc
        except (requests.exceptions.ReadTimeout, requests.exceptions.ChunkedEncodingError) as exc:
            # The request went out; whether Twilio acted on it is unknown: never repeat it.
            raise SendError(f"no answer from Twilio: {exc}", uncertain=True) from exc
        except requests.exceptions.ConnectionError as exc:
            if isinstance(exc.args[0] if exc.args else None, urllib3.exceptions.ProtocolError):
                raise SendError(f"Twilio dropped the connection: {exc}", uncertain=True) from exc
            raise SendError(f"Twilio unreachable: {exc}", permanent=False) from exc
        except (TwilioException, OSError) as exc:
            raise SendError(f"Twilio unreachable: {exc}", permanent=False) from exc
