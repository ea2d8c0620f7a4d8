"""Sans-I/O MQTT codec for a subscribing client: bytes in, packets out (MQTT 5 and 3.1.1).

Only the subset an ingest subscriber needs: it encodes CONNECT, SUBSCRIBE, PUBACK,
PINGREQ and DISCONNECT, and parses what a broker sends to such a client (CONNACK,
PUBLISH, SUBACK, PINGRESP, DISCONNECT). Sources: OASIS MQTT Version 5.0 (2019),
sections 2 (packet format, properties) and 3 (control packets); MQTT 3.1.1 (2014),
sections 2 and 3.

Like h11, no I/O happens here: ``PacketReader.feed`` takes whatever bytes the socket
gave (any split, one byte at a time included) and returns the complete packets, or
raises ``MqttProtocolError``. Memory is bounded: a PUBLISH larger than
``max_packet_bytes`` is not buffered; its head is kept (topic, packet id and the
first part of the payload) and the rest is discarded as it arrives, so the message
can still be acknowledged and dead-lettered as too large.

Why not paho-mqtt: in a ``py-spy record`` profile of ``vigil run`` during
``python -m bench.ingest``, paho's Python network loop (one ``recv`` per header byte, a
callback and a thread hop per message) took more of the single interpreter than
decoding, scoring and storing together.
"""

from __future__ import annotations

import struct
from typing import Final, Literal

import msgspec

from ingest.mqtt.errors import MqttProtocolError

Protocol = Literal["5", "3.1.1"]

CONNECT: Final = 1
CONNACK: Final = 2
PUBLISH: Final = 3
PUBACK: Final = 4
SUBSCRIBE: Final = 8
SUBACK: Final = 9
PINGREQ: Final = 12
PINGRESP: Final = 13
DISCONNECT: Final = 14

MAX_REMAINING_LENGTH: Final = 268_435_455  # four-byte variable integer (MQTT 5 s1.5.5)
_HEAD_KEEP_BYTES: Final = 70_000  # topic (<= 65,537) + packet id + small properties

# Property identifier -> wire type (MQTT 5 section 2.2.2.2, table 2-4).
_BYTE, _TWO, _FOUR, _VARINT, _UTF8, _BINARY, _PAIR = range(7)
_PROPERTY_TYPES: Final = {
    0x01: _BYTE,  # Payload Format Indicator
    0x02: _FOUR,  # Message Expiry Interval
    0x03: _UTF8,  # Content Type
    0x08: _UTF8,  # Response Topic
    0x09: _BINARY,  # Correlation Data
    0x0B: _VARINT,  # Subscription Identifier
    0x11: _FOUR,  # Session Expiry Interval
    0x12: _UTF8,  # Assigned Client Identifier
    0x13: _TWO,  # Server Keep Alive
    0x15: _UTF8,  # Authentication Method
    0x16: _BINARY,  # Authentication Data
    0x17: _BYTE,  # Request Problem Information
    0x18: _FOUR,  # Will Delay Interval
    0x19: _BYTE,  # Request Response Information
    0x1A: _UTF8,  # Response Information
    0x1C: _UTF8,  # Server Reference
    0x1F: _UTF8,  # Reason String
    0x21: _TWO,  # Receive Maximum
    0x22: _TWO,  # Topic Alias Maximum
    0x23: _TWO,  # Topic Alias
    0x24: _BYTE,  # Maximum QoS
    0x25: _BYTE,  # Retain Available
    0x26: _PAIR,  # User Property
    0x27: _FOUR,  # Maximum Packet Size
    0x28: _BYTE,  # Wildcard Subscription Available
    0x29: _BYTE,  # Subscription Identifier Available
    0x2A: _BYTE,  # Shared Subscription Available
}
SERVER_KEEP_ALIVE: Final = 0x13
REASON_STRING: Final = 0x1F

# CONNACK refusals that a retry cannot fix (MQTT 5 table 3-1; 3.1.1 table 3.1).
_V5_BAD_CREDENTIALS: Final = frozenset({0x86, 0x87, 0x8C})
_V311_BAD_CREDENTIALS: Final = frozenset({4, 5})


class ConnAck(msgspec.Struct, frozen=True):
    """The broker's answer to CONNECT."""

    session_present: bool
    reason_code: int
    properties: dict[int, object]
    protocol: Protocol

    @property
    def accepted(self) -> bool:
        """True when the connection was accepted."""
        return self.reason_code == 0

    @property
    def bad_credentials(self) -> bool:
        """True when the refusal is about who we are (a human must act)."""
        codes = _V5_BAD_CREDENTIALS if self.protocol == "5" else _V311_BAD_CREDENTIALS
        return self.reason_code in codes

    @property
    def server_keep_alive_s(self) -> int | None:
        """A keep-alive the broker imposes instead of ours (MQTT 5 s3.2.2.3.14)."""
        value = self.properties.get(SERVER_KEEP_ALIVE)
        return value if isinstance(value, int) else None


