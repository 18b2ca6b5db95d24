"""The dashboard's display messages and customer information of a station:
a section of the station page whose panel is served here as an htmx
fragment (list, send and clear messages; ask for a customer's information,
see the report; erase a driver's data, as admin, after a confirmation)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from volta.blocks.customer_information import service as customers
from volta.blocks.display_messages import service as display
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.ocpp.versions import Version
from volta.web.i18n import tr
from volta.web.views import Admin, User, _field, _form, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)


async def _panel(request: Request, services: ServicesDep, station_id: str, **extra: Any) -> Any:
    station = await provisioning.find_station(services.db, station_id)
    if station is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    version = services.router.version_of(station_id)
    return render(
        request,
        "_station_display_panel.html",
        station=station,
        online=version is not None,
        v201=(version or Version(station.get("protocol") or Version.V201.value)).modern,
        messages=await display.list_messages(services.db, station_id),
        report=await display.latest_report(services.db, station_id),
        requests=await customers.list_requests(services.db, station_id, limit=10),
        priorities=display.PRIORITIES,
        states=display.STATES,
        **extra,
    )


@router.get("/stations/{station_id}/display")
async def display_panel(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> Any:
    return await _panel(request, services, station_id)


def _choice(value: str, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


@router.post("/stations/{station_id}/display/messages")
async def send_message(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> Any:
    form = await _form(request)
    content = _field(form, "content")
    if not 0 < len(content) <= 512:
        return await _panel(
            request, services, station_id, problem=tr(request, "The text: 1 to 512 characters.")
        )
    spec = display.MessageSpec(
        content=content,
        priority=_choice(_field(form, "priority"), display.PRIORITIES) or "NormalCycle",
        state=_choice(_field(form, "state"), display.STATES),
        language=_field(form, "language")[:8] or None,
    )
    log.info("dashboard: %s sets a display message on %s", user["username"], station_id)
    try:
        found = await display.set_message(services, station_id, spec, source="dashboard")
    except display.DisplayRefused as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request,
        services,
        station_id,
        done=tr(request, "Message {id}: {status}", id=found["message_id"], status=found["status"]),
    )


@router.post("/stations/{station_id}/display/messages/{message_id}/clear")
async def clear_message(
    request: Request, station_id: str, message_id: int, user: Admin, services: ServicesDep
) -> Any:
    try:
        found = await display.clear_message(services, station_id, message_id)
    except display.DisplayRefused as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request,
        services,
        station_id,
        done=tr(request, "Clear message {id}: {status}", id=message_id, status=found["status"]),
    )


@router.post("/stations/{station_id}/display/refresh")
async def refresh(request: Request, station_id: str, user: Admin, services: ServicesDep) -> Any:
    try:
        found = await display.refresh(services, station_id, display.Criteria())
    except display.DisplayRefused as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request,
        services,
        station_id,
        done=tr(request, "GetDisplayMessages: {status}", status=found["status"]),
    )


@router.post("/stations/{station_id}/display/customer-information")
async def customer_information(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> Any:
    form = await _form(request)
    token = _field(form, "id_token")
    if not 0 < len(token) <= 36:
        return await _panel(
            request,
            services,
            station_id,
            problem=tr(request, "Id token: 1 to {n} characters.", n=36),
        )
    clear = _field(form, "clear") == "1"
    log.info("dashboard: %s asks %s for customer information", user["username"], station_id)
    try:
        found = await customers.request(
            services,
            station_id,
            customers.Customer(id_token=token, id_token_type=_field(form, "type") or "ISO14443"),
            report=True,
            clear=clear,
        )
    except customers.CustomerRequestRefused as exc:
        return await _panel(request, services, station_id, problem=str(exc))
    return await _panel(
        request,
        services,
        station_id,
        done=tr(request, "Request {id}: {status}", id=found["id"], status=found["status"]),
    )


@router.post("/stations/{station_id}/display/erase")
async def erase(request: Request, station_id: str, user: Admin, services: ServicesDep) -> Any:
    form = await _form(request)
    token = _field(form, "id_token")
    if not 0 < len(token) <= 64:
        return await _panel(
            request,
            services,
            station_id,
            problem=tr(request, "Id token: 1 to {n} characters.", n=64),
        )
    # The token is not logged: the erasure is told by its pseudonym.
    found = await customers.erase(
        services, token, scope="all" if _field(form, "stations") == "all" else "used"
    )
    log.info("dashboard: %s erased a driver's data as %s", user["username"], found["pseudonym"])
    asked = ", ".join(f"{s['station_id']} {s['status']}" for s in found["stations"])
    return await _panel(
        request,
        services,
        station_id,
        done=tr(
            request,
            "Erased as {pseudonym}; stations asked: {asked}",
            pseudonym=found["pseudonym"],
            asked=asked or "-",
        ),
    )
