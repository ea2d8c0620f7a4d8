"""One contract, two backends: SQLite (embedded) and PostgreSQL (a real server)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

import schemas
from schemas import Alert, AlertLevel, Driver
from schemas.records import DeadLetter
from schemas.scores import IndexRecord
from scoring.news2 import Vitals, news2
from storage import Store, migrator
from storage.records import DEAD_LETTER_MAX_BYTES, ScoreRecord
from tests.factories import T0, received, vitals_batch


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == []


def test_new_messages_are_stored_and_duplicates_dropped(store: Store) -> None:
    b1, b2 = vitals_batch(1), vitals_batch(2)
    with store.transaction() as tx:
        new = tx.add_messages([received(b1), received(b2), received(b1)])
    assert [r.message for r in new] == [b1, b2]
    with store.transaction() as tx:
        again = tx.add_messages([received(b2), received(vitals_batch(3))])
    assert [r.message.seq for r in again] == [3]  # type: ignore[union-attr]
    assert store.count_messages() == 3
    assert store.count_readings() == 15
    assert store.count_readings("wb-1") == 15
    assert store.count_readings("wb-2") == 0


def test_unseen_names_exactly_what_add_messages_then_stores(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_messages([received(vitals_batch(1))])
    status = schemas.GatewayStatusV1(gateway_id="gw-1", state="online", reported_at=T0)
    chunk = [
        received(vitals_batch(1)),  # stored before
        received(vitals_batch(2)),
        received(vitals_batch(2)),  # twice in the chunk
        received(vitals_batch(1, boot_id=1)),  # a new boot
        received(status),
    ]
    unseen = store.unseen(chunk)
    assert [id(r) for r in unseen] == [id(chunk[1]), id(chunk[3]), id(chunk[4])]
    with store.transaction() as tx:
        new = tx.add_messages(chunk)
    assert [id(r) for r in new] == [id(r) for r in unseen]
    assert store.unseen(chunk) == [chunk[4]]  # a status is always applied (newest wins)


def test_same_seq_under_a_new_boot_id_is_not_a_duplicate(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_messages([received(vitals_batch(1, boot_id=1))])
    with store.transaction() as tx:
        new = tx.add_messages([received(vitals_batch(1, boot_id=2))])
    assert len(new) == 1
    assert store.count_messages() == 2


def test_out_of_order_batches_are_accepted(store: Store) -> None:
    with store.transaction() as tx:
        tx.add_messages([received(vitals_batch(5)), received(vitals_batch(3))])
    with store.transaction() as tx:
        new = tx.add_messages([received(vitals_batch(4))])
    assert len(new) == 1
    assert store.count_messages() == 3


def test_a_failed_unit_of_work_leaves_nothing_behind(store: Store) -> None:
    def fail() -> None:
        with store.transaction() as tx:
            tx.add_messages([received(vitals_batch(1))])
            raise RuntimeError("crash between writes")

    with pytest.raises(RuntimeError):
        fail()
    assert store.count_messages() == 0
    assert store.count_readings() == 0
    with store.transaction() as tx:  # the key was not consumed by the failed attempt
        assert len(tx.add_messages([received(vitals_batch(1))])) == 1


def test_several_writes_in_one_unit_of_work_all_land(store: Store) -> None:
    # PostgreSQL leaves the readings COPY open after add_messages: every later
    # statement, and the commit, must complete it first.
    score = news2(Vitals(pulse_bpm=72, spo2_pct=97))
    with store.transaction() as tx:
        tx.add_messages([received(vitals_batch(1))])
        tx.add_messages([received(vitals_batch(2))])
        tx.add_scores([ScoreRecord(device_id="wb-1", evaluated_at=T0, news2=score)])
        tx.add_messages([received(vitals_batch(3))])
    assert store.count_messages() == 3
    assert store.count_readings() == 15


def test_ecg_events_and_gateway_status(store: Store) -> None:
    ecg = schemas.TelemetryBatchV1(
        device_id="wb-1",
        seq=10,
        sent_at=T0,
        samples=(schemas.Ecg(measured_at=T0, sampling_rate_hz=250, samples_uv=(1, -2, 100_000)),),
    )
    sos = schemas.EventV1(
        device_id="wb-1", seq=11, occurred_at=T0, event=schemas.Sos(press_duration_s=3.5)
    )
    older = schemas.GatewayStatusV1(gateway_id="gw-1", state="offline", reported_at=T0)
    newer = schemas.GatewayStatusV1(
        gateway_id="gw-1", state="online", reported_at=T0 + dt.timedelta(minutes=1)
    )
    with store.transaction() as tx:
        new = tx.add_messages([received(ecg), received(sos), received(newer), received(older)])
    assert len(new) == 4
    assert store.count_messages() == 2
    assert store.count_readings() == 1  # the ECG strip


def test_dead_letters_keep_reason_and_bounded_payload(store: Store) -> None:
    big = b"x" * (DEAD_LETTER_MAX_BYTES + 10)
    letter = DeadLetter.of(
        received_at=T0,
        topic="vigil/v1/telemetry/wb-1",
        reason="invalid_json",
        detail="truncated",
        payload=big,
    )
    with store.transaction() as tx:
        tx.add_dead_letters([letter])
    assert store.count_dead_letters() == 1
    (stored,) = store.dead_letters()
    assert stored.reason == "invalid_json"
    assert stored.payload_size == len(big)
    assert len(stored.payload) == DEAD_LETTER_MAX_BYTES


def _alert(alert_id: str, level: AlertLevel) -> Alert:
    return Alert(
        alert_id=alert_id,
        device_id="wb-1",
        level=level,
        raised_at=T0,
        source="news2",
        summary="NEWS2 7: high clinical risk",
        score=7,
        partial=True,
        missing=("temperature",),
        drivers=(Driver("pulse:high", 3), Driver("respiration_rate:high", 2)),
    )


def test_alerts_are_idempotent_and_leave_an_outbox(store: Store) -> None:
    a, b = (
        _alert("wb-1:0:1:news2:orange", AlertLevel.ORANGE),
        _alert("wb-1:0:2:news2:red", AlertLevel.RED),
    )
    with store.transaction() as tx:
        assert tx.add_alerts([a, b]) == [a, b]
    with store.transaction() as tx:
        assert tx.add_alerts([a]) == []
    assert [x.alert_id for x in store.alerts()] == [a.alert_id, b.alert_id]
    assert store.alerts("wb-1")[1].missing == ("temperature",)
    assert store.alerts("wb-1") == [a, b]  # every field, the drivers too
    assert store.alert_counts() == {AlertLevel.YELLOW: 0, AlertLevel.ORANGE: 1, AlertLevel.RED: 1}
    assert [x.alert_id for x in store.unnotified_alerts()] == [a.alert_id, b.alert_id]
    store.mark_notified([a.alert_id], T0)
    assert [x.alert_id for x in store.unnotified_alerts()] == [b.alert_id]


def test_alerts_wait_for_the_ladders_until_marked_taken(store: Store) -> None:
    alerts = [_alert(f"wb-1:0:{n}:news2:orange", AlertLevel.ORANGE) for n in range(1, 4)]
    with store.transaction() as tx:
        tx.add_alerts(alerts)
    assert store.unladdered_alerts() == alerts  # in the order stored
    assert store.unladdered_alerts(limit=2) == alerts[:2]
    store.mark_laddered([alerts[0].alert_id, alerts[2].alert_id], T0)
    assert store.unladdered_alerts() == [alerts[1]]
    # Taken in by the ladders and delivered to the notifiers are separate outboxes.
    assert len(store.unnotified_alerts()) == 3


def test_scores_round_trip(store: Store) -> None:
    score = news2(Vitals(pulse_bpm=120, spo2_pct=93))
    record = ScoreRecord(device_id="wb-1", evaluated_at=T0, news2=score)
    with store.transaction() as tx:
        tx.add_scores([record])
    (back,) = store.scores("wb-1")
    assert back.news2 == score
    assert back.evaluated_at == T0


def test_a_score_stored_again_is_kept_once(store: Store) -> None:
    """A restarted Kafka worker may compute a score again; the sink stores it once."""
    first = ScoreRecord(device_id="wb-1", evaluated_at=T0, news2=news2(Vitals(pulse_bpm=120)))
    later = ScoreRecord(
        device_id="wb-1", evaluated_at=T0 + dt.timedelta(minutes=1), news2=news2(Vitals())
    )
    with store.transaction() as tx:
        tx.add_scores([first])
    with store.transaction() as tx:
        tx.add_scores([first, later])
        tx.add_scores([later])
    assert [s.evaluated_at for s in store.scores("wb-1")] == [T0, later.evaluated_at]


def test_index_values_and_shared_reminders_round_trip(store: Store) -> None:
    judged = IndexRecord(
        device_id="wb-1",
        evaluated_at=T0,
        name="mental_stress",
        value=91.5,
        inputs={
            "ln_stress_index": {"value": 5.1, "baseline": 4.2, "deviation_sd": 2.25},
            "ln_lf_hf": {"value": None, "baseline": None, "deviation_sd": None},
        },
        missing=("ln_lf_hf",),
    )
    unjudged = IndexRecord(
        device_id="wb-1",
        evaluated_at=T0 - dt.timedelta(minutes=5),
        name="mental_stress",
        value=None,
        inputs={},
        missing=("ln_stress_index", "ln_lf_hf"),
    )
    other = msgspec.structs.replace(judged, device_id="wb-2")
    reminder = msgspec.structs.replace(
        _alert("wb-1:0:3:stress:yellow", AlertLevel.YELLOW), share_with_contacts=True
    )
    with store.transaction() as tx:
        tx.add_indices([judged, unjudged, other])
        tx.add_alerts([reminder])
    assert store.indices("wb-1") == [unjudged, judged]
    assert store.indices("wb-3") == []
    (back,) = store.alerts("wb-1")
    assert back.share_with_contacts is True
    assert back == reminder


@pytest.mark.postgres
def test_postgres_partitions_by_month_and_rescues_default_rows(postgres_dsn: str) -> None:
    import psycopg

    from storage.postgres import PostgresStore

    store = PostgresStore(postgres_dsn)
    store.migrate()
    far = dt.datetime(2031, 3, 15, tzinfo=dt.UTC)  # a device clock years ahead
    with store.transaction() as tx:
        tx.add_messages([received(vitals_batch(1, at=far))])
    with psycopg.connect(postgres_dsn) as conn:
        in_default = conn.execute("SELECT count(*) FROM readings_default").fetchone()
    assert in_default == (5,)
    assert store.ensure_partitions(far, months_back=0, months_ahead=0) == ["readings_y2031m03"]
    with psycopg.connect(postgres_dsn) as conn:
        moved = conn.execute("SELECT count(*) FROM readings_y2031m03").fetchone()
        left = conn.execute("SELECT count(*) FROM readings_default").fetchone()
    assert (moved, left) == ((5,), (0,))
    assert store.count_readings() == 5
    store.close()


def every_sample_type() -> schemas.TelemetryBatchV1:
    """One batch holding each non-ECG sample type once."""
    at = T0
    return schemas.TelemetryBatchV1(
        device_id="wb-1",
        boot_id=3,
        seq=1,
        sent_at=at,
        samples=(
            schemas.HeartRate(
                measured_at=at, heart_rate_bpm=61.5, rr_ms=(980.25, 1001.0), sensor_contact=True
            ),
            schemas.SpO2(measured_at=at, spo2_pct=96.5),
            schemas.BloodPressure(measured_at=at, systolic_mmhg=121, diastolic_mmhg=79),
            schemas.Temperature(measured_at=at, temp_c=36.65, site="estimated_core"),
            schemas.Respiration(measured_at=at, respiration_rate_per_min=14.5),
            schemas.Steps(measured_at=at, steps=100, interval_s=60),
            schemas.SleepStage(measured_at=at, stage="rem", duration_s=300),
            schemas.GpsFix(measured_at=at, lat_deg=51.500729, lon_deg=-0.124625, accuracy_m=7.5),
            schemas.Battery(measured_at=at, battery_pct=80),
            schemas.WearState(measured_at=at, on_wrist=False),
        ),
    )


@pytest.mark.postgres
def test_postgres_copy_text_stores_every_sample_type_exactly(postgres_dsn: str) -> None:
    import psycopg

    from storage.postgres import PostgresStore
    from storage.records import READING_COLUMNS, reading_rows

    batch = every_sample_type()
    store = PostgresStore(postgres_dsn)
    store.migrate()
    with store.transaction() as tx:
        tx.add_messages([received(batch)])
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute(
            f"SELECT {','.join(READING_COLUMNS)} FROM readings ORDER BY sample_index"
        ).fetchall()
    store.close()
    expected = list(reading_rows(batch, T0.astimezone(dt.UTC)))
    assert len(rows) == len(expected) == 10
    for got, want in zip(rows, expected, strict=True):
        for column, g, w in zip(READING_COLUMNS, got, want, strict=True):
            if isinstance(w, tuple):
                assert list(g) == pytest.approx(list(w)), column
            elif isinstance(w, float):
                assert g == pytest.approx(w, rel=1e-6), column  # real columns: float4
            else:
                assert g == w, column


def test_sqlite_per_type_inserts_store_every_sample_type_exactly(tmp_path: Path) -> None:
    """SQLite names only the columns each sample type fills; every value still lands."""
    import json
    import sqlite3

    from storage.records import READING_COLUMNS, reading_rows
    from storage.sqlite import SqliteStore

    batch = every_sample_type()
    store = SqliteStore(tmp_path / "vigil.db")
    store.migrate()
    with store.transaction() as tx:
        tx.add_messages([received(batch)])
    store.close()
    with sqlite3.connect(tmp_path / "vigil.db") as conn:
        rows = conn.execute(
            f"SELECT {','.join(READING_COLUMNS)} FROM readings ORDER BY sample_index"
        ).fetchall()
    expected = list(reading_rows(batch, T0.astimezone(dt.UTC)))
    assert len(rows) == len(expected) == 10
    for got, want in zip(rows, expected, strict=True):
        for column, g, w in zip(READING_COLUMNS, got, want, strict=True):
            if isinstance(w, dt.datetime):
                assert dt.datetime.fromisoformat(g) == w, column
            elif isinstance(w, tuple):
                assert json.loads(g) == list(w), column
            else:
                assert g == w, column


def test_last_heard_gives_each_bands_newest_message_and_risk(store: Store) -> None:
    minute = dt.timedelta(minutes=1)
    via_gw2 = msgspec.structs.replace(vitals_batch(3), gateway_id="gw-2")
    with store.transaction() as tx:
        tx.add_messages(
            [
                received(vitals_batch(1), T0),
                received(via_gw2, T0 + 5 * minute),
                received(vitals_batch(2), T0 + 2 * minute),  # arrived before seq 3
                received(vitals_batch(1, device_id="wb-2"), T0 + minute),
                received(vitals_batch(1, device_id="wb-old"), T0 - 60 * minute),
            ]
        )
        tx.add_scores(
            [
                ScoreRecord(device_id="wb-1", evaluated_at=T0, news2=news2(Vitals())),
                ScoreRecord(
                    device_id="wb-1",
                    evaluated_at=T0 + minute,
                    news2=news2(Vitals(pulse_bpm=135, spo2_pct=89, respiration_rate_per_min=27)),
                ),
            ]
        )
    heard = store.last_heard(T0 - 10 * minute)
    assert [(h.device_id, h.gateway_id, h.risk) for h in heard] == [
        ("wb-1", "gw-2", "high"),
        ("wb-2", None, None),
    ]
    assert heard[0].received_at == T0 + 5 * minute


def test_wearer_profiles_are_read_back_by_revision(store: Store) -> None:
    first = store.put_wearer("wb-1", b'{"at_risk": true}')
    second = store.put_wearer("wb-2", b'{"tz": "Europe/Paris"}')
    assert second > first
    everything = store.wearers_since(0)
    assert [(w.device_id, w.revision) for w in everything] == [("wb-1", first), ("wb-2", second)]
    third = store.put_wearer("wb-1", b'{"at_risk": false}')
    changed = store.wearers_since(second)
    assert [(w.device_id, w.revision) for w in changed] == [("wb-1", third)]
    assert msgspec.json.decode(changed[0].profile) == {"at_risk": False}
    assert [w.device_id for w in store.wearers_since(0)] == ["wb-2", "wb-1"]  # one each
    assert store.wearers_since(third) == []


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_stores_started_together_migrate_once_without_failing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """Two workers starting at once on a fresh database: one applies, neither fails."""
    from concurrent.futures import ThreadPoolExecutor

    def open_one() -> Store:
        if backend == "sqlite":
            from storage.sqlite import SqliteStore

            return SqliteStore(tmp_path / "vigil.db")
        from storage.postgres import PostgresStore

        return PostgresStore(request.getfixturevalue("postgres_dsn"))

    stores = [open_one() for _ in range(4)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            applied = list(pool.map(lambda s: s.migrate(), stores))
        assert sorted(len(a) for a in applied)[:-1] == [0] * (len(stores) - 1)
        assert max(len(a) for a in applied) == len(migrator.load(backend))
        assert all(s.migrate() == [] for s in stores)
    finally:
        for s in stores:
            s.close()
