"""Load a broker from several processes (``vigil sim --processes P``) and measure the rate.

One Python process generating and encoding batches tops out well below what Mosquitto
takes (``python -m bench.sim_load`` measures both, BENCHMARKS.md), so a load run splits the fleet
into ``processes`` contiguous shares of devices, each published by a process of its own
with its own client. The ids and seeds do not depend on the split: ``wb-0007`` sends the
same batches whether one process or four play the fleet.

The rate reported is the rate *achieved*: messages acknowledged by the broker (QoS 1)
divided by the wall time from the moment every process was connected and ready to the
last acknowledgement. When the plan asks for more than the processes or the broker can
take, ``ratio_to_target`` falls below 1.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import threading
import time
from multiprocessing.synchronize import Barrier
from typing import TYPE_CHECKING

import msgspec

from device_sim.publisher import FleetPlan, MqttPublisher, PublishStats, run_fleet

if TYPE_CHECKING:
    from ingest.mqtt.source import MqttSettings


class BrokerTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where the load goes."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    protocol: str = "5"

    @classmethod
    def from_mqtt(cls, mqtt: MqttSettings) -> BrokerTarget:
        """The broker of the MQTT settings (``Settings.mqtt()``), its secret unwrapped there."""
        return cls(
            host=mqtt.host,
            port=mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            tls_ca=mqtt.tls_ca,
            protocol=mqtt.protocol,
        )

    def publisher(self, client_id: str) -> MqttPublisher:
        """A (not yet connected) publisher to this broker."""
        return MqttPublisher(
            self.host,
            self.port,
            client_id=client_id,
            username=self.username,
            password=self.password,
            tls_ca=self.tls_ca,
            protocol=self.protocol,
        )


class PartResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one process sent, and when its last message was acknowledged (epoch s)."""

    messages: int
    samples: int
    failed: int
    finished_at: float


class LoadReport(msgspec.Struct, frozen=True, kw_only=True):
    """The load run as a whole."""

    devices: int
    processes: int
    messages: int  # published, acknowledged or not
    samples: int
    failed: int  # not acknowledged (or refused by the client)
    wall_s: float
    messages_per_s: float  # acknowledged
    target_messages_per_s: float
    ratio_to_target: float


def split(plan: FleetPlan, processes: int) -> list[FleetPlan]:
    """The plan's devices in ``processes`` contiguous shares (none empty)."""
    if processes < 1:
        raise ValueError("processes must be at least 1")
    parts = min(processes, plan.devices)
    size, extra = divmod(plan.devices, parts)
    shares, first = [], plan.first_device
    for i in range(parts):
        count = size + (1 if i < extra else 0)
        shares.append(msgspec.structs.replace(plan, devices=count, first_device=first))
        first += count
    return shares


def _publish(plan: FleetPlan, target: BrokerTarget, client_id: str, ready: Barrier) -> PartResult:
    publisher = target.publisher(client_id)
    publisher.connect()
    try:
        ready.wait(timeout=60)
        stats: PublishStats = asyncio.run(run_fleet(plan, publisher, full_span=True))
    finally:
        publisher.close()
    return PartResult(
        messages=stats.batches, samples=stats.samples, failed=stats.failed, finished_at=time.time()
    )


def _part_main(
    plan: FleetPlan,
    target: BrokerTarget,
    client_id: str,
    ready: Barrier,
    results: multiprocessing.Queue[bytes],
) -> None:
    """A load process: publish its share, put its result (msgspec JSON) on ``results``."""
    try:
        result = _publish(plan, target, client_id, ready)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put(msgspec.json.encode({"error": f"{type(exc).__name__}: {exc}"}))
        ready.abort()  # the parent and the other processes stop waiting for this one
        return
    results.put(msgspec.json.encode(result))


def run_load(plan: FleetPlan, target: BrokerTarget, *, processes: int = 1) -> LoadReport:
    """Publish ``plan`` from ``processes`` processes at once; the rate the broker took."""
    shares = split(plan, processes)
    context = multiprocessing.get_context("spawn")  # no inherited threads or sockets
    ready = context.Barrier(len(shares) + 1)
    results: multiprocessing.Queue[bytes] = context.Queue()
    workers = [
        context.Process(
            target=_part_main,
            args=(share, target, f"vigil-sim-{plan.id_prefix}-{i}", ready, results),
            daemon=True,
        )
        for i, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    try:
        try:
            ready.wait(timeout=120)  # every process connected: the clock starts
        except threading.BrokenBarrierError:
            raise _first_error(results) from None
        started = time.time()
        timeout_s = plan.seconds * 4 + 120
        parts = [_part_result(results.get(timeout=timeout_s)) for _ in workers]
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    wall_s = max(p.finished_at for p in parts) - started
    messages = sum(p.messages for p in parts)
    failed = sum(p.failed for p in parts)
    target_rate = plan.devices * plan.rate_hz
    achieved = (messages - failed) / wall_s if wall_s > 0 else 0.0
    return LoadReport(
        devices=plan.devices,
        processes=len(shares),
        messages=messages,
        samples=sum(p.samples for p in parts),
        failed=failed,
        wall_s=round(wall_s, 3),
        messages_per_s=round(achieved, 1),
        target_messages_per_s=round(target_rate, 1),
        ratio_to_target=round(achieved / target_rate, 3) if target_rate else 0.0,
    )


def _first_error(results: multiprocessing.Queue[bytes]) -> RuntimeError:
    """Why a process gave up before the start (it put its error on the queue)."""
    try:
        _part_result(results.get(timeout=10))
    except RuntimeError as exc:
        return exc
    except queue.Empty:
        pass
    return RuntimeError("a load process did not get ready in time")


def _part_result(raw: bytes) -> PartResult:
    decoded = msgspec.json.decode(raw)
    if "error" in decoded:
        raise RuntimeError(f"a load process failed: {decoded['error']}")
    return msgspec.convert(decoded, PartResult)
