"""The operator dashboard's pages and the fragments htmx swaps into them.

Every page needs a signed-in user; every POST also needs the session's CSRF
token (a hidden form field, or the X-CSRF-Token header htmx sends), and the
admin role. Data comes from the same service functions the HTTP API uses.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import orjson
import pydantic
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from volta.blocks.certificates import service as certificates
from volta.blocks.device_model import service as device_model_service
from volta.blocks.provisioning import service as provisioning
from volta.blocks.provisioning.models import StationCreate, StationOut, StationUpdate
from volta.blocks.remote_control.service import Reset, TriggerMessage
from volta.blocks.security import profiles
from volta.blocks.transactions import service as transactions
from volta.http import ServicesDep, control_character, get_services
from volta.ocpp.versions import Version
from volta.security import new_station_password, source_key
from volta.services import Services
from volta.store import framelog
from volta.store.models import utcnow
from volta.web import counters, i18n, nav, users
from volta.web.commands import CommandInputError, run_command
from volta.web.fleet import OnlineHistory
from volta.web.i18n import tr
from volta.web.nav import N_
from volta.web.paging import paging

log = logging.getLogger(__name__)

# The frame log's message types (OCPP-J; 5 and 6 are 2.1's).
FRAME_KINDS = {2: "CALL", 3: "RESULT", 4: "ERROR", 5: "RESULT ERROR", 6: "SEND"}

HERE = Path(__file__).parent
SESSION_COOKIE = "volta_session"
LOGIN_CSRF_COOKIE = "volta_login_csrf"
REGISTRATION_STATUSES = ("Accepted", "Pending", "Rejected")
# Connector statuses of both versions, to a colour class.
STATUS_CLASS = {
    "Available": "ok",
    "Preparing": "busy",
    "Charging": "charging",
    "Occupied": "charging",
    "SuspendedEV": "busy",
    "SuspendedEVSE": "busy",
    "Finishing": "busy",
    "Reserved": "reserved",
    "Unavailable": "off",
    "Faulted": "bad",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

templates = Jinja2Templates(directory=HERE / "templates")


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""


# -- template helpers ---------------------------------------------------------------


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()


def _duration(start: dt.datetime | None, stop: dt.datetime | None) -> str:
    if start is None:
        return "-"
    seconds = int(((stop or utcnow()) - start).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


i18n.install(templates.env)
templates.env.filters.update(
    pretty=_pretty,
    status_class=lambda s: STATUS_CLASS.get(s, "off"),
)
templates.env.globals.update(
    duration=_duration,
    nav_groups=nav.groups,
    roles=nav.ROLES,
    shown_status=counters.shown_status,
)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template in the request's language and time zone (i18n.py)."""
    user = getattr(request.state, "user", None)
    here = i18n.for_request(request, user)
    context.update(
        user=user,
        is_admin=bool(user and user["role"] == "admin"),
        path=request.url.path,
        lang=here.language,
        tz=here.tz.key,
    )
    token = i18n.activate(here)
    try:
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
    finally:
        i18n.deactivate(token)
    response.headers["Content-Language"] = here.language
    return response


def notice(
    request: Request, message: str, kind: str = "ok", status_code: int = 200
) -> HTMLResponse:
    return render(request, "_notice.html", status_code, message=message, kind=kind)


def _problems(exc: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())


async def _form(request: Request) -> FormData:
    """The posted form; 422 when a field holds a control character (tab,
    line feed and carriage return aside): NUL made PostgreSQL answer 500."""
    form = await request.form()
    for name, value in form.multi_items():
        if control_character(name) or (isinstance(value, str) and control_character(value)):
            raise HTTPException(422, f"{name}: control characters are not allowed")
    return form


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- sign-in ------------------------------------------------------------------------


async def signed_in(request: Request) -> dict[str, Any]:
    services = get_services(request)
    token = request.cookies.get(SESSION_COOKIE)
    user = await users.session_user(services.db, token) if token else None
    if user is None:
        raise SignInRequired()
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("x-csrf-token") or (await _form(request)).get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user["csrf_token"]):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    request.state.user = user
    return user


async def admin(user: Annotated[dict[str, Any], Depends(signed_in)]) -> dict[str, Any]:
    if user["role"] != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this needs the admin role")
    return user


