"""A device's ordered state as bytes, for a Kafka worker's changelog-backed table.

An ``OrderedState`` keeps the processor state after each retained batch so a late
batch can be slotted in. In memory those states share almost everything, but written
out each would be a full copy (the open HRV window's RR intervals, a day of stress
windows, six weeks of daily aggregates), and a changelog record is written for every
batch. So only the checkpoint state is written, with the retained batches and the
alerts and index values they produced; reading it back steps the processor over the
retained batches again, which it does deterministically (the alert ids derive from
the batches). The alerts are kept as stored, under the ids they were published with.

Readings are replayed under the wearer profile given at decode time: a profile a
clinician changed since applies to the retained seconds too, as it would to the
next batch.

The format is MessagePack over ``msgspec.to_builtins``: times as RFC 3339 text, since
MessagePack's own timestamps are UTC and would drop the UTC offset the band reported
(replayed alerts would then differ from the originals in their text), floats as
floats, since JSON has no NaN for an empty day, and the packed float series as bytes.
A version number comes first; a version this code does not know is an error, never a
silent reset of the wearer's baselines.

Since version 4 the body after the version is zlib-compressed (level 1): a record is
mostly the retained batches, whose field names and instants repeat from batch to
batch, and the changelog records were most of what a Kafka worker sent
(``bench.stream_kafka``; docs/scale-out.md). Version 3, the same body uncompressed,
is still read, so a worker reads what an older one wrote.
"""

from __future__ import annotations

import zlib

import msgspec

from schemas import Alert, TelemetryBatchV1
from schemas.scores import IndexRecord
from stream_processors.device import DeviceState, ProcessorSettings, WearerProfile, step
from stream_processors.event_time import Key, OrderedState, Retained

# 2: wellbeing float series packed as bytes; 3: and the daily history; 4: body compressed
FORMAT_VERSION = 4
_UNCOMPRESSED = 3


class _StoredBatch(msgspec.Struct, frozen=True, array_like=True):
    key: Key
    batch: TelemetryBatchV1
    alerts: tuple[Alert, ...]
    indices: tuple[IndexRecord, ...]


class _Body(msgspec.Struct, frozen=True, array_like=True):
    checkpoint: DeviceState | None
    retained: tuple[_StoredBatch, ...]
    recent_events: tuple[tuple[int, int], ...]


class StateFormatError(ValueError):
    """Bytes that are not a device state this version can read."""


def encode_state(state: OrderedState) -> bytes:
    """The state as bytes: checkpoint, retained batches and their outputs."""
    body = _Body(
        checkpoint=state.checkpoint,
        retained=tuple(_StoredBatch(r.key, r.batch, r.alerts, r.indices) for r in state.retained),
        recent_events=state.recent_events,
    )
    packed = msgspec.msgpack.encode(msgspec.to_builtins(body, builtin_types=(bytes,)))
    return msgspec.msgpack.encode((FORMAT_VERSION, zlib.compress(packed, 1)))


def _body(data: bytes) -> _Body:
    """The body of a version 4 (or 3) state."""
    try:
        head = msgspec.msgpack.decode(data)
        version = head[0] if isinstance(head, list) and head else None
        if version == FORMAT_VERSION and len(head) == 2 and isinstance(head[1], bytes):
            return msgspec.convert(msgspec.msgpack.decode(zlib.decompress(head[1])), _Body)
        if version == _UNCOMPRESSED:
            return msgspec.convert(head[1:], _Body)
    except (msgspec.DecodeError, msgspec.ValidationError, zlib.error) as exc:
        raise StateFormatError(f"not a device state: {exc}") from exc
    if not isinstance(version, int):
        raise StateFormatError("not a device state: no format version")
    raise StateFormatError(f"device state format {version} is not {FORMAT_VERSION}")


def decode_state(data: bytes, profile: WearerProfile, settings: ProcessorSettings) -> OrderedState:
    """The state ``encode_state`` wrote, the retained batches' states recomputed."""
    stored = _body(data)
    state = stored.checkpoint
    retained = []
    for entry in stored.retained:
        state = step(state, entry.batch, profile, settings).state
        retained.append(Retained(entry.key, entry.batch, state, entry.alerts, entry.indices))
    return OrderedState(
        checkpoint=stored.checkpoint,
        retained=tuple(retained),
        recent_events=stored.recent_events,
    )
