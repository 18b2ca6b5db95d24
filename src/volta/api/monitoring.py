"""Monitoring (2.0.1 block N): variable monitors, monitoring base and level,
monitoring reports, the events stations notify, and monitor sets for a fleet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import BaseModel, Field, model_validator

from volta.api.models import INT32_MAX, Offset
from volta.blocks.monitoring import events, service, sets
from volta.blocks.monitoring.service import MonitorSpec, Target
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep

router = APIRouter(tags=["monitoring"])

T = TypeVar("T")

MonitorType = Literal[
    "UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned"
]
Severity = Annotated[int, Field(ge=0, le=9, description="0 Danger ... 9 Debug")]
Name = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\x21-\x7e]+$")]
MonitorId = Annotated[int, Path(ge=0, le=INT32_MAX)]


class TargetIn(BaseModel):
    """A component and variable of the station's device model."""

    component: Name
    component_instance: Name | None = None
    evse_id: int | None = Field(None, ge=0, le=INT32_MAX)
    connector_id: int | None = Field(None, ge=0, le=INT32_MAX)
    variable: Name
    variable_instance: Name | None = None

    @model_validator(mode="after")
    def _connector_in_evse(self) -> TargetIn:
        if self.connector_id is not None and self.evse_id is None:
            raise ValueError("a connector is addressed within its EVSE: give evse_id")
        return self

    def target(self) -> Target:
        return Target(
            self.component,
            self.variable,
            component_instance=self.component_instance,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            variable_instance=self.variable_instance,
        )


class MonitorIn(TargetIn):
    type: MonitorType
    value: float = Field(
        allow_inf_nan=False,
        description="the threshold or delta; for Periodic and PeriodicClockAligned the "
        "interval (s)",
    )
    severity: Severity
    transaction: bool = Field(False, description="only while a transaction runs")
    monitor_id: int | None = Field(
        None, ge=0, le=INT32_MAX, description="replace the station's monitor of this id"
    )

    def spec(self) -> MonitorSpec:
        return MonitorSpec(
            self.target(), self.type, self.value, self.severity, self.transaction, self.monitor_id
        )


class MonitorsIn(BaseModel):
    monitors: list[MonitorIn] = Field(min_length=1, max_length=service.MAX_MONITORS)


class MonitorOut(BaseModel):
    id: int = Field(description="Volta's id of this record")
    station_id: str
    monitor_id: int | None = Field(description="the id the station gave it (none unless accepted)")
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    type: str
    value: float
    severity: int
    severity_name: str | None
    transaction: bool
    status: str = Field(
        description="Requested (no answer yet), the station's SetMonitoringResult status "
        "(Accepted, Rejected, UnknownComponent, UnknownVariable, UnsupportedMonitorType, "
        "Duplicate), Failed (no answer) or Reported (from a monitoring report)"
    )
    status_info: str | None
    origin: Literal["volta", "station"] | str
    set_name: str | None
    clear_status: str | None = Field(description="Rejected: the station refused to clear it")
    created_at: dt.datetime
    updated_at: dt.datetime


class ClearIn(BaseModel):
    ids: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(
        min_length=1, max_length=service.MAX_MONITORS
    )


class ClearOut(BaseModel):
    id: int
    status: str = Field(description="Accepted, NotFound, Rejected, or Failed (no answer)")
    info: str | None


class BaseIn(BaseModel):
    monitoring_base: Literal["All", "FactoryDefault", "HardWiredOnly"]


class BaseOut(BaseModel):
    monitoring_base: str
    status: str = Field(description="the station's answer, or Failed (no answer)")
    info: str | None


class LevelIn(BaseModel):
    severity: Severity


class LevelOut(BaseModel):
    severity: int
    status: str
    info: str | None


class ReportIn(BaseModel):
    criteria: list[Literal["ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring"]] = Field(
        default_factory=list, max_length=3
    )
    component_variables: list[TargetIn] = Field(
        default_factory=list, max_length=service.MAX_MONITORS
    )


class ReportOut(BaseModel):
    id: int
    station_id: str
    request_id: int
    criteria: list[str] | None
    component_variables: list[dict[str, Any]] | None
    status: str = Field(
        description="Requested, the station's answer (Accepted, Rejected, NotSupported, "
        "EmptyResultSet), Failed, or Complete once its last part came"
    )
    parts: int
    monitors: int
    requested_at: dt.datetime
    completed_at: dt.datetime | None


class MonitoringEventOut(BaseModel):
    id: int
    station_id: str
    event_id: int
    timestamp: dt.datetime
    trigger: str
    cause: int | None
    actual_value: str
    tech_code: str | None
    tech_info: str | None
    cleared: bool
    transaction_id: str | None
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    variable_monitoring_id: int | None
    event_notification_type: str
    severity: int | None = Field(description="the monitor's severity, when Volta knows the monitor")
    severity_name: str | None
    received_at: dt.datetime


class MonitorSetOut(BaseModel):
    name: str
    title: str
    description: str
    monitors: list[dict[str, Any]] = Field(
        description="the SetMonitoringData sent (connector monitors per connector the station has)"
    )


class ApplyIn(BaseModel):
    station_ids: list[Annotated[str, Field(min_length=1, max_length=48)]] | None = Field(
        None, max_length=sets.MAX_STATIONS, description="none: every 2.0.1 station"
    )


