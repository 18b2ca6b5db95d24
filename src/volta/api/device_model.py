"""The device model: components, variables and 1.6 configuration keys per station."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator

from volta.api.models import Offset
from volta.blocks.device_model import service
from volta.blocks.device_model.service import ComponentVariable, VariableRef
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.services import Services

router = APIRouter(tags=["device-model"])

# Bounds on what one request asks (the station's own limits split it further).
MAX_ITEMS = 1000
Name = Annotated[str, Field(min_length=1, max_length=50)]
Instance = Annotated[str | None, Field(None, min_length=1, max_length=50)]
Id = Annotated[int | None, Field(None, ge=0, le=2**31 - 1)]
AttributeType = Literal["Actual", "Target", "MinSet", "MaxSet"]


class VariableIn(BaseModel):
    """One attribute of a variable of a component (2.0.1 ComponentType,
    VariableType, AttributeEnumType)."""

    component: Name
    component_instance: Instance = None
    evse_id: Id = None
    connector_id: Id = None
    variable: Name
    variable_instance: Instance = None
    attribute_type: AttributeType = "Actual"

    @model_validator(mode="after")
    def _connector_needs_evse(self) -> VariableIn:
        if self.connector_id is not None and self.evse_id is None:
            raise ValueError("connector_id needs evse_id")
        return self

    def ref(self) -> VariableRef:
        return VariableRef(
            component=self.component,
            variable=self.variable,
            component_instance=self.component_instance,
            evse_id=self.evse_id,
            connector_id=self.connector_id,
            variable_instance=self.variable_instance,
            attribute_type=self.attribute_type,
        )


class VariableValueIn(VariableIn):
    value: str = Field(max_length=1000, description="attributeValue (string of at most 1000)")


class GetVariablesIn(BaseModel):
    variables: list[VariableIn] = Field(min_length=1, max_length=MAX_ITEMS)


class SetVariablesIn(BaseModel):
    variables: list[VariableValueIn] = Field(min_length=1, max_length=MAX_ITEMS)


class ComponentVariableIn(BaseModel):
    component: Name
    component_instance: Instance = None
    evse_id: Id = None
    connector_id: Id = None
    variable: Name | None = Field(None, description="none: every variable of the component")
    variable_instance: Instance = None


ComponentCriterion = Literal["Active", "Available", "Enabled", "Problem"]


class ReportIn(BaseModel):
    """Either `report_base` (GetBaseReport, B07) or a custom report
    (GetReport, B08) of `component_variables` and/or `component_criteria`."""

    report_base: Literal["ConfigurationInventory", "FullInventory", "SummaryInventory"] | None = (
        None
    )
    component_variables: list[ComponentVariableIn] = Field([], max_length=MAX_ITEMS)
    component_criteria: list[ComponentCriterion] = Field([], max_length=4)

    @model_validator(mode="after")
    def _one_kind(self) -> ReportIn:
        custom = bool(self.component_variables or self.component_criteria)
        if (self.report_base is None) == (not custom):
            raise ValueError(
                "give report_base, or component_variables and/or component_criteria (not both)"
            )
        return self


class AttributeOut(BaseModel):
    key: str
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str
    value: str | None
    mutability: str | None
    persistent: bool | None
    constant: bool | None
    unit: str | None
    data_type: str | None
    min_limit: float | None
    max_limit: float | None
    values_list: str | None
    supports_monitoring: bool | None
    attribute_status: str | None = Field(description="the station's last answer about it")
    status_info: dict[str, Any] | None
    answered_at: dt.datetime | None
    requested_value: str | None = Field(description="the last value set (never a secret)")
    requested_at: dt.datetime | None
    requested_by: str | None
    updated_at: dt.datetime


class DeviceModelOut(BaseModel):
    total: int = Field(description="attributes matching, over every page")
    items: list[AttributeOut]


class ResultOut(BaseModel):
    """The station's answer for one element asked."""

    key: str
    component: str
    component_instance: str | None
    evse_id: int | None
    connector_id: int | None
    variable: str
    variable_instance: str | None
    attribute_type: str
    attribute_status: str | None = Field(description="null: the message got no answer")
    value: str | None = None
    status_info: dict[str, Any] | None = None
    error: str | None = Field(None, description="why the message got no answer")
    command_id: str


class ResultsOut(BaseModel):
    messages: int = Field(description="how many messages the request went out as")
    command_ids: list[str]
    results: list[ResultOut]


class ReportOut(BaseModel):
    request_id: int
    kind: str | None
    status: Literal["requested", "receiving", "complete", "refused", "failed"] | str
    answer: str | None = Field(description="the station's answer to the request")
    criteria: dict[str, Any] | None
    parts: int
    items: int
    requested_by: str | None
    requested_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None


class ReportsOut(BaseModel):
    command_ids: list[str]
    reports: list[ReportOut]


class ConfigurationKeyOut(BaseModel):
    key: str
    value: str | None
    readonly: bool | None
    unknown: bool = Field(description="the station said it has no such key")
    requested_value: str | None
    requested_at: dt.datetime | None
    requested_by: str | None
    answer: str | None = Field(description="Accepted, Rejected, RebootRequired, NotSupported")
    answered_at: dt.datetime | None
    updated_at: dt.datetime


class GetConfigurationIn(BaseModel):
    keys: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        [], max_length=MAX_ITEMS, description="none: every key"
    )


class ConfigurationOut(BaseModel):
    command_ids: list[str]
    keys: list[ConfigurationKeyOut]


