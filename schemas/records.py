"""Records ingest hands on: a decoded message with its receive time, or a dead letter."""

from __future__ import annotations

import datetime as dt

import msgspec

from schemas.codec import WireMessage

#: Dead letters keep at most this many raw bytes (the size is kept in full).
DEAD_LETTER_MAX_BYTES = 64 * 1024


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded message with the receive time ingest stamped on it (UTC)."""

    message: WireMessage
    received_at: dt.datetime


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """A payload that failed validation or processing, with why; raw bytes size-bounded."""

    received_at: dt.datetime
    topic: str
    reason: str
    detail: str
    payload: bytes
    payload_size: int

    @classmethod
    def of(
        cls,
        *,
        received_at: dt.datetime,
        topic: str,
        reason: str,
        detail: str,
        payload: bytes,
        payload_size: int | None = None,
    ) -> DeadLetter:
        """Build a dead letter, truncating the topic, detail and payload to their bounds.

        ``payload_size`` is the size on the wire when ``payload`` is only its head.
        """
        return cls(
            received_at=received_at,
            topic=topic[:512],
            reason=reason[:64],
            detail=detail[:1000],
            payload=payload[:DEAD_LETTER_MAX_BYTES],
            payload_size=len(payload) if payload_size is None else payload_size,
        )
