"""Each ingest record applied once, in offset order, whatever the Faust consumer delivers.

Faust's consumer (faust-streaming 0.15.3) does not always hand an agent every record
of a partition once and in order. In
``test_the_kafka_tier_matches_the_embedded_runner_across_a_worker_kill`` a restarted
worker skipped one record in each partition right after its first chunk, leaving a
score missing, or a 5-minute stress window one batch short. Where in Faust this
happens was not pinned down; two candidates in its source: ``Consumer._drain_messages``
counts a record as read even when its hand-over to the agent was cut short by a flow
stop, and ``Consumer._new_offset`` skips its check for a gap at the head of a partition
with no committed offset. And after a rebalance or a restart it delivers again from its
last commit, which can lag far behind (seen: most of a partition).

So the worker keeps its own progress: the last ingest offset applied in each
partition (``IngestProgress``), written with the device states at each checkpoint, in
the same changelog flush, after them, so the progress a worker recovers never runs
ahead of the states it recovers. The gate (``IngestGate``) admits a record only if it
is the next one after that progress:

* an older record is a redelivery, already in the states: it is skipped;
* a newer one means records were skipped: the gate asks for a seek back to the next
  offset (once per ``reseek_s``, since records fetched before the seek still arrive)
  and admits nothing more of that partition until the missing record comes.

Faust's committed offsets then only say where reading starts after a restart; the
gate seeks back if they ran ahead. A partition without progress yet starts at its
earliest offset: its first records may never have been delivered.

Faust's commits can also stay behind: after a rebalance it forgets the records it
had acknowledged in the partitions it got back, and commits them only once a newer
record arrives (in ``bench.stream_kafka`` a quiet partition's group offset then
never reached its end). So the worker also commits its progress itself
(``IngestProgress.due``): the offset after the last one applied, which the states in
the changelog already hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import msgspec

from vigil.kafka_tables import RESERVED_PREFIX, StateTable

log = logging.getLogger(__name__)

IngestRecord = tuple[int, int, bytes]  # partition, offset, value


def progress_key(partition: int) -> bytes:
    """The table key of a partition's progress (``RESERVED_PREFIX``: never a device's)."""
    return RESERVED_PREFIX + b"ingest-offset:" + str(partition).encode()


_int = msgspec.msgpack.Decoder(int)


class IngestProgress:
    """The last ingest offset applied per partition, kept in the device table.

    ``put`` stages an offset; ``checkpoint`` writes the staged ones to the table, after
    the device states they speak for (``DeviceStates.checkpoint``); ``flushed`` says
    the changelog has acknowledged them. The gate reads the staged offsets first; only
    acknowledged ones are ever committed (``due``).
    """

    def __init__(self, table: StateTable) -> None:
        self._table = table
        self._staged: dict[int, int] = {}
        self._unflushed: set[int] = set()  # written since the last ``flushed``

    def _stored(self, partition: int) -> int | None:
        raw = self._table.get(progress_key(partition))
        return None if raw is None else _int.decode(raw)

    def applied(self, partition: int) -> int | None:
        """The last offset of ``partition`` whose record is in the states, if any."""
        staged = self._staged.get(partition)
        return staged if staged is not None else self._stored(partition)

    def put(self, partition: int, offset: int) -> None:
        """Stage ``offset`` as applied."""
        self._staged[partition] = offset

    def checkpoint(self) -> None:
        """Write the staged offsets (each one's changelog record in its partition)."""
        staged, self._staged = self._staged, {}
        for partition, offset in staged.items():
            self._table.put(partition, progress_key(partition), msgspec.msgpack.encode(offset))
        self._unflushed.update(staged)

    def flushed(self) -> None:
        """Everything written so far is in the changelog, acknowledged."""
        self._unflushed.clear()

    def due(self, partitions: Iterable[int], committed: Mapping[int, int | None]) -> dict[int, int]:
        """The offsets to commit: the one after each partition's last applied.

        Only where that is past the group's ``committed`` offset (the next to read, in
        Kafka's sense), and not for a partition whose latest progress is staged or not
        yet acknowledged (``flushed``): its turn comes at a later call.
        """
        due = {}
        for partition in partitions:
            if partition in self._unflushed or partition in self._staged:
                continue
            applied = self._stored(partition)
            if applied is None:
                continue
            last = committed.get(partition)
            if last is None or applied + 1 > last:
                due[partition] = applied + 1
        return due


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """What the gate let through of a chunk, and the seeks it asks for."""

    records: list[IngestRecord]
    applied: dict[int, int]  # partition -> last offset admitted (the new progress)
    seeks: dict[int, int]  # partition -> offset to read again from
    redelivered: int = 0
    held_back: int = 0


class _Seek(msgspec.Struct):
    offset: int
    at: float


class IngestGate:
    """Admits ingest records in offset order, each once (see the module docstring)."""

    def __init__(
        self,
        progress: IngestProgress,
        *,
        reseek_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress
        self._reseek_s = reseek_s
        self._clock = clock
        self._starts: dict[int, int] = {}  # earliest offsets of partitions with no progress
        self._seeking: dict[int, _Seek] = {}

    def unknown_starts(self, partitions: Iterable[int]) -> set[int]:
        """Partitions with no progress whose earliest offset the gate has not been told."""
        return {
            p for p in partitions if p not in self._starts and self._progress.applied(p) is None
        }

    def set_starts(self, earliest: dict[int, int]) -> None:
        """The earliest offsets of partitions (``unknown_starts``)."""
        self._starts.update(earliest)

    def _next(self, partition: int) -> int | None:
        applied = self._progress.applied(partition)
        return applied + 1 if applied is not None else self._starts.get(partition)

    def admit(self, records: Sequence[IngestRecord]) -> Admission:
        """The records to process now, in order; those out of turn are left out."""
        now = self._clock()
        admitted: list[IngestRecord] = []
        expected: dict[int, int | None] = {}
        applied: dict[int, int] = {}
        seeks: dict[int, int] = {}
        redelivered = held_back = 0
        for partition, offset, value in records:
            if partition not in expected:
                expected[partition] = self._next(partition)
            want = expected[partition]
            if want is None:
                held_back += 1  # no progress and no start offset yet: next time
            elif offset < want:
                redelivered += 1
            elif offset == want:
                admitted.append((partition, offset, value))
                applied[partition] = offset
                expected[partition] = offset + 1
                self._seeking.pop(partition, None)
            else:
                held_back += 1  # nothing after a gap until the gap is filled
                seek = self._seeking.get(partition)
                if seek is None or seek.offset != want or now - seek.at >= self._reseek_s:
                    log.warning(
                        "ingest partition %d: offset %d arrived before %d; reading again from %d",
                        partition,
                        offset,
                        want,
                        want,
                    )
                    self._seeking[partition] = _Seek(want, now)
                    seeks[partition] = want
        return Admission(
            records=admitted,
            applied=applied,
            seeks=seeks,
            redelivered=redelivered,
            held_back=held_back,
        )
