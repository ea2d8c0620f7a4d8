"""End-to-end ingest throughput: mosquitto_pub -> Mosquitto -> ``vigil run`` -> PostgreSQL.

Baselines, measured in the same run on the same payloads:
* broker: ``mosquitto_pub -l -q 1`` -> ``mosquitto_sub -q 1`` (MQTT transport alone);
* database: raw ``COPY`` of the same reading rows with psycopg (storage alone).

Usage: ``VIGIL_BENCH_POSTGRES_DSN=postgresql://... python -m bench.ingest [--messages N]``
(default DSN: ``postgresql://postgres@127.0.0.1/test``; the role needs CREATEDB: the
benchmark runs in a database of its own, dropped at the end). Writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

import schemas
from bench._report import final_line, write_section
from storage.postgres import PostgresStore
from storage.records import READING_COLUMNS, reading_rows
from vigil.local_servers import MosquittoProcess

SAMPLES = 10
DEVICE = "wb-bench"


def ten_samples(t: dt.datetime, seq: int) -> tuple[schemas.AnySample, ...]:
    """Five vitals at ``t`` and half a second later: the benchmarks' 10-sample batch."""
    samples: list[schemas.AnySample] = []
    for at in (t, t + dt.timedelta(milliseconds=500)):
        samples += [
            schemas.HeartRate(measured_at=at, heart_rate_bpm=70 + seq % 9, rr_ms=(850.0,)),
            schemas.SpO2(measured_at=at, spo2_pct=97),
            schemas.Respiration(measured_at=at, respiration_rate_per_min=15),
            schemas.Temperature(measured_at=at, temp_c=36.9, site="estimated_core"),
            schemas.Steps(measured_at=at, steps=3, interval_s=0.5),
        ]
    return tuple(samples)


def payloads(count: int) -> list[bytes]:
    """``count`` telemetry batches of ten samples (five vitals at two instants)."""
    out = []
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=count)
    for seq in range(count):
        t = start + dt.timedelta(seconds=seq)
        samples = ten_samples(t, seq)
        out.append(
            schemas.encode(
                schemas.TelemetryBatchV1(
                    device_id=DEVICE, boot_id=1, seq=seq, sent_at=t, samples=samples
                )
            )
        )
    return out


