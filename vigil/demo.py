"""``vigil demo``: broker, simulator, pipeline and SQLite in one process, no servers.

An in-process amqtt broker on a free loopback port, a simulated fleet (one wearer
deteriorating, the rest healthy), the full ingest pipeline into SQLite, a live
summary, and a final check of each scenario's expected outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
from rich.console import Console
from rich.live import Live
from rich.table import Table

from alerting.console import ConsoleNotifier
from alerting.driver import LadderNotifier, run_deadlines
from alerting.reminders import Reminder, run_reminders
from device_sim.faults import Faults
from device_sim.publisher import FleetPlan, MqttPublisher, PublishStats, run_fleet
from device_sim.scenario import Expect, Scenario, load_scenario
from device_sim.wristband import DEFAULT_HOME
from ingest.mqtt.source import MqttSettings, MqttSource
from schemas import Alert, AlertLevel
from schemas.topics import INGEST_FILTERS
from scoring.geofence import Circle
from storage import Store
from storage.sqlite import SqliteStore
from stream_processors.device import WELLBEING_SOURCES, WearerProfile
from stream_processors.geofence import Fence
from vigil import demo_ladder
from vigil.embedded_broker import embedded_broker
from vigil.local_servers import MosquittoProcess
from vigil.pipeline import Pipeline, alert_counts_json
from vigil.profiles import encode_profile
from vigil.settings import Settings
from vigil.shard_work import shard_work_for
from vigil.shards import LocalShard

DRAIN_TIMEOUT_S = 20.0


class DemoOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What ``vigil demo`` was asked for."""

    seconds: float = 30.0
    devices: int = 5
    rate_hz: float = 1.0
    speed: float | None = None  # default: play the longest scenario within ``seconds``
    seed: int = 1
    json: bool = False
    db_path: Path | None = None
    scenario: str | None = None  # one wearer of this scenario alone (``vigil sim verify``)
    faults: tuple[str, ...] = ()  # ``device_sim/faults.py`` names, applied to every wearer


def _table(pipeline: Pipeline, published: PublishStats) -> Table:
    s = pipeline.stats
    table = Table(title="Vigil demo", show_header=True)
    for col in (
        "published",
        "stored",
        "samples",
        "duplicates",
        "dead letters",
        "yellow",
        "orange",
        "red",
    ):
        table.add_column(col, justify="right")
    table.add_row(
        str(published.batches),
        str(s.stored),
        str(s.samples),
        str(s.duplicates),
        str(s.dead_letters),
        str(s.alerts["yellow"]),
        str(s.alerts["orange"]),
        str(s.alerts["red"]),
    )
    return table


async def _drain(pipeline: Pipeline, published: int) -> None:
    """Wait until everything published was handled (or the drain timeout passes)."""
    s = pipeline.stats
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while s.stored + s.duplicates + s.dead_letters < published:  # noqa: ASYNC110
                await asyncio.sleep(0.1)


def wearer_profile(scenario: Scenario, reminders: tuple[Reminder, ...] = ()) -> WearerProfile:
    """The profile a carer would set up for the scenario's wearer: its fences, at home."""
    lat, lon = DEFAULT_HOME
    return WearerProfile(
        reminders=reminders,
        at_risk=scenario.wearer.at_risk,
        fences=tuple(
            Fence(
                fence_id=f.fence_id,
                name=f.name,
                shape=Circle(lat_deg=lat, lon_deg=lon, radius_m=f.radius_m),
                rule=f.rule,
                dwell_s=f.dwell_s,
                margin_m=f.margin_m,
            )
            for f in scenario.fences
        ),
    )


def _alert_problems(
    alerts: list[Alert], expect: Expect, started_at: dt.datetime | None
) -> list[str]:
    """What the alerts lack of ``expect.alerts``, and what they hold of ``expect.never``."""
    problems = []
    for wanted in expect.alerts:
        level = AlertLevel[wanted.level.upper()]
        found = [a for a in alerts if a.source == wanted.source and a.level >= level]
        if wanted.mentions is not None:
            found = [a for a in found if wanted.mentions in a.summary]
        if not found:
            about = f" mentioning {wanted.mentions!r}" if wanted.mentions is not None else ""
            problems.append(
                f"expected a {wanted.level} {wanted.source} alert{about}, none was raised"
            )
            continue
        if wanted.within_s is not None and started_at is not None:
            first_s = min((a.raised_at - started_at).total_seconds() for a in found)
            if first_s > wanted.within_s:
                problems.append(
                    f"expected a {wanted.level} {wanted.source} alert within "
                    f"{wanted.within_s:.0f} s, the first came after {first_s:.0f} s"
                )
    for source in expect.never:
        raised = sorted({a.level.label for a in alerts if a.source == source})
        if raised:
            problems.append(f"expected no {source} alert, got {', '.join(raised)}")
    return problems


