"""The embedded runner's silence checks: "signal lost" stored and delivered, then resolved.

The pipeline's receive clock is pinned so the test can let 10 minutes pass; the store is
real SQLite and, for ``backend_ok``, the MQTT source is connected to a real Mosquitto.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from ingest.mqtt.source import Inbound, MqttSettings, MqttSource
from schemas import AlertLevel, TelemetryBatchV1, encode
from schemas.topics import INGEST_FILTERS, telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.fleet import Fleet
from tests.stream_processors.test_device import at, vitals_at
from vigil.local_servers import MosquittoProcess
from vigil.pipeline import Pipeline
from vigil.shard_work import ShardWork
from vigil.shards import LocalShard


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def inbound(batch: TelemetryBatchV1, mid: int) -> Inbound:
    return Inbound(
        topic=telemetry_topic(batch.device_id), payload=encode(batch), qos=1, mid=mid, generation=0
    )


def test_a_silent_high_risk_band_raises_signal_lost_and_its_return_resolves_it(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "v.db")
    store.migrate()
    clock = Clock(dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC))
    work = ShardWork(store, Fleet(), clock=clock)

    def receive(batch: TelemetryBatchV1) -> None:
        work.process([inbound(batch, batch.seq)])

    sick = vitals_at(0, hr=135, spo2=89, resp=27)
    receive(TelemetryBatchV1(device_id="wb-1", seq=1, sent_at=at(0), samples=sick))
    clock.now += dt.timedelta(minutes=4)
    assert work.tick(backend_ok=True) == []
    clock.now += dt.timedelta(minutes=2)
    (lost,) = work.tick(backend_ok=True)
    assert (lost.source, lost.level) == ("signal_lost", AlertLevel.ORANGE)
    assert [a.alert_id for a in store.unnotified_alerts() if a.source == "signal_lost"] == [
        lost.alert_id
    ]
    clock.now += dt.timedelta(minutes=3)
    receive(TelemetryBatchV1(device_id="wb-1", seq=2, sent_at=at(540), samples=vitals_at(540)))
    resolved = [a for a in store.alerts("wb-1") if a.change == "resolved"]
    assert [a.refers_to for a in resolved] == [lost.alert_id]
    store.close()


def test_no_silence_is_blamed_on_bands_until_the_runner_has_caught_up(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        store = SqliteStore(tmp_path / "v.db")
        store.migrate()
        settings = MqttSettings(port=mosquitto.port, client_id="silence-test")
        source = MqttSource(settings, INGEST_FILTERS)
        shards = [LocalShard(ShardWork(store, Fleet()))]
        eager = Pipeline(store, shards, [], catch_up_s=0.0)
        careful = Pipeline(store, shards, [], catch_up_s=30.0)
        before = eager.backend_ok(source)  # not connected
        try:
            async with source:
                return before, eager.backend_ok(source), careful.backend_ok(source)
        finally:
            store.close()

    assert asyncio.run(scenario()) == (False, True, False)


def test_a_band_that_went_quiet_while_vigil_was_down_is_still_missed(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    store.migrate()
    clock = Clock(dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC))
    before = ShardWork(store, Fleet(), clock=clock)
    sick = vitals_at(0, hr=135, spo2=89, resp=27)
    batch = TelemetryBatchV1(device_id="wb-1", seq=1, sent_at=at(0), samples=sick)
    before.process([inbound(batch, 1)])
    # Vigil restarts with empty processors; the band never speaks again.
    clock.now += dt.timedelta(minutes=8)
    after = ShardWork(store, Fleet(), clock=clock)
    assert after.commit_tick(backend_ok=True)[1] == []  # knows nothing yet
    assert after.seed_silence_checks() == 1
    _plan, raised = after.commit_tick(backend_ok=True)
    assert [(a.device_id, a.source, a.level) for a in raised] == [
        ("wb-1", "signal_lost", AlertLevel.ORANGE)
    ]
    store.close()
