"""The stream benchmark measures what it says: many devices, and a state at its bounds."""

from __future__ import annotations

import pytest

from bench.stream import bounded_state, fleet_payloads
from schemas import TelemetryBatchV1, decode
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.state_codec import decode_state, encode_state
from stream_processors.wellbeing import unpacked


def test_the_payloads_spread_over_every_device_in_order() -> None:
    payloads = fleet_payloads(devices=50, messages=150)
    messages = [m for t, p in payloads if isinstance(m := decode(t, p), TelemetryBatchV1)]
    assert len(messages) == 150
    assert all(len(m.samples) == 10 for m in messages)
    assert len({m.device_id for m in messages}) == 50
    seqs = [m.seq for m in messages if m.device_id == "wb-00007"]
    assert seqs == [0, 1, 2]


def test_the_measured_state_is_filled_to_its_bounds_and_survives_the_codec() -> None:
    settings = ProcessorSettings()
    state = bounded_state(settings)
    assert state.retained
    for device_state in (state.checkpoint, *(r.state for r in state.retained)):
        assert device_state is not None
        w = device_state.wellbeing
        assert len(unpacked(w.stress_si)) == settings.wellbeing.stress_baseline_windows
        assert len(w.daily) == settings.wellbeing.history_days
        assert [len(unpacked(x)) for x in (w.day_ln_rmssd, w.day_sdnn, w.day_hf)] == [288] * 3
    back = decode_state(encode_state(state), WearerProfile(), settings)
    assert back.current is not None
    assert len(back.current.wellbeing.daily) == settings.wellbeing.history_days


def test_the_kafka_records_are_keyed_by_their_own_device_and_warm_up_devices_are_apart() -> None:
    pytest.importorskip("aiokafka", reason="the Kafka tier needs the [kafka] extra")
    from bench.stream_kafka import forwarded_values
    from vigil.kafka_topics import decode_forwarded

    measured = forwarded_values(devices=20, messages=40)
    warmup = forwarded_values(devices=8, messages=8, prefix="warm")
    devices = set()
    for key, value in measured + warmup:
        item = decode_forwarded(value)
        message = decode(item.topic, item.payload)
        assert isinstance(message, TelemetryBatchV1)
        assert key == message.device_id.encode()  # one device, one partition
        devices.add(message.device_id)
    assert len(devices) == 28  # no warm-up device is also a measured one
