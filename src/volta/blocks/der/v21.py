"""OCPP 2.1 DER control (block R): how 2.1 stations are answered and asked.

SetDERControl, GetDERControl and ClearDERControl spelled; ReportDERControl,
NotifyDERAlarm and NotifyDERStartStop stored (service.py)."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.der import service
from volta.blocks.der.service import ClearDerControl, GetDerControl, SetDerControl
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(SetDerControl)
def set_der_control(command: SetDerControl) -> Message:
    action, payload = service.set_message(command)
    return Message(action, payload)


@outgoing.builds(GetDerControl)
def get_der_control(command: GetDerControl) -> Message:
    payload: dict[str, Any] = {"requestId": command.request_id}
    if command.is_default is not None:
        payload["isDefault"] = command.is_default
    if command.control_type is not None:
        payload["controlType"] = command.control_type
    if command.control_id is not None:
        payload["controlId"] = command.control_id
    return Message("GetDERControl", payload)


@outgoing.builds(ClearDerControl)
def clear_der_control(command: ClearDerControl) -> Message:
    payload: dict[str, Any] = {"isDefault": command.is_default}
    if command.control_type is not None:
        payload["controlType"] = command.control_type
    if command.control_id is not None:
        payload["controlId"] = command.control_id
    return Message("ClearDERControl", payload)


@handlers.on(Version.V21, "ReportDERControl")
async def report_der_control(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    if not await service.report(ctx.services.db, ctx.station_id, p):
        log.info(
            "%s: ReportDERControl for request %s, which Volta did not send",
            ctx.station_id,
            p["requestId"],
        )
    return {}


@handlers.on(Version.V21, "NotifyDERAlarm")
async def notify_der_alarm(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.alarm(
        ctx.services.db, ctx.station_id, p, keep=ctx.services.settings.der_history_per_station
    )
    return {}


@handlers.on(Version.V21, "NotifyDERStartStop")
async def notify_der_start_stop(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.start_stop(
        ctx.services.db, ctx.station_id, p, keep=ctx.services.settings.der_history_per_station
    )
    return {}
