"""Red device events delivered as they arrive, and not again with their chunk."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import schemas
from ingest.mqtt.source import Inbound
from schemas import Alert
from schemas.events import AnyEventBody, Fall, LowBattery, Sos
from schemas.topics import event_topic, telemetry_topic
from storage.sqlite import SqliteStore
from tests.factories import vitals_batch
from vigil.fast_lane import urgent_alerts
from vigil.pipeline import Pipeline

NOW = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)


def inbound(topic: str, payload: bytes, mid: int) -> Inbound:
    return Inbound(topic, payload, 1, mid, 0, len(payload))


def event(seq: int, body: AnyEventBody, device: str = "wb-1") -> Inbound:
    e = schemas.EventV1(device_id=device, boot_id=1, seq=seq, occurred_at=NOW, event=body)
    return inbound(event_topic(device), schemas.encode(e), seq)


def test_only_red_device_events_are_urgent() -> None:
    chunk = [
        inbound(telemetry_topic("wb-1"), schemas.encode(vitals_batch(1)), 1),
        event(2, Sos(press_duration_s=4.0)),
        event(3, Sos(press_duration_s=1.0)),  # a brush of the key: no alert
        event(4, Fall(moved_after=True)),  # orange: waits for its chunk
        event(5, Fall(moved_after=False)),
        event(6, LowBattery(battery_pct=5)),
        inbound(event_topic("wb-1"), b"{not json", 7),  # the shard dead-letters it
    ]
    urgent = urgent_alerts(chunk, NOW)
    assert [(a.source, a.summary) for a in urgent] == [
        ("sos", "SOS key held"),
        ("fall", "Fall without movement"),
    ]


class Recording:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)


async def test_an_alert_delivered_early_is_not_delivered_again_with_its_chunk(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "vigil.db")
    store.migrate()
    notifier = Recording()
    pipeline = Pipeline(store, [object()], [notifier])  # type: ignore[list-item]
    chunk = [event(1, Sos(press_duration_s=4.0))]
    pipeline.fast_track(chunk)
    pipeline.fast_track(chunk)  # the same message again (a redelivery): not twice
    (alert,) = urgent_alerts(chunk, NOW)
    # The shard stores the alert with the chunk; the chunk's delivery follows.
    with store.transaction() as tx:
        tx.add_alerts([alert])
    assert await pipeline.deliver_pending() == 1
    assert [a.alert_id for a in notifier.alerts] == [alert.alert_id]
    assert store.unnotified_alerts() == []
    store.close()
