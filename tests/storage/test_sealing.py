"""Health records sealed at rest (storage/sealing.py): AES-GCM envelopes, bound to their
row, opened through key rotation, re-wrapped by ``vigil records rewrap``; on SQLite and
PostgreSQL the stored column holds no plain health data."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from consult_bridge.workflow import Actor, raise_request
from schemas.health_records import Notice
from schemas.scores import IndexRecord
from schemas.telemetry import (
    Battery,
    BloodPressure,
    Ecg,
    GpsFix,
    HeartRate,
    Respiration,
    SleepStage,
    SpO2,
    Steps,
    TelemetryBatchV1,
    Temperature,
    WearState,
)
from storage import open_store
from storage.consultations import ConsultationStore
from storage.health_reads import HealthReader
from storage.notices import NoticeBoard
from storage.records import READING_VALUE_COLUMNS, fix_row_id
from storage.rewrap import rewrap_all
from storage.sealing import Sealer, SealError, is_sealed, parse_keys
from storage.sql_desk import SqlDesk, open_desk
from tests.factories import received

OLD = os.urandom(32)
NEW = os.urandom(32)
T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)


def test_a_sealed_value_opens_only_in_its_row_unaltered_under_a_known_key() -> None:
    sealer = Sealer({"k1": OLD})
    sealed = sealer.seal(b"diagnosis: paroxysmal AF", "c-1")
    assert is_sealed(sealed)
    assert b"paroxysmal" not in sealed.encode()
    assert sealer.open(sealed, "c-1") == b"diagnosis: paroxysmal AF"
    assert sealer.seal(b"same", "c-1") != sealer.seal(b"same", "c-1")  # fresh key and nonce
    with pytest.raises(SealError, match="another row"):
        sealer.open(sealed, "c-2")
    head, body = sealed.rsplit(":", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(SealError):
        sealer.open(f"{head}:{flipped}", "c-1")
    with pytest.raises(SealError, match="not configured"):
        Sealer({"k9": NEW}).open(sealed, "c-1")
    assert sealer.open("plain, written before keys", "c-1") == b"plain, written before keys"


def test_rotation_opens_old_values_and_rewrap_moves_them_to_the_new_key() -> None:
    before = Sealer({"k1": OLD}).seal(b"medical record", "c-1")
    rotated = Sealer({"k2": NEW, "k1": OLD})  # the new key first: current
    assert rotated.current == "k2"
    assert rotated.open(before, "c-1") == b"medical record"
    moved = rotated.rewrap(before, "c-1")
    assert moved is not None
    assert moved.split(":")[1] == "k2"
    assert moved.split(":")[-1] == before.split(":")[-1]  # the data itself untouched
    assert rotated.rewrap(moved, "c-1") is None
    assert Sealer({"k2": NEW}).open(moved, "c-1") == b"medical record"  # the old key can go
    plain = rotated.rewrap("written plain", "c-1")
    assert plain is not None
    assert rotated.open(plain, "c-1") == b"written plain"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "no keys"),
        ("k1", "kid:base64key"),
        ("k1:not base64!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "32 bytes"),
        (f"k-1:{base64.b64encode(OLD).decode()}", "letters and digits"),
        (f"k1:{base64.b64encode(OLD).decode()},k1:{base64.b64encode(NEW).decode()}", "twice"),
    ],
    ids=lambda value: "random-keys" if len(value) > 40 else value,  # same ids in every process
)
def test_bad_key_settings_are_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_keys(text)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    found = (
        f"sqlite:///{tmp_path / 'vigil.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_dsn")
    )
    store = open_store(found)
    store.migrate()
    store.close()
    return found


def test_stored_consultations_and_notices_hold_no_plain_health_data(url: str) -> None:
    desk = open_desk(url)
    sealer = Sealer({"k1": OLD})
    consults = ConsultationStore(desk, sealer)
    notices = NoticeBoard(desk, sealer)
    made = raise_request(
        device_id="wb-0001",
        tenant="clinic-a",
        reason="chest pain on exertion",
        by=Actor(sub="dr-li", role="clinician"),
        at=T0,
    ).consultation
    assert consults.add(made)
    notices.post(
        Notice(notice_id="n1", recipient="device:wb-0001", at=T0, kind="x", text="chest pain")
    )
    (body,) = desk.rows("SELECT body FROM consultations")[0]
    (text,) = desk.rows("SELECT text FROM notices")[0]
    assert (is_sealed(body), "chest" in body) == (True, False)
    assert (is_sealed(text), "chest" in text) == (True, False)
    assert consults.get(made.consult_id) == made
    assert notices.of("device:wb-0001")[0].text == "chest pain"
    with pytest.raises(SealError, match="VIGIL_RECORD_KEYS"):
        ConsultationStore(desk).get(made.consult_id)
    # Rotation, then the rewrap: every row under the new key, the old key no longer needed.
    rotated = Sealer({"k2": NEW, "k1": OLD})
    changed = rewrap_all(desk, rotated)
    assert (changed["consultations"], changed["notices"]) == (1, 1)
    assert rewrap_all(desk, rotated)["consultations"] == 0
    only_new = Sealer({"k2": NEW})
    assert ConsultationStore(desk, only_new).get(made.consult_id) == made
    assert NoticeBoard(desk, only_new).of("device:wb-0001")[0].text == "chest pain"
    desk.close()


def test_vigil_records_rewrap_seals_what_was_written_plain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'vigil.db'}"
    store = open_store(url)
    store.migrate()
    store.close()
    desk = open_desk(url)
    plain = raise_request(
        device_id="wb-0001",
        tenant="clinic-a",
        reason="dizzy",
        by=Actor(sub="dr-li", role="clinician"),
        at=T0,
    ).consultation
    ConsultationStore(desk).add(plain)  # before keys were configured
    keys = f"k1:{base64.b64encode(OLD).decode()}"
    env = {"VIGIL_DATABASE_URL": url, "VIGIL_RECORD_KEYS": keys, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "vigil", "records", "rewrap"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 consultations" in done.stdout
    assert keys.split(":")[1] not in done.stdout + done.stderr
    (body,) = desk.rows("SELECT body FROM consultations")[0]
    assert is_sealed(body)
    assert ConsultationStore(desk, Sealer({"k1": OLD})).get(plain.consult_id) == plain
    bad = subprocess.run(
        [sys.executable, "-m", "vigil", "records", "rewrap"],
        env={**env, "VIGIL_RECORD_KEYS": "k1:abc"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (bad.returncode, "VIGIL_RECORD_KEYS" in bad.stderr) == (2, True)
    desk.close()


def test_ecg_strips_are_sealed_as_they_are_stored_and_read_back_whole(url: str) -> None:
    samples = tuple((i * 53) % 2000 - 1000 for i in range(750))

    def batch(seq: int) -> TelemetryBatchV1:
        return TelemetryBatchV1(
            device_id="wb-0001",
            seq=seq,
            sent_at=T0,
            samples=(Ecg(measured_at=T0, sampling_rate_hz=250, samples_uv=samples),),
        )

    sealer = Sealer({"k1": OLD})
    plain_store = open_store(url)  # written before keys were configured
    with plain_store.transaction() as tx:
        tx.add_messages([received(batch(1))])
    plain_store.close()
    sealed_store = open_store(url, sealer)
    with sealed_store.transaction() as tx:
        tx.add_messages([received(batch(2))])
    sealed_store.close()
    desk = open_desk(url)
    raw = {
        int(seq): bytes(blob) for seq, blob in desk.rows("SELECT seq, samples_uv FROM ecg_strips")
    }
    assert raw[2].startswith(b"vg1:k1:")
    assert not raw[1].startswith(b"vg1:")
    window = (T0 - dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=1))
    read = HealthReader(desk, sealer).ecg("wb-0001", *window, 10)
    assert [r.values["samples_uv"] for r in read] == [list(samples), list(samples)]
    with pytest.raises(SealError, match="VIGIL_RECORD_KEYS"):
        HealthReader(desk).ecg("wb-0001", *window, 10)
    rotated = Sealer({"k2": NEW, "k1": OLD})
    # The plain one sealed, the old one re-wrapped.
    assert rewrap_all(desk, rotated)["ecg_strips"] == 2
    assert rewrap_all(desk, rotated)["ecg_strips"] == 0
    again = HealthReader(desk, Sealer({"k2": NEW})).ecg("wb-0001", *window, 10)
    assert [r.values["samples_uv"] for r in again] == [list(samples), list(samples)]
    desk.close()


# One sample of every stored type, with values whose text is easy to look for.
SAMPLES = (
    HeartRate(measured_at=T0, heart_rate_bpm=131.5, rr_ms=(457.5, 462.25), sensor_contact=True),
    SpO2(measured_at=T0, spo2_pct=87.25),
    BloodPressure(measured_at=T0, systolic_mmhg=171.5, diastolic_mmhg=97.5),
    Temperature(measured_at=T0, temp_c=38.75, site="estimated_core"),
    Respiration(measured_at=T0, respiration_rate_per_min=27.5),
    Steps(measured_at=T0, steps=4321, interval_s=60.0),
    SleepStage(measured_at=T0, stage="rem", duration_s=300.0),
    GpsFix(measured_at=T0, lat_deg=51.50072, lon_deg=-0.12462, accuracy_m=7.5),
    Battery(measured_at=T0, battery_pct=12.5),
    WearState(measured_at=T0, on_wrist=False),
)
LOOK_FOR = ("131.5", "457.5", "87.25", "171.5", "38.75", "27.5", "4321", "rem", "51.5", "12.5")
TYPES = tuple(str(type(s).__struct_config__.tag) for s in SAMPLES)
WINDOW = (T0 - dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=1))
STRESS = IndexRecord(
    device_id="wb-0001",
    evaluated_at=T0 + dt.timedelta(microseconds=123_457),
    name="mental_stress",
    value=71.5,
    inputs={"rmssd_ms": {"value": 18.25, "baseline": 42.5, "deviation_sd": -2.75}},
    missing=("skin_temp",),
)


def _store_one_batch(url: str, sealer: Sealer | None, device_id: str = "wb-0001") -> None:
    batch = TelemetryBatchV1(device_id=device_id, seq=1, sent_at=T0, samples=SAMPLES)
    store = open_store(url, sealer)
    with store.transaction() as tx:
        tx.add_messages([received(batch)])
        tx.add_indices([msgspec.structs.replace(STRESS, device_id=device_id)])
    store.close()


def _plain_text_of(desk: SqlDesk, device_id: str) -> str:
    """Every stored column of a wearer's readings, batch seals and index values, as text."""
    tables = ("readings", "sealed_batches", "index_values")
    return repr([desk.rows(f"SELECT * FROM {t} WHERE device_id = ?", (device_id,)) for t in tables])


