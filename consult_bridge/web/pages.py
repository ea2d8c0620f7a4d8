"""The dashboard's routes under ``/ui``: sign in, wearers, a wearer's tabs, the queue.

A page for a category the caller may not see answers 404 with "not shared with you",
as the API answers 404 (``consult_bridge/deps.py``); the tabs offer only what is shared.
Acting (acknowledge, cancel) goes through the API's own ``queue_request``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from consult_bridge.auth import Principal, issue_token
from consult_bridge.deps import Deps, deps_of
from consult_bridge.ladder_routes import ACK_ROLES, CANCEL_ROLES, queue_request
from consult_bridge.login_routes import authenticate
from consult_bridge.web import svg, views
from consult_bridge.web.i18n import LANGS, Lang, choose, words
from consult_bridge.web.session import (
    COOKIE,
    LANG_COOKIE,
    csrf_token,
    is_secure,
    require_csrf,
    session_of,
)
from schemas.access import Category

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
routes = APIRouter(prefix="/ui", include_in_schema=False)


def _lang(request: Request) -> Lang:
    return choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    who: Principal | None = None,
    session: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    lang = _lang(request)
    deps = deps_of(request)
    base = {
        "t": words(lang),
        "lang": lang,
        "other_lang": next(x for x in LANGS if x != lang),
        "who": who,
        "csrf": csrf_token(deps.secret, session) if session else "",
        "now": deps.clock(),
        "ago": _ago(deps.clock(), words(lang)),
    }
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


def _ago(now: dt.datetime, t: dict[str, str]) -> Any:
    def ago(at: dt.datetime | None) -> str:
        if at is None:
            return t["no_data"]
        seconds = max(0, int((now - at).total_seconds()))
        if seconds < 10:
            return t["just_now"]
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                return f"{seconds // size} {unit} {t['ago']}"
        return f"{seconds} s {t['ago']}"

    return ago


@routes.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:  # noqa: A002
    """The sign-in form."""
    return _render(request, "login.html", {"next": _local(next), "error": ""})


def _local(path: str) -> str:
    """Only a path of this app to go back to after signing in (no open redirect)."""
    return path if path.startswith("/ui/") and not path.startswith("//") else "/ui/"


@routes.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form()] = "/ui/",  # noqa: A002
) -> Response:
    """Check the password as ``POST /v1/token`` does; set the session cookie."""
    deps = deps_of(request)
    try:
        principal = authenticate(deps, username, password)
    except HTTPException as exc:
        key = "locked" if exc.status_code == status.HTTP_429_TOO_MANY_REQUESTS else "wrong_login"
        context = {"next": _local(next), "error": words(_lang(request))[key]}
        return _render(request, "login.html", context, status_code=exc.status_code)
    token = issue_token(principal, deps.secret, now=deps.clock(), ttl_s=deps.token_ttl_s)
    response = RedirectResponse(_local(next), status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(deps.token_ttl_s),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
    )
    return response


@routes.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()]) -> Response:
    """End the session (the cookie; the token itself expires on its own)."""
    _, session = session_of(request)
    require_csrf(request, session, csrf)
    response = RedirectResponse("/ui/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@routes.get("/lang/{lang}")
def set_language(lang: Lang, back: str = "/ui/") -> Response:
    """Switch the pages' language (a cookie), and go back."""
    response = RedirectResponse(_local(back), status.HTTP_303_SEE_OTHER)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, path="/ui", samesite="lax")
    return response


@routes.get("/", response_class=HTMLResponse)
def wearers(request: Request) -> Response:
    """The wearers the caller sees, each with the current level and data freshness."""
    who, session = session_of(request)
    deps = deps_of(request)
    rows = [views.wearer_row(deps, who, d) for d in views.visible_wearers(deps, who)]
    rows.sort(key=lambda r: (-views.LEVEL_ORDER.get(r.level or "", 0), r.device_id))
    return _render(request, "wearers.html", {"rows": rows}, who=who, session=session)


def _window(deps: Deps, range_: str) -> tuple[str, dt.datetime, dt.datetime]:
    key = range_ if range_ in views.RANGES else "6h"
    until = deps.clock()
    return key, until - views.RANGES[key], until


def _tabs(deps: Deps, who: Principal, device_id: str) -> list[Category]:
    return views.shared(deps, who, device_id, views.TABS)


@routes.get("/wearers/{device_id}", response_class=HTMLResponse)
def wearer(request: Request, device_id: str) -> Response:
    """The wearer's first tab the caller may see."""
    who, session = session_of(request)
    tabs = _tabs(deps_of(request), who, device_id)
    if not tabs:
        return _not_shared(request, who, session, device_id, [])
    return RedirectResponse(f"/ui/wearers/{device_id}/{tabs[0]}", status.HTTP_303_SEE_OTHER)


def _not_shared(
    request: Request, who: Principal, session: str, device_id: str, tabs: list[Category]
) -> HTMLResponse:
    context = {"device_id": device_id, "tabs": tabs, "tab": "", "range": "6h"}
    return _render(request, "not_shared.html", context, who=who, session=session, status_code=404)


