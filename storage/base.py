"""The store protocol: one unit of work per ingest chunk, and the queries the CLI needs.

Both backends (SQLite and PostgreSQL) pass one contract test suite
(``tests/storage/test_store_contract.py``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from schemas import Alert, AlertLevel
from schemas.scores import IndexRecord
from storage.records import DeadLetter, Heard, Received, ScoreRecord, WearerRecord


class StorageError(Exception):
    """Base of storage errors."""


class StorageUnavailable(StorageError):  # noqa: N818 - named by remedy: retry later
    """The database cannot be reached or refused the write; retry, nothing was committed."""


class MigrationError(StorageError):
    """A migration failed; a human must look (the database is left as it was)."""


class StoreTransaction(Protocol):
    """Writes that commit together or not at all."""

    def add_messages(self, messages: Sequence[Received]) -> list[Received]:
        """Store telemetry, events and gateway status; return those not seen before.

        A telemetry batch or event whose ``(device_id, boot_id, seq)`` is already
        stored (or repeated within ``messages``) is a duplicate: not stored again and
        not returned. Gateway statuses are always returned (latest one wins).
        """
        ...

    def add_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Store payloads that failed validation."""
        ...

    def add_scores(self, scores: Sequence[ScoreRecord]) -> None:
        """Store NEWS2 evaluations; one already stored for its device and time is skipped."""
        ...

    def add_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Store alerts; return those whose ``alert_id`` was new."""
        ...

    def add_indices(self, records: Sequence[IndexRecord]) -> None:
        """Store wellbeing index values."""
        ...


class Store(Protocol):
    """A place where readings, scores, alerts and dead letters are kept."""

    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""
        ...

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """A unit of work: commits on a clean exit, rolls back on an exception."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    def count_readings(self, device_id: str | None = None) -> int:
        """Number of stored samples (readings and ECG strips)."""
        ...

    def count_messages(self) -> int:
        """Number of distinct telemetry batches and events stored."""
        ...

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters first."""
        ...

    def count_dead_letters(self) -> int:
        """Number of dead letters."""
        ...

    def alerts(self, device_id: str | None = None) -> list[Alert]:
        """Alerts in the order they were raised."""
        ...

    def unnotified_alerts(self) -> list[Alert]:
        """Alerts stored but not yet delivered (the outbox), in the order raised."""
        ...

    def mark_notified(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        """Record that these alerts were delivered."""
        ...

    def unladdered_alerts(self, limit: int = 500) -> list[Alert]:
        """Alerts stored but not yet taken in by the alert ladders, in the order stored."""
        ...

    def mark_laddered(self, alert_ids: Sequence[str], at: dt.datetime) -> None:
        """Record that the alert ladders took these alerts in."""
        ...

    def alert_counts(self) -> dict[AlertLevel, int]:
        """How many alerts of each level (every level present, zero included)."""
        ...

    def scores(self, device_id: str) -> list[ScoreRecord]:
        """A wearer's NEWS2 evaluations in device-time order."""
        ...

    def indices(self, device_id: str) -> list[IndexRecord]:
        """A wearer's wellbeing index values in device-time order."""
        ...

    def unseen(self, messages: Sequence[Received]) -> list[Received]:
        """What ``add_messages`` would store now (a read: it takes no write lock).

        The sequenced messages (the first of each key) not stored yet, then every
        gateway status; the same objects, in the order ``add_messages`` returns them.
        """
        ...

    def last_heard(self, since: dt.datetime) -> list[Heard]:
        """Bands heard from since ``since``: when last, and their newest score's risk.

        A runner that restarts seeds its silence checks with these, so a band that
        never speaks again is still noticed.
        """
        ...

    def put_wearer(self, device_id: str, profile: bytes) -> int:
        """Store a wearer's profile (JSON, validated by the caller); its new revision."""
        ...

    def wearers_since(self, revision: int) -> list[WearerRecord]:
        """Profiles written after ``revision``, in revision order."""
        ...
