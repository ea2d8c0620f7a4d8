"""bleak over bumble against virtual wristbands, in one process: what ``vigil gateway`` relies
on (scan by service, connect, discover, read, notify, a band dropping its link), and the
bands' notifications decoding with Vigil's own decoders.

No Bluetooth here: the bands are bumble peripherals (``device_sim/ble_band.py``) and bleak
runs over bumble (``device_sim/bumble_bleak.py``) on one in-process link.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("bleak", reason="the [gateway] extra (dev installs it)")
pytest.importorskip("bumble", reason="the test extra")

from bleak import BleakClient, BleakScanner
from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from device_sim.ble_band import VirtualBand, band_address
from device_sim.bumble_bleak import BumbleClient, BumbleScanner, use_central
from ingest.ble.gatt import (
    HeartRateMeasurement,
    Measurement,
    PlxContinuousMeasurement,
    decode_characteristic,
)
from schemas import MalformedPayload

HEART_RATE_SERVICE = "0000180d-0000-1000-8000-00805f9b34fb"
HRM = "00002a37-0000-1000-8000-00805f9b34fb"
PLX = "00002a5f-0000-1000-8000-00805f9b34fb"
BATTERY = "00002a19-0000-1000-8000-00805f9b34fb"


def device_on(link: LocalLink, name: str, address: Address) -> Device:
    controller = Controller(name, link=link, public_address=str(address))
    return Device(name=name, address=address, host=Host(controller, AsyncPipeSink(controller)))


@pytest.fixture
async def bands() -> AsyncIterator[list[VirtualBand]]:
    link = LocalLink()  # type: ignore[no-untyped-call]
    central = device_on(link, "gateway", Address("F0:F1:F2:F3:F4:F5"))
    await central.power_on()
    use_central(central)
    made = [
        VirtualBand(device_on(link, f"b{i}", band_address(i)), f"wb-000{i + 1}", seed=i,
                    period_s=0.05)
        for i in range(2)
    ]  # fmt: skip
    for band in made:
        await band.start()
    yield made
    for band in made:
        await band.stop()
    await central.power_off()


async def test_bleak_finds_connects_and_hears_virtual_bands(bands: list[VirtualBand]) -> None:
    found: dict[str, tuple[Any, Any]] = {}
    for _ in range(5):  # advertising intervals on a busy machine: scan again, not wait longer
        found = await BleakScanner.discover(
            timeout=1.0, backend=BumbleScanner, service_uuids=[HEART_RATE_SERVICE], return_adv=True
        )
        if len(found) == 2:
            break
    names = sorted(adv.local_name or "" for _device, adv in found.values())
    assert names == ["wb-0001", "wb-0002"]
    device = next(d for d, adv in found.values() if adv.local_name == "wb-0001")
    heard: list[tuple[str, bytes]] = []
    dropped = asyncio.Event()
    async with BleakClient(
        device, backend=BumbleClient, disconnected_callback=lambda _c: dropped.set()
    ) as client:
        assert {HEART_RATE_SERVICE, "00001822-0000-1000-8000-00805f9b34fb"} <= {
            s.uuid for s in client.services
        }
        assert await client.read_gatt_char(BATTERY) == bytearray([90])
        await client.start_notify(HRM, lambda c, data: heard.append((c.uuid, bytes(data))))
        await client.start_notify(PLX, lambda c, data: heard.append((c.uuid, bytes(data))))
        await asyncio.sleep(0.5)
        await bands[0].send_malformed()
        await asyncio.sleep(0.05)
        await bands[0].drop_connection()
        await asyncio.wait_for(dropped.wait(), 5)
    kinds = [uuid for uuid, _ in heard]
    assert kinds.count(HRM) >= 5
    assert kinds.count(PLX) >= 5
    assert bands[0].sent["heart_rate"] + bands[0].sent["malformed"] == kinds.count(HRM)
    assert bands[1].sent["heart_rate"] == 0, "nobody subscribed to the other band"
    decoded: list[Measurement | None] = []
    for uuid, data in heard:
        try:
            decoded.append(decode_characteristic(int(uuid[4:8], 16), data))
        except MalformedPayload:
            decoded.append(None)
    assert decoded.count(None) == 1, "the one malformed notification"
    rates = [m for m in decoded if isinstance(m, HeartRateMeasurement)]
    assert all(50 <= m.heart_rate_bpm <= 110 and m.sensor_contact for m in rates)
    assert all(m.rr_1024ths for m in rates)
    oximetry = [m for m in decoded if isinstance(m, PlxContinuousMeasurement)]
    assert all(92 <= m.spo2_pct <= 99 for m in oximetry)
