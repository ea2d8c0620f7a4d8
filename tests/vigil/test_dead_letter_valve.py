"""The dead-letter valve (issue 10): a band flooding garbage leaves a bounded number of
dead-letter rows and one summary of the rest, counted in ``/metrics``, while its own and
other bands' good batches are all stored and ``vigil run`` keeps going.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

import schemas
from schemas.records import DeadLetter
from schemas.topics import telemetry_topic
from storage import open_store
from tests.factories import vitals_batch
from tests.vigil.service_process import VigilRun, wait_for
from tests.vigil.test_metrics import publish, scrape
from vigil.dead_letter_valve import DeadLetterValve, ValveLimits
from vigil.embedded_broker import free_port
from vigil.local_servers import MosquittoProcess

NOW = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def garbage(topic: str, reason: str = "invalid_json") -> DeadLetter:
    return DeadLetter.of(received_at=NOW, topic=topic, reason=reason, detail="", payload=b"{")


def test_a_topic_leaves_its_burst_then_its_rate_and_the_rest_is_summed_up() -> None:
    clock = [0.0]
    valve = DeadLetterValve(
        ValveLimits(per_minute=6, burst=3, summary_every_s=60), clock=lambda: clock[0]
    )
    kept, held = valve.admit([garbage("a")] * 10 + [garbage("b")], NOW)
    assert [x.topic for x in kept] == ["a", "a", "a", "b"]  # b has its own bucket
    assert held == 7
    clock[0] = 10.0  # one token back (6 a minute)
    kept, held = valve.admit([garbage("a"), garbage("a", "schema")], NOW)
    assert len(kept) == 1
    assert held == 1
    clock[0] = 61.0  # the first held letter was a minute ago: its summary is due
    kept, held = valve.admit([], NOW)
    assert held == 0
    (summary,) = kept
    assert (summary.topic, summary.reason, summary.payload) == ("a", "flood", b"")
    assert summary.detail.startswith("8 more dead letters")
    assert "invalid_json 7" in summary.detail
    assert "schema 1" in summary.detail
    assert valve.admit([], NOW) == ([], 0)  # summed up once


def test_made_up_topics_share_one_cap_and_one_summary_past_the_topic_limit() -> None:
    clock = [0.0]
    valve = DeadLetterValve(ValveLimits(per_minute=60, burst=1), clock=lambda: clock[0])
    kept, held = valve.admit([garbage(f"t/{i}") for i in range(5000)], NOW)
    assert len(kept) == 10  # all topics together: ten times one topic's burst
    assert held == 4990
    clock[0] = 120.0
    summaries, _ = valve.admit([], NOW)
    assert len(summaries) == 1001  # 1000 topics one by one, the rest together
    other = next(s for s in summaries if s.topic == "(other topics)")
    assert other.detail.startswith("3990 more")


def test_no_cap_when_the_rate_is_zero() -> None:
    valve = DeadLetterValve(ValveLimits(per_minute=0, burst=1))
    assert valve.admit([garbage("a")] * 50, NOW)[1] == 0


@pytest.mark.mosquitto
def test_a_band_flooding_garbage_is_capped_and_good_batches_are_all_stored(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    metrics_port = free_port()
    db = tmp_path / "vigil.db"
    runner = VigilRun(
        {
            "VIGIL_MQTT_PORT": str(mosquitto.port),
            "VIGIL_MQTT_USERNAME": "vigil-ingest",
            "VIGIL_MQTT_PASSWORD": "a-broker-password",
            "VIGIL_MQTT_CLIENT_ID": f"vigil-test-{uuid.uuid4().hex[:8]}",
            "VIGIL_DATABASE_URL": f"sqlite:///{db}",
            "VIGIL_METRICS_PORT": str(metrics_port),
            "VIGIL_DEAD_LETTERS_BURST": "20",
        }
    )
    runner.start()
    try:
        now = dt.datetime.now(dt.UTC)
        flood = [(telemetry_topic("wb-0666"), b"{not json %d" % i) for i in range(500)]
        good = [
            (telemetry_topic(device), schemas.encode(vitals_batch(seq, device_id=device, at=now)))
            for device in ("wb-0001", "wb-0666")
            for seq in (1, 2, 3)
        ]
        publish(mosquitto.port, [*flood[:250], *good, *flood[250:]])
        wait_for(
            lambda: scrape(metrics_port)[("vigil_ingest_messages_received_total", ())] == 506,
            30,
            "every message taken in",
        )
        seen = scrape(metrics_port)
        assert runner.alive()
    finally:
        assert runner.terminate() == 0, "".join(runner.log[-20:])
    assert seen[("vigil_ingest_messages_stored_total", ())] == 6
    assert seen[("vigil_dead_letters_not_kept_total", ())] == 480
    assert seen[("vigil_dead_letters_total", (("reason", "invalid_json"),))] == 20
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.count_dead_letters() == 20  # the summary comes a minute later
        assert store.count_messages() == 6
    finally:
        store.close()
