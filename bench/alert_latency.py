"""SOS to Twilio: from an SOS event published to MQTT to the first Twilio request.

``vigil run`` (SQLite, Twilio configured) runs as a child process against a private
Mosquitto and the project's fake Twilio (``device_sim/fake_twilio.py``, in this process,
so the publish and the request's arrival are read on one clock). Each SOS comes from a
wearer of its own with contacts stored and no grace period, so it opens a ladder whose
first action is an SMS to the first emergency contact: the time measured is until that
request reaches the fake. Idle, then under a background of 10-sample telemetry batches
at ``--load-rate`` messages/s from 1,000 other bands.

Baseline, side by side: the same MQTT publish to a plain paho subscriber on the same
broker (the transport alone), idle and under the same load. Target (issue 5): p99 <=
100 ms under 2,000 messages/s.

Once on the embedded SQLite store and once on PostgreSQL when a server is reachable
(``VIGIL_BENCH_POSTGRES_DSN``, default ``postgresql://postgres@127.0.0.1/test``; the role
needs CREATEDB: the run gets a database of its own, dropped at the end).

Usage: ``python -m bench.alert_latency [--sos 100] [--load-rate 2000]``. Writes
BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

import schemas
from alerting.contacts import Contact, Directory
from alerting.ladder import LadderPolicy
from alerting.ladder_store import (
    PostgresLadderStore,
    SqliteLadderStore,
    WearerAlerting,
    ladder_db_path,
)
from bench._report import final_line, write_section
from bench.ingest import ten_samples
from device_sim.fake_twilio import FakeTwilio, Script
from schemas.events import Sos
from schemas.topics import event_topic, telemetry_topic
from storage.postgres import PostgresStore
from storage.sqlite import SqliteStore
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

SID, TOKEN = "AC" + "2" * 32, "bench-token"
FIRST = Contact(contact_id="first", name="First", phone="+447700900201", emergency=True)
BACKGROUND_DEVICES = 1000


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def client(port: int, name: str) -> paho.Client:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:6]}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def sos_payload(device: str, seq: int) -> bytes:
    event = schemas.EventV1(
        device_id=device,
        boot_id=1,
        seq=seq,
        occurred_at=dt.datetime.now(dt.UTC),
        event=Sos(press_duration_s=4.0),
    )
    return schemas.encode(event)


class Background:
    """Telemetry at ``rate`` messages/s from other bands, until stopped."""

    def __init__(self, port: int, rate: float) -> None:
        self.port = port
        self.rate = rate
        self.sent = 0
        self.elapsed = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Background:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        c = client(self.port, "bench-load")
        start = time.monotonic()
        now = dt.datetime.now(dt.UTC)
        while not self._stop.is_set():
            due = int((time.monotonic() - start) * self.rate)
            while self.sent < due:
                device = f"wb-load-{self.sent % BACKGROUND_DEVICES:04d}"
                seq = self.sent // BACKGROUND_DEVICES
                t = now + dt.timedelta(seconds=seq)
                batch = schemas.TelemetryBatchV1(
                    device_id=device, boot_id=1, seq=seq, sent_at=t, samples=ten_samples(t, seq)
                )
                c.publish(telemetry_topic(device), schemas.encode(batch), qos=1)
                self.sent += 1
            time.sleep(0.002)
        self.elapsed = time.monotonic() - start
        c.disconnect()
        c.loop_stop()


def mqtt_baseline(port: int, count: int) -> list[float]:
    """Publish -> a plain subscriber's receipt, ms (the transport alone)."""
    received: dict[str, float] = {}
    done = threading.Event()
    sub = client(port, "bench-baseline-sub")

    def on_message(_c: object, _u: object, msg: paho.MQTTMessage) -> None:
        received[msg.topic] = time.monotonic()
        if len(received) == count:
            done.set()

    sub.on_message = on_message
    sub.subscribe("baseline/#", qos=1)
    time.sleep(0.5)
    pub = client(port, "bench-baseline-pub")
    sent = {}
    for i in range(count):
        topic = f"baseline/{i}"
        sent[topic] = time.monotonic()
        pub.publish(topic, sos_payload("wb-baseline", i + 1), qos=1)
        time.sleep(0.05)
    done.wait(30)
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return [(received[t] - sent[t]) * 1000 for t in sent if t in received]


def first_requests(fake: FakeTwilio) -> dict[str, float]:
    """Per wearer, when its ladder's first request reached the fake."""
    first: dict[str, float] = {}
    for request in list(fake.requests):
        key = request.action_key
        if key is not None:
            device = key.split("/", 1)[0]
            first[device] = min(first.get(device, request.at), request.at)
    return first


def vigil_latencies(port: int, fake: FakeTwilio, first: int, count: int) -> list[float]:
    """Publish an SOS from each of ``count`` wearers; ms until each one's first request."""
    pub = client(port, "bench-sos")
    sent: dict[str, float] = {}
    for i in range(first, first + count):
        device = f"wb-sos-{i:04d}"
        sent[device] = time.monotonic()
        pub.publish(event_topic(device), sos_payload(device, 1), qos=1)
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(sent) <= set(first_requests(fake)):
        time.sleep(0.05)
    pub.disconnect()
    pub.loop_stop()
    arrived = first_requests(fake)
    missing = [d for d in sent if d not in arrived]
    if missing:
        raise RuntimeError(f"no Twilio request for {len(missing)} SOS events")
    return [(arrived[d] - sent[d]) * 1000 for d in sent]


SETUP = WearerAlerting(
    directory=Directory(wearer_name="a wearer", contacts=(FIRST,)),
    policy=LadderPolicy(grace_s=0, call_timeout_s=600),
)


