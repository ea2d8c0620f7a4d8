"""The wearer's record through the API on SQLite and PostgreSQL: stored data by category,
read only as grants, clinics and break-glass allow; every read and refusal in the
wearer's audit view; the chain verified by ``vigil audit verify``.

The authorization matrix: each caller (role x grant state) x each record category; a
read without a grant in force is a 404, as for a wearer that does not exist.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import httpx
import pytest

import schemas
from consult_bridge.audit import verify
from schemas.scores import IndexRecord
from tests.consult_bridge.conftest import (
    ADMIN_A,
    ANNA,
    AUDIT_KEY,
    BEN,
    CARL,
    DORA,
    DR_LI,
    DR_ROSS,
    MARY_SELF,
    NOW,
    OTHER_WEARER,
    REVIEWER_A,
    Clock,
    Stores,
    bearer,
    set_up_access,
)
from tests.factories import received, vitals_batch

AT = NOW - dt.timedelta(hours=1)
ECG = tuple((i * 37) % 900 - 450 for i in range(500))


def store_a_day(stores: Stores) -> None:
    """Mary's vitals, steps, a GPS fix, a sleep stage, an ECG strip and an index value."""
    extra = schemas.TelemetryBatchV1(
        device_id="wb-0001",
        seq=2,
        sent_at=AT,
        samples=(
            schemas.Steps(measured_at=AT, steps=120, interval_s=60),
            schemas.GpsFix(measured_at=AT, lat_deg=51.5007, lon_deg=-0.1246, accuracy_m=8),
            schemas.SleepStage(
                measured_at=AT - dt.timedelta(hours=8), stage="deep", duration_s=900
            ),
            schemas.Ecg(measured_at=AT, sampling_rate_hz=250, samples_uv=ECG),
        ),
    )
    other = vitals_batch(1, device_id="wb-0002", at=AT)
    with stores.main.transaction() as tx:
        tx.add_messages(
            [received(vitals_batch(1, device_id="wb-0001", at=AT, hr=88)), received(extra)]
        )
        tx.add_messages([received(other)])
        tx.add_indices(
            [
                IndexRecord(
                    device_id="wb-0001",
                    evaluated_at=AT,
                    name="mental_stress",
                    value=61.5,
                    inputs={"rmssd_ms": {"value": 21.0, "baseline": 35.0, "z": -1.8}},
                )
            ]
        )


CATEGORIES = ("vitals", "steps", "location", "ecg", "sleep", "indices")
# Expected status per caller, per category in CATEGORIES order.
MATRIX = {
    "the wearer": (MARY_SELF, (200, 200, 200, 200, 200, 200)),
    "another wearer": (OTHER_WEARER, (404,) * 6),
    "family, granted alerts and vitals": (ANNA, (200, 404, 404, 404, 404, 404)),
    "family, granted vitals only": (BEN, (200, 404, 404, 404, 404, 404)),
    "family, grant ended": (DORA, (404,) * 6),
    "family, no grant": (CARL, (404,) * 6),
    "clinician of the clinic": (DR_LI, (200,) * 6),
    "reviewer of the clinic": (REVIEWER_A, (200,) * 6),
    "clinician of another clinic": (DR_ROSS, (404,) * 6),
    "admin of the clinic": (ADMIN_A, (404,) * 6),
}


