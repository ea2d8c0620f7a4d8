"""Where the ladders and their outbox live: SQLite (embedded) or PostgreSQL.

A ladder's new state and the actions it yielded are written in one transaction before
any of those actions is performed (``save``); the driver then marks each action
``sending`` before the provider call and ``sent`` or ``failed`` after it. A restart
therefore finds every open ladder with its deadline, every action still ``pending``
(performed then), and possibly one left ``sending`` by the crash: that one may have
gone out, so it is marked ``unknown`` and not sent again (``settle_interrupted``). A
call lost that way is covered by its rung's deadline, which passes the turn on.

On PostgreSQL the tables come from the store's migrations (``0009_alert_ladders``;
``vigil run`` and ``vigil db migrate`` apply them). The embedded runner keeps its ladders
in a SQLite file of their own beside the main one (``ladder_db_path``: ``vigil.db`` ->
``vigil-alerts.db``), which creates its tables itself: in the main file a ladder step
waited for the write lock behind the ingest shard's transactions (``bench.alert_latency``
measures the path under load).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import msgspec

from alerting.closeness import CallLogEntry
from alerting.contacts import Directory
from alerting.ladder import Action, Ladder, LadderPolicy, ladder_key_of
from alerting.snooze import Snooze
from storage.base import StorageUnavailable
from storage.sqlite import flocked

Status = Literal["pending", "sending", "sent", "failed", "unknown", "throttled"]

_action = msgspec.json.Decoder(Action)
_ladder = msgspec.json.Decoder(Ladder)
_directory = msgspec.json.Decoder(Directory)
_policy = msgspec.json.Decoder(LadderPolicy)
_log = msgspec.json.Decoder(list[CallLogEntry])
_snooze = msgspec.json.Decoder(Snooze)
# pg_try_advisory_lock's first key for "drives the ladders" ("vigl"); the second is the
# schema's hash, so deployments sharing a database in separate schemas do not contend.
_DRIVER_LOCK_KEY = int.from_bytes(b"vigl", "big")


class OutboxItem(msgspec.Struct, frozen=True, kw_only=True):
    """An action of a ladder and how far its sending got."""

    ladder_id: str
    action: Action
    status: Status
    provider_id: str | None = None
    error: str | None = None
    attempts: int = 0  # tries that failed for a reason that may pass

    @property
    def key(self) -> str:
        """The action's idempotency key."""
        return self.action.key


class WearerAlerting(msgspec.Struct, frozen=True, kw_only=True):
    """A wearer's contacts, ladder timing and call log."""

    directory: Directory
    policy: LadderPolicy = LadderPolicy()
    call_log: tuple[CallLogEntry, ...] = ()


class LadderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An acknowledgement or cancel asked for through the API, for the driving process.

    The API may run in another process than the one driving the ladders: it writes the
    request here, and the driver's intake applies it (``vigil/ladder_side.py``).
    """

    request_id: str
    ladder_id: str
    kind: Literal["ack", "cancel"]
    by: str
    at: dt.datetime


_request = msgspec.json.Decoder(LadderRequest)


class NoticeText(msgspec.Struct, frozen=True, kw_only=True):
    """An SMS the API asks the process driving the ladders to send (a notice's text).

    Consultation and appointment notices go out in-app and, where the recipient has a
    number, by SMS through the same sender as the alerts (``vigil/ladder_side.py``).
    """

    text_id: str
    to: str
    body: str
    at: dt.datetime


_text = msgspec.json.Decoder(NoticeText)


class LadderStore(Protocol):
    """The ladders, their outbox, and the wearers' contacts."""

    def save(
        self, ladder: Ladder, actions: Sequence[Action], *, alert_id: str | None = None
    ) -> None:
        """Write the ladder's state and queue its actions, together.

        ``alert_id``: the alert that caused the step, recorded as taken in.
        """
        ...

    def took_alert(self, alert_id: str) -> bool:
        """Whether a ladder already took this alert in."""
        ...

    def open_for(self, key: str) -> Ladder | None:
        """The open ladder of a wearer and cause (``ladder_key``), if any."""
        ...

    def get(self, ladder_id: str) -> Ladder | None:
        """A ladder, open or not."""
        ...

    def due(self, now: dt.datetime) -> list[Ladder]:
        """Open ladders whose deadline has come."""
        ...

    def next_deadline(self) -> dt.datetime | None:
        """The earliest deadline of an open ladder."""
        ...

    def ladders_of(self, device_id: str) -> list[Ladder]:
        """Every ladder of a wearer, oldest first (the alert timeline)."""
        ...

    def open_ladders(self) -> list[Ladder]:
        """Every open ladder, oldest first."""
        ...

    def last_closed(self, key: str) -> Ladder | None:
        """The wearer and cause's (``ladder_key``) most recently finished ladder."""
        ...

    def outbox(self, statuses: Sequence[Status] = ("pending",)) -> list[OutboxItem]:
        """Actions in these states, in the order they were queued."""
        ...

    def outbox_of(self, ladder_id: str) -> list[OutboxItem]:
        """Every action of one ladder, whatever its state, in the order queued."""
        ...

    def outbox_counts(self) -> dict[str, int]:
        """How many actions are in each sending status (the metrics)."""
        ...

    def mark(
        self,
        key: str,
        status: Status,
        *,
        provider_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record how an action's sending went."""
        ...

    def due_outbox(self, now: dt.datetime) -> list[OutboxItem]:
        """Pending actions whose time to be tried has come, in the order queued."""
        ...

    def sent_to(self, phone: str, since: dt.datetime) -> int:
        """How many messages and calls were sent to ``phone`` since ``since``."""
        ...

    def retry_later(self, key: str, not_before: dt.datetime, error: str) -> None:
        """Put an action back to pending, to be tried again from ``not_before``."""
        ...

    def action_of(self, key: str) -> Action | None:
        """The queued action with this key, if any."""
        ...

    def by_provider_id(self, provider_id: str) -> OutboxItem | None:
        """The action a provider's message or call id belongs to (for callbacks)."""
        ...

    def settle_interrupted(self) -> list[OutboxItem]:
        """Mark actions left ``sending`` by a crash as ``unknown``; return them."""
        ...

    def first_signature(self, signature: str, now: dt.datetime, keep_s: float) -> bool:
        """Record a callback's signature; False if it was recorded before (a replay).

        Signatures older than ``keep_s`` are forgotten.
        """
        ...

    def put_wearer_alerting(self, device_id: str, alerting: WearerAlerting) -> None:
        """Store (replace) a wearer's contacts, policy and call log."""
        ...

    def wearer_alerting(self, device_id: str) -> WearerAlerting | None:
        """A wearer's contacts, policy and call log, if stored."""
        ...

    def put_snooze(self, snooze: Snooze) -> None:
        """Store a snooze (replacing the wearer's snooze of the same direction)."""
        ...

    def snoozes_of(self, device_id: str, now: dt.datetime) -> list[Snooze]:
        """The wearer's snoozes still in force at ``now``."""
        ...

    def clear_snooze(self, device_id: str, what: str) -> bool:
        """End a snooze early; False if there was none."""
        ...

    def hold(self, alert_id: str, snooze: Snooze, at: dt.datetime) -> None:
        """Record an alert a snooze held back (``took_alert`` then knows it)."""
        ...

    def held(self, device_id: str) -> list[tuple[str, str, dt.datetime]]:
        """The alerts snoozes held back: (alert id, direction, when), oldest first."""
        ...

    def put_request(self, request: LadderRequest) -> None:
        """Queue an API acknowledgement or cancel for the driving process."""
        ...

    def pending_requests(self, limit: int = 100) -> list[LadderRequest]:
        """Requests not yet applied, oldest first."""
        ...

    def mark_request_taken(self, request_id: str, at: dt.datetime) -> None:
        """Record that the driver applied a request."""
        ...

    def put_text(self, text: NoticeText) -> None:
        """Queue an SMS for the driving process (once per ``text_id``)."""
        ...

    def pending_texts(self, now: dt.datetime, limit: int = 100) -> list[tuple[NoticeText, int]]:
        """Texts due at ``now``, not yet sent or given up, oldest first, with attempts made."""
        ...

    def mark_text(
        self,
        text_id: str,
        at: dt.datetime,
        outcome: str,
        *,
        retry_at: dt.datetime | None = None,
    ) -> None:
        """Record an attempt; ``retry_at``: try again then (else it is done: sent or failed)."""
        ...

    def lead(self) -> bool:
        """Try to become the one process driving the ladders on this database.

        True once this store holds the lead (kept until ``close``), False while another
        process holds it. Two drivers on one database would each step the same ladders.
        """
        ...

    def leading(self) -> bool:
        """Whether this store still holds the lead (a lost database connection loses it)."""
        ...

    def close(self) -> None:
        """Release the connection (and the lead)."""
        ...


def _deadline_text(value: dt.datetime | None) -> str | None:
    """A fixed-width UTC text, so SQLite compares deadlines in time order."""
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _SqlLadderStore:
    """The SQL both backends share; subclasses give the placeholders and transactions."""

    _param = "?"
    _json_in = "?"
    _json_out = "{}"
    _true = "1"
    _action_to = "json_extract(action, '$.to')"

    def _q(self, sql: str) -> str:
        return (
            sql.replace("$J", self._json_in).replace("?", self._param).replace("$TRUE", self._true)
        )

    def _out(self, column: str) -> str:
        return self._json_out.format(column)

    def _tx(self) -> AbstractContextManager[Any]:
        """A transaction on the connection (the subclass's)."""
        raise NotImplementedError

    def _time(self, value: dt.datetime | None) -> object:
        return _deadline_text(value)

    def _reading(self) -> AbstractContextManager[Any]:
        """A connection to read from (by default, a transaction)."""
        return self._tx()

    def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._reading() as conn:
            return list(conn.execute(self._q(sql), params).fetchall())

    def save(
        self, ladder: Ladder, actions: Sequence[Action], *, alert_id: str | None = None
    ) -> None:
        now = _now()
        state = msgspec.json.encode(ladder).decode()
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO ladders (ladder_id, ladder_key, device_id, is_open, deadline, "
                    "state, updated_at) VALUES (?, ?, ?, ?, ?, $J, ?) "
                    "ON CONFLICT (ladder_id) DO UPDATE SET is_open = excluded.is_open, "
                    "deadline = excluded.deadline, state = excluded.state, "
                    "updated_at = excluded.updated_at"
                ),
                (
                    ladder.ladder_id,
                    ladder_key_of(ladder),
                    ladder.device_id,
                    self._bool(ladder.is_open),
                    self._time(ladder.deadline),
                    state,
                    self._time(now),
                ),
            )
            for action in actions:
                self._queue(conn, ladder.ladder_id, action, now)
            if alert_id is not None:
                conn.execute(
                    self._q(
                        "INSERT INTO ladder_alerts (alert_id, ladder_id) VALUES (?, ?) "
                        "ON CONFLICT (alert_id) DO NOTHING"
                    ),
                    (alert_id, ladder.ladder_id),
                )

    def took_alert(self, alert_id: str) -> bool:
        return bool(
            self._fetch(
                "SELECT 1 FROM ladder_alerts WHERE alert_id = ? "
                "UNION ALL SELECT 1 FROM snoozed_alerts WHERE alert_id = ?",
                (alert_id, alert_id),
            )
        )

    def _bool(self, value: bool) -> object:
        return int(value)

    def _queue(self, conn: Any, ladder_id: str, action: Action, now: dt.datetime) -> None:
        conn.execute(
            self._q(
                "INSERT INTO ladder_outbox (action_key, ladder_id, position, action, status, "
                "created_at, updated_at) VALUES (?, ?, "
                "(SELECT COALESCE(MAX(position), 0) + 1 FROM ladder_outbox), $J, 'pending', ?, ?) "
                "ON CONFLICT (action_key) DO NOTHING"
            ),
            (
                action.key,
                ladder_id,
                msgspec.json.encode(action).decode(),
                self._time(now),
                self._time(now),
            ),
        )

    def open_for(self, key: str) -> Ladder | None:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE ladder_key = ? AND is_open = $TRUE",
            (key,),
        )
        return _ladder.decode(rows[0][0]) if rows else None

    def get(self, ladder_id: str) -> Ladder | None:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE ladder_id = ?", (ladder_id,)
        )
        return _ladder.decode(rows[0][0]) if rows else None

    def due(self, now: dt.datetime) -> list[Ladder]:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE is_open = $TRUE "
            "AND deadline <= ? ORDER BY deadline",
            (self._time(now),),
        )
        return [_ladder.decode(r[0]) for r in rows]

    def next_deadline(self) -> dt.datetime | None:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE is_open = $TRUE "
            "AND deadline IS NOT NULL ORDER BY deadline LIMIT 1"
        )
        return _ladder.decode(rows[0][0]).deadline if rows else None

    def ladders_of(self, device_id: str) -> list[Ladder]:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE device_id = ?", (device_id,)
        )
        return sorted((_ladder.decode(r[0]) for r in rows), key=lambda x: x.opened_at)

    def open_ladders(self) -> list[Ladder]:
        rows = self._fetch(f"SELECT {self._out('state')} FROM ladders WHERE is_open = $TRUE")
        return sorted((_ladder.decode(r[0]) for r in rows), key=lambda x: x.opened_at)

    def last_closed(self, key: str) -> Ladder | None:
        rows = self._fetch(
            f"SELECT {self._out('state')} FROM ladders WHERE ladder_key = ? "
            "AND is_open <> $TRUE ORDER BY updated_at DESC LIMIT 1",
            (key,),
        )
        return _ladder.decode(rows[0][0]) if rows else None

    def outbox(self, statuses: Sequence[Status] = ("pending",)) -> list[OutboxItem]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._fetch(
            f"SELECT ladder_id, {self._out('action')}, status, provider_id, error, attempts "
            f"FROM ladder_outbox WHERE status IN ({marks}) ORDER BY position",
            tuple(statuses),
        )
        return [self._item(r) for r in rows]

    def outbox_counts(self) -> dict[str, int]:
        rows = self._fetch("SELECT status, count(*) FROM ladder_outbox GROUP BY status", ())
        return {str(r[0]): int(r[1]) for r in rows}

    def outbox_of(self, ladder_id: str) -> list[OutboxItem]:
        rows = self._fetch(
            f"SELECT ladder_id, {self._out('action')}, status, provider_id, error, attempts "
            "FROM ladder_outbox WHERE ladder_id = ? ORDER BY position",
            (ladder_id,),
        )
        return [self._item(r) for r in rows]

    @staticmethod
    def _item(row: tuple[Any, ...]) -> OutboxItem:
        return OutboxItem(
            ladder_id=row[0],
            action=_action.decode(row[1]),
            status=row[2],
            provider_id=row[3],
            error=row[4],
            attempts=row[5],
        )

    def due_outbox(self, now: dt.datetime) -> list[OutboxItem]:
        rows = self._fetch(
            f"SELECT ladder_id, {self._out('action')}, status, provider_id, error, attempts "
            "FROM ladder_outbox WHERE status = 'pending' "
            "AND (not_before IS NULL OR not_before <= ?) ORDER BY position",
            (self._time(now),),
        )
        return [self._item(r) for r in rows]

    def sent_to(self, phone: str, since: dt.datetime) -> int:
        rows = self._fetch(
            f"SELECT count(*) FROM ladder_outbox WHERE status = 'sent' AND {self._action_to} = ? "
            "AND updated_at >= ?",
            (phone, self._time(since)),
        )
        return int(rows[0][0])

    def retry_later(self, key: str, not_before: dt.datetime, error: str) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "UPDATE ladder_outbox SET status = 'pending', attempts = attempts + 1, "
                    "not_before = ?, error = ?, updated_at = ? WHERE action_key = ?"
                ),
                (self._time(not_before), error, self._time(_now()), key),
            )

    def mark(
        self,
        key: str,
        status: Status,
        *,
        provider_id: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "UPDATE ladder_outbox SET status = ?, "
                    "provider_id = COALESCE(?, provider_id), error = ?, updated_at = ? "
                    "WHERE action_key = ?"
                ),
                (status, provider_id, error, self._time(_now()), key),
            )

    def action_of(self, key: str) -> Action | None:
        rows = self._fetch(
            f"SELECT {self._out('action')} FROM ladder_outbox WHERE action_key = ?", (key,)
        )
        return _action.decode(rows[0][0]) if rows else None

    def by_provider_id(self, provider_id: str) -> OutboxItem | None:
        rows = self._fetch(
            f"SELECT ladder_id, {self._out('action')}, status, provider_id, error, attempts "
            "FROM ladder_outbox WHERE provider_id = ?",
            (provider_id,),
        )
        return self._item(rows[0]) if rows else None

    def settle_interrupted(self) -> list[OutboxItem]:
        with self._tx() as conn:
            rows = conn.execute(
                self._q(
                    f"SELECT ladder_id, {self._out('action')}, status, provider_id, error, "
                    "attempts FROM ladder_outbox WHERE status = 'sending' ORDER BY position"
                )
            ).fetchall()
            conn.execute(
                self._q(
                    "UPDATE ladder_outbox SET status = 'unknown', updated_at = ? "
                    "WHERE status = 'sending'"
                ),
                (self._time(_now()),),
            )
        return [msgspec.structs.replace(self._item(r), status="unknown") for r in rows]

    def first_signature(self, signature: str, now: dt.datetime, keep_s: float) -> bool:
        with self._tx() as conn:
            conn.execute(
                self._q("DELETE FROM webhook_signatures WHERE seen_at < ?"),
                (self._time(now - dt.timedelta(seconds=keep_s)),),
            )
            inserted = conn.execute(
                self._q(
                    "INSERT INTO webhook_signatures (signature, seen_at) VALUES (?, ?) "
                    "ON CONFLICT (signature) DO NOTHING"
                ),
                (signature, self._time(now)),
            )
            return bool(inserted.rowcount == 1)

    def put_wearer_alerting(self, device_id: str, alerting: WearerAlerting) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO alert_directories (device_id, directory, policy, call_log, "
                    "updated_at) VALUES (?, $J, $J, $J, ?) ON CONFLICT (device_id) DO UPDATE "
                    "SET directory = excluded.directory, policy = excluded.policy, "
                    "call_log = excluded.call_log, updated_at = excluded.updated_at"
                ),
                (
                    device_id,
                    msgspec.json.encode(alerting.directory).decode(),
                    msgspec.json.encode(alerting.policy).decode(),
                    msgspec.json.encode(alerting.call_log).decode(),
                    self._time(_now()),
                ),
            )

    def wearer_alerting(self, device_id: str) -> WearerAlerting | None:
        rows = self._fetch(
            f"SELECT {self._out('directory')}, {self._out('policy')}, {self._out('call_log')} "
            "FROM alert_directories WHERE device_id = ?",
            (device_id,),
        )
        if not rows:
            return None
        directory, policy, log = rows[0]
        return WearerAlerting(
            directory=_directory.decode(directory),
            policy=_policy.decode(policy),
            call_log=tuple(_log.decode(log)),
        )

    def put_snooze(self, snooze: Snooze) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO alert_snoozes (device_id, what, until, snooze) "
                    "VALUES (?, ?, ?, $J) ON CONFLICT (device_id, what) DO UPDATE "
                    "SET until = excluded.until, snooze = excluded.snooze"
                ),
                (
                    snooze.device_id,
                    snooze.what,
                    self._time(snooze.until),
                    msgspec.json.encode(snooze).decode(),
                ),
            )

    def snoozes_of(self, device_id: str, now: dt.datetime) -> list[Snooze]:
        rows = self._fetch(
            f"SELECT {self._out('snooze')} FROM alert_snoozes WHERE device_id = ? AND until > ?",
            (device_id, self._time(now)),
        )
        return sorted((_snooze.decode(r[0]) for r in rows), key=lambda s: s.what)

    def clear_snooze(self, device_id: str, what: str) -> bool:
        with self._tx() as conn:
            cleared = conn.execute(
                self._q("DELETE FROM alert_snoozes WHERE device_id = ? AND what = ?"),
                (device_id, what),
            )
            return bool(cleared.rowcount)

    def hold(self, alert_id: str, snooze: Snooze, at: dt.datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO snoozed_alerts (alert_id, device_id, what, held_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING"
                ),
                (alert_id, snooze.device_id, snooze.what, self._time(at)),
            )

    def held(self, device_id: str) -> list[tuple[str, str, dt.datetime]]:
        rows = self._fetch(
            "SELECT alert_id, what, held_at FROM snoozed_alerts WHERE device_id = ? "
            "ORDER BY held_at",
            (device_id,),
        )
        return [(str(a), str(w), _as_time(t)) for a, w, t in rows]

    def put_request(self, request: LadderRequest) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO ladder_requests (request_id, position, ladder_id, request, "
                    "requested_at) VALUES (?, "
                    "(SELECT COALESCE(MAX(position), 0) + 1 FROM ladder_requests), ?, $J, ?) "
                    "ON CONFLICT (request_id) DO NOTHING"
                ),
                (
                    request.request_id,
                    request.ladder_id,
                    msgspec.json.encode(request).decode(),
                    self._time(request.at),
                ),
            )

    def pending_requests(self, limit: int = 100) -> list[LadderRequest]:
        rows = self._fetch(
            f"SELECT {self._out('request')} FROM ladder_requests WHERE taken_at IS NULL "
            "ORDER BY position LIMIT ?",
            (limit,),
        )
        return [_request.decode(r[0]) for r in rows]

    def mark_request_taken(self, request_id: str, at: dt.datetime) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q("UPDATE ladder_requests SET taken_at = ? WHERE request_id = ?"),
                (self._time(at), request_id),
            )

    def put_text(self, text: NoticeText) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "INSERT INTO notice_texts (text_id, position, text, queued_at, attempts) "
                    "VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM notice_texts), "
                    "$J, ?, 0) ON CONFLICT (text_id) DO NOTHING"
                ),
                (text.text_id, msgspec.json.encode(text).decode(), self._time(text.at)),
            )

    def pending_texts(self, now: dt.datetime, limit: int = 100) -> list[tuple[NoticeText, int]]:
        rows = self._fetch(
            f"SELECT {self._out('text')}, attempts FROM notice_texts WHERE done_at IS NULL "
            "AND (retry_at IS NULL OR retry_at <= ?) ORDER BY position LIMIT ?",
            (self._time(now), limit),
        )
        return [(_text.decode(r[0]), int(r[1])) for r in rows]

    def mark_text(
        self,
        text_id: str,
        at: dt.datetime,
        outcome: str,
        *,
        retry_at: dt.datetime | None = None,
    ) -> None:
        with self._tx() as conn:
            conn.execute(
                self._q(
                    "UPDATE notice_texts SET attempts = attempts + 1, outcome = ?, "
                    "done_at = ?, retry_at = ? WHERE text_id = ?"
                ),
                (
                    outcome[:500],
                    None if retry_at is not None else self._time(at),
                    None if retry_at is None else self._time(retry_at),
                    text_id,
                ),
            )


