"""Health data encrypted at rest: AES-256-GCM envelope encryption with key rotation.

Each value gets its own data key (256 bits, random), which encrypts it with AES-GCM
(NIST SP 800-38D; a random 96-bit nonce per encryption); the data key is then wrapped,
also with AES-GCM, under a key-encryption key from the settings (``VIGIL_RECORD_KEYS``:
``kid:base64key,...``, the first one current). A sealed value names its key's id, so:

* rotation: add a new key first in the list; new writes use it, old values still open
  with the old key while it stays listed; ``vigil records rewrap`` re-wraps every data key
  under the current key (the data is not re-encrypted), after which the old key can go;
* each value is bound to its row: the associated data is the row's id, so a sealed value
  copied into another row does not open.

Text form: ``vg1:<kid>:<wrapped data key>:<nonce>:<ciphertext>``, base64url parts. A value
without the ``vg1:`` prefix is plain (written before keys were configured) and is read as
is; ``vigil records rewrap`` seals those too.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "vg1:"
_NONCE = 12


class SealError(Exception):
    """A sealed value that does not open: unknown key, wrong row, or altered."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_keys(text: str) -> dict[str, bytes]:
    """``kid:base64key,...`` to an ordered mapping (the first is current); ``ValueError``."""
    keys: dict[str, bytes] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        kid, sep, encoded = item.partition(":")
        if not sep or not kid or not kid.isalnum():
            raise ValueError("each key is kid:base64key, the kid letters and digits")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError as exc:
            raise ValueError(f"key {kid} is not base64") from exc
        if len(key) != 32:
            raise ValueError(f"key {kid} must be 32 bytes (AES-256), not {len(key)}")
        if kid in keys:
            raise ValueError(f"key id {kid} is listed twice")
        keys[kid] = key
    if not keys:
        raise ValueError("no keys")
    return keys


class Sealer:
    """Seals and opens values under the configured keys."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        if not keys:
            raise ValueError("a sealer needs at least one key")
        self._keys = dict(keys)
        self.current = next(iter(self._keys))

    def seal(self, plain: bytes, row: str) -> str:
        """``plain`` sealed for the row ``row`` under the current key."""
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(_NONCE)
        body = AESGCM(data_key).encrypt(nonce, plain, row.encode())
        return PREFIX + ":".join((self.current, self._wrap(data_key, row), _b64(nonce), _b64(body)))

    def _wrap(self, data_key: bytes, row: str) -> str:
        nonce = os.urandom(_NONCE)
        wrapped = AESGCM(self._keys[self.current]).encrypt(nonce, data_key, b"dek|" + row.encode())
        return _b64(nonce + wrapped)

    def _unwrap(self, kid: str, wrapped: str, row: str) -> bytes:
        key = self._keys.get(kid)
        if key is None:
            raise SealError(f"sealed under key {kid!r}, which is not configured")
        raw = _unb64(wrapped)
        try:
            return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], b"dek|" + row.encode())
        except InvalidTag:
            raise SealError("the data key does not open (altered, or another row's)") from None

    def open(self, stored: str, row: str) -> bytes:
        """The plain value of a stored one (plain values pass through)."""
        if not stored.startswith(PREFIX):
            return stored.encode()
        try:
            kid, wrapped, nonce, body = stored.removeprefix(PREFIX).split(":")
            data_key = self._unwrap(kid, wrapped, row)
            return AESGCM(data_key).decrypt(_unb64(nonce), _unb64(body), row.encode())
        except InvalidTag:
            raise SealError("the value does not open (altered, or another row's)") from None
        except ValueError:
            raise SealError("not a sealed value") from None

    def rewrap(self, stored: str, row: str) -> str | None:
        """The value sealed under the current key, or None when it already is.

        A sealed value keeps its data and data key; only the wrapping changes. A plain
        value is sealed.
        """
        if not stored.startswith(PREFIX):
            return self.seal(stored.encode(), row)
        kid, wrapped, nonce, body = stored.removeprefix(PREFIX).split(":")
        if kid == self.current:
            return None
        data_key = self._unwrap(kid, wrapped, row)
        return PREFIX + ":".join((self.current, self._wrap(data_key, row), nonce, body))


def is_sealed(stored: str) -> bool:
    """Whether a stored value is sealed."""
    return stored.startswith(PREFIX)


def seal_text(sealer: Sealer | None, text: str, row: str) -> str:
    """``text`` as stored: sealed when keys are configured, else plain."""
    return text if sealer is None else sealer.seal(text.encode(), row)


def open_text(sealer: Sealer | None, stored: str, row: str) -> str:
    """A stored text back; ``SealError`` for a sealed one without keys to open it."""
    return opened_bytes(sealer, stored, row).decode() if is_sealed(stored) else stored


def opened_bytes(sealer: Sealer | None, stored: str, row: str) -> bytes:
    """A sealed value's bytes; ``SealError`` without keys to open it."""
    if sealer is None:
        raise SealError("the value is sealed and VIGIL_RECORD_KEYS is not set")
    return sealer.open(stored, row)