class ApplyOut(BaseModel):
    station_id: str
    result: Literal["applied", "skipped"]
    detail: str
    monitors: list[MonitorOut] = []


async def _call(work: Awaitable[T]) -> T:
    try:
        return await work
    except service.StationNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except service.NotConnected as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except service.MonitoringRefused as exc:
        raise HTTPException(422, str(exc)) from None


async def _known(services: Any, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


STATION_ERRORS: dict[int | str, dict[str, Any]] = {404: {}, 409: {}, 422: {}}


@router.post(
    "/stations/{station_id}/monitors", response_model=list[MonitorOut], responses=STATION_ERRORS
)
async def set_monitors(station_id: str, body: MonitorsIn, services: ServicesDep) -> Any:
    """SetVariableMonitoring (N04): each monitor is kept with the station's
    answer (its id, or why not). Split by the station's ItemsPerMessage /
    BytesPerMessage. 409 when the station is not connected or not 2.0.1."""
    return await _call(
        service.set_monitors(services, station_id, [m.spec() for m in body.monitors])
    )


@router.get("/stations/{station_id}/monitors", response_model=list[MonitorOut], responses={404: {}})
async def list_monitors(station_id: str, services: ServicesDep) -> Any:
    """The station's monitors: those set through Volta, with the station's
    answers, and those it reported (monitoring reports)."""
    await _known(services, station_id)
    return await service.list_monitors(services.db, station_id)


@router.delete(
    "/stations/{station_id}/monitors/{monitor_id}",
    response_model=ClearOut,
    responses=STATION_ERRORS,
)
async def clear_monitor(station_id: str, monitor_id: MonitorId, services: ServicesDep) -> Any:
    """ClearVariableMonitoring (N06) of one monitor, by the station's id of it.
    The answer says what the station did: Accepted and NotFound forget it."""
    (result,) = await _call(service.clear_monitors(services, station_id, [monitor_id]))
    return result


@router.post(
    "/stations/{station_id}/monitors/clear", response_model=list[ClearOut], responses=STATION_ERRORS
)
async def clear_monitors(station_id: str, body: ClearIn, services: ServicesDep) -> Any:
    """ClearVariableMonitoring (N06) of several monitors, split by the
    station's limits (N06.FR.04)."""
    return await _call(service.clear_monitors(services, station_id, body.ids))


@router.post(
    "/stations/{station_id}/monitoring-base", response_model=BaseOut, responses=STATION_ERRORS
)
async def set_monitoring_base(station_id: str, body: BaseIn, services: ServicesDep) -> Any:
    """SetMonitoringBase (N03): All, FactoryDefault or HardWiredOnly (which
    clears the custom monitors)."""
    return await _call(service.set_base(services, station_id, body.monitoring_base))


@router.post(
    "/stations/{station_id}/monitoring-level", response_model=LevelOut, responses=STATION_ERRORS
)
async def set_monitoring_level(station_id: str, body: LevelIn, services: ServicesDep) -> Any:
    """SetMonitoringLevel (N05): the station reports events of this severity
    or more severe."""
    return await _call(service.set_level(services, station_id, body.severity))


@router.post(
    "/stations/{station_id}/monitoring-reports", response_model=ReportOut, responses=STATION_ERRORS
)
async def request_monitoring_report(station_id: str, body: ReportIn, services: ServicesDep) -> Any:
    """GetMonitoringReport (N02): by criteria and/or components and variables
    (neither: every monitor). The NotifyMonitoringReport parts update the
    station's monitors; the report is Complete after the last one."""
    return await _call(
        service.request_report(
            services,
            station_id,
            criteria=body.criteria,
            targets=[t.target() for t in body.component_variables],
        )
    )


@router.get(
    "/stations/{station_id}/monitoring-reports",
    response_model=list[ReportOut],
    responses={404: {}},
)
async def list_monitoring_reports(
    station_id: str, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> Any:
    """The station's latest monitoring reports, newest first."""
    await _known(services, station_id)
    return await service.list_reports(services.db, station_id, limit)


@router.get("/monitoring-events", response_model=list[MonitoringEventOut])
async def list_monitoring_events(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    severity_max: Annotated[
        int | None, Query(ge=0, le=9, description="this severity or more severe (lower)")
    ] = None,
    component: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    """The events stations notified (NotifyEvent, N07/N08), newest first."""
    return await events.list_events(
        services.db,
        station_id=station_id,
        severity_max=severity_max,
        component=component,
        limit=limit,
        offset=offset,
    )


@router.get("/monitor-sets", response_model=list[MonitorSetOut])
async def list_monitor_sets() -> Any:
    """The monitor sets an operator can apply to stations."""
    return [sets.describe(s) for s in sets.SETS.values()]


@router.post("/monitor-sets/{name}/apply", response_model=list[ApplyOut], responses={404: {}})
async def apply_monitor_set(
    services: ServicesDep,
    name: Annotated[str, Path(max_length=40)],
    body: ApplyIn | None = None,
) -> Any:
    """Set the monitors of a set on the stations named, or on every 2.0.1
    station; per station what it answered, or why it was skipped (not
    connected, not 2.0.1)."""
    try:
        return await sets.apply(services, name, body.station_ids if body else None)
    except sets.UnknownSet as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
