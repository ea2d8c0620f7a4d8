"""Turn one raw MQTT message into a ``Received`` model or a ``DeadLetter`` (pure)."""

from __future__ import annotations

import datetime as dt

from schemas import MalformedPayload, decode
from schemas.records import DeadLetter, Received


def intake(topic: str, payload: bytes, received_at: dt.datetime) -> Received | DeadLetter:
    """Decode; a payload that fails becomes a dead letter carrying the reason."""
    try:
        return Received(message=decode(topic, payload), received_at=received_at)
    except MalformedPayload as exc:
        return DeadLetter.of(
            received_at=received_at,
            topic=topic,
            reason=exc.reason,
            detail=exc.detail,
            payload=payload,
        )
