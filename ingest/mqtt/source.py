"""An asyncio MQTT subscriber that acknowledges a QoS 1 message only when told to.

aiomqtt 2.5 acknowledges every message as it arrives and discards messages when its
queue is full, which breaks the rule "acknowledge after the effect is durable" (house
rule 9); paho-mqtt's threaded loop cost more per message than everything else Vigil
does with it (``docs/architecture.md``). This source is a thin asyncio transport over
the sans-I/O codec in ``ingest.mqtt.packets``:

* MQTT 5 with ``clean_start=False`` and a Session Expiry Interval (MQTT 3.1.1:
  ``clean_session=False``), QoS 1 subscriptions and a stable client id, so the
  broker keeps unacknowledged messages across a restart of this process.
* Receive Maximum caps how many unacknowledged messages the broker sends us; the
  hand-off queue is bounded too: when it holds ``queue_size`` messages the socket
  stops being read, so backpressure reaches the broker (TCP flow control) instead
  of messages being dropped.
* Optional shared-subscription group (``$share/<group>/<filter>``) to balance
  several ingest processes.
* Keep-alive pings; reconnects with exponential backoff and full jitter;
  availability is logged on transitions only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Literal, Self

import msgspec

from ingest.mqtt.errors import BrokerRefused, MqttProtocolError, NotAuthorized
from ingest.mqtt.packets import (
    DISCONNECT_BYTES,
    PINGREQ_BYTES,
    ConnAck,
    Disconnect,
    PacketReader,
    PingResp,
    Publish,
    SubAck,
    encode_connect,
    encode_puback,
    encode_subscribe,
)

log = logging.getLogger(__name__)

_SUBSCRIBE_PACKET_ID = 1


class MqttSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Connection settings of an MQTT subscriber (built from ``vigil.settings``)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = msgspec.field(default=None)
    tls_ca: str | None = None  # a CA file: connect over TLS and check the broker against it
    client_id: str = "vigil-ingest"
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 1000
    queue_size: int = 2000
    max_packet_bytes: int = 1 << 20
    shared_group: str | None = None
    connect_timeout_s: float = 10.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0

    def __repr__(self) -> str:
        """Hide the password."""
        return f"MqttSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r})"


class Inbound(msgspec.Struct, frozen=True):
    """A message as received, with what is needed to acknowledge it later.

    ``size`` is the payload's size on the wire; when it exceeds the source's packet
    bound only the head of the payload is kept (``truncated``).
    """

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int
    size: int | None = None

    @property
    def truncated(self) -> bool:
        """True when the payload was too large to keep whole."""
        return self.size is not None and self.size > len(self.payload)


def backoff_delay(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, min * 2**attempt)]."""
    return rng.uniform(0.0, min(max_s, min_s * (2**attempt)))


class _Connection(asyncio.Protocol):
    """One TCP connection: parses packets and routes them to the source."""

    def __init__(self, source: MqttSource, generation: int) -> None:
        self.source = source
        self.generation = generation
        self.reader = PacketReader(
            source.settings.protocol, max_packet_bytes=source.settings.max_packet_bytes
        )
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[ConnAck] = loop.create_future()
        self.suback: asyncio.Future[SubAck] = loop.create_future()
        self.closed = asyncio.Event()
        self.transport: asyncio.Transport | None = None
        self.pongs = 0
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - TCP only
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            packets = self.reader.feed(data)
        except MqttProtocolError as exc:
            log.warning("MQTT protocol error from the broker, reconnecting: %s", exc)
            self.abort()
            return
        deliver = self.source._deliver
        generation = self.generation
        for p in packets:
            if isinstance(p, Publish):
                deliver(Inbound(p.topic, p.payload, p.qos, p.packet_id, generation, p.size))
            elif isinstance(p, PingResp):
                self.pongs += 1
            elif isinstance(p, ConnAck):
                if not self.connack.done():
                    self.connack.set_result(p)
            elif isinstance(p, SubAck):
                if not self.suback.done():
                    self.suback.set_result(p)
            elif isinstance(p, Disconnect):
                log.warning("MQTT broker disconnected us, reason 0x%02x", p.reason_code)
                self.abort()
        self.source._after_delivery(self)

    def connection_lost(self, exc: Exception | None) -> None:
        lost = ConnectionError(f"connection lost: {exc or 'closed by the broker'}")
        for fut in (self.connack, self.suback):
            if not fut.done():
                fut.set_exception(lost)
                fut.exception()  # retrieved: nobody may be waiting any more
        self.closed.set()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def pause(self) -> None:
        if not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()


