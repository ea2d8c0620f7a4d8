"""What the consultation and play-link routes share: who sees a request, and links.

Who sees a request: the clinicians and reviewers of its clinic, the wearer, and those
the wearer granted ``alerts``; anyone else gets 404, as for a request that does not exist.
"""

from __future__ import annotations

import datetime as dt
import uuid

from fastapi import HTTPException, status

from consult_bridge.auth import Principal
from consult_bridge.deps import READERS, Deps, check
from consult_bridge.play_links import Audience, token_for
from schemas.consultation import Consultation, PlayLink


def ensure_visible(deps: Deps, who: Principal, c: Consultation, action: str) -> None:
    """404 unless the caller may see the request (its clinic, the wearer, a grant)."""
    if who.role in ("clinician", "reviewer") and who.tenant == c.tenant:
        return
    if who.role == "admin":
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consultation")
    try:
        check(deps, who, c.device_id, "alerts", roles=READERS, action=action)
    except HTTPException:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consultation") from None


def consultation_for(deps: Deps, who: Principal, consult_id: str, action: str) -> Consultation:
    c = deps.consults.get(consult_id)
    if c is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such consultation")
    ensure_visible(deps, who, c, action)
    return c


def hand_out_link(
    deps: Deps,
    c: Consultation,
    *,
    recording_id: str,
    audience: Audience,
    ttl: dt.timedelta,
    by: str,
) -> tuple[PlayLink, str]:
    """A new play link to one of the request's recordings: stored, and its token."""
    now = deps.clock()
    link = PlayLink(
        link_id=uuid.uuid4().hex,
        consult_id=c.consult_id,
        recording_id=recording_id,
        audience=audience,
        expires_at=now + ttl,
        created_by=by,
        created_at=now,
    )
    deps.links.add(link)
    return link, token_for(link, deps.link_key)
