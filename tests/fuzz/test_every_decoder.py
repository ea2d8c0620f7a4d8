"""Every decoder of outside input in one table, fuzzed (issue 10, ``pytest -m fuzz``).

Each decoder gets any bytes (or text), and mutations of a valid input (bytes flipped,
cut, repeated), and must give a value or raise its one documented error: never another
exception, which would crash the caller or, worse, be caught as "something else went
wrong". The table is the list of what Vigil decodes from outside; a new decoder belongs
here. Where a decoder has its own worked vectors and property tests they stay with it
(tests/ingest, tests/schemas); this suite asks only "value or the documented error".

The API is fuzzed by schemathesis (tests/consult_bridge/test_api_fuzz.py), floods and
oversize input by tests/vigil/test_http_edge.py and test_dead_letter_valve.py.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import schemas
from consult_bridge.auth import AuthError, Principal, issue_token, read_token
from ingest.ble.gatt import (
    BATTERY_LEVEL,
    BLOOD_PRESSURE_MEASUREMENT,
    HEART_RATE_MEASUREMENT,
    PLX_CONTINUOUS_MEASUREMENT,
    TEMPERATURE_MEASUREMENT,
    decode_characteristic,
)
from ingest.intake import intake
from ingest.mqtt.errors import MqttProtocolError
from ingest.mqtt.packets import PacketReader, encode_varint
from ingest.wfdb import WfdbError, parse_header
from schemas import EventV1, GatewayStatusV1, MalformedPayload, Sos
from schemas.records import DeadLetter, Received
from schemas.topics import event_topic, gateway_status_topic, parse_topic, telemetry_topic
from storage.sealing import Sealer, SealError, parse_keys
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import step_in_order
from stream_processors.state_codec import StateFormatError, decode_state, encode_state
from tests.factories import vitals_batch
from vigil.contacts_file import load_contacts
from vigil.gateway import parse_bands
from vigil.kafka_topics import Forwarded, decode_forwarded, encode_forwarded
from vigil.profiles import ProfileError, decode_profile, parse_document

pytestmark = [pytest.mark.fuzz]

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
SECRET = "a-token-secret-of-at-least-32-bytes!!"
MARY = Principal(sub="mary", role="wearer", device="wb-0001")
SEALER = Sealer({"k1": b"k" * 32})
BATCH = schemas.encode(vitals_batch(1, device_id="wb-0001", at=NOW))
TOPICS = [telemetry_topic("wb-0001"), event_topic("wb-0001"), gateway_status_topic("gw-1")]
VALID = {
    TOPICS[0]: BATCH,
    TOPICS[1]: schemas.encode(
        EventV1(
            device_id="wb-0001", boot_id=1, seq=2, occurred_at=NOW, event=Sos(press_duration_s=3)
        )
    ),
    TOPICS[2]: schemas.encode(GatewayStatusV1(gateway_id="gw-1", state="online", reported_at=NOW)),
}
STATE = encode_state(
    step_in_order(
        None, vitals_batch(1, device_id="wb-0001", at=NOW), WearerProfile(), ProcessorSettings()
    ).state
)
WFDB_HEADER = b"100 1 360 650000\n100.dat 212 200 11 1024 995 21537 0 MLII\n"  # mitdb 100
CONTACTS = (
    b'wearer_name = "Mary"\nemergency_services = "+447700900999"\n'
    b'[[contacts]]\ncontact_id = "anna"\nname = "Anna"\nphone = "+447700900101"\n'
)
_TOPIC = TOPICS[0].encode()
# CONNACK (v5, no properties), then a QoS 0 PUBLISH of BATCH with no properties.
_PUBLISH = len(_TOPIC).to_bytes(2, "big") + _TOPIC + b"\x00" + BATCH
CONNACK_AND_PUBLISH = b"\x20\x03\x00\x00\x00\x30" + encode_varint(len(_PUBLISH)) + _PUBLISH


class Decoder(msgspec.Struct, frozen=True):
    """A decoder of outside input, a valid input to mutate, and its documented errors."""

    name: str
    decode: Callable[[bytes], object]
    valid: bytes
    errors: tuple[type[BaseException], ...]


def _text(decode: Callable[[str], object]) -> Callable[[bytes], object]:
    """A decoder of text, given what bytes decode to (text arrives as text)."""
    return lambda raw: decode(raw.decode("utf-8", "replace"))


def _intake(raw: bytes) -> object:
    got = intake(TOPICS[len(raw) % 3], raw, NOW)
    assert isinstance(got, Received | DeadLetter)  # never raises: a refusal is a dead letter
    return got


def _packets(raw: bytes) -> object:
    reader = PacketReader("5", max_packet_bytes=4096)
    return [reader.feed(raw[i : i + 7]) for i in range(0, len(raw), 7)]  # split reads too


def _wire(topic: str, raw: bytes) -> object:
    return schemas.decode(topic, raw)


def _state(raw: bytes) -> object:
    return decode_state(raw, WearerProfile(), ProcessorSettings())


DECODERS = [
    *(
        Decoder(f"wire payload on {t.split('/')[2]}", functools.partial(_wire, t), VALID[t],
                (MalformedPayload,))
        for t in TOPICS
    ),
    Decoder("intake (topic and payload to a value or a dead letter)", _intake, BATCH, ()),
    *(
        Decoder(f"GATT 0x{u:04X}", functools.partial(decode_characteristic, u), valid,
                (MalformedPayload,))
        for u, valid in (
            (HEART_RATE_MEASUREMENT, bytes.fromhex("1048e803")),
            (BLOOD_PRESSURE_MEASUREMENT, bytes.fromhex("00780050005a00")),
            (TEMPERATURE_MEASUREMENT, bytes.fromhex("00720100ff")),
            (PLX_CONTINUOUS_MEASUREMENT, bytes.fromhex("0062004800")),
            (BATTERY_LEVEL, bytes.fromhex("55")),
        )
    ),
    Decoder("MQTT packets from the broker", _packets, CONNACK_AND_PUBLISH, (MqttProtocolError,)),
    Decoder(
        "Kafka ingest envelope",
        decode_forwarded,
        encode_forwarded(Forwarded(TOPICS[0], NOW, BATCH)),
        (msgspec.DecodeError,),
    ),
    Decoder("device state from the changelog", _state, STATE, (StateFormatError,)),
    Decoder("stored wearer profile", decode_profile, b"{}", (ProfileError,)),
    Decoder(
        "profile document (TOML)",
        lambda r: parse_document(r, toml=True),
        b'tz = "Europe/London"\n',
        (ProfileError,),
    ),
    Decoder("contacts file (TOML)", lambda r: load_contacts(r, toml=True), CONTACTS,
            (ProfileError,)),
    Decoder(
        "API bearer token",
        _text(lambda t: read_token(t, SECRET)),
        issue_token(MARY, SECRET, now=dt.datetime.now(dt.UTC), ttl_s=3600).encode(),
        (AuthError,),
    ),
    Decoder(
        "sealed value",
        _text(lambda t: SEALER.open(t, "row-1")),
        SEALER.seal(b"96.5", "row-1").encode(),
        (SealError,),
    ),
    Decoder("record keys setting", _text(parse_keys),
            b"k1:" + base64.b64encode(b"r" * 32), (ValueError,)),
    Decoder("WFDB header", _text(parse_header), WFDB_HEADER, (WfdbError,)),
    Decoder("gateway bands setting", _text(parse_bands), b"AA:BB=wb-0001", (ValueError,)),
    Decoder("MQTT topic", _text(parse_topic), TOPICS[0].encode(), ()),
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with a few bytes changed, cut, or a slice repeated."""
    raw = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        match draw(st.sampled_from(["flip", "cut", "repeat", "insert"])):
            case "flip":
                raw[at] = draw(st.integers(0, 255))
            case "cut":
                del raw[at:]
            case "repeat":
                raw[at:at] = raw[at : at + draw(st.integers(1, 16))] * draw(st.integers(1, 50))
            case "insert":
                raw[at:at] = draw(st.binary(min_size=1, max_size=8))
    return bytes(raw)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.name)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_input_gives_a_value_or_the_documented_error(
    decoder: Decoder, data: st.DataObject
) -> None:
    raw = data.draw(st.one_of(st.binary(max_size=512), mutated(decoder.valid)), label="input")
    with contextlib.suppress(*decoder.errors):
        decoder.decode(raw)


@pytest.mark.parametrize("decoder", DECODERS, ids=lambda d: d.name)
def test_the_valid_input_decodes(decoder: Decoder) -> None:
    """The mutations start from an input the decoder takes (else they fuzz the error path)."""
    decoder.decode(decoder.valid)
