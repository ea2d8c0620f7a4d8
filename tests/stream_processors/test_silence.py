"""Data gaps: the cause of a silence, and "signal lost" by NEWS2 risk in receive time."""

from __future__ import annotations

import datetime as dt

import pytest

import schemas
from schemas import AlertLevel
from schemas.scores import Risk
from stream_processors.device import WearerProfile
from stream_processors.fleet import Fleet
from stream_processors.silence import (
    Contact,
    Gateway,
    SilenceSettings,
    check,
    classify,
    observe,
)
from tests.stream_processors.test_device import at, vitals_at

SETTINGS = SilenceSettings()
HEARD = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)


def minutes(n: float) -> dt.datetime:
    return HEARD + dt.timedelta(minutes=n)


def batch(
    seq: int, *samples: schemas.AnySample, gateway: str | None = "gw-1"
) -> schemas.TelemetryBatchV1:
    return schemas.TelemetryBatchV1(
        device_id="wb-1", seq=seq, sent_at=at(seq), gateway_id=gateway, samples=samples
    )


def contact_after(*messages: schemas.TelemetryBatchV1 | schemas.EventV1) -> Contact:
    contact = None
    for m in messages:
        contact, _ = observe(contact, m, HEARD)
    assert contact is not None
    return contact


def test_the_cause_is_read_from_the_last_messages_and_the_gateway() -> None:
    plain = contact_after(batch(1, *vitals_at(0)))
    online_after = Gateway(online=True, received_at=minutes(1))
    offline_after = Gateway(online=False, received_at=minutes(1))
    online_before = Gateway(online=True, received_at=minutes(-1))

    def cause(c: Contact, g: Gateway | None, *, backend_ok: bool = True) -> str:
        return classify(c, g, SETTINGS, backend_ok=backend_ok)

    assert cause(plain, None) == "unknown"
    assert cause(plain, online_before) == "unknown"  # no news from the gateway since
    assert cause(plain, online_after) == "out_of_range"
    assert cause(plain, offline_after) == "gateway_offline"
    low = contact_after(batch(1, schemas.Battery(measured_at=at(0), battery_pct=6.0)))
    assert cause(low, offline_after) == "battery_low"
    event = schemas.EventV1(
        device_id="wb-1", seq=2, occurred_at=at(1), event=schemas.LowBattery(battery_pct=15.0)
    )
    assert cause(contact_after(batch(1, *vitals_at(0)), event), None) == "battery_low"
    off = contact_after(batch(1, schemas.WearState(measured_at=at(0), on_wrist=False)))
    assert cause(off, offline_after) == "off_wrist"
    assert cause(off, offline_after, backend_ok=False) == "backend_backlog"
    back_on = contact_after(
        batch(1, schemas.WearState(measured_at=at(0), on_wrist=False)),
        batch(2, schemas.WearState(measured_at=at(1), on_wrist=True)),
    )
    assert cause(back_on, None) == "unknown"


@pytest.mark.parametrize(
    ("risk", "at_risk", "after_min", "level"),
    [
        ("high", False, 5, AlertLevel.ORANGE),
        ("medium", False, 15, AlertLevel.YELLOW),
        ("low-medium", False, 30, AlertLevel.YELLOW),
        ("low", True, 15, AlertLevel.YELLOW),
    ],
)
def test_signal_lost_comes_after_the_risk_levels_allowance_once(
    risk: Risk, at_risk: bool, after_min: float, level: AlertLevel
) -> None:
    contact = contact_after(batch(1, *vitals_at(0)))

    def at_minute(n: float, c: Contact = contact) -> tuple[Contact, schemas.Alert | None]:
        return check(
            "wb-1", c, risk=risk, gateway=None, now=minutes(n), settings=SETTINGS, at_risk=at_risk
        )

    assert at_minute(after_min - 0.1)[1] is None
    lost_contact, alert = at_minute(after_min)
    assert alert is not None
    assert (alert.level, alert.source, alert.share_with_contacts) == (level, "signal_lost", True)
    assert f"{after_min} minutes at {'medium' if at_risk else risk} risk" in alert.summary
    assert at_minute(after_min + 30, lost_contact)[1] is None  # once per silence
    back, resolved = observe(lost_contact, batch(2, *vitals_at(1)), minutes(after_min + 40))
    assert resolved is not None
    assert (resolved.change, resolved.refers_to, resolved.level) == (
        "resolved",
        alert.alert_id,
        AlertLevel.NONE,
    )
    assert back.lost is None


def test_a_quiet_band_at_low_risk_is_not_an_alarm() -> None:
    contact = contact_after(batch(1, *vitals_at(0)))
    _, alert = check("wb-1", contact, risk="low", gateway=None, now=minutes(600), settings=SETTINGS)
    assert alert is None


def test_the_fleet_takes_the_risk_from_the_processor_and_waits_for_the_backend() -> None:
    fleet = Fleet(profiles=lambda _d: WearerProfile())
    # wb-1 is at high risk (NEWS2 >= 7), wb-2 is well; both go quiet after minute 0.
    sick = vitals_at(0, hr=135, spo2=89, resp=27)
    well = vitals_at(0)
    messages = [
        schemas.TelemetryBatchV1(
            device_id="wb-1", seq=1, sent_at=at(0), gateway_id="gw-1", samples=sick
        ),
        schemas.TelemetryBatchV1(
            device_id="wb-2", seq=1, sent_at=at(0), gateway_id="gw-1", samples=well
        ),
    ]
    fleet.adopt(fleet.plan(messages, received_at=HEARD))
    status = schemas.GatewayStatusV1(gateway_id="gw-1", state="offline", reported_at=minutes(2))
    fleet.adopt(fleet.plan([], received_at=minutes(2), gateways=[status]))

    assert fleet.tick(minutes(10), backend_ok=False).alerts == []
    plan = fleet.tick(minutes(10))
    (alert,) = plan.alerts
    assert (alert.device_id, alert.level) == ("wb-1", AlertLevel.ORANGE)
    assert "its gateway is offline" in alert.summary
    fleet.adopt(plan)
    assert fleet.tick(minutes(20)).alerts == []  # raised once
    assert fleet.silence_causes()["wb-2"] == "gateway_offline"
