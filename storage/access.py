"""Enrolments and grants (``schemas/access.py``) in the main database.

The tables come from the main store's migrations (``0015_access``): the API migrates the
database on start, as every runner does. SQLite and PostgreSQL share the SQL; only the
placeholder and the connection differ.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import msgspec

from schemas.access import Grant
from storage.base import StorageUnavailable

_grant = msgspec.json.Decoder(Grant)


class AccessStore:
    """Which clinic each wearer is enrolled in, and each wearer's grants."""

    _param = "?"
    _json_in = "?"
    _json_out = "grant_json"

    def _tx(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _q(self, sql: str) -> str:
        sql = sql.replace("$JSON_IN", self._json_in).replace("$JSON_OUT", self._json_out)
        return sql.replace("?", self._param)

    def _time(self, value: dt.datetime) -> object:
        return value

    def _rows(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        with self._tx() as conn:
            return list(conn.execute(self._q(sql), params).fetchall())

    def enrol(self, device_id: str, tenant: str, at: dt.datetime) -> bool:
        """Enrol a wearer in a clinic; False if another clinic has them."""
        with self._tx() as conn:
            rows = conn.execute(
                self._q("SELECT tenant FROM enrolments WHERE device_id = ?"), (device_id,)
            ).fetchall()
            if rows:
                return bool(rows[0][0] == tenant)
            conn.execute(
                self._q("INSERT INTO enrolments (device_id, tenant, enrolled_at) VALUES (?, ?, ?)"),
                (device_id, tenant, self._time(at)),
            )
            return True

    def clinic_of(self, device_id: str) -> str | None:
        """The clinic a wearer is enrolled in, if any."""
        rows = self._rows("SELECT tenant FROM enrolments WHERE device_id = ?", (device_id,))
        return str(rows[0][0]) if rows else None

    def add_grant(self, grant: Grant) -> None:
        """Store a grant."""
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO grants (grant_id, device_id, viewer, grant_json) "
                    "VALUES (?, ?, ?, $JSON_IN)"
                ),
                (
                    grant.grant_id,
                    grant.device_id,
                    grant.viewer,
                    msgspec.json.encode(grant).decode(),
                ),
            )

    def grants_of(self, device_id: str) -> list[Grant]:
        """A wearer's grants not revoked (in force or not), oldest first."""
        rows = self._rows(
            "SELECT $JSON_OUT FROM grants WHERE device_id = ? AND revoked_at IS NULL",
            (device_id,),
        )
        found = [_grant.decode(r[0]) for r in rows]
        return sorted(found, key=lambda g: (g.granted_at, g.grant_id))

    def revoke_grant(self, device_id: str, grant_id: str, at: dt.datetime) -> bool:
        """End a grant now; False if the wearer has no such grant in place."""
        with self._tx() as conn:
            revoked = conn.execute(
                self._q(
                    "UPDATE grants SET revoked_at = ? "
                    "WHERE grant_id = ? AND device_id = ? AND revoked_at IS NULL"
                ),
                (self._time(at), grant_id, device_id),
            )
            return bool(revoked.rowcount)

    def close(self) -> None:
        """Release the connection."""


class SqliteAccessStore(AccessStore):
    """In the embedded runner's SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._lock = threading.Lock()

    def _time(self, value: dt.datetime) -> object:
        return value.astimezone(dt.UTC).isoformat()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageUnavailable(str(exc)) from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresAccessStore(AccessStore):
    """In PostgreSQL."""

    _param = "%s"
    _json_in = "%s::jsonb"
    _json_out = "grant_json::text"

    def __init__(self, dsn: str) -> None:
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tier needs it

        self._psycopg = psycopg
        self._dsn = dsn
        self._lock = threading.Lock()
        self._conn: Any = None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = psycopg.connect(self._dsn)
                with self._conn.transaction():
                    yield self._conn
            except psycopg.OperationalError as exc:
                raise StorageUnavailable(str(exc)) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()


def open_access_store(url: str) -> AccessStore:
    """The access store on the database a URL names (as ``storage.open_store``)."""
    if url.startswith("sqlite:///"):
        return SqliteAccessStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresAccessStore(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")
