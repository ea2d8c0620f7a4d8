"""Devices sharded over workers: in-process (a thread each) or child processes.

A device always goes to the same shard (``shard_of``: CRC-32 of its id), so its
messages are processed in order against one state. Each shard takes jobs in order
through a bounded queue: a runner that finds the queue full waits, stops reading
from the MQTT source, whose own bounded queue then pauses the socket, and the broker
holds the rest. That is the backpressure.

Gateway statuses are stored by the gateway's shard; every other shard receives them
to observe only, since any band may be behind that gateway when its silence is
classified.

A child-process shard (``vigil/shard_process.py``) speaks length-prefixed frames over
a socket pair: jobs as MessagePack (payload bytes stay raw), replies as JSON (alert
times keep the wearer's UTC offset, which MessagePack timestamps would drop).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import datetime as dt
import logging
import socket
import struct
import sys
import zlib
from collections.abc import Sequence
from typing import Protocol

import msgspec

from ingest.mqtt.source import Inbound
from schemas import Alert
from schemas.topics import TopicKind, parse_topic
from vigil.shard_work import ChunkReport, RawMessage, ShardWork

log = logging.getLogger(__name__)

FRAME_HEADER = struct.Struct(">I")


class Work(msgspec.Struct, frozen=True, tag="work", array_like=True):
    """A shard's part of a chunk."""

    received_at: dt.datetime
    messages: list[RawMessage]
    observe: list[RawMessage]


class Tick(msgspec.Struct, frozen=True, tag="tick", array_like=True):
    """Check the shard's bands for a lost signal."""

    backend_ok: bool


Job = Work | Tick


class Ready(msgspec.Struct, frozen=True, tag="ready"):
    """A child shard has opened the store and seeded its silence checks."""

    seeded: int


class Done(msgspec.Struct, frozen=True, tag="done"):
    report: ChunkReport


class Ticked(msgspec.Struct, frozen=True, tag="ticked"):
    alerts: list[Alert]


Reply = Ready | Done | Ticked
JOB_ENCODER = msgspec.msgpack.Encoder()
JOB_DECODER = msgspec.msgpack.Decoder(Job)
REPLY_ENCODER = msgspec.json.Encoder()
REPLY_DECODER = msgspec.json.Decoder(Reply)


class ShardError(RuntimeError):
    """A shard's worker ended: the runner stops; unacknowledged messages are redelivered."""


def shard_of(key: str, count: int) -> int:
    """The shard that owns a device (or gateway) id: stable across runs and processes."""
    return zlib.crc32(key.encode()) % count if count > 1 else 0


def route(chunk: Sequence[Inbound], count: int) -> list[tuple[list[RawMessage], list[RawMessage]]]:
    """Per shard: the messages it owns, and the gateway statuses it only observes.

    A topic that is not ours goes to shard 0, which dead-letters it.
    """
    parts: list[tuple[list[RawMessage], list[RawMessage]]] = [([], []) for _ in range(count)]
    for m in chunk:
        raw = RawMessage(m.topic, m.payload, m.size)
        parsed = parse_topic(m.topic)
        owner = shard_of(parsed[1], count) if parsed else 0
        parts[owner][0].append(raw)
        if parsed and parsed[0] is TopicKind.GATEWAY_STATUS:
            for index in range(count):
                if index != owner:
                    parts[index][1].append(raw)
    return parts


class Shard(Protocol):
    """One worker's devices, taking jobs in order."""

    async def start(self) -> int:
        """Start the worker; return how many bands it seeded silence checks for."""
        ...

    async def submit(self, job: Job) -> asyncio.Future[ChunkReport | list[Alert]]:
        """Queue a job (waiting while the queue is full); the future of its outcome."""
        ...

    async def close(self) -> None:
        """Stop the worker once the jobs queued are done."""
        ...


def outcome(job: Job, work: ShardWork) -> ChunkReport | list[Alert]:
    """Run one job against a shard's work (blocking)."""
    if isinstance(job, Work):
        return work.process(job.messages, job.received_at, job.observe)
    return work.tick(job.backend_ok)


