"""The dashboard's monitoring page: the events stations notify (filters:
station, severity, component; newest first; severities by their names), the
monitor sets an admin applies to the fleet; and a station's monitors as a
fragment of its page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from volta.blocks.monitoring import events, service, sets
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

MAX_FLEET_INPUT = 2000  # characters of the station list an admin types


def _severity(value: str) -> int | None:
    try:
        number = int(value)
    except ValueError:
        return None
    return number if 0 <= number <= 9 else None


@router.get("/monitoring")
async def monitoring_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    """The events stations notified, newest first (by id: a stable order),
    one page at a time; search, station, component, severity."""
    p = paging(request, "station_id", "severity", "component")
    station_filter = p.params.get("station_id", "")[:48]
    component_filter = p.params.get("component", "")[:50]
    severity_max = _severity(p.params.get("severity", ""))
    if severity_max is None:
        p.params.pop("severity", None)
    found = await events.list_events(
        services.db,
        station_id=station_filter or None,
        severity_max=severity_max,
        component=component_filter or None,
        q=p.q or None,
        limit=p.limit,
        offset=p.offset,
    )
    return render(
        request,
        "monitoring.html",
        events=p.window(found),
        p=p,
        station_filter=station_filter,
        component_filter=component_filter,
        severity_max=severity_max,
        severities=list(enumerate(service.SEVERITY_NAMES)),
        monitor_sets=[sets.describe(s) for s in sets.SETS.values()],
    )


@router.post("/monitoring/sets/{name}/apply")
async def apply_set(
    request: Request, name: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    form = await request.form()
    raw = form.get("station_ids")
    text = raw.strip()[:MAX_FLEET_INPUT] if isinstance(raw, str) else ""
    station_ids = [s.strip()[:48] for s in text.replace(",", " ").split() if s.strip()] or None
    log.info("dashboard: %s applies monitor set %r", user["username"], name[:40])
    try:
        results = await sets.apply(services, name, station_ids)
    except sets.UnknownSet:
        return notice(request, tr(request, "No monitor set {name}.", name=name[:40]), "bad", 404)
    return render(request, "_monitor_set_result.html", results=results, set_name=name)


async def _panel(request: Request, services: ServicesDep, station_id: str, **extra: Any) -> Any:
    if await provisioning.find_station(services.db, station_id) is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    return render(
        request,
        "_station_monitors_panel.html",
        station_id=station_id,
        monitors=await service.list_monitors(services.db, station_id),
        settings=await service.station_settings(services.db, station_id),
        reports=await service.list_reports(services.db, station_id, limit=3),
        online=services.router.version_of(station_id) is not None,
        **extra,
    )


@router.get("/stations/{station_id}/monitors")
async def station_monitors(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> Any:
    return await _panel(request, services, station_id)


@router.post("/stations/{station_id}/monitors/{monitor_id}/clear")
async def clear_monitor(
    request: Request, station_id: str, monitor_id: int, user: Admin, services: ServicesDep
) -> Any:
    try:
        (result,) = await service.clear_monitors(services, station_id, [monitor_id])
    except (service.StationNotFound, service.NotConnected, service.MonitoringRefused) as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request,
        services,
        station_id,
        done=tr(request, "Monitor {id}: {status}", id=monitor_id, status=result["status"]),
    )


@router.post("/stations/{station_id}/monitoring-report")
async def ask_report(request: Request, station_id: str, user: Admin, services: ServicesDep) -> Any:
    try:
        report = await service.request_report(services, station_id)
    except (service.StationNotFound, service.NotConnected, service.MonitoringRefused) as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request, services, station_id, done=tr(request, "Report: {status}", status=report["status"])
    )
