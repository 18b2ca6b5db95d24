"""Stations, their frame log, and commands sent to them."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from sqlalchemy.exc import IntegrityError

from volta.api.models import CommandOut, FrameOut, FramePage, Offset
from volta.api.sites import place_station, site_fields
from volta.blocks.provisioning import service as provisioning
from volta.blocks.provisioning.models import StationCreate, StationOut, StationUpdate
from volta.blocks.remote_control import service as remote_control
from volta.blocks.security import profiles
from volta.http import ServicesDep
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store import framelog

router = APIRouter(tags=["stations"])


async def stations_out(services: Services, rows: list[dict[str, Any]]) -> list[StationOut]:
    return await provisioning.describe_stations(services.db, rows, services.router.online())


async def _require(services: Services, station_id: str) -> dict[str, Any]:
    row = await provisioning.find_station(services.db, station_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    return row


@router.get("/stations", response_model=list[StationOut])
async def list_stations(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[StationOut]:
    rows = await provisioning.list_stations(services.db, limit=limit, offset=offset)
    return await stations_out(services, rows)


@router.post("/stations", response_model=StationOut, status_code=201)
async def create_station(body: StationCreate, services: ServicesDep) -> StationOut:
    try:
        await provisioning.create_station(
            services.db,
            body.id,
            password=body.password,
            registration_status=body.registration_status,
            validation=body.validation,
            security_profile=body.security_profile,
        )
    except IntegrityError:
        raise HTTPException(status.HTTP_409_CONFLICT, f"station {body.id} already exists") from None
    return (await stations_out(services, [await _require(services, body.id)]))[0]


@router.get("/stations/{station_id}", response_model=StationOut)
async def get_station(station_id: str, services: ServicesDep) -> StationOut:
    return (await stations_out(services, [await _require(services, station_id)]))[0]


@router.patch("/stations/{station_id}", response_model=StationOut)
@router.put("/stations/{station_id}", response_model=StationOut)
async def update_station(station_id: str, body: StationUpdate, services: ServicesDep) -> StationOut:
    """Change a station; `site_id` places it on a site (load management: its
    fallback profile is sent and the sites' allocations recomputed)."""
    row = await _require(services, station_id)
    values: dict[str, Any] = body.model_dump(
        exclude_unset=True, exclude={"clear_password", "allow_lower"}
    )
    if body.clear_password:
        values["password"] = None
    if body.security_profile is not None:
        try:
            profiles.check_change(row["security_profile"], body.security_profile, body.allow_lower)
        except profiles.LoweringRefused as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    named, site_id = site_fields(values)
    await provisioning.update_station(services.db, station_id, **values)
    if named:
        await place_station(services, station_id, site_id)
    return await get_station(station_id, services)


@router.delete("/stations/{station_id}", status_code=204)
async def delete_station(station_id: str, services: ServicesDep) -> Response:
    await _require(services, station_id)
    if services.router.version_of(station_id) is not None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"station {station_id} is connected; disconnect it first"
        )
    try:
        await provisioning.delete_station(services.db, station_id)
    except IntegrityError:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"station {station_id} has transactions; set it Rejected instead of removing it",
        ) from None
    return Response(status_code=204)


@router.get("/stations/{station_id}/messages", response_model=FramePage)
async def station_messages(
    station_id: str,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
    action: str | None = None,
    direction: Annotated[str | None, Query(pattern="^(in|out)$")] = None,
) -> FramePage:
    """The OCPP frame log of a station, newest first."""
    await _require(services, station_id)
    rows = await framelog.list_frames(
        services.db, station_id, limit=limit, offset=offset, action=action, direction=direction
    )
    items = []
    for row in rows:
        try:
            frame: Any = orjson.loads(row["raw"])
        except orjson.JSONDecodeError:
            frame = row["raw"]
        items.append(FrameOut(**row, frame=frame))
    return FramePage(limit=limit, offset=offset, items=items)


@router.post("/stations/{station_id}/commands/{action}", response_model=CommandOut)
async def send_command(
    station_id: str,
    action: str,
    services: ServicesDep,
    response: Response,
    payload: Annotated[dict[str, Any], Body(description="the OCPP request payload")] = {},  # noqa: B006
) -> CommandOut:
    """Send any CSMS-initiated OCPP message and wait for the station's answer.

    The payload is validated against the schema of the station's version
    (for an offline station: the version it last spoke). The result is 200
    with the command once the station answered, timed out or is offline; 422
    when the payload or action is invalid (nothing is sent).
    """
    offline_version = None
    # A connected station is known (the gateway let it in); only an offline
    # one is looked up, for the 404 and the version it last spoke.
    if services.router.version_of(station_id) is None:
        station = await _require(services, station_id)
        offline_version = Version(station["protocol"]) if station["protocol"] else None
    command = await remote_control.send_command(
        services, station_id, action, payload, offline_version=offline_version
    )
    if command["status"] == "invalid":
        response.status_code = 422  # the name of this constant differs across Starlette versions
    return CommandOut(**command)


@router.get("/commands/{command_id}", response_model=CommandOut, tags=["commands"])
async def get_command(command_id: str, services: ServicesDep) -> CommandOut:
    command = await remote_control.get_command(services, command_id)
    if command is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"command {command_id} not found")
    return CommandOut(**command)
