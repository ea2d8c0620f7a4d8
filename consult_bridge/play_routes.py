"""Play links to a consultation's recordings: hand out, list, play, revoke, publish.

``GET /v1/play/{token}`` answers with the recording reference (the video lives
elsewhere) when the link is genuine, unexpired, not revoked, and the caller is in its
audience: 404 for a forged or unknown link, 410 for an expired or revoked one, 401 when
the audience needs a login, 404 for a logged-in caller who may not see the consultation.
Every play is audited. A link is published to the third-party (education) platform only
with the wearer's consent and only when its audience is ``anyone``.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from consult_bridge.auth import Principal
from consult_bridge.cases import consultation_for, ensure_visible, hand_out_link
from consult_bridge.deps import Caller, Context, MaybeCaller
from consult_bridge.desks import PublishError
from consult_bridge.play_links import Audience, BadLink, read, token_for
from schemas.audit import AuditEvent
from schemas.consultation import Consultation, PlayLink

routes = APIRouter(prefix="/v1", tags=["play links"])
MAX_TTL_HOURS = 24 * 30


class LinkIn(BaseModel):
    recording_id: str
    audience: Audience = "logged_in"
    ttl_hours: float = Field(default=24 * 7, gt=0, le=MAX_TTL_HOURS)


class LinkView(BaseModel):
    link_id: str
    consult_id: str
    recording_id: str
    audience: str
    expires_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    published_at: dt.datetime | None


class HandedOut(LinkView):
    url: str = Field(description="the link: GET it (with a bearer token unless 'anyone')")


def _link_view(link: PlayLink) -> LinkView:
    return LinkView(
        link_id=link.link_id,
        consult_id=link.consult_id,
        recording_id=link.recording_id,
        audience=link.audience,
        expires_at=link.expires_at,
        created_by=link.created_by,
        revoked_at=link.revoked_at,
        published_at=link.published_at,
    )


def _may_share(who: Principal, c: Consultation) -> bool:
    """The clinic's staff and the wearer hand out and withdraw links; family do not."""
    if who.role in ("clinician", "reviewer"):
        return True
    return who.role == "wearer" and who.device == c.device_id


@routes.post(
    "/consultations/{consult_id}/play-links",
    status_code=status.HTTP_201_CREATED,
    response_model=HandedOut,
)
def hand_out(consult_id: str, body: LinkIn, who: Caller, deps: Context) -> HandedOut:
    """A link to one of the request's recordings, for an audience, for a while."""
    c = consultation_for(deps, who, consult_id, "hand out play link")
    if not _may_share(who, c):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "links are the clinic's and the wearer's")
    if body.recording_id not in {r.recording_id for r in c.recordings}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such recording")
    link, token = hand_out_link(
        deps,
        c,
        recording_id=body.recording_id,
        audience=body.audience,
        ttl=dt.timedelta(hours=body.ttl_hours),
        by=who.sub,
    )
    deps.record(who, c.device_id, "consultation", "play link", f"{link.link_id} {body.audience}")
    return HandedOut(**_link_view(link).model_dump(), url=f"/v1/play/{token}")


@routes.get("/consultations/{consult_id}/play-links", response_model=list[LinkView])
def list_links(consult_id: str, who: Caller, deps: Context) -> list[LinkView]:
    """The request's links, withdrawn and expired ones included."""
    c = consultation_for(deps, who, consult_id, "list play links")
    if not _may_share(who, c):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "links are the clinic's and the wearer's")
    return [_link_view(x) for x in deps.links.of_consult(consult_id)]


@routes.delete("/play-links/{link_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(link_id: str, who: Caller, deps: Context) -> None:
    """Withdraw a link now: it plays no more (410)."""
    link = deps.links.get(link_id)
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such link")
    c = consultation_for(deps, who, link.consult_id, "revoke play link")
    if not _may_share(who, c):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "links are the clinic's and the wearer's")
    if not deps.links.revoke(link_id, deps.clock()):
        raise HTTPException(status.HTTP_410_GONE, "the link was withdrawn already")
    deps.record(who, c.device_id, "consultation", "revoke play link", link_id)


class PlayView(BaseModel):
    consult_id: str
    recording_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    audience: str
    expires_at: dt.datetime


