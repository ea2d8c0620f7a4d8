"""Publish a simulated fleet to an MQTT broker at a given rate (``vigil sim``).

Each device sends ``rate_hz`` batches per wall-clock second; each batch covers
``speed / rate_hz`` seconds of device time, so ``speed=60`` plays an hour in a minute.
Device time starts ``seconds * speed`` in the past, so a run ends near the present.
A band whose scenario has recorded history uploads it first, in batches of at most
``BACKLOG_BATCH_S`` of device time (what a band stores per record), before its live
batches.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import threading
from collections.abc import Callable, Iterator

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from device_sim.faults import Faults, FaultStats, topic_of, with_faults
from device_sim.scenario import Scenario
from device_sim.wristband import SimulatedWristband
from schemas import EventV1, TelemetryBatchV1, encode

log = logging.getLogger(__name__)
BACKLOG_BATCH_S = 60.0


class FleetPlan(msgspec.Struct, frozen=True, kw_only=True):
    """Who is simulated, how fast, and for how long."""

    devices: int = 5
    rate_hz: float = 1.0
    seconds: float = 30.0
    speed: float = 60.0
    seed: int = 1
    scenarios: dict[str, Scenario] = msgspec.field(default_factory=dict)  # device id -> scenario
    default: Scenario | None = None
    id_prefix: str = "wb"
    first_device: int = 1  # ids from ``{id_prefix}-{first_device:04d}`` (a load part's share)


class PublishStats(msgspec.Struct, kw_only=True):
    """What the simulator sent."""

    batches: int = 0  # messages sent: telemetry batches and events, copies, malformed ones
    samples: int = 0
    failed: int = 0
    started_at: dt.datetime | None = None  # device time of the scenarios' start
    faults: FaultStats = msgspec.field(default_factory=FaultStats)  # distinct, copies, malformed


def build_fleet(plan: FleetPlan, start: dt.datetime) -> list[SimulatedWristband]:
    """The plan's wristbands, ids ``{prefix}-{first_device:04d}`` upward."""
    bands = []
    for i in range(plan.first_device, plan.first_device + plan.devices):
        device_id = f"{plan.id_prefix}-{i:04d}"
        scenario = plan.scenarios.get(device_id, plan.default)
        if scenario is None:
            raise ValueError(f"no scenario for {device_id}")
        bands.append(SimulatedWristband(device_id, scenario, start, seed=plan.seed))
    return bands


MAX_OUTSTANDING = 20_000  # unacknowledged messages per publisher, well under 65,535 ids


def _unacknowledged(infos: list[paho.MQTTMessageInfo], timeout_s: float) -> int:
    """Wait for each message's acknowledgement; how many never came (or were refused)."""
    failed = 0
    for info in infos:
        try:
            info.wait_for_publish(timeout=timeout_s)
        except (RuntimeError, ValueError):
            failed += 1
            continue
        failed += 0 if info.is_published() else 1
    return failed


