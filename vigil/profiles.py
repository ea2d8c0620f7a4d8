"""Wearer profiles in the store, for every runner: read once, then only what changed.

A profile is what a clinician or carer recorded about a wearer (``WearerProfile``:
fences, conditions, the at-risk mark, the time zone...). ``vigil wearer set`` validates
one and stores it as JSON with a new revision; each runner's ``ProfileBook`` reads every
profile at start and then, every ``VIGIL_PROFILE_REFRESH_S``, the ones written since
the last revision it saw. So a wearer marked at risk is watched as such within that
time, by the embedded runner's shards (threads or processes) and the Kafka workers alike.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from storage.base import StorageUnavailable, Store
from stream_processors.device import WearerProfile

log = logging.getLogger(__name__)

DEFAULT_PROFILE = WearerProfile()
_T = TypeVar("_T")


class ProfileError(ValueError):
    """A profile that is not a valid ``WearerProfile``; the message says where."""


def _unknown_keys(given: Any, known: Any, path: str = "$") -> list[str]:
    """Keys in ``given`` that the decoded profile does not have (typos, stale names)."""
    if isinstance(given, dict) and isinstance(known, dict):
        found = [f"{path}.{k}" for k in given if k not in known]
        for key, value in given.items():
            if key in known:
                found += _unknown_keys(value, known[key], f"{path}.{key}")
        return found
    if isinstance(given, list) and isinstance(known, list | tuple):
        return [
            key
            for i, (g, k) in enumerate(zip(given, known, strict=False))
            for key in _unknown_keys(g, k, f"{path}[{i}]")
        ]
    return []


def strict_convert(data: object, kind: type[_T], what: str) -> _T:
    """``data`` (parsed JSON or TOML) as ``kind``, refusing unknown keys.

    A typo is an error: ``at_risc = true`` silently ignored would leave a wearer at
    risk unwatched.
    """
    try:
        value = msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        raise ProfileError(f"invalid {what}: {exc}") from None
    unknown = _unknown_keys(data, msgspec.to_builtins(value))
    if unknown:
        raise ProfileError(f"invalid {what}: unknown keys {', '.join(unknown)}")
    return value


def profile_from_builtins(data: object) -> WearerProfile:
    """A profile from parsed JSON or TOML, refusing unknown keys."""
    return strict_convert(data, WearerProfile, "wearer profile")


def parse_document(raw: bytes, *, toml: bool = False) -> object:
    """A JSON (or, with ``toml``, TOML) document parsed into builtins."""
    try:
        return tomllib.loads(raw.decode()) if toml else msgspec.json.decode(raw)
    except (tomllib.TOMLDecodeError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"not {'TOML' if toml else 'JSON'}: {exc}") from None


def load_profile(raw: bytes, *, toml: bool = False) -> WearerProfile:
    """A profile from a JSON (or, with ``toml``, TOML) document."""
    return profile_from_builtins(parse_document(raw, toml=toml))


def encode_profile(profile: WearerProfile) -> bytes:
    """The profile as stored: JSON."""
    return msgspec.json.encode(profile)


def decode_profile(raw: bytes) -> WearerProfile:
    """A stored profile."""
    try:
        return msgspec.json.decode(raw, type=WearerProfile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ProfileError(f"invalid stored wearer profile: {exc}") from None


class ProfileBook:
    """The profiles of the devices a runner owns, kept fresh from the store.

    Call it with a device id for its profile (the default profile if none is stored).
    ``refresh_if_due`` reads what changed, at most every ``refresh_s`` seconds; a store
    that is unavailable leaves the profiles as they were until the next try.
    """

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float = 30.0,
        owns: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._refresh_s = refresh_s
        self._owns = owns or (lambda _device_id: True)
        self._clock = clock
        self._profiles: dict[str, WearerProfile] = {}
        self._revision = 0
        self._due = clock()

    def __call__(self, device_id: str) -> WearerProfile:
        """The device's wearer profile."""
        return self._profiles.get(device_id, DEFAULT_PROFILE)

    def items(self) -> list[tuple[str, WearerProfile]]:
        """Every stored profile the runner owns, by device id."""
        return list(self._profiles.items())

    def refresh(self) -> int:
        """Read the profiles written since the last refresh; how many were read."""
        records = self._store.wearers_since(self._revision)
        for record in records:
            self._revision = record.revision
            if not self._owns(record.device_id):
                continue
            try:
                self._profiles[record.device_id] = decode_profile(record.profile)
            except ProfileError as exc:
                # Only ``vigil wearer set`` writes profiles, after validating them; keep
                # the previous profile rather than guess.
                log.error("wearer %s: %s; keeping the previous one", record.device_id, exc)  # noqa: TRY400
        return len(records)

    def refresh_if_due(self) -> None:
        """``refresh`` if ``refresh_s`` has passed since the last one."""
        now = self._clock()
        if now < self._due:
            return
        self._due = now + self._refresh_s
        try:
            self.refresh()
        except StorageUnavailable as exc:
            log.warning("store unavailable, wearer profiles not refreshed: %s", exc)
