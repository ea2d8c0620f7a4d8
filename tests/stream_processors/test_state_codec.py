"""A device state written to bytes and read back is the same state, and goes on the same."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from device_sim.publisher import FleetPlan, recorded_fleet
from device_sim.scenario import load_scenario
from schemas import TelemetryBatchV1, decode
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedResult, OrderedState, step_in_order
from stream_processors.state_codec import StateFormatError, decode_state, encode_state

SETTINGS = ProcessorSettings(lateness_s=30.0)
PROFILE = WearerProfile(tz="Europe/Berlin")
START = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)


def batches(scenario: str) -> list[TelemetryBatchV1]:
    """A scenario's batches as the pipeline sees them: decoded from the wire."""
    plan = FleetPlan(
        devices=1, rate_hz=1, seconds=240, speed=5, scenarios={"wb-0001": load_scenario(scenario)}
    )
    out = []
    for topic, payload in recorded_fleet(plan, START):
        message = decode(topic, payload)
        assert isinstance(message, TelemetryBatchV1)
        out.append(message)
    return out


def exact(value: object) -> bytes:
    """A byte-exact image (``==`` would call NaN days unequal, and 120 equal to 120.0)."""
    return msgspec.msgpack.encode(msgspec.to_builtins(value))


def as_text(r: OrderedResult) -> list[bytes]:
    return [msgspec.json.encode(a) for a in r.alerts] + [exact(x) for x in (*r.scores, *r.indices)]


@pytest.mark.parametrize("scenario", ["deteriorating", "stressed", "wandering"])
def test_a_state_read_back_is_the_state_written_and_goes_on_identically(scenario: str) -> None:
    messages = batches(scenario)
    # The fourth batch from the end arrives last, so a re-ordering replay is covered too.
    messages.append(messages.pop(-4))
    through_memory: OrderedState | None = None
    through_bytes: OrderedState | None = None
    outputs = 0
    for message in messages:
        a = step_in_order(through_memory, message, PROFILE, SETTINGS)
        restored = (
            None
            if through_bytes is None
            else decode_state(encode_state(through_bytes), PROFILE, SETTINGS)
        )
        if through_bytes is not None:
            assert exact(restored) == exact(through_bytes)
        b = step_in_order(restored, message, PROFILE, SETTINGS)
        assert as_text(a) == as_text(b)
        assert a.order == b.order
        outputs += len(a.alerts) + len(a.scores)
        through_memory, through_bytes = a.state, b.state
    assert outputs > 0
    assert exact(through_memory) == exact(through_bytes)


def test_only_the_checkpoint_state_is_written() -> None:
    """Each retained batch's state is recomputed, so the bytes grow with batches, not states."""
    state: OrderedState | None = None
    for message in batches("stressed"):
        state = step_in_order(state, message, PROFILE, SETTINGS).state
    assert state is not None
    assert len(state.retained) >= 3
    written = len(encode_state(state))
    every_state = sum(len(exact(r.state)) for r in state.retained)
    assert written < len(exact(state.checkpoint)) + every_state / 2


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x01garbage", "not a device state"),
        (msgspec.msgpack.encode([99, None, [], []]), "format 99"),
    ],
)
def test_unreadable_bytes_are_an_error_not_a_fresh_state(data: bytes, why: str) -> None:
    with pytest.raises(StateFormatError, match=why):
        decode_state(data, PROFILE, SETTINGS)


def test_a_state_an_older_worker_wrote_uncompressed_is_still_read() -> None:
    state: OrderedState | None = None
    for message in batches("deteriorating"):
        state = step_in_order(state, message, PROFILE, SETTINGS).state
    assert state is not None
    # Format 3, as a worker before the compressed format wrote it to the changelog.
    retained = tuple((r.key, r.batch, r.alerts, r.indices) for r in state.retained)
    older = msgspec.msgpack.encode(
        msgspec.to_builtins(
            (3, state.checkpoint, retained, state.recent_events), builtin_types=(bytes,)
        )
    )
    newer = encode_state(state)
    assert exact(decode_state(older, PROFILE, SETTINGS)) == exact(state)
    assert exact(decode_state(newer, PROFILE, SETTINGS)) == exact(state)
    assert len(newer) < len(older) / 2  # what the changelog carries per device
