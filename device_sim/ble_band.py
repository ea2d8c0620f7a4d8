"""A virtual BLE wristband: a bumble peripheral with the standard health services.

It advertises its name and the Heart Rate (0x180D), Pulse Oximeter (0x1822) and Battery
(0x180F) services, and while a central is subscribed notifies, once per ``period_s``, a
Heart Rate Measurement (0x2A37: rate, sensor contact, RR intervals), a PLX Continuous
Measurement (0x2A5F: SpO2 and pulse rate as SFLOAT) and, every tenth tick, its Battery
Level (0x2A19). Values come from a seeded random walk, so a run can be repeated. The band
counts what it notified (``sent``), for tests to compare with what reached storage.

Faults for testers: ``send_malformed`` notifies bytes no decoder accepts (a Heart Rate
Measurement cut short), and ``drop_connection`` ends the link from the band's side as a
band walking out of range would (it advertises again at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct

from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, Service
from bumble.hci import Address

HEART_RATE_SERVICE = UUID.from_16_bits(0x180D)
PULSE_OXIMETER_SERVICE = UUID.from_16_bits(0x1822)
BATTERY_SERVICE = UUID.from_16_bits(0x180F)
HEART_RATE_MEASUREMENT = UUID.from_16_bits(0x2A37)
PLX_CONTINUOUS_MEASUREMENT = UUID.from_16_bits(0x2A5F)
BATTERY_LEVEL = UUID.from_16_bits(0x2A19)


def sfloat_bytes(value: float, exponent: int = 0) -> bytes:
    """``value`` as an IEEE 11073 SFLOAT at ``exponent`` (little-endian)."""
    mantissa = round(value / 10**exponent)
    if not -2048 < mantissa < 2046:
        raise ValueError(f"{value} does not fit an SFLOAT at exponent {exponent}")
    return struct.pack("<H", ((exponent & 0xF) << 12) | (mantissa & 0x0FFF))


class BandSignals:
    """A seeded random walk of heart rate, RR intervals and SpO2."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self.heart_rate = 72.0
        self.spo2 = 97.0
        self.battery = 90

    def step(self) -> None:
        r = self._random
        self.heart_rate = min(110.0, max(50.0, self.heart_rate + r.gauss(0, 1.5)))
        self.spo2 = min(99.0, max(92.0, self.spo2 + r.gauss(0, 0.3)))

    def heart_rate_measurement(self) -> bytes:
        """0x2A37: uint8 rate, contact detected, one or two RR intervals in 1/1024 s."""
        rate = round(self.heart_rate)
        rr = round(60 / self.heart_rate * 1024)
        beats = 2 if rate >= 60 else 1
        flags = 0x06 | 0x10  # contact supported and detected; RR present
        return struct.pack(f"<BB{beats}H", flags, rate, *[rr] * beats)

    def plx_measurement(self) -> bytes:
        """0x2A5F: SpO2 (exponent -1) and pulse rate, no optional fields."""
        return b"\x00" + sfloat_bytes(round(self.spo2, 1), -1) + sfloat_bytes(self.heart_rate, 0)


class VirtualBand:
    """One wristband on a bumble ``Device`` (its controller on some link)."""

    def __init__(self, device: Device, name: str, *, seed: int = 0, period_s: float = 1.0) -> None:
        self.device = device
        self.name = name
        self.period_s = period_s
        self.signals = BandSignals(seed)
        self.sent = {"heart_rate": 0, "spo2": 0, "battery": 0, "malformed": 0}
        self._heart_rate = Characteristic(
            HEART_RATE_MEASUREMENT,
            Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            b"\x00\x00",
        )
        self._plx = Characteristic(
            PLX_CONTINUOUS_MEASUREMENT,
            Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            b"\x00" * 5,
        )
        self._battery = Characteristic(
            BATTERY_LEVEL,
            Characteristic.Properties.READ | Characteristic.Properties.NOTIFY,
            Characteristic.READABLE,
            bytes([self.signals.battery]),
        )
        device.add_services(
            [
                Service(HEART_RATE_SERVICE, [self._heart_rate]),
                Service(PULSE_OXIMETER_SERVICE, [self._plx]),
                Service(BATTERY_SERVICE, [self._battery]),
            ]
        )
        for characteristic in (self._heart_rate, self._plx, self._battery):
            characteristic.on(
                characteristic.EVENT_SUBSCRIPTION,
                lambda _bearer, notify, _indicate, c=characteristic: self._subscribed(c, notify),
            )
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self.connection: Connection | None = None
        self._notifying: set[int] = set()  # handles a central subscribed to
        self._task: asyncio.Task[None] | None = None

    def _advertising_data(self) -> bytes:
        services = bytes(HEART_RATE_SERVICE) + bytes(PULSE_OXIMETER_SERVICE)
        return bytes(
            AdvertisingData(
                [
                    (AdvertisingData.FLAGS, b"\x06"),
                    (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
                    (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS, services),
                ]
            )
        )

    def _on_connection(self, connection: Connection) -> None:
        self.connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)

    def _on_disconnection(self, _reason: int) -> None:
        self.connection = None
        self._notifying.clear()

    def _subscribed(self, characteristic: Characteristic[bytes], notify: bool) -> None:
        if notify:
            self._notifying.add(characteristic.handle)
        else:
            self._notifying.discard(characteristic.handle)

    async def start(self) -> None:
        """Power on, advertise (again after each disconnection), and notify."""
        await self.device.power_on()
        await self.device.start_advertising(
            auto_restart=True, advertising_data=self._advertising_data()
        )
        self._task = asyncio.create_task(self._notify_forever())

    async def stop_notifying(self) -> None:
        """No more notifications: ``sent`` is final."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stop(self) -> None:
        await self.stop_notifying()
        await self.device.power_off()

    async def _notify(self, characteristic: Characteristic[bytes], value: bytes, kind: str) -> None:
        # Counted only if a central is subscribed to it: what a gateway could have heard.
        if self.connection is None or characteristic.handle not in self._notifying:
            return
        await self.device.notify_subscribers(characteristic, value)
        self.sent[kind] += 1

    async def tick(self, n: int) -> None:
        """One period's notifications."""
        self.signals.step()
        await self._notify(self._heart_rate, self.signals.heart_rate_measurement(), "heart_rate")
        await self._notify(self._plx, self.signals.plx_measurement(), "spo2")
        if n % 10 == 0:
            await self._notify(self._battery, bytes([self.signals.battery]), "battery")

    async def _notify_forever(self) -> None:
        n = 0
        while True:
            await self.tick(n)
            n += 1
            await asyncio.sleep(self.period_s)

    async def send_malformed(self) -> None:
        """A Heart Rate Measurement that announces a 16-bit rate and sends one byte."""
        await self._notify(self._heart_rate, b"\x01\x48", "malformed")

    async def drop_connection(self) -> None:
        """End the link from the band's side (out of range); it advertises again."""
        if self.connection is not None:
            await self.connection.disconnect()


def band_address(index: int) -> Address:
    """A static random address per band index (top bits 11: static)."""
    return Address(f"C0:BA:4D:00:{index // 256:02X}:{index % 256:02X}")
