"""Commands to the wearer's band (and app) over MQTT: vibrate, speak, offer a cancel.

A ladder's ``DeviceCommand`` becomes one JSON message (``vigil.command.v1``) on
``vigil/v1/alert/{device_id}``, published with QoS 1; the action counts as sent once
the broker acknowledged it. The band shows and speaks ``text``, vibrates, and while
``cancellable`` (the grace period) offers a cancel, which it sends back as a ``cancel``
event naming ``command_id`` (docs/wire-protocol.md).
"""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alerting.contacts import Language
from alerting.driver import SendError
from alerting.ladder import Action, DeviceCommand
from schemas.topics import alert_topic

COMMAND_V1 = "vigil.command.v1"
_CANCELLABLE = frozenset({"grace"})  # templates whose command offers a cancel


class BandCommand(msgspec.Struct, frozen=True, kw_only=True, tag_field="schema", tag=COMMAND_V1):
    """What the band is asked to do."""

    command_id: str
    device_id: str
    kind: str  # the template: "grace", "reminder", ...
    text: str
    language: Language
    vibrate: bool = True
    cancellable: bool = False


class MqttBandSender:
    """Publishes band commands with its own MQTT connection (paho, QoS 1)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        tls_ca: str | None = None,
        client_id: str | None = None,
        mqtt5: bool = True,
        publish_timeout_s: float = 10.0,
    ) -> None:
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"vigil-commands-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5 if mqtt5 else paho.MQTTv311,
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls_ca is not None:
            self._client.tls_set(ca_certs=tls_ca)  # and the broker's name is checked
        self._host, self._port = host, port
        self._timeout_s = publish_timeout_s

    def start(self) -> None:
        """Connect; paho reconnects by itself afterwards."""
        self._client.connect_async(self._host, self._port)
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    async def send(self, action: Action, text: str) -> str:
        """Publish the command; the message id once the broker acknowledged it."""
        if not isinstance(action, DeviceCommand):
            raise SendError("not a band command", permanent=True)
        command = BandCommand(
            command_id=action.key,
            device_id=action.device_id,
            # The band needs what it is, not which wording: a note is part of ``text``.
            kind=action.template.removesuffix("_note"),
            text=text,
            language=action.language,
            cancellable=action.template in _CANCELLABLE,
        )
        info = self._client.publish(
            alert_topic(action.device_id), msgspec.json.encode(command), qos=1
        )
        try:
            await asyncio.to_thread(info.wait_for_publish, self._timeout_s)
        except (RuntimeError, ValueError) as exc:  # paho: not queued (e.g. no connection)
            raise SendError(f"band command not sent: {exc}", permanent=False) from exc
        if not info.is_published():
            raise SendError("the broker did not acknowledge the band command", permanent=False)
        return f"mqtt-{info.mid}"
