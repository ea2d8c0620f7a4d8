"""Signing in: passwords hashed with Argon2id, checked in constant time, with a lockout.

Argon2id (RFC 9106) through ``argon2-cffi`` with its defaults (t=3, m=64 MiB, p=4: the
RFC's second recommended option); hashes are stored in the PHC string format and
re-hashed on sign-in when the parameters change. An unknown user costs one hash check
too, so timing does not tell which users exist. After ``MAX_FAILURES`` failed sign-ins
within ``LOCKOUT_WINDOW`` an account is locked until the window has passed (OWASP
Authentication Cheat Sheet: account lockout against online guessing), whatever the
password; a good sign-in clears the count.
"""

from __future__ import annotations

import datetime as dt

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MAX_FAILURES = 5
LOCKOUT_WINDOW = dt.timedelta(minutes=15)
MIN_PASSWORD = 12  # NIST SP 800-63B 3.1.1.2 asks at least 8; a carer's account guards health data

_hasher = PasswordHasher()
# Checked against when the user is unknown, so both paths take one Argon2 verification.
_DUMMY = _hasher.hash("not a password anyone has")


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of a password; ``ValueError`` if too short."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password has at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def password_matches(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (None: an unknown user, never)."""
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with other parameters than today's."""
    return _hasher.check_needs_rehash(stored)
