"""A user who signs in to the API: who they are to Vigil, and their password's hash."""

from __future__ import annotations

import datetime as dt

import msgspec


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """What a signed-in user's tokens carry (``consult_bridge/auth.py``), and the hash."""

    sub: str
    role: str  # wearer, family, clinician, reviewer, admin
    name: str = ""
    tenant: str | None = None
    device: str | None = None
    password_hash: str  # Argon2id, PHC string format
    disabled: bool = False
    created_at: dt.datetime
