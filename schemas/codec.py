"""Sans-I/O decoding of ingest messages: topic and bytes in, a wire model or one error out.

Rule 1 of the house style: any input yields a valid model or one ``MalformedPayload``,
never another exception, and the input size is bounded before any parsing.
"""

from __future__ import annotations

import msgspec

from schemas import _constraints
from schemas.errors import MalformedPayload
from schemas.events import EventV1
from schemas.gateway import GatewayStatusV1
from schemas.telemetry import TelemetryBatchV1
from schemas.topics import TopicKind, parse_topic

#: Larger payloads are refused unparsed (an ECG minute at 1 kHz is about 400 KiB).
MAX_PAYLOAD_BYTES = 512 * 1024

WireMessage = TelemetryBatchV1 | EventV1 | GatewayStatusV1

_decoders: dict[TopicKind, msgspec.json.Decoder[WireMessage]] = {
    TopicKind.TELEMETRY: msgspec.json.Decoder(TelemetryBatchV1),
    TopicKind.EVENT: msgspec.json.Decoder(EventV1),
    TopicKind.GATEWAY_STATUS: msgspec.json.Decoder(GatewayStatusV1),
}
_encoder = msgspec.json.Encoder()


def decode(topic: str, payload: bytes) -> WireMessage:
    """Decode one MQTT message received on an ingest topic."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload("too_large", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    parsed = parse_topic(topic)
    if parsed is None:
        raise MalformedPayload("unknown_topic", f"not an ingest topic: {topic[:200]!r}")
    kind, owner = parsed
    try:
        with _constraints.decoding():
            message = _decoders[kind].decode(payload)
    except msgspec.ValidationError as exc:
        raise MalformedPayload("invalid_schema", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise MalformedPayload("invalid_json", str(exc)) from None
    claimed = message.gateway_id if isinstance(message, GatewayStatusV1) else message.device_id
    if claimed != owner:
        # A device may speak only for itself: the topic is what the broker's ACL checks.
        raise MalformedPayload("topic_mismatch", "payload id differs from the topic's id")
    return message


def encode(message: WireMessage) -> bytes:
    """Encode a wire model as compact JSON."""
    return _encoder.encode(message)
