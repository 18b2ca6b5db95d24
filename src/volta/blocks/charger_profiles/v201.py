"""OCPP 2.0.1 adapter of this block: the profile matched after each
BootNotification, and a setting spelled as SetVariables."""

from __future__ import annotations

from typing import Any

from volta.blocks.charger_profiles import service
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.after(Version.V201, "BootNotification")
async def match_profile(ctx: CallContext, p: dict[str, Any], answer: dict[str, Any]) -> None:
    station = p["chargingStation"]
    await service.on_boot(
        ctx,
        vendor=station["vendorName"],
        model=station["model"],
        firmware=station.get("firmwareVersion"),
        accepted=answer.get("status") == "Accepted",
    )


@outgoing.builds(service.ApplySetting)
def apply_setting(command: service.ApplySetting) -> Message:
    if command.component is None or command.variable is None:
        raise CannotSpell("this setting names a 1.6 key, not a 2.0.1 variable")
    component: dict[str, Any] = {"name": command.component}
    if command.instance:
        component["instance"] = command.instance
    if command.evse_id is not None:
        component["evse"] = {"id": command.evse_id}
    return Message(
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": command.value,
                    "component": component,
                    "variable": {"name": command.variable},
                }
            ]
        },
    )
