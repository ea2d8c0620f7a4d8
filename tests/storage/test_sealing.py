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

import pytest

from consult_bridge.workflow import Actor, raise_request
from schemas.health_records import Notice
from schemas.telemetry import Ecg, GpsFix, SpO2, TelemetryBatchV1
from storage import open_store
from storage.consultations import ConsultationStore
from storage.health_reads import HealthReader
from storage.notices import NoticeBoard
from storage.rewrap import rewrap_all
from storage.sealing import Sealer, SealError, is_sealed, parse_keys
from storage.sql_desk import open_desk
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


def test_location_fixes_are_sealed_and_their_readings_rows_keep_no_coordinates(url: str) -> None:
    fix = GpsFix(measured_at=T0, lat_deg=51.50072, lon_deg=-0.12462, accuracy_m=7.5)
    batch = TelemetryBatchV1(
        device_id="wb-0001",
        seq=1,
        sent_at=T0,
        samples=(fix, SpO2(measured_at=T0, spo2_pct=96)),
    )
    sealer = Sealer({"k1": OLD})
    store = open_store(url, sealer)
    with store.transaction() as tx:
        tx.add_messages([received(batch)])
    assert store.count_readings("wb-0001") == 2  # the fix is still a reading, counted
    store.close()
    desk = open_desk(url)
    (row,) = desk.rows("SELECT lat_deg, lon_deg, accuracy_m FROM readings WHERE type = 'gps'")
    assert row == (None, None, None)
    ((sealed,),) = desk.rows("SELECT sealed FROM sealed_fixes")
    assert (is_sealed(sealed), "51.5" in sealed) == (True, False)
    window = (T0 - dt.timedelta(minutes=1), T0 + dt.timedelta(minutes=1))
    (read,) = HealthReader(desk, sealer).readings("wb-0001", ("gps",), *window, 10)
    assert read.values == {"lat_deg": 51.50072, "lon_deg": -0.12462, "accuracy_m": 7.5}
    (spo2,) = HealthReader(desk, sealer).readings("wb-0001", ("spo2",), *window, 10)
    assert spo2.values == {"spo2_pct": 96}
    with pytest.raises(SealError, match="VIGIL_RECORD_KEYS"):
        HealthReader(desk).readings("wb-0001", ("gps",), *window, 10)
    rotated = Sealer({"k2": NEW, "k1": OLD})
    assert rewrap_all(desk, rotated)["sealed_fixes"] == 1
    (moved,) = HealthReader(desk, Sealer({"k2": NEW})).readings("wb-0001", ("gps",), *window, 10)
    assert moved.values["lat_deg"] == 51.50072
    desk.close()