def broker_baseline(port: int, lines: bytes, count: int) -> float:
    """Seconds for mosquitto_pub -l to deliver ``count`` lines to mosquitto_sub, QoS 1."""
    sub = subprocess.Popen(
        ["mosquitto_sub", "-p", str(port), "-q", "1", "-t", "bench/raw", "-C", str(count)],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    t0 = time.perf_counter()
    subprocess.run(
        ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/raw", "-l"],
        input=lines,
        check=True,
    )
    sub.wait(timeout=300)
    return time.perf_counter() - t0


def copy_baseline(dsn: str, batches: list[bytes]) -> float:
    """Seconds to COPY the same reading rows straight into an unlogged-free plain table."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for raw in batches:
        msg = schemas.decode(f"vigil/v1/telemetry/{DEVICE}", raw)
        if not isinstance(msg, schemas.TelemetryBatchV1):
            raise TypeError(type(msg).__name__)
        rows += [
            [list(v) if isinstance(v, tuple) else v for v in r] for r in reading_rows(msg, now)
        ]
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TABLE bench_copy (LIKE readings INCLUDING DEFAULTS)")
        t0 = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY bench_copy ({','.join(READING_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - t0


def vigil_run(port: int, dsn: str, lines: bytes, count: int, *, sealed: bool = False) -> float:
    """Seconds from the first publish until ``vigil run`` has stored all ``count`` batches.

    ``sealed``: with record keys, every reading sealed at rest (``storage/sealing.py``).
    """
    keys = f"k1:{base64.b64encode(os.urandom(32)).decode()}"
    env = {
        **os.environ,
        **({"VIGIL_RECORD_KEYS": keys} if sealed else {}),
        "VIGIL_MQTT_PORT": str(port),
        "VIGIL_DATABASE_URL": dsn,
        "VIGIL_MQTT_CLIENT_ID": f"bench-{uuid.uuid4().hex[:6]}",
        "VIGIL_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vigil", "run"], env=env, stdout=subprocess.DEVNULL
    )
    store = PostgresStore(dsn)
    try:
        time.sleep(2.0)  # connected and subscribed
        t0 = time.perf_counter()
        subprocess.run(
            [
                "mosquitto_pub",
                "-p",
                str(port),
                "-q",
                "1",
                "-t",
                f"vigil/v1/telemetry/{DEVICE}",
                "-l",
            ],
            input=lines,
            check=True,
        )
        deadline = t0 + 600
        while store.count_messages() < count and time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vigil run exited early with code {proc.returncode}")
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        if store.count_messages() != count or store.count_readings() != count * SAMPLES:
            raise RuntimeError("vigil run did not store every batch")
        return elapsed
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        store.close()


@contextlib.contextmanager
def own_database(base_dsn: str) -> Iterator[str]:
    """A migrated database of its own, dropped at the end; its DSN.

    In a shared one whose catalogs are bloated by thousands of test schemas created and
    dropped, the same COPY ran markedly slower.
    """
    database = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {database}")
    parts = urllib.parse.urlsplit(base_dsn)
    dsn = urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))
    try:
        PostgresStore(dsn).migrate()
        yield dsn
    finally:
        with psycopg.connect(base_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {database} WITH (FORCE)")


def main() -> None:
    """Run the four measurements and report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    n = args.messages
    base_dsn = os.environ.get("VIGIL_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1/test")
    batches = payloads(n)
    lines = b"\n".join(batches) + b"\n"
    with (
        own_database(base_dsn) as dsn,
        own_database(base_dsn) as sealed_dsn,
        tempfile.TemporaryDirectory() as tmp,
        MosquittoProcess(Path(tmp)) as broker,
    ):
        broker_s = broker_baseline(broker.port, lines, n)
        vigil_s = vigil_run(broker.port, dsn, lines, n)
        sealed_s = vigil_run(broker.port, sealed_dsn, lines, n, sealed=True)
        copy_s = copy_baseline(dsn, batches)

    figures = {
        "messages": n,
        "samples_per_message": SAMPLES,
        "payload_bytes": len(batches[0]),
        "vigil_messages_per_s": round(n / vigil_s),
        "vigil_samples_per_s": round(n * SAMPLES / vigil_s),
        "broker_baseline_messages_per_s": round(n / broker_s),
        "copy_baseline_rows_per_s": round(n * SAMPLES / copy_s),
        "ratio_to_broker_baseline": round(broker_s / vigil_s, 3),
        "ratio_to_copy_baseline": round(copy_s / vigil_s, 3),
        "vigil_sealed_messages_per_s": round(n / sealed_s),
        "sealed_ratio_to_plain": round(vigil_s / sealed_s, 3),
    }
    write_section(
        "ingest",
        f"python -m bench.ingest --messages {n}",
        figures,
        "Vigil's figure is end to end: decode and validate, de-duplicate, store readings with "
        "COPY, score NEWS2 per batch (the score is stored when it changes, and once a minute "
        "of device time otherwise) with the rest of the per-device processor (signal quality, "
        "wellbeing windows, device-time ordering), commit, then acknowledge (QoS 1). "
        "Figures from different sessions may come from different CPUs (see the line above). "
        "The ratios compare Vigil's rate with each baseline's on the same payloads "
        "(1.0 = as fast as the baseline alone). Mosquitto, the publisher, Vigil and "
        "PostgreSQL share the machine's cores. The sealed figure is the same run with "
        "VIGIL_RECORD_KEYS set: every batch's readings sealed at rest as one AES-GCM envelope "
        "(sealed_ratio_to_plain: its rate over the plain run's).",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