def test_every_reading_and_index_value_is_sealed_and_reads_back_as_stored_plain(
    url: str,
) -> None:
    sealer = Sealer({"k1": OLD})
    _store_one_batch(url, None, "wb-plain")
    _store_one_batch(url, sealer)
    store = open_store(url, sealer)
    assert store.count_readings("wb-0001") == len(SAMPLES)  # still readings, counted
    assert store.indices("wb-0001") == [STRESS]
    store.close()
    desk = open_desk(url)
    values = ", ".join(READING_VALUE_COLUMNS)
    assert set(desk.rows(f"SELECT {values} FROM readings WHERE device_id = 'wb-0001'")) == {
        (None,) * len(READING_VALUE_COLUMNS)
    }
    stored = _plain_text_of(desk, "wb-0001")
    assert [v for v in LOOK_FOR if v in stored] == []
    assert [v for v in LOOK_FOR if v in _plain_text_of(desk, "wb-plain")] == list(LOOK_FOR)
    ((one,),) = desk.rows("SELECT count(*) FROM sealed_batches")
    assert one == 1  # one envelope for the batch, not one per reading
    sealed = HealthReader(desk, sealer)
    plain = HealthReader(desk)
    as_stored = plain.readings("wb-plain", TYPES, *WINDOW, 50)
    assert sealed.readings("wb-0001", TYPES, *WINDOW, 50) == as_stored
    assert [r.values for r in sealed.indices("wb-0001", *WINDOW, 10)] == [
        r.values for r in plain.indices("wb-plain", *WINDOW, 10)
    ]
    with pytest.raises(SealError, match="VIGIL_RECORD_KEYS"):
        plain.readings("wb-0001", ("spo2",), *WINDOW, 10)
    with pytest.raises(SealError, match="VIGIL_RECORD_KEYS"):
        plain.indices("wb-0001", *WINDOW, 10)
    rotated = Sealer({"k2": NEW, "k1": OLD})
    changed = rewrap_all(desk, rotated)
    # The plain wearer's batch and index value sealed; the sealed ones re-wrapped.
    assert (changed["sealed_batches"], changed["reading_batches"], changed["index_values"]) == (
        1,
        1,
        2,
    )
    assert rewrap_all(desk, rotated)["index_values"] == 0
    assert [v for v in LOOK_FOR if v in _plain_text_of(desk, "wb-plain")] == []
    only_new = HealthReader(desk, Sealer({"k2": NEW}))
    for device_id in ("wb-0001", "wb-plain"):
        assert only_new.readings(device_id, TYPES, *WINDOW, 50) == as_stored
        assert only_new.indices(device_id, *WINDOW, 10)[0].values["value"] == 71.5
    desk.close()


