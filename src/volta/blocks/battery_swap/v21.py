"""OCPP 2.1 battery swap: BatterySwap stored (the token judged), RequestBatterySwap spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.battery_swap import service
from volta.blocks.battery_swap.service import RequestBatterySwap
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(RequestBatterySwap)
def request_battery_swap(command: RequestBatterySwap) -> Message:
    return Message(
        "RequestBatterySwap",
        {
            "requestId": command.request_id,
            "idToken": {"idToken": command.id_token, "type": command.id_token_type},
        },
    )


@handlers.on(Version.V21, "BatterySwap")
async def battery_swap(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.reported(ctx.services, ctx.station_id, p)
    return {}
