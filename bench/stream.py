"""Stream processing at fleet scale: the embedded runner with many devices, and state memory.

Two measurements, each beside its baseline in the same run:

* **embedded**: ``vigil run`` (embedded defaults: SQLite) draining a Mosquitto queue of
  ``--messages`` 10-sample batches from ``--devices`` devices, so the processors hold
  state for every device; once with one shard, once with ``--shards`` child-process
  shards. The queue is filled while Vigil is stopped (its persistent
  session keeps it), so the publisher's speed is not measured. Baseline: ``mosquitto_sub``
  draining the same queue the same way (QoS 1, persistent session).
* **memory**: one device's processor state at its bounds (a day of 5-minute stress windows,
  the day's window values just before the day closes, six weeks of daily aggregates, a
  full open HRV window, the lateness window's retained batches), decoded from its
  changelog bytes once per device for ``--state-devices`` devices, measured with
  tracemalloc. Baselines: the same state as changelog bytes (``state_codec``), and a
  naive state that keeps only each vital's latest value.

The Faust worker against a naive agent, and two workers against one, are measured by
``bench/stream_kafka.py``.

Usage: ``python -m bench.stream [--devices 10000] [--messages 30000] [--state-devices 10000]
[--shards 2]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

import msgspec

import schemas
from bench._report import final_line, write_section
from bench.ingest import ten_samples
from device_sim.publisher import FleetPlan, MqttPublisher, fleet_batches
from device_sim.scenario import load_scenario
from schemas.topics import TELEMETRY_FILTER, telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.event_time import OrderedState, step_in_order
from stream_processors.state_codec import decode_state, encode_state
from stream_processors.wellbeing import DailyAggregate, packed, packed_days
from vigil.local_servers import MosquittoProcess

SAMPLES = 10


def fleet_payloads(devices: int, messages: int, prefix: str = "wb") -> list[tuple[str, bytes]]:
    """``messages`` batches of ten samples, round-robin over ``devices`` devices."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    out = []
    for i in range(messages):
        device, seq = f"{prefix}-{i % devices:05d}", i // devices
        t = start + dt.timedelta(seconds=seq)
        batch = schemas.TelemetryBatchV1(
            device_id=device, boot_id=1, seq=seq, sent_at=t, samples=ten_samples(t, seq)
        )
        out.append((telemetry_topic(device), schemas.encode(batch)))
    return out


def publish(port: int, payloads: list[tuple[str, bytes]]) -> None:
    publisher = MqttPublisher("127.0.0.1", port, client_id=f"bench-pub-{uuid.uuid4().hex[:6]}")
    publisher.connect()
    try:
        for topic, payload in payloads:
            publisher.publish(topic, payload)
        if publisher.flush(timeout_s=120):
            raise RuntimeError("the broker did not take every message")
    finally:
        publisher.close()