def check_expectations(
    store: Store,
    scenarios: dict[str, Scenario],
    started_at: dt.datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Each device's alerts against its scenario's ``expect``.

    ``started_at``: the device time the scenarios started at (``within_s`` counts from it).
    """
    results: dict[str, dict[str, Any]] = {}
    for device_id, scenario in scenarios.items():
        alerts = [a for a in store.alerts(device_id) if a.change in {"raised", "amended"}]
        highest = max((a.level for a in alerts), default=AlertLevel.NONE)
        reminders = sorted({a.source for a in alerts if a.source in WELLBEING_SOURCES})
        expect = scenario.expect
        problems = [
            f"expected a {wanted} reminder, none was raised"
            for wanted in expect.index_warnings
            if wanted not in reminders
        ]
        if expect.min_level and highest < AlertLevel[expect.min_level.upper()]:
            problems.append(f"expected at least {expect.min_level}, highest was {highest.label}")
        if expect.max_level and highest > AlertLevel[expect.max_level.upper()]:
            problems.append(f"expected at most {expect.max_level}, got {highest.label}")
        problems += _alert_problems(alerts, expect, started_at)
        results[device_id] = {
            "scenario": scenario.name,
            "highest_level": highest.label,
            "alert_sources": sorted({a.source for a in alerts}),
            "index_warnings": reminders,
            "index_values": len(store.indices(device_id)),
            "ok": not problems,
            "problems": problems,
        }
    return results


@contextlib.contextmanager
def _database(path: Path | None) -> Iterator[Path]:
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="vigil-demo-") as tmp:
        yield Path(tmp) / "vigil.db"


def one_scenario_plan(options: DemoOptions, name: str, lateness_s: float) -> FleetPlan:
    """One wearer playing scenario ``name`` from start to end within ``seconds``."""
    scenario = load_scenario(name)
    longest = max(
        [k.at_s for k in scenario.keyframes] + [e.at_s + 60 for e in scenario.events] + [60.0]
    )
    rate_hz = options.rate_hz
    if options.faults and options.speed is None and lateness_s > 0:
        # Batches of at most half the lateness bound, so that a reordered one is re-scored
        # in order rather than dropped as too late (as a band's real batches would be).
        rate_hz = max(rate_hz, longest / options.seconds / (lateness_s / 2))
    return FleetPlan(
        devices=1,
        rate_hz=rate_hz,
        seconds=options.seconds,
        speed=options.speed or max(1.0, longest / options.seconds),
        seed=options.seed,
        scenarios={"wb-0001": scenario},
    )


def _fleet_plan(options: DemoOptions, lateness_s: float) -> FleetPlan:
    """One wearer deteriorating, one wandering, one stressed, the rest healthy.

    ``lateness_s``: the processors' bound (``VIGIL_LATENESS_S``), for fault runs' batches.
    """
    if options.scenario is not None:
        return one_scenario_plan(options, options.scenario, lateness_s)
    deteriorating, healthy = load_scenario("deteriorating"), load_scenario("healthy")
    wandering, stressed = load_scenario("wandering"), load_scenario("stressed")
    longest = max(k.at_s for k in deteriorating.keyframes)
    scenarios = {"wb-0001": deteriorating}
    if options.devices >= 2:
        scenarios["wb-0002"] = wandering
    if options.devices >= 3:
        scenarios["wb-0003"] = stressed
    scenarios.update({f"wb-{i:04d}": healthy for i in range(4, options.devices + 1)})
    return FleetPlan(
        devices=options.devices,
        rate_hz=options.rate_hz,
        seconds=options.seconds,
        speed=options.speed or max(1.0, longest / options.seconds),
        seed=options.seed,
        scenarios=scenarios,
        default=healthy,
    )


RECONNECT_WALL_S = 2.0  # how long the bands' publisher may take to reconnect to a broker


@contextlib.asynccontextmanager
async def _run_broker(restartable: bool) -> AsyncIterator[tuple[int, MosquittoProcess | None]]:
    """The run's broker: amqtt in this process, or a private Mosquitto to be restarted.

    amqtt keeps sessions in memory, so a restart would lose the backend's subscription and
    what was queued for it; Mosquitto with persistence keeps both, as a deployment's does.
    """
    if not restartable:
        async with embedded_broker() as port:
            yield port, None
        return
    with tempfile.TemporaryDirectory(prefix="vigil-broker-") as tmp:
        mosquitto = MosquittoProcess(Path(tmp))  # FileNotFoundError when not installed
        await asyncio.to_thread(mosquitto.start)
        try:
            yield mosquitto.port, mosquitto
        finally:
            await asyncio.to_thread(mosquitto.stop)


async def _restart_broker(mosquitto: MosquittoProcess, plan: FleetPlan, faults: Faults) -> int:
    """Stop the broker at ``faults.broker_restart_at`` of the run, start it again; restarts."""
    if faults.broker_restart_at is None:
        return 0
    await asyncio.sleep(plan.seconds * faults.broker_restart_at)
    await asyncio.to_thread(mosquitto.stop)
    await asyncio.sleep(0.5)  # down long enough for both ends to lose their connections
    await asyncio.to_thread(mosquitto.start)
    return 1


async def _judged_when_caught_up(
    pipeline: Pipeline,
    source: MqttSource,
    settings: Settings,
    *,
    wanted: bool,
    timeout_s: float = 15.0,
) -> None:
    """Wait until the backend has caught up since its last (re)connection, then two ticks.

    So a band's silence is judged, as in a service that runs on: after a broker restart,
    silence is not blamed on the bands until the catch-up is over.
    """
    if not wanted:
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    # Polled: the source's connection state has no event to wait on.
    while not pipeline.backend_ok(source) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(2 * settings.silence_tick_s + 0.2)  # its loop ticks at most each 0.2 s


def receive_clock_compressed(settings: Settings, speed: float) -> Settings:
    """Settings for a run whose device time passes ``speed`` times faster than the wall.

    Silence is judged on the receive clock (``stream_processors/silence.py``): for a run of
    seconds to show what minutes of a band's silence would do, the allowances before
    "signal lost", the tick that checks them and the catch-up after connecting are
    divided by ``speed``, as the scenario's device time is multiplied by it; the catch-up
    no shorter than ``RECONNECT_WALL_S``.
    """
    if speed <= 1:
        return settings
    return settings.model_copy(
        update={
            "signal_lost_after_s": {
                risk: allowed / speed for risk, allowed in settings.signal_lost_after_s.items()
            },
            "silence_tick_s": max(0.05, settings.silence_tick_s / speed),
            # Clients reconnect after a broker restart in wall time (paho's first retry
            # after a second), which no compression shortens.
            "catch_up_s": max(settings.catch_up_s / speed, RECONNECT_WALL_S),
        }
    )


def _dead_letters_accounted(dead_letters: int, malformed: int, *, restarts: int) -> bool:
    """Whether the dead letters are the malformed payloads sent.

    Exactly those; across a broker restart each may come once more: one in flight when the
    broker stopped is sent again (QoS 1), and garbage has no identity to de-duplicate by.
    """
    if restarts == 0:
        return dead_letters == malformed
    return malformed <= dead_letters <= malformed * (1 + restarts)


def _demo_profiles(scenarios: dict[str, Scenario]) -> dict[str, WearerProfile]:
    """Each wearer's profile; the healthy ones have a medication reminder due now."""
    # Due this minute (UTC, their zone): the scheduler's first round delivers it, as after
    # a restart shortly after it fell due.
    this_minute = dt.datetime.now(dt.UTC).strftime("%H:%M")
    pill = (Reminder(kind="medication", at=(this_minute,), note="the blue tablet"),)
    return {
        device: wearer_profile(s, pill if s.name == "healthy" else ())
        for device, s in scenarios.items()
    }


def _demo_store(db_path: Path, profiles: dict[str, WearerProfile]) -> SqliteStore:
    """The run's database, with the carers' set-up in it (as ``vigil wearer set`` puts it)."""
    store = SqliteStore(db_path)
    store.migrate()
    for device, profile in profiles.items():
        store.put_wearer(device, encode_profile(profile))
    return store


def _summary(
    options: DemoOptions,
    speed: float,
    published: PublishStats,
    store: SqliteStore,
    expectations: dict[str, dict[str, Any]],
    *,
    broker_restarts: int,
    ladders: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "seconds": options.seconds,
        "devices": options.devices,
        "speed": round(speed, 2),
        "published_batches": published.batches,
        "distinct_messages": published.faults.distinct,
        "copies_sent": published.faults.copies,
        "malformed_sent": published.faults.malformed,
        "broker_restarts": broker_restarts,
        "publish_failures": published.failed,
        "messages_stored": store.count_messages(),
        "readings_stored": store.count_readings(),
        "dead_letters": store.count_dead_letters(),
        "alerts": alert_counts_json(store.alert_counts()),
        "expectations_met": all(r["ok"] for r in expectations.values()),
        "expectations": expectations,
        "ladders": ladders,
    }


async def run_demo(options: DemoOptions, settings: Settings) -> dict[str, Any]:
    """Run the demo and return its summary (``ok`` is False if an expectation failed).

    With ``options.scenario`` (``vigil sim verify``) the receive clock is compressed as
    the scenario's device time is (``receive_clock_compressed``), and the run lasts the
    scenario's whole span, so that a band falling silent is judged within it.
    """
    plan = _fleet_plan(options, settings.lateness_s)
    scenarios, speed = dict(plan.scenarios), plan.speed
    if options.scenario is not None:
        settings = receive_clock_compressed(settings, speed)
    # The demo accounts for each malformed payload it sends as one dead letter, and its
    # faults send garbage faster than a band's dead-letter allowance: no cap here.
    settings = settings.model_copy(update={"dead_letters_per_minute": 0.0})
    profiles = _demo_profiles(scenarios)
    console = Console(stderr=options.json)
    out = sys.stderr if options.json else sys.stdout
    notifier = ConsoleNotifier(out)

    with _database(options.db_path) as db_path:
        store = _demo_store(db_path, profiles)
        ladders, driver = demo_ladder.demo_driver(db_path, list(scenarios), out)
        await driver.start()
        work = shard_work_for(settings, store, owns=lambda _device_id: True)
        pipeline = Pipeline(
            store,
            [LocalShard(work)],
            [notifier, LadderNotifier(driver)],
            tick_every_s=settings.silence_tick_s,
            catch_up_s=settings.catch_up_s,
        )
        await pipeline.start()
        faults = Faults.named(options.faults)
        async with _run_broker(faults.broker_restart_at is not None) as (port, mosquitto):
            mqtt = MqttSettings(port=port, protocol="3.1.1", client_id="vigil-demo-ingest")
            async with MqttSource(mqtt, INGEST_FILTERS) as source:
                stop = asyncio.Event()
                publisher = MqttPublisher("127.0.0.1", port, protocol="3.1.1")
                await asyncio.to_thread(publisher.connect)
                published = PublishStats()
                with Live(
                    _table(pipeline, published),
                    console=console,
                    refresh_per_second=4,
                    transient=False,
                ) as live:

                    def on_tick(stats: PublishStats) -> None:
                        live.update(_table(pipeline, stats))

                    stop_ladders = asyncio.Event()
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(pipeline.run(source, stop), name="demo-pipeline")
                        tg.create_task(run_deadlines(driver, stop_ladders, every_s=0.5))
                        schedules = [(d, p.reminders, p.tz) for d, p in profiles.items()]
                        tg.create_task(
                            run_reminders(driver, lambda: schedules, stop_ladders, every_s=1.0)
                        )
                        restart = (
                            tg.create_task(_restart_broker(mosquitto, plan, faults))
                            if mosquitto is not None
                            else None
                        )
                        published = await run_fleet(
                            plan,
                            publisher,
                            on_tick=on_tick,
                            faults=faults,
                            full_span=options.scenario is not None,
                        )
                        await _drain(pipeline, published.batches)
                        await _judged_when_caught_up(
                            pipeline, source, settings, wanted=options.scenario is not None
                        )
                        stop.set()
                        # The ladders opened late in the run climb on to their ends.
                        await demo_ladder.settle(driver, ladders, demo_ladder.SETTLE_TIMEOUT_S)
                        stop_ladders.set()
                    live.update(_table(pipeline, published))
                console.print()
                await asyncio.to_thread(publisher.close)

        summary = _summary(
            options,
            speed,
            published,
            store,
            check_expectations(store, scenarios, published.started_at),
            broker_restarts=restart.result() if restart is not None else 0,
            ladders=demo_ladder.ladder_summary(ladders, list(scenarios)),
        )
        ladders.close()
        store.close()
    summary["ok"] = bool(
        summary["expectations_met"]
        and summary["messages_stored"] == published.faults.distinct
        and _dead_letters_accounted(
            summary["dead_letters"], published.faults.malformed, restarts=summary["broker_restarts"]
        )
    )
    _print_final(console, summary)
    return summary


def _print_final(console: Console, summary: dict[str, Any]) -> None:
    table = Table(title="Final summary")
    table.add_column("device")
    table.add_column("scenario")
    table.add_column("highest alert")
    table.add_column("wellbeing reminders")
    table.add_column("expected outcome")
    for device, r in summary["expectations"].items():
        table.add_row(
            device,
            r["scenario"],
            r["highest_level"],
            ", ".join(r["index_warnings"]) or "-",
            "met" if r["ok"] else "; ".join(r["problems"]),
        )
    console.print(table)
    ladders = Table(title="Alert ladders")
    for column in ("device", "cause", "level", "ended", "steps"):
        ladders.add_column(column)
    for ladder in summary["ladders"]:
        ladders.add_row(
            ladder["device"],
            ladder["cause"],
            ladder["level"],
            ladder["phase"],
            " > ".join(step.split(" (")[0] for step in ladder["timeline"]),
        )
    console.print(ladders)
    console.print(
        f"stored {summary['messages_stored']}/{summary['published_batches']} batches, "
        f"{summary['readings_stored']} readings, {summary['dead_letters']} dead letters, "
        f"alerts {summary['alerts']}"
    )
