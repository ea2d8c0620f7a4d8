"""Faults real fleets have, applied to any scenario's messages on their way to the broker.

A sans-I/O transform over ``(tick, message)`` in publishing order (``device_sim/publisher.py``
publishes what comes out, tick by tick):

* ``skew``: the band's clock runs ``skew_s`` ahead (every device time shifted);
* ``duplicates``: every ``duplicate_every``-th message is sent three times in a burst;
* ``reorder``: every ``reorder_every``-th telemetry batch is sent after the one that followed it
  (within the processors' lateness bound when a batch spans less than it);
* ``backfill``: the band's gateway is offline for a share of the run: its messages are held
  and sent together, in order, when it is back;
* ``malformed``: every ``malformed_every``-th message is followed by a payload that is not
  valid telemetry (a dead letter for the backend);
* ``broker_restart``: the broker is stopped and started again at ``broker_restart_at`` of
  the run. Not a transform of the messages: the runner does it (``vigil/demo.py``, with a
  Mosquitto whose persistence keeps the backend's session and its queued messages).

The backend should make the same alerts of the faulty stream as of the clean one; it should
store each distinct message once, and dead-letter exactly the malformed payloads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Literal

import msgspec

from schemas import EventV1, TelemetryBatchV1, encode
from schemas.topics import event_topic, telemetry_topic

FaultName = Literal["skew", "duplicates", "reorder", "backfill", "malformed", "broker_restart"]
FAULT_NAMES: tuple[FaultName, ...] = (
    "skew",
    "duplicates",
    "reorder",
    "backfill",
    "malformed",
    "broker_restart",
)
Message = TelemetryBatchV1 | EventV1
MALFORMED = b'{"schema": "vigil.telemetry.v1", "device_id": "cut short'


class Faults(msgspec.Struct, frozen=True, kw_only=True):
    """Which faults to apply, and how often."""

    skew_s: float = 0.0
    duplicate_every: int = 0
    reorder_every: int = 0
    backfill: tuple[float, float] | None = None  # offline from/to, as shares of the run
    malformed_every: int = 0
    broker_restart_at: float | None = None  # share of the run (the runner restarts it)

    @classmethod
    def named(cls, names: Iterable[str]) -> Faults:
        """The preset of each named fault (``FAULT_NAMES``); ``ValueError`` for others."""
        chosen = set(names)
        unknown = chosen - set(FAULT_NAMES)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; known: {list(FAULT_NAMES)}")
        return cls(
            skew_s=3600.0 if "skew" in chosen else 0.0,
            duplicate_every=7 if "duplicates" in chosen else 0,
            reorder_every=5 if "reorder" in chosen else 0,
            backfill=(0.3, 0.5) if "backfill" in chosen else None,
            malformed_every=11 if "malformed" in chosen else 0,
            broker_restart_at=0.6 if "broker_restart" in chosen else None,
        )


def shift(message: Message, by: dt.timedelta) -> Message:
    """``message`` with every device time moved by ``by`` (a skewed clock)."""
    if isinstance(message, EventV1):
        return msgspec.structs.replace(message, occurred_at=message.occurred_at + by)
    samples = tuple(
        msgspec.structs.replace(s, measured_at=s.measured_at + by) for s in message.samples
    )
    return msgspec.structs.replace(message, sent_at=message.sent_at + by, samples=samples)


class FaultStats(msgspec.Struct, kw_only=True):
    """What the faults did: distinct messages, copies, malformed payloads injected."""

    distinct: int = 0
    copies: int = 0
    malformed: int = 0


def topic_of(message: Message) -> str:
    """The MQTT topic a band publishes ``message`` on."""
    if isinstance(message, EventV1):
        return event_topic(message.device_id)
    return telemetry_topic(message.device_id)


def _sent(tick: int, message: Message) -> tuple[int, str, bytes]:
    return tick, topic_of(message), encode(message)


def with_faults(
    items: Iterable[tuple[int, Message]], faults: Faults, *, ticks: int, stats: FaultStats
) -> Iterator[tuple[int, str, bytes]]:
    """``(tick, topic, payload)`` as the faulty fleet sends the items.

    ``ticks``: how many ticks the run has (the backfill's window is a share of them). The
    n-th message's copies and malformed follower go with it, whenever it goes (held or
    deferred), so each fault keeps its rate however the others move messages.
    """
    by = dt.timedelta(seconds=faults.skew_s)
    offline = (
        (round(faults.backfill[0] * ticks), round(faults.backfill[1] * ticks))
        if faults.backfill
        else None
    )

    def send(tick: int, n: int, message: Message) -> Iterator[tuple[int, str, bytes]]:
        yield _sent(tick, message)
        if faults.duplicate_every and n % faults.duplicate_every == 0:
            stats.copies += 2
            yield _sent(tick, message)
            yield _sent(tick, message)
        if faults.malformed_every and n % faults.malformed_every == 0:
            stats.malformed += 1
            yield tick, telemetry_topic(message.device_id), MALFORMED

    held: list[tuple[int, Message]] = []
    deferred: tuple[int, Message] | None = None
    batches = 0
    for n, (tick, original) in enumerate(items, start=1):
        message = shift(original, by) if by else original
        stats.distinct += 1
        if offline is not None and offline[0] <= tick < offline[1]:
            if deferred is not None:  # it was on its way before the gateway went
                yield from send(tick, *deferred)
                deferred = None
            held.append((n, message))
            continue
        for kept_n, kept in held:  # the gateway is back: what it held goes first, in order
            yield from send(tick, kept_n, kept)
        held = []
        if isinstance(message, TelemetryBatchV1):
            batches += 1
            if deferred is None and faults.reorder_every and batches % faults.reorder_every == 0:
                deferred = (n, message)
                continue
        yield from send(tick, n, message)
        if deferred is not None:
            yield from send(tick, *deferred)
            deferred = None
    for kept_n, kept in held:
        yield from send(ticks, kept_n, kept)
    if deferred is not None:
        yield from send(ticks, *deferred)