def test_fixes_sealed_one_by_one_before_0024_still_read_and_survive_the_rewrap(url: str) -> None:
    """Fixes stored by the previous release: NULL coordinates, the fix in ``sealed_fixes``."""
    sealer = Sealer({"k1": OLD})
    fix, spo2 = SAMPLES[7], SAMPLES[1]
    batch = TelemetryBatchV1(device_id="wb-0001", seq=1, sent_at=T0, samples=(fix, spo2))
    store = open_store(url)
    with store.transaction() as tx:
        tx.add_messages([received(batch)])
    store.close()
    desk = open_desk(url)
    coordinates = msgspec.json.encode({"lat_deg": 51.50072, "lon_deg": -0.12462, "accuracy_m": 7.5})
    with desk.tx() as conn:
        conn.execute(
            desk.q(
                "UPDATE readings SET lat_deg = NULL, lon_deg = NULL, accuracy_m = NULL "
                "WHERE type = 'gps'"
            )
        )
        conn.execute(
            desk.q("INSERT INTO sealed_fixes VALUES (?, ?, ?, ?, ?)"),
            ("wb-0001", 0, 1, 0, sealer.seal(coordinates, fix_row_id("wb-0001", 0, 1, 0))),
        )
    reader = HealthReader(desk, sealer)
    expected = [r.values for r in reader.readings("wb-0001", ("gps", "spo2"), *WINDOW, 10)]
    assert expected == [
        {"lat_deg": 51.50072, "lon_deg": -0.12462, "accuracy_m": 7.5},
        {"spo2_pct": 87.25},
    ]
    rotated = Sealer({"k2": NEW, "k1": OLD})
    changed = rewrap_all(desk, rotated)
    assert (changed["reading_batches"], changed["sealed_fixes"]) == (1, 1)  # the SpO2 sealed too
    after = HealthReader(desk, Sealer({"k2": NEW}))
    assert [r.values for r in after.readings("wb-0001", ("gps", "spo2"), *WINDOW, 10)] == expected
    desk.close()
