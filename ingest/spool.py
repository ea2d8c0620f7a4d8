"""A gateway's durable outbox: MQTT messages kept on disk until the broker has them.

``vigil gateway`` writes every batch here first and publishes from the head (QoS 1),
removing a message only once the broker acknowledged it (``done``). So a broker outage,
a lost connection or a gateway restart loses nothing: the spool is sent in order when
the broker is back, from where it stopped. A message published but not yet removed when
the gateway stopped is published again after the restart; the backend drops the copy
by its ``(device_id, boot_id, seq)`` key, so nothing is stored twice.

SQLite in WAL mode with ``synchronous=FULL``: a ``put`` that returned is on disk.

The same file keeps the gateway's dead letters: notifications no decoder accepts, with
the reason (``dead_letter``), the newest ``max_dead_letters`` of them, for an operator to
read (``dead_letters``); they never reach the broker, which has no topic for raw GATT bytes.

Bounded: at most ``max_messages``. When full, the oldest message goes to make room for
the newest, and is counted (``dropped``, kept across restarts): a gateway cut off for
longer than its spool holds keeps the most recent readings, which say how the wearer is
now, rather than the oldest. Size it for the longest outage to ride out: at one
10-sample batch per band per second, 100,000 messages hold about 28 hours of one band,
or 5.5 hours of five.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import msgspec

from schemas.records import DeadLetter

_letter = msgspec.msgpack.Decoder(DeadLetter)
DEFAULT_MAX_MESSAGES = 100_000
DEFAULT_MAX_DEAD_LETTERS = 10_000


class Spooled(msgspec.Struct, frozen=True):
    """A message waiting in the spool; ``spool_id`` orders them."""

    spool_id: int
    topic: str
    payload: bytes


class Spool:
    """A FIFO of MQTT messages in a SQLite file (one writer: the gateway)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_messages: int = DEFAULT_MAX_MESSAGES,
        max_dead_letters: int = DEFAULT_MAX_DEAD_LETTERS,
    ) -> None:
        if max_messages < 1 or max_dead_letters < 1:
            raise ValueError("a spool holds at least one message and one dead letter")
        self.max_messages = max_messages
        self.max_dead_letters = max_dead_letters
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(
            "CREATE TABLE IF NOT EXISTS spool ("
            " spool_id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS spool_meta (name TEXT PRIMARY KEY, value INTEGER);"
            "INSERT OR IGNORE INTO spool_meta VALUES ('dropped', 0);"
            "CREATE TABLE IF NOT EXISTS dead_letters ("
            " letter_id INTEGER PRIMARY KEY AUTOINCREMENT, letter BLOB NOT NULL);"
        )
        # Kept in step with the table, so that a put does not count every row.
        (held,) = self._conn.execute("SELECT count(*) FROM spool").fetchone()
        self._held = int(held)

    def put(self, topic: str, payload: bytes) -> int:
        """Append a message (durable on return); how many old ones were dropped for it."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO spool (topic, payload) VALUES (?, ?)", (topic, payload))
                over = max(0, self._held + 1 - self.max_messages)
                if over:
                    conn.execute(
                        "DELETE FROM spool WHERE spool_id IN "
                        "(SELECT spool_id FROM spool ORDER BY spool_id LIMIT ?)",
                        (over,),
                    )
                    conn.execute(
                        "UPDATE spool_meta SET value = value + ? WHERE name = 'dropped'", (over,)
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._held += 1 - over
            return over

    def dead_letter(self, letter: DeadLetter) -> None:
        """Keep a notification no decoder accepted (the oldest go past the bound)."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO dead_letters (letter) VALUES (?)",
                    (msgspec.msgpack.encode(letter),),
                )
                conn.execute(
                    "DELETE FROM dead_letters WHERE letter_id <= "
                    "(SELECT max(letter_id) FROM dead_letters) - ?",
                    (self.max_dead_letters,),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters, newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT letter FROM dead_letters ORDER BY letter_id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_letter.decode(row[0]) for row in rows]

    def head(self, limit: int) -> list[Spooled]:
        """The oldest ``limit`` messages, oldest first (they stay until ``done``)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT spool_id, topic, payload FROM spool ORDER BY spool_id LIMIT ?", (limit,)
            ).fetchall()
        return [Spooled(spool_id, topic, bytes(payload)) for spool_id, topic, payload in rows]

    def done(self, spool_ids: list[int]) -> None:
        """Remove messages the broker has acknowledged."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.total_changes
                conn.executemany("DELETE FROM spool WHERE spool_id = ?", [(i,) for i in spool_ids])
                removed = conn.total_changes - before
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._held -= removed

    def __len__(self) -> int:
        return int(self._held)

    @property
    def dropped(self) -> int:
        """Messages dropped to make room, ever (not reset by a restart)."""
        with self._lock:
            (value,) = self._conn.execute(
                "SELECT value FROM spool_meta WHERE name = 'dropped'"
            ).fetchone()
        return int(value)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