class ChangeConfigurationIn(BaseModel):
    key: str = Field(min_length=1, max_length=50)
    value: str = Field(max_length=500)


class ChangeConfigurationOut(BaseModel):
    command_id: str
    key: ConfigurationKeyOut


async def _station(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


def _refused(exc: service.DeviceModelError) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, str(exc))


def _results(sent: service.Sent) -> ResultsOut:
    return ResultsOut(
        messages=len(sent.commands),
        command_ids=[c["id"] for c in sent.commands],
        results=[ResultOut(**r) for r in sent.results],
    )


@router.get("/stations/{station_id}/device-model", response_model=DeviceModelOut)
async def get_device_model(
    station_id: str,
    services: ServicesDep,
    q: Annotated[
        str | None, Query(max_length=50, description="in the component or variable name")
    ] = None,
    evse_id: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> DeviceModelOut:
    """The 2.0.1 station's device model as reported (NotifyReport) and read
    (GetVariables), with what was last set and answered, by component."""
    await _station(services, station_id)
    total, rows = await service.list_variables(
        services.db, station_id, q=q, evse_id=evse_id, limit=limit, offset=offset
    )
    return DeviceModelOut(total=total, items=[AttributeOut(**r) for r in rows])


@router.post("/stations/{station_id}/device-model/get-variables", response_model=ResultsOut)
async def get_variables(station_id: str, body: GetVariablesIn, services: ServicesDep) -> ResultsOut:
    """GetVariables (B06), split by the station's ItemsPerMessage and
    BytesPerMessage GetVariables (asked first when never reported); the
    answers combined and the values read stored. 409: offline or 1.6."""
    await _station(services, station_id)
    try:
        sent = await service.get_variables(services, station_id, [v.ref() for v in body.variables])
    except service.DeviceModelError as exc:
        raise _refused(exc) from None
    return _results(sent)


@router.post("/stations/{station_id}/device-model/set-variables", response_model=ResultsOut)
async def set_variables(station_id: str, body: SetVariablesIn, services: ServicesDep) -> ResultsOut:
    """SetVariables (B05), split like get-variables; what was asked and what
    the station answered kept per variable. 409: offline or 1.6."""
    await _station(services, station_id)
    try:
        sent = await service.set_variables(
            services, station_id, [(v.ref(), v.value) for v in body.variables], by="api"
        )
    except service.DeviceModelError as exc:
        raise _refused(exc) from None
    return _results(sent)


@router.get("/stations/{station_id}/device-model/reports", response_model=list[ReportOut])
async def list_reports(
    station_id: str, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ReportOut]:
    """The station's reports, newest first, with their progress."""
    await _station(services, station_id)
    return [
        ReportOut(**r) for r in await service.list_reports(services.db, station_id, limit=limit)
    ]


@router.post("/stations/{station_id}/device-model/reports", response_model=ReportsOut)
async def request_report(station_id: str, body: ReportIn, services: ServicesDep) -> ReportsOut:
    """GetBaseReport (B07) or GetReport (B08, split by ItemsPerMessage and
    BytesPerMessage GetReport: one report per message). The reports fill as
    the station's NotifyReport parts come. 409: offline or 1.6."""
    await _station(services, station_id)
    wanted = [ComponentVariable(**c.model_dump()) for c in body.component_variables]
    try:
        reports, records = await service.request_report(
            services,
            station_id,
            report_base=body.report_base,
            component_variables=wanted,
            component_criteria=list(body.component_criteria),
            by="api",
        )
    except service.DeviceModelError as exc:
        raise _refused(exc) from None
    return ReportsOut(
        command_ids=[r["id"] for r in records], reports=[ReportOut(**r) for r in reports]
    )


@router.get("/stations/{station_id}/configuration", response_model=list[ConfigurationKeyOut])
async def get_configuration_keys(
    station_id: str, services: ServicesDep
) -> list[ConfigurationKeyOut]:
    """The 1.6 station's configuration keys as GetConfiguration told them,
    with the last change asked and its answer."""
    await _station(services, station_id)
    rows = await service.list_configuration(services.db, station_id)
    return [ConfigurationKeyOut(**r) for r in rows]


@router.post("/stations/{station_id}/configuration/get", response_model=ConfigurationOut)
async def get_configuration(
    station_id: str, body: GetConfigurationIn, services: ServicesDep
) -> ConfigurationOut:
    """GetConfiguration of the keys (every key when none), split by the
    station's GetConfigurationMaxKeys once known; stored. 409: offline or 2.0.1."""
    await _station(services, station_id)
    try:
        keys, records = await service.get_configuration(services, station_id, body.keys)
    except service.DeviceModelError as exc:
        raise _refused(exc) from None
    return ConfigurationOut(
        command_ids=[r["id"] for r in records], keys=[ConfigurationKeyOut(**k) for k in keys]
    )


@router.post("/stations/{station_id}/configuration/change", response_model=ChangeConfigurationOut)
async def change_configuration(
    station_id: str, body: ChangeConfigurationIn, services: ServicesDep
) -> ChangeConfigurationOut:
    """ChangeConfiguration of one key; the value asked and the answer kept.
    409: offline or 2.0.1."""
    await _station(services, station_id)
    try:
        row, record = await service.change_configuration(
            services, station_id, body.key, body.value, by="api"
        )
    except service.DeviceModelError as exc:
        raise _refused(exc) from None
    return ChangeConfigurationOut(command_id=record["id"], key=ConfigurationKeyOut(**row))
