"""OCPP 1.6 adapter of this block: the profile matched after each
BootNotification, and a setting spelled as ChangeConfiguration."""

from __future__ import annotations

from typing import Any

from volta.blocks.charger_profiles import service
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell, Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@handlers.after(Version.V16, "BootNotification")
async def match_profile(ctx: CallContext, p: dict[str, Any], answer: dict[str, Any]) -> None:
    await service.on_boot(
        ctx,
        vendor=p["chargePointVendor"],
        model=p["chargePointModel"],
        firmware=p.get("firmwareVersion"),
        accepted=answer.get("status") == "Accepted",
    )


@outgoing.builds(service.ApplySetting)
def apply_setting(command: service.ApplySetting) -> Message:
    if command.key is None:
        raise CannotSpell("this setting names a 2.0.1 variable, not a 1.6 key")
    return Message("ChangeConfiguration", {"key": command.key, "value": command.value})
