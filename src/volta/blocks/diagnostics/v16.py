"""OCPP 1.6 adapter of this block: GetDiagnostics (§5.9) and the security
extension's GetLog, their status notifications."""

from __future__ import annotations

from typing import Any

from volta.blocks.diagnostics import service
from volta.blocks.diagnostics.service import GetDiagnostics, GetLog
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(GetDiagnostics)
def get_diagnostics(command: GetDiagnostics) -> Message:
    payload: dict[str, Any] = {"location": command.location}
    if command.retries is not None:
        payload["retries"] = command.retries
    if command.retry_interval is not None:
        payload["retryInterval"] = command.retry_interval
    if command.start_time is not None:
        payload["startTime"] = format_timestamp(command.start_time)
    if command.stop_time is not None:
        payload["stopTime"] = format_timestamp(command.stop_time)
    return Message("GetDiagnostics", payload)


@outgoing.builds(GetLog)
def get_log(command: GetLog) -> Message:
    # The security extension's GetLog is 2.0.1's (N01), in the same words.
    return log_message(command)


def log_message(command: GetLog) -> Message:
    log: dict[str, Any] = {"remoteLocation": command.location}
    if command.oldest is not None:
        log["oldestTimestamp"] = format_timestamp(command.oldest)
    if command.latest is not None:
        log["latestTimestamp"] = format_timestamp(command.latest)
    payload: dict[str, Any] = {
        "log": log,
        "logType": command.log_type,
        "requestId": command.request_id,
    }
    if command.retries is not None:
        payload["retries"] = command.retries
    if command.retry_interval is not None:
        payload["retryInterval"] = command.retry_interval
    return Message("GetLog", payload)


@handlers.on(Version.V16, "DiagnosticsStatusNotification")
async def diagnostics_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # 1.6 names no request: the station's latest GetDiagnostics.
    await service.notify(ctx.services, ctx.station_id, "GetDiagnostics", p["status"], None)
    return {}


@handlers.on(Version.V16, "LogStatusNotification")
async def log_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.notify(ctx.services, ctx.station_id, "GetLog", p["status"], p.get("requestId"))
    return {}