def sub_baseline(port: int, payloads: list[tuple[str, bytes]]) -> float:
    """Seconds for ``mosquitto_sub`` to drain the same queue from a persistent session."""
    client = f"bench-sub-{uuid.uuid4().hex[:6]}"
    base = ["mosquitto_sub", "-p", str(port), "-q", "1", "-c", "-i", client, "-t", TELEMETRY_FILTER]
    subprocess.run([*base, "-E"], check=True)  # subscribe, then leave the session queueing
    publish(port, payloads)
    t0 = time.perf_counter()
    subprocess.run([*base, "-C", str(len(payloads))], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def vigil_drain(port: int, payloads: list[tuple[str, bytes]], db: Path, shards: int = 1) -> float:
    """Seconds for ``vigil run`` to store the queue, from its first stored message.

    ``shards`` > 1 runs that many shards in child processes.
    """
    env = {
        **os.environ,
        "VIGIL_SHARDS": str(shards),
        "VIGIL_SHARD_PROCESSES": "true" if shards > 1 else "false",
        "VIGIL_MQTT_PORT": str(port),
        "VIGIL_DATABASE_URL": f"sqlite:///{db}",
        "VIGIL_MQTT_CLIENT_ID": f"bench-vigil-{uuid.uuid4().hex[:6]}",
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "vigil", "run"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    time.sleep(3.0)  # migrated, connected and subscribed: the broker now queues for it
    first.terminate()
    first.wait(timeout=30)
    publish(port, payloads)
    store = SqliteStore(db)
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        count, t0, first_count = 0, 0.0, 0
        deadline = time.perf_counter() + 900
        while count < len(payloads) and time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vigil run exited early with code {proc.returncode}")
            count = store.count_messages()
            if count and not t0:
                t0, first_count = time.perf_counter(), count
            time.sleep(0.05)
        if count != len(payloads):
            raise RuntimeError(f"vigil run stored {count} of {len(payloads)}")
        if first_count == count:
            raise RuntimeError("stored before the first poll: too few messages to time")
        return (time.perf_counter() - t0) * len(payloads) / (len(payloads) - first_count)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        store.close()


def bounded_state(settings: ProcessorSettings) -> OrderedState:
    """A real device's state, its wellbeing history then filled to its bounds."""
    plan = FleetPlan(
        devices=1,
        rate_hz=1,
        seconds=240,
        speed=15,
        scenarios={"wb-0001": load_scenario("stressed")},
    )
    state: OrderedState | None = None
    for _tick, _band, batch in fleet_batches(plan, dt.datetime(2026, 11, 2, 7, tzinfo=dt.UTC)):
        decoded = schemas.decode(telemetry_topic(batch.device_id), schemas.encode(batch))
        if not isinstance(decoded, schemas.TelemetryBatchV1):
            raise TypeError(type(decoded).__name__)
        state = step_in_order(state, decoded, WearerProfile(), settings).state
    if state is None or state.current is None:
        raise RuntimeError("the scenario produced no state")
    w = settings.wellbeing
    wellbeing = state.current.wellbeing
    days = tuple(
        DailyAggregate(dt.date(2026, 9, 1) + dt.timedelta(days=d), 3.5, 45.0, 400.0, 6000.0, 7.2)
        for d in range(w.history_days)
    )
    full = msgspec.structs.replace(
        wellbeing,
        stress_si=packed(100.0 + i % 17 for i in range(w.stress_baseline_windows)),
        stress_lf_hf=packed(1.5 + (i % 7) / 10 for i in range(w.stress_baseline_windows)),
        window_rr=packed(850.0 + i % 23 for i in range(400)),  # a full 5-minute window
        # The day's window values just before it closes: a day of 5-minute windows.
        day_ln_rmssd=packed(3.4 + (i % 11) / 50 for i in range(288)),
        day_sdnn=packed(40.0 + i % 13 for i in range(288)),
        day_hf=packed(300.0 + i % 29 for i in range(288)),
        days=packed_days(days),
    )

    def filled(s: object) -> object:
        return msgspec.structs.replace(s, wellbeing=full)  # type: ignore[type-var]

    return msgspec.structs.replace(
        state,
        checkpoint=filled(state.checkpoint) if state.checkpoint else None,
        retained=tuple(msgspec.structs.replace(r, state=filled(r.state)) for r in state.retained),
    )


def measured_bytes(make: object, count: int) -> float:
    """Bytes per object that ``make()`` allocates and keeps, over ``count`` objects."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [make() for _ in range(count)]  # type: ignore[operator]
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / count


def main() -> None:
    """Run both measurements and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--state-devices", type=int, default=10_000)
    parser.add_argument(
        "--shards", type=int, default=2, help="child-process shards of the sharded run"
    )
    args = parser.parse_args()
    n = args.messages

    payloads = fleet_payloads(args.devices, n)
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(Path(tmp) / "broker") as broker:
        sub_s = sub_baseline(broker.port, payloads)
        vigil_s = vigil_drain(broker.port, payloads, Path(tmp) / "vigil.db")
        sharded_s = vigil_drain(broker.port, payloads, Path(tmp) / "sharded.db", args.shards)

    settings = ProcessorSettings()
    state = bounded_state(settings)
    changelog = encode_state(state)
    profile = WearerProfile()

    def copy() -> OrderedState:
        # Each device gets objects of its own, built as a recovering worker builds them
        # (the retained batches stepped again, so their states share what did not change).
        return decode_state(changelog, profile, settings)

    state_bytes = measured_bytes(copy, args.state_devices)
    latest = {f"v{i}": 97.0 + i for i in range(7)}
    naive_bytes = measured_bytes(lambda: {k: float(v) for k, v in latest.items()}, 10_000)
    changelog_bytes = len(changelog)

    figures = {
        "devices": args.devices,
        "messages": n,
        "samples_per_message": SAMPLES,
        "vigil_messages_per_s": round(n / vigil_s),
        "sub_baseline_messages_per_s": round(n / sub_s),
        "ratio_to_sub_baseline": round(sub_s / vigil_s, 3),
        "shards": args.shards,
        "sharded_messages_per_s": round(n / sharded_s),
        "sharded_ratio_to_one_shard": round(vigil_s / sharded_s, 2),
        "sharded_ratio_to_sub_baseline": round(sub_s / sharded_s, 3),
        "state_devices": args.state_devices,
        "state_bytes_per_device": round(state_bytes),
        "state_gb_per_100k_devices": round(state_bytes * 100_000 / 1e9, 2),
        "changelog_bytes_per_device": changelog_bytes,
        "naive_latest_values_bytes_per_device": round(naive_bytes),
        "state_ratio_to_changelog_bytes": round(state_bytes / changelog_bytes, 2),
        "state_ratio_to_naive": round(state_bytes / naive_bytes, 1),
    }
    write_section(
        "stream",
        f"python -m bench.stream --devices {args.devices} --messages {n} "
        f"--state-devices {args.state_devices} --shards {args.shards}",
        figures,
        "Embedded: `vigil run` on its embedded defaults (SQLite) drains a Mosquitto queue of "
        "10-sample batches from every device in turn, so each message meets a different "
        "device's state; the baseline is `mosquitto_sub` draining the same queue (QoS 1, "
        "persistent session). It runs once with one shard (one process scores and stores) "
        "and once with its devices sharded over `--shards` child processes "
        "(`VIGIL_SHARDS`, `VIGIL_SHARD_PROCESSES=true`), each draining a fresh queue into a "
        "fresh database. Memory: a real device's state with its wellbeing history filled "
        "to its bounds (288 stress windows, a day's 288 window values, 42 days, a full HRV "
        "window), one copy per "
        "device decoded from its changelog bytes as a recovering worker does (the retained "
        "batches stepped again, sharing what they did not change), measured with "
        "tracemalloc; beside it the same state as changelog bytes and a naive "
        "latest-values dict. The Faust worker figures (one worker against a naive "
        "agent, two against one) are in the stream_kafka section.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
