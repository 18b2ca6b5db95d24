"""The console's tariff pages: the list (search, pages), a tariff's prices
and where it applies (its assignments), and for admins creating, editing,
assigning, unassigning and deleting a tariff.

The same block service as the HTTP API (`volta.blocks.tariffs.service`), so
the same checks: `Tariff.from_dict` raises TariffError with an operator's
message, shown in the page (never a 500).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Annotated, Any

from babel import numbers as babel_numbers
from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from volta.blocks.tariffs import service
from volta.blocks.tariffs.model import TariffError
from volta.http import ServicesDep
from volta.web import i18n
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, _field, _form, render, templates

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

AMOUNTS = (
    "price_kwh",
    "price_minute",
    "price_idle_minute",
    "idle_grace_minutes",
    "session_fee",
    "tax_percent",
)
# The largest integer a station / EVSE id column holds.
INT32_MAX = 2**31 - 1
# A row id in a path: a number a database integer holds (else 422, never 500).
DbId = Annotated[int, Path(ge=1, le=INT32_MAX)]


def price(amount: Any, currency: str | None = "EUR") -> str:
    """An amount of a tariff in its currency with every decimal it has
    (0.0125 EUR a minute is not 0.01), in the user's language."""
    if amount is None or amount == "":
        return "-"
    return babel_numbers.format_currency(
        Decimal(str(amount)),
        currency or "EUR",
        locale=i18n.current().locale,
        decimal_quantization=False,
    )


templates.env.filters["price"] = price


def _amount(text: str) -> str:
    # An Italian operator types 0,35: the decimal comma is read as a point.
    return text.replace(",", ".") if text.count(",") == 1 and "." not in text else text


def _document(form: FormData, keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tariff document from the form (the checks are the block's)."""
    data: dict[str, Any] = {
        "name": _field(form, "name"),
        "currency": _field(form, "currency").upper(),
        "timezone": _field(form, "timezone") or "UTC",
    }
    for key in AMOUNTS:
        data[key] = _amount(_field(form, key)) or "0"
    if _field(form, "display_text"):
        data["display_text"] = _field(form, "display_text")
    if keep is not None and keep.get("periods"):
        data["periods"] = keep["periods"]  # periods are edited over the API
    return data


def _failed(request: Request, message: str) -> HTMLResponse:
    response = render(request, "_notice.html", message=message, kind="bad")
    response.headers["X-Volta-Outcome"] = "error"
    return response


async def _tariff(services: Any, tariff_id: int) -> dict[str, Any]:
    found = await service.get_tariff(services.db, tariff_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tariff {tariff_id} not found")
    return found


@router.get("/tariffs")
async def tariffs_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = paging(request)
    rows = p.window(
        await service.list_tariffs(services.db, search=p.q or None, limit=p.limit, offset=p.offset)
    )
    return render(request, "tariffs.html", p=p, tariffs=rows)


@router.post("/tariffs")
async def create_tariff(request: Request, user: Admin, services: ServicesDep) -> Response:
    form = await _form(request)
    try:
        found = await service.create_tariff(
            services.db, _document(form), is_default=form.get("is_default") == "on"
        )
    except TariffError as exc:
        return _failed(request, tr(request, "Not saved: {why}", why=str(exc)))
    log.info("dashboard: %s created tariff %s (%s)", user["username"], found["id"], found["name"])
    return Response(status_code=204, headers={"HX-Redirect": f"/tariffs/{found['id']}"})


async def _assignments(services: Any, tariff_id: int) -> list[dict[str, Any]]:
    return await service.list_assignments(services.db, tariff_id)


@router.get("/tariffs/{tariff_id}")
async def tariff_page(
    request: Request, tariff_id: DbId, user: User, services: ServicesDep
) -> HTMLResponse:
    tariff = await _tariff(services, tariff_id)
    return render(
        request,
        "tariff.html",
        tariff=tariff,
        assignments=await _assignments(services, tariff_id),
    )


@router.post("/tariffs/{tariff_id}")
async def edit_tariff(
    request: Request, tariff_id: DbId, user: Admin, services: ServicesDep
) -> Response:
    old = await _tariff(services, tariff_id)
    form = await _form(request)
    try:
        await service.replace_tariff(
            services.db,
            tariff_id,
            _document(form, keep=old),
            is_default=form.get("is_default") == "on",
        )
    except TariffError as exc:
        return _failed(request, tr(request, "Not saved: {why}", why=str(exc)))
    except service.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    log.info("dashboard: %s changed tariff %s", user["username"], tariff_id)
    return Response(status_code=204, headers={"HX-Redirect": f"/tariffs/{tariff_id}"})


@router.post("/tariffs/{tariff_id}/delete")
async def delete_tariff(
    request: Request, tariff_id: DbId, user: Admin, services: ServicesDep
) -> Response:
    if not await service.delete_tariff(services.db, tariff_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"tariff {tariff_id} not found")
    log.info("dashboard: %s deleted tariff %s", user["username"], tariff_id)
    return Response(status_code=204, headers={"HX-Redirect": "/tariffs"})


async def _assignments_fragment(
    request: Request, services: Any, tariff_id: int, **extra: Any
) -> HTMLResponse:
    tariff = await _tariff(services, tariff_id)
    response = render(
        request,
        "_tariff_assignments.html",
        tariff=tariff,
        assignments=await _assignments(services, tariff_id),
        **extra,
    )
    if extra.get("error"):
        response.headers["X-Volta-Outcome"] = "error"
    return response


@router.post("/tariffs/{tariff_id}/assignments")
async def assign_tariff(
    request: Request, tariff_id: DbId, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _tariff(services, tariff_id)
    form = await _form(request)
    target = _field(form, "target")
    station_id = _field(form, "station_id")[:48] or None
    group_id = _field(form, "group_id")[:64] or None
    evse_text = _field(form, "evse_id")
    evse_id: int | None = None
    if target == "evse":
        if not evse_text.isdigit() or int(evse_text) > INT32_MAX:
            return await _assignments_fragment(
                request, services, tariff_id, error=tr(request, "Give the EVSE's number.")
            )
        evse_id = int(evse_text)
    if target == "group":
        station_id = None
    else:
        group_id = None
    try:
        row = await service.assign(
            services.db, tariff_id, station_id=station_id, evse_id=evse_id, group_id=group_id
        )
    except service.NotFound as exc:
        return await _assignments_fragment(request, services, tariff_id, error=str(exc))
    except ValueError as exc:
        return await _assignments_fragment(request, services, tariff_id, error=str(exc))
    log.info(
        "dashboard: %s assigned tariff %s (assignment %s)", user["username"], tariff_id, row["id"]
    )
    return await _assignments_fragment(
        request, services, tariff_id, message=tr(request, "Assigned.")
    )


@router.post("/tariffs/{tariff_id}/assignments/{assignment_id}/remove")
async def unassign_tariff(
    request: Request, tariff_id: DbId, assignment_id: DbId, user: Admin, services: ServicesDep
) -> HTMLResponse:
    await _tariff(services, tariff_id)
    mine = {a["id"] for a in await _assignments(services, tariff_id)}
    if assignment_id not in mine or not await service.unassign(services.db, assignment_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"assignment {assignment_id} not found")
    log.info("dashboard: %s removed tariff assignment %s", user["username"], assignment_id)
    return await _assignments_fragment(
        request, services, tariff_id, message=tr(request, "Assignment removed.")
    )
