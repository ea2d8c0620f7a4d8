"""The outgoing webhook that publishes play links to a third-party (education) platform.

``POST`` of the publication as JSON to ``VIGIL_EDUCATION_WEBHOOK_URL``, signed so the
platform can tell it came from this deployment: ``X-Vigil-Timestamp`` (Unix seconds) and
``X-Vigil-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>">`` under
``VIGIL_EDUCATION_WEBHOOK_SECRET`` (the scheme of Stripe's and GitHub's webhooks: the
timestamp inside the MAC lets the platform refuse replays). Any answer but 2xx, or no
answer within the timeout, is a ``PublishError``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any

from consult_bridge.desks import PublishError

TIMEOUT_S = 10.0


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Vigil-Signature`` value for a body sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookPublisher:
    """``consult_bridge.desks.Publisher`` over HTTP."""

    def __init__(self, url: str, secret: str, timeout_s: float = TIMEOUT_S) -> None:
        self.url = url
        self._secret = secret
        self.timeout_s = timeout_s

    def publish(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's setting
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Vigil-Timestamp": timestamp,
                "X-Vigil-Signature": signature(self._secret, timestamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise PublishError(f"HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PublishError(f"unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise PublishError(f"HTTP {status}")
