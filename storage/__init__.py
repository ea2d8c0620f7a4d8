"""Storage: one protocol, two backends (SQLite embedded, PostgreSQL/TimescaleDB)."""

from __future__ import annotations

from pathlib import Path

from storage.base import MigrationError, StorageError, StorageUnavailable, Store, StoreTransaction
from storage.records import DeadLetter, Received, ScoreRecord


def open_store(url: str) -> Store:
    """Open the store a URL names: ``sqlite:///path.db`` or ``postgresql://...``."""
    if url.startswith("sqlite:///"):
        from storage.sqlite import SqliteStore  # noqa: PLC0415 - keep psycopg optional

        return SqliteStore(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")


__all__ = [
    "DeadLetter",
    "MigrationError",
    "Received",
    "ScoreRecord",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "StoreTransaction",
    "open_store",
]
