"""The sans-I/O MQTT codec: spec byte layouts, any split of the input, and fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.mqtt.errors import MqttProtocolError
from ingest.mqtt.packets import (
    ConnAck,
    Disconnect,
    PacketReader,
    PingResp,
    Protocol,
    Publish,
    SubAck,
    encode_connect,
    encode_puback,
    encode_subscribe,
    encode_varint,
)


def publish_bytes(
    topic: str, payload: bytes, *, qos: int = 1, packet_id: int = 7, v5: bool = True
) -> bytes:
    """A broker-to-client PUBLISH built by hand from MQTT 5 s3.3 (or 3.1.1 s3.3)."""
    body = struct.pack(">H", len(topic.encode())) + topic.encode()
    if qos:
        body += struct.pack(">H", packet_id)
    if v5:
        props = b"\x01\x01"  # Payload Format Indicator = UTF-8, to be skipped
        body += encode_varint(len(props)) + props
    body += payload
    return bytes([0x30 | (qos << 1)]) + encode_varint(len(body)) + body


@pytest.mark.parametrize(
    ("value", "encoded"),
    [  # MQTT 5 section 1.5.5, table 1-1 boundaries
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16_383, b"\xff\x7f"),
        (16_384, b"\x80\x80\x01"),
        (2_097_151, b"\xff\xff\x7f"),
        (2_097_152, b"\x80\x80\x80\x01"),
        (268_435_455, b"\xff\xff\xff\x7f"),
    ],
)
def test_variable_byte_integer_matches_the_spec_table(value: int, encoded: bytes) -> None:
    assert encode_varint(value) == encoded


def test_varint_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_varint(268_435_456)


def test_connect_v5_carries_clean_start_false_session_expiry_and_receive_maximum() -> None:
    raw = encode_connect(
        client_id="ingest",
        protocol="5",
        keepalive_s=30,
        clean_start=False,
        session_expiry_s=3600,
        receive_maximum=500,
        username="u",
        password="p",
    )
    body = (
        b"\x00\x04MQTT\x05"
        + bytes([0x80 | 0x40])  # user name and password, no clean start
        + b"\x00\x1e"
        + b"\x08"  # properties: 5 + 3 bytes
        + b"\x11\x00\x00\x0e\x10"  # Session Expiry Interval 3600
        + b"\x21\x01\xf4"  # Receive Maximum 500
        + b"\x00\x06ingest\x00\x01u\x00\x01p"
    )
    assert raw == b"\x10" + encode_varint(len(body)) + body


def test_connect_311_clean_session_flag_and_no_properties() -> None:
    raw = encode_connect(client_id="c", protocol="3.1.1", keepalive_s=60, clean_start=True)
    assert raw == b"\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x01c"


def test_subscribe_and_puback_layouts() -> None:
    assert encode_subscribe(1, ["a/#"], qos=1, protocol="5") == (
        b"\x82\x09\x00\x01\x00\x00\x03a/#\x01"
    )
    assert encode_subscribe(1, ["a/#"], qos=1, protocol="3.1.1") == (
        b"\x82\x08\x00\x01\x00\x03a/#\x01"
    )
    assert encode_puback(0x1234) == b"\x40\x02\x12\x34"


def test_control_packets_parse() -> None:
    reader = PacketReader("5")
    connack_props = b"\x13\x00\x0a"  # Server Keep Alive 10 s
    data = (
        b"\x20\x06\x01\x00\x03"
        + connack_props
        + b"\x90\x04\x00\x01\x00\x01"  # SUBACK id 1, no properties, granted QoS 1
        + b"\xd0\x00"
        + b"\xe0\x01\x8e"  # DISCONNECT: session taken over
    )
    connack, suback, pong, disconnect = reader.feed(data)
    assert connack == ConnAck(True, 0, {0x13: 10}, "5")
    assert isinstance(connack, ConnAck)
    assert connack.server_keep_alive_s == 10
    assert suback == SubAck(1, (1,))
    assert isinstance(pong, PingResp)
    assert disconnect == Disconnect(0x8E)


@pytest.mark.parametrize(
    ("protocol", "code", "bad_credentials"),
    [
        ("5", 0x86, True),
        ("5", 0x87, True),
        ("5", 0x88, False),
        ("3.1.1", 5, True),
        ("3.1.1", 3, False),
    ],
)
def test_connack_refusals_say_whether_a_human_must_act(
    protocol: Protocol, code: int, bad_credentials: bool
) -> None:
    body = bytes([0, code]) + (b"\x00" if protocol == "5" else b"")
    (connack,) = PacketReader(protocol).feed(b"\x20" + encode_varint(len(body)) + body)
    assert isinstance(connack, ConnAck)
    assert not connack.accepted
    assert connack.bad_credentials is bad_credentials


def test_suback_refusal_is_visible() -> None:
    (suback,) = PacketReader("3.1.1").feed(b"\x90\x03\x00\x01\x80")
    assert isinstance(suback, SubAck)
    assert suback.refused == (0x80,)


@pytest.mark.parametrize("v5", [True, False])
def test_publishes_survive_any_split_including_one_byte_at_a_time(v5: bool) -> None:
    protocol: Protocol = "5" if v5 else "3.1.1"
    stream = b"".join(
        publish_bytes(f"vigil/v1/telemetry/wb-{i}", bytes([i]) * (i * 40), packet_id=i + 1, v5=v5)
        for i in range(5)
    )
    whole = PacketReader(protocol).feed(stream)
    reader = PacketReader(protocol)
    bytewise = [p for i in range(len(stream)) for p in reader.feed(stream[i : i + 1])]
    assert whole == bytewise
    assert [(p.topic, p.packet_id, len(p.payload)) for p in whole if isinstance(p, Publish)] == [
        (f"vigil/v1/telemetry/wb-{i}", i + 1, i * 40) for i in range(5)
    ]


def test_qos0_publish_has_no_packet_id() -> None:
    (p,) = PacketReader("5").feed(publish_bytes("t", b"hello", qos=0))
    assert p == Publish("t", b"hello", 0, 0, 5)


def test_oversize_publish_keeps_its_head_and_skips_the_rest() -> None:
    big = publish_bytes("vigil/v1/telemetry/wb-1", b"x" * 300_000, packet_id=9)
    after = publish_bytes("vigil/v1/telemetry/wb-1", b"small", packet_id=10)
    reader = PacketReader("5", max_packet_bytes=100_000)
    got = []
    stream = big + after
    for start in range(0, len(stream), 4096):  # as a socket would hand it over
        got += reader.feed(stream[start : start + 4096])
    first, second = got
    assert isinstance(first, Publish)
    assert first.packet_id == 9  # so it can still be acknowledged
    assert first.truncated
    assert first.size == 300_000
    assert len(first.payload) < 100_000
    assert second == Publish("vigil/v1/telemetry/wb-1", b"small", 1, 10, 5)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x30\xff\xff\xff\xff\x01", "variable byte integer"),
        (b"\x36\x05\x00\x01t\x00\x01", "QoS 3"),
        (b"\x32\x03\x00\x05t", "truncated"),
        (b"\x50\x02\x00\x01", "unexpected packet type 5"),
        (b"\x20\x01\x00", "short CONNACK"),
        (b"\x20\x05\x00\x00\x02\x7f\x00", "unknown property"),
        (b"\x32\x05\x00\x00\x00\x01\x00", "empty topic"),
    ],
)
def test_malformed_input_is_one_protocol_error(data: bytes, match: str) -> None:
    with pytest.raises(MqttProtocolError, match=match):
        PacketReader("5").feed(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(["5", "3.1.1"]))
def test_any_bytes_give_packets_or_one_protocol_error(data: bytes, protocol: Protocol) -> None:
    reader = PacketReader(protocol, max_packet_bytes=64)
    try:
        packets = reader.feed(data)
    except MqttProtocolError:
        return
    assert all(isinstance(p, ConnAck | Publish | SubAck | PingResp | Disconnect) for p in packets)
