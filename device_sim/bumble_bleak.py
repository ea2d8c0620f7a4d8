"""A bleak backend over bumble: a gateway's ordinary bleak code without Bluetooth hardware.

The machines Vigil is tested on have no Bluetooth (no ``/dev/vhci``, no bluetoothd), so
bleak's BlueZ backend cannot run there. bleak 3 accepts a backend class
(``BleakScanner(..., backend=BumbleScanner)``, ``BleakClient(..., backend=BumbleClient)``):
these two drive a bumble ``Device`` (a pure-Python host and controller) instead of the OS.
The gateway's code above them (scan, connect, discover, ``start_notify``) is the same code
that runs on BlueZ.

One central per process (``central()``): opened by ``open_central`` on an HCI transport
(bumble transport syntax, e.g. ``tcp-client:127.0.0.1:7001``: a controller on the same
virtual link as the bands, ``device_sim/ble_air.py``; ``vigil gateway`` takes it from
``VIGIL_GATEWAY_HCI``), or set by a test with ``use_central`` (a device on an
in-process link). A central makes one connection
at a time (bumble refuses a second pending LE connection); the backend queues them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bleak.assigned_numbers import CharacteristicPropertyName
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakError
from bleak.uuids import normalize_uuid_str
from bumble.core import UUID, AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt import Characteristic
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address
from bumble.transport import open_transport

_CENTRAL_ADDRESS = "F0:F1:F2:F3:F4:F5"


class Central:
    """The process's bumble device as a central: scanning shared, connections one by one."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.connecting = asyncio.Lock()
        self._scanners = 0

    async def start_scanning(self) -> None:
        self._scanners += 1
        if self._scanners == 1:
            await self.device.start_scanning(filter_duplicates=False)

    async def stop_scanning(self) -> None:
        self._scanners = max(0, self._scanners - 1)
        if self._scanners == 0:
            await self.device.stop_scanning()


_central: Central | None = None


def use_central(device: Device) -> Central:
    """Use ``device`` (powered on) as this process's central."""
    global _central  # noqa: PLW0603 - one central per process, as one adapter per host
    _central = Central(device)
    return _central


async def open_central(spec: str) -> Central:
    """Open the HCI transport ``spec`` and use a device on it as this process's central."""
    transport = await open_transport(spec)
    device = Device.with_hci(
        "vigil-gateway", Address(_CENTRAL_ADDRESS), transport.source, transport.sink
    )
    await device.power_on()
    return use_central(device)


async def central() -> Central:
    """The process's central (``open_central`` or ``use_central`` first)."""
    if _central is None:
        raise BleakError("the bumble backend has no central: open_central() first")
    return _central


def _uuid(uuid: UUID) -> str:
    return normalize_uuid_str(uuid.to_hex_str("-"))


def _service_uuids(data: AdvertisingData) -> list[str]:
    found: list[str] = []
    for kind in (
        AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
        AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    ):
        found += [_uuid(u) for u in data.get(kind) or []]
    return found


class BumbleScanner(BaseBleakScanner):
    """bleak's scanner backend over the central's advertisements."""

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **_kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        del scanning_mode  # bumble scans actively; passive makes no difference here
        self._central: Central | None = None

    async def start(self) -> None:
        self._central = await central()
        self.seen_devices = {}
        self._central.device.on(Device.EVENT_ADVERTISEMENT, self._advertisement)
        await self._central.start_scanning()

    async def stop(self) -> None:
        if self._central is not None:
            self._central.device.remove_listener(Device.EVENT_ADVERTISEMENT, self._advertisement)
            await self._central.stop_scanning()
            self._central = None

    def _advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids = _service_uuids(data)
        if not self.is_allowed_uuid(uuids):
            return
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
            AdvertisingData.SHORTENED_LOCAL_NAME
        )
        adv = AdvertisementData(
            local_name=name if isinstance(name, str) else None,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        address = advertisement.address
        device = self.create_or_update_device(
            str(address), str(address), adv.local_name, address, adv
        )
        self.call_detection_callbacks(device, adv)


_PROPERTIES: tuple[tuple[Characteristic.Properties, CharacteristicPropertyName], ...] = (
    (Characteristic.Properties.BROADCAST, "broadcast"),
    (Characteristic.Properties.READ, "read"),
    (Characteristic.Properties.WRITE_WITHOUT_RESPONSE, "write-without-response"),
    (Characteristic.Properties.WRITE, "write"),
    (Characteristic.Properties.NOTIFY, "notify"),
    (Characteristic.Properties.INDICATE, "indicate"),
)


class BumbleClient(BaseBleakClient):
    """bleak's client backend over a bumble connection and its GATT client."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        **_kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        details = (
            address_or_ble_device.details if isinstance(address_or_ble_device, BLEDevice) else None
        )
        self._peer_address = details if isinstance(details, Address) else Address(self.address)
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def mtu_size(self) -> int:
        return 23 if self._connection is None else int(self._connection.att_mtu)

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **_kwargs: Any) -> None:
        del pair  # the virtual bands need no pairing
        hub = await central()
        async with hub.connecting:
            try:
                connection = await hub.device.connect(self._peer_address, timeout=self._timeout)
            except Exception as exc:
                raise BleakError(f"could not connect to {self.address}: {exc}") from exc
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        peer = Peer(connection)
        self._peer = peer
        await peer.discover_services()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            await peer.discover_characteristics(service=service)
            bleak_service = BleakGATTService(service, service.handle, _uuid(service.uuid))
            collection.add_service(bleak_service)
            for characteristic in service.characteristics:
                properties = [n for flag, n in _PROPERTIES if characteristic.properties & flag]
                collection.add_characteristic(
                    BleakGATTCharacteristic(
                        characteristic,
                        characteristic.handle,
                        _uuid(characteristic.uuid),
                        properties,
                        lambda: 20,
                        bleak_service,
                    )
                )
        self.services = collection

    def _on_disconnection(self, _reason: int) -> None:
        self._connection = None
        self._peer = None
        self._subscribers.clear()
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        if self._connection is not None:
            await self._connection.disconnect()

    def _need_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **_kwargs: Any
    ) -> None:
        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        proxy: CharacteristicProxy[bytes] = characteristic.obj
        await self._need_peer().subscribe(proxy, deliver)
        self._subscribers[characteristic.handle] = deliver

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        deliver = self._subscribers.pop(characteristic.handle, None)
        await self._need_peer().unsubscribe(characteristic.obj, deliver)

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, **_kwargs: Any
    ) -> bytearray:
        return bytearray(await self._need_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, **_kwargs: Any
    ) -> bytearray:
        return bytearray(await self._need_peer().read_value(descriptor.handle))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        self._need_peer()
        await proxy.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._need_peer().gatt_client.write_value(descriptor.handle, bytes(data), True)

    async def pair(self, *_args: Any, **_kwargs: Any) -> None:
        raise NotImplementedError("the virtual bands need no pairing")

    async def unpair(self) -> None:
        raise NotImplementedError("the virtual bands need no pairing")
