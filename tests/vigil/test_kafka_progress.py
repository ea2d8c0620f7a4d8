"""The Kafka worker's ingest gate: each record applied once, in offset order.

Pure tests over a dict standing in for the Faust table; the gate's use by a real
worker on a real Kafka wire protocol is
``test_kafka_tier.py::test_the_kafka_tier_matches_the_embedded_runner_across_a_worker_kill``.
"""

from __future__ import annotations

import datetime as dt

from stream_processors.device import ProcessorSettings, WearerProfile
from stream_processors.silence import Contact
from tests.vigil.kafka_doubles import DictTable
from vigil.kafka_progress import IngestGate, IngestProgress, progress_key
from vigil.kafka_silence import Watch
from vigil.kafka_tables import DeviceStates, DeviceTable


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def records(partition: int, *offsets: int) -> list[tuple[int, int, bytes]]:
    return [(partition, o, f"{partition}:{o}".encode()) for o in offsets]


def apply(progress: IngestProgress, applied: dict[int, int]) -> None:
    """What the worker does once a chunk's outputs are acknowledged, then a checkpoint."""
    for partition, offset in applied.items():
        progress.put(partition, offset)
    progress.checkpoint()


def test_records_in_order_pass_and_a_redelivery_is_skipped() -> None:
    table = DictTable()
    progress = IngestProgress(table)
    gate = IngestGate(progress)
    assert gate.unknown_starts({0, 1}) == {0, 1}
    gate.set_starts({0: 0, 1: 40})
    first = gate.admit(records(0, 0, 1, 2) + records(1, 40, 41))
    assert [(p, o) for p, o, _ in first.records] == [(0, 0), (0, 1), (0, 2), (1, 40), (1, 41)]
    assert first.applied == {0: 2, 1: 41}
    assert first.seeks == {}
    apply(progress, first.applied)
    assert table.partitions[progress_key(1)] == 1  # the progress follows its partition
    # After a rebalance Faust delivers again from its last commit, here 1.
    again = gate.admit(records(0, 1, 2, 3))
    assert [(p, o) for p, o, _ in again.records] == [(0, 3)]
    assert again.redelivered == 2
    assert gate.unknown_starts({0, 1}) == set()


def test_a_skipped_record_holds_its_partition_back_until_read_again() -> None:
    clock = Clock()
    progress = IngestProgress(DictTable())
    progress.put(0, 17)
    progress.put(1, 5)
    gate = IngestGate(progress, reseek_s=2.0, clock=clock)
    # Offset 18 never reached the agent; partition 1 goes on regardless.
    chunk = gate.admit(records(0, 19, 20) + records(1, 6))
    assert [(p, o) for p, o, _ in chunk.records] == [(1, 6)]
    assert chunk.seeks == {0: 18}
    assert chunk.held_back == 2
    apply(progress, chunk.applied)
    # Records fetched before the seek still arrive: no second seek so soon.
    clock.now += 1.0
    assert gate.admit(records(0, 21)).seeks == {}
    # But if the record still has not come, the gate asks again.
    clock.now += 1.5
    assert gate.admit(records(0, 22)).seeks == {0: 18}
    # Read again from 18: everything in order, and the seek is settled.
    refilled = gate.admit(records(0, 18, 19, 20, 21, 22))
    assert [o for _, o, _ in refilled.records] == [18, 19, 20, 21, 22]
    assert refilled.applied == {0: 22}
    apply(progress, refilled.applied)
    clock.now += 10.0
    assert gate.admit(records(0, 24)).seeks == {0: 23}


def test_the_missing_record_later_in_the_same_chunk_is_taken() -> None:
    progress = IngestProgress(DictTable())
    progress.put(2, 3)
    gate = IngestGate(progress)
    chunk = gate.admit(records(2, 5, 4, 5))
    assert [o for _, o, _ in chunk.records] == [4, 5]
    assert chunk.held_back == 1
    assert chunk.seeks == {2: 4}  # asked before 4 came: 4 and 5 will come again, skipped
    apply(progress, chunk.applied)
    assert gate.admit(records(2, 4, 5, 6)).redelivered == 2


def test_a_partition_without_progress_starts_at_its_earliest_offset() -> None:
    # Faust can commit past a never-delivered record at the head of a partition with
    # no committed offset: the first record seen is not proof that it is the first.
    gate = IngestGate(IngestProgress(DictTable()))
    unknown = gate.admit(records(3, 1))  # its earliest offset could not be had yet
    assert (unknown.records, unknown.seeks, unknown.held_back) == ([], {}, 1)
    gate.set_starts({3: 0})
    chunk = gate.admit(records(3, 1, 2))
    assert chunk.records == []
    assert chunk.seeks == {3: 0}


def test_progress_records_are_not_devices() -> None:
    table = DictTable()
    devices = DeviceTable(table)
    states = DeviceStates(devices, lambda _d: WearerProfile(), ProcessorSettings())
    watch = Watch(states, heartbeat_s=5.0)
    at = dt.datetime(2026, 11, 2, 8, tzinfo=dt.UTC)
    watch.put("wb-0001", 0, Contact(received_at=at))
    states.checkpoint()
    progress = IngestProgress(table)
    progress.put(0, 12)
    progress.checkpoint()
    assert progress_key(0) in table.data
    assert [device for device, _ in devices.items()] == ["wb-0001"]
    assert [device for device, _, _ in watch.contacts({0})] == ["wb-0001"]


def test_the_applied_progress_is_due_for_commit_where_the_group_is_behind() -> None:
    progress = IngestProgress(DictTable())
    progress.put(0, 41)  # applied up to 41: the group may read on from 42
    progress.put(1, 9)
    progress.put(2, 5)
    committed = {0: 30, 1: 10, 2: None}  # 1 is committed as far as applied; 2 never
    assert progress.due({0, 1, 2}, committed) == {}  # staged only
    progress.checkpoint()
    assert progress.due({0, 1, 2}, committed) == {}  # written, not acknowledged yet
    progress.flushed()
    assert progress.due({0, 1, 2, 3}, committed) == {0: 42, 2: 6}  # 3: nothing applied
    assert progress.due({1}, committed) == {}
    progress.put(0, 50)  # not yet in the changelog: not committed, nor its older value
    assert progress.due({0, 2}, committed) == {2: 6}
    progress.checkpoint()
    assert progress.due({0, 2}, committed) == {2: 6}
    progress.flushed()
    assert progress.due({0, 2}, committed) == {0: 51, 2: 6}
