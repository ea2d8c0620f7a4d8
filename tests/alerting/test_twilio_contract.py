"""The Twilio sender's requests checked against Twilio's own OpenAPI description.

Prism (``@stoplight/prism-cli``) serves Twilio's published spec for the 2010-04-01 API
(from ``@twilio/cli-core``) as a mock that validates every request: a request the real
API would refuse for its shape (a missing or malformed field, a bad account SID in the
path) gets 422. The official client, with the sender's own arguments, talks to it over
HTTP. The project's fake Twilio (``test_twilio.py``) checks behaviour; this checks that
what the sender sends is what Twilio's API describes.

``.ci/prism-env`` installs both from npm (``.ci/run`` does it and sets
``VIGIL_PRISM_DIR``); without it the tests are skipped, with that reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.http.response import Response
from twilio.rest import Client

from alerting.driver import SendError
from alerting.ladder import PlaceCall, SendSms
from alerting.twilio_sender import RebasedHttpClient, TwilioSender
from vigil.embedded_broker import free_port

SID = "AC" + "0" * 32
SPEC = "node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json"
API = "/2010-04-01/Accounts/{AccountSid}"


def prism_dir() -> Path:
    found = os.environ.get("VIGIL_PRISM_DIR", "")
    if not found or not (Path(found) / "node_modules/.bin/prism").exists():
        pytest.skip("Prism and Twilio's OpenAPI spec not installed: run `bash .ci/prism-env`")
    return Path(found)


def form_encoded_lists(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with its form-encoded list fields declared as repeated keys.

    Twilio's clients send a list as ``StatusCallbackEvent=a&StatusCallbackEvent=b``; the
    spec leaves the encoding unsaid, and Prism then refuses the repeated keys with 422
    (INTEGRATIONS.md). Only the encoding is added; no field or constraint changes.
    """
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            for content_type, media in operation["requestBody"]["content"].items():
                if content_type != "application/x-www-form-urlencoded":
                    continue
                fields = media["schema"].get("properties", {})
                lists = [name for name, field in fields.items() if field.get("type") == "array"]
                encoding = media.setdefault("encoding", {})
                for name in lists:
                    encoding[name] = {"style": "form", "explode": True}
    return spec


@pytest.fixture(scope="module")
def twilio_spec() -> dict[str, Any]:
    spec = json.loads((prism_dir() / SPEC).read_text())
    return form_encoded_lists(spec)


@pytest.fixture(scope="module")
def prism(twilio_spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism mocking Twilio's API on a free loopback port; its base URL."""
    folder = tmp_path_factory.mktemp("prism")
    spec_file = folder / "twilio_api_v2010.json"
    spec_file.write_text(json.dumps(twilio_spec))
    port = free_port()
    log = (folder / "prism.log").open("w")
    prism_bin = str(prism_dir() / "node_modules/.bin/prism")
    server = subprocess.Popen(
        [prism_bin, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # Prism reads the whole 2010 API first
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"Prism exited: {(folder / 'prism.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(base, timeout=1)
            except urllib.error.HTTPError:
                break  # it answers (404 for /): it is listening
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


class RecordingHttpClient(RebasedHttpClient):
    """The sender's HTTP client, keeping each request's method, path and form fields."""

    def __init__(self, base: str) -> None:
        super().__init__(base, timeout=10)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        response = super().request(method, url, *args, **kwargs)
        path = urllib.parse.urlsplit(url).path
        self.sent.append((method, path, dict(kwargs.get("data") or {})))
        return response


def sender_for(base: str, account_sid: str = SID) -> tuple[TwilioSender, RecordingHttpClient]:
    http = RecordingHttpClient(base)
    client = Client(account_sid, "test-auth-token", http_client=http)
    return TwilioSender(client, "+447700900000", "https://vigil.example.org"), http


def request_fields(spec: dict[str, Any], resource: str) -> set[str]:
    operation = spec["paths"][f"{API}/{resource}.json"]["post"]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    return set(schema["properties"])


SMS = SendSms(key="k-sms", to="+447700900001", template="red", language="en", params={})
CALL = PlaceCall(key="k-call", to="+447700900002", template="red", language="zh", params={})


def test_an_sms_and_a_confirming_call_are_requests_twilio_describes(
    prism: str, twilio_spec: dict[str, Any]
) -> None:
    sender, http = sender_for(prism)
    message_sid = asyncio.run(sender.send(SMS, "Mary needs help: press the link"))
    call_sid = asyncio.run(sender.send(CALL, "玛丽需要帮助。请按1确认"))
    # Prism answers a valid request with the spec's example resource.
    assert re.fullmatch(r"SM[0-9a-fA-F]{32}", message_sid or "")
    assert re.fullmatch(r"CA[0-9a-fA-F]{32}", call_sid or "")

    (sms_request, call_request) = http.sent
    assert sms_request[1] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert call_request[1] == f"/2010-04-01/Accounts/{SID}/Calls.json"
    # Prism ignores fields the spec does not name: a misspelt one would be dropped by
    # Twilio without a word, so every field sent must be one the spec describes.
    assert set(sms_request[2]) <= request_fields(twilio_spec, "Messages")
    assert set(call_request[2]) <= request_fields(twilio_spec, "Calls")
    # The fields the ladder depends on reached the request.
    assert {"To", "From", "Body", "StatusCallback"} <= set(sms_request[2])
    assert {"Twiml", "StatusCallback", "StatusCallbackEvent", "MachineDetection"} <= set(
        call_request[2]
    )


def test_the_mock_refuses_what_twilio_would(prism: str) -> None:
    """The validation is live: a request outside the spec is refused, permanently."""
    sender, _ = sender_for(prism, account_sid="AC-not-an-account")
    with pytest.raises(SendError) as refused:
        asyncio.run(sender.send(SMS, "hello"))
    assert refused.value.code == 422
    assert refused.value.permanent
