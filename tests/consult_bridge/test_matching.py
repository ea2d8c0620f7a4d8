"""Expert matching (consult_bridge/matching.py): the stated weights, worked by hand."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from consult_bridge.matching import rank
from schemas.clinic import Doctor
from schemas.consultation import Consultation

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
CHIEF = Doctor(
    sub="dr-chief",
    tenant="a",
    specialties=("cardiology",),
    title="chief",
    years_experience=30,
    median_response_min=90,
    max_load=4,
)
QUICK = Doctor(
    sub="dr-quick",
    tenant="a",
    specialties=("cardiology", "geriatrics"),
    title="resident",
    years_experience=2,
    median_response_min=6,
    max_load=4,
)
GP = Doctor(sub="dr-gp", tenant="a", title="attending", years_experience=10, max_load=2)


def request(specialty: str | None = "cardiology", priority: str = "routine") -> Consultation:
    return Consultation(
        consult_id="c1",
        device_id="wb-1",
        tenant="a",
        state="pending_review",
        priority=priority,  # type: ignore[arg-type]
        reason="palpitations",
        created_at=T0,
        created_by="dr-gp",
        specialty=specialty,
    )


def test_each_part_is_scored_as_the_table_states() -> None:
    found = {m.doctor: m for m in rank([CHIEF, QUICK, GP], request(), {"dr-chief": 2})}
    chief, quick, gp = found["dr-chief"], found["dr-quick"], found["dr-gp"]
    assert chief.parts == {
        "specialty": 30.0,
        "title": 20.0,
        "experience": 15.0,
        "response": 3.75,
        "load": 10.0,
    }
    assert chief.score == pytest.approx(78.75)
    assert quick.parts == {
        "specialty": 30.0,
        "title": 5.0,
        "experience": 1.5,
        "response": 14.25,
        "load": 20.0,
    }
    assert gp.parts["specialty"] == 0.0  # the request names cardiology; the GP lacks it
    assert gp.parts["response"] == 7.5  # the default 60 min: half the points


def test_a_green_case_favours_the_free_fast_doctor() -> None:
    routine = [m.doctor for m in rank([CHIEF, QUICK], request(), {})]
    assert routine == ["dr-chief", "dr-quick"]  # 88.75 against 70.75
    green = rank([CHIEF, QUICK], request(priority="green"), {})
    assert [m.doctor for m in green] == ["dr-quick", "dr-chief"]
    assert green[0].parts["response"] == 28.5  # doubled
    assert green[1].parts["title"] == 10.0  # halved


def test_a_doctor_at_full_load_is_not_offered_and_a_missing_specialty_is_said() -> None:
    assert [m.doctor for m in rank([CHIEF, GP], request(), {"dr-chief": 4})] == ["dr-gp"]
    nobody = rank([CHIEF, QUICK, GP], request("dermatology"), {})
    assert nobody[0].note == "nobody free has dermatology: ranked without it"
    assert {m.parts["specialty"] for m in nobody} == {15.0}
    # Ties break by user, so the ranking is stable.
    twins = [msgspec.structs.replace(GP, sub="dr-b"), msgspec.structs.replace(GP, sub="dr-a")]
    assert [m.doctor for m in rank(twins, request(None), {})] == ["dr-a", "dr-b"]
