"""Play links: signed, expiring, revocable links to a consultation's recording.

The seeds: a session's recording can be shared by a link whose audience is logged-in
users, registered users or anyone, and published to a third-party (education) platform.
The video itself lives elsewhere; a link names the recording reference the API keeps.

A link is ``<payload>.<signature>``, both base64url: the payload is the claim as JSON, the
signature HMAC-SHA256 (RFC 2104) over the payload under a key derived from the API's
secret (so a link cannot be forged or altered, and no table is needed to trust one).
Expiry is in the claim; revocation is a row the API checks (``link_id``), so a link
handed out can still be withdrawn.

Audiences, as Vigil reads the seeds' three:

* ``logged_in``: a logged-in user who may see the consultation (its clinic, the wearer,
  those the wearer granted ``alerts``);
* ``registered``: any user with an account here (any valid bearer token);
* ``anyone``: no token at all (what may be published to a third-party platform).

Pure: the API checks revocation and who the caller is.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Literal, cast, get_args

import msgspec

from schemas.consultation import PlayLink

Audience = Literal["logged_in", "registered", "anyone"]
AUDIENCES: tuple[Audience, ...] = get_args(Audience)
_CONTEXT = b"vigil/play-links/v1"


class PlayClaim(msgspec.Struct, frozen=True, kw_only=True):
    """What a link grants: one recording of one consultation, to an audience, until."""

    link_id: str
    consult_id: str
    recording_id: str
    audience: Audience
    expires_at: dt.datetime


class BadLink(Exception):  # noqa: N818 - named for what the caller holds
    """A link that is malformed, forged, altered or expired."""


def link_key(api_secret: str) -> bytes:
    """The links' own key, derived from the API secret (one secret to keep and rotate)."""
    return hmac.new(api_secret.encode(), _CONTEXT, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(claim: PlayClaim, key: bytes) -> str:
    """The link token for ``claim``."""
    payload = _b64(msgspec.json.encode(claim))
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read(token: str, key: bytes, *, now: dt.datetime) -> PlayClaim:
    """The claim of a genuine, unexpired link; ``BadLink`` otherwise."""
    payload, dot, signature = token.partition(".")
    if not dot or not payload or not signature:
        raise BadLink("not a play link")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    # As bytes: compare_digest refuses str with non-ASCII characters (a 500 schemathesis
    # found with a token of "0.\x80"); surrogatepass keeps any str encodable.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogatepass")):
        raise BadLink("the link's signature does not match")
    try:
        claim = msgspec.json.decode(_unb64(payload), type=PlayClaim)
    except (ValueError, msgspec.DecodeError) as exc:
        raise BadLink("the link's content is unreadable") from exc
    if now >= claim.expires_at:
        raise BadLink("the link has expired")
    return claim


def token_for(link: PlayLink, key: bytes) -> str:
    """The token of a link handed out (the same every time: it is its claim, signed)."""
    claim = PlayClaim(
        link_id=link.link_id,
        consult_id=link.consult_id,
        recording_id=link.recording_id,
        audience=cast("Audience", link.audience),
        expires_at=link.expires_at,
    )
    return sign(claim, key)
