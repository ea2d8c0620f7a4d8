"""Device-time order within a bounded lateness, on top of the per-device processor.

Telemetry is processed as it arrives, so an in-order stream (the usual case) gets its
alerts with no added delay. A batch that arrives *out of order* (older than the newest
already processed, by at most ``ProcessorSettings.lateness_s`` of device time) is
slotted into device-time order: the processor state from just before it is taken, and
it and every later retained batch are processed again. The alerts of the replay are
compared with those raised before:

* an alert raised before and raised again is unchanged (same ``alert_id``: ids derive
  from the triggering batch, so a replay reproduces them);
* an alert raised again with a different summary or score, or raised by another batch
  at the same level and from the same source, is *amended*: a new record with
  ``change="amended"`` that ``refers_to`` the original;
* an alert the replay no longer raises is *retracted*: a level-none record with
  ``change="retracted"`` that refers to it;
* an alert only the replay raises is raised as usual.

A batch older than the newest by more than the lateness is *too late*: its readings
are stored, but it is not scored, since the state it would need is gone. Events (SOS,
fall) do not depend on the state and are handled at once, in any order.

A *duplicate* (the same ``(boot_id, seq)`` again) yields nothing. The embedded runner's
store already drops them, but a Kafka worker that restarts re-reads what it processed
after its last offset commit, possibly against a state that already holds it: a
retained batch or one of the last ``RECENT_EVENTS`` events is recognised here, and an
older batch is too late anyway.

Re-scored batches yield their index values again (storage keeps one value per
wearer, time and index), but not their NEWS2 scores: the stored score history stays
as first computed; alerts, which people act on, are what is corrected.

The retention is the state after each batch of the last ``lateness_s`` (states are
immutable, so these are shared references, not copies) and the batches themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from schemas import Alert, AlertLevel, EventV1, TelemetryBatchV1
from schemas.scores import IndexRecord, ScoreRecord
from stream_processors.device import (
    DeviceState,
    ProcessorSettings,
    StepResult,
    WearerProfile,
    step,
)

Key = tuple[dt.datetime, int, int]  # newest sample time, boot id, seq
RECENT_EVENTS = 64  # events remembered (boot id, seq) to drop a redelivered one


class Retained(msgspec.Struct, frozen=True, gc=False):
    """A processed batch: its device-time key, the batch, and what it produced."""

    key: Key
    batch: TelemetryBatchV1
    state: DeviceState  # after the batch
    alerts: tuple[Alert, ...]
    indices: tuple[IndexRecord, ...]


class OrderedState(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A device's processor state with the retention needed to re-order late batches."""

    checkpoint: DeviceState | None = None  # the state before the oldest retained batch
    retained: tuple[Retained, ...] = ()
    recent_events: tuple[tuple[int, int], ...] = ()  # (boot id, seq), newest last

    @property
    def current(self) -> DeviceState | None:
        """The state after every batch processed so far."""
        return self.retained[-1].state if self.retained else self.checkpoint


class OrderedResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one message produced, in device-time order."""

    state: OrderedState
    scores: tuple[ScoreRecord, ...] = ()
    alerts: tuple[Alert, ...] = ()  # new, amended and retracted alerts
    indices: tuple[IndexRecord, ...] = ()
    order: Literal["in_order", "reordered", "too_late", "duplicate"] = "in_order"


def batch_key(batch: TelemetryBatchV1) -> Key:
    """Device-time order: the batch's newest sample, then boot id and sequence number."""
    newest = max(s.measured_at for s in batch.samples)
    return newest, batch.boot_id, batch.seq


def _retained(key: Key, batch: TelemetryBatchV1, r: StepResult) -> Retained:
    return Retained(key, batch, r.state, r.alerts, r.indices)


def _prune(
    entries: list[Retained],
    checkpoint: DeviceState | None,
    lateness: dt.timedelta,
    recent: tuple[tuple[int, int], ...],
) -> OrderedState:
    """Keep the batches within ``lateness`` of the newest; the rest fold into the checkpoint."""
    newest = entries[-1].key[0]
    keep_from = 0
    while keep_from < len(entries) - 1 and entries[keep_from].key[0] < newest - lateness:
        checkpoint = entries[keep_from].state
        keep_from += 1
    return OrderedState(
        checkpoint=checkpoint, retained=tuple(entries[keep_from:]), recent_events=recent
    )


def _amended(original: Alert, alert: Alert, cause: str) -> Alert:
    return msgspec.structs.replace(
        alert,
        alert_id=f"{original.alert_id}:amended-by:{cause}",
        change="amended",
        refers_to=original.alert_id,
        summary=f"Amended after late readings: {alert.summary}",
    )


