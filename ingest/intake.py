"""Turn one raw MQTT message into a ``Received`` model or a ``DeadLetter`` (pure)."""

from __future__ import annotations

import datetime as dt

from schemas import MalformedPayload, decode
from schemas.codec import MAX_PAYLOAD_BYTES
from schemas.records import DeadLetter, Received


def intake(
    topic: str, payload: bytes, received_at: dt.datetime, *, size: int | None = None
) -> Received | DeadLetter:
    """Decode; a payload that fails becomes a dead letter carrying the reason.

    ``size`` is the payload's size on the wire when the transport kept only its head
    (a payload too large to buffer): such a message is a ``too_large`` dead letter.
    """
    if size is not None and size > len(payload):
        return DeadLetter.of(
            received_at=received_at,
            topic=topic,
            reason="too_large",
            detail=f"{size} bytes > {MAX_PAYLOAD_BYTES}",
            payload=payload,
            payload_size=size,
        )
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
