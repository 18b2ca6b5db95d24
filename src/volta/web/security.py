"""The dashboard's security pages: the fleet's security event log (critical
ones first and highlighted) and a station's security section (its security
profile when the column exists, its password rotation with the admin's
button, its latest security events)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from volta.blocks.provisioning import service as provisioning
from volta.blocks.security import log as security_log
from volta.blocks.security import passwords
from volta.http import ServicesDep
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


@router.get("/security")
async def security_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    """The fleet's security events, critical first then newest (the id
    last: a stable order), one page at a time; search, station, critical."""
    p = paging(request, "station_id", "critical")
    only_critical = p.params.get("critical") == "1"
    station_filter = p.params.get("station_id", "")[:48]
    events = await security_log.list_events(
        services.db,
        station_id=station_filter or None,
        critical=True if only_critical else None,
        critical_first=True,
        q=p.q or None,
        limit=p.limit,
        offset=p.offset,
    )
    return render(
        request,
        "security.html",
        events=p.window(events),
        p=p,
        only_critical=only_critical,
        station_filter=station_filter,
    )


async def _panel(request: Request, services: ServicesDep, station_id: str, **extra: Any) -> Any:
    station = await provisioning.find_station(services.db, station_id)
    if station is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    return render(
        request,
        "_station_security_panel.html",
        station=station,
        # Another part of issue 14 adds stations.security_profile; shown when there.
        security_profile=station.get("security_profile"),
        rotation=await passwords.get_rotation(services.db, station_id),
        online=services.router.version_of(station_id) is not None,
        events=await security_log.list_events(services.db, station_id=station_id, limit=20),
        **extra,
    )


@router.get("/stations/{station_id}/security")
async def station_security(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> Any:
    return await _panel(request, services, station_id)


@router.post("/stations/{station_id}/password-rotation")
async def rotate_password(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> Any:
    log.info("dashboard: %s rotates the password of %s", user["username"], station_id)
    try:
        await passwords.rotate(services, station_id, started_by="dashboard")
    except passwords.StationNotFound:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    except passwords.RotationRefused as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(request, services, station_id)
