"""An MQTT subscriber that acknowledges a QoS 1 message only when told to.

aiomqtt 2.5 acknowledges every message as it arrives and discards messages when its
queue is full, which breaks the rule "acknowledge after the effect is durable" (house
rule 9). This adapter drives paho-mqtt directly with ``manual_ack`` instead:

* MQTT 5 with ``clean_start=False`` and a Session Expiry Interval (MQTT 3.1.1:
  ``clean_session=False``), QoS 1 subscriptions and a stable client id, so the
  broker keeps unacknowledged messages across a restart of this process.
* Receive Maximum caps how many unacknowledged messages the broker sends us; the
  hand-off queue is bounded too, and when it is full the network thread blocks, so
  backpressure reaches the broker instead of messages being dropped.
* Optional shared-subscription group (``$share/<group>/<filter>``) to balance
  several ingest processes.
* Reconnects with exponential backoff and full jitter; availability is logged on
  transitions only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from ingest.mqtt.errors import NotAuthorized

log = logging.getLogger(__name__)

_HANDOFF_POLL_S = 0.25
_BAD_CREDENTIALS = {"Bad user name or password", "Not authorized"}


class MqttSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Connection settings of an MQTT subscriber (built from ``vigil.settings``)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = msgspec.field(default=None)
    client_id: str = "vigil-ingest"
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600
    receive_maximum: int = 1000
    queue_size: int = 2000
    shared_group: str | None = None
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0

    def __repr__(self) -> str:
        """Hide the password."""
        return f"MqttSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r})"


class Inbound(msgspec.Struct, frozen=True):
    """A message as received, with what is needed to acknowledge it later."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int


