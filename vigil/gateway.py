"""``vigil gateway``: wristbands' BLE notifications to the broker, through a durable spool.

bleak scans for bands (those in ``VIGIL_GATEWAY_BANDS``, or any advertising the Heart
Rate or Pulse Oximeter service, named by their local name), connects to at most
``VIGIL_GATEWAY_MAX_CONNECTIONS`` at a time, and subscribes to the health
characteristics each offers. Each notification is decoded (``ingest/ble/gatt.py``),
turned into samples (``ingest/ble/samples.py``), batched and numbered
(``ingest/ble/batcher.py``), spooled (``ingest/spool.py``) and published
(``ingest/uplink.py``). A band that drops out is connected again when it is seen again,
after a backoff (1 s doubling to 30 s) while it keeps failing. A malformed notification is
counted, logged by reason (never its bytes: they are health data) and kept as a dead letter
in the spool's file (``Spool.dead_letters``), and the rest go on.
Band availability is logged on transitions only.

With ``VIGIL_GATEWAY_BLE_BACKEND=bumble``, bleak runs over bumble on the HCI transport
``VIGIL_GATEWAY_HCI`` (``device_sim/bumble_bleak.py``): how the tests run this same code
against virtual wristbands (``device_sim/ble_air.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from ingest.ble.batcher import BandBatcher
from ingest.ble.gatt import DECODERS, decode_characteristic
from ingest.ble.samples import to_samples
from ingest.spool import Spool
from ingest.uplink import Uplink
from schemas import MalformedPayload, encode
from schemas.records import DeadLetter
from schemas.telemetry import TelemetryBatchV1
from schemas.topics import telemetry_topic
from vigil.settings import Settings

log = logging.getLogger(__name__)

HEALTH_SERVICES = ["0000180d-0000-1000-8000-00805f9b34fb", "00001822-0000-1000-8000-00805f9b34fb"]
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 30.0


def parse_bands(text: str) -> dict[str, str]:
    """``address=device_id,...`` to a mapping by upper-case address; ``ValueError``."""
    bands: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        address, sep, device_id = item.partition("=")
        if not sep or not address or not device_id:
            raise ValueError(f"VIGIL_GATEWAY_BANDS: {item!r} is not address=device_id")
        bands[address.strip().upper()] = device_id.strip()
    return bands


def _uuid16(uuid: str) -> int | None:
    """The 16-bit id of a Bluetooth SIG base UUID, else None."""
    if uuid.lower().endswith("-0000-1000-8000-00805f9b34fb") and uuid.startswith("0000"):
        return int(uuid[4:8], 16)
    return None


class Gateway:
    """The bands, the batcher, the spool and the uplink of one gateway process."""

    def __init__(self, settings: Settings, spool: Spool, uplink: Uplink) -> None:
        self.spool = spool
        self.uplink = uplink
        self.allowed = parse_bands(settings.gateway_bands)
        self.zone = ZoneInfo(settings.gateway_device_zone)
        self.batcher = BandBatcher(settings.gateway_id)
        self.slots = asyncio.Semaphore(settings.gateway_max_connections)
        self.connected: set[str] = set()
        self.busy: set[str] = set()  # connecting or connected
        self.retry_at: dict[str, tuple[float, float]] = {}  # device -> (when, backoff)
        self.malformed: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.tasks: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        if settings.gateway_ble_backend == "bumble":
            from device_sim.bumble_bleak import BumbleClient, BumbleScanner  # noqa: PLC0415

            self.backends: dict[str, Any] = {"scanner": BumbleScanner, "client": BumbleClient}
        else:
            self.backends = {"scanner": None, "client": None}

    def device_of(self, address: str, name: str | None) -> str | None:
        """The device id of a band seen advertising, or None if it is not one of ours."""
        if self.allowed:
            return self.allowed.get(address.upper())
        return name or None

    def seen(self, device: Any, advertisement: Any) -> None:
        """A scanner's detection callback: connect to a band of ours not yet connected."""
        device_id = self.device_of(device.address, advertisement.local_name)
        if device_id is None or device_id in self.busy:
            return
        when, _backoff = self.retry_at.get(device_id, (0.0, 0.0))
        if time.monotonic() < when:
            return
        self.busy.add(device_id)
        task = asyncio.create_task(self.serve_band(device, device_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def take(self, device_id: str, uuid16: int, data: bytes) -> None:
        """One notification: decoded, sampled, batched, spooled."""
        now = dt.datetime.now(dt.UTC)
        try:
            measurement = decode_characteristic(uuid16, data)
        except MalformedPayload as exc:
            self.malformed[device_id] += 1
            log.warning("band %s: malformed notification (%s)", device_id, exc.detail)
            self.spool.dead_letter(
                DeadLetter.of(
                    received_at=now,
                    topic=f"ble/{device_id}/0x{uuid16:04X}",
                    reason=exc.reason,
                    detail=exc.detail,
                    payload=data,
                )
            )
            return
        converted = to_samples(measurement, now, self.zone)
        self.dropped.update(converted.dropped)
        if converted.samples:
            batches = self.batcher.add(device_id, converted.samples, now=time.monotonic(), at=now)
            self.spool_all(batches)

    def spool_all(self, batches: list[TelemetryBatchV1]) -> None:
        for batch in batches:
            self.spool.put(telemetry_topic(batch.device_id), encode(batch))
        if batches:
            self.wake.set()

    async def serve_band(self, device: Any, device_id: str) -> None:
        """Connect, subscribe, and stay until the band drops out."""
        from bleak import BleakClient  # noqa: PLC0415 - the [gateway] extra

        gone = asyncio.Event()
        try:
            async with self.slots:
                client = BleakClient(
                    device,
                    disconnected_callback=lambda _c: gone.set(),
                    timeout=10.0,
                    backend=self.backends["client"],
                )
                await client.connect()
                subscribed = await self.subscribe(client, device_id)
                self.connected.add(device_id)
                self.retry_at.pop(device_id, None)
                log.info("band %s connected (%d characteristics)", device_id, subscribed)
                self.uplink.serving(sorted(self.connected))
                await gone.wait()
        except Exception as exc:  # noqa: BLE001 - one band's failure must not stop the rest
            _when, backoff = self.retry_at.get(device_id, (0.0, 0.0))
            backoff = min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, backoff * 2))
            self.retry_at[device_id] = (time.monotonic() + backoff, backoff)
            log.warning("band %s: %s; next try in %.0f s", device_id, exc, backoff)
        finally:
            if device_id in self.connected:
                self.connected.discard(device_id)
                log.info("band %s disconnected", device_id)
                self.uplink.serving(sorted(self.connected))
            self.busy.discard(device_id)

    async def subscribe(self, client: Any, device_id: str) -> int:
        """Notifications of every health characteristic the band offers."""
        count = 0
        for service in client.services:
            for characteristic in service.characteristics:
                uuid16 = _uuid16(characteristic.uuid)
                wanted = {"notify", "indicate"} & set(characteristic.properties)
                if uuid16 in DECODERS and wanted:
                    await client.start_notify(
                        characteristic,
                        lambda _c, data, u=uuid16: self.take(device_id, u, bytes(data)),
                    )
                    count += 1
        return count

    async def flush_due(self, stop: asyncio.Event) -> None:
        """Batches whose oldest sample has waited long enough, until stopped."""
        while not stop.is_set():
            self.spool_all(self.batcher.due(now=time.monotonic(), at=dt.datetime.now(dt.UTC)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    async def send(self, stop: asyncio.Event) -> None:
        """The spool to the broker whenever it holds something and the broker is there."""
        while not stop.is_set():
            sent = await asyncio.to_thread(self.uplink.pump) if len(self.spool) else 0
            if not sent:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 0.5)


async def gateway_service(settings: Settings) -> int:
    """Run until SIGINT or SIGTERM; what was heard is spooled, and sent while it can be."""
    from bleak import BleakScanner  # noqa: PLC0415 - the [gateway] extra

    spool = Spool(settings.gateway_spool, max_messages=settings.gateway_spool_max)
    uplink = Uplink(
        spool,
        gateway_id=settings.gateway_id,
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=f"vigil-gateway-{settings.gateway_id}",
        username=settings.mqtt_username,
        password=settings.mqtt_password.get_secret_value() if settings.mqtt_password else None,
        tls_ca=settings.mqtt_tls_ca,
        protocol=settings.mqtt_protocol,
    )
    try:
        gateway = Gateway(settings, spool, uplink)
    except ValueError as exc:
        log.error("settings: %s", exc)  # noqa: TRY400 - the message says it all
        spool.close()
        return 2
    if settings.gateway_ble_backend == "bumble":
        from device_sim.bumble_bleak import open_central  # noqa: PLC0415

        await open_central(settings.gateway_hci)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    uplink.start()
    scanner = BleakScanner(
        gateway.seen, service_uuids=HEALTH_SERVICES, backend=gateway.backends["scanner"]
    )
    await scanner.start()
    log.info("ready: gateway %s scanning (%d messages spooled)", settings.gateway_id, len(spool))
    workers = [
        asyncio.create_task(gateway.flush_due(stop)),
        asyncio.create_task(gateway.send(stop)),
    ]
    await stop.wait()
    try:
        await asyncio.wait_for(scanner.stop(), 5)
    except Exception as exc:  # noqa: BLE001 - the adapter may be gone; the spool matters now
        log.warning("the adapter did not stop scanning: %s", type(exc).__name__)
    for task in list(gateway.tasks):
        task.cancel()
    await asyncio.gather(*gateway.tasks, *workers, return_exceptions=True)
    gateway.spool_all(gateway.batcher.flush(at=dt.datetime.now(dt.UTC)))
    await asyncio.to_thread(uplink.pump)  # what it can now; the rest waits in the spool
    log.info(
        "stopped: %d messages left spooled, %d malformed notifications (dead letters in %s); "
        "values left out: %s",
        len(spool),
        sum(gateway.malformed.values()),
        settings.gateway_spool,
        dict(gateway.dropped) or "none",
    )
    await asyncio.to_thread(uplink.stop)
    spool.close()
    return 0
