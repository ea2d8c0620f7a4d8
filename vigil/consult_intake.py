"""Flagged cases become consultation requests; missed planned times re-issue them.

Run by ``vigil api`` in the background (once a second), on the main database:

* every alert stored after the intake cursor is looked at once: orange and red alerts of
  a clinical cause, and every AF episode, raise a request in the wearer's clinic (red:
  the green channel), or join the wearer's request still open (one open request per
  wearer). Geofence, signal-lost and sedentary alerts are the family's business, not a
  clinician's, and raise none; nor does anything for a wearer enrolled in no clinic;
* an approved request whose doctor has not started ``grace_s`` after the planned time is
  re-issued for rescheduling or another doctor.

Several API processes may run it side by side: a request per alert is unique, a re-flag
is skipped when the request already holds the alert, and a save that lost a race is
read again and retried; the cursor moves only after the alerts were handled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable

from consult_bridge.desks import TextDesk
from consult_bridge.telling import tell
from consult_bridge.workflow import SYSTEM, Actor, Stepped, apply, overdue, raise_request, reflag
from schemas import Alert, AlertLevel
from storage.access import AccessStore
from storage.consultations import ConsultationStore
from storage.notices import NoticeBoard

log = logging.getLogger(__name__)

#: Causes that never raise a consultation: the family's business, not a clinician's.
NOT_CLINICAL = frozenset({"geofence", "signal_lost", "sedentary"})
RETRIES = 3


def is_flagged(alert: Alert) -> bool:
    """Whether an alert is a case for a clinician (ARCHITECTURE.md: flagged cases)."""
    if alert.change != "raised":
        return False
    if alert.source == "af":
        return True
    return alert.level >= AlertLevel.ORANGE and alert.source not in NOT_CLINICAL


class ConsultIntake:
    """The intake and the sweep over the stores of one database."""

    def __init__(
        self,
        consults: ConsultationStore,
        access: AccessStore,
        notices: NoticeBoard,
        *,
        grace_s: float,
        texts: TextDesk | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.consults = consults
        self.access = access
        self.notices = notices
        self.grace_s = grace_s
        self.texts = texts
        self.clock = clock

    def _post(self, stepped: Stepped) -> None:
        """Tell those concerned, as the API's routes do (in-app, and SMS with a number)."""
        for n in stepped.notices:
            tell(
                self.notices,
                self.texts,
                recipient=n.recipient,
                kind="consultation",
                text=n.text,
                about=stepped.consultation.device_id,
                at=self.clock(),
            )

    def _flag(self, alert: Alert, tenant: str) -> bool:
        """Raise or join the wearer's request in ``tenant``; False if it kept changing."""
        red = alert.level >= AlertLevel.RED
        reason = f"{alert.level.label} alert: {alert.summary}"
        for _ in range(RETRIES):
            current = self.consults.open_of(alert.device_id)
            if current is None:
                stepped = raise_request(
                    device_id=alert.device_id,
                    tenant=tenant,
                    reason=reason,
                    by=Actor(sub=SYSTEM, role="system"),
                    at=self.clock(),
                    red=red,
                    alert_id=alert.alert_id,
                )
                if self.consults.add(stepped.consultation):
                    self._post(stepped)
                return True
            again = reflag(
                current, alert_id=alert.alert_id, reason=reason, red=red, at=self.clock()
            )
            if again is None:
                return True
            if self.consults.save(again.consultation, current.version):
                self._post(again)
                return True
        log.warning(
            "consultation intake: request of %s kept changing; retried later", alert.device_id
        )
        return False

    def take_in(self) -> int:
        """Handle the alerts stored since the cursor; how many raised or joined a request."""
        batch, cursor = self.consults.flagged_since_cursor()
        handled = 0
        last = cursor
        for seq, alert in batch:
            tenant = self.access.clinic_of(alert.device_id) if is_flagged(alert) else None
            if tenant is not None:  # flagged, and the wearer has a clinic
                if not self._flag(alert, tenant):
                    break  # the cursor stays before it: next round tries again
                handled += 1
            last = seq
        if last != cursor:
            self.consults.advance_cursor(cursor, last)
        return handled

    def sweep(self) -> int:
        """Re-issue approved requests whose doctor missed the planned time; how many."""
        now = self.clock()
        done = 0
        for c in self.consults.approved_due(now - dt.timedelta(seconds=self.grace_s)):
            act = overdue(c, now, self.grace_s)
            if act is None:
                continue
            stepped = apply(c, act)
            if self.consults.save(stepped.consultation, c.version):
                self._post(stepped)
                done += 1
        return done


async def run_consult_intake(
    intake: ConsultIntake, stop: asyncio.Event, every_s: float = 1.0
) -> None:
    """Take in flagged alerts and sweep missed times until ``stop``; errors are logged."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(intake.take_in)
            await asyncio.to_thread(intake.sweep)
        except Exception:
            log.exception("consultation intake failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
