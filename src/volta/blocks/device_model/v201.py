"""OCPP 2.0.1 adapter of this block: NotifyReport (B07 / B08) and how
GetVariables, SetVariables, GetBaseReport and GetReport are spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.device_model import service
from volta.blocks.device_model.service import (
    ChangeConfiguration,
    ComponentVariable,
    GetBaseReport,
    GetConfiguration,
    GetReport,
    GetVariables,
    SetVariables,
    VariableRef,
)
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

V201 = Version.V201

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.on(V201, "NotifyReport")
async def notify_report(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # B07/B08: a report may span several messages (seqNo, tbc); each part is
    # stored as it arrives, the report complete at the part without tbc.
    await service.store_report(ctx.services, ctx.station_id, p)
    return {}


def component(
    name: str, instance: str | None, evse_id: int | None, connector_id: int | None
) -> dict[str, Any]:
    spelled: dict[str, Any] = {"name": name}
    if instance:
        spelled["instance"] = instance
    if evse_id is not None:
        spelled["evse"] = {"id": evse_id}
        if connector_id is not None:
            spelled["evse"]["connectorId"] = connector_id
    return spelled


def variable(name: str, instance: str | None) -> dict[str, Any]:
    return {"name": name, "instance": instance} if instance else {"name": name}


def _data(ref: VariableRef) -> dict[str, Any]:
    data: dict[str, Any] = {
        "component": component(
            ref.component, ref.component_instance, ref.evse_id, ref.connector_id
        ),
        "variable": variable(ref.variable, ref.variable_instance),
    }
    if ref.attribute_type != "Actual":  # Actual is the default (B06)
        data["attributeType"] = ref.attribute_type
    return data


@outgoing.builds(GetVariables)
def get_variables(command: GetVariables) -> Message:
    return Message("GetVariables", {"getVariableData": [_data(r) for r in command.items]})


@outgoing.builds(SetVariables)
def set_variables(command: SetVariables) -> Message:
    return Message(
        "SetVariables",
        {"setVariableData": [{**_data(r), "attributeValue": v} for r, v in command.items]},
    )


@outgoing.builds(GetBaseReport)
def get_base_report(command: GetBaseReport) -> Message:
    return Message(
        "GetBaseReport", {"requestId": command.request_id, "reportBase": command.report_base}
    )


def _component_variable(cv: ComponentVariable) -> dict[str, Any]:
    spelled: dict[str, Any] = {
        "component": component(cv.component, cv.component_instance, cv.evse_id, cv.connector_id)
    }
    if cv.variable:
        spelled["variable"] = variable(cv.variable, cv.variable_instance)
    return spelled


@outgoing.builds(GetReport)
def get_report(command: GetReport) -> Message:
    payload: dict[str, Any] = {"requestId": command.request_id}
    if command.component_variables:
        payload["componentVariable"] = [_component_variable(c) for c in command.component_variables]
    if command.component_criteria:
        payload["componentCriteria"] = list(command.component_criteria)
    return Message("GetReport", payload)


def configuration_keys(command: object) -> Message:
    raise CannotSpell("2.0.1 has no configuration keys: its device model holds the variables")


for _kind in (GetConfiguration, ChangeConfiguration):
    outgoing.builds(_kind)(configuration_keys)
