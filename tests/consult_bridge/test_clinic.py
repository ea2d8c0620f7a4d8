"""The clinic's doctors, matching through the API, and appointments (SQLite, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import httpx

from storage.clinic_staff import ClinicStaffStore
from storage.sql_desk import open_desk
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ADMIN_B,
    BEN,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    REVIEWER_A,
    Clock,
    Stores,
    bearer,
    set_up_access,
)

JOE = bearer(sub="joe", role="wearer", device="wb-0002")
DR_WU = bearer(sub="dr-wu", role="clinician", tenant="clinic-a", name="Dr Wu")


async def staff(http: httpx.AsyncClient) -> None:
    """Clinic A's doctors: Dr Li (cardiology, chief, slow), Dr Wu (cardiology, quick)."""
    doctors = {
        "dr-li": {
            "name": "Dr Li",
            "specialties": ["cardiology"],
            "title": "chief",
            "years_experience": 25,
            "median_response_min": 100,
            "max_load": 3,
        },
        "dr-wu": {
            "name": "Dr Wu",
            "specialties": ["cardiology"],
            "title": "resident",
            "years_experience": 3,
            "median_response_min": 5,
            "max_load": 3,
        },
    }
    for sub, body in doctors.items():
        made = await http.put(f"/v1/doctors/{sub}", json=body, headers=ADMIN_A)
        assert made.status_code == 200, made.text