def backoff_delay(attempt: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, min * 2**attempt)]."""
    return rng.uniform(0.0, min(max_s, min_s * (2**attempt)))


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
        self._handoff: queue.Queue[Inbound] = queue.Queue(maxsize=settings.queue_size)
        self._generation = 0
        self._closing = threading.Event()
        self._client = self._make_client()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected: asyncio.Event | None = None
        self._lost: asyncio.Event | None = None
        self._fatal: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected_once = False

    def _make_client(self) -> paho.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            clean_session=None if v5 else False,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.enable_logger(logging.getLogger("paho.mqtt"))
        return client

    # -- paho callbacks (network thread) ------------------------------------------------

    def _on_connect(
        self, client: paho.Client, _ud: Any, flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            if str(reason) in _BAD_CREDENTIALS:
                self._fatal = NotAuthorized(f"broker refused the connection: {reason}")
            self._signal(lost=True)
            return
        opts = SubscribeOptions(qos=1)
        if self.settings.protocol == "5":
            client.subscribe([(f, opts) for f in self._filters])
        else:
            client.subscribe([(f, 1) for f in self._filters])
        if flags.session_present:
            # The broker kept our session and its subscriptions, and is about to flood
            # us with what it queued: be ready now, or the full hand-off would block the
            # network thread before it ever reads the SUBACK.
            self._signal(lost=False)

    def _on_subscribe(
        self, _client: paho.Client, _ud: Any, _mid: int, reasons: list[ReasonCode], _props: Any
    ) -> None:
        # Ready only once the broker holds our subscriptions: before that, messages
        # for a brand-new persistent session would not be queued for us.
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            self._fatal = NotAuthorized(f"broker refused the subscription: {', '.join(refused)}")
            self._signal(lost=True)
            return
        self._signal(lost=False)

    def _on_disconnect(
        self, _client: paho.Client, _ud: Any, _flags: Any, _reason: Any, _props: Any
    ) -> None:
        self._signal(lost=True)

    def _on_message(self, _client: paho.Client, _ud: Any, message: paho.MQTTMessage) -> None:
        item = Inbound(
            message.topic, bytes(message.payload), message.qos, message.mid, self._generation
        )
        # Block this network thread while the hand-off is full: the broker then stops
        # sending (Receive Maximum and TCP flow control) instead of us dropping.
        while not self._closing.is_set():
            try:
                self._handoff.put(item, timeout=_HANDOFF_POLL_S)
            except queue.Full:
                continue
            return

    def _signal(self, *, lost: bool) -> None:
        loop, connected, lost_event = self._loop, self._connected, self._lost
        if loop is None or connected is None or lost_event is None:
            return
        loop.call_soon_threadsafe((lost_event if lost else connected).set)

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start the connection supervisor; returns once the first connection is up."""
        self._loop = asyncio.get_running_loop()
        self._connected, self._lost = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(self._supervise(), name="mqtt-source-supervisor")
        waiter = asyncio.create_task(self._connected.wait(), name="mqtt-source-first-connect")
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
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.shield(asyncio.to_thread(self._shutdown_client))

    def _shutdown_client(self) -> None:
        with contextlib.suppress(Exception):
            self._client.disconnect()
        self._client.loop_stop()

    async def _supervise(self) -> None:
        assert self._connected is not None  # noqa: S101
        assert self._lost is not None  # noqa: S101
        s = self.settings
        attempt = 0
        while True:
            self._connected.clear()
            self._lost.clear()
            self._generation += 1
            # A fresh paho client per connection: paho's loop_start() on a reused client
            # leaks its wake-up socket pair, and old packet ids must not be acked anyway.
            self._client = self._make_client()
            try:
                await asyncio.to_thread(self._connect_blocking)
                self._client.loop_start()
                lost_wait = asyncio.create_task(self._lost.wait(), name="mqtt-lost")
                conn_wait = asyncio.create_task(self._connected.wait(), name="mqtt-connected")
                await asyncio.wait({lost_wait, conn_wait}, return_when=asyncio.FIRST_COMPLETED)
                conn_wait.cancel()
                if self._fatal is not None:
                    raise self._fatal
                if self._connected.is_set() and not self._lost.is_set():
                    if attempt or not self.connected_once:
                        log.info("MQTT connected to %s:%d and subscribed", s.host, s.port)
                    self.connected_once = True
                    attempt = 0
                    await lost_wait
                    log.warning("MQTT connection to %s:%d lost", s.host, s.port)
                lost_wait.cancel()
            except OSError as exc:
                if attempt == 0:
                    log.warning("MQTT broker %s:%d unreachable: %s", s.host, s.port, exc)
            finally:
                await asyncio.shield(asyncio.to_thread(self._client.loop_stop))
            delay = backoff_delay(attempt, s.reconnect_min_s, s.reconnect_max_s, self._rng)
            attempt += 1
            await asyncio.sleep(delay)

    def _connect_blocking(self) -> None:
        s = self.settings
        if s.protocol == "5":
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = s.session_expiry_s
            props.ReceiveMaximum = s.receive_maximum
            self._client.connect(s.host, s.port, s.keepalive_s, clean_start=False, properties=props)
        else:
            self._client.connect(s.host, s.port, s.keepalive_s)

    # -- consuming --------------------------------------------------------------------------

    def _take(self, max_items: int, wait_s: float) -> list[Inbound]:
        try:
            first = self._handoff.get(timeout=wait_s)
        except queue.Empty:
            return []
        items = [first]
        while len(items) < max_items:
            try:
                items.append(self._handoff.get_nowait())
            except queue.Empty:
                break
        return items

    async def receive(self, max_items: int = 500, wait_s: float = 0.5) -> list[Inbound]:
        """The next chunk of up to ``max_items`` messages; empty after ``wait_s`` idle."""
        if self._task is not None and self._task.done():
            self._task.result()  # surface NotAuthorized or a supervisor bug
        return await asyncio.to_thread(self._take, max_items, wait_s)

    def ack(self, messages: Sequence[Inbound]) -> int:
        """Acknowledge stored messages; return how many PUBACKs were sent.

        A message from an earlier connection cannot be acknowledged (its packet id
        belongs to that connection); the broker redelivers it, and de-duplication
        by ``(device_id, boot_id, seq)`` drops the copy.
        """
        sent = 0
        for m in messages:
            if m.qos > 0 and m.generation == self._generation:
                self._client.ack(m.mid, m.qos)
                sent += 1
        return sent
