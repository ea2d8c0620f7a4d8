"""Data gaps in processing time: why a band went quiet, and "signal lost" for those at risk.

Silence is judged against the receive clock ("now"), not device time: a band that
stopped sending has no device time to give. Each message updates a band's ``Contact``:
when it was last heard from, through which gateway, its wear state and battery. A tick
(``check``) then names the likely cause of a silence, from the band's last messages and
its gateway's last status, in this order:

* ``backend_backlog``: Vigil itself is not receiving (its broker connection is down or
  was re-made too recently to have caught up): nothing is said about any band;
* ``off_wrist``: the band last said it was off the wrist (wear sample or event);
* ``battery_low``: its last battery reading was at or under ``battery_low_pct``, or it
  sent a low-battery event;
* ``gateway_offline``: its gateway reported offline (or its last will did) after the
  band's last message;
* ``out_of_range``: its gateway reported online after the band's last message, so the
  gateway works and the band is not reaching it;
* ``unknown``: none of these.

A wearer at risk gets a "signal lost" alert once silence lasts ``after_s`` for their
current NEWS2 risk (the processor's last score; a clinician's ``at_risk`` mark counts as
medium at least): five minutes at high risk (orange: contacts must know that a
deteriorating wearer is no longer watched), fifteen at medium and thirty at low-medium
(yellow). At low risk a quiet band is not an alarm. The alert is shared with contacts
(the wearer's band is the thing not reaching anyone), and when data comes back a
``resolved`` record refers to it. The times are settings; their order follows the
NEWS2 monitoring frequencies (RCP 2017, chart 4: continuous monitoring at high risk, at
least hourly at medium and low-medium, 4-12-hourly at low), with minutes instead of
hours because a band is expected to report every minute.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import msgspec

from schemas import Alert, AlertLevel, EventV1, GatewayStatusV1, TelemetryBatchV1
from schemas.events import LowBattery, OffWrist
from schemas.scores import Risk
from schemas.telemetry import Battery, WearState

Cause = Literal[
    "backend_backlog", "off_wrist", "battery_low", "gateway_offline", "out_of_range", "unknown"
]

_RISK_ORDER: dict[Risk, int] = {"low": 0, "low-medium": 1, "medium": 2, "high": 3}


class SilenceSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How long a silence may last, per NEWS2 risk, before "signal lost"."""

    after_s: dict[Risk, float] = msgspec.field(
        default_factory=lambda: {"high": 300.0, "medium": 900.0, "low-medium": 1800.0}
    )
    battery_low_pct: float = 10.0


class Contact(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What the last messages of one band said about reaching it."""

    received_at: dt.datetime
    gateway_id: str | None = None
    on_wrist: bool = True
    battery_pct: float | None = None
    battery_event: bool = False  # a low-battery event since the last battery reading
    lost: Alert | None = None  # the standing "signal lost" alert
    risk: Risk | None = None  # as stored before a restart, until the processor has its own


class Gateway(msgspec.Struct, frozen=True, kw_only=True):
    """A gateway's last reported status and when it arrived."""

    online: bool
    received_at: dt.datetime


def observe(
    contact: Contact | None,
    message: TelemetryBatchV1 | EventV1,
    received_at: dt.datetime,
) -> tuple[Contact, Alert | None]:
    """The band's contact after a message, and a ``resolved`` record if it had been lost."""
    c = contact or Contact(received_at=received_at)
    gateway_id = message.gateway_id or c.gateway_id
    on_wrist, battery, battery_event = c.on_wrist, c.battery_pct, c.battery_event
    if isinstance(message, EventV1):
        body = message.event
        if isinstance(body, OffWrist):
            on_wrist = False
        elif isinstance(body, LowBattery):
            battery, battery_event = body.battery_pct, True
    else:
        for sample in message.samples:
            if isinstance(sample, WearState):
                on_wrist = sample.on_wrist
            elif isinstance(sample, Battery):
                battery, battery_event = sample.battery_pct, False
    resolved = None
    if c.lost is not None:
        minutes = round((received_at - c.received_at).total_seconds() / 60)
        resolved = msgspec.structs.replace(
            c.lost,
            alert_id=f"{c.lost.alert_id}:resolved",
            level=AlertLevel.NONE,
            raised_at=received_at,
            summary=f"Data again from the band after {minutes} minutes without",
            change="resolved",
            refers_to=c.lost.alert_id,
        )
    new = Contact(
        received_at=max(received_at, c.received_at),
        gateway_id=gateway_id,
        on_wrist=on_wrist,
        battery_pct=battery,
        battery_event=battery_event,
        lost=None,
    )
    return new, resolved


def observe_gateway(status: GatewayStatusV1, received_at: dt.datetime) -> Gateway:
    """A gateway's state from its status message (or last will)."""
    return Gateway(online=status.state == "online", received_at=received_at)


def classify(
    contact: Contact, gateway: Gateway | None, settings: SilenceSettings, *, backend_ok: bool
) -> Cause:
    """The likely cause of a band's silence (see the module docstring for the order)."""
    if not backend_ok:
        return "backend_backlog"
    if not contact.on_wrist:
        return "off_wrist"
    if contact.battery_event or (
        contact.battery_pct is not None and contact.battery_pct <= settings.battery_low_pct
    ):
        return "battery_low"
    if gateway is not None and gateway.received_at >= contact.received_at:
        return "out_of_range" if gateway.online else "gateway_offline"
    return "unknown"


_CAUSE_TEXT: dict[Cause, str] = {
    "backend_backlog": "Vigil is catching up",
    "off_wrist": "the band was taken off",
    "battery_low": "its battery was low",
    "gateway_offline": "its gateway is offline",
    "out_of_range": "it is out of its gateway's range",
    "unknown": "cause unknown",
}


def check(
    device_id: str,
    contact: Contact,
    *,
    risk: Risk,
    gateway: Gateway | None,
    now: dt.datetime,
    settings: SilenceSettings,
    at_risk: bool = False,
    backend_ok: bool = True,
) -> tuple[Contact, Alert | None]:
    """Raise "signal lost" once a silence outlasts the wearer's risk's allowance."""
    if contact.lost is not None or not backend_ok:
        return contact, None
    if at_risk and _RISK_ORDER[risk] < _RISK_ORDER["medium"]:
        risk = "medium"
    allowed = settings.after_s.get(risk)
    silent_s = (now - contact.received_at).total_seconds()
    if allowed is None or silent_s < allowed:
        return contact, None
    cause = classify(contact, gateway, settings, backend_ok=True)  # not raised otherwise
    level = AlertLevel.ORANGE if risk == "high" else AlertLevel.YELLOW
    alert = Alert(
        alert_id=f"{device_id}:signal_lost:{contact.received_at.isoformat()}",
        device_id=device_id,
        level=level,
        raised_at=now,
        source="signal_lost",
        summary=(
            f"No data from the band for {round(silent_s / 60)} minutes at {risk} risk: "
            f"{_CAUSE_TEXT[cause]}"
        ),
        share_with_contacts=True,
    )
    return msgspec.structs.replace(contact, lost=alert), alert
