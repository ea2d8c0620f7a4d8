"""One connection to the main database for the API's stores (access, audit, records).

SQLite and PostgreSQL share the SQL of those stores: queries are written with ``?``
placeholders and ``$JSON_IN`` / ``$JSON(col)`` markers, and a desk rewrites them for its
backend. A desk holds one connection behind a lock (the API serves requests from a
thread pool) and runs each unit of work in a transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from storage.base import StorageUnavailable

_JSON_OUT = re.compile(r"\$JSON\((\w+)\)")


class SqlDesk:
    """A connection, its dialect, and transactions on it."""

    dialect = ""

    def tx(self) -> AbstractContextManager[Any]:
        """A transaction: commits on a clean exit, rolls back on an exception."""
        raise NotImplementedError

    def q(self, sql: str) -> str:
        """``sql`` in this backend's dialect."""
        raise NotImplementedError

    def time_in(self, value: dt.datetime) -> object:
        """A datetime as this backend stores it."""
        return value

    def time_out(self, value: object) -> dt.datetime:
        """A stored datetime back, in UTC."""
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a timestamp, found {type(value).__name__}")
        return value.astimezone(dt.UTC)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """A read in a transaction of its own."""
        with self.tx() as conn:
            return list(conn.execute(self.q(sql), params).fetchall())

    def close(self) -> None:
        """Release the connection."""


class SqliteDesk(SqlDesk):
    """The embedded runner's SQLite file (times as UTC ISO text, as the main store)."""

    dialect = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._lock = threading.Lock()

    def q(self, sql: str) -> str:
        return _JSON_OUT.sub(r"\1", sql.replace("$JSON_IN", "?"))

    def time_in(self, value: dt.datetime) -> object:
        return value.astimezone(dt.UTC).isoformat()

    def time_out(self, value: object) -> dt.datetime:
        return dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)

    @contextmanager
    def tx(self) -> Iterator[Any]:
        with self._lock:
            try:
                # IMMEDIATE: the write lock up front, so writers in other processes
                # queue (busy_timeout) instead of failing mid-transaction.
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


class PostgresDesk(SqlDesk):
    """PostgreSQL: reconnects after a lost connection, on the next unit of work."""

    dialect = "postgres"

    def __init__(self, dsn: str) -> None:
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tier needs it

        self._psycopg = psycopg
        self._dsn = dsn
        self._lock = threading.Lock()
        self._conn: Any = None

    def q(self, sql: str) -> str:
        sql = sql.replace("%", "%%").replace("$JSON_IN", "?::jsonb")
        return _JSON_OUT.sub(r"\1::text", sql).replace("?", "%s")

    @contextmanager
    def tx(self) -> Iterator[Any]:
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


def open_desk(url: str) -> SqlDesk:
    """A desk on the database a URL names (as ``storage.open_store``)."""
    if url.startswith("sqlite:///"):
        return SqliteDesk(url.removeprefix("sqlite:///"))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDesk(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")