def _as_time(value: object) -> dt.datetime:
    """A time as stored: a datetime (PostgreSQL) or ``_deadline_text`` (SQLite)."""
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def ladder_db_path(main_db: Path) -> Path:
    """The embedded runner's ladder file beside its main SQLite file."""
    return main_db.with_name(f"{main_db.stem}-alerts{main_db.suffix or '.db'}")


_SQLITE_SCHEMA = """
-- The alert ladders (alerting/ladder.py) and their outbox, written together before any
-- message or call goes out, so a restart resumes each open ladder where it was and
-- sends nothing twice. state and action are msgspec JSON.
CREATE TABLE IF NOT EXISTS ladders (
    ladder_id TEXT PRIMARY KEY,
    ladder_key TEXT NOT NULL,
    device_id TEXT NOT NULL,
    is_open INTEGER NOT NULL,
    deadline TEXT,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ladders_one_open ON ladders (ladder_key) WHERE is_open = 1;
CREATE INDEX IF NOT EXISTS ladders_deadline ON ladders (deadline) WHERE is_open = 1;
CREATE INDEX IF NOT EXISTS ladders_device ON ladders (device_id);

-- status: pending (written, not tried, or to be tried again from not_before), sending
-- (tried, no answer yet), sent, failed, unknown (a restart found it sending: it may or
-- may not have gone out; not retried), throttled (a routine message to a number that
-- had too many already; not sent).
CREATE TABLE IF NOT EXISTS ladder_outbox (
    action_key TEXT PRIMARY KEY,
    ladder_id TEXT NOT NULL REFERENCES ladders (ladder_id),
    position INTEGER NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before TEXT,
    provider_id TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ladder_outbox_open ON ladder_outbox (position)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS ladder_outbox_provider ON ladder_outbox (provider_id);

-- Who each wearer's ladder may tell (alerting.contacts.Directory), its timing
-- (LadderPolicy) and the call log imported for closeness, as msgspec JSON.
CREATE TABLE IF NOT EXISTS alert_directories (
    device_id TEXT PRIMARY KEY,
    directory TEXT NOT NULL,
    policy TEXT NOT NULL,
    call_log TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Twilio callbacks already taken in, by their X-Twilio-Signature (alerting/webhooks.py):
-- the same signed request again is a replay, refused also after a restart.
CREATE TABLE IF NOT EXISTS webhook_signatures (
    signature TEXT PRIMARY KEY,
    seen_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_signatures_seen ON webhook_signatures (seen_at);

-- Every alert a ladder took in (opened, raised or ended it): an alert delivered again
-- after a restart is recognised and changes nothing.
CREATE TABLE IF NOT EXISTS ladder_alerts (
    alert_id TEXT PRIMARY KEY,
    ladder_id TEXT NOT NULL REFERENCES ladders (ladder_id)
);

-- Snoozes by direction (alerting/snooze.py), one per wearer and direction, as msgspec
-- JSON; and the alerts they held back (also so a redelivered one is known).
CREATE TABLE IF NOT EXISTS alert_snoozes (
    device_id TEXT NOT NULL,
    what TEXT NOT NULL,
    until TEXT NOT NULL,
    snooze TEXT NOT NULL,
    PRIMARY KEY (device_id, what)
);
CREATE TABLE IF NOT EXISTS snoozed_alerts (
    alert_id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    what TEXT NOT NULL,
    held_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS snoozed_alerts_device ON snoozed_alerts (device_id, held_at);

-- Acknowledgements and cancels asked for through the API (consult_bridge), applied by
-- the process driving the ladders (vigil/ladder_side.py), as msgspec JSON.
CREATE TABLE IF NOT EXISTS ladder_requests (
    request_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    ladder_id TEXT NOT NULL,
    request TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    taken_at TEXT
);
CREATE INDEX IF NOT EXISTS ladder_requests_pending ON ladder_requests (position)
    WHERE taken_at IS NULL;

-- SMS the API asks the driving process to send (consultation and appointment notices).
CREATE TABLE IF NOT EXISTS notice_texts (
    text_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    outcome TEXT,
    retry_at TEXT,
    done_at TEXT
);
CREATE INDEX IF NOT EXISTS notice_texts_pending ON notice_texts (position)
    WHERE done_at IS NULL;
"""


