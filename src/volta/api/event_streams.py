"""OCPP 2.1 periodic event streams: the streams stations opened, their data,
GetPeriodicEventStream and AdjustPeriodicEventStream."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from volta.api.models import INT32_MAX, CommandOut, Id
from volta.blocks.event_streams import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["event-streams"])


class StreamOut(BaseModel):
    stream_id: int
    station_id: str
    variable_monitoring_id: int
    interval: int | None = Field(description="seconds between the station's messages")
    values: int | None = Field(description="values the station sends together")
    status: str = Field(description="Open, Closed")
    messages: int = Field(description="NotifyPeriodicEventStream messages received")
    points: int = Field(description="values received")
    last_data_at: dt.datetime | None
    opened_at: dt.datetime
    closed_at: dt.datetime | None


class PointOut(BaseModel):
    at: dt.datetime = Field(description="basetime + t")
    t: float
    v: str


class MessageOut(BaseModel):
    id: int = Field(description="pass as `after` to read on")
    basetime: dt.datetime
    pending: int
    received_at: dt.datetime
    points: list[PointOut]


class StreamsOut(BaseModel):
    streams: list[StreamOut]
    command: CommandOut


class AdjustIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: int | None = Field(None, ge=0, le=INT32_MAX)
    values: int | None = Field(None, ge=0, le=INT32_MAX)

    @model_validator(mode="after")
    def _something(self) -> AdjustIn:
        if self.interval is None and self.values is None:
            raise ValueError("give interval, values or both")
        return self


class AdjustOut(BaseModel):
    status: str = Field(description="Accepted, Rejected; or Failed (no answer)")
    stream: StreamOut | None
    command: CommandOut


def _out(row: dict[str, Any]) -> StreamOut:
    return StreamOut(**{k: v for k, v in row.items() if k != "id"})


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


@router.get("/stations/{station_id}/event-streams", response_model=list[StreamOut])
async def list_event_streams(station_id: str, services: ServicesDep) -> list[StreamOut]:
    await _station(services, station_id)
    return [_out(r) for r in await service.list_streams(services.db, station_id)]


@router.post(
    "/stations/{station_id}/event-streams/refresh", response_model=StreamsOut, status_code=202
)
async def refresh_event_streams(station_id: str, services: ServicesDep) -> StreamsOut:
    """Send GetPeriodicEventStream; Volta's list follows the answer. 409
    when the station is offline or not OCPP 2.1."""
    await _station(services, station_id)
    try:
        found = await service.refresh(services, station_id)
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return StreamsOut(
        streams=[_out(r) for r in found["streams"]], command=CommandOut(**found["command"])
    )


@router.get("/stations/{station_id}/event-streams/{stream_id}", response_model=StreamOut)
async def get_event_stream(station_id: str, stream_id: Id, services: ServicesDep) -> StreamOut:
    row = await service.get_stream(services.db, station_id, stream_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"stream {stream_id} not found")
    return _out(row)


@router.get(
    "/stations/{station_id}/event-streams/{stream_id}/data", response_model=list[MessageOut]
)
async def read_event_stream(
    station_id: str,
    stream_id: Id,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MessageOut]:
    """The stream's messages after message `after`, oldest first, each with
    its values (at = basetime + t)."""
    row = await service.get_stream(services.db, station_id, stream_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"stream {stream_id} not found")
    messages = await service.read_data(services.db, row["id"], after=after, limit=limit)
    return [MessageOut(**m) for m in messages]


@router.post("/stations/{station_id}/event-streams/{stream_id}/adjust", response_model=AdjustOut)
async def adjust_event_stream(
    station_id: str, stream_id: Id, body: AdjustIn, services: ServicesDep
) -> AdjustOut:
    """Send AdjustPeriodicEventStream (a new interval and/or batch size). 409
    when the station is offline or not OCPP 2.1."""
    await _station(services, station_id)
    try:
        found = await service.adjust(services, station_id, stream_id, body.interval, body.values)
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    stream = found["stream"]
    return AdjustOut(
        status=found["status"],
        stream=_out(stream) if stream else None,
        command=CommandOut(**found["command"]),
    )
