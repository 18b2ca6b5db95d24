"""DER control of 2.1 stations (block R): set, list, clear and ask a station
for its controls; its alarms and the history of controls started and stopped."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from volta.api.models import CommandOut, ErrorOut
from volta.blocks.der import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["der-control"])

# DERControlEnumType, in the schema's order (the same names as service.CONTROL_TYPES).
ControlType = Literal[
    "EnterService",
    "FreqDroop",
    "FreqWatt",
    "FixedPFAbsorb",
    "FixedPFInject",
    "FixedVar",
    "Gradients",
    "HFMustTrip",
    "HFMayTrip",
    "HVMustTrip",
    "HVMomCess",
    "HVMayTrip",
    "LimitMaxDischarge",
    "LFMustTrip",
    "LVMustTrip",
    "LVMomCess",
    "LVMayTrip",
    "PowerMonitoringMustTrip",
    "VoltVar",
    "VoltWatt",
    "WattPF",
    "WattVar",
]
ControlId = Annotated[str, Field(min_length=1, max_length=36)]

REFUSED: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "no such station"},
    409: {"model": ErrorOut, "description": "the station is offline or does not speak OCPP 2.1"},
}
FOUND: dict[int | str, dict[str, Any]] = {404: REFUSED[404]}


class DerControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control_type: ControlType
    is_default: bool = Field(
        description="a default control (in force when no scheduled one is); false: scheduled"
    )
    control_id: ControlId | None = Field(
        None, description="an id already in use replaces that control; none: a new UUID"
    )
    setting: dict[str, Any] = Field(
        description="the setting as OCPP 2.1 spells it, checked against the SetDERControlRequest "
        "schema: a DERCurveType for the curves (VoltVar, FreqWatt, HVMustTrip, ...), "
        "EnterServiceType, FixedPFType, FixedVarType, FreqDroopType, GradientType or "
        "LimitMaxDischargeType for the others"
    )


class DerControlOut(BaseModel):
    control_id: str
    station_id: str
    control_type: str
    is_default: bool
    setting: dict[str, Any] | None = Field(description="what Volta set (null: never set by Volta)")
    status: str = Field(
        description="Requested, the station's answer (Accepted, Rejected, NotSupported, "
        "NotFound), Failed (no answer), Reported (known only from the station's report)"
    )
    status_info: dict[str, Any] | None
    source: str = Field(description="api, or station (known only from its report)")
    reported: dict[str, Any] | None = Field(
        description="what the station's latest report said: setting, is_superseded "
        "(null: not in it)"
    )
    reported_at: dt.datetime | None
    superseded: bool
    superseded_by: str | None
    active: bool | None = Field(
        description="NotifyDERStartStop: started (true), ended (false), never told (null)"
    )
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class DerControlSetOut(DerControlOut):
    superseded_ids: list[str] = Field(description="the controls the station said this supersedes")
    command: CommandOut


class ClearIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_default: bool = Field(description="clear default controls (true) or scheduled ones")
    control_type: ControlType | None = Field(None, description="none: of every type")
    control_id: ControlId | None = Field(None, description="only this control")


class ClearOut(BaseModel):
    status: str = Field(description="the station's answer: Accepted, NotFound, ...; or Failed")
    status_info: dict[str, Any] | None
    removed: list[str] = Field(description="the control ids removed from Volta's store")
    command: CommandOut


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control_type: ControlType | None = None
    is_default: bool | None = None
    control_id: ControlId | None = None


class ReportOut(BaseModel):
    request_id: int
    station_id: str
    criteria: dict[str, Any]
    status: str = Field(description="the GetDERControl answer (Accepted, NotFound, ...) or Failed")
    controls: list[dict[str, Any]] = Field(
        description="control_id, control_type, is_default, is_superseded of every part"
    )
    parts: int
    complete: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    command: CommandOut | None = None


class AlarmOut(BaseModel):
    id: int
    station_id: str
    control_type: str
    grid_event_fault: str | None
    extra_info: str | None
    started_at: dt.datetime | None = Field(description="null: Volta saw only its end")
    ended_at: dt.datetime | None = Field(description="null: the alarm is on")
    ended_info: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class StartStopOut(BaseModel):
    id: int
    station_id: str
    control_id: str
    started: bool
    at: dt.datetime
    superseded_ids: list[str]
    created_at: dt.datetime


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


def _report(found: dict[str, Any]) -> ReportOut:
    return ReportOut(request_id=found["id"], **{k: v for k, v in found.items() if k != "id"})


@router.post(
    "/stations/{station_id}/der-controls",
    response_model=DerControlSetOut,
    status_code=201,
    responses=REFUSED,
)
async def set_der_control(
    station_id: str, body: DerControlIn, services: ServicesDep
) -> DerControlSetOut:
    """Send SetDERControl and keep the control with the station's answer in
    `status` (201 also when the station did not accept: the record is kept);
    the controls it names in supersededIds are marked superseded. 422 when
    the setting breaks the 2.1 schema; 409 when the station is offline or
    not 2.1."""
    await _station(services, station_id)
    try:
        found = await service.set_control(
            services,
            station_id,
            body.control_type,
            body.is_default,
            body.setting,
            body.control_id,
        )
    except service.DerInvalid as exc:
        raise RequestValidationError(
            [{"loc": ("body", "setting"), "msg": m, "type": "value_error"} for m in exc.problems]
        ) from None
    except service.DerRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return DerControlSetOut(**found)


@router.get(
    "/stations/{station_id}/der-controls", response_model=list[DerControlOut], responses=FOUND
)
async def list_der_controls(
    station_id: str,
    services: ServicesDep,
    control_type: ControlType | None = None,
    is_default: bool | None = None,
    active: bool | None = Query(None, description="true: started and not ended since"),
) -> list[DerControlOut]:
    """The station's DER controls: what Volta set (with the answer) and what
    the station reported, superseded or not, running or not."""
    await _station(services, station_id)
    rows = await service.list_controls(
        services.db, station_id, control_type=control_type, is_default=is_default, active=active
    )
    return [DerControlOut(**r) for r in rows]


@router.post(
    "/stations/{station_id}/der-controls/clear", response_model=ClearOut, responses=REFUSED
)
async def clear_der_controls(station_id: str, body: ClearIn, services: ServicesDep) -> ClearOut:
    """Send ClearDERControl: one control by `control_id`, or every default
    (or scheduled) control of `control_type` (of every type when none). When
    the station answers Accepted, the cleared controls leave Volta's list."""
    await _station(services, station_id)
    try:
        found = await service.clear_controls(
            services, station_id, body.is_default, body.control_type, body.control_id
        )
    except service.DerRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return ClearOut(**found)


