"""The sharded embedded runner: routing, backpressure, shards end to end.

``vigil run`` runs as a real child process against a private Mosquitto, with two
shards (child processes of their own, or threads in process). The recorded fleet of
the Kafka tier test goes through it, and the stored alerts, scores and index values
must equal the unsharded pipeline's. A shard killed with SIGKILL stops the runner
(exit 5), and a restart stores every message once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import signal
from pathlib import Path

import msgspec
import pytest

from ingest.mqtt.source import Inbound
from schemas import GatewayStatusV1, encode
from schemas.topics import event_topic, gateway_status_topic, telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.fleet import Fleet
from tests.factories import T0, vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from tests.vigil.test_kafka_tier import (
    count_stored,
    embedded_reference,
    publish,
    recorded_input,
    store_profiles,
    stored_outputs,
)
from vigil.local_servers import MosquittoProcess
from vigil.shard_work import ChunkReport, RawMessage, ShardWork
from vigil.shards import LocalShard, Work, route, shard_of


def inbound(topic: str, payload: bytes, mid: int = 1) -> Inbound:
    return Inbound(topic=topic, payload=payload, qos=1, mid=mid, generation=0)


def test_a_device_always_goes_to_one_shard_and_gateway_statuses_to_all() -> None:
    devices = [f"wb-{i:04d}" for i in range(40)]
    chunk = [inbound(telemetry_topic(d), b"{}") for d in devices]
    chunk += [inbound(event_topic(d), b"{}") for d in devices]
    chunk.append(inbound(gateway_status_topic("gw-7"), b"{}"))
    chunk.append(inbound("somebody/else", b"{}"))
    parts = route(chunk, 3)
    for index, (owned, observed) in enumerate(parts):
        for raw in owned:
            device = raw.topic.split("/")[-1]
            if raw.topic.startswith("vigil/v1/gateway"):
                assert shard_of("gw-7", 3) == index
            elif raw.topic == "somebody/else":
                assert index == 0  # it dead-letters there
            else:
                assert shard_of(device, 3) == index
        assert [r.topic for r in observed] == (
            [] if shard_of("gw-7", 3) == index else [gateway_status_topic("gw-7")]
        )
    assert sum(len(owned) for owned, _ in parts) == len(chunk)
    assert len({shard_of(d, 3) for d in devices}) == 3  # the devices do spread out


def test_a_shard_that_observes_a_gateway_status_does_not_store_it(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "v.db")
    store.migrate()
    work = ShardWork(store, Fleet())
    batch = msgspec.structs.replace(vitals_batch(seq=1), gateway_id="gw-1")
    work.process([inbound(telemetry_topic("wb-1"), encode(batch))], T0)
    assert work.fleet.silence_causes()["wb-1"] != "gateway_offline"
    status = GatewayStatusV1(gateway_id="gw-1", state="offline", reported_at=T0)
    report = work.process([], T0, observe=[inbound(gateway_status_topic("gw-1"), encode(status))])
    assert (report.stored, report.dead_letters, store.count_messages()) == (0, 0, 1)
    assert work.fleet.silence_causes()["wb-1"] == "gateway_offline"
    store.close()


def test_a_full_shard_queue_holds_the_runner_back(tmp_path: Path) -> None:
    """Backpressure: with the store's writer lock held elsewhere, jobs stop being taken."""
    db = tmp_path / "v.db"
    store = SqliteStore(db)
    store.migrate()
    batches = [vitals_batch(seq=i) for i in range(1, 5)]
    jobs = [
        Work(
            received_at=T0,
            messages=[RawMessage(telemetry_topic(b.device_id), encode(b))],
            observe=[],
        )
        for b in batches
    ]
    other_writer = Path(f"{db}-writer.lock").open("ab")  # noqa: SIM115 - closed below

    async def scenario() -> tuple[list[bool], int, list[int]]:
        shard = LocalShard(ShardWork(store, Fleet()), capacity=1)
        await shard.start()
        fcntl.flock(other_writer, fcntl.LOCK_EX)  # another process is writing
        first = await shard.submit(jobs[0])  # taken, blocked on the lock
        await asyncio.sleep(0.2)
        second = await shard.submit(jobs[1])  # fills the queue
        third = asyncio.create_task(shard.submit(jobs[2]))
        await asyncio.sleep(0.5)
        waiting = [first.done(), second.done(), third.done()]
        stored_meanwhile = count_stored(db)  # (the shard's connection is busy)
        fcntl.flock(other_writer, fcntl.LOCK_UN)
        futures = [first, second, await third, await shard.submit(jobs[3])]
        reports = await asyncio.gather(*futures)
        await shard.close()
        return waiting, stored_meanwhile, [r.stored for r in reports if isinstance(r, ChunkReport)]

    try:
        waiting, stored_meanwhile, stored = asyncio.run(scenario())
    finally:
        other_writer.close()
    assert waiting == [False, False, False]  # the third submit itself had to wait
    assert stored_meanwhile == 0
    assert stored == [1, 1, 1, 1]
    assert store.count_messages() == 4
    store.close()