class MqttPublisher:
    """A paho client publishing QoS 1, with its network loop in a thread."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        client_id: str = "vigil-sim",
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
        protocol: str = "5",
    ) -> None:
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls_ca is not None:
            self._client.tls_set(ca_certs=tls_ca)  # and the broker's name is checked
        self._client.max_inflight_messages_set(200)
        self._client.max_queued_messages_set(0)
        self._host, self._port = host, port
        self._pending: list[paho.MQTTMessageInfo] = []
        self._failed = 0
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Connect and start the network thread."""
        self._client.connect(self._host, self._port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue one message."""
        info = self._client.publish(topic, payload, qos=qos)
        with self._lock:
            self._pending.append(info)

    def outstanding(self) -> int:
        """Messages queued and not yet known to be acknowledged."""
        with self._lock:
            return len(self._pending)

    def settle(self, keep: int, timeout_s: float = 30.0) -> None:
        """Wait for the oldest queued messages until at most ``keep`` are outstanding.

        Backpressure: paho numbers messages with 16-bit ids, so a publisher far ahead of
        its broker would reuse the id of a message still queued and drop the new one
        (ERR_QUEUE_SIZE). Failures are counted for ``flush``.
        """
        with self._lock:
            surplus = len(self._pending) - keep
            if surplus <= 0:
                return
            oldest, self._pending = self._pending[:surplus], self._pending[surplus:]
        failed = _unacknowledged(oldest, timeout_s)
        with self._lock:
            self._failed += failed

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait until every queued message is acknowledged; how many failed since the last."""
        with self._lock:
            pending, self._pending = self._pending, []
        failed = _unacknowledged(pending, timeout_s)
        with self._lock:
            failed, self._failed = failed + self._failed, 0
        return failed

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()


def _backlog_starts(history_s: float, step_s: float) -> list[float]:
    """Start times of the batches covering ``[-history_s, 0)``, oldest first."""
    count = math.ceil(history_s / step_s) if history_s > 0 else 0
    return [-(count - i) * step_s for i in range(count)]


def fleet_messages(
    plan: FleetPlan, start: dt.datetime
) -> Iterator[tuple[int, SimulatedWristband, TelemetryBatchV1 | EventV1]]:
    """Every message of the plan in publishing order, with its tick (-1: recorded history).

    Device time starts at ``start``; the backlogs come first, then per tick each band's
    batch and the scenario's events (SOS, falls) in its span. This is the whole input a
    run publishes, so a test or benchmark can record it once and play it through several
    runners.
    """
    bands = build_fleet(plan, start)
    step_s = plan.speed / plan.rate_hz
    for band in bands:
        backlog_step_s = min(step_s, BACKLOG_BATCH_S)
        for t_s in _backlog_starts(band.scenario.history_s, backlog_step_s):
            yield -1, band, band.batch(t_s, t_s + backlog_step_s)
    for k in range(max(1, round(plan.seconds * plan.rate_hz))):
        for band in bands:
            if not band.silent_at(k * step_s):  # taken off, or its battery empty
                yield k, band, band.batch(k * step_s, (k + 1) * step_s)
            for event in band.events(k * step_s, (k + 1) * step_s):
                yield k, band, event


def fleet_batches(
    plan: FleetPlan, start: dt.datetime
) -> Iterator[tuple[int, SimulatedWristband, TelemetryBatchV1]]:
    """The plan's telemetry batches alone (``fleet_messages`` without the events)."""
    for k, band, message in fleet_messages(plan, start):
        if isinstance(message, TelemetryBatchV1):
            yield k, band, message


def recorded_fleet(plan: FleetPlan, start: dt.datetime) -> list[tuple[str, bytes]]:
    """The plan's messages as ``(topic, payload)`` in publishing order."""
    return [(topic_of(m), encode(m)) for _tick, _band, m in fleet_messages(plan, start)]


async def run_fleet(
    plan: FleetPlan,
    publisher: MqttPublisher,
    *,
    stop: asyncio.Event | None = None,
    on_tick: Callable[[PublishStats], None] | None = None,
    faults: Faults | None = None,
    full_span: bool = False,
) -> PublishStats:
    """Publish the fleet's messages at the plan's rate until its time is up or ``stop``.

    ``faults`` (``device_sim/faults.py``) are applied on the way. With ``full_span`` a run
    that keeps to its rate lasts the plan's ``seconds``, its last tick's interval included
    (a load run's rate is its messages over that span, ``device_sim/load.py``).
    """
    stats = PublishStats()
    faults = faults or Faults()
    interval_wall = 1.0 / plan.rate_hz
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=plan.seconds * plan.speed)
    stats.started_at = start + dt.timedelta(seconds=faults.skew_s)  # on the bands' clocks
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    tick = -1

    def counted() -> Iterator[tuple[int, TelemetryBatchV1 | EventV1]]:
        for k, _band, message in fleet_messages(plan, start):
            if isinstance(message, TelemetryBatchV1):
                stats.samples += len(message.samples)
            yield k, message

    ticks = max(1, round(plan.seconds * plan.rate_hz))
    for k, topic, payload in with_faults(counted(), faults, ticks=ticks, stats=stats.faults):
        if k != tick:
            if publisher.outstanding() > MAX_OUTSTANDING:  # the broker is behind: wait
                await asyncio.to_thread(publisher.settle, MAX_OUTSTANDING // 2)
            # A new tick: report the last one and keep to the plan's rate.
            if tick >= 0:
                if on_tick is not None:
                    on_tick(stats)
                delay = t0 + (tick + 1) * interval_wall - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            tick = k
            if stop is not None and stop.is_set():
                break
        publisher.publish(topic, payload)
        stats.batches += 1
    else:
        if on_tick is not None:
            on_tick(stats)
        if full_span:
            await asyncio.sleep(max(0.0, t0 + ticks * interval_wall - loop.time()))
    stats.failed = await asyncio.to_thread(publisher.flush)
    return stats