User = Annotated[dict[str, Any], Depends(signed_in)]
Admin = Annotated[dict[str, Any], Depends(admin)]

router = APIRouter(include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path on this site (no //host or scheme): no open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return _login_form(request, next)


def _login_form(
    request: Request,
    next_path: str,
    error: str | None = None,
    status_code: int = 200,
    username: str = "",
) -> HTMLResponse:
    csrf = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code,
        csrf=csrf,
        next=_safe_next(next_path),
        error=error,
        username=username,
    )
    settings = get_services(request).settings
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        samesite="lax",
        secure=settings.session_cookie_secure,
    )
    return response


@router.post("/login")
async def login(request: Request, services: ServicesDep) -> Response:
    form = await _form(request)
    next_path = _safe_next(_field(form, "next"))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(_field(form, "csrf"), expected):
        return _login_form(
            request, next_path, tr(request, "The form expired; please sign in again."), 400
        )
    username = _field(form, "username")[:64]
    password = form.get("password")
    throttle: users.SignInThrottle = request.app.state.sign_in_throttle
    address = request.client.host if request.client else None
    source = source_key(address)
    refused = throttle.refusal(source)
    if refused is not None:
        # Refused before any password is hashed: a flood costs nothing here.
        log.warning("dashboard sign-in refused for user %r from %s: %s", username, address, refused)
        message = (
            tr(request, "Too many failed sign-ins; try again in a few minutes.")
            if refused == users.TOO_MANY_FAILURES
            else tr(request, "Another sign-in from your address is being checked; try again.")
        )
        return _login_form(request, next_path, message, 429)
    user = None
    with throttle.checking(source):
        if isinstance(password, str) and username:
            user = await users.authenticate(services.db, username, password)
    if user is None:
        throttle.failed(source)
        log.warning("dashboard sign-in failed for user %r from %s", username, address)
        return _login_form(
            request, next_path, tr(request, "Wrong user name or password."), 401, username
        )
    throttle.succeeded(source)
    log.info("dashboard sign-in: %s (%s) from %s", user["username"], user["role"], address)
    response = await new_session_redirect(services, user["id"], next_path)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


async def new_session_redirect(services: Services, user_id: int, target: str) -> Response:
    """A new dashboard session for `user_id`: a redirect to `target` that
    sets its cookie (after a sign-in, and after a password change ended the
    user's sessions)."""
    lifetime = dt.timedelta(hours=services.settings.session_hours)
    token = await users.start_session(services.db, user_id, lifetime)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=services.settings.session_cookie_secure,
        path="/",
    )
    return response


@router.get("/language/{code}")
async def choose_language(request: Request, code: str, next: str = "/") -> Response:
    """The sign-in page's language switch (a signed-in user's choice is on
    their account page): a cookie for a year."""
    if code not in i18n.LANGUAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no language {code!r}")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(i18n.LANG_COOKIE, code, max_age=365 * 86_400, httponly=True, samesite="lax")
    return response