@pytest.mark.parametrize("caller", sorted(MATRIX))
async def test_who_may_read_each_category_of_the_record(
    caller: str, client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    store_a_day(stores)
    headers, expected = MATRIX[caller]
    answers = [
        await http.get(f"/v1/wearers/wb-0001/records/{c}", headers=headers) for c in CATEGORIES
    ]
    assert tuple(a.status_code for a in answers) == expected, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 200:
            assert answer.json()["records"], answer.json()
        else:
            assert answer.json() == {"detail": "no such wearer"}
    # Every answer, given or refused, is in the wearer's audit view.
    seen = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    reads = [e for e in seen if e["category"] in CATEGORIES]
    if caller == "the wearer":
        assert reads == []  # the wearer's own reads are left out unless asked for
        own = await http.get("/v1/wearers/wb-0001/audit?include_own=true", headers=MARY_SELF)
        reads = [e for e in own.json() if e["category"] in CATEGORIES]
    assert [(e["category"], e["action"]) for e in reversed(reads)] == [
        (c, "read" if code == 200 else "denied")
        for c, code in zip(CATEGORIES, expected, strict=True)
    ]


async def test_the_records_hold_what_the_band_sent(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    store_a_day(stores)

    async def records(category: str, query: str = "") -> list[dict[str, object]]:
        answer = await http.get(f"/v1/wearers/wb-0001/records/{category}{query}", headers=MARY_SELF)
        assert answer.status_code == 200, answer.text
        found: list[dict[str, object]] = answer.json()["records"]
        return found

    vitals = {r["type"]: r["values"] for r in await records("vitals")}
    assert vitals["heart_rate"] == {
        "heart_rate_bpm": 88,
        "rr_ms": [830.0, 845.5],
        "sensor_contact": None,
    }
    assert vitals["blood_pressure"] == {"systolic_mmhg": 124, "diastolic_mmhg": 79}
    assert vitals["temperature"] == {"temp_c": pytest.approx(36.9), "site": "estimated_core"}
    assert set(vitals) == {"heart_rate", "spo2", "respiration", "blood_pressure", "temperature"}
    (gps,) = await records("location")
    assert gps["values"] == {"lat_deg": 51.5007, "lon_deg": -0.1246, "accuracy_m": 8}
    (ecg,) = await records("ecg")
    assert ecg["values"] == {"sampling_rate_hz": 250, "lead": "I", "samples_uv": list(ECG)}
    (stress,) = await records("indices")
    assert (stress["type"], stress["values"]["value"]) == ("mental_stress", 61.5)  # type: ignore[index]
    (sleep,) = await records("sleep")
    assert sleep["values"] == {"stage": "deep", "duration_s": 900}
    # The window is device time, half-open; the default is the last 24 hours.
    assert (
        await records(
            "sleep", f"?since={(AT - dt.timedelta(hours=7)).isoformat()}".replace("+", "%2B")
        )
        == []
    )
    page = await http.get("/v1/wearers/wb-0001/records/vitals?limit=2", headers=MARY_SELF)
    assert (len(page.json()["records"]), page.json()["more"]) == (2, True)
    assert (
        await http.get(
            "/v1/wearers/wb-0001/records/vitals?since=2026-10-01T00:00:00Z", headers=MARY_SELF
        )
    ).status_code == 422
    assert (
        await http.get("/v1/wearers/wb-0001/records/diary", headers=MARY_SELF)
    ).status_code == 422


async def test_a_family_viewer_reads_nothing_once_the_grant_ends(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    store_a_day(stores)
    until = NOW + dt.timedelta(hours=2)
    made = await http.post(
        "/v1/wearers/wb-0001/grants",
        json={"viewer": "ben", "categories": ["vitals"], "not_after": until.isoformat()},
        headers=MARY_SELF,
    )
    assert made.status_code == 201
    assert (await http.get("/v1/wearers/wb-0001/records/vitals", headers=BEN)).status_code == 200
    clock.now = until - dt.timedelta(microseconds=1)
    assert (await http.get("/v1/wearers/wb-0001/records/vitals", headers=BEN)).status_code == 200
    clock.now = until
    assert (await http.get("/v1/wearers/wb-0001/records/vitals", headers=BEN)).status_code == 404
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    assert [(e["actor"], e["action"]) for e in log if e["category"] == "vitals"] == [
        ("ben", "denied"),
        ("ben", "read"),
        ("ben", "read"),
    ]


async def test_break_glass_opens_the_record_for_an_hour_audited_and_reported(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, clock = client
    await set_up_access(http)  # Mary is clinic A's; Dr Ross is clinic B's
    store_a_day(stores)
    assert (await http.get("/v1/wearers/wb-0001/records/ecg", headers=DR_ROSS)).status_code == 404
    short = await http.post(
        "/v1/wearers/wb-0001/emergency-access", json={"reason": "help"}, headers=DR_ROSS
    )
    assert short.status_code == 422  # a reason is required
    for not_clinician in (ANNA, ADMIN_A, MARY_SELF):
        refused = await http.post(
            "/v1/wearers/wb-0001/emergency-access",
            json={"reason": "found collapsed in the street"},
            headers=not_clinician,
        )
        assert refused.status_code == 403
    unknown = await http.post(
        "/v1/wearers/wb-9999/emergency-access",
        json={"reason": "found collapsed in the street"},
        headers=DR_ROSS,
    )
    assert unknown.status_code == 404
    opened = await http.post(
        "/v1/wearers/wb-0001/emergency-access",
        json={"reason": "found collapsed in the street, unresponsive"},
        headers=DR_ROSS,
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["until"].startswith("2026-11-29T13:00")
    strip = await http.get("/v1/wearers/wb-0001/records/ecg", headers=DR_ROSS)
    assert strip.status_code == 200
    assert strip.json()["records"][0]["values"]["samples_uv"] == list(ECG)
    assert (await http.get("/v1/wearers/wb-0001/ladders", headers=DR_ROSS)).status_code == 200
    # Only the clinician who broke the glass; only for the hour.
    dr_kim = bearer(sub="dr-kim", role="clinician", tenant="clinic-b")
    assert (await http.get("/v1/wearers/wb-0001/records/ecg", headers=dr_kim)).status_code == 404
    clock.now = NOW + dt.timedelta(minutes=61)
    assert (await http.get("/v1/wearers/wb-0001/records/ecg", headers=DR_ROSS)).status_code == 404

    notices = (await http.get("/v1/me/notices", headers=MARY_SELF)).json()
    (notice,) = notices
    assert notice["kind"] == "break_glass"
    assert "Dr Ross (clinic-b) opened your record in an emergency" in notice["text"]
    assert "unresponsive" in notice["text"]
    assert (await http.get("/v1/me/notices", headers=ANNA)).json() == []
    log = (await http.get("/v1/wearers/wb-0001/audit", headers=MARY_SELF)).json()
    by_ross = [(e["category"], e["action"], e["detail"]) for e in log if e["actor"] == "dr-ross"]
    assert by_ross[::-1] == [
        ("ecg", "denied", "read"),
        ("emergency", "break_glass", "found collapsed in the street, unresponsive"),
        ("ecg", "read", by_ross[-3][2]),
        ("alerts", "read", "0 ladders (break-glass)"),
        ("ecg", "denied", "read"),
    ]
    assert by_ross[-3][2].endswith("(break-glass)")
    assert verify(AUDIT_KEY, stores.audit.walk()).broken is None


async def test_vigil_audit_verify_finds_a_tampered_entry(
    client: tuple[httpx.AsyncClient, Clock], stores: Stores
) -> None:
    http, _ = client
    await set_up_access(http)
    store_a_day(stores)
    for headers in (ANNA, BEN, CARL, DR_LI):
        await http.get("/v1/wearers/wb-0001/records/vitals", headers=headers)
    env = {
        "VIGIL_DATABASE_URL": stores.url,
        "VIGIL_AUDIT_KEY": AUDIT_KEY.decode(),
        "PATH": "/usr/bin:/bin",
    }

    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vigil", "audit", "verify", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    whole = vigil()
    assert whole.returncode == 0, whole.stderr
    assert "the chain holds" in whole.stdout
    head = whole.stdout.split("head ")[1].split()[0]
    assert vigil("--anchor", head).returncode == 0
    with stores.desk.tx() as conn:
        if stores.desk.dialect == "postgres":
            conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET action = 'read' WHERE actor = 'carl'")
    broken = vigil("--json")
    assert broken.returncode == 1
    carl = next(e for e in stores.audit.walk() if e.event.actor == "carl")
    assert f'"broken":{{"seq":{carl.seq},' in broken.stdout.replace(" ", "")
    env["VIGIL_AUDIT_KEY"] = "w" * 32
    wrong_key = vigil()
    assert (wrong_key.returncode, "BROKEN at entry 1" in wrong_key.stdout) == (1, True)
