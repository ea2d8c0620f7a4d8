"""SQLite store: the embedded default (WAL, no server).

``synchronous=FULL`` makes a committed unit of work durable before ingest
acknowledges the MQTT messages in it. One connection, guarded by a lock, is shared
by the ingest writer thread and the queries of the CLI.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from schemas import Alert, AlertLevel, EventV1, TelemetryBatchV1
from schemas.scores import IndexRecord, News2Score
from schemas.telemetry import Ecg
from storage import migrator
from storage._common import (
    ALERT_COLUMNS,
    INDEX_COLUMNS,
    SCORE_COLUMNS,
    alert_of,
    alert_row,
    index_of,
    index_row,
    message_row,
    score_row,
    split_csv,
    split_new,
)
from storage.base import MigrationError, StorageUnavailable
from storage.records import (
    ECG_COLUMNS,
    EVENT_COLUMNS,
    READING_COLUMNS,
    READING_VALUE_COLUMNS,
    DeadLetter,
    Heard,
    Received,
    ScoreRecord,
    WearerRecord,
    dedup_key,
    ecg_rows,
    event_row,
    gateway_row,
    reading_layout,
    sealed_batch_row,
)
from storage.sealing import Sealer


def _iso(value: object) -> object:
    """Datetimes become UTC ISO text; tuples (RR lists) become JSON; the rest as is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, tuple):
        return json.dumps(value)
    return value


def _row(values: Sequence[object]) -> tuple[object, ...]:
    return tuple(_iso(v) for v in values)