class SqliteLadderStore(_SqlLadderStore):
    """The ladders in a SQLite file of their own (its tables created on opening)."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database: {exc}") from exc
        self._path = path
        self._driver_lock: BinaryIO | None = None
        self._lock = threading.Lock()
        # Processes sharing the file (``vigil contacts set`` while ``vigil run`` runs)
        # queue on this lock rather than in SQLite's sleeping busy handler.
        self._writer_lock = Path(f"{path}-writer.lock").open("ab")  # noqa: SIM115
        code = "\n".join(line for line in _SQLITE_SCHEMA.splitlines() if not line.startswith("--"))
        try:
            with self._tx() as conn:
                for statement in code.split(";"):
                    if statement.strip():
                        conn.execute(statement)
        except BaseException:
            self.close()
            raise

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock, flocked(self._writer_lock):
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageUnavailable(str(exc)) from exc
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise StorageUnavailable(str(exc)) from exc

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        # A read in WAL mode sees the last commit without waiting for a writer.
        with self._lock:
            yield self._conn

    def lead(self) -> bool:
        if self._driver_lock is not None:
            return True
        lock = Path(f"{self._path}-driver.lock").open("ab")  # noqa: SIM115 - held while leading
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return False
        self._driver_lock = lock
        return True

    def leading(self) -> bool:
        return self._driver_lock is not None  # a flock lasts as long as the process

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._writer_lock.close()
            if self._driver_lock is not None:
                self._driver_lock.close()  # releases the lead


class PostgresLadderStore(_SqlLadderStore):
    """The ladders in PostgreSQL (``PostgresStore`` migrates it)."""

    _param = "%s"
    _json_in = "%s::jsonb"
    _json_out = "{}::text"
    _true = "true"
    _action_to = "action->>'to'"

    def __init__(self, dsn: str) -> None:
        import psycopg  # noqa: PLC0415 - only the PostgreSQL tier needs it

        self._psycopg = psycopg
        self._dsn = dsn
        self._lock = threading.Lock()
        self._conn: Any = None
        self._lead_conn: Any = None

    def _time(self, value: dt.datetime | None) -> object:
        return value

    def _bool(self, value: bool) -> object:
        return value

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

    def lead(self) -> bool:
        if self.leading():
            return True
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self._dsn, autocommit=True)
        except psycopg.OperationalError as exc:
            raise StorageUnavailable(str(exc)) from exc
        # A session lock on a connection of its own: released when the process or its
        # connection dies, so a standby takes over.
        (held,) = conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))", (_DRIVER_LOCK_KEY,)
        ).fetchone()
        if not held:
            conn.close()
            return False
        self._lead_conn = conn
        return True

    def leading(self) -> bool:
        conn = self._lead_conn
        if conn is None:
            return False
        try:
            conn.execute("SELECT 1")
        except self._psycopg.Error:
            conn.close()
            self._lead_conn = None  # the lock went with the connection
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
            if self._lead_conn is not None:
                self._lead_conn.close()
                self._lead_conn = None


def open_ladder_store(url: str) -> LadderStore:
    """The ladder store on the database a URL names (as ``storage.open_store``)."""
    if url.startswith("sqlite:///"):
        return SqliteLadderStore(ladder_db_path(Path(url.removeprefix("sqlite:///"))))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresLadderStore(url)
    raise ValueError("database URL must start with sqlite:/// or postgresql://")
