"""OCPP 2.0.1 adapter of this block: GetLog and LogStatusNotification (N01)."""

from __future__ import annotations

from typing import Any

from volta.blocks.diagnostics import service
from volta.blocks.diagnostics.service import GetDiagnostics, GetLog
from volta.blocks.diagnostics.v16 import log_message
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(GetDiagnostics)
def get_diagnostics(command: GetDiagnostics) -> Message:
    raise CannotSpell("2.0.1 has no GetDiagnostics: GetLog with logType DiagnosticsLog")


@outgoing.builds(GetLog)
def get_log(command: GetLog) -> Message:
    return log_message(command)


@handlers.on(Version.V201, "LogStatusNotification")
async def log_status(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # N01.FR.03/.04: Uploading, then Uploaded or UploadFailure, by requestId.
    await service.notify(ctx.services, ctx.station_id, "GetLog", p["status"], p.get("requestId"))
    return {}
