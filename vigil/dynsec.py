"""The broker identities through Mosquitto's dynamic-security plugin, where it is loaded.

With the plugin, Mosquitto keeps clients, roles and ACLs itself and changes them at
once, without a reload, through JSON commands on ``$CONTROL/dynamic-security/v1``
(Mosquitto 2.0, docs "Dynamic Security plugin"). ``vigil devices provision`` and
``revoke`` send them when ``VIGIL_DYNSEC_ADMIN_USERNAME`` and ``_PASSWORD`` name the
plugin's admin, as well as writing the password and ACL files (``vigil/broker_auth.py``).

Each identity is one client with a role of its own, ``vigil:<name>``, whose ACLs grant
exactly what ``acl_text`` grants it: a band sends only its own uplink and is sent only
its own alert topic. The defaults are set to deny every publish and subscription not
granted. Re-provisioning deletes the client first: its old password stops working and a
connection using it is closed.
"""

from __future__ import annotations

import json
import queue
import ssl
import uuid
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from schemas.topics import PREFIX
from vigil.broker_auth import Identity

CONTROL = "$CONTROL/dynamic-security/v1"
NOT_FOUND = "not found"  # in the plugin's error for a missing client or role


class DynsecError(RuntimeError):
    """The plugin refused a command, or did not answer."""


def _acl(kind: str, topic: str) -> dict[str, Any]:
    return {"acltype": kind, "topic": topic, "priority": 0, "allow": True}


def role_acls(who: Identity) -> list[dict[str, Any]]:
    """The ACLs of ``who``'s role: the same grants as the ACL file's."""
    if who.kind == "device":
        return [
            _acl("publishClientSend", f"{PREFIX}/telemetry/{who.name}"),
            _acl("publishClientSend", f"{PREFIX}/event/{who.name}"),
            _acl("subscribeLiteral", f"{PREFIX}/alert/{who.name}"),
            _acl("publishClientReceive", f"{PREFIX}/alert/{who.name}"),
        ]
    if who.kind == "gateway":
        acls = [_acl("publishClientSend", f"{PREFIX}/gateway/{who.name}/status")]
        for band in who.bands:
            acls.append(_acl("publishClientSend", f"{PREFIX}/telemetry/{band}"))
            acls.append(_acl("publishClientSend", f"{PREFIX}/event/{band}"))
        return acls
    read = [f"{PREFIX}/telemetry/+", f"{PREFIX}/event/+", f"{PREFIX}/gateway/+/status"]
    return [
        *(_acl("subscribePattern", t) for t in read),
        *(_acl("publishClientReceive", t) for t in read),
        _acl("publishClientSend", f"{PREFIX}/alert/+"),
    ]


def role_name(name: str) -> str:
    """The role of an identity."""
    return f"vigil:{name}"


DENY_BY_DEFAULT = {
    "command": "setDefaultACLAccess",
    "acls": [
        {"acltype": "publishClientSend", "allow": False},
        {"acltype": "publishClientReceive", "allow": False},
        {"acltype": "subscribe", "allow": False},
        {"acltype": "unsubscribe", "allow": True},
    ],
}


def provision_commands(who: Identity, password: str) -> list[dict[str, Any]]:
    """The commands that (re)create ``who`` with ``password``."""
    role = role_name(who.name)
    return [
        DENY_BY_DEFAULT,
        {"command": "deleteClient", "username": who.name},
        {"command": "deleteRole", "rolename": role},
        {"command": "createRole", "rolename": role, "acls": role_acls(who)},
        {
            "command": "createClient",
            "username": who.name,
            "password": password,
            "roles": [{"rolename": role}],
        },
    ]


def revoke_commands(name: str) -> list[dict[str, Any]]:
    """The commands that remove an identity."""
    return [
        {"command": "deleteClient", "username": name},
        {"command": "deleteRole", "rolename": role_name(name)},
    ]


class DynsecAdmin:
    """Sends commands to the plugin as its admin client and waits for the answers."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        tls_ca: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.tls_ca = tls_ca
        self.timeout_s = timeout_s

    def send(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send ``commands`` in one message; their responses, in order.

        A ``delete`` of something that is not there is fine (provisioning deletes
        first); any other error raises ``DynsecError``.
        """
        tag = uuid.uuid4().hex
        tagged = [{**c, "correlationData": f"{tag}-{i}"} for i, c in enumerate(commands)]
        answers: queue.Queue[bytes] = queue.Queue()
        connected: queue.Queue[Any] = queue.Queue()
        subscribed: queue.Queue[bool] = queue.Queue()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"vigil-dynsec-{tag[:8]}",
            protocol=paho.MQTTv5,
        )
        client.username_pw_set(self.username, self.password)
        if self.tls_ca:
            client.tls_set(ca_certs=self.tls_ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.on_message = lambda _c, _u, m: answers.put(bytes(m.payload))
        client.on_subscribe = lambda *_args: subscribed.put(True)
        client.on_connect = lambda _c, _u, _f, reason, _p: connected.put(reason)
        try:
            client.connect(self.host, self.port)
        except OSError as exc:
            raise DynsecError(f"cannot reach the broker: {exc}") from exc
        client.loop_start()
        try:
            try:
                reason = connected.get(timeout=self.timeout_s)
            except queue.Empty:
                raise DynsecError("the broker did not answer the admin's connection") from None
            if reason.is_failure:
                raise DynsecError(f"the broker refused {self.username!r}: {reason}")
            client.subscribe(f"{CONTROL}/response", qos=1)
            try:
                subscribed.get(timeout=self.timeout_s)
            except queue.Empty:
                raise DynsecError("the broker did not let the admin subscribe") from None
            client.publish(CONTROL, json.dumps({"commands": tagged}), qos=1)
            return self._responses(answers, tag, len(tagged))
        finally:
            client.disconnect()
            client.loop_stop()

    def _responses(self, answers: queue.Queue[bytes], tag: str, count: int) -> list[dict[str, Any]]:
        while True:
            try:
                raw = answers.get(timeout=self.timeout_s)
            except queue.Empty:
                raise DynsecError(
                    "no answer from the dynamic-security plugin: is it loaded, and is "
                    "this user its admin?"
                ) from None
            found = [
                r
                for r in json.loads(raw).get("responses", [])
                if str(r.get("correlationData", "")).startswith(tag)
            ]
            if len(found) == count:
                break
        for response in found:
            error = response.get("error")
            if not error:
                continue
            is_delete = str(response.get("command", "")).startswith("delete")
            if not (is_delete and NOT_FOUND in error.lower()):
                raise DynsecError(f"{response.get('command')}: {error}")
        return found