class Publish(msgspec.Struct, frozen=True):
    """An application message; ``payload`` is cut short when ``size`` exceeds the bound."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    size: int
    dup: bool = False
    retain: bool = False

    @property
    def truncated(self) -> bool:
        """True when only the head of an oversize payload was kept."""
        return len(self.payload) < self.size


class SubAck(msgspec.Struct, frozen=True):
    """The broker's answer to SUBSCRIBE: one reason code per filter."""

    packet_id: int
    reason_codes: tuple[int, ...]

    @property
    def refused(self) -> tuple[int, ...]:
        """Reason codes that refused a filter (0x80 and above in both versions)."""
        return tuple(c for c in self.reason_codes if c >= 0x80)


class PingResp(msgspec.Struct, frozen=True):
    """Answer to PINGREQ."""


class Disconnect(msgspec.Struct, frozen=True):
    """The broker is closing the connection (MQTT 5 carries a reason)."""

    reason_code: int = 0


Packet = ConnAck | Publish | SubAck | PingResp | Disconnect


# -- encoding ---------------------------------------------------------------------------


def encode_varint(value: int) -> bytes:
    """The variable byte integer of MQTT 5 section 1.5.5."""
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError(f"variable byte integer out of range: {value}")
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _utf8(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise ValueError("string longer than 65,535 bytes")
    return struct.pack(">H", len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_varint(len(body)) + body


def encode_connect(
    *,
    client_id: str,
    protocol: Protocol,
    keepalive_s: int,
    clean_start: bool,
    session_expiry_s: int = 0,
    receive_maximum: int = 65_535,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT (MQTT 5 s3.1; 3.1.1 s3.1). In 3.1.1, ``clean_start`` is Clean Session."""
    if not 0 <= keepalive_s <= 0xFFFF:
        raise ValueError("keep-alive out of range")
    if not 1 <= receive_maximum <= 0xFFFF:
        raise ValueError("Receive Maximum must be 1..65535")
    if password is not None and username is None and protocol == "3.1.1":
        raise ValueError("MQTT 3.1.1 needs a user name with a password")
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    level = 5 if protocol == "5" else 4
    body = bytearray(_utf8("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive_s))
    if protocol == "5":
        props = struct.pack(">BI", 0x11, session_expiry_s) + struct.pack(
            ">BH", 0x21, receive_maximum
        )
        body += encode_varint(len(props)) + props
    body += _utf8(client_id)
    if username is not None:
        body += _utf8(username)
    if password is not None:
        body += _utf8(password)
    return _packet(CONNECT << 4, bytes(body))


def encode_subscribe(packet_id: int, filters: list[str], *, qos: int, protocol: Protocol) -> bytes:
    """SUBSCRIBE with one QoS for every filter (fixed-header flags 0b0010)."""
    if not 1 <= packet_id <= 0xFFFF:
        raise ValueError("packet id must be 1..65535")
    if not filters:
        raise ValueError("SUBSCRIBE needs at least one filter")
    body = bytearray(struct.pack(">H", packet_id))
    if protocol == "5":
        body += b"\x00"  # no properties
    for f in filters:
        body += _utf8(f) + bytes([qos])
    return _packet((SUBSCRIBE << 4) | 0x02, bytes(body))


_PUBACK = struct.Struct(">BBH")


def encode_puback(packet_id: int) -> bytes:
    """PUBACK; with remaining length 2 it means success in MQTT 5 too (s3.4.2.1)."""
    return _PUBACK.pack(PUBACK << 4, 2, packet_id)


PINGREQ_BYTES: Final = bytes([PINGREQ << 4, 0])
# Remaining length 0: reason "normal disconnection", the session is kept (MQTT 5 s3.14.2.1).
DISCONNECT_BYTES: Final = bytes([DISCONNECT << 4, 0])


# -- decoding ---------------------------------------------------------------------------


def _read_varint(buf: bytes | bytearray, pos: int, end: int) -> tuple[int, int] | None:
    """(value, next position), or None when ``buf`` ends before the integer does."""
    value = 0
    for i in range(4):
        if pos + i >= end:
            return None
        byte = buf[pos + i]
        value += (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise MqttProtocolError("malformed variable byte integer")


def _varint_in(body: bytes, pos: int) -> tuple[int, int]:
    got = _read_varint(body, pos, len(body))
    if got is None:
        raise MqttProtocolError("truncated variable byte integer")
    return got


def _string_in(body: bytes, pos: int) -> tuple[str, int]:
    raw, pos = _binary_in(body, pos)
    try:
        return raw.decode(), pos
    except UnicodeDecodeError as exc:
        raise MqttProtocolError("string is not UTF-8") from exc


def _binary_in(body: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(body):
        raise MqttProtocolError("truncated length prefix")
    (n,) = struct.unpack_from(">H", body, pos)
    pos += 2
    if pos + n > len(body):
        raise MqttProtocolError("truncated string or binary data")
    return bytes(body[pos : pos + n]), pos + n


def parse_properties(body: bytes, pos: int) -> tuple[dict[int, object], int]:
    """An MQTT 5 property block: {identifier: value}; user properties become a list."""
    length, pos = _varint_in(body, pos)
    end = pos + length
    if end > len(body):
        raise MqttProtocolError("properties run past the packet")
    props: dict[int, object] = {}
    block = body[:end]
    while pos < end:
        ident = block[pos]
        kind = _PROPERTY_TYPES.get(ident)
        pos += 1
        value: object
        if kind is None:
            raise MqttProtocolError(f"unknown property 0x{ident:02x}")
        if kind in (_BYTE, _TWO, _FOUR):
            width = {_BYTE: 1, _TWO: 2, _FOUR: 4}[kind]
            if pos + width > end:
                raise MqttProtocolError("truncated property")
            value = int.from_bytes(block[pos : pos + width], "big")
            pos += width
        elif kind == _VARINT:
            value, pos = _varint_in(block, pos)
        elif kind == _UTF8:
            value, pos = _string_in(block, pos)
        elif kind == _BINARY:
            value, pos = _binary_in(block, pos)
        else:
            key, pos = _string_in(block, pos)
            val, pos = _string_in(block, pos)
            pairs = props.setdefault(ident, [])
            assert isinstance(pairs, list)  # noqa: S101 - only pairs are stored as lists
            pairs.append((key, val))
            continue
        props[ident] = value
    return props, end


class PacketReader:
    """Incremental parser of broker-to-client packets."""

    def __init__(self, protocol: Protocol, *, max_packet_bytes: int = 1 << 20) -> None:
        self.protocol = protocol
        self.max_packet_bytes = max_packet_bytes
        self._buf = bytearray()
        self._discard = 0  # bytes of an oversize PUBLISH still to throw away

    def feed(self, data: bytes) -> list[Packet]:
        """Add bytes from the socket; return the packets they complete, in order."""
        if self._discard:
            skipped = min(self._discard, len(data))
            self._discard -= skipped
            data = data[skipped:]
        buf = self._buf
        buf += data
        out: list[Packet] = []
        pos, end = 0, len(buf)
        v5 = self.protocol == "5"
        while pos < end:
            header = _read_varint(buf, pos + 1, end)
            if header is None:
                break
            remaining, start = header
            first = buf[pos]
            kind = first >> 4
            if remaining > self.max_packet_bytes:
                head_len = min(remaining, _HEAD_KEEP_BYTES)
                if start + head_len > end:
                    break
                if kind != PUBLISH:
                    raise MqttProtocolError(f"oversize packet of type {kind}")
                out.append(
                    self._publish(first, bytes(buf[start : start + head_len]), v5, remaining)
                )
                self._discard = remaining - (end - start) if end - start < remaining else 0
                pos = min(end, start + remaining)
                continue
            stop = start + remaining
            if stop > end:
                break
            body = bytes(buf[start:stop])
            pos = stop
            if kind == PUBLISH:
                out.append(self._publish(first, body, v5, remaining))
            else:
                out.append(self._control(kind, body, v5))
        del buf[:pos]
        return out

    def _publish(self, first: int, body: bytes, v5: bool, remaining: int) -> Publish:
        qos = (first >> 1) & 0x03
        if qos == 3:
            raise MqttProtocolError("PUBLISH with QoS 3")
        topic, pos = _string_in(body, 0)
        packet_id = 0
        if qos:
            if pos + 2 > len(body):
                raise MqttProtocolError("PUBLISH without packet id")
            packet_id = (body[pos] << 8) | body[pos + 1]
            pos += 2
        if v5:
            length, pos = _varint_in(body, pos)
            pos += length  # properties are not needed here (topic aliases are not enabled)
            if pos > len(body):
                raise MqttProtocolError("PUBLISH properties run past the packet")
        if not topic:
            raise MqttProtocolError("PUBLISH with an empty topic")
        return Publish(
            topic,
            body[pos:],
            qos,
            packet_id,
            remaining - pos,
            bool(first & 0x08),
            bool(first & 0x01),
        )

    def _control(self, kind: int, body: bytes, v5: bool) -> Packet:
        if kind == CONNACK:
            if len(body) < 2:
                raise MqttProtocolError("short CONNACK")
            props: dict[int, object] = {}
            if v5 and len(body) > 2:
                props, _ = parse_properties(body, 2)
            return ConnAck(bool(body[0] & 0x01), body[1], props, self.protocol)
        if kind == SUBACK:
            if len(body) < 3:
                raise MqttProtocolError("short SUBACK")
            packet_id = (body[0] << 8) | body[1]
            pos = 2
            if v5:
                _, pos = parse_properties(body, pos)
            return SubAck(packet_id, tuple(body[pos:]))
        if kind == PINGRESP:
            return PingResp()
        if kind == DISCONNECT and v5:
            return Disconnect(body[0] if body else 0)
        raise MqttProtocolError(f"unexpected packet type {kind} for a subscriber")
