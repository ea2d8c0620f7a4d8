"""Virtual air: wristbands on a bumble link, and a controller for a gateway over TCP.

``python -m device_sim.ble_air --port 7001 --bands 3`` runs ``--bands`` virtual
wristbands (``device_sim/ble_band.py``, named ``wb-0001``...) on one in-process link, plus
one more controller on that link served as an HCI transport on ``127.0.0.1:<port>``: a
gateway connects to it with ``VIGIL_GATEWAY_HCI=tcp-client:127.0.0.1:<port>`` and the
bumble backend (``device_sim/bumble_bleak.py``), and sees the bands as a real adapter
would. It prints ``ready`` once the bands advertise. On SIGTERM or SIGINT it stops the
bands and prints one JSON line: what each band notified (for a test to compare with what
reached storage).

Faults: ``--drop-every S`` ends each band's connection every S seconds (a band walking out
of range and back); ``--malformed-every N`` makes each band send a malformed Heart Rate
Measurement every N ticks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from bumble.controller import Controller
from bumble.device import Device
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import AsyncPipeSink

from device_sim.ble_band import VirtualBand, band_address


def band_on(link: LocalLink, index: int, *, seed: int, period_s: float) -> VirtualBand:
    """A virtual band with its own controller on ``link``."""
    address = band_address(index)
    controller = Controller(f"band-{index}", link=link, public_address=str(address))
    name = f"wb-{index + 1:04d}"
    device = Device(name=name, address=address, host=Host(controller, AsyncPipeSink(controller)))
    return VirtualBand(device, name, seed=seed + index, period_s=period_s)


SHUTDOWN_STEP_S = 3.0  # the longest a band's power-off or the transport's close may take


async def _faults(bands: list[VirtualBand], drop_every_s: float, malformed_every: int) -> None:
    tick = 0
    while True:
        await asyncio.sleep(drop_every_s if drop_every_s > 0 else 1.0)
        tick += 1
        for band in bands:
            if malformed_every > 0 and tick % malformed_every == 0:
                await band.send_malformed()
            if drop_every_s > 0:
                await band.drop_connection()


async def run(args: argparse.Namespace) -> int:
    link = LocalLink()  # type: ignore[no-untyped-call]
    transport = await open_transport(f"tcp-server:127.0.0.1:{args.port}")
    # The gateway's controller: its host is whoever connects to the TCP port.
    Controller("gateway", host_source=transport.source, host_sink=transport.sink, link=link)
    bands = [band_on(link, i, seed=args.seed, period_s=args.period) for i in range(args.bands)]
    for band in bands:
        await band.start()
    faults = None
    if args.drop_every > 0 or args.malformed_every > 0:
        faults = asyncio.create_task(_faults(bands, args.drop_every, args.malformed_every))
    print("ready: bands advertising", flush=True)  # noqa: T201 - a child's protocol
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if faults is not None:
        faults.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await faults
    for band in bands:
        await band.stop_notifying()
    # The counts first: powering off waits on the link, which a dropped or half-made
    # connection can hold up; a stop must not hang on it (a test once waited 30 s).
    print(json.dumps({band.name: band.sent for band in bands}), flush=True)  # noqa: T201
    for band in bands:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(band.device.power_off(), SHUTDOWN_STEP_S)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(transport.close(), SHUTDOWN_STEP_S)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device_sim.ble_air")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bands", type=int, default=2)
    parser.add_argument("--period", type=float, default=1.0, help="seconds between notifications")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--drop-every", type=float, default=0.0)
    parser.add_argument("--malformed-every", type=int, default=0)
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
