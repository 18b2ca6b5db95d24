"""The console's id tokens: search, filters (status, type, group) and pages on
the server, in token order (unique, so rows never swap); an admin adds, edits,
blocks, expires and removes them (block and remove ask first). Expiry dates
are typed and shown in the user's time zone."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlsplit

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import FormData
from starlette.requests import Request as StarletteRequest

from volta.blocks.authorization import service as tokens_service
from volta.blocks.authorization.models import IdTokenCreate, IdTokenUpdate
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import utcnow
from volta.web import i18n, paging
from volta.web.i18n import tr
from volta.web.views import Admin, User, _field, _form, _problems, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

TOKEN_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
TOKEN_TYPES = ("ISO14443", "ISO15693", "Central", "eMAID", "KeyCode", "Local", "MacAddress")
FILTERS = ("status", "type", "group")


def _list_paging(request: Request) -> paging.Paging:
    """The list's paging: from the query string on a GET; on a POST (htmx),
    from the page the user is on (HX-Current-URL), so the table redrawn after
    an action keeps its search, filters and page."""
    if request.method == "GET":
        return paging.paging(request, *FILTERS)
    current = urlsplit(request.headers.get("hx-current-url", ""))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/tokens",
        "query_string": current.query.encode() if current.path == "/tokens" else b"",
        "headers": [],
    }
    return paging.paging(StarletteRequest(scope), *FILTERS)


async def _rows(request: Request, services: Services, p: paging.Paging) -> list[dict[str, Any]]:
    f = p.params
    rows = p.window(
        await tokens_service.list_tokens(
            services.db,
            limit=p.limit,
            offset=p.offset,
            search=p.q or None,
            status=f.get("status") if f.get("status") in TOKEN_STATUSES else None,
            token_type=f.get("type") if f.get("type") in TOKEN_TYPES else None,
            group_id=f.get("group") or None,
        )
    )
    # The edit form's value: the expiry in the user's zone, as datetime-local takes it.
    tz = i18n.for_request(request).tz
    for row in rows:
        expires = row["expires_at"]
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        row["expires_local"] = f"{expires.astimezone(tz):%Y-%m-%dT%H:%M}" if expires else ""
    return rows


async def _tokens_table(request: Request, services: Services, **extra: Any) -> HTMLResponse:
    p = _list_paging(request)
    response = render(
        request,
        "_tokens.html",
        tokens=await _rows(request, services, p),
        p=p,
        now=utcnow(),
        token_statuses=TOKEN_STATUSES,
        **extra,
    )
    if extra.get("error"):
        response.headers["X-Volta-Outcome"] = "error"  # the form keeps what was typed
    return response


@router.get("/tokens")
async def tokens_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = _list_paging(request)
    return render(
        request,
        "tokens.html",
        tokens=await _rows(request, services, p),
        p=p,
        f=p.params,
        now=utcnow(),
        token_statuses=TOKEN_STATUSES,
        token_types=TOKEN_TYPES,
    )


def _expiry(request: Request, form: FormData) -> dt.datetime | None:
    text = _field(form, "expires_at")
    try:
        return i18n.parse_local(text, i18n.for_request(request))
    except ValueError:
        raise ValueError(tr(request, "{text} is not a date and time.", text=text)) from None


@router.post("/tokens")
async def add_token(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    try:
        body = IdTokenCreate(
            token=_field(form, "token"),
            type=_field(form, "type") or "ISO14443",  # type: ignore[arg-type]
            status=_field(form, "status") or "Accepted",  # type: ignore[arg-type]
            expires_at=_expiry(request, form),
            group_id=_field(form, "group_id") or None,
        )
    except pydantic.ValidationError as exc:
        return await _tokens_table(request, services, error=_problems(exc))
    except ValueError as exc:
        return await _tokens_table(request, services, error=str(exc))
    try:
        await tokens_service.add_token(
            services.db,
            body.token,
            status=body.status,
            token_type=body.type,
            expires_at=body.expires_at,
            group_id=body.group_id,
        )
    except IntegrityError:
        error = tr(request, "{token} already exists.", token=body.token)
        return await _tokens_table(request, services, error=error)
    log.info("dashboard: %s added id token %s", user["username"], body.token)
    message = tr(request, "Added {token}.", token=body.token)
    return await _tokens_table(request, services, message=message)


@router.post("/tokens/update")
async def update_token(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    token = _field(form, "token")
    values: dict[str, Any] = {}
    if _field(form, "status"):
        values["status"] = _field(form, "status")
    if "group_id" in form:
        values["group_id"] = _field(form, "group_id") or None
    try:
        if "expires_at" in form:
            values["expires_at"] = _expiry(request, form)
        if form.get("expire_now") == "on":
            values["expires_at"] = utcnow()
        body = IdTokenUpdate(**values)
    except pydantic.ValidationError as exc:
        return await _tokens_table(request, services, error=_problems(exc))
    except ValueError as exc:
        return await _tokens_table(request, services, error=str(exc))
    changes = body.model_dump(exclude_unset=True)
    if not await tokens_service.update_token(services.db, token, **changes):
        error = tr(request, "{token} not found.", token=token)
        return await _tokens_table(request, services, error=error)
    log.info("dashboard: %s changed id token %s (%s)", user["username"], token, ", ".join(changes))
    return await _tokens_table(
        request, services, message=tr(request, "Saved {token}.", token=token)
    )


@router.post("/tokens/remove")
async def remove_token(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    token = _field(await _form(request), "token")
    if not await tokens_service.remove_token(services.db, token):
        error = tr(request, "{token} not found.", token=token)
        return await _tokens_table(request, services, error=error)
    log.info("dashboard: %s removed id token %s", user["username"], token)
    message = tr(request, "Removed {token}.", token=token)
    return await _tokens_table(request, services, message=message)