class MqttSource:
    """Subscribe to topic filters and hand messages over in chunks; ack on request.

    Use as an async context manager; ``receive()`` returns the next chunk, and
    ``ack(messages)`` acknowledges them (call it after they are stored).
    """

    def __init__(
        self,
        settings: MqttSettings,
        filters: Sequence[str],
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._filters = [
            f"$share/{settings.shared_group}/{f}" if settings.shared_group else f for f in filters
        ]
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._queue: collections.deque[Inbound] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._ready: asyncio.Event | None = None
        self._conn: _Connection | None = None
        self._generation = 0
        self._task: asyncio.Task[None] | None = None
        self.connected_once = False
        # When the current connection's subscriptions took (monotonic), None while down:
        # a runner that has been disconnected cannot tell a silent band from its own gap.
        self.connected_since: float | None = None
        self._watches: list[tuple[str, Callable[[Inbound], None]]] = []

    def watch(self, topic_prefix: str, callback: Callable[[Inbound], None]) -> None:
        """Show ``callback`` each message under ``topic_prefix`` as soon as it arrives.

        Before the message waits in the queue; it still goes through ``receive``. The
        callback runs in the connection's callback: it must be quick and not raise.
        """
        self._watches.append((topic_prefix, callback))

    # -- called by the connection ---------------------------------------------------------

    def _deliver(self, item: Inbound) -> None:
        self._queue.append(item)
        for prefix, callback in self._watches:
            if item.topic.startswith(prefix):
                try:
                    callback(item)
                except Exception:  # the message still goes the normal way
                    log.exception("a watcher of %s failed", prefix)

    def _after_delivery(self, conn: _Connection) -> None:
        if self._queue:
            assert self._arrived is not None  # noqa: S101
            self._arrived.set()
            if len(self._queue) >= self.settings.queue_size:
                conn.pause()

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the connection supervisor; returns once the first connection is up."""
        self._arrived, self._ready = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._supervise(), name="mqtt-source-supervisor")
        waiter = asyncio.create_task(self._ready.wait(), name="mqtt-source-first-connect")
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()  # raises NotAuthorized
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop: unacknowledged messages stay with the broker for the next session."""
        conn = self._conn
        if conn is not None and conn.transport is not None:
            # DISCONNECT with no reason keeps the session; close() flushes pending PUBACKs.
            conn.write(DISCONNECT_BYTES)
            conn.transport.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.connect_timeout_s):
                    await conn.closed.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _supervise(self) -> None:
        s = self.settings
        attempt = 0
        while True:
            try:
                await self._session()
                attempt = 0
                log.warning("MQTT connection to %s:%d lost", s.host, s.port)
            except (OSError, TimeoutError, BrokerRefused) as exc:
                if attempt == 0:
                    log.warning("MQTT broker %s:%d unreachable: %s", s.host, s.port, exc)
            delay = backoff_delay(attempt, s.reconnect_min_s, s.reconnect_max_s, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        """Connect, subscribe, and return when the connection is lost."""
        s = self.settings
        loop = asyncio.get_running_loop()
        self._generation += 1
        conn = _Connection(self, self._generation)
        async with asyncio.timeout(s.connect_timeout_s):
            if s.tls_ca is None:
                await loop.create_connection(lambda: conn, s.host, s.port)
            else:
                context = ssl.create_default_context(cafile=s.tls_ca)
                await loop.create_connection(
                    lambda: conn, s.host, s.port, ssl=context, server_hostname=s.host
                )
        try:
            conn.write(
                encode_connect(
                    client_id=s.client_id,
                    protocol=s.protocol,
                    keepalive_s=s.keepalive_s,
                    clean_start=False,
                    session_expiry_s=s.session_expiry_s,
                    receive_maximum=s.receive_maximum,
                    username=s.username,
                    password=s.password,
                )
            )
            async with asyncio.timeout(s.connect_timeout_s):
                connack = await conn.connack
            if not connack.accepted:
                reason = f"broker refused the connection (reason {connack.reason_code:#04x})"
                if connack.bad_credentials:
                    raise NotAuthorized(reason)
                raise BrokerRefused(reason)
            self._conn = conn
            conn.write(
                encode_subscribe(_SUBSCRIBE_PACKET_ID, self._filters, qos=1, protocol=s.protocol)
            )
            if connack.session_present:
                # The broker kept our session and its subscriptions and is sending what
                # it queued: start consuming now rather than after the SUBACK.
                self._mark_ready()
            async with asyncio.timeout(s.connect_timeout_s):
                suback = await conn.suback
            if suback.refused:
                codes = ", ".join(f"{c:#04x}" for c in suback.refused)
                raise NotAuthorized(f"broker refused the subscription ({codes})")
            # Ready only once the broker holds our subscriptions: before that, messages
            # for a brand-new persistent session would not be queued for us.
            self._mark_ready()
            keepalive = connack.server_keep_alive_s or s.keepalive_s
            async with asyncio.TaskGroup() as tg:
                pinger = tg.create_task(self._keep_alive(conn, keepalive), name="mqtt-keepalive")
                await conn.closed.wait()
                pinger.cancel()
        finally:
            if self._conn is conn:
                self._conn = None
                self.connected_since = None
            if conn.transport is not None and not conn.transport.is_closing():
                conn.abort()  # a graceful close() in progress must flush, not abort

    def _mark_ready(self) -> None:
        assert self._ready is not None  # noqa: S101
        if not self._ready.is_set():
            s = self.settings
            log.info("MQTT connected to %s:%d and subscribed", s.host, s.port)
        self._ready.set()
        self.connected_once = True
        self.connected_since = time.monotonic()

    @staticmethod
    async def _keep_alive(conn: _Connection, keepalive_s: int) -> None:
        """PINGREQ every half keep-alive; no PINGRESP within a keep-alive drops the link."""
        if keepalive_s <= 0:
            return
        interval = keepalive_s / 2
        while True:
            await asyncio.sleep(interval)
            pongs = conn.pongs
            conn.write(PINGREQ_BYTES)
            await asyncio.sleep(interval)
            if conn.pongs == pongs:
                log.warning("MQTT broker did not answer a ping within %d s", keepalive_s)
                conn.abort()
                return

    # -- consuming --------------------------------------------------------------------------

    async def receive(self, max_items: int = 500, wait_s: float = 0.5) -> list[Inbound]:
        """The next chunk of up to ``max_items`` messages; empty after ``wait_s`` idle."""
        if self._task is not None and self._task.done():
            self._task.result()  # surface NotAuthorized or a supervisor bug
        assert self._arrived is not None  # noqa: S101 - used inside ``async with``
        queue = self._queue
        if not queue:
            self._arrived.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await self._arrived.wait()
            except TimeoutError:
                return []
        n = min(max_items, len(queue))
        items = [queue.popleft() for _ in range(n)]
        conn = self._conn
        if conn is not None and conn.paused and len(queue) < self.settings.queue_size // 2 + 1:
            conn.resume()
        return items

    def pending(self) -> int:
        """Messages received and not yet taken by ``receive``."""
        return len(self._queue)

    def receiving(self, catch_up_s: float, max_pending: int) -> bool:
        """Connected for ``catch_up_s`` (the backlog since reconnecting is in) and keeping up.

        When this is false a band's silence may be the pipeline's own, not the band's.
        """
        since = self.connected_since
        return (
            since is not None
            and time.monotonic() - since >= catch_up_s
            and self.pending() < max_pending
        )

    def ack(self, messages: Sequence[Inbound]) -> int:
        """Acknowledge stored messages; return how many PUBACKs were sent.

        A message from an earlier connection cannot be acknowledged (its packet id
        belongs to that connection); the broker redelivers it, and de-duplication
        by ``(device_id, boot_id, seq)`` drops the copy.
        """
        conn = self._conn
        if conn is None:
            return 0
        generation = conn.generation
        acks = [encode_puback(m.mid) for m in messages if m.qos and m.generation == generation]
        if acks:
            conn.write(b"".join(acks))
        return len(acks)
