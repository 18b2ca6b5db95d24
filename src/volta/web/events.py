"""The console's event log (issue 17, part D): Volta's events, what the
webhooks get, newest first, filtered by type and station, searched, paged;
on the first page new events come in live: htmx polls a fragment with only
the events newer than the newest one shown (at most LIVE_BATCH rows, a few
KB), adds them on top without moving what is shown, and dashboard.js keeps
at most MAX_ROWS rows on screen."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from volta.events.service import TYPES
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import Event
from volta.store.search import text_in
from volta.web.paging import Paging, paging
from volta.web.views import User, render

router = APIRouter(include_in_schema=False)

INT64_MAX = 2**63 - 1
LIVE_BATCH = 50
MAX_ROWS = 200
DATA_CHARS = 160


def _filtered(stmt: Any, p: Paging) -> Any:
    kind = p.params.get("type")
    if kind in TYPES:
        stmt = stmt.where(Event.type == kind)
    station = p.params.get("station")
    if station:
        stmt = stmt.where(Event.station_id == station)
    if p.q:
        stmt = stmt.where(text_in(p.q, Event.station_id, Event.type))
    return stmt


def _row(r: Any) -> dict[str, Any]:
    data = {
        k: v
        for k, v in (r.data or {}).items()
        if not (k in ("station_id", "transaction_id") and (v is None or v == getattr(r, k)))
    }
    text = orjson.dumps(data).decode() if data else ""
    if len(text) > DATA_CHARS:
        text = text[: DATA_CHARS - 1] + "…"
    return {
        "id": r.id,
        "type": r.type,
        "station_id": r.station_id,
        "transaction_id": r.transaction_id,
        "created_at": r.created_at,
        "data": text,
    }


_COLUMNS = (
    Event.id,
    Event.type,
    Event.station_id,
    Event.transaction_id,
    Event.created_at,
    Event.data,
)


async def _events(services: Services, stmt: Any) -> list[dict[str, Any]]:
    async with services.db.read() as conn:
        return [_row(r) for r in (await conn.execute(stmt)).all()]


@router.get("/events")
async def events_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = paging(request, "type", "station")
    stmt = _filtered(sa.select(*_COLUMNS), p).order_by(Event.id.desc())
    rows = p.window(await _events(services, stmt.limit(p.limit).offset(p.offset)))
    query = p.url(page=p.page)[len(p.path) :]
    return render(
        request,
        "events.html",
        p=p,
        rows=rows,
        types=TYPES,
        live=p.page == 1,
        live_url="/events/live" + query,
        after=rows[0]["id"] if rows else 0,
        max_rows=MAX_ROWS,
    )


@router.get("/events/live")
async def events_live(
    request: Request,
    user: User,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> HTMLResponse:
    """Rows of the events newer than `after` that match the page's filters,
    newest first, at most LIVE_BATCH (the newest of them)."""
    p = paging(request, "type", "station")
    stmt = (
        _filtered(sa.select(*_COLUMNS), p)
        .where(Event.id > after)
        .order_by(Event.id.desc())
        .limit(LIVE_BATCH)
    )
    return render(request, "_event_rows.html", rows=await _events(services, stmt), fresh=True)
