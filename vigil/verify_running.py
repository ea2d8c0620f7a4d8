"""``vigil sim verify SCENARIO --running``: check a scenario against a pipeline already running.

The embedded run (``vigil/demo.py``) brings its own broker, pipeline and database. This one
plays the scenario into the broker of the settings (``VIGIL_MQTT_*``), where a ``vigil run``
(or the Kafka tier) takes it in, and reads the outcome from the database of the settings
(``VIGIL_DATABASE_URL``), which that pipeline writes:

1. the wearer gets a device id of its own (``sim<hex>-0001``), so a run never meets another
   run's data or a real wearer's;
2. its profile (fences, the at-risk mark) goes into the database, as ``vigil wearer set``
   puts it, and the run waits ``VIGIL_PROFILE_REFRESH_S`` for the pipeline to read it;
3. the scenario is published (with ``--faults``, but not ``broker_restart``: that broker is
   not ours to restart), then the run waits until the pipeline has stored nothing new for
   the wearer for ``settle_s``;
4. the stored alerts are checked against ``[expect]`` as in the embedded run.

Silence is judged on the running pipeline's own clock and settings: a scenario expecting
"signal lost" needs a run as long as those allowances (``--speed 1``).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import msgspec

from device_sim.faults import Faults
from device_sim.load import BrokerTarget
from device_sim.publisher import FleetPlan, PublishStats, run_fleet
from device_sim.scenario import Scenario, load_scenario
from storage import Store, open_store
from vigil.demo import DemoOptions, check_expectations, one_scenario_plan, wearer_profile
from vigil.profiles import encode_profile
from vigil.settings import Settings


async def _settled(store: Store, device_id: str, settle_s: float, timeout_s: float) -> int:
    """Wait until the device's stored readings stop growing for ``settle_s``; their count."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = await asyncio.to_thread(store.count_readings, device_id)
        if count != last:
            last, since = count, time.monotonic()
        elif count > 0 and time.monotonic() - since >= settle_s:
            break
        await asyncio.sleep(0.2)
    return last


async def _publish(plan: FleetPlan, settings: Settings, faults: Faults) -> PublishStats:
    target = BrokerTarget.from_mqtt(settings.mqtt())
    publisher = target.publisher(f"vigil-verify-{plan.id_prefix}")
    await asyncio.to_thread(publisher.connect)
    try:
        return await run_fleet(plan, publisher, faults=faults, full_span=True)
    finally:
        await asyncio.to_thread(publisher.close)


async def verify_running(
    options: DemoOptions, settings: Settings, *, settle_s: float = 3.0
) -> dict[str, Any]:
    """Play ``options.scenario`` into the running pipeline; its outcome, as the embedded run's."""
    if options.scenario is None:
        raise ValueError("a scenario is needed")
    faults = Faults.named(options.faults)
    if faults.broker_restart_at is not None:
        raise ValueError("broker_restart restarts the run's own broker: not with --running")
    scenario: Scenario = load_scenario(options.scenario)
    prefix = f"sim{secrets.token_hex(4)}"
    device_id = f"{prefix}-0001"
    plan = msgspec.structs.replace(
        one_scenario_plan(options, options.scenario, settings.lateness_s),
        id_prefix=prefix,
        scenarios={device_id: scenario},
    )
    store = open_store(settings.database_url)
    try:
        await asyncio.to_thread(
            store.put_wearer, device_id, encode_profile(wearer_profile(scenario))
        )
        await asyncio.sleep(settings.profile_refresh_s + 0.5)  # the pipeline reads it
        published = await _publish(plan, settings, faults)
        readings = await _settled(store, device_id, settle_s, timeout_s=60 + plan.seconds)
        (outcome,) = check_expectations(store, {device_id: scenario}, published.started_at).values()
        dead_letters = store.count_dead_letters()
    finally:
        store.close()
    return {
        "device_id": device_id,
        "outcome": outcome,
        "published": published,
        "readings_stored": readings,
        "dead_letters_in_database": dead_letters,
    }
