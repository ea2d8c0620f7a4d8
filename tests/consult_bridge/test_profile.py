"""The wearer's health record and scoring conditions through the API (SQLite, PostgreSQL):
read as the ``profile`` grant allows, written by the wearer or their clinician, sealed at
rest; conditions set by a clinician reach the scoring profile the runners read."""

from __future__ import annotations

import datetime as dt
import os

import httpx

from schemas.health_profile import HealthProfile
from storage.health_profiles import HealthProfileStore
from storage.sealing import Sealer, is_sealed
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    BEN,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    OTHER_WEARER,
    REVIEWER_A,
    Clock,
    Stores,
    set_up_access,
)
from vigil.profiles import decode_profile

RECORD = {
    "habits": {"smoking": "ex-smoker, stopped 2019", "alcohol": "2 units a week"},
    "medical_history": ["COPD, GOLD 3", "hip replacement 2021"],
    "family_history": ["father: myocardial infarction at 61"],
    "medications": [{"name": "tiotropium", "dose": "18 µg", "schedule": "once daily"}],
    "allergies": ["penicillin"],
}


async def test_the_record_is_read_as_granted_and_written_by_the_wearer_or_clinician(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)  # Anna: alerts, vitals; Ben: vitals; clinic A
    written = await http.put("/v1/wearers/wb-0001/profile/record", json=RECORD, headers=MARY_SELF)
    assert written.status_code == 200, written.text
    assert written.json()["updated_by"] == "mary"
    expected = {
        "the wearer": (MARY_SELF, 200),
        "the clinic's clinician": (DR_LI, 200),
        "the clinic's reviewer": (REVIEWER_A, 200),
        "family without the profile grant": (ANNA, 404),
        "another clinic": (DR_ROSS, 404),
        "an admin": (ADMIN_A, 404),
        "another wearer": (OTHER_WEARER, 404),
    }
    for who, (headers, status) in expected.items():
        answer = await http.get("/v1/wearers/wb-0001/profile", headers=headers)
        assert answer.status_code == status, who
    granted = await http.post(
        "/v1/wearers/wb-0001/grants",
        json={"viewer": "ben", "categories": ["profile"]},
        headers=MARY_SELF,
    )
    assert granted.status_code == 201
    seen = (await http.get("/v1/wearers/wb-0001/profile", headers=BEN)).json()
    assert seen["record"]["medications"][0]["name"] == "tiotropium"
    assert seen["record"]["allergies"] == ["penicillin"]
    # Reading is not writing: Ben, granted, still may not write.
    as_ben = await http.put("/v1/wearers/wb-0001/profile/record", json=RECORD, headers=BEN)
    assert as_ben.status_code == 403
    by_li = await http.put(
        "/v1/wearers/wb-0001/profile/record",
        json={**RECORD, "allergies": ["penicillin", "latex"]},
        headers=DR_LI,
    )
    assert (by_li.json()["allergies"], by_li.json()["updated_by"]) == (
        ["penicillin", "latex"],
        "dr-li",
    )
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    on_profile = [(e["actor"], e["action"]) for e in reversed(log) if e["category"] == "profile"]
    assert ("ben", "read") in on_profile
    assert ("anna", "denied") in on_profile
    assert ("dr-li", "write") in on_profile


async def test_a_clinician_sets_the_conditions_the_scoring_reads(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    before = (await http.get("/v1/wearers/wb-0001/profile", headers=DR_LI)).json()
    assert before["scoring"] == {
        "conditions": [],
        "on_oxygen": None,
        "spo2_scale": 1,
        "at_risk": False,
        "revision": 0,
    }
    body = {"conditions": ["hypercapnic_respiratory_failure"], "on_oxygen": True}
    assert (
        await http.put("/v1/wearers/wb-0001/profile/conditions", json=body, headers=MARY_SELF)
    ).status_code == 403
    typo = await http.put(
        "/v1/wearers/wb-0001/profile/conditions", json={"conditions": ["copd"]}, headers=DR_LI
    )
    assert typo.status_code == 422
    assert "unknown condition 'copd'" in typo.json()["detail"][0]["msg"]
    done = await http.put("/v1/wearers/wb-0001/profile/conditions", json=body, headers=DR_LI)
    assert done.status_code == 200, done.text
    assert (done.json()["spo2_scale"], done.json()["on_oxygen"]) == (2, True)
    # What the runners read: the stored scoring profile, a new revision.
    (stored,) = [r for r in stores.main.wearers_since(0) if r.device_id == "wb-0001"]
    profile = decode_profile(stored.profile)
    assert profile.effective_spo2_scale == 2
    assert profile.on_oxygen is True
    assert stored.revision == done.json()["revision"]
    cleared = await http.put(
        "/v1/wearers/wb-0001/profile/conditions", json={"conditions": []}, headers=DR_LI
    )
    assert (cleared.json()["spo2_scale"], cleared.json()["on_oxygen"]) == (1, True)
    assert cleared.json()["revision"] > done.json()["revision"]


def test_the_record_is_sealed_at_rest(stores: Stores) -> None:
    sealer = Sealer({"k1": os.urandom(32)})
    records = HealthProfileStore(stores.desk, sealer)
    written = HealthProfile(
        medical_history=("COPD with CO2 retention",),
        updated_at=dt.datetime(2026, 11, 29, tzinfo=dt.UTC),
    )
    records.put("wb-0001", written)
    (body,) = stores.desk.rows("SELECT body FROM health_profiles")[0]
    assert (is_sealed(body), "retention" in body) == (True, False)
    assert records.get("wb-0001") == written
    assert records.get("wb-0002") is None
