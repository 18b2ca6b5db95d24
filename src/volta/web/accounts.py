"""The console's accounts pages: Users (`/users`, admins: add, change a
role, reset a password, remove; the same checks as `volta users`, and never
without an admin) and My account (`/account`, everyone: language, time zone,
own password).

Every change is logged with the acting user's name; a password never is, and
a generated one is shown once, in the answer to the request that made it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData

from volta.http import ServicesDep
from volta.store.models import utcnow
from volta.web import i18n, users
from volta.web.i18n import tr
from volta.web.nav import N_, ROLES
from volta.web.paging import MAX_PAGE, Paging, paging, text_param
from volta.web.views import (
    SESSION_COOKIE,
    Admin,
    User,
    _field,
    _form,
    new_session_redirect,
    render,
)

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _problem(request: Request, exc: users.UserError) -> str:
    """A users.py refusal (its English is the CLI's) in the user's language."""
    if isinstance(exc, users.LastAdmin):
        return tr(request, "The last admin cannot be removed or made a viewer.")
    text = str(exc)
    if "password" in text:
        return tr(request, "A password has at least {n} characters.", n=users.MIN_PASSWORD_LENGTH)
    if "user name" in text:
        return tr(request, "A user name is 1 to 64 printable characters without spaces.")
    return tr(request, "Unknown role.")


class Refused(Exception):
    """Why a form was refused, in the user's language."""


def _new_password(request: Request, form: FormData) -> tuple[str, bool]:
    """The password a form sets: generated (shown once) when asked for, else
    typed twice. Raises Refused."""
    if form.get("generate") == "on":
        return users.new_password(), True
    password = form.get("password")
    if not isinstance(password, str) or password != form.get("password2"):
        raise Refused(tr(request, "The two passwords differ."))
    try:
        users.check_password(password)
    except users.UserError as exc:
        raise Refused(_problem(request, exc)) from None
    return password, False


# -- Users (admins) -----------------------------------------------------------------


def _list_paging(request: Request) -> Paging:
    """The list's paging: the page's own query string, or for an htmx action
    the URL of the page it came from (so the list stays where it was)."""
    current = request.headers.get("hx-current-url")
    if request.method == "GET" or not current:
        return paging(request)
    query = parse_qs(urlsplit(current).query)
    raw_page = (query.get("page") or ["1"])[0]
    page = int(raw_page) if raw_page.isdigit() else 1
    return Paging(
        path="/users",
        page=min(max(page, 1), MAX_PAGE),
        q=text_param((query.get("q") or [""])[0]),
    )


async def _users_view(request: Request, services: ServicesDep) -> dict[str, Any]:
    p = _list_paging(request)
    rows = await users.find_users(services.db, p.q, limit=p.limit, offset=p.offset)
    return {"p": p, "people": p.window(rows), "roles_list": users.ROLES}


async def _users_table(
    request: Request,
    services: ServicesDep,
    *,
    message: str | None = None,
    error: str | None = None,
    password_for: str | None = None,
    password: str | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "_users.html",
        message=message,
        error=error,
        password_for=password_for,
        password=password,
        **await _users_view(request, services),
    )
    if error:
        response.headers["X-Volta-Outcome"] = "error"  # the form keeps what was typed
    return response


@router.get("/users")
async def users_page(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    return render(request, "users.html", **await _users_view(request, services))


@router.post("/users")
async def add_user(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    username = _field(form, "username")
    role = _field(form, "role") or "viewer"
    try:
        password, generated = _new_password(request, form)
        await users.add_user(services.db, username, password, role)
    except Refused as exc:
        return await _users_table(request, services, error=str(exc))
    except users.UserError as exc:
        return await _users_table(request, services, error=_problem(request, exc))
    except IntegrityError:
        return await _users_table(
            request, services, error=tr(request, "User {name} already exists.", name=username)
        )
    log.info("dashboard: %s added user %s (%s)", user["username"], username, role)
    return await _users_table(
        request,
        services,
        message=tr(request, "Added user {name}.", name=username),
        password_for=username if generated else None,
        password=password if generated else None,
    )


@router.post("/users/role")
async def change_role(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    username, role = _field(form, "username"), _field(form, "role")
    try:
        found = await users.set_role(services.db, username, role)
    except users.UserError as exc:
        return await _users_table(request, services, error=_problem(request, exc))
    if not found:
        return await _users_table(
            request, services, error=tr(request, "No user {name}.", name=username)
        )
    log.info("dashboard: %s made user %s %s", user["username"], username, role)
    return await _users_table(
        request,
        services,
        message=tr(
            request,
            "{name} is now {role}.",
            name=username,
            role=tr(request, ROLES.get(role, role)),
        ),
    )


def _signed_out() -> Response:
    """The acting user ended their own session: to the sign-in page."""
    response = Response(status_code=204, headers={"HX-Redirect": "/login"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/users/password")
async def reset_password(request: Request, user: Admin, services: ServicesDep) -> Response:
    form = await _form(request)
    username = _field(form, "username")
    try:
        password, generated = _new_password(request, form)
        found = await users.set_password(services.db, username, password)
    except Refused as exc:
        return await _users_table(request, services, error=str(exc))
    except users.UserError as exc:
        return await _users_table(request, services, error=_problem(request, exc))
    if not found:
        return await _users_table(
            request, services, error=tr(request, "No user {name}.", name=username)
        )
    log.info("dashboard: %s reset the password of user %s", user["username"], username)
    if username == user["username"]:
        return _signed_out()
    return await _users_table(
        request,
        services,
        message=tr(request, "New password for {name}; their sessions ended.", name=username),
        password_for=username if generated else None,
        password=password if generated else None,
    )


@router.post("/users/remove")
async def remove_user(request: Request, user: Admin, services: ServicesDep) -> Response:
    username = _field(await _form(request), "username")
    try:
        found = await users.remove_user(services.db, username, keep_an_admin=True)
    except users.UserError as exc:
        return await _users_table(request, services, error=_problem(request, exc))
    if not found:
        return await _users_table(
            request, services, error=tr(request, "No user {name}.", name=username)
        )
    log.info("dashboard: %s removed user %s", user["username"], username)
    if username == user["username"]:
        return _signed_out()
    return await _users_table(
        request, services, message=tr(request, "Removed user {name}.", name=username)
    )


# -- My account (everyone) ------------------------------------------------------------


def _account(
    request: Request, services: ServicesDep, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    return render(
        request,
        "account.html",
        status_code,
        time_zones=i18n.time_zones(),
        site_zone=services.settings.console_time_zone or "UTC",
        now=utcnow(),
        **extra,
    )


SAVED = {"settings": N_("Saved."), "password": N_("Your password was changed.")}


@router.get("/account")
async def account_page(
    request: Request, user: User, services: ServicesDep, saved: str = ""
) -> HTMLResponse:
    return _account(request, services, saved=SAVED.get(saved))


@router.post("/account")
async def save_account(request: Request, user: User, services: ServicesDep) -> Response:
    form = await _form(request)
    language = _field(form, "language") or None
    time_zone = _field(form, "time_zone") or None
    if language is not None and language not in i18n.LANGUAGES:
        return _account(request, services, 422, error=tr(request, "Unknown language."))
    if time_zone is not None and i18n.zone(time_zone) is None:
        return _account(request, services, 422, error=tr(request, "Unknown time zone."))
    await users.set_preferences(services.db, user["id"], language, time_zone)
    log.info(
        "dashboard: %s set language %s, time zone %s",
        user["username"],
        language or "(browser)",
        time_zone or "(site)",
    )
    return RedirectResponse("/account?saved=settings", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/account/password")
async def change_password(request: Request, user: User, services: ServicesDep) -> Response:
    form = await _form(request)
    current = form.get("current")
    if not isinstance(current, str) or not await users.check_own_password(
        services.db, user["id"], current
    ):
        log.warning("dashboard: %s gave a wrong current password", user["username"])
        return _account(
            request, services, 400, error=tr(request, "Your current password is not right.")
        )
    try:
        password, _generated = _new_password(request, form)
        await users.set_password(services.db, user["username"], password)
    except Refused as exc:
        return _account(request, services, 400, error=str(exc))
    log.info("dashboard: %s changed their password", user["username"])
    # Every session of the user ended (others' too); this browser gets a new one.
    return await new_session_redirect(services, user["id"], "/account?saved=password")