def _utc_text(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


_READING_KEY_COLUMNS = READING_COLUMNS[: len(READING_COLUMNS) - len(READING_VALUE_COLUMNS)]


class _Sealed:
    """The group of readings whose values are sealed elsewhere (``sealed_batches``)."""


def _readings_by_type(
    items: Sequence[Received], sealed: bool = False
) -> dict[type, list[tuple[object, ...]]]:
    """Reading rows grouped by sample type, each with only the columns its type fills.

    SQLite pays for every bound parameter, NULLs included, and a sample fills at most
    3 of the 18 value columns; so each type gets an ``INSERT`` naming its own columns,
    and the rest default to NULL (``bench.stream`` measures the runner with it).
    ``sealed``: the rows keep their key, time and type only (the values go sealed to
    ``sealed_batches``).
    """
    groups: dict[type, list[tuple[object, ...]]] = {}
    for item in items:
        batch = item.message
        if not isinstance(batch, TelemetryBatchV1):
            continue
        received_at = _utc_text(item.received_at)
        # A batch's samples share a few instants: each is written out once.
        times: dict[dt.datetime, str] = {}
        for index, sample in enumerate(batch.samples):
            if isinstance(sample, Ecg):
                continue
            layout = reading_layout(type(sample))
            kind: type = _Sealed if sealed else type(sample)
            values = [] if sealed else [getattr(sample, name) for _, name in layout.slots]
            at = sample.measured_at
            measured_at = times.get(at)
            if measured_at is None:
                measured_at = times[at] = _utc_text(at)
            groups.setdefault(kind, []).append(
                (
                    batch.device_id,
                    batch.boot_id,
                    batch.seq,
                    index,
                    measured_at,
                    received_at,
                    layout.tag,
                    *(json.dumps(v) if isinstance(v, tuple) else v for v in values),
                )
            )
    return groups


def _reading_insert(kind: type) -> str:
    names = [] if kind is _Sealed else [name for _, name in reading_layout(kind).slots]
    columns = [*_READING_KEY_COLUMNS, *names]
    return f"INSERT INTO readings ({','.join(columns)}) VALUES ({_placeholders(len(columns))})"


def _statements(code: str) -> Iterator[str]:
    """The SQL statements of a script, a trigger's body (with its own ``;``) kept whole."""
    pending = ""
    for piece in code.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""
    if pending.strip(" \n;"):
        yield pending


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


@contextmanager
def flocked(lock_file: IO[bytes]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (a database's writer lock file).

    Writers in other processes queue on it and are handed the database at once, where
    SQLite's busy handler would sleep between tries.
    """
    fcntl.flock(lock_file, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(lock_file, fcntl.LOCK_UN)


class _SqliteTransaction:
    def __init__(self, conn: sqlite3.Connection, sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._sealer = sealer

    def _claim(self, sequenced: Sequence[Received]) -> list[Received]:
        """Insert the messages' rows; those whose key was not stored yet.

        Usually none is stored yet: one ``executemany`` claims them all (a statement per
        message was a large share of a shard's time under py-spy). If the count of rows
        changed says some were, that is undone and done row by row, to tell which.
        """
        insert = f"INSERT OR IGNORE INTO messages VALUES ({_placeholders(9)})"
        rows = [_row(message_row(item)) for item in sequenced]
        cur = self._conn.cursor()
        cur.execute("SAVEPOINT claim")
        before = self._conn.total_changes
        cur.executemany(insert, rows)
        if self._conn.total_changes - before == len(rows):
            cur.execute("RELEASE claim")
            return list(sequenced)
        cur.execute("ROLLBACK TO claim")
        new: list[Received] = []
        for item, row in zip(sequenced, rows, strict=True):
            cur.execute(insert, row)
            if cur.rowcount == 1:
                new.append(item)
        cur.execute("RELEASE claim")
        return new

    def add_messages(self, messages: Sequence[Received]) -> list[Received]:
        sequenced, statuses = split_new(messages)
        new = self._claim(sequenced)
        cur = self._conn.cursor()
        ecgs: list[tuple[object, ...]] = []
        events: list[tuple[object, ...]] = []
        sealed: list[tuple[object, ...]] = []
        for item in new:
            msg = item.message
            if isinstance(msg, TelemetryBatchV1):
                ecgs.extend(_row(r) for r in ecg_rows(msg, item.received_at, self._sealer))
                row = None if self._sealer is None else sealed_batch_row(msg, self._sealer)
                if row is not None:
                    sealed.append(row)
            elif isinstance(msg, EventV1):
                events.append(_row(event_row(msg, item.received_at)))
        for kind, rows in _readings_by_type(new, self._sealer is not None).items():
            cur.executemany(_reading_insert(kind), rows)
        cur.executemany("INSERT INTO sealed_batches VALUES (?,?,?,?)", sealed)
        cur.executemany(f"INSERT INTO ecg_strips VALUES ({_placeholders(len(ECG_COLUMNS))})", ecgs)
        cur.executemany(f"INSERT INTO events VALUES ({_placeholders(len(EVENT_COLUMNS))})", events)
        for item in statuses:
            assert not isinstance(item.message, TelemetryBatchV1 | EventV1)  # noqa: S101
            cur.execute(
                "INSERT INTO gateway_status VALUES (?,?,?,?,?) ON CONFLICT (gateway_id) DO "
                "UPDATE SET state=excluded.state, reported_at=excluded.reported_at, "
                "received_at=excluded.received_at, connected_devices=excluded.connected_devices "
                "WHERE excluded.reported_at >= gateway_status.reported_at",
                _row(gateway_row(item.message, item.received_at)),
            )
        return [*new, *statuses]

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self._conn.executemany(
            "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, payload_size)"
            " VALUES (?,?,?,?,?,?)",
            [
                _row((d.received_at, d.topic, d.reason, d.detail, d.payload, d.payload_size))
                for d in letters
            ],
        )

    def add_scores(self, scores: Sequence[ScoreRecord]) -> None:
        self._conn.executemany(
            f"INSERT OR IGNORE INTO scores ({SCORE_COLUMNS}) VALUES ({_placeholders(11)})",
            [_row(score_row(s)) for s in scores],
        )

    def add_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        new = []
        cur = self._conn.cursor()
        for alert in alerts:
            cur.execute(
                f"INSERT OR IGNORE INTO alerts ({ALERT_COLUMNS}, stored_seq) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,"
                "(SELECT COALESCE(MAX(stored_seq), 0) + 1 FROM alerts))",
                _row(alert_row(alert)),
            )
            if cur.rowcount == 1:
                new.append(alert)
        return new

    def add_indices(self, records: Sequence[IndexRecord]) -> None:
        self._conn.executemany(
            f"INSERT OR REPLACE INTO index_values ({INDEX_COLUMNS}) VALUES ({_placeholders(7)})",
            [_row(index_row(r, self._sealer)) for r in records],
        )


class SqliteStore:
    """The embedded store: one SQLite file in WAL mode."""

    def __init__(self, path: str | Path, sealer: Sealer | None = None) -> None:
        self.path = str(path)
        self._sealer = sealer
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._wal()
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database: {exc}") from exc
        self._lock = threading.Lock()
        # Writers in other processes (shards) queue on this file lock, which hands over
        # at once; SQLite's own busy handler would sleep up to 100 ms between tries.
        self._writer_lock = (
            None if self.path == ":memory:" else Path(f"{self.path}-writer.lock").open("ab")  # noqa: SIM115
        )

    def _wal(self, within_s: float = 10.0) -> None:
        """Switch to WAL mode, retrying while another process holds the file.

        Turning a new file to WAL needs it alone, and SQLite may answer "database is
        locked" at once rather than through the busy timeout: two workers started
        together on one new file made one of them exit (``bench.stream_kafka``).
        """
        deadline = time.monotonic() + within_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
            else:
                return

    def migrate(self) -> list[str]:
        # Under the writer file lock: processes started together (shards, workers) must
        # not both see a migration as pending and both apply it.
        with self._lock, self._cross_process_writer():
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in self._conn.execute("SELECT version FROM schema_migrations")}
            applied = []
            for m in migrator.load("sqlite"):
                if m.version in done:
                    continue
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    # Comment lines may hold ";": drop them before splitting statements.
                    code = "\n".join(
                        line for line in m.sql.splitlines() if not line.lstrip().startswith("--")
                    )
                    for statement in _statements(code):
                        self._conn.execute(statement)
                    self._conn.execute(
                        "INSERT INTO schema_migrations VALUES (?,?,?)",
                        (m.version, m.name, dt.datetime.now(dt.UTC).isoformat()),
                    )
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise MigrationError(f"migration {m.version:04d}_{m.name}: {exc}") from exc
                applied.append(f"{m.version:04d}_{m.name}")
            return applied

    @contextmanager
    def transaction(self) -> Iterator[_SqliteTransaction]:
        with self._lock, self._cross_process_writer():
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageUnavailable(str(exc)) from exc
            try:
                yield _SqliteTransaction(self._conn, self._sealer)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StorageUnavailable(str(exc)) from exc

    @contextmanager
    def _cross_process_writer(self) -> Iterator[None]:
        if self._writer_lock is None:
            yield
            return
        with flocked(self._writer_lock):
            yield

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            if self._writer_lock is not None:
                self._writer_lock.close()

    def unseen(self, messages: Sequence[Received]) -> list[Received]:
        sequenced, statuses = split_new(messages)
        stored: set[tuple[str, int, int]] = set()
        keys = [dedup_key(m.message) for m in sequenced]  # type: ignore[arg-type]
        with self._lock:
            for at in range(0, len(keys), 300):
                part = keys[at : at + 300]
                stored.update(
                    self._conn.execute(
                        "SELECT device_id, boot_id, seq FROM messages WHERE (device_id, boot_id, "
                        f"seq) IN (VALUES {','.join(['(?,?,?)'] * len(part))})",
                        [v for key in part for v in key],
                    ).fetchall()
                )
        return [m for m, key in zip(sequenced, keys, strict=True) if key not in stored] + statuses

    def _scalar(self, sql: str, params: Sequence[object] = ()) -> int:
        with self._lock:
            row = self._conn.execute(sql, params).fetchone()
        return int(row[0])

    def count_readings(self, device_id: str | None = None) -> int:
        where, params = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
        return self._scalar(f"SELECT COUNT(*) FROM readings {where}", params) + self._scalar(
            f"SELECT COUNT(*) FROM ecg_strips {where}", params
        )

    def count_messages(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM messages")

    def count_dead_letters(self) -> int:
        return self._scalar("SELECT COUNT(*) FROM dead_letters")

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT received_at, topic, reason, detail, payload, payload_size "
                "FROM dead_letters ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            DeadLetter(
                received_at=dt.datetime.fromisoformat(r[0]),
                topic=r[1],
                reason=r[2],
                detail=r[3],
                payload=bytes(r[4]),
                payload_size=r[5],
            )
            for r in rows
        ]

    def alerts(self, device_id: str | None = None) -> list[Alert]:
        where, params = ("WHERE device_id = ?", (device_id,)) if device_id else ("", ())
        return self._alerts(where, params)

    def unnotified_alerts(self) -> list[Alert]:
        return self._alerts("WHERE notified_at IS NULL", ())

    def mark_notified(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        with self._lock:
            self._conn.executemany(
                "UPDATE alerts SET notified_at = ? WHERE alert_id = ?",
                [(at.astimezone(dt.UTC).isoformat(), a) for a in alert_ids],
            )

    def unladdered_alerts(self, limit: int = 500) -> list[Alert]:
        return self._alerts("WHERE laddered_at IS NULL", (), limit=limit)

    def mark_laddered(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        with self._lock:
            self._conn.executemany(
                "UPDATE alerts SET laddered_at = ? WHERE alert_id = ?",
                [(at.astimezone(dt.UTC).isoformat(), a) for a in alert_ids],
            )

    def _alerts(
        self, where: str, params: Sequence[object], limit: int | None = None
    ) -> list[Alert]:
        if limit is not None:
            where, params = f"{where} ORDER BY stored_seq LIMIT ?", (*params, limit)
        else:
            where = f"{where} ORDER BY stored_seq"
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {ALERT_COLUMNS} FROM alerts {where}", params
            ).fetchall()
        return [alert_of(r, dt.datetime.fromisoformat(r[3])) for r in rows]

    def alert_counts(self) -> dict[AlertLevel, int]:
        counts: dict[AlertLevel, int] = {
            level: 0 for level in AlertLevel if level is not AlertLevel.NONE
        }
        with self._lock:
            for level, n in self._conn.execute("SELECT level, COUNT(*) FROM alerts GROUP BY level"):
                counts[AlertLevel(level)] = n
        return counts

    def last_heard(self, since: dt.datetime) -> list[Heard]:
        # SQLite takes the bare columns of a max() aggregate from the row with the max;
        # times are stored as UTC ISO text, so text order is time order.
        with self._lock:
            rows = self._conn.execute(
                "SELECT m.device_id, max(m.received_at), m.gateway_id, ("
                " SELECT risk FROM scores s WHERE s.device_id = m.device_id"
                " ORDER BY evaluated_at DESC LIMIT 1) "
                "FROM messages m WHERE m.received_at >= ? "
                "GROUP BY m.device_id ORDER BY m.device_id",
                (since.astimezone(dt.UTC).isoformat(),),
            ).fetchall()
        return [
            Heard(
                device_id=r[0],
                received_at=dt.datetime.fromisoformat(r[1]),
                gateway_id=r[2],
                risk=r[3],
            )
            for r in rows
        ]

    def put_wearer(self, device_id: str, profile: bytes) -> int:
        with self.transaction():  # the writer lock: revisions follow commit order
            revision = self._conn.execute(
                "SELECT COALESCE(MAX(revision), 0) + 1 FROM wearers"
            ).fetchone()[0]
            self._conn.execute(
                "INSERT INTO wearers VALUES (?,?,?,?) ON CONFLICT (device_id) DO UPDATE SET "
                "profile=excluded.profile, updated_at=excluded.updated_at, "
                "revision=excluded.revision",
                (device_id, profile.decode(), dt.datetime.now(dt.UTC).isoformat(), revision),
            )
        return int(revision)

    def wearers_since(self, revision: int) -> list[WearerRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT device_id, profile, revision FROM wearers WHERE revision > ? "
                "ORDER BY revision",
                (revision,),
            ).fetchall()
        return [WearerRecord(device_id=r[0], profile=r[1].encode(), revision=r[2]) for r in rows]

    def scores(self, device_id: str) -> list[ScoreRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT evaluated_at, total, level, risk, single_parameter_3, points, missing, "
                "defaulted, quality, quality_flags FROM scores WHERE device_id = ? "
                "ORDER BY evaluated_at",
                (device_id,),
            ).fetchall()
        return [
            ScoreRecord(
                device_id=device_id,
                evaluated_at=dt.datetime.fromisoformat(r[0]),
                news2=News2Score(
                    total=r[1],
                    level=AlertLevel(r[2]),
                    risk=r[3],
                    single_parameter_3=bool(r[4]),
                    points=json.loads(r[5]),
                    missing=split_csv(r[6]),
                    defaulted=split_csv(r[7]),
                ),
                quality=r[8],
                quality_flags=split_csv(r[9]),
            )
            for r in rows
        ]

    def indices(self, device_id: str) -> list[IndexRecord]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {INDEX_COLUMNS} FROM index_values WHERE device_id = ? "
                "ORDER BY evaluated_at, name",
                (device_id,),
            ).fetchall()
        return [index_of(r, dt.datetime.fromisoformat(r[1]), self._sealer) for r in rows]
