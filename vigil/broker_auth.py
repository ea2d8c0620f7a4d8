"""Who may connect to the broker, and to which topics: per-device credentials and ACLs.

Every band, gateway and backend service gets its own MQTT user name and password
(``vigil devices provision``). The registry (``identities.json``) and the two files
Mosquitto reads are kept together in one folder (``VIGIL_BROKER_AUTH_DIR``):

* ``passwd``: Mosquitto's ``password_file``, each password as PBKDF2-HMAC-SHA512 with a
  random 12-byte salt and 101 iterations, the ``$7$`` format of ``mosquitto_passwd``
  (Mosquitto 2.0); the plain password is shown once, at provisioning, and kept nowhere;
* ``acl``: Mosquitto's ``acl_file``. A band writes only ``telemetry/<its id>`` and
  ``event/<its id>`` and reads only ``alert/<its id>`` (the reminders and commands sent to
  it); a gateway writes its own status and the telemetry and events of the bands it
  serves; a service (``vigil run``, ``vigil bridge``) reads every band's uplink and
  gateway status and writes the bands' alert topics.

Mosquitto drops a publish the ACL refuses (MQTT 5 QoS 1: PUBACK 0x87) and grants a
refused subscription while delivering nothing: a device cannot speak for another or
hear another's commands. It rereads both files on SIGHUP.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Literal

import msgspec

from schemas.topics import PREFIX

Kind = Literal["device", "gateway", "service"]
ITERATIONS = 101  # mosquitto_passwd's default for $7$ (PBKDF2-HMAC-SHA512)
SALT_BYTES = 12
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # no MQTT wildcards, no '/'


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    """One broker user: a band, a gateway (with the bands it serves) or a service."""

    name: str
    kind: Kind
    bands: tuple[str, ...] = ()
    password_hash: str
    created_at: dt.datetime


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    """A password as Mosquitto 2.0's ``$7$`` entry: PBKDF2-HMAC-SHA512, 101 iterations."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"$7${ITERATIONS}${encoded[0]}${encoded[1]}"


def hash_matches(password: str, entry: str) -> bool:
    """Whether ``password`` is the one ``entry`` (a ``$7$`` hash) was made from."""
    try:
        _, kind, iterations, salt, _digest = entry.split("$")
    except ValueError:
        return False
    if kind != "7" or int(iterations) != ITERATIONS:
        return False
    again = mosquitto_hash(password, salt=base64.b64decode(salt))
    return secrets.compare_digest(again.encode(), entry.encode())


def acl_text(identities: list[Identity]) -> str:
    """Mosquitto's ACL file for these identities (``pattern`` lines cover every band)."""
    lines = [
        "# Written by `vigil devices`: edits here are lost at the next provisioning.",
        "# Bands: their own uplink, their own alerts and commands; nothing else.",
        f"pattern write {PREFIX}/telemetry/%u",
        f"pattern write {PREFIX}/event/%u",
        f"pattern read {PREFIX}/alert/%u",
    ]
    for who in sorted(identities, key=lambda i: i.name):
        if who.kind == "gateway":
            lines += ["", f"user {who.name}", f"topic write {PREFIX}/gateway/{who.name}/status"]
            for band in who.bands:
                lines.append(f"topic write {PREFIX}/telemetry/{band}")
                lines.append(f"topic write {PREFIX}/event/{band}")
        elif who.kind == "service":
            lines += [
                "",
                f"user {who.name}",
                f"topic read {PREFIX}/telemetry/+",
                f"topic read {PREFIX}/event/+",
                f"topic read {PREFIX}/gateway/+/status",
                f"topic write {PREFIX}/alert/+",
            ]
    return "\n".join(lines) + "\n"


def password_text(identities: list[Identity]) -> str:
    """Mosquitto's password file for these identities."""
    ordered = sorted(identities, key=lambda i: i.name)
    return "".join(f"{i.name}:{i.password_hash}\n" for i in ordered)


class BrokerAuth:
    """The registry of broker identities in a folder, with the files Mosquitto reads."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.registry = folder / "identities.json"
        self.passwd = folder / "passwd"
        self.acl = folder / "acl"

    def identities(self) -> list[Identity]:
        """Every identity provisioned, by name."""
        if not self.registry.exists():
            return []
        found = msgspec.json.decode(self.registry.read_bytes(), type=list[Identity])
        return sorted(found, key=lambda i: i.name)

    def provision(
        self, name: str, kind: Kind, *, bands: tuple[str, ...] = (), now: dt.datetime
    ) -> str:
        """Create the identity, or give it a new password; the password (shown once)."""
        if not NAME.match(name):
            raise ValueError(f"{name!r}: letters, digits, '.', '_' or '-', at most 64")
        for band in bands:
            if not NAME.match(band):
                raise ValueError(f"band {band!r}: letters, digits, '.', '_' or '-', at most 64")
        if kind != "gateway" and bands:
            raise ValueError("only a gateway serves bands")
        others = [i for i in self.identities() if i.name != name]
        password = secrets.token_urlsafe(24)
        digest = mosquitto_hash(password)
        made = Identity(name=name, kind=kind, bands=bands, password_hash=digest, created_at=now)
        self._write([*others, made])
        return password

    def revoke(self, name: str) -> bool:
        """Remove an identity; False if there was none."""
        found = self.identities()
        kept = [i for i in found if i.name != name]
        if len(kept) == len(found):
            return False
        self._write(kept)
        return True

    def _write(self, identities: list[Identity]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        registry = [msgspec.to_builtins(i) for i in identities]
        _replace(self.registry, json.dumps(registry, indent=1) + "\n")
        _replace(self.passwd, password_text(identities))
        _replace(self.acl, acl_text(identities))


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by its owner only."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.chmod(0o600)
    temporary.replace(path)