async def test_doctors_are_the_clinics_own_and_matched_for_a_request(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    await staff(http)
    assert (await http.put("/v1/doctors/dr-x", json={}, headers=DR_LI)).status_code == 403
    # Clinic B cannot take over clinic A's doctor.
    assert (await http.put("/v1/doctors/dr-li", json={}, headers=ADMIN_B)).status_code == 404
    seen = (await http.get("/v1/doctors", headers=MARY_SELF)).json()  # Mary is clinic A's
    assert [d["sub"] for d in seen] == ["dr-li", "dr-wu"]
    assert (await http.get("/v1/doctors", headers=DR_ROSS)).json() == []
    assert (await http.get("/v1/doctors", headers=BEN)).status_code == 403
    made = await http.post(
        "/v1/wearers/wb-0001/consultations",
        json={"reason": "palpitations", "specialty": "cardiology"},
        headers=DR_LI,
    )
    cid = made.json()["consult_id"]
    ranked = (await http.get(f"/v1/consultations/{cid}/matches", headers=REVIEWER_A)).json()
    assert [m["doctor"] for m in ranked] == ["dr-li", "dr-wu"]
    assert ranked[0]["parts"]["title"] == 20.0
    assert (
        await http.get(f"/v1/consultations/{cid}/matches", headers=MARY_SELF)
    ).status_code == 403
    # Dr Li takes on three cases: at full load, only Dr Wu is offered.
    for n in range(3):
        with stores.desk.tx() as conn:
            conn.execute(
                stores.desk.q(
                    "INSERT INTO consultations (consult_id, device_id, tenant, state, priority, "
                    "created_at, doctor, version, body) VALUES (?, ?, ?, 'approved', 'routine', ?, "
                    "'dr-li', 1, '{}')"
                ),
                (f"busy-{n}", f"wb-9{n}", "clinic-a", stores.desk.time_in(NOW)),
            )
    ranked = (await http.get(f"/v1/consultations/{cid}/matches", headers=REVIEWER_A)).json()
    assert [m["doctor"] for m in ranked] == ["dr-wu"]


async def test_a_wearer_books_a_slot_once_and_either_side_cancels(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)
    await staff(http)
    await http.put("/v1/wearers/wb-0002/enrolment", headers=ADMIN_A)  # Joe is clinic A's too
    start = NOW + dt.timedelta(hours=2)
    slot = {
        "starts_at": start.isoformat(),
        "ends_at": (start + dt.timedelta(minutes=30)).isoformat(),
    }
    assert (await http.post("/v1/doctors/dr-li/slots", json=slot, headers=DR_WU)).status_code == 403
    opened = await http.post("/v1/doctors/dr-li/slots", json=slot, headers=DR_LI)
    assert opened.status_code == 201, opened.text
    slot_id = opened.json()["slot_id"]
    overlap = {
        "starts_at": (start + dt.timedelta(minutes=15)).isoformat(),
        "ends_at": (start + dt.timedelta(minutes=45)).isoformat(),
    }
    assert (
        await http.post("/v1/doctors/dr-li/slots", json=overlap, headers=ADMIN_A)
    ).status_code == 409
    past = {"starts_at": (NOW - dt.timedelta(hours=1)).isoformat(), "ends_at": NOW.isoformat()}
    assert (await http.post("/v1/doctors/dr-li/slots", json=past, headers=DR_LI)).status_code == 422
    assert (
        await http.post("/v1/doctors/dr-li/slots", json=slot, headers=DR_ROSS)
    ).status_code == 404

    free = (await http.get("/v1/doctors/dr-li/slots?free_only=true", headers=MARY_SELF)).json()
    assert [s["slot_id"] for s in free] == [slot_id]
    booked = await http.post(f"/v1/slots/{slot_id}/booking", json={}, headers=MARY_SELF)
    assert booked.status_code == 201, booked.text
    assert booked.json()["booked_by"] == "wb-0001"
    taken = await http.post(f"/v1/slots/{slot_id}/booking", json={}, headers=JOE)
    assert (taken.status_code, taken.json()["detail"]) == (409, "the slot is taken")
    # Joe sees it booked, not by whom; the doctor sees whom.
    (as_joe,) = (await http.get("/v1/doctors/dr-li/slots", headers=JOE)).json()
    assert (as_joe["booked"], as_joe["booked_by"]) == (True, None)
    (as_li,) = (await http.get("/v1/doctors/dr-li/slots", headers=DR_LI)).json()
    assert as_li["booked_by"] == "wb-0001"
    li_told = (await http.get("/v1/me/notices", headers=DR_LI)).json()
    assert any(n["text"].startswith("Appointment booked") for n in li_told)
    assert (await http.delete(f"/v1/slots/{slot_id}/booking", headers=JOE)).status_code == 403
    assert (await http.delete(f"/v1/slots/{slot_id}/booking", headers=DR_LI)).status_code == 204
    mary_told = (await http.get("/v1/me/notices", headers=MARY_SELF)).json()
    assert any("was cancelled by the clinic" in n["text"] for n in mary_told)
    assert (await http.delete(f"/v1/slots/{slot_id}/booking", headers=DR_LI)).status_code == 404
    clock.now = start
    late = await http.post(f"/v1/slots/{slot_id}/booking", json={}, headers=JOE)
    assert (late.status_code, late.json()["detail"]) == (409, "the slot has started")


def test_two_wearers_booking_at_once_one_gets_it(stores: Stores) -> None:
    from schemas.clinic import Slot

    staff_store = ClinicStaffStore(stores.desk)
    staff_store.add_slot(
        Slot(
            slot_id="s1",
            tenant="clinic-a",
            doctor="dr-li",
            starts_at=NOW + dt.timedelta(hours=1),
            ends_at=NOW + dt.timedelta(hours=2),
        )
    )
    desks = [open_desk(stores.url) for _ in range(8)]
    wins: list[bool] = [False] * len(desks)
    barrier = threading.Barrier(len(desks))

    def book(n: int) -> None:
        barrier.wait()
        wins[n] = ClinicStaffStore(desks[n]).book("s1", f"wb-{n}", None, NOW)

    threads = [threading.Thread(target=book, args=(n,)) for n in range(len(desks))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for desk in desks:
        desk.close()
    assert sum(wins) == 1
    slot = staff_store.slot("s1")
    assert slot is not None
    assert slot.booked_by == f"wb-{wins.index(True)}"
