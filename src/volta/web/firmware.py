"""The dashboard's firmware pages: campaigns and their progress, a campaign's
stations, and a station's firmware updates (a fragment of the station page)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from volta.blocks.firmware import campaigns, service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.web.i18n import tr
from volta.web.paging import Paging, paging
from volta.web.views import Admin, User, _field, _form, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


def _int(value: str, name: str, low: int, high: int, default: int) -> int:
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise campaigns.CampaignError(f"{name}: a whole number") from None
    if not low <= number <= high:
        raise campaigns.CampaignError(f"{name}: between {low} and {high}")
    return number


def _problem(request: Request, exc: Exception) -> str:
    return tr(request, "Refused: {why}", why=str(exc))


async def _campaigns(request: Request, services: ServicesDep, path: str) -> dict[str, Any]:
    """A page of campaigns, newest first; search by name or version. The
    live fragment reads the page's own query string, with the page's path."""
    p = paging(request)
    p.path = path
    rows = await campaigns.list_campaigns(
        services.db, q=p.q or None, limit=p.limit, offset=p.offset
    )
    return {"campaigns": p.window(rows), "p": p}


@router.get("/firmware")
async def firmware_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return render(
        request,
        "firmware.html",
        files=await service.firmware_files(services.db),
        **await _campaigns(request, services, "/firmware"),
    )


@router.get("/firmware/campaigns")
async def campaign_rows(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return render(
        request, "_firmware_campaigns.html", **await _campaigns(request, services, "/firmware")
    )


@router.post("/firmware/campaigns")
async def create_campaign(request: Request, user: Admin, services: ServicesDep) -> Response:
    form = await _form(request)
    file_id = _field(form, "file_id") or None
    location = _field(form, "location") or None
    stations = [s.strip() for s in _field(form, "station_ids").split(",") if s.strip()]
    try:
        if location is not None and len(location) > 512:
            raise campaigns.CampaignError("location: at most 512 characters")
        threshold = _int(_field(form, "failure_percent"), "failure rate", 0, 100, 20)
        created = await campaigns.create_campaign(
            services,
            name=_field(form, "name")[:100] or "campaign",
            file_id=file_id,
            location=location,
            version=_field(form, "version")[:50] or None,
            target=campaigns.Target(
                vendor=_field(form, "vendor")[:50] or None,
                model=_field(form, "model")[:50] or None,
                firmware_version=_field(form, "from_version")[:50] or None,
                site_id=_int(_field(form, "site_id"), "site", 0, 2**31 - 1, -1)
                if _field(form, "site_id")
                else None,
                station_ids=[s[:48] for s in stations[: campaigns.MAX_STATIONS]],
            ),
            canary=_int(_field(form, "canary"), "canary", 0, 1000, 1),
            max_in_progress=_int(_field(form, "max_in_progress"), "at once", 1, 1000, 5),
            attempts=_int(_field(form, "attempts"), "attempts", 1, 10, 1),
            failure_threshold=threshold / 100,
            window_start=_field(form, "window_start") or None,
            window_end=_field(form, "window_end") or None,
            timezone=_field(form, "timezone")[:64] or "UTC",
            created_by="dashboard",
        )
    except campaigns.CampaignError as exc:
        return notice(request, _problem(request, exc), "bad")
    log.info("dashboard: %s started firmware campaign %d", user["username"], created["id"])
    return Response(
        status_code=204, headers={"HX-Redirect": f"/firmware/campaigns/{created['id']}"}
    )


@router.get("/firmware/campaigns/{campaign_id}")
async def campaign_page(
    request: Request, campaign_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return await _campaign(request, services, campaign_id, "firmware_campaign.html")


@router.get("/firmware/campaigns/{campaign_id}/live")
async def campaign_live(
    request: Request, campaign_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return await _campaign(request, services, campaign_id, "_firmware_campaign_live.html")


async def _campaign(
    request: Request, services: ServicesDep, campaign_id: int, template: str, **extra: Any
) -> HTMLResponse:
    found = (
        await campaigns.get_campaign(services.db, campaign_id) if 0 <= campaign_id < 2**31 else None
    )
    if found is None:
        return notice(request, tr(request, "Campaign {id} not found.", id=campaign_id), "bad", 404)
    # A page of its stations (canary first, then by id); the live fragment
    # and the buttons' answers keep the page's search and page number.
    p = paging(request, "state")
    p.path = f"/firmware/campaigns/{campaign_id}"
    stations = await campaigns.campaign_stations(
        services.db,
        campaign_id,
        q=p.q or None,
        state=p.params.get("state") or None,
        limit=p.limit,
        offset=p.offset,
    )
    return render(
        request,
        template,
        campaign=found,
        stations=p.window(stations),
        p=p,
        station_states=campaigns.STATION_STATES,
        live_url=_live_url(p),
        **extra,
    )


def _live_url(p: Paging) -> str:
    """The live fragment's URL with the page's search, filter and page."""
    return p.url(page=p.page).replace(p.path, p.path + "/live", 1)


@router.post("/firmware/campaigns/{campaign_id}/{move}")
async def change_campaign(
    request: Request, campaign_id: int, move: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    if move not in ("pause", "resume", "cancel"):
        return notice(request, tr(request, "No such action: {what}", what=move[:20]), "bad", 404)
    if not 0 <= campaign_id < 2**31:
        return notice(request, tr(request, "Campaign {id} not found.", id=campaign_id), "bad", 404)
    problem = None
    try:
        await campaigns.change_state(services, campaign_id, move)
        log.info("dashboard: %s: %s firmware campaign %d", user["username"], move, campaign_id)
    except LookupError as exc:
        return notice(request, str(exc), "bad", 404)
    except campaigns.CampaignError as exc:
        problem = _problem(request, exc)
    return await _campaign(
        request, services, campaign_id, "_firmware_campaign_live.html", problem=problem
    )


# -- a station's firmware ---------------------------------------------------------


async def _station_panel(
    request: Request, services: ServicesDep, station_id: str, **extra: Any
) -> HTMLResponse:
    station = await provisioning.find_station(services.db, station_id)
    if station is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    return render(
        request,
        "_station_firmware_panel.html",
        station=station,
        online=services.router.version_of(station_id) is not None,
        updates=await service.list_updates(services.db, station_id=station_id, limit=10),
        files=await service.firmware_files(services.db),
        **extra,
    )


@router.get("/stations/{station_id}/firmware")
async def station_firmware(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    return await _station_panel(request, services, station_id)


@router.get("/stations/{station_id}/firmware/history")
async def station_firmware_history(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    updates = await service.list_updates(services.db, station_id=station_id[:48], limit=10)
    return render(request, "_station_firmware_history.html", updates=updates)


@router.post("/stations/{station_id}/firmware-updates")
async def update_station_firmware(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    form = await _form(request)
    file_id = _field(form, "file_id") or None
    location = _field(form, "location")[:512] or None
    if await provisioning.find_station(services.db, station_id) is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    problem = None
    try:
        if file_id is not None and location is not None:
            raise service.UpdateRefused(
                tr(request, "Choose a stored file or give a location, not both.")
            )
        update = await service.start_update(
            services, station_id, file_id=file_id, location=location
        )
        log.info("dashboard: %s updates the firmware of %s", user["username"], station_id)
        if update["state"] == "failed":
            problem = tr(request, "The update failed: {why}", why=update["detail"])
    except service.UpdateRefused as exc:
        problem = _problem(request, exc)
    return await _station_panel(request, services, station_id, problem=problem)
