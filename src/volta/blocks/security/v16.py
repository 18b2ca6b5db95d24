"""OCPP 1.6 security extension (security whitepaper): SecurityEventNotification
in, and how a new HTTP Basic password is given (ChangeConfiguration
AuthorizationKey, TC_073_CSMS)."""

from __future__ import annotations

from typing import Any

from volta.blocks.security import service
from volta.blocks.security.passwords import SetStationPassword
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.on(Version.V16, "SecurityEventNotification")
async def security_event_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    return await service.security_event_notification(ctx, p)


@outgoing.builds(SetStationPassword)
def set_station_password(command: SetStationPassword) -> Message:
    # The whitepaper's AuthorizationKey is the password's bytes in hex (at
    # most 40 digits: 20 bytes).
    return Message(
        "ChangeConfiguration",
        {"key": "AuthorizationKey", "value": command.password.encode().hex().upper()},
    )
