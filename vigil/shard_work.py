"""One shard's unit of work: a chunk in, one durable transaction, then the new states.

For each chunk of messages, in one store transaction: new telemetry and events are
stored (duplicates by ``(device_id, boot_id, seq)`` dropped), the shard's per-device
processors score them, and the scores, alerts and dead letters are stored. Only after
the commit are the processors' new states adopted, and only then does the runner
acknowledge the messages, so a ``kill -9`` at any point loses nothing: the broker
redelivers what was not acknowledged and the store drops what it already has.

Everything here blocks; a shard runs it in a thread (in process) or in a child process
(``vigil/shard_process.py``). The asyncio side is ``vigil/shards.py`` and
``vigil/pipeline.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import msgspec

from ingest.intake import intake
from ingest.mqtt.source import backoff_delay
from schemas import Alert, GatewayStatusV1, TelemetryBatchV1, encode
from schemas.records import DeadLetter, Received
from storage.base import StorageUnavailable, Store
from stream_processors.fleet import Fleet, Plan
from vigil.dead_letter_valve import DeadLetterValve, ValveLimits
from vigil.profiles import ProfileBook
from vigil.settings import Settings

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    """The receive-time clock (injected so tests can pin it)."""
    return dt.datetime.now(dt.UTC)


class Message(Protocol):
    """A message as received: ``ingest.mqtt.source.Inbound`` or a ``RawMessage``."""

    @property
    def topic(self) -> str: ...
    @property
    def payload(self) -> bytes: ...
    @property
    def size(self) -> int | None: ...


class RawMessage(msgspec.Struct, frozen=True, array_like=True):
    """A message without its acknowledgement handle: what a child-process shard gets."""

    topic: str
    payload: bytes
    size: int | None = None


class DecodedChunk(msgspec.Struct, frozen=True, kw_only=True):
    """A chunk split into decoded messages and dead letters.

    ``observed`` are gateway statuses another shard stores: this shard's silence checks
    still need to know a gateway went offline.
    """

    received_at: dt.datetime
    accepted: list[Received]
    dead: list[DeadLetter]
    observed: list[GatewayStatusV1] = msgspec.field(default_factory=list)
    not_kept: int = 0  # dead letters of a flooding topic, counted only (dead_letter_valve)


class ChunkReport(msgspec.Struct, frozen=True, kw_only=True):
    """What committing one chunk did: what a runner counts, logs and delivers."""

    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    dead_letter_reasons: list[str] = msgspec.field(default_factory=list)
    dead_letters_not_kept: int = 0
    samples: int = 0
    too_late: int = 0  # batches beyond the lateness bound: stored, not scored
    new_alerts: list[Alert] = msgspec.field(default_factory=list)


class ChunkResult(msgspec.Struct, frozen=True, kw_only=True):
    """A committed chunk: the states to adopt and the report."""

    plan: Plan
    report: ChunkReport


class _Raced(Exception):  # noqa: N818 - control flow, never leaves this module
    """The store took a different set of messages than ``unseen`` said it would."""


class ShardWork:
    """The devices of one shard: their processors, over a store shared with other shards."""

    def __init__(
        self,
        store: Store,
        fleet: Fleet,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        retry_max_s: float = 10.0,
        owns: Callable[[str], bool] | None = None,
        profiles: ProfileBook | None = None,
        valve: DeadLetterValve | None = None,
    ) -> None:
        self.store = store
        self.valve = valve or DeadLetterValve(ValveLimits())
        self.fleet = fleet
        self.profiles = profiles  # the fleet's profile source, refreshed here
        self._clock = clock
        self._retry_max_s = retry_max_s
        self._owns = owns or (lambda _device_id: True)
        self._rng = random.Random()  # noqa: S311 - jitter only

    def decode(
        self,
        messages: Sequence[Message],
        received_at: dt.datetime | None = None,
        observe: Sequence[Message] = (),
    ) -> DecodedChunk:
        """Decode and validate a chunk (pure CPU work)."""
        received_at = received_at or self._clock()
        accepted: list[Received] = []
        dead: list[DeadLetter] = []
        for m in messages:
            item = intake(m.topic, m.payload, received_at, size=m.size)
            if isinstance(item, Received):
                accepted.append(item)
            else:
                dead.append(item)
        dead, not_kept = self.valve.admit(dead, received_at)
        observed = []
        for m in observe:  # the owning shard dead-letters what does not decode
            item = intake(m.topic, m.payload, received_at, size=m.size)
            if isinstance(item, Received) and isinstance(item.message, GatewayStatusV1):
                observed.append(item.message)
        return DecodedChunk(
            received_at=received_at,
            accepted=accepted,
            dead=dead,
            observed=observed,
            not_kept=not_kept,
        )

    def commit(self, decoded: DecodedChunk) -> ChunkResult:
        """Store a decoded chunk and what it produced (one transaction; states not adopted).

        The processors run before the write transaction, on what the store does not
        have yet (``unseen``), so shards in other processes can score while one writes.
        A shard owns its devices, so nobody else stores their messages in between; if
        somebody did (a second runner), the transaction is undone and done again with
        the processors inside it.
        """
        fresh = self.store.unseen(decoded.accepted)
        plan = self._plan(decoded, fresh)
        try:
            return self._store(decoded, plan, fresh)
        except _Raced:
            log.warning("another writer stored messages of this shard's devices; redoing")
            return self._store(decoded, None, None)

    def _plan(self, decoded: DecodedChunk, new: Sequence[Received]) -> Plan:
        sequenced = [r.message for r in new if not isinstance(r.message, GatewayStatusV1)]
        statuses = [r.message for r in new if isinstance(r.message, GatewayStatusV1)]
        return self.fleet.plan(
            sequenced, received_at=decoded.received_at, gateways=[*statuses, *decoded.observed]
        )

    def _store(
        self, decoded: DecodedChunk, plan: Plan | None, expected: list[Received] | None
    ) -> ChunkResult:
        dead = list(decoded.dead)
        with self.store.transaction() as tx:
            new = tx.add_messages(decoded.accepted)
            # Both hand back the very objects they were given, so identity compares them.
            if expected is not None and [id(r) for r in new] != [id(r) for r in expected]:
                raise _Raced
            if plan is None:
                plan = self._plan(decoded, new)
            for message, error in plan.failures:
                log.error("processing failed for a message of %s: %s", message.device_id, error)
                dead.append(
                    DeadLetter.of(
                        received_at=decoded.received_at,
                        topic="(processing)",
                        reason="processing_error",
                        detail=error,
                        payload=encode(message),
                    )
                )
            tx.add_scores(plan.scores)
            tx.add_indices(plan.indices)
            new_alerts = tx.add_alerts(plan.alerts)
            tx.add_dead_letters(dead)
        samples = sum(
            len(r.message.samples) if isinstance(r.message, TelemetryBatchV1) else 1
            for r in new
            if not isinstance(r.message, GatewayStatusV1)
        )
        return ChunkResult(
            plan=plan,
            report=ChunkReport(
                stored=len(new),
                duplicates=len(decoded.accepted) - len(new),
                dead_letters=len(dead),
                dead_letter_reasons=[d.reason for d in dead],
                dead_letters_not_kept=decoded.not_kept,
                samples=samples,
                too_late=plan.too_late,
                new_alerts=new_alerts,
            ),
        )

    def process(
        self,
        messages: Sequence[Message],
        received_at: dt.datetime | None = None,
        observe: Sequence[Message] = (),
    ) -> ChunkReport:
        """Decode, commit (retrying while the store is unavailable), adopt; the report."""
        if self.profiles is not None:
            self.profiles.refresh_if_due()
        decoded = self.decode(messages, received_at, observe)
        attempt = 0
        while True:
            try:
                result = self.commit(decoded)
                break
            except StorageUnavailable as exc:
                if attempt == 0:
                    log.warning(
                        "store unavailable, holding %d messages unacked: %s", len(messages), exc
                    )
                time.sleep(backoff_delay(attempt, 0.2, self._retry_max_s, self._rng))
                attempt += 1
        self.fleet.adopt(result.plan)
        return result.report

    def commit_tick(self, backend_ok: bool) -> tuple[Plan, list[Alert]]:
        """Store the "signal lost" alerts a tick raises (one transaction; not adopted)."""
        plan = self.fleet.tick(self._clock(), backend_ok=backend_ok)
        if not plan.alerts:
            return plan, []
        with self.store.transaction() as tx:
            new_alerts = tx.add_alerts(plan.alerts)
        return plan, new_alerts

    def tick(self, backend_ok: bool) -> list[Alert]:
        """Check this shard's bands for a lost signal; the new alerts."""
        if self.profiles is not None:
            self.profiles.refresh_if_due()  # a wearer just marked at risk is checked now
        try:
            plan, new_alerts = self.commit_tick(backend_ok)
        except StorageUnavailable as exc:
            log.warning("store unavailable, silence checks wait: %s", exc)
            return []
        self.fleet.adopt(plan)
        return new_alerts

    def seed_silence_checks(self, horizon: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Know this shard's bands heard from within ``horizon`` before a (re)start.

        Without this, a band that goes silent while Vigil is down would never be missed.
        """
        seeded = 0
        for h in self.store.last_heard(self._clock() - horizon):
            if self._owns(h.device_id):
                self.fleet.seed_contact(h.device_id, h.received_at, h.gateway_id, h.risk)
                seeded += 1
        return seeded


def shard_work_for(settings: Settings, store: Store, owns: Callable[[str], bool]) -> ShardWork:
    """A shard's work as ``vigil run`` sets it up: its devices' processors and profiles."""
    profiles = ProfileBook(store, refresh_s=settings.profile_refresh_s, owns=owns)
    return ShardWork(
        store,
        Fleet(settings.processor(), profiles),
        owns=owns,
        profiles=profiles,
        valve=DeadLetterValve(settings.dead_letter_limits()),
    )
