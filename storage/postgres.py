"""PostgreSQL store (psycopg 3): COPY for readings, time partitions or hypertables.

On plain PostgreSQL, ``readings`` is range-partitioned by device time, one partition
per month made ahead by :meth:`PostgresStore.ensure_partitions` (on migrate and on
start), with a default partition so a reading from a wildly skewed clock is kept.
When the ``timescaledb`` extension is available (the docker-compose deployment) the
migration makes ``readings`` a compressed hypertable with a retention policy instead.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql

from schemas import Alert, AlertLevel, EventV1, TelemetryBatchV1
from schemas.scores import IndexRecord, News2Score
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
from storage.copy_text import array_literals, readings_copy_text
from storage.records import (
    ECG_COLUMNS,
    EVENT_COLUMNS,
    READING_COLUMNS,
    DeadLetter,
    Heard,
    Received,
    ScoreRecord,
    WearerRecord,
    dedup_key,
    ecg_rows,
    event_row,
    gateway_row,
    sealed_batch_row,
)
from storage.sealing import Sealer

_COPY_SEALED_BATCHES = "COPY sealed_batches (device_id, boot_id, seq, sealed) FROM STDIN"
_MIGRATION_LOCK = 0x76_69_67_69_6C  # "vigil": the advisory lock migrations take turns on

_MESSAGE_TYPES = (
    "text[]",
    "int[]",
    "bigint[]",
    "text[]",
    "timestamptz[]",
    "smallint[]",
    "timestamptz[]",
    "text[]",
    "int[]",
)
_INSERT_MESSAGES = (
    "INSERT INTO messages SELECT * FROM unnest("
    + ", ".join(f"%s::{t}" for t in _MESSAGE_TYPES)
    + ") ON CONFLICT DO NOTHING RETURNING device_id, boot_id, seq"
)


def _month_start(moment: dt.datetime, months: int = 0) -> dt.datetime:
    index = moment.year * 12 + moment.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


class _PostgresTransaction:
    """One unit of work; the readings COPY is left open while the caller scores.

    PostgreSQL inserts COPY rows as they arrive, so ``add_messages`` sends the
    readings and returns without waiting for the server to finish them: the
    pipeline's scoring then runs while the server works. The next statement (or
    the commit) completes the COPY first; an error aborts it (CopyFail).
    """

    def __init__(self, conn: psycopg.Connection[Any], sealer: Sealer | None = None) -> None:
        self._conn = conn
        self._sealer = sealer
        self._open_copy: contextlib.ExitStack | None = None

    def finish_copy(self) -> None:
        """Complete an open COPY (waits for the server to have taken every row)."""
        if self._open_copy is not None:
            stack, self._open_copy = self._open_copy, None
            stack.close()

    def abort_copy(self, exc: BaseException) -> None:
        """Abandon an open COPY after ``exc`` (the transaction is rolled back)."""
        if self._open_copy is not None:
            stack, self._open_copy = self._open_copy, None
            with contextlib.suppress(Exception):
                stack.__exit__(type(exc), exc, exc.__traceback__)

    def add_messages(self, messages: Sequence[Received]) -> list[Received]:
        self.finish_copy()
        sequenced, statuses = split_new(messages)
        new: list[Received] = []
        with self._conn.cursor() as cur:
            if sequenced:
                cur.execute(_INSERT_MESSAGES, array_literals([message_row(m) for m in sequenced]))
                claimed = set(cur.fetchall())
                new = [
                    m
                    for m in sequenced
                    if isinstance(m.message, TelemetryBatchV1 | EventV1)
                    and (m.message.device_id, m.message.boot_id, m.message.seq) in claimed
                ]
            batches = [
                (m.message, m.received_at) for m in new if isinstance(m.message, TelemetryBatchV1)
            ]
            ecgs = [
                r
                for batch, received_at in batches
                for r in ecg_rows(batch, received_at, self._sealer)
            ]
            if ecgs:
                with cur.copy(f"COPY ecg_strips ({','.join(ECG_COLUMNS)}) FROM STDIN") as copy:
                    for row in ecgs:
                        copy.write_row(row)
            events = [
                event_row(m.message, m.received_at) for m in new if isinstance(m.message, EventV1)
            ]
            if events:
                cur.executemany(
                    f"INSERT INTO events VALUES ({','.join(['%s'] * len(EVENT_COLUMNS))})", events
                )
            for item in statuses:
                assert not isinstance(item.message, TelemetryBatchV1 | EventV1)  # noqa: S101
                cur.execute(
                    "INSERT INTO gateway_status VALUES (%s,%s,%s,%s,%s) ON CONFLICT (gateway_id) "
                    "DO UPDATE SET state=excluded.state, reported_at=excluded.reported_at, "
                    "received_at=excluded.received_at, "
                    "connected_devices=excluded.connected_devices "
                    "WHERE excluded.reported_at >= gateway_status.reported_at",
                    gateway_row(item.message, item.received_at),
                )
        if self._sealer is not None:
            sealed = [sealed_batch_row(batch, self._sealer) for batch, _ in batches]
            if any(sealed):
                with (
                    self._conn.cursor() as cur,
                    cur.copy(_COPY_SEALED_BATCHES) as copy,
                ):
                    for row in filter(None, sealed):
                        copy.write_row(row)
        text = readings_copy_text(batches, sealed=self._sealer is not None)
        if text:
            stack = contextlib.ExitStack()
            try:
                copy_cur = stack.enter_context(self._conn.cursor())
                copy = stack.enter_context(
                    copy_cur.copy(f"COPY readings ({','.join(READING_COLUMNS)}) FROM STDIN")
                )
                copy.write(text)
            except BaseException as exc:
                with contextlib.suppress(Exception):
                    stack.__exit__(type(exc), exc, exc.__traceback__)
                raise
            self._open_copy = stack
        return [*new, *statuses]

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        self.finish_copy()
        if not letters:
            return
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO dead_letters (received_at, topic, reason, detail, payload, "
                "payload_size) VALUES (%s,%s,%s,%s,%s,%s)",
                [
                    (d.received_at, d.topic, d.reason, d.detail, d.payload, d.payload_size)
                    for d in letters
                ],
            )

    def add_scores(self, scores: Sequence[ScoreRecord]) -> None:
        self.finish_copy()
        if not scores:
            return
        # COPY cannot skip a score already stored (a re-read after a worker restart):
        # the rows go through a session-local table and are inserted unless present.
        with self._conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS scores_incoming "
                "(LIKE scores INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            with cur.copy(f"COPY scores_incoming ({SCORE_COLUMNS}) FROM STDIN") as copy:
                for s in scores:
                    copy.write_row(score_row(s))
            cur.execute(
                f"INSERT INTO scores ({SCORE_COLUMNS}) SELECT {SCORE_COLUMNS} "
                "FROM scores_incoming ON CONFLICT DO NOTHING"
            )
            cur.execute("DELETE FROM scores_incoming")

    def add_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        self.finish_copy()
        new = []
        with self._conn.cursor() as cur:
            for alert in alerts:
                cur.execute(
                    f"INSERT INTO alerts ({ALERT_COLUMNS}) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                    alert_row(alert),
                )
                if cur.rowcount == 1:
                    new.append(alert)
        return new

    def add_indices(self, records: Sequence[IndexRecord]) -> None:
        if not records:
            return
        self.finish_copy()
        with self._conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO index_values ({INDEX_COLUMNS}) "
                "VALUES (%s,%s,%s,%s,%s::jsonb,%s,%s) "
                "ON CONFLICT (device_id, evaluated_at, name) DO UPDATE SET value = EXCLUDED.value, "
                "inputs = EXCLUDED.inputs, missing = EXCLUDED.missing, sealed = EXCLUDED.sealed",
                [index_row(r, self._sealer) for r in records],
            )


class PostgresStore:
    """The production store on PostgreSQL (TimescaleDB when present)."""

    def __init__(
        self, dsn: str, *, connect_timeout_s: float = 10.0, sealer: Sealer | None = None
    ) -> None:
        self._dsn = dsn
        self._sealer = sealer
        self._connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        with self._lock:
            self._connection()

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection, reconnecting after a server restart (lock held)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(
                    self._dsn, connect_timeout=int(self._connect_timeout_s)
                )
            except psycopg.OperationalError as exc:
                raise StorageUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._conn

    @property
    def timescaledb(self) -> bool:
        """Whether the ``timescaledb`` extension can be used on this server."""
        with self._lock:
            row = (
                self._connection()
                .execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'")
                .fetchone()
            )
        return bool(row and row[0])

    def migrate(self) -> list[str]:
        variant = "timescaledb" if self.timescaledb else "plain"
        with self._lock:
            conn = self._connection()
            # Processes started together (workers, runners) take turns: none may see a
            # migration as pending while another applies it.
            conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
            conn.commit()
            try:
                applied = self._apply_pending(conn, variant)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
                conn.commit()
        self.ensure_partitions(dt.datetime.now(dt.UTC))
        return applied

    def _apply_pending(self, conn: psycopg.Connection[Any], variant: str) -> list[str]:
        applied = []
        with conn.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        conn.commit()
        for m in migrator.load("postgres", variant):
            if m.version in done:
                continue
            try:
                with conn.transaction():
                    conn.execute(m.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (m.version, m.name),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.version:04d}_{m.name}: {exc}") from exc
            applied.append(f"{m.version:04d}_{m.name}")
        return applied

    def ensure_partitions(
        self, now: dt.datetime, months_back: int = 1, months_ahead: int = 2
    ) -> list[str]:
        """Create monthly ``readings`` partitions around ``now``; return those created.

        Rows already sitting in the default partition for a new month are moved into
        it within the same transaction, so attaching never fails and nothing is lost.
        """
        created: list[str] = []
        with self._lock:
            conn = self._connection()
            partitioned = conn.execute(
                "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname = 'readings' "
                "AND c.relnamespace = current_schema()::regnamespace"
            ).fetchone()
            conn.commit()
            if not partitioned or not partitioned[0]:
                return created
            for offset in range(-months_back, months_ahead + 1):
                lo, hi = _month_start(now, offset), _month_start(now, offset + 1)
                name = f"readings_y{lo.year:04d}m{lo.month:02d}"
                with conn.transaction():
                    # Another process may be making the same partition right now.
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    exists = conn.execute("SELECT to_regclass(%s)", (name,)).fetchone()
                    if exists and exists[0] is not None:
                        continue
                    table = sql.Identifier(name)
                    conn.execute(
                        sql.SQL("CREATE TABLE {} (LIKE readings INCLUDING DEFAULTS)").format(table)
                    )
                    conn.execute(
                        sql.SQL(
                            "WITH moved AS (DELETE FROM readings_default WHERE measured_at >= %s "
                            "AND measured_at < %s RETURNING *) INSERT INTO {} SELECT * FROM moved"
                        ).format(table),
                        (lo, hi),
                    )
                    conn.execute(
                        sql.SQL(
                            "ALTER TABLE readings ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})"
                        ).format(table, sql.Literal(lo), sql.Literal(hi))
                    )
                created.append(name)
        return created

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTransaction]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    tx = _PostgresTransaction(conn, self._sealer)
                    try:
                        yield tx
                    except BaseException as exc:
                        tx.abort_copy(exc)
                        raise
                    tx.finish_copy()
            except psycopg.OperationalError as exc:
                raise StorageUnavailable(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute(sql, params).fetchall()
                conn.rollback()
            except psycopg.OperationalError as exc:
                # The server went away mid-read (an outage, a restart): the connection is
                # broken, the next call reconnects; callers hold their work and retry.
                raise StorageUnavailable(str(exc)) from exc
            except BaseException:
                if not conn.broken:
                    conn.rollback()
                raise
        return rows

    def count_readings(self, device_id: str | None = None) -> int:
        where, params = ("WHERE device_id = %s", (device_id,)) if device_id else ("", ())
        rows = self._fetch(
            f"SELECT (SELECT count(*) FROM readings {where}) + "
            f"(SELECT count(*) FROM ecg_strips {where})",
            params * 2,
        )
        return int(rows[0][0])

    def count_messages(self) -> int:
        return int(self._fetch("SELECT count(*) FROM messages")[0][0])

    def count_dead_letters(self) -> int:
        return int(self._fetch("SELECT count(*) FROM dead_letters")[0][0])

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self._fetch(
            "SELECT received_at, topic, reason, detail, payload, payload_size "
            "FROM dead_letters ORDER BY id DESC LIMIT %s",
            (limit,),
        )
        return [
            DeadLetter(
                received_at=r[0],
                topic=r[1],
                reason=r[2],
                detail=r[3],
                payload=bytes(r[4]),
                payload_size=r[5],
            )
            for r in rows
        ]

    def alerts(self, device_id: str | None = None) -> list[Alert]:
        where, params = ("WHERE device_id = %s", (device_id,)) if device_id else ("", ())
        return self._alerts(where, params)

    def unnotified_alerts(self) -> list[Alert]:
        return self._alerts("WHERE notified_at IS NULL", ())

    def mark_notified(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "UPDATE alerts SET notified_at = %s WHERE alert_id = %s",
                    [(at, a) for a in alert_ids],
                )

    def unladdered_alerts(self, limit: int = 500) -> list[Alert]:
        return self._alerts("WHERE laddered_at IS NULL", (), limit=limit)

    def mark_laddered(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        with self._lock:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    "UPDATE alerts SET laddered_at = %s WHERE alert_id = %s",
                    [(at, a) for a in alert_ids],
                )

    def _alerts(
        self, where: str, params: Sequence[object], limit: int | None = None
    ) -> list[Alert]:
        if limit is not None:
            where, params = f"{where} ORDER BY stored_seq LIMIT %s", (*params, limit)
        else:
            where = f"{where} ORDER BY stored_seq"
        rows = self._fetch(f"SELECT {ALERT_COLUMNS} FROM alerts {where}", params)
        return [alert_of(r, r[3]) for r in rows]

    def alert_counts(self) -> dict[AlertLevel, int]:
        counts: dict[AlertLevel, int] = {
            level: 0 for level in AlertLevel if level is not AlertLevel.NONE
        }
        for level, n in self._fetch("SELECT level, count(*) FROM alerts GROUP BY level"):
            counts[AlertLevel(level)] = int(n)
        return counts

    def unseen(self, messages: Sequence[Received]) -> list[Received]:
        sequenced, statuses = split_new(messages)
        keys = [dedup_key(m.message) for m in sequenced]  # type: ignore[arg-type]
        stored = set()
        if keys:
            devices, boots, seqs = zip(*keys, strict=True)
            rows = self._fetch(
                "SELECT device_id, boot_id, seq FROM messages WHERE (device_id, boot_id, seq) IN"
                " (SELECT * FROM unnest(%s::text[], %s::integer[], %s::bigint[]))",
                (list(devices), list(boots), list(seqs)),
            )
            stored = {(r[0], r[1], r[2]) for r in rows}
        return [m for m, key in zip(sequenced, keys, strict=True) if key not in stored] + statuses

    def last_heard(self, since: dt.datetime) -> list[Heard]:
        rows = self._fetch(
            "SELECT m.device_id, m.received_at, m.gateway_id, s.risk FROM ("
            " SELECT DISTINCT ON (device_id) device_id, received_at, gateway_id FROM messages"
            " WHERE received_at >= %s ORDER BY device_id, received_at DESC) m "
            "LEFT JOIN LATERAL (SELECT risk FROM scores WHERE scores.device_id = m.device_id"
            " ORDER BY evaluated_at DESC LIMIT 1) s ON true ORDER BY m.device_id",
            (since,),
        )
        return [Heard(device_id=r[0], received_at=r[1], gateway_id=r[2], risk=r[3]) for r in rows]

    def put_wearer(self, device_id: str, profile: bytes) -> int:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    # Revisions must commit in the order they are drawn, or a reader that
                    # saw a later one would skip an earlier one committed after it.
                    conn.execute("LOCK TABLE wearers IN SHARE ROW EXCLUSIVE MODE")
                    row = conn.execute(
                        "INSERT INTO wearers (device_id, profile, updated_at) "
                        "VALUES (%s, %s::jsonb, now()) ON CONFLICT (device_id) DO UPDATE SET "
                        "profile = excluded.profile, updated_at = excluded.updated_at, "
                        "revision = nextval('wearers_revision_seq') RETURNING revision",
                        (device_id, profile.decode()),
                    ).fetchone()
            except psycopg.OperationalError as exc:
                raise StorageUnavailable(str(exc)) from exc
        assert row is not None  # noqa: S101 - RETURNING always yields the row
        return int(row[0])

    def wearers_since(self, revision: int) -> list[WearerRecord]:
        rows = self._fetch(
            "SELECT device_id, profile::text, revision FROM wearers WHERE revision > %s "
            "ORDER BY revision",
            (revision,),
        )
        return [WearerRecord(device_id=r[0], profile=r[1].encode(), revision=r[2]) for r in rows]

    def scores(self, device_id: str) -> list[ScoreRecord]:
        rows = self._fetch(
            "SELECT evaluated_at, total, level, risk, single_parameter_3, points, missing, "
            "defaulted, quality, quality_flags FROM scores WHERE device_id = %s "
            "ORDER BY evaluated_at",
            (device_id,),
        )
        return [
            ScoreRecord(
                device_id=device_id,
                evaluated_at=r[0],
                news2=News2Score(
                    total=r[1],
                    level=AlertLevel(r[2]),
                    risk=r[3],
                    single_parameter_3=r[4],
                    points=dict(r[5]),
                    missing=split_csv(r[6]),
                    defaulted=split_csv(r[7]),
                ),
                quality=r[8],
                quality_flags=split_csv(r[9]),
            )
            for r in rows
        ]

    def indices(self, device_id: str) -> list[IndexRecord]:
        rows = self._fetch(
            f"SELECT {INDEX_COLUMNS} FROM index_values WHERE device_id = %s "
            "ORDER BY evaluated_at, name",
            (device_id,),
        )
        return [index_of(r, r[1], self._sealer) for r in rows]
