"""Wearer profiles: validated on the way in, stored by revision, read back by every runner."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import encode
from schemas.topics import telemetry_topic
from storage.sqlite import SqliteStore
from stream_processors.device import ProcessorSettings
from stream_processors.fleet import Fleet
from tests.factories import T0, vitals_batch
from vigil.profiles import (
    DEFAULT_PROFILE,
    ProfileBook,
    ProfileError,
    decode_profile,
    encode_profile,
    load_profile,
)
from vigil.shard_work import RawMessage, ShardWork

HOME_TOML = b"""
at_risk = true
tz = "Europe/London"
conditions = ["hypercapnic_respiratory_failure"]

[[fences]]
fence_id = "home"
name = "Home"
shape = { type = "circle", lat_deg = 51.5007, lon_deg = -0.1246, radius_m = 150 }
schedule = { start = 22:00:00, end = 07:00:00, tz = "Europe/London" }
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "vigil.db")
    s.migrate()
    yield s
    s.close()


def test_a_toml_profile_loads_and_round_trips_through_its_stored_json() -> None:
    profile = load_profile(HOME_TOML, toml=True)
    assert profile.at_risk
    assert profile.fences[0].schedule is not None
    assert profile.fences[0].schedule.start == dt.time(22, 0)
    assert decode_profile(encode_profile(profile)) == profile
    assert load_profile(encode_profile(profile)) == profile  # the JSON form loads too


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"at_risc": true}', "unknown keys $.at_risc"),
        (
            (
                b'{"fences": [{"fence_id": "h", "name": "H", "shape": {"type": "circle",'
                b' "lat_deg": 1, "lon_deg": 2, "radius_m": 3, "radius": 4}}]}'
            ),
            "unknown keys $.fences[0].shape.radius",
        ),
        (b'{"tz": "Mars/Olympus"}', "unknown time zone"),
        (b'{"spo2_scale": 3}', "$.spo2_scale"),
        (b'{"at_risk": "yes"}', "$.at_risk"),
        (b"[1", "not JSON"),
    ],
)
def test_a_bad_profile_is_refused_saying_where(raw: bytes, says: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(raw)
    assert says in str(info.value)


def test_the_book_reads_everything_once_then_only_what_changed(store: SqliteStore) -> None:
    store.put_wearer("wb-1", b'{"at_risk": true}')
    store.put_wearer("wb-2", b'{"tz": "Europe/Paris"}')
    now = [0.0]
    book = ProfileBook(store, refresh_s=30, clock=lambda: now[0])
    book.refresh_if_due()
    assert book("wb-1").at_risk
    assert book("wb-2").tz == "Europe/Paris"
    assert book("wb-9") == DEFAULT_PROFILE
    store.put_wearer("wb-1", b'{"at_risk": false}')
    now[0] = 29.0
    book.refresh_if_due()
    assert book("wb-1").at_risk  # not due yet
    now[0] = 30.0
    book.refresh_if_due()
    assert not book("wb-1").at_risk
    assert book.refresh() == 0  # nothing new since


def test_the_book_keeps_only_its_own_devices_and_survives_a_bad_stored_profile(
    store: SqliteStore,
) -> None:
    store.put_wearer("wb-1", b'{"at_risk": true}')
    store.put_wearer("wb-2", b'{"at_risk": true}')
    book = ProfileBook(store, owns=lambda device: device == "wb-1")
    book.refresh()
    assert book("wb-1").at_risk
    assert book("wb-2") == DEFAULT_PROFILE
    store.put_wearer("wb-1", b'{"tz": "Nowhere/Land"}')  # written around the CLI's checks
    assert book.refresh() == 1
    assert book("wb-1").at_risk  # the previous profile stays


def test_a_wearer_marked_at_risk_in_the_store_gets_signal_lost(store: SqliteStore) -> None:
    now = [T0]
    # The clock reads the moving ``now``, not the first one.
    book = ProfileBook(store, refresh_s=60.0, clock=lambda: now[0].timestamp())  # noqa: PLW0108
    work = ShardWork(store, Fleet(ProcessorSettings(), book), profiles=book, clock=lambda: now[0])
    bands = [vitals_batch(device_id=d, seq=1, at=T0) for d in ("wb-1", "wb-2")]
    work.process([RawMessage(telemetry_topic(b.device_id), encode(b)) for b in bands])
    # Marked at risk while the runner runs: seen at the next refresh.
    store.put_wearer("wb-1", encode_profile(load_profile(b'{"at_risk": true}')))
    now[0] = T0 + dt.timedelta(minutes=31)
    lost = work.tick(backend_ok=True)
    assert [(a.device_id, a.source) for a in lost] == [("wb-1", "signal_lost")]


def vigil_cli(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigil", *args],
        env={"VIGIL_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )


def test_vigil_wearer_set_validates_stores_and_shows(tmp_path: Path) -> None:
    db = tmp_path / "vigil.db"
    good = tmp_path / "home.toml"
    good.write_bytes(HOME_TOML)
    bad = tmp_path / "typo.json"
    bad.write_text('{"at_risc": true}')
    refused = vigil_cli("wearer", "set", "wb-7", str(bad), db=db)
    assert refused.returncode == 2
    assert "unknown keys $.at_risc" in refused.stderr
    assert vigil_cli("wearer", "show", "wb-7", db=db).returncode == 1
    stored = vigil_cli("wearer", "set", "wb-7", str(good), db=db)
    assert stored.returncode == 0, stored.stderr
    shown = vigil_cli("wearer", "show", "wb-7", db=db)
    assert shown.returncode == 0
    assert load_profile(json.dumps(json.loads(shown.stdout)).encode()) == load_profile(
        HOME_TOML, toml=True
    )