@routes.get("/play/{token}", response_model=PlayView)
def play(token: str, who: MaybeCaller, deps: Context) -> PlayView:
    """What a link plays: the recording reference, for those in its audience."""
    now = deps.clock()
    try:
        claim = read(token, deps.link_key, now=now)
    except BadLink as exc:
        gone = "expired" in str(exc)
        raise HTTPException(410 if gone else 404, str(exc)) from None
    link = deps.links.get(claim.link_id)
    c = deps.consults.get(claim.consult_id)
    if link is None or c is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such link")
    if link.revoked_at is not None:
        raise HTTPException(status.HTTP_410_GONE, "the link was withdrawn")
    if claim.audience != "anyone" and who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "log in to play this link", {"WWW-Authenticate": "Bearer"}
        )
    if claim.audience == "logged_in" and who is not None:
        ensure_visible(deps, who, c, "play")
    recording = next((r for r in c.recordings if r.recording_id == claim.recording_id), None)
    if recording is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such recording")
    if who is not None:
        deps.record(who, c.device_id, "consultation", "play", link.link_id)
    else:
        deps.audit.append(
            AuditEvent(
                at=now,
                actor="anyone",
                role="anonymous",
                device_id=c.device_id,
                category="consultation",
                action="play",
                detail=link.link_id,
            )
        )
    return PlayView(
        consult_id=c.consult_id,
        recording_id=recording.recording_id,
        started_at=recording.started_at,
        ended_at=recording.ended_at,
        audience=claim.audience,
        expires_at=claim.expires_at,
    )


class ConsentIn(BaseModel):
    consent: bool


@routes.put("/consultations/{consult_id}/publication-consent", response_model=ConsentIn)
def set_consent(consult_id: str, body: ConsentIn, who: Caller, deps: Context) -> ConsentIn:
    """The wearer consents (or no longer) to the request's links being published."""
    c = consultation_for(deps, who, consult_id, "publication consent")
    if who.role != "wearer" or who.device != c.device_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the wearer consents")
    deps.links.set_consent(consult_id, body.consent, deps.clock())
    deps.record(who, c.device_id, "consultation", "publication consent", str(body.consent))
    return body


@routes.post("/play-links/{link_id}/publish", response_model=LinkView)
def publish(link_id: str, who: Caller, deps: Context) -> LinkView:
    """Publish a link to the third-party (education) platform.

    Only the clinic's staff; only with the wearer's consent (409 without); only a link
    whose audience is ``anyone`` (409 otherwise), live and not yet published; 503 when no
    platform is configured, 502 when it does not take it.
    """
    link = deps.links.get(link_id)
    if link is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such link")
    c = consultation_for(deps, who, link.consult_id, "publish play link")
    if who.role not in ("clinician", "reviewer"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the clinic publishes")
    now = deps.clock()
    refusals = [
        (not deps.links.consent(c.consult_id), "the wearer has not consented to publishing"),
        (link.audience != "anyone", "only a link for anyone can be published"),
        (link.revoked_at is not None or link.expires_at <= now, "the link no longer plays"),
        (link.published_at is not None, "the link is published already"),
    ]
    for refused, why in refusals:
        if refused:
            raise HTTPException(status.HTTP_409_CONFLICT, why)
    if deps.publisher is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no platform is configured")
    recording = next(r for r in c.recordings if r.recording_id == link.recording_id)
    try:
        deps.publisher.publish(
            {
                "link_id": link.link_id,
                "recording_id": link.recording_id,
                "started_at": recording.started_at.isoformat(),
                "ended_at": None if recording.ended_at is None else recording.ended_at.isoformat(),
                "expires_at": link.expires_at.isoformat(),
                "url_path": f"/v1/play/{token_for(link, deps.link_key)}",
            }
        )
    except PublishError as exc:
        deps.record(who, c.device_id, "consultation", "publish failed", link_id)
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"the platform refused: {exc}") from None
    deps.links.mark_published(link_id, now)
    deps.record(who, c.device_id, "consultation", "publish", link_id)
    found = deps.links.get(link_id)
    assert found is not None  # noqa: S101 - it was just read
    return _link_view(found)
