"""OCPP 2.1 battery swap: the stations' BatterySwap reports and an
operator's RequestBatterySwap."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field

from volta.api.models import INT32_MAX, CommandOut, Offset
from volta.blocks.battery_swap import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep

router = APIRouter(tags=["battery-swaps"])


class SwapRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id_token: str = Field(min_length=1, max_length=255)
    type: str = Field("ISO14443", min_length=1, max_length=20, description="IdTokenEnumType")


class SwapOut(BaseModel):
    id: int
    station_id: str
    request_id: int = Field(description="the swap's requestId, repeated by each of its steps")
    event_type: str = Field(description="BatteryIn, BatteryOut, BatteryOutTimeout; Requested")
    id_token: str
    id_token_type: str
    status: str = Field(
        description="the token's verdict by Volta (Accepted, Blocked, Expired, Invalid, "
        "Unknown); for Requested the station's answer (Accepted, Rejected) or Failed"
    )
    batteries: list[dict[str, Any]] = Field(description="BatteryDataType as the station sent it")
    command_id: str | None
    created_at: dt.datetime
    command: CommandOut | None = None


@router.post("/stations/{station_id}/battery-swaps", response_model=SwapOut, status_code=201)
async def request_battery_swap(
    station_id: str, body: SwapRequestIn, services: ServicesDep
) -> SwapOut:
    """Send RequestBatterySwap for a driver's token; the answer is kept as a
    Requested swap whose request_id the station's BatterySwap steps repeat.
    409 when the station is offline or not OCPP 2.1."""
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    try:
        found = await service.request(services, station_id, body.id_token, body.type)
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return SwapOut(**{**found, "command": CommandOut(**found["command"])})


@router.get("/battery-swaps", response_model=list[SwapOut])
async def list_battery_swaps(
    services: ServicesDep,
    station_id: str | None = None,
    request_id: Annotated[int | None, Query(ge=-(2**31), le=INT32_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[SwapOut]:
    """Swaps requested and their steps as stations reported them, oldest first."""
    rows = await service.list_swaps(
        services.db, station_id=station_id, request_id=request_id, limit=limit, offset=offset
    )
    return [SwapOut(**r) for r in rows]
