"""Storage: one protocol, two backends (SQLite embedded, PostgreSQL/TimescaleDB)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from storage.base import MigrationError, StorageError, StorageUnavailable, Store, StoreTransaction
from storage.records import DeadLetter, Received, ScoreRecord

if TYPE_CHECKING:
    from storage.sealing import Sealer


def open_store(url: str, sealer: Sealer | None = None) -> Store:
    """Open the store a URL names: ``sqlite:///path.db`` or ``postgresql://...``.

    ``sealer``: ECG strips are sealed at rest with it (``storage/sealing.py``).
    """
    if url.startswith("sqlite:///"):
        from storage.sqlite import SqliteStore  # noqa: PLC0415 - keep psycopg optional

        return SqliteStore(Path(url.removeprefix("sqlite:///")), sealer)
    if url.startswith(("postgresql://", "postgres://")):
        from storage.postgres import PostgresStore  # noqa: PLC0415

        return PostgresStore(url, sealer=sealer)
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