def _changes(
    before: list[Alert], after: list[Alert], late: TelemetryBatchV1
) -> tuple[list[Alert], dict[str, str]]:
    """New, amended and retracted alerts between two runs over the same batches.

    ``before`` holds alerts under the ids they were published with, ``after`` the
    replay's. An alert that moved to another batch (same source and level, e.g. orange
    reached 3 s earlier once a late reading is in) is one amendment, not a retraction
    and a new alarm: the people already told hear about it once. Also returns, for each
    replayed alert, the id it is published under from now on.
    """
    old = {a.alert_id: a for a in before}
    cause = f"{late.boot_id}:{late.seq}"
    out: list[Alert] = []
    published: dict[str, str] = {}
    gone = [a for a in before if a.alert_id not in {x.alert_id for x in after}]
    for alert in after:
        previous = old.get(alert.alert_id)
        if previous is None:
            same = (alert.source, alert.level)
            previous = next((g for g in gone if (g.source, g.level) == same), None)
            if previous is None:
                out.append(alert)
                published[alert.alert_id] = alert.alert_id
                continue
            gone.remove(previous)
        published[alert.alert_id] = previous.alert_id
        if msgspec.structs.replace(alert, alert_id=previous.alert_id) != previous:
            out.append(_amended(previous, alert, cause))
    out.extend(
        msgspec.structs.replace(
            alert,
            alert_id=f"{alert.alert_id}:retracted-by:{cause}",
            level=AlertLevel.NONE,
            change="retracted",
            refers_to=alert.alert_id,
            summary=f"Retracted after late readings: {alert.summary}",
            score=None,
        )
        for alert in gone
    )
    return out, published


def step_in_order(
    ordered: OrderedState | None,
    message: TelemetryBatchV1 | EventV1,
    profile: WearerProfile,
    settings: ProcessorSettings,
) -> OrderedResult:
    """Process one message of one device in device-time order (see the module docstring)."""
    ordered = ordered or OrderedState()
    ident = (message.boot_id, message.seq)
    if isinstance(message, EventV1):
        if ident in ordered.recent_events:
            return OrderedResult(state=ordered, order="duplicate")
        r = step(ordered.current, message, profile, settings)
        recent = (*ordered.recent_events, ident)[-RECENT_EVENTS:]
        return OrderedResult(
            state=msgspec.structs.replace(ordered, recent_events=recent), alerts=r.alerts
        )
    if any((e.batch.boot_id, e.batch.seq) == ident for e in ordered.retained):
        return OrderedResult(state=ordered, order="duplicate")
    key = batch_key(message)
    entries = list(ordered.retained)
    lateness = dt.timedelta(seconds=settings.lateness_s)
    recent = ordered.recent_events
    if not entries or key >= entries[-1].key:
        r = step(ordered.current, message, profile, settings)
        entries.append(_retained(key, message, r))
        return OrderedResult(
            state=_prune(entries, ordered.checkpoint, lateness, recent),
            scores=r.scores,
            alerts=r.alerts,
            indices=r.indices,
        )
    if key[0] < entries[-1].key[0] - lateness:
        return OrderedResult(state=ordered, order="too_late")

    at = next(i for i, e in enumerate(entries) if e.key > key)
    base = entries[at - 1].state if at else ordered.checkpoint
    first = step(base, message, profile, settings)
    replayed = [_retained(key, message, first)]
    for entry in entries[at:]:
        r = step(replayed[-1].state, entry.batch, profile, settings)
        replayed.append(_retained(entry.key, entry.batch, r))
    before_alerts = [a for e in entries[at:] for a in e.alerts]
    after_alerts = [a for e in replayed for a in e.alerts]
    changes, published = _changes(before_alerts, after_alerts, message)
    # Retained alerts keep the ids the outside world knows them by.
    replayed = [
        msgspec.structs.replace(
            e,
            alerts=tuple(
                msgspec.structs.replace(a, alert_id=published[a.alert_id]) for a in e.alerts
            ),
        )
        for e in replayed
    ]
    before_indices = {(i.evaluated_at, i.name): i for e in entries[at:] for i in e.indices}
    indices = [
        i for e in replayed for i in e.indices if before_indices.get((i.evaluated_at, i.name)) != i
    ]
    return OrderedResult(
        state=_prune([*entries[:at], *replayed], ordered.checkpoint, lateness, recent),
        scores=first.scores,
        alerts=tuple(changes),
        indices=tuple(indices),
        order="reordered",
    )
