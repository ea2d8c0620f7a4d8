"""A gateway's MQTT uplink: the spool sent to the broker in order, and the gateway's status.

paho-mqtt with its network loop in a thread: it reconnects by itself with backoff (1 s
doubling to 30 s). ``pump`` publishes the spool's head at QoS 1 and removes a message
only after its PUBACK, in order: a message that was not acknowledged stays, and so does
everything after it, to be sent again (``ingest/spool.py``). Availability is logged on
transitions only.

Status: the gateway's retained ``GatewayStatusV1`` on ``vigil/v1/gateway/<id>/status``,
"online" with the bands it serves when it connects (and when they change), "offline" as
its last will and when it stops. Every status of one connection carries the
connection's start as ``reported_at``, and the will that moment plus a microsecond: the
backend keeps a gateway's newest status (``storage``, ``gateway_status``), so a will
the broker sends for a lost connection supersedes that connection's statuses, and the
next connection's supersede the will.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Sequence
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ingest.spool import Spool
from schemas import GatewayStatusV1, encode
from schemas.topics import gateway_status_topic

log = logging.getLogger(__name__)


class Uplink:
    """Publishes a spool and a gateway's status through one MQTT connection."""

    def __init__(
        self,
        spool: Spool,
        *,
        gateway_id: str,
        host: str,
        port: int,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
        protocol: Literal["5", "3.1.1"] = "5",
        keepalive_s: int = 30,
        ack_timeout_s: float = 10.0,
    ) -> None:
        self.spool = spool
        self.gateway_id = gateway_id
        self._host, self._port, self._keepalive_s = host, port, keepalive_s
        self.ack_timeout_s = ack_timeout_s
        self._status_topic = gateway_status_topic(gateway_id)
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"gateway-{gateway_id}",
            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls_ca is not None:
            self._client.tls_set(ca_certs=tls_ca)  # and the broker's name is checked
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_pre_connect = self._before_connect
        self._client.on_connect = self._connected
        self._client.on_disconnect = self._disconnected
        self._lock = threading.Lock()
        self._bands: tuple[str, ...] = ()
        self._session_at = dt.datetime.now(dt.UTC)
        self._up: bool | None = None  # unknown until the first attempt ends
        self._stopping = False
        self.connected = threading.Event()

    def _status(self, state: Literal["online", "offline"], at: dt.datetime) -> bytes:
        return encode(
            GatewayStatusV1(
                gateway_id=self.gateway_id,
                state=state,
                reported_at=at,
                connected_devices=self._bands if state == "online" else (),
            )
        )

    def _before_connect(self, client: paho.Client, _userdata: Any) -> None:
        with self._lock:
            self._session_at = dt.datetime.now(dt.UTC)
            will_at = self._session_at + dt.timedelta(microseconds=1)
        client.will_set(self._status_topic, self._status("offline", will_at), qos=1, retain=True)

    def _connected(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            self._transition(up=False, why=f"refused: {reason}")
            return
        self.connected.set()
        self._transition(up=True, why="connected")
        with self._lock:
            payload = self._status("online", self._session_at)
        client.publish(self._status_topic, payload, qos=1, retain=True)

    def _disconnected(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self.connected.clear()
        if not self._stopping:
            self._transition(up=False, why=str(reason))

    def _transition(self, *, up: bool, why: str) -> None:
        if self._up is up:
            return
        self._up = up
        if up:
            log.info("broker %s:%d reachable (%s)", self._host, self._port, why)
        else:
            log.warning(
                "broker %s:%d unreachable (%s); %d messages spooled",
                self._host,
                self._port,
                why,
                len(self.spool),
            )

    def start(self) -> None:
        """Connect in the background; paho reconnects on its own from then on."""
        self._client.connect_async(self._host, self._port, keepalive=self._keepalive_s)
        self._client.loop_start()

    def serving(self, bands: Sequence[str]) -> None:
        """The bands the gateway is connected to now: published as its status."""
        with self._lock:
            self._bands = tuple(sorted(bands))
            payload = self._status("online", self._session_at)
        if self.connected.is_set():
            self._client.publish(self._status_topic, payload, qos=1, retain=True)

    def pump(self, limit: int = 100) -> int:
        """Publish the spool's head; how many messages the broker acknowledged.

        Blocking, at most ``ack_timeout_s`` per message; those acknowledged leave the spool.
        """
        if not self.connected.is_set():
            return 0
        head = self.spool.head(limit)
        sent = [(m.spool_id, self._client.publish(m.topic, m.payload, qos=1)) for m in head]
        acknowledged = []
        for spool_id, info in sent:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
            try:
                info.wait_for_publish(self.ack_timeout_s)
            except (RuntimeError, ValueError):  # the connection went meanwhile
                break
            if not info.is_published():
                break
            acknowledged.append(spool_id)
        self.spool.done(acknowledged)
        return len(acknowledged)

    def stop(self) -> None:
        """Say "offline", disconnect and stop the network thread."""
        self._stopping = True
        if self.connected.is_set():
            info = self._client.publish(
                self._status_topic,
                self._status("offline", dt.datetime.now(dt.UTC)),
                qos=1,
                retain=True,
            )
            try:
                info.wait_for_publish(self.ack_timeout_s)
            except (RuntimeError, ValueError):
                log.warning("the offline status was not acknowledged")
        self._client.disconnect()
        self._client.loop_stop()