@routes.get("/wearers/{device_id}/{tab}", response_class=HTMLResponse)
def wearer_tab(
    request: Request,
    device_id: str,
    tab: Category,
    span: Annotated[str, Query(alias="range")] = "6h",
    done: str = "",
) -> Response:
    """One tab of a wearer's page: vitals, indices, ECG, alerts or location."""
    who, session = session_of(request)
    deps = deps_of(request)
    tabs = _tabs(deps, who, device_id)
    if tab not in tabs:
        views.refuse(deps, who, device_id, tab)
        return _not_shared(request, who, session, device_id, tabs)
    key, since, until = _window(deps, span)
    context: dict[str, Any] = {
        "device_id": device_id,
        "tabs": tabs,
        "tab": tab,
        "range": key,
        "ranges": list(views.RANGES),
        "done": done,
    }
    t = words(_lang(request))
    c = Tab(deps, who, device_id, since, until, t)
    if tab == "vitals":
        context |= _vitals(c)
    elif tab == "indices":
        context |= _indices(c)
    elif tab == "ecg":
        context |= _ecg(c)
    elif tab == "alerts":
        context["ladders"] = views.ladders(deps, who, device_id, since)
        context["can_ack"] = who.role in ACK_ROLES
        context["can_cancel"] = who.role in CANCEL_ROLES
    else:
        found = views.records(deps, who, device_id, "location", since=since, until=until)
        trail = views.trail(found)
        fences = deps.profiles.fences(device_id)  # with the location read, audited
        context["fixes"] = len(trail)
        context["fence_count"] = len(fences)
        context["map"] = svg.map_view(fences, trail, title=t["location"], scale_word=t["scale"])
    return _render(request, "wearer.html", context, who=who, session=session)


class Tab(NamedTuple):
    """What a tab's builder reads: who asks, about whom, over which window, in which words."""

    deps: Deps
    who: Principal
    device_id: str
    since: dt.datetime
    until: dt.datetime
    t: dict[str, str]


def _vitals(c: Tab) -> dict[str, Any]:
    deps, who, device_id, since, until, t = c
    found = views.records(deps, who, device_id, "vitals", since=since, until=until)
    s = views.series_of

    def chart(key: str, *lines: svg.Series) -> Any:
        return svg.time_chart(lines, since, until, title=t[key], empty=t["no_data"])

    temperature = [r for r in found if r.type == "temperature"]
    skin = [r for r in temperature if r.values.get("site") == "wrist"]
    core = [r for r in temperature if r.values.get("site") != "wrist"]
    charts = [
        chart("heart_rate", svg.Series("", s(found, "heart_rate", "heart_rate_bpm"), "s0")),
        chart("spo2", svg.Series("", s(found, "spo2", "spo2_pct"), "s1")),
        chart(
            "blood_pressure",
            svg.Series(t["systolic"], s(found, "blood_pressure", "systolic_mmhg"), "s2"),
            svg.Series(t["diastolic"], s(found, "blood_pressure", "diastolic_mmhg"), "s3"),
        ),
        chart(
            "temperature",
            svg.Series(t["core"], s(core, "temperature", "temp_c"), "s4"),
            svg.Series(t["skin"], s(skin, "temperature", "temp_c"), "s1"),
        ),
        chart(
            "respiration", svg.Series("", s(found, "respiration", "respiration_rate_per_min"), "s5")
        ),
    ]
    return {"charts": charts, "latest": views.latest_values(found), "live": True}


def _indices(c: Tab) -> dict[str, Any]:
    deps, who, device_id, since, until, t = c
    found = views.records(deps, who, device_id, "indices", since=since, until=until)
    charts = [
        svg.time_chart(
            [svg.Series("", views.series_of(found, name, "value"), f"s{i}")],
            since,
            until,
            title=t[key],
            empty=t["no_values"],
        )
        for i, (key, name) in enumerate(
            (
                ("stress", "mental_stress"),
                ("fatigue", "physical_fatigue"),
                ("mood", "anxiety_depression"),
            )
        )
    ]
    return {"charts": charts}


def _ecg(c: Tab) -> dict[str, Any]:
    deps, who, device_id, since, until, t = c
    shown = views.strips(views.records(deps, who, device_id, "ecg", since=since, until=until))
    pictures = [
        (s, svg.ecg_strip(s.samples_uv, s.fs_hz, s.r_peaks, title=f"{t['strip']} {s.at:%H:%M:%S}"))
        for s in reversed(shown)
    ]
    return {"strips": pictures, "episodes": views.af_episodes(shown)}


@routes.post("/ladders/{ladder_id:path}/{action}")
def act_on_ladder(
    request: Request, ladder_id: str, action: str, csrf: Annotated[str, Form()]
) -> Response:
    """Acknowledge or cancel a ladder from its alerts tab, as the API's POST would."""
    who, session = session_of(request)
    require_csrf(request, session, csrf)
    deps = deps_of(request)
    roles = {"ack": ACK_ROLES, "cancel": CANCEL_ROLES}
    if action not in roles:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such action")
    kind = "acknowledge" if action == "ack" else "cancel"
    queued = queue_request(deps, who, ladder_id, kind, roles[action])
    ladder = deps.ladders.ladder(queued.ladder_id)
    device_id = ladder.device_id if ladder is not None else ""
    return RedirectResponse(
        f"/ui/wearers/{device_id}/alerts?done={action}", status.HTTP_303_SEE_OTHER
    )


@routes.get("/queue", response_class=HTMLResponse)
def consultation_queue(request: Request) -> Response:
    """The clinic's consultation requests (clinicians and reviewers)."""
    who, session = session_of(request)
    if who.role not in ("clinician", "reviewer"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the queue is for a clinic's staff")
    found = views.queue(deps_of(request), who)
    return _render(request, "queue.html", {"requests": found}, who=who, session=session)
