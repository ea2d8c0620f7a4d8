"""The gateway's spool: durable across a restart, in order, bounded with the oldest dropped."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.spool import Spool
from schemas.records import DeadLetter


def test_messages_leave_in_order_and_only_when_done(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db")
    for n in range(5):
        spool.put("vigil/v1/telemetry/wb-0001", f"batch {n}".encode())
    first = spool.head(2)
    assert [m.payload for m in first] == [b"batch 0", b"batch 1"]
    assert [m.payload for m in spool.head(2)] == [b"batch 0", b"batch 1"], "not taken yet"
    spool.done([m.spool_id for m in first])
    assert [m.payload for m in spool.head(10)] == [b"batch 2", b"batch 3", b"batch 4"]
    assert len(spool) == 3
    spool.done([first[0].spool_id])  # acknowledged twice (a resend): nothing else goes
    assert len(spool) == 3
    spool.close()


def test_a_full_spool_drops_its_oldest_and_counts_them_across_restarts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_messages=3)
    dropped = [spool.put("t", bytes([n])) for n in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert [m.payload for m in spool.head(10)] == [b"\x02", b"\x03", b"\x04"]
    spool.close()
    again = Spool(tmp_path / "spool.db", max_messages=3)
    assert (len(again), again.dropped) == (3, 2)
    again.close()


def _put_then_die(path: str, count: int) -> None:
    spool = Spool(path)
    for n in range(count):
        spool.put("t", n.to_bytes(4, "little"))
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no flush: only what put made durable


def test_what_put_returned_survives_the_gateway_being_killed(tmp_path: Path) -> None:
    path = str(tmp_path / "spool.db")
    child = multiprocessing.get_context("spawn").Process(target=_put_then_die, args=(path, 200))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    spool = Spool(path)
    assert [int.from_bytes(m.payload, "little") for m in spool.head(1000)] == list(range(200))
    spool.close()


@settings(max_examples=30, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("put"), st.binary(max_size=8)),
            st.tuples(st.just("send"), st.integers(1, 4)),
        ),
        max_size=40,
    )
)
def test_puts_and_sends_in_any_order_deliver_each_message_once_in_order(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, object]]
) -> None:
    """What a sender takes from the head and acknowledges is exactly what was put, in order."""
    path = tmp_path_factory.mktemp("spool") / "spool.db"
    spool = Spool(path)
    put: list[bytes] = []
    sent: list[bytes] = []
    for kind, value in steps:
        if kind == "put":
            assert isinstance(value, bytes)
            spool.put("t", value)
            put.append(value)
        else:
            assert isinstance(value, int)
            taken = spool.head(value)
            sent += [m.payload for m in taken]
            spool.done([m.spool_id for m in taken])
    sent += [m.payload for m in spool.head(len(put) + 1)]
    assert sent == put
    spool.close()


def test_dead_letters_are_kept_newest_first_within_their_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.db", max_dead_letters=2)
    at = dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC)
    for n in range(3):
        spool.dead_letter(
            DeadLetter.of(
                received_at=at, topic="ble/wb-0001/0x2A37", reason="malformed_gatt",
                detail=f"letter {n}", payload=bytes([1, n]),
            )
        )  # fmt: skip
    spool.close()
    again = Spool(tmp_path / "spool.db", max_dead_letters=2)
    kept = again.dead_letters()
    assert [(d.detail, d.payload) for d in kept] == [
        ("letter 2", b"\x01\x02"),
        ("letter 1", b"\x01\x01"),
    ]
    assert len(again) == 0, "dead letters are not messages to send"
    again.close()
