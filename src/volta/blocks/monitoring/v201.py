"""OCPP 2.0.1 adapter of this block: NotifyEvent (N07/N08) and
NotifyMonitoringReport (N02) in; SetVariableMonitoring, ClearVariableMonitoring,
SetMonitoringBase, SetMonitoringLevel and GetMonitoringReport out."""

from __future__ import annotations

from typing import Any

from volta.blocks.monitoring import events, service
from volta.blocks.monitoring.service import (
    ClearVariableMonitoring,
    GetMonitoringReport,
    SetMonitoringBase,
    SetMonitoringLevel,
    SetVariableMonitoring,
)
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.on(Version.V201, "NotifyEvent")
async def notify_event(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # N07.FR.03 / N08.FR.02: an empty answer, once the events are stored.
    await events.store_events(ctx.services, ctx.station_id, p)
    return {}


@handlers.on(Version.V201, "NotifyMonitoringReport")
async def notify_monitoring_report(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.store_report_part(ctx.services.db, ctx.station_id, p)
    return {}


@outgoing.builds(SetVariableMonitoring)
def set_variable_monitoring(command: SetVariableMonitoring) -> Message:
    return Message(
        "SetVariableMonitoring",
        {"setMonitoringData": [service.monitoring_data(m) for m in command.monitors]},
    )


@outgoing.builds(ClearVariableMonitoring)
def clear_variable_monitoring(command: ClearVariableMonitoring) -> Message:
    return Message("ClearVariableMonitoring", {"id": list(command.ids)})


@outgoing.builds(SetMonitoringBase)
def set_monitoring_base(command: SetMonitoringBase) -> Message:
    return Message("SetMonitoringBase", {"monitoringBase": command.base})


@outgoing.builds(SetMonitoringLevel)
def set_monitoring_level(command: SetMonitoringLevel) -> Message:
    return Message("SetMonitoringLevel", {"severity": command.severity})


@outgoing.builds(GetMonitoringReport)
def get_monitoring_report(command: GetMonitoringReport) -> Message:
    # N02.FR.05 allows both absent: every monitor (TC_N_47).
    payload: dict[str, Any] = {"requestId": command.request_id}
    if command.criteria:
        payload["monitoringCriteria"] = list(command.criteria)
    if command.targets:
        payload["componentVariable"] = [
            {"component": t.component_json(), "variable": t.variable_json()}
            for t in command.targets
        ]
    return Message("GetMonitoringReport", payload)
