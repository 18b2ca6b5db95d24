"""The console's reservations: the list (filters by station, state and
"active only"; search; pages; newest first) and, for admins, reserving a
connector / EVSE for an id token until a time in the user's time zone
(ReserveNow) and cancelling (CancelReservation), each with the station's
answer. The same block service as the HTTP API
(`volta.blocks.reservations.service`)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any, get_args

from fastapi import APIRouter, HTTPException, Path, Request, Response
from fastapi.responses import HTMLResponse

from volta.blocks.reservations import service
from volta.blocks.reservations.service import ConnectorType
from volta.http import ServicesDep
from volta.store.models import utcnow
from volta.web import i18n
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, _field, _form, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

FILTERS = ("station_id", "status", "active")
STATUSES = (
    "Requested",
    "Accepted",
    "Used",
    "Cancelled",
    "Expired",
    "Removed",
    "Occupied",
    "Faulted",
    "Rejected",
    "Unavailable",
    "Failed",
)
# 2.0.1 ConnectorEnumType: a reservation of a connector type (any EVSE with one).
CONNECTOR_TYPES = list(get_args(ConnectorType))
INT32_MAX = 2**31 - 1
# A row id in a path: a number a database integer holds (else 422, never 500).
DbId = Annotated[int, Path(ge=1, le=INT32_MAX)]
# Tells the list to read itself again after a reservation or a cancel.
CHANGED = "reservations-changed"


async def _list(request: Request, services: Any) -> dict[str, Any]:
    p = paging(request, *FILTERS)
    p.path = "/reservations"  # the fragment's pager links the page, not itself
    wanted = p.params.get("status") or None
    if wanted is not None and wanted not in STATUSES:
        raise HTTPException(422, f"status: one of {', '.join(STATUSES)}")
    rows = await service.list_reservations(
        services.db,
        station_id=p.params.get("station_id") or None,
        status=wanted,
        active=True if p.params.get("active") == "1" else None,
        search=p.q or None,
        limit=p.limit,
        offset=p.offset,
    )
    rows = p.window(rows)
    now = utcnow()
    for row in rows:
        row["live"] = row["status"] in service.LIVE and row["expires_at"] > now
    rows_url = "/reservations/rows" + p.url(page=p.page).removeprefix("/reservations")
    return {"p": p, "reservations": rows, "statuses": STATUSES, "rows_url": rows_url}


@router.get("/reservations")
async def reservations_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    here = i18n.for_request(request)
    # The form's default expiry: in 30 minutes, in the user's time zone.
    soon = (utcnow() + dt.timedelta(minutes=30)).astimezone(here.tz)
    return render(
        request,
        "reservations.html",
        default_expiry=soon.strftime("%Y-%m-%dT%H:%M"),
        connector_types=CONNECTOR_TYPES,
        **await _list(request, services),
    )


@router.get("/reservations/rows")
async def reservations_rows(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return render(request, "_reservations.html", **await _list(request, services))


def _outcome(request: Request, message: str, kind: str) -> HTMLResponse:
    response = render(request, "_notice.html", message=message, kind=kind)
    response.headers["HX-Trigger"] = CHANGED
    if kind == "bad":
        response.headers["X-Volta-Outcome"] = "error"
    return response


@router.post("/reservations")
async def reserve(request: Request, user: Admin, services: ServicesDep) -> Response:
    form = await _form(request)
    station_id = _field(form, "station_id")[:48]
    id_token = _field(form, "id_token")
    evse_text = _field(form, "evse_id")
    if not station_id or not id_token or not 0 < len(id_token) <= 36:
        return _outcome(request, tr(request, "Give a station and an id token."), "bad")
    evse_id = None
    if evse_text:
        if not evse_text.isdigit() or int(evse_text) > INT32_MAX:
            return _outcome(request, tr(request, "The connector / EVSE is a number."), "bad")
        evse_id = int(evse_text)
    connector_type = _field(form, "connector_type") or None
    if connector_type is not None and connector_type not in CONNECTOR_TYPES:
        return _outcome(request, tr(request, "Not a connector type."), "bad")
    try:
        expires_at = i18n.parse_local(_field(form, "expires_at"), i18n.for_request(request))
    except ValueError:
        expires_at = None
    if expires_at is None:
        return _outcome(request, tr(request, "Give the expiry as a date and time."), "bad")
    log.info("dashboard: %s reserves %s for %s", user["username"], station_id, id_token)
    try:
        found = await service.reserve(
            services,
            service.ReservationRequest(
                station_id=station_id,
                id_token=id_token,
                expires_at=expires_at,
                evse_id=evse_id,
                connector_type=connector_type,
            ),
        )
    except service.StationRefused as exc:
        answer = exc.station_status or exc.reservation["command"]["status"]
        return _outcome(
            request,
            tr(
                request,
                "Reservation {id}: the station answered {answer}; nothing is reserved.",
                id=exc.reservation["id"],
                answer=i18n.for_request(request).gettext(_label(answer)),
            ),
            "bad",
        )
    except service.ReservationRefused as exc:
        return _outcome(request, tr(request, "Not reserved: {why}", why=str(exc)), "bad")
    answer = (found["command"].get("response") or {}).get("status", found["status"])
    return _outcome(
        request,
        tr(
            request,
            "Reservation {id}: the station answered {answer}.",
            id=found["id"],
            answer=i18n.for_request(request).gettext(_label(answer)),
        ),
        "ok",
    )


def _label(value: str) -> str:
    from volta.web.labels import LABELS

    return LABELS.get(value, value)


@router.post("/reservations/{reservation_id}/cancel")
async def cancel(
    request: Request, reservation_id: DbId, user: Admin, services: ServicesDep
) -> Response:
    log.info("dashboard: %s cancels reservation %s", user["username"], reservation_id)
    try:
        found = await service.cancel(services, reservation_id)
    except service.ReservationRefused as exc:
        return _outcome(request, tr(request, "Not cancelled: {why}", why=str(exc)), "bad")
    if found is None:
        raise HTTPException(404, f"reservation {reservation_id} not found")
    command = found["command"]
    answer = (command.get("response") or {}).get("status") or command["status"]
    kind = "ok" if found["status"] == "Cancelled" else "bad"
    return _outcome(
        request,
        tr(
            request,
            "Cancel reservation {id}: the station answered {answer}.",
            id=reservation_id,
            answer=i18n.for_request(request).gettext(_label(answer)),
        ),
        kind,
    )