class LocalShard:
    """A shard in this process: its blocking work runs in a thread, one job at a time."""

    def __init__(self, work: ShardWork, *, capacity: int = 2, close_store: bool = False) -> None:
        self.work = work
        self._close_store = close_store
        self._queue: asyncio.Queue[tuple[Job, asyncio.Future[ChunkReport | list[Alert]]]] = (
            asyncio.Queue(capacity)
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        seeded = await asyncio.to_thread(self.work.seed_silence_checks)
        self._task = asyncio.create_task(self._serve(), name="shard-local")
        return seeded

    async def submit(self, job: Job) -> asyncio.Future[ChunkReport | list[Alert]]:
        future: asyncio.Future[ChunkReport | list[Alert]] = (
            asyncio.get_running_loop().create_future()
        )
        await self._queue.put((job, future))
        return future

    async def _serve(self) -> None:
        while True:
            job, future = await self._queue.get()
            try:
                result = await asyncio.to_thread(outcome, job, self.work)
            except Exception as exc:  # noqa: BLE001 - handed to whoever waits on it
                future.set_exception(exc)
            else:
                future.set_result(result)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._close_store:
            self.work.store.close()


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = FRAME_HEADER.unpack(await reader.readexactly(FRAME_HEADER.size))
    return await reader.readexactly(size)


def framed(body: bytes) -> bytes:
    return FRAME_HEADER.pack(len(body)) + body


class ProcessShard:
    """A shard in a child process (``python -m vigil.shard_process``), same settings."""

    def __init__(self, index: int, count: int, *, capacity: int = 2) -> None:
        self.index = index
        self.count = count
        self._room = asyncio.Semaphore(capacity)
        self._waiting: collections.deque[asyncio.Future[ChunkReport | list[Alert]]] = (
            collections.deque()
        )
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reading: asyncio.Task[None] | None = None
        self._failed: ShardError | None = None

    async def start(self) -> int:
        parent, child = socket.socketpair()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "vigil.shard_process",
                f"--index={self.index}",
                f"--count={self.count}",
                f"--fd={child.fileno()}",
                pass_fds=(child.fileno(),),
                # Ctrl-C reaches the runner only; the child ends when its socket closes.
                start_new_session=True,
            )
        finally:
            child.close()
        self._reader, self._writer = await asyncio.open_unix_connection(sock=parent)
        try:
            reply = REPLY_DECODER.decode(await read_frame(self._reader))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ShardError(f"shard {self.index} did not start: {await self._ended()}") from exc
        if not isinstance(reply, Ready):  # pragma: no cover - protocol bug
            raise ShardError(f"shard {self.index} said {type(reply).__name__} first")
        self._reading = asyncio.create_task(self._read_replies(), name=f"shard-{self.index}")
        return reply.seeded

    async def _ended(self) -> str:
        assert self._proc is not None  # noqa: S101
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                return f"its process exited with code {await self._proc.wait()}"
        return "its socket closed"

    async def submit(self, job: Job) -> asyncio.Future[ChunkReport | list[Alert]]:
        await self._room.acquire()
        if self._failed is not None:
            self._room.release()
            raise self._failed
        assert self._writer is not None  # noqa: S101 - started
        future: asyncio.Future[ChunkReport | list[Alert]] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(future)
        self._writer.write(framed(JOB_ENCODER.encode(job)))
        await self._writer.drain()
        return future

    async def _read_replies(self) -> None:
        assert self._reader is not None  # noqa: S101
        try:
            while True:
                reply = REPLY_DECODER.decode(await read_frame(self._reader))
                future = self._waiting.popleft()
                self._room.release()
                if isinstance(reply, Done):
                    future.set_result(reply.report)
                elif isinstance(reply, Ticked):
                    future.set_result(reply.alerts)
        except (asyncio.IncompleteReadError, ConnectionError):
            self._failed = ShardError(f"shard {self.index} stopped: {await self._ended()}")
            while self._waiting:
                self._waiting.popleft().set_exception(self._failed)
            self._room.release()  # wake a submitter so it sees the failure

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._reading is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
        if self._proc is not None and self._proc.returncode is None:
            try:
                async with asyncio.timeout(10.0):
                    await self._proc.wait()
            except TimeoutError:
                log.warning("shard %d did not stop; killing it", self.index)
                self._proc.kill()
                await self._proc.wait()
