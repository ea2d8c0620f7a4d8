"""A gateway's samples, per band, as telemetry v1 batches numbered by the gateway (sans I/O).

A band's notifications carry no sequence numbers, so the gateway numbers the batches it
makes: ``boot_id`` is chosen at random when the gateway starts (``schemas.common.BootId``:
"change it whenever seq restarts"), and ``seq`` counts each band's batches from 0 under
it. Two gateways that hear the same band (a phone and a bedside hub) then number under
different boot ids, and the backend's de-duplication key ``(device_id, boot_id, seq)`` never
mistakes one's batch for the other's.

A band's samples go out when ``max_samples`` have gathered or the oldest has waited
``max_wait_s`` (``due``), whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence

from schemas.common import BootId
from schemas.telemetry import MAX_SAMPLES_PER_BATCH, AnySample, TelemetryBatchV1


def new_boot_id() -> int:
    """A random boot id (31 bits, as ``BootId`` allows)."""
    return secrets.randbelow(2**31)


class _Pending:
    def __init__(self, since: float) -> None:
        self.since = since
        self.samples: list[AnySample] = []


class BandBatcher:
    """Samples in, batches out; ``now`` is a monotonic clock reading, ``at`` wall time."""

    def __init__(
        self,
        gateway_id: str,
        *,
        boot_id: BootId | None = None,
        max_samples: int = 10,
        max_wait_s: float = 1.0,
    ) -> None:
        if not 1 <= max_samples <= MAX_SAMPLES_PER_BATCH:
            raise ValueError(f"max_samples must be 1 to {MAX_SAMPLES_PER_BATCH}")
        self.gateway_id = gateway_id
        self.boot_id = new_boot_id() if boot_id is None else boot_id
        self.max_samples = max_samples
        self.max_wait_s = max_wait_s
        self._pending: dict[str, _Pending] = {}
        self._next_seq: dict[str, int] = {}

    def add(
        self, device_id: str, samples: Sequence[AnySample], *, now: float, at: dt.datetime
    ) -> list[TelemetryBatchV1]:
        """Take a band's new samples; the batches that filled up."""
        pending = self._pending.setdefault(device_id, _Pending(now))
        pending.samples.extend(samples)
        out = []
        while len(pending.samples) >= self.max_samples:
            full, pending.samples = (
                pending.samples[: self.max_samples],
                pending.samples[self.max_samples :],
            )
            out.append(self._batch(device_id, full, at))
            pending.since = now
        if not pending.samples:
            del self._pending[device_id]
        return out

    def due(self, *, now: float, at: dt.datetime) -> list[TelemetryBatchV1]:
        """Batches of the bands whose oldest sample has waited ``max_wait_s``."""
        ready = [d for d, p in self._pending.items() if now - p.since >= self.max_wait_s]
        return [self._batch(d, self._pending.pop(d).samples, at) for d in ready]

    def flush(self, *, at: dt.datetime) -> list[TelemetryBatchV1]:
        """Every band's samples, as they are (the gateway is stopping)."""
        pending, self._pending = self._pending, {}
        return [self._batch(d, p.samples, at) for d, p in pending.items()]

    def _batch(self, device_id: str, samples: list[AnySample], at: dt.datetime) -> TelemetryBatchV1:
        seq = self._next_seq.get(device_id, 0)
        self._next_seq[device_id] = seq + 1
        return TelemetryBatchV1(
            device_id=device_id,
            boot_id=self.boot_id,
            seq=seq,
            sent_at=at,
            gateway_id=self.gateway_id,
            samples=tuple(samples),
        )