def shard_children(pid: int) -> list[int]:
    """The runner's shard processes (Linux /proc)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(c)
        for c in children
        if b"vigil.shard_process" in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


def sharded_env(
    mosquitto: MosquittoProcess, db: Path, *, processes: bool, chunk: int
) -> dict[str, str]:
    """``vigil run`` with two shards and small chunks, so chunks span both shards."""
    return {
        "VIGIL_MQTT_PORT": str(mosquitto.port),
        "VIGIL_MQTT_CLIENT_ID": f"vigil-sharded-{db.stem}",
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
        "VIGIL_SHARDS": "2",
        "VIGIL_SHARD_PROCESSES": str(processes).lower(),
        "VIGIL_INGEST_CHUNK_MAX": str(chunk),
    }


@pytest.mark.mosquitto
@pytest.mark.slow
@pytest.mark.parametrize("processes", [True, False], ids=["child-processes", "in-process"])
def test_sharded_runs_store_what_the_unsharded_pipeline_does(
    mosquitto: MosquittoProcess, tmp_path: Path, processes: bool
) -> None:
    messages = recorded_input()
    reference = embedded_reference(messages, tmp_path / "reference.db")
    assert reference["alerts"]
    assert reference["indices"]
    db = tmp_path / "sharded.db"
    store_profiles(db)
    run = VigilRun(sharded_env(mosquitto, db, processes=processes, chunk=40))
    run.start()
    try:
        assert run.process is not None
        assert len(shard_children(run.process.pid)) == (2 if processes else 0)
        publish(mosquitto, messages)
        wait_for(lambda: count_stored(db) == len(messages) - 3, 60, "every message stored")
        store = SqliteStore(db)
        wait_for(lambda: stored_outputs(store) == reference, 30, "the same outputs")
        assert store.unnotified_alerts() == []
        assert sorted(d.reason for d in store.dead_letters()) == ["invalid_json", "invalid_schema"]
        store.close()
    finally:
        assert run.terminate() == 0
    assert [line for line in run.log if "ERROR" in line] == []


@pytest.mark.mosquitto
@pytest.mark.slow
@pytest.mark.chaos  # kills or restarts mid-stream (docs/security.md)
def test_a_killed_shard_stops_the_runner_and_a_restart_loses_nothing(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    db = tmp_path / "sharded.db"
    env = sharded_env(mosquitto, db, processes=True, chunk=20)
    start = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
    messages = [
        (telemetry_topic(b.device_id), encode(b))
        for seq in range(1, 61)
        for b in (
            vitals_batch(device_id=f"wb-{d}", seq=seq, at=start + dt.timedelta(seconds=seq))
            for d in range(8)
        )
    ]
    first = VigilRun(env)
    first.start()
    assert first.process is not None
    publish(mosquitto, messages[: len(messages) // 2])
    wait_for(lambda: count_stored(db) == len(messages) // 2, 30, "the first half stored")
    victim = shard_children(first.process.pid)[1]
    os.kill(victim, signal.SIGKILL)
    first.process.wait(timeout=30)
    assert first.terminate() == 5
    assert any("shard 1 stopped" in line for line in first.log)
    publish(mosquitto, messages[len(messages) // 2 :])  # queued by the broker meanwhile
    second = VigilRun(env)
    second.start()
    try:
        wait_for(lambda: count_stored(db) == len(messages), 30, "every message stored")
    finally:
        assert second.terminate() == 0
