"""The console's local authorization lists (issue 17, part D): every
station's list (the version it holds, its entries, the last update sent and
the station's answer), paginated and searched; a station's list with its
entries, and for an admin: add and remove entries (kept pending until sent),
send the update (Differential, or the whole list Full) with the station's
answer, and ask the station which version it holds (GetLocalListVersion).
The same service as the HTTP API (volta.blocks.local_list)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from volta.blocks.local_list import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import LocalList, LocalListEntry, Station
from volta.store.search import text_in
from volta.web.i18n import tr
from volta.web.labels import LABELS
from volta.web.nav import N_
from volta.web.paging import Paging, paging
from volta.web.views import Admin, User, _field, _form, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

# Why nothing was sent (volta.blocks.local_list.service._sync's reasons).
NOT_SENT = {
    "offline": N_("Nothing sent: the station is offline; it gets the update when it is back."),
    "no list": N_("Nothing sent: Volta does not manage this station's list."),
    "in step": N_("Nothing sent: the station already holds every entry."),
}


async def _stations(services: Services, p: Paging) -> list[dict[str, Any]]:
    stmt = (
        sa.select(
            Station.id,
            Station.protocol,
            LocalList.version,
            LocalList.full_pending,
            LocalList.last_status,
            LocalList.synced_at,
            LocalList.managed,
        )
        .outerjoin(LocalList, LocalList.station_id == Station.id)
        .order_by(Station.id)
        .limit(p.limit)
        .offset(p.offset)
    )
    if p.q:
        stmt = stmt.where(text_in(p.q, Station.id))
    if p.params.get("has") == "list":
        stmt = stmt.where(LocalList.station_id.is_not(None))
    async with services.db.read() as conn:
        rows = p.window([dict(r) for r in (await conn.execute(stmt)).mappings().all()])
        ids = [r["id"] for r in rows]
        counts: dict[str, tuple[int, int]] = {}
        if ids:
            # Entries the list holds, and changes not sent yet (removals too).
            held = sa.func.sum(sa.case((LocalListEntry.removed.is_(False), 1), else_=0))
            pending = sa.func.sum(sa.case((LocalListEntry.pending.is_(True), 1), else_=0))
            found = await conn.execute(
                sa.select(LocalListEntry.station_id, held, pending)
                .where(LocalListEntry.station_id.in_(ids))
                .group_by(LocalListEntry.station_id)
            )
            counts = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in found.all()}
    online = services.router.online()
    for row in rows:
        row["entries"], row["pending"] = counts.get(row["id"], (0, 0))
        row["online"] = row["id"] in online
    return rows


@router.get("/local-lists")
async def local_lists_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = paging(request, "has")
    return render(request, "local_lists.html", p=p, stations=await _stations(services, p))


async def _station_id(services: Services, station_id: str) -> str:
    if len(station_id) > 48 or await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    return station_id


async def _view(request: Request, services: Services, station_id: str) -> dict[str, Any]:
    p = paging(request)
    p.path = f"/local-lists/{station_id}"
    async with services.db.read() as conn:
        lst = (
            (await conn.execute(sa.select(LocalList).where(LocalList.station_id == station_id)))
            .mappings()
            .first()
        )
        stmt = (
            sa.select(LocalListEntry)
            .where(LocalListEntry.station_id == station_id)
            .order_by(LocalListEntry.token)
            .limit(p.limit)
            .offset(p.offset)
        )
        if p.q:
            stmt = stmt.where(text_in(p.q, LocalListEntry.token))
        entries = [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
    return {
        "station_id": station_id,
        "online": station_id in services.router.online(),
        "lst": dict(lst) if lst else None,
        "p": p,
        "entries": p.window(entries),
    }


@router.get("/local-lists/{station_id}")
async def local_list_page(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    await _station_id(services, station_id)
    return render(request, "local_list.html", **await _view(request, services, station_id))


async def _panel(
    request: Request, services: Services, station_id: str, message: str, kind: str = "ok"
) -> HTMLResponse:
    """The list's panel again (state and entries), with what happened."""
    view = await _view(request, services, station_id)
    response = render(request, "_local_list.html", message=message, kind=kind, **view)
    if kind == "bad":
        response.headers["X-Volta-Outcome"] = "error"
    return response


def _tokens(text: str) -> list[str]:
    return [t for t in (part.strip() for part in text.replace(",", " ").split()) if t][:100]


@router.post("/local-lists/{station_id}/entries")
async def add_entries(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _station_id(services, station_id)
    tokens = _tokens(_field(await _form(request), "tokens"))
    if not tokens or any(len(t) > 64 for t in tokens):
        return await _panel(
            request, services, station_id, tr(request, "Type one or more id tokens."), "bad"
        )
    try:
        await service.change_members(services.db, station_id, add=tokens, remove=[])
    except service.UnknownTokens as exc:
        return await _panel(
            request,
            services,
            station_id,
            tr(request, "Unknown id tokens: {tokens}", tokens=", ".join(exc.tokens)),
            "bad",
        )
    log.info(
        "dashboard: %s added %d entries to %s's local list",
        user["username"],
        len(tokens),
        station_id,
    )
    return await _panel(
        request,
        services,
        station_id,
        tr(request, "Added {tokens}; send the update to the station.", tokens=", ".join(tokens)),
    )


@router.post("/local-lists/{station_id}/entries/remove")
async def remove_entry(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _station_id(services, station_id)
    token = _field(await _form(request), "token")[:64]
    await service.change_members(services.db, station_id, add=[], remove=[token])
    log.info("dashboard: %s removed %s from %s's local list", user["username"], token, station_id)
    return await _panel(
        request,
        services,
        station_id,
        tr(request, "Removed {token}; send the update to the station.", token=token),
    )


@router.post("/local-lists/{station_id}/send")
async def send_list(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _station_id(services, station_id)
    full = _field(await _form(request), "full") == "1"
    if await service.get_list(services.db, station_id) is None:
        return await _panel(
            request, services, station_id, tr(request, "This station has no local list yet."), "bad"
        )
    log.info(
        "dashboard: %s sends %s's local list (%s)",
        user["username"],
        station_id,
        "full" if full else "differential",
    )
    sent = await service.sync(services, station_id, force_full=full)
    if not sent.get("sent"):
        reason = NOT_SENT.get(str(sent.get("reason")))
        text = tr(request, reason) if reason else str(sent.get("reason"))
        return await _panel(request, services, station_id, text, "bad")
    command = sent["command"]
    answer = (command.get("response") or {}).get("status") or command["status"]
    message = tr(
        request,
        "Sent a {kind} update (version {version}); the station answered {answer}.",
        kind=tr(request, "Full") if sent["update_type"] == "Full" else tr(request, "Differential"),
        version=sent["version"],
        answer=tr(request, LABELS.get(str(answer), str(answer))),
    )
    return await _panel(
        request, services, station_id, message, "ok" if answer == "Accepted" else "bad"
    )


@router.post("/local-lists/{station_id}/version")
async def ask_version(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _station_id(services, station_id)
    found = await service.query_version(services, station_id)
    if isinstance(found.get("version"), int):
        message = tr(request, "The station holds version {version}.", version=found["version"])
        return await _panel(request, services, station_id, message)
    command = found["command"]
    message = tr(
        request,
        "The station did not answer ({status}).",
        status=command.get("error_description") or command["status"],
    )
    return await _panel(request, services, station_id, message, "bad")