@contextlib.contextmanager
def sqlite_database(tmp: Path, wearers: int) -> Iterator[str]:
    """A migrated SQLite file with the SOS wearers' contacts; its URL."""
    db = tmp / "vigil.db"
    store = SqliteStore(db)
    store.migrate()
    store.close()
    ladders = SqliteLadderStore(ladder_db_path(db))
    for i in range(wearers):
        ladders.put_wearer_alerting(f"wb-sos-{i:04d}", SETUP)
    ladders.close()
    yield f"sqlite:///{db}"


@contextlib.contextmanager
def postgres_database(base_dsn: str, wearers: int) -> Iterator[str]:
    """A database of its own on the server, migrated, with the contacts; dropped after."""
    database = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    dsn = urllib.parse.urlunsplit(urllib.parse.urlsplit(base_dsn)._replace(path=f"/{database}"))
    try:
        store = PostgresStore(dsn)
        store.migrate()
        store.close()
        ladders = PostgresLadderStore(dsn)
        for i in range(wearers):
            ladders.put_wearer_alerting(f"wb-sos-{i:04d}", SETUP)
        ladders.close()
        yield dsn
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {database} WITH (FORCE)")


def measure(broker: MosquittoProcess, database_url: str, sos: int, rate: float) -> dict[str, float]:
    """One backend's figures: idle and loaded latencies beside the MQTT baseline."""
    with FakeTwilio(SID, TOKEN, {FIRST.phone: Script(call="no-answer")}, ring_s=60) as fake:
        webhook_port = free_port()
        env = {
            **os.environ,
            "VIGIL_MQTT_PORT": str(broker.port),
            "VIGIL_MQTT_CLIENT_ID": f"bench-{uuid.uuid4().hex[:6]}",
            "VIGIL_DATABASE_URL": database_url,
            "VIGIL_TWILIO_ACCOUNT_SID": SID,
            "VIGIL_TWILIO_AUTH_TOKEN": TOKEN,
            "VIGIL_TWILIO_FROM": "+447700900000",
            "VIGIL_TWILIO_API_BASE": fake.base_url,
            "VIGIL_PUBLIC_URL": f"http://127.0.0.1:{webhook_port}",
            "VIGIL_WEBHOOK_PORT": str(webhook_port),
            "VIGIL_LOG_LEVEL": "WARNING",
        }
        service = subprocess.Popen(
            [sys.executable, "-m", "vigil", "run"], env=env, stdout=subprocess.DEVNULL
        )
        try:
            time.sleep(3)  # connected and subscribed
            vigil_latencies(broker.port, fake, 2 * sos, 1)  # warm-up, not counted
            idle = vigil_latencies(broker.port, fake, 0, sos)
            idle_base = mqtt_baseline(broker.port, sos)
            with Background(broker.port, rate) as load:
                time.sleep(2)
                loaded = vigil_latencies(broker.port, fake, sos, sos)
                loaded_base = mqtt_baseline(broker.port, sos)
            achieved = load.sent / load.elapsed
        finally:
            service.terminate()
            service.wait(30)
    return {
        "idle_p50_ms": round(statistics.median(idle), 1),
        "idle_p99_ms": round(percentile(idle, 0.99), 1),
        "load_messages_per_s": round(achieved),
        "load_p50_ms": round(statistics.median(loaded), 1),
        "load_p99_ms": round(percentile(loaded, 0.99), 1),
        "mqtt_baseline_idle_p99_ms": round(percentile(idle_base, 0.99), 1),
        "mqtt_baseline_load_p99_ms": round(percentile(loaded_base, 0.99), 1),
        "load_p99_ratio_to_baseline": round(
            percentile(loaded, 0.99) / max(percentile(loaded_base, 0.99), 0.001), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sos", type=int, default=100, help="SOS events idle, and under load")
    parser.add_argument("--load-rate", type=float, default=2000.0)
    args = parser.parse_args()
    base_dsn = os.environ.get("VIGIL_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1/test")
    wearers = 2 * args.sos + 1
    figures: dict[str, float] = {"sos_events": args.sos}
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(Path(tmp) / "mq") as broker:
        with sqlite_database(Path(tmp), wearers) as url:
            measured = measure(broker, url, args.sos, args.load_rate)
        figures |= {f"sqlite_{k}": v for k, v in measured.items()}
        try:
            with psycopg.connect(base_dsn, connect_timeout=3):
                pass
        except psycopg.OperationalError as exc:
            print(f"PostgreSQL not measured: {exc}".strip(), file=sys.stderr)
        else:
            with postgres_database(base_dsn, wearers) as url:
                measured = measure(broker, url, args.sos, args.load_rate)
            figures |= {f"postgres_{k}": v for k, v in measured.items()}
    write_section(
        "alert_latency",
        f"python -m bench.alert_latency --sos {args.sos} --load-rate {args.load_rate:g}",
        figures,
        "From an SOS event published to Mosquitto (QoS 1) to the first request of its ladder "
        "(an SMS to the first emergency contact) at the fake Twilio, through `vigil run` (one "
        "shard) and the official twilio client; each SOS from a wearer of its own, 0.1 s "
        "apart, idle and then under a background of 10-sample telemetry batches from 1,000 "
        "other bands (`load_messages_per_s`, achieved). Once on the embedded SQLite store, "
        "once on PostgreSQL (`VIGIL_BENCH_POSTGRES_DSN`, default the local `test` database; "
        "the benchmark creates a database of its own), when one is reachable. Baseline: the "
        "same publish to a plain paho subscriber on the same broker, under the same "
        "conditions. Target (issue 5): p99 <= 100 ms under 2,000 messages/s. Mosquitto, the "
        "publishers, the fake Twilio, Vigil and PostgreSQL share the machine's cores.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