@router.post(
    "/stations/{station_id}/der-controls/refresh",
    response_model=ReportOut,
    status_code=202,
    responses=REFUSED,
)
async def refresh_der_controls(
    station_id: str, services: ServicesDep, body: RefreshIn | None = None
) -> ReportOut:
    """Send GetDERControl (all controls, or by type, default or scheduled, or
    id). The station's ReportDERControl parts that follow replace what its
    earlier report said of these controls."""
    await _station(services, station_id)
    body = body or RefreshIn()
    try:
        found = await service.refresh(
            services, station_id, body.control_type, body.is_default, body.control_id
        )
    except service.DerRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _report(found)


@router.get("/stations/{station_id}/der-reports", response_model=list[ReportOut], responses=FOUND)
async def list_der_reports(
    station_id: str, services: ServicesDep, limit: int = Query(20, ge=1, le=100)
) -> list[ReportOut]:
    """The station's latest GetDERControl requests and their reports, newest first."""
    await _station(services, station_id)
    return [_report(r) for r in await service.list_reports(services.db, station_id, limit)]


@router.get("/stations/{station_id}/der-alarms", response_model=list[AlarmOut], responses=FOUND)
async def list_der_alarms(
    station_id: str,
    services: ServicesDep,
    active: bool | None = Query(None, description="true: not ended; false: ended"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AlarmOut]:
    """The station's DER alarms (NotifyDERAlarm), newest first."""
    await _station(services, station_id)
    rows = await service.list_alarms(services.db, station_id, active=active, limit=limit)
    return [AlarmOut(**r) for r in rows]


@router.get(
    "/stations/{station_id}/der-start-stops", response_model=list[StartStopOut], responses=FOUND
)
async def list_der_start_stops(
    station_id: str,
    services: ServicesDep,
    control_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[StartStopOut]:
    """DER controls started and stopped in the station (NotifyDERStartStop), newest first."""
    await _station(services, station_id)
    rows = await service.list_start_stops(
        services.db, station_id, control_id=control_id, limit=limit
    )
    return [StartStopOut(**r) for r in rows]
