"""How fast ``vigil sim`` loads a broker, from one process and from several.

The simulator generates every batch (seeded vitals, RR intervals, GPS), encodes it and
publishes it QoS 1 with paho; ``--processes`` splits the fleet over processes
(``device_sim/load.py``). The fleet here asks for far more than the machine can send
(``--devices`` x ``--rate``), so the rate achieved is the simulator's ceiling: messages the
broker acknowledged over the wall time to the last acknowledgement.

Baseline, in the same run on the same private Mosquitto: ``mosquitto_pub -l`` (C, one
connection, QoS 1) publishing the same fleet's payloads, pre-encoded, as fast as the broker
takes them: what the broker accepts from one client that does nothing else.

Usage: ``python -m bench.sim_load [--devices N] [--rate HZ] [--seconds S] [--processes P]``.
Writes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench._report import final_line, write_section
from device_sim.load import BrokerTarget, run_load
from device_sim.publisher import FleetPlan, recorded_fleet
from device_sim.scenario import load_scenario
from vigil.local_servers import MosquittoProcess


def broker_baseline(port: int, payloads: list[bytes]) -> float:
    """Messages a second ``mosquitto_pub -l`` gets acknowledged, QoS 1."""
    lines = b"\n".join(payloads) + b"\n"
    started = time.perf_counter()
    subprocess.run(
        ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", "bench/raw", "-l"],
        input=lines,
        check=True,
    )
    return len(payloads) / (time.perf_counter() - started)


def main() -> None:
    """Measure the baseline, then the simulator with 1 and with P processes."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--processes", type=int, default=max(2, os.cpu_count() or 2))
    args = parser.parse_args()
    plan = FleetPlan(
        devices=args.devices,
        rate_hz=args.rate,
        seconds=args.seconds,
        speed=60.0,
        default=load_scenario("healthy"),
    )
    payloads = [p for _topic, p in recorded_fleet(plan, dt.datetime.now(dt.UTC))]
    with tempfile.TemporaryDirectory() as tmp, MosquittoProcess(Path(tmp)) as broker:
        target = BrokerTarget(host="127.0.0.1", port=broker.port)
        baseline = broker_baseline(broker.port, payloads)
        one = run_load(plan, target, processes=1)
        many = run_load(plan, target, processes=args.processes)
    if one.failed or many.failed or one.messages != len(payloads):
        raise RuntimeError(f"messages lost: {one} / {many}")
    figures = {
        "messages": len(payloads),
        "payload_bytes_mean": round(sum(map(len, payloads)) / len(payloads)),
        "target_messages_per_s": one.target_messages_per_s,
        "broker_baseline_messages_per_s": round(baseline),
        "sim_1_process_messages_per_s": round(one.messages_per_s),
        f"sim_{many.processes}_processes_messages_per_s": round(many.messages_per_s),
        "ratio_to_baseline": round(many.messages_per_s / baseline, 3),
        "processes_ratio_to_one": round(many.messages_per_s / one.messages_per_s, 2),
    }
    write_section(
        "sim_load",
        f"python -m bench.sim_load --devices {args.devices} --rate {args.rate:g} "
        f"--seconds {args.seconds:g} --processes {args.processes}",
        figures,
        "The simulator's ceiling: a healthy fleet asking for `target_messages_per_s`, far "
        "more than one machine sends, each batch generated, encoded and published QoS 1 "
        "(acknowledged by a private Mosquitto) from 1 process, then from several "
        "(`vigil sim --processes`). Baseline: `mosquitto_pub -l` sending the same payloads, "
        "pre-encoded, from one connection. `ratio_to_baseline`: the several processes' rate "
        "over the baseline's; `processes_ratio_to_one`: their rate over one process's. The "
        "broker, the publishers and the baseline share the machine's cores.",
    )
    final_line(figures)


if __name__ == "__main__":
    main()
