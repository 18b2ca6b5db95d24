"""OCPP 2.0.1 block A: SecurityEventNotification (A04) in, and how a new
HTTP Basic password is given (A01: SetVariables SecurityCtrlr.BasicAuthPassword)."""

from __future__ import annotations

from typing import Any

from volta.blocks.security import service
from volta.blocks.security.passwords import SetStationPassword
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.on(Version.V201, "SecurityEventNotification")
async def security_event_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.security_event_notification(ctx, p)


@outgoing.builds(SetStationPassword)
def set_station_password(command: SetStationPassword) -> Message:
    # A01.FR.02: SetVariablesRequest for SecurityCtrlr.BasicAuthPassword.
    return Message(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeType": "Actual",
                    "attributeValue": command.password,
                    "component": {"name": "SecurityCtrlr"},
                    "variable": {"name": "BasicAuthPassword"},
                }
            ]
        },
    )
