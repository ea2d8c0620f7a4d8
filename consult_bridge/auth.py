"""Bearer tokens of the API: who is asking, in which role, for which clinic.

OAuth2 bearer tokens as JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 under a secret
from the settings (``VIGIL_API_JWT_SECRET``). The claims Vigil reads:

* ``sub``: the user; ``name``: how messages name them ("Anna is handling the alert");
* ``role``: ``wearer``, ``family``, ``clinician``, ``reviewer`` or ``admin``;
* ``tenant``: the clinic of a clinician, reviewer or admin (required for those roles);
* ``device``: the band of a wearer (required for that role);
* ``iss`` ``vigil``, ``iat``, ``exp``: only tokens this deployment issued, unexpired.

Only HS256 is accepted (no ``none``, no algorithm taken from the token's header).
Tokens are issued by ``vigil api token`` (an operator's tool) until a login flow exists.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import jwt
import msgspec

Role = Literal["wearer", "family", "clinician", "reviewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
ISSUER = "vigil"
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32  # RFC 7518 3.2: an HS256 key at least as long as the hash


class AuthError(Exception):
    """A token that is missing, malformed, forged, expired or not for this deployment."""


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is asking."""

    sub: str
    role: Role
    name: str = ""
    tenant: str | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        """Refuse a principal its role cannot have."""
        if not self.sub:
            raise ValueError("a principal needs a subject")
        if self.role in ("clinician", "reviewer", "admin") and not self.tenant:
            raise ValueError(f"a {self.role} belongs to a clinic (tenant)")
        if self.role == "wearer" and not self.device:
            raise ValueError("a wearer has a device")

    @property
    def display_name(self) -> str:
        return self.name or self.sub


def _check_secret(secret: str) -> bytes:
    key = secret.encode()
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"the token secret must be at least {MIN_SECRET_BYTES} bytes")
    return key


def issue_token(principal: Principal, secret: str, *, now: dt.datetime, ttl_s: float) -> str:
    """A signed token for ``principal``, valid for ``ttl_s`` from ``now``."""
    claims: dict[str, object] = {
        "iss": ISSUER,
        "sub": principal.sub,
        "role": principal.role,
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=ttl_s)).timestamp()),
    }
    for claim in ("name", "tenant", "device"):
        value = getattr(principal, claim)
        if value:
            claims[claim] = value
    return jwt.encode(claims, _check_secret(secret), algorithm=ALGORITHM)


def read_token(token: str, secret: str, *, now: dt.datetime | None = None) -> Principal:
    """The principal a token names; ``AuthError`` for anything not a valid token of ours.

    Expiry is checked against ``now`` (the current time by default).
    """
    # The times are checked here, against the caller's clock, rather than by PyJWT's.
    options = {"require": ["iss", "sub", "iat", "exp"], "verify_exp": False, "verify_iat": False}
    moment = now or dt.datetime.now(dt.UTC)
    try:
        claims = jwt.decode(
            token,
            _check_secret(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options=options,  # type: ignore[arg-type]
        )
        issued, expires = claims["iat"], claims["exp"]
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise AuthError("invalid token: iat and exp must be whole seconds")
        if expires <= moment.timestamp():
            raise AuthError("the token has expired")
        if issued > moment.timestamp() + 60:  # a minute for clocks apart
            raise AuthError("invalid token: issued in the future")
        fields = {k: claims[k] for k in ("sub", "role", "name", "tenant", "device") if k in claims}
        return msgspec.convert(fields, Principal)
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    except msgspec.ValidationError as exc:
        raise AuthError(f"invalid token claims: {exc}") from None
