"""The access rule (``consult_bridge/access.py``), pure: grant windows and categories."""

from __future__ import annotations

import datetime as dt

import pytest

from consult_bridge.access import may
from consult_bridge.auth import Principal
from schemas.access import Grant

NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ANNA = Principal(sub="anna", role="family")


def grant(**window: dt.datetime) -> Grant:
    return Grant(
        grant_id="g1",
        device_id="wb-0001",
        viewer="anna",
        categories=("alerts", "location"),
        granted_at=NOW - 2 * HOUR,
        **window,
    )


@pytest.mark.parametrize(
    ("window", "at", "allowed"),
    [
        ({}, NOW, True),
        ({"not_before": NOW}, NOW, True),  # from its first instant
        ({"not_before": NOW}, NOW - dt.timedelta(microseconds=1), False),
        ({"not_after": NOW}, NOW - dt.timedelta(microseconds=1), True),
        ({"not_after": NOW}, NOW, False),  # over at its end
        ({"not_before": NOW - HOUR, "not_after": NOW + HOUR}, NOW, True),
    ],
)
def test_a_grant_holds_within_its_window(
    window: dict[str, dt.datetime], at: dt.datetime, allowed: bool
) -> None:
    assert may(ANNA, "wb-0001", "alerts", clinic=None, grants=[grant(**window)], now=at) is allowed


def test_a_grant_covers_its_categories_its_wearer_and_its_viewer_only() -> None:
    grants = [grant()]
    assert may(ANNA, "wb-0001", "location", clinic=None, grants=grants, now=NOW)
    assert not may(ANNA, "wb-0001", "ecg", clinic=None, grants=grants, now=NOW)
    assert not may(ANNA, "wb-0002", "alerts", clinic=None, grants=grants, now=NOW)
    ben = Principal(sub="ben", role="family")
    assert not may(ben, "wb-0001", "alerts", clinic=None, grants=grants, now=NOW)


def test_clinics_see_their_own_wearers_and_admins_no_health_data() -> None:
    doctor = Principal(sub="li", role="clinician", tenant="clinic-a")
    reviewer = Principal(sub="wu", role="reviewer", tenant="clinic-a")
    admin = Principal(sub="root", role="admin", tenant="clinic-a")
    for who in (doctor, reviewer):
        assert may(who, "wb-0001", "ecg", clinic="clinic-a", grants=[], now=NOW)
        assert not may(who, "wb-0001", "ecg", clinic="clinic-b", grants=[], now=NOW)
        assert not may(who, "wb-0001", "ecg", clinic=None, grants=[], now=NOW)
    assert not may(admin, "wb-0001", "vitals", clinic="clinic-a", grants=[], now=NOW)


def test_a_grant_with_nothing_in_it_or_a_backwards_window_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="at least one category"):
        Grant(grant_id="g", device_id="d", viewer="v", categories=(), granted_at=NOW)
    with pytest.raises(ValueError, match="ends after it starts"):
        grant(not_before=NOW, not_after=NOW - HOUR)
