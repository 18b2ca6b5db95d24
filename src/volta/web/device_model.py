"""The dashboard's device model page of a station: components, variables,
configuration keys.

2.0.1: the reported attributes with a search box and paging, what was last
set with the station's answer, a full report on request, and (admins) a
ReadWrite attribute edited in place, the answer shown in its row. 1.6: the
configuration keys, fetched on request, a writable one edited in place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from volta.blocks.device_model import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.ocpp.versions import Version
from volta.services import Services
from volta.web.i18n import tr
from volta.web.paging import Paging, paging
from volta.web.views import Admin, User, _field, _form, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


async def _version(services: Services, station_id: str) -> Version | None:
    """The station's version: its live connection's, else its last one's."""
    station = await provisioning.find_station(services.db, station_id)
    if station is None:
        return None
    return services.router.version_of(station_id) or Version(station["protocol"] or "ocpp1.6")


def _int(value: str, default: int | None, *, at_most: int = 2**31 - 1) -> int | None:
    # ASCII digits only (int() refuses "²"), and short enough to convert.
    if value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= at_most:
        return int(value)
    return default


def _paging(request: Request, station_id: str) -> Paging:
    """The variables' paging (q, evse, page); the pager's links are the
    page's own, the htmx search swaps the rows fragment."""
    p = paging(request, "evse")
    p.path = f"/stations/{station_id}/device-model"
    p.q = p.q[:50]
    return p


async def _rows(services: Services, station_id: str, p: Paging) -> dict[str, Any]:
    """One page of the station's attributes by component and key (unique
    per station: a stable order); the count is of one station's rows."""
    evse = p.params.get("evse", "")[:10]
    total, rows = await service.list_variables(
        services.db,
        station_id,
        q=p.q or None,
        evse_id=_int(evse, None),
        limit=p.limit,
        offset=p.offset,
    )
    return {
        "rows": p.window(rows),
        "total": total,
        "p": p,
        "q": p.q,
        "evse": evse,
        "online": services.router.version_of(station_id) is not None,
    }


@router.get("/stations/{station_id}/device-model")
async def device_model_page(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    version = await _version(services, station_id)
    if version is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    context: dict[str, Any] = {"station_id": station_id, "version": version}
    if version is Version.V16:
        context["keys"] = await service.list_configuration(services.db, station_id)
        context["online"] = services.router.version_of(station_id) is not None
    else:
        context |= await _rows(services, station_id, _paging(request, station_id))
        context["reports"] = await service.list_reports(services.db, station_id, limit=5)
    return render(request, "device_model.html", **context)


@router.get("/stations/{station_id}/device-model/rows")
async def device_model_rows(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    context = await _rows(services, station_id, _paging(request, station_id))
    return render(request, "_device_model_rows.html", station_id=station_id, **context)


@router.post("/stations/{station_id}/device-model/set")
async def set_variable(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    """One ReadWrite attribute set; its row comes back with the answer."""
    form = await _form(request)
    row = await service.get_variable(services.db, station_id, _field(form, "key")[:400])
    if row is None:
        return notice(request, tr(request, "No such variable."), "bad", 404)
    value = _field(form, "value")
    problem = None
    if row["mutability"] == "ReadOnly":
        problem = tr(request, "This variable is ReadOnly.")
    elif len(value) > 1000:
        problem = tr(request, "A value has at most {n} characters.", n=1000)
    else:
        ref = service.VariableRef(
            component=row["component"],
            variable=row["variable"],
            component_instance=row["component_instance"],
            evse_id=row["evse_id"],
            connector_id=row["connector_id"],
            variable_instance=row["variable_instance"],
            attribute_type=row["attribute_type"],
        )
        log.info("dashboard: %s sets %s of %s", user["username"], row["key"], station_id)
        try:
            await service.set_variables(
                services, station_id, [(ref, value)], by=f"dashboard:{user['username']}"
            )
        except service.DeviceModelError as exc:
            problem = str(exc)
        row = await service.get_variable(services.db, station_id, row["key"]) or row
    return render(
        request,
        "_device_model_row.html",
        station_id=station_id,
        v=row,
        problem=problem,
        online=True,
    )


@router.post("/stations/{station_id}/device-model/report")
async def full_report(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    log.info("dashboard: %s asks %s for a full report", user["username"], station_id)
    try:
        reports, _ = await service.request_report(
            services, station_id, report_base="FullInventory", by=f"dashboard:{user['username']}"
        )
    except service.DeviceModelError as exc:
        return notice(request, str(exc), "bad")
    report = reports[0]
    if report["status"] in ("refused", "failed"):
        return notice(
            request,
            tr(
                request,
                "The station answered {answer}.",
                answer=report["answer"] or report["status"],
            ),
            "bad",
        )
    return notice(
        request, tr(request, "Report {id} asked: reload to see it fill.", id=report["request_id"])
    )


@router.post("/stations/{station_id}/configuration/get")
async def get_configuration(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    problem = None
    try:
        await service.get_configuration(services, station_id, [])
    except service.DeviceModelError as exc:
        problem = str(exc)
    return render(
        request,
        "_configuration_keys.html",
        station_id=station_id,
        keys=await service.list_configuration(services.db, station_id),
        online=services.router.version_of(station_id) is not None,
        problem=problem,
    )


@router.post("/stations/{station_id}/configuration/change")
async def change_configuration(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> HTMLResponse:
    form = await _form(request)
    key, value = _field(form, "key")[:50], _field(form, "value")
    problem = None
    if not key:
        return notice(request, tr(request, "No key."), "bad", 422)
    if len(value) > 500:
        problem = tr(request, "A value has at most {n} characters.", n=500)
    else:
        log.info("dashboard: %s changes %s of %s", user["username"], key, station_id)
        try:
            await service.change_configuration(
                services, station_id, key, value, by=f"dashboard:{user['username']}"
            )
        except service.DeviceModelError as exc:
            problem = str(exc)
    rows = await service.list_configuration(services.db, station_id)
    row = next((r for r in rows if r["key"] == key), None)
    if row is None:
        return notice(request, problem or tr(request, "No key {key}.", key=key), "bad")
    return render(
        request,
        "_configuration_key.html",
        station_id=station_id,
        k=row,
        problem=problem,
        online=True,
    )
