"""Display messages (2.0.1 block O): set, list, clear and ask a station for
its messages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from volta.api.models import INT32_MAX, Id
from volta.blocks.display_messages import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["display-messages"])

Priority = Literal["AlwaysFront", "InFront", "NormalCycle"]
State = Literal["Charging", "Faulted", "Idle", "Unavailable"]


class DisplayComponent(BaseModel):
    """The display the message is meant for (ComponentType)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=50)
    instance: str | None = Field(None, max_length=50)
    evse_id: int | None = Field(None, ge=0, le=INT32_MAX)

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.instance:
            out["instance"] = self.instance
        if self.evse_id is not None:
            out["evse"] = {"id": self.evse_id}
        return out


class DisplayMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=512)
    message_id: int | None = Field(
        None,
        ge=1,
        le=INT32_MAX,
        description="an id already in use replaces that message (O06); none: the next free id",
    )
    priority: Priority = "NormalCycle"
    format: Literal["ASCII", "HTML", "URI", "UTF8"] = "UTF8"
    language: str | None = Field(None, max_length=8, description="RFC 5646, e.g. en, de")
    state: State | None = Field(None, description="shown only in this state of the station")
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    transaction_id: str | None = Field(
        None, max_length=36, description="the station's transactionId: shown only during it (O02)"
    )
    display: DisplayComponent | None = None

    @model_validator(mode="after")
    def _window(self) -> DisplayMessageIn:
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. Z)")
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class DisplayMessageOut(BaseModel):
    message_id: int
    station_id: str
    priority: str
    state: str | None
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    transaction_id: str | None
    format: str
    language: str | None
    content: str
    display: dict[str, Any] | None
    status: str = Field(
        description="Requested, the station's answer (Accepted, Rejected, NotSupported..., "
        "UnknownTransaction), Failed (no answer), Cleared, Reported (known from its report)"
    )
    source: str
    reported_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: dict[str, Any] | None = None


class ClearedOut(BaseModel):
    message_id: int
    status: str = Field(description="the station's answer: Accepted, Unknown; or Failed")
    message: DisplayMessageOut | None
    command: dict[str, Any]


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(
        default_factory=list, max_length=service.MAX_IDS
    )
    priority: Priority | None = None
    state: State | None = None


class ReportOut(BaseModel):
    request_id: int
    station_id: str
    criteria: dict[str, Any]
    status: str = Field(description="the GetDisplayMessages answer: Accepted, Unknown; or Failed")
    messages: list[dict[str, Any]]
    parts: int
    complete: bool
    created_at: dt.datetime
    command: dict[str, Any] | None = None


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


@router.post(
    "/stations/{station_id}/display-messages", response_model=DisplayMessageOut, status_code=201
)
async def set_display_message(
    station_id: str, body: DisplayMessageIn, services: ServicesDep
) -> DisplayMessageOut:
    """Send SetDisplayMessage and keep the message with the station's answer
    in `status` (201 also when the station did not accept: the record is
    kept). 409 when the station is offline or not 2.0.1."""
    await _station(services, station_id)
    spec = service.MessageSpec(
        content=body.content,
        priority=body.priority,
        format=body.format,
        language=body.language,
        state=body.state,
        start_at=body.start_at,
        end_at=body.end_at,
        transaction_id=body.transaction_id,
        display=body.display.wire() if body.display else None,
        message_id=body.message_id,
    )
    try:
        found = await service.set_message(services, station_id, spec)
    except service.DisplayRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return DisplayMessageOut(**found)


@router.get("/stations/{station_id}/display-messages", response_model=list[DisplayMessageOut])
async def list_display_messages(
    station_id: str, services: ServicesDep, include_cleared: bool = False
) -> list[DisplayMessageOut]:
    await _station(services, station_id)
    rows = await service.list_messages(services.db, station_id, include_cleared=include_cleared)
    return [DisplayMessageOut(**r) for r in rows]


@router.delete("/stations/{station_id}/display-messages/{message_id}", response_model=ClearedOut)
async def clear_display_message(
    station_id: str, message_id: Id, services: ServicesDep
) -> ClearedOut:
    """Send ClearDisplayMessage (O05), also for an id Volta did not set; the
    station's answer is in `status`."""
    await _station(services, station_id)
    try:
        found = await service.clear_message(services, station_id, message_id)
    except service.DisplayRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    message = found["message"]
    return ClearedOut(
        message_id=message_id,
        status=found["status"],
        message=DisplayMessageOut(**message) if message else None,
        command=found["command"],
    )


@router.post(
    "/stations/{station_id}/display-messages/refresh", response_model=ReportOut, status_code=202
)
async def refresh_display_messages(
    station_id: str, services: ServicesDep, body: RefreshIn | None = None
) -> ReportOut:
    """Send GetDisplayMessages (O03 all; O04 by ids, priority or state). The
    station's NotifyDisplayMessages that follow update the list."""
    await _station(services, station_id)
    body = body or RefreshIn()
    criteria = service.Criteria(tuple(body.ids), body.priority, body.state)
    try:
        found = await service.refresh(services, station_id, criteria)
    except service.DisplayRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return ReportOut(request_id=found["id"], **{k: v for k, v in found.items() if k != "id"})