@router.post("/logout")
async def logout(request: Request, user: User, services: ServicesDep) -> Response:
    await users.end_session(services.db, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# -- stations -----------------------------------------------------------------------


STATION_FILTERS = ("online", "registration", "status", "protocol")
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1", "ocpp2.1")
# The station page's tabs (?tab=NAME): only the chosen tab's data is loaded.
STATION_TABS: tuple[tuple[str, str, bool], ...] = (
    ("overview", N_("Overview"), False),
    ("sessions", N_("Sessions"), False),
    ("commands", N_("Commands"), True),
    ("smart-charging", N_("Smart charging"), False),
    ("configuration", N_("Configuration"), False),
    ("firmware", N_("Firmware and logs"), False),
    ("security", N_("Security and certificates"), False),
    ("display", N_("Display"), False),
    ("frames", N_("Frame log"), False),
    ("manage", N_("Manage"), True),
)


def _choice(value: str | None, allowed: Any, name: str) -> str | None:
    """A filter's value from the query string: one of `allowed`, or 422."""
    if not value:
        return None
    if value not in allowed:
        raise HTTPException(422, f"{name}: not one of {', '.join(allowed)}")
    return value


async def _station_list(request: Request, services: Services) -> dict[str, Any]:
    """The page of stations the query string asks for, with the counters."""
    p = paging(request, *STATION_FILTERS)
    p.path = "/"  # the fragment's pager links to the page
    online = services.router.online()
    wanted = _choice(p.params.get("online"), ("yes", "no"), "online")
    rows = await provisioning.search_stations(
        services.db,
        q=p.q,
        online={"yes": True, "no": False}.get(wanted or ""),
        online_ids=online.keys(),
        registration_status=_choice(
            p.params.get("registration"), REGISTRATION_STATUSES, "registration"
        ),
        connector_status=_choice(p.params.get("status"), tuple(STATUS_CLASS), "status"),
        protocol=_choice(p.params.get("protocol"), PROTOCOLS, "protocol"),
        limit=p.limit,
        offset=p.offset,
    )
    rows = p.window(rows)
    stations = await provisioning.describe_stations(services.db, rows, online)
    return {
        "p": p,
        "live_url": "/ui/stations" + (f"?{request.url.query}" if request.url.query else ""),
        "stations": stations,
        "states": await counters.charging_states(services.db, [s.id for s in stations]),
        "counters": await counters.counters(services.db, online),
        "connector_statuses": tuple(STATUS_CLASS),
        "protocols": PROTOCOLS,
        "registration_statuses": REGISTRATION_STATUSES,
    }


@router.get("/")
async def stations_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return render(request, "stations.html", **await _station_list(request, services))


@router.get("/ui/stations")
async def stations_fragment(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    """The live part of the list: the same page and query, re-fetched."""
    return render(request, "_stations.html", **await _station_list(request, services))


@router.post("/stations/{station_id}/accept")
async def accept_station(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    """Accept a Pending station (from its row of the list)."""
    station = await _station(services, station_id)
    if station.registration_status == "Accepted":
        return notice(request, tr(request, "{id} is already accepted.", id=station_id))
    await provisioning.update_station(services.db, station_id, registration_status="Accepted")
    log.info("dashboard: %s accepted station %s", user["username"], station_id)
    return notice(
        request,
        tr(request, "Accepted {id}; it is registered at its next boot.", id=station_id),
    )


@router.post("/stations")
async def register_station(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    password = _field(form, "password") or None
    generated = password is None and form.get("generate") == "on"
    if generated:
        password = new_station_password()
    try:
        body = StationCreate(
            id=_field(form, "id"),
            password=password,
            registration_status=_field(form, "registration_status") or "Accepted",  # type: ignore[arg-type]
        )
    except pydantic.ValidationError as exc:
        return notice(request, _problems(exc), "bad")
    try:
        await provisioning.create_station(
            services.db,
            body.id,
            password=body.password,
            registration_status=body.registration_status,
        )
    except IntegrityError:
        return notice(request, tr(request, "Station {id} already exists.", id=body.id), "bad")
    log.info("dashboard: %s registered station %s", user["username"], body.id)
    return render(
        request, "_registered.html", station_id=body.id, password=password if generated else None
    )


async def _station(services: Services, station_id: str) -> StationOut:
    row = await provisioning.find_station(services.db, station_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    return (await provisioning.describe_stations(services.db, [row], services.router.online()))[0]


def _version(services: Services, station: StationOut) -> Version:
    return services.router.version_of(station.id) or Version(station.protocol or "ocpp1.6")


@router.get("/stations/{station_id}")
async def station_page(
    request: Request, station_id: str, user: User, services: ServicesDep, tab: str = "overview"
) -> HTMLResponse:
    station = await _station(services, station_id)
    version = _version(services, station)
    is_admin = user["role"] == "admin"
    tabs = [(name, label) for name, label, admin_only in STATION_TABS if is_admin or not admin_only]
    if tab not in {name for name, _ in tabs}:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no tab {tab!r}")
    context: dict[str, Any] = {}
    if tab == "overview":
        context["counters"] = await counters.counters(
            services.db, services.router.online(), station_id
        )
    if tab in ("sessions", "commands"):
        context.update(await _station_sessions(services, station_id))
    if tab == "commands":
        context["reset_types"] = services.outgoing[version].choices[Reset]
        context["triggers"] = services.outgoing[version].choices[TriggerMessage]
    if tab == "configuration":
        context["variables"] = await device_model_service.device_variables(services.db, station_id)
    if tab == "security":
        context.update(await _station_certificates(services, station_id))
    return render(
        request,
        "station.html",
        station=station,
        version=version,
        tab=tab,
        tabs=tabs,
        states=await _states(services, [station]),
        registration_statuses=REGISTRATION_STATUSES,
        **context,
    )


async def _states(services: Services, stations: list[StationOut]) -> dict[tuple[str, int], str]:
    return await counters.charging_states(services.db, [s.id for s in stations])


async def _station_certificates(services: Services, station_id: str) -> dict[str, Any]:
    """The certificates section (_station_certificates.html)."""
    return {
        "issued_certificates": await certificates.list_issued(
            services.db, station_id=station_id, limit=20
        ),
        "installed_certificates": await certificates.list_installed(services.db, station_id),
        "csr_requests": await certificates.list_requests(
            services.db, station_id=station_id, limit=5
        ),
    }


@router.get("/stations/{station_id}/live")
async def station_live(
    request: Request, station_id: str, user: User, services: ServicesDep, tab: str = "overview"
) -> HTMLResponse:
    """The station's header (and its connectors on the tabs that show them)."""
    station = await _station(services, station_id)
    return render(
        request,
        "_station_live.html",
        station=station,
        tab=tab,
        states=await _states(services, [station]),
    )


async def _station_sessions(services: Services, station_id: str) -> dict[str, Any]:
    rows = await transactions.list_transactions(services.db, station_id=station_id, limit=30)
    return {
        "active": [r for r in rows if r["status"] == "Active"],
        "past": [r for r in rows if r["status"] != "Active"],
    }


@router.get("/stations/{station_id}/sessions")
async def station_sessions(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    station = await _station(services, station_id)
    return render(
        request,
        "_station_sessions.html",
        station=station,
        **await _station_sessions(services, station_id),
    )


@router.get("/stations/{station_id}/frames")
async def station_frames(
    request: Request,
    station_id: str,
    user: User,
    services: ServicesDep,
    action: str = "",
    direction: str = "",
) -> HTMLResponse:
    await _station(services, station_id)
    rows = await framelog.list_frames(
        services.db,
        station_id,
        limit=50,
        action=action.strip() or None,
        direction=direction if direction in ("in", "out") else None,
    )
    frames = []
    for row in rows:
        try:
            parsed: Any = orjson.loads(row["raw"])
        except orjson.JSONDecodeError:
            parsed = None
        payload = parsed[-1] if isinstance(parsed, list) and parsed else parsed
        kind = FRAME_KINDS.get(row["message_type"] or 0, "?")
        frames.append(
            {
                **row,
                "kind": kind,
                "pretty": _pretty(payload) if parsed is not None else row["raw"],
            }
        )
    return render(request, "_frames.html", frames=frames)


@router.post("/stations/{station_id}/commands")
async def station_command(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    station = await _station(services, station_id)
    form = await _form(request)
    kind = _field(form, "kind")
    log.info("dashboard: %s sends %s to %s", user["username"], kind, station_id)
    try:
        command = await run_command(services, station_id, _version(services, station), kind, form)
    except CommandInputError as exc:
        return notice(request, str(exc), "bad")
    return render(request, "_command_result.html", command=command)


@router.post("/stations/{station_id}/settings")
async def station_settings(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    row = await _station(services, station_id)
    form = await _form(request)
    values: dict[str, Any] = {}
    if _field(form, "security_profile"):
        wanted = _field(form, "security_profile")
        values["security_profile"] = int(wanted) if wanted.isdigit() else wanted
        values["allow_lower"] = form.get("allow_lower") == "on"
    if _field(form, "registration_status"):
        values["registration_status"] = _field(form, "registration_status")
    if form.get("clear_password") == "on":
        values["clear_password"] = True
    elif _field(form, "password"):
        values["password"] = _field(form, "password")
    try:
        body = StationUpdate(**values)
    except pydantic.ValidationError as exc:
        return notice(request, _problems(exc), "bad")
    changes: dict[str, Any] = body.model_dump(
        exclude_unset=True, exclude={"clear_password", "allow_lower"}
    )
    if body.clear_password:
        changes["password"] = None
    if body.security_profile is not None:
        try:
            profiles.check_change(row.security_profile, body.security_profile, body.allow_lower)
        except profiles.LoweringRefused as exc:
            return notice(request, str(exc).replace("set allow_lower", "tick 'allow'"), "bad")
    await provisioning.update_station(services.db, station_id, **changes)
    log.info(
        "dashboard: %s changed station %s (%s)", user["username"], station_id, ", ".join(changes)
    )
    if not changes:
        return notice(request, tr(request, "Nothing to change."))
    return notice(request, tr(request, "Saved: {what}.", what=", ".join(changes)))


@router.post("/stations/{station_id}/remove")
async def remove_station(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> Response:
    await _station(services, station_id)
    if services.router.version_of(station_id) is not None:
        message = tr(request, "{id} is connected; it cannot be removed now.", id=station_id)
        return notice(request, message, "bad")
    try:
        await provisioning.delete_station(services.db, station_id)
    except IntegrityError:
        message = tr(
            request, "{id} has sessions; set it Rejected instead of removing it.", id=station_id
        )
        return notice(request, message, "bad")
    log.info("dashboard: %s removed station %s", user["username"], station_id)
    return Response(status_code=204, headers={"HX-Redirect": "/"})


# -- fleet charts -------------------------------------------------------------------


@router.get("/fleet")
async def fleet_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    totals = {d["day"]: d for d in await transactions.daily_totals(services.db, days=30)}
    today = utcnow().date()
    days = [
        totals.get(str(day), {"day": str(day), "sessions": 0, "energy_wh": 0.0})
        for day in (today - dt.timedelta(days=n) for n in range(29, -1, -1))
    ]
    history: OnlineHistory = request.app.state.online_history
    online = history.series()
    day_x = [dt.datetime.fromisoformat(d["day"]).replace(tzinfo=dt.UTC).timestamp() for d in days]
    charts = {
        "sessions": {"x": day_x, "y": [d["sessions"] for d in days]},
        "energy": {"x": day_x, "y": [round(d["energy_wh"] / 1000, 2) for d in days]},
        "online": {"x": [t for t, _ in online], "y": [n for _, n in online]},
    }
    return render(
        request,
        "fleet.html",
        days=days,
        charts=charts,
        total_sessions=sum(d["sessions"] for d in days),
        total_energy_wh=sum(d["energy_wh"] for d in days),
        sample_minutes=history.interval / 60,
        counters=await counters.counters(services.db, services.router.online()),
    )


# -- wiring -------------------------------------------------------------------------


def is_dashboard_page(request: Request) -> bool:
    path = request.url.path
    return (
        not request.headers.get("hx-request")
        and "text/html" in request.headers.get("accept", "")
        and not path.startswith(("/api/", "/healthz", "/metrics", "/openapi", "/docs", "/redoc"))
    )


def install(app: FastAPI, online_history: OnlineHistory) -> None:
    """Add the dashboard to the API's FastAPI app."""
    app.state.online_history = online_history
    settings = app.state.services.settings
    app.state.sign_in_throttle = users.SignInThrottle(
        limit=settings.sign_in_failures,
        window=settings.sign_in_window,
        concurrent=settings.sign_in_concurrent,
    )
    # They build on this module's helpers.
    from volta.web import (
        accounts,
        api_docs,
        availability,
        cdrs,
        device_model,
        display_messages,
        events,
        files,
        firmware,
        local_lists,
        monitoring,
        reservations,
        security,
        sessions,
        smart_charging,
        tariffs,
        tokens,
        webhooks,
    )

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(smart_charging.router)
    app.include_router(security.router)
    for pages in (files, firmware, device_model, monitoring, display_messages, availability):
        app.include_router(pages.router)
    # The operations console's pages (issue 17).
    for pages in (reservations, tariffs, cdrs, webhooks, events, local_lists, accounts):
        app.include_router(pages.router)
    for pages in (sessions, tokens, api_docs):
        app.include_router(pages.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        target = "/login"
        if request.url.path not in ("/", "/login"):
            target += "?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request"):
            # htmx follows this header with a full page load.
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A person's browser gets a page; the API and htmx keep JSON.
        if is_dashboard_page(request):
            title = {403: tr(request, "Not allowed"), 404: tr(request, "Not found")}.get(
                exc.status_code, tr(request, "Error")
            )
            return render(request, "error.html", exc.status_code, title=title, detail=exc.detail)
        return await http_exception_handler(request, exc)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
        return response
