"""Reservations: hold a connector / EVSE for a driver until a given time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from volta.api.models import Id, Offset, ReservationCreate, ReservationOut
from volta.blocks.reservations import service
from volta.http import ServicesDep

router = APIRouter(tags=["reservations"])


class ReservationRefusedOut(BaseModel):
    """A 409 of POST /reservations: the documented error shape (`detail`)
    and, when the station itself did not accept, what it said."""

    detail: str
    station_status: str | None = Field(
        None,
        description="the station's ReserveNow answer (Occupied, Faulted, Rejected, "
        "Unavailable); null when it did not answer",
    )
    reservation: ReservationOut | None = Field(
        None, description="the reservation as stored (it holds nothing), with the command"
    )


@router.post(
    "/reservations",
    response_model=ReservationOut,
    status_code=201,
    responses={409: {"model": ReservationRefusedOut}},
)
async def create_reservation(
    body: ReservationCreate, services: ServicesDep
) -> ReservationOut | JSONResponse:
    """Send ReserveNow; 201 with the reservation when the station accepted.
    409 `{"detail", "station_status", "reservation"}` when the station did
    not (Occupied, Faulted, Rejected, Unavailable; `station_status` null when
    no answer came): the reservation is stored with that status and holds
    nothing. 409 `{"detail"}` when it cannot be asked for: station offline,
    token not Accepted or already holding a live reservation, EVSE already
    reserved, expiry in the past."""
    try:
        found = await service.reserve(
            services,
            service.ReservationRequest(
                station_id=body.station_id,
                id_token=body.id_token,
                id_token_type=body.id_token_type,
                expires_at=body.expires_at,
                evse_id=body.evse_id,
                connector_type=body.connector_type,
            ),
        )
    except service.StationRefused as exc:
        refused = ReservationRefusedOut(
            detail=str(exc),
            station_status=exc.station_status,
            reservation=ReservationOut(**exc.reservation),
        )
        return JSONResponse(jsonable_encoder(refused), status_code=status.HTTP_409_CONFLICT)
    except service.ReservationRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return ReservationOut(**found)


@router.get("/reservations", response_model=list[ReservationOut])
async def list_reservations(
    services: ServicesDep,
    station_id: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    active: bool | None = Query(None, description="live and not past expiry"),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[ReservationOut]:
    rows = await service.list_reservations(
        services.db,
        station_id=station_id,
        status=status_,
        active=active,
        limit=limit,
        offset=offset,
    )
    return [ReservationOut(**r) for r in rows]


@router.get("/reservations/{reservation_id}", response_model=ReservationOut)
async def get_reservation(reservation_id: Id, services: ServicesDep) -> ReservationOut:
    return ReservationOut(**await _require(services, reservation_id))


@router.delete("/reservations/{reservation_id}", response_model=ReservationOut)
async def cancel_reservation(reservation_id: Id, services: ServicesDep) -> ReservationOut:
    """Send CancelReservation. The reservation is Cancelled when the station
    accepts; otherwise it is returned unchanged with the station's answer in
    `command`. 409 when it has already ended."""
    await _require(services, reservation_id)
    try:
        found = await service.cancel(services, reservation_id)
    except service.ReservationRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    assert found is not None
    return ReservationOut(**found)


async def _require(services: Any, reservation_id: int) -> dict[str, Any]:
    found = await service.get_reservation(services.db, reservation_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"reservation {reservation_id} not found")
    return found
