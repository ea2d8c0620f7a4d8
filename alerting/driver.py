"""The ladder driver: alerts and outcomes in, the ladder stepped, its actions performed.

For every alert, callback, acknowledgement or passing deadline the driver loads the
ladder, steps it (``alerting/ladder.py``), writes the new state with its actions (the
outbox, ``alerting/ladder_store.py``) and only then performs the actions through a
``Sender``, marking each ``sending`` before and ``sent`` or ``failed`` after. A sender
that refuses an action for good (a number that opted out, an invalid number) turns
into a ``SendFailed`` event for the ladder, so the turn passes to the next person; a
failure that may pass (a provider outage) is tried again with growing waits
(``RETRY_AFTER_S``) before it counts.

One driver per store. Its steps take turns (one lock), so two events for a ladder
never overwrite each other; its sends go one at a time from one flush (a second lock),
in the order queued, so a queued action is never sent twice from here. The provider is
called outside the first lock: alerts keep being taken in while a send is slow, and a
runner's notifier (``LadderNotifier``) returns once the ladder is written, leaving the
sends to the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from typing import Protocol

import msgspec

from alerting.closeness import rank
from alerting.contacts import Directory
from alerting.ladder import (
    Action,
    Cancelled,
    Deadline,
    DeviceCommand,
    Ended,
    Event,
    Ladder,
    Raised,
    SendFailed,
    SendSms,
    Stepped,
    in_cooldown,
    ladder_key,
    note,
    open_ladder,
    remind,
    step,
)
from alerting.ladder_store import LadderStore, OutboxItem, WearerAlerting
from alerting.reminders import Occurrence
from alerting.snooze import Snooze, apply_snoozes
from alerting.templates import render
from schemas import Alert, AlertLevel
from stream_processors.device import BAND_CANCEL

log = logging.getLogger(__name__)


class SendError(Exception):
    """A provider did not take an action; ``permanent``: trying again will not help.

    ``uncertain``: the request reached the provider but no answer came back (a read
    timeout, a dropped connection): it may have been sent. It is marked ``unknown`` and
    never repeated (a second SMS or call is worse than the ladder moving on by its timers;
    the provider's callbacks, matched by the action's key, still count).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        permanent: bool = True,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent or uncertain
        self.uncertain = uncertain


class Sender(Protocol):
    """Performs an action: an SMS, a call, a command to the band."""

    async def send(self, action: Action, text: str) -> str | None:
        """Perform ``action`` saying ``text``; the provider's id for it, if any.

        Raises ``SendError`` when the provider refused it.
        """
        ...


# A send that failed for a reason that may pass (Twilio 5xx, a timeout, the network) is
# tried again after these waits; after the last, it counts as failed and the ladder climbs
# past it. Meanwhile the rung's own deadline still runs.
RETRY_AFTER_S = (1.0, 2.0, 4.0, 8.0, 16.0)

# Routine messages (a shared reminder, an all-clear) to one number are throttled: at most
# ``ThrottlePolicy.per_number`` sent in the last ``window_s``, counting everything sent to
# it. Warnings, calls, stand-downs and "someone is handling it" are never held back.
ROUTINE_TEMPLATES = frozenset({"reminder_shared", "all_clear"})


class ThrottlePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How many messages one number may get before routine ones are held back."""

    per_number: int = 10
    window_s: float = 3600.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LadderDriver:
    """Steps ladders durably and performs their actions (see the module docstring)."""

    def __init__(
        self,
        store: LadderStore,
        sender: Sender,
        *,
        clock: Callable[[], dt.datetime] = _utcnow,
        locate: Callable[[str], str | None] = lambda _device_id: None,
        throttle: ThrottlePolicy | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.clock = clock
        self.locate = locate  # a wearer's last known place, as text for messages
        self.throttle = throttle or ThrottlePolicy()
        self._turn = asyncio.Lock()  # steps and outbox marks, one at a time
        self._sending = asyncio.Lock()  # one flush at a time: in order, never twice
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Settle what a crash left half-sent, then send what is queued."""
        for item in await asyncio.to_thread(self.store.settle_interrupted):
            # It may have gone out: sending it again could repeat a call at 3 am. A
            # lost call is covered by its rung's deadline.
            log.warning(
                "ladder %s: action %s was being sent when the driver stopped; not sent again",
                item.ladder_id,
                item.key,
            )
        await self.flush()

    # The store is called from threads (``asyncio.to_thread``), one step at a time
    # (``_turn``): a commit's fsync must not stall the runner's event loop.

    def _wearer(self, device_id: str) -> WearerAlerting:
        stored = self.store.wearer_alerting(device_id)
        # A wearer with no contacts stored is still reminded on the band.
        return stored or WearerAlerting(directory=Directory(wearer_name=device_id))

    async def on_alert(self, alert: Alert, *, wait: bool = True) -> None:
        """Take in a new alert: open a ladder, or update, climb or close the open one.

        Returns once the ladder is written; with ``wait``, also once its actions are
        performed (else they are sent in the background: ``kick``).
        """
        async with self._turn:
            await asyncio.to_thread(self._take_in, alert)
        await self._then_send(wait=wait)

    def _take_in(self, alert: Alert) -> None:
        if self.store.took_alert(alert.alert_id):
            return  # delivered again after a restart
        now = self.clock()
        if alert.source == BAND_CANCEL:
            self._cancel_on_band(alert.device_id, now)
            return
        verdict = apply_snoozes(alert, self.store.snoozes_of(alert.device_id, now), now)
        if verdict.alert is None:
            self._hold(alert, verdict.by[0], now)
            return
        alert = verdict.alert  # the same, or lowered by a snooze
        wearer = self._wearer(alert.device_id)
        current = self.store.open_for(ladder_key(alert))
        ends = alert.level is AlertLevel.NONE or alert.change in ("resolved", "retracted")
        if current is None:
            if ends:
                return  # nothing open to close
            last = self.store.last_closed(ladder_key(alert))
            if last is not None and in_cooldown(alert, last, wearer.policy, now):
                detail = f"{alert.level.label}: {alert.summary}"
                noted = note(last, now, "raised again in the cooldown", detail)
                self.store.save(noted, (), alert_id=alert.alert_id)
                return
            ranked = rank(wearer.directory.other_contacts, wearer.call_log, now=now)
            stepped = open_ladder(alert, wearer.directory, ranked, wearer.policy, now=now)
        else:
            event: Event = Ended(at=now, alert=alert) if ends else Raised(at=now, alert=alert)
            stepped = self._step(current, event, wearer)
        self.store.save(stepped.ladder, stepped.actions, alert_id=alert.alert_id)

    def _hold(self, alert: Alert, snooze: Snooze, now: dt.datetime) -> None:
        """A snoozed alert: recorded as held; an open ladder of its cause notes it."""
        self.store.hold(alert.alert_id, snooze, now)
        current = self.store.open_for(ladder_key(alert))
        if current is not None:
            detail = f"{alert.level.label}, {snooze.what} snoozed by {snooze.by}"
            self.store.save(note(current, now, "raised again while snoozed", detail), ())

    def _cancel_on_band(self, device_id: str, now: dt.datetime) -> None:
        """The wearer's cancel stops the ladders still in their grace period.

        Once others have been told, a cancel on the band is no longer enough (the
        wearer may be confused after a fall): it is kept in the timeline, and the people
        told decide (a reply of 2, or the API).
        """
        for ladder in self.store.open_ladders():
            if ladder.device_id != device_id:
                continue
            if ladder.phase == "grace":
                self._apply(ladder.ladder_id, Cancelled(at=now, by=device_id, via="device"))
            else:
                noted = note(ladder, now, "cancel pressed on the band", "others already told")
                self.store.save(noted, ())

    async def on_reminder(self, occurrence: Occurrence, *, wait: bool = True) -> None:
        """Deliver a scheduled reminder to the band, once (its key is recorded)."""
        async with self._turn:
            await asyncio.to_thread(self._remind, occurrence)
        await self._then_send(wait=wait)

    def _remind(self, occurrence: Occurrence) -> None:
        if self.store.took_alert(occurrence.key):
            return  # delivered before a restart
        directory = self._wearer(occurrence.device_id).directory
        stepped = remind(
            occurrence.key,
            occurrence.device_id,
            occurrence.kind,
            occurrence.note,
            directory,
            now=self.clock(),
        )
        self.store.save(stepped.ladder, stepped.actions, alert_id=occurrence.key)

    async def on_event(self, ladder_id: str, event: Event, *, wait: bool = True) -> None:
        """Take in an outcome (a call ended, an acknowledgement, a cancel, ...)."""
        async with self._turn:
            await asyncio.to_thread(self._apply, ladder_id, event)
        await self._then_send(wait=wait)

    async def tick(self) -> int:
        """Step every ladder whose deadline has come; how many were stepped."""
        async with self._turn:
            stepped = await asyncio.to_thread(self._step_due)
        await self.flush()
        return stepped

    def _step_due(self) -> int:
        now = self.clock()
        due = self.store.due(now)
        for ladder in due:
            self._apply(ladder.ladder_id, Deadline(at=now))
        return len(due)

    async def _then_send(self, *, wait: bool) -> None:
        if wait:
            await self.flush()
        else:
            self.kick()

    def kick(self) -> None:
        """Send what is queued in the background (one sending task at a time)."""
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_logged(), name="ladder-outbox")

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("sending the ladders' actions failed; the next tick tries again")

    @staticmethod
    def _step(ladder: Ladder, event: Event, wearer: WearerAlerting) -> Stepped:
        return step(ladder, event, wearer.policy, sms_to=wearer.directory.emergency_contacts)

    def _apply(self, ladder_id: str, event: Event) -> None:
        ladder = self.store.get(ladder_id)
        if ladder is None:
            log.warning("an event for unknown ladder %s was ignored", ladder_id)
            return
        if isinstance(event, SendFailed) and event.action is None:
            # What failed decides the fallback (an SMS becomes a call): from the outbox.
            event = msgspec.structs.replace(event, action=self.store.action_of(event.key))
        stepped = self._step(ladder, event, self._wearer(ladder.device_id))
        self.store.save(stepped.ladder, stepped.actions)

    async def flush(self) -> None:
        """Perform the queued actions in order, until none is left.

        One flush at a time. The provider is called without holding the ladders' turn,
        so a slow provider delays only the sends, not the taking in of alerts.
        """
        async with self._sending:
            while True:
                async with self._turn:
                    items = await asyncio.to_thread(self.store.due_outbox, self.clock())
                if not items:
                    return
                for item in items:
                    await self._send(item)

    def _throttled(self, item: OutboxItem) -> bool:
        """Whether a routine message is held back (marked and noted if so)."""
        action = item.action
        if not isinstance(action, SendSms) or action.template not in ROUTINE_TEMPLATES:
            return False
        # Real time, not ``clock``: a number's load is counted in the world's hours.
        since = _utcnow() - dt.timedelta(seconds=self.throttle.window_s)
        if self.store.sent_to(action.to, since) < self.throttle.per_number:
            return False
        self.store.mark(item.key, "throttled")
        ladder = self.store.get(item.ladder_id)
        if ladder is not None:
            what = f"a {action.template.replace('_', ' ')} message not sent"
            detail = f"{action.to} had {self.throttle.per_number} messages within the window"
            self.store.save(note(ladder, self.clock(), what, detail), ())
        return True

    def _prepare(self, item: OutboxItem) -> str | None:
        """The action's text and the action marked ``sending``; None if throttled."""
        if self._throttled(item):
            return None
        action = item.action
        params = dict(action.params)
        if "location" not in params:
            ladder = self.store.get(item.ladder_id)
            where = self.locate(ladder.device_id) if ladder is not None else None
            params["location"] = where or ""
        text = render(action.template, action.language, params)
        self.store.mark(item.key, "sending")
        return text

    def _failed(self, item: OutboxItem, exc: SendError) -> None:
        self.store.mark(item.key, "failed", error=f"{exc.code}: {exc}")
        failed = SendFailed(
            at=self.clock(), key=item.key, code=exc.code, reason=str(exc), action=item.action
        )
        self._apply(item.ladder_id, failed)

    async def _send(self, item: OutboxItem) -> None:
        async with self._turn:
            text = await asyncio.to_thread(self._prepare, item)
        if text is None:
            return
        try:
            provider_id = await self.sender.send(item.action, text)
        except SendError as exc:
            async with self._turn:
                if exc.uncertain:
                    log.warning(
                        "ladder %s: %s may have been sent (no answer): not repeated",
                        item.ladder_id,
                        item.key,
                    )
                    await asyncio.to_thread(self.store.mark, item.key, "unknown", error=str(exc))
                elif not exc.permanent and item.attempts < len(RETRY_AFTER_S):
                    wait_s = RETRY_AFTER_S[item.attempts]
                    log.warning(
                        "ladder %s: %s failed (%s), trying again in %g s",
                        item.ladder_id,
                        item.key,
                        exc.code or "unreachable",
                        wait_s,
                    )
                    not_before = self.clock() + dt.timedelta(seconds=wait_s)
                    error = f"{exc.code}: {exc}"
                    await asyncio.to_thread(self.store.retry_later, item.key, not_before, error)
                else:
                    log.warning("ladder %s: %s failed (%s)", item.ladder_id, item.key, exc.code)
                    await asyncio.to_thread(self._failed, item, exc)
            return
        async with self._turn:
            await asyncio.to_thread(self.store.mark, item.key, "sent", provider_id=provider_id)


class LadderNotifier:
    """The ``Notifier`` a runner hands each new alert: the alert goes to its ladder."""

    def __init__(self, driver: LadderDriver) -> None:
        self.driver = driver

    async def notify(self, alert: Alert) -> None:
        """Open, climb or close the alert's ladder (durably) before returning.

        Its messages and calls go out in the background: a slow provider must not hold
        up ingest, which waits for this to acknowledge the chunk.
        """
        await self.driver.on_alert(alert, wait=False)


async def run_deadlines(driver: LadderDriver, stop: asyncio.Event, every_s: float = 1.0) -> None:
    """Step due ladders every ``every_s`` until ``stop`` is set; errors are logged."""
    while not stop.is_set():
        try:
            await driver.tick()
        except Exception:
            log.exception("stepping due ladders failed; trying again")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


class RoutedSender:
    """Band commands to one sender (MQTT), SMS and calls to another (Twilio, console)."""

    def __init__(self, *, device: Sender, phones: Sender) -> None:
        self.device = device
        self.phones = phones

    async def send(self, action: Action, text: str) -> str | None:
        """Send through the sender for the action's channel."""
        if isinstance(action, DeviceCommand):
            return await self.device.send(action, text)
        return await self.phones.send(action, text)
