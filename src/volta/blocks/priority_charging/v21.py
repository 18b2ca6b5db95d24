"""OCPP 2.1 priority charging: UsePriorityCharging spelled, NotifyPriorityCharging stored."""

from __future__ import annotations

from typing import Any

from volta.blocks.priority_charging import service
from volta.blocks.priority_charging.service import UsePriorityCharging
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(UsePriorityCharging)
def use_priority_charging(command: UsePriorityCharging) -> Message:
    return Message(
        "UsePriorityCharging",
        {"transactionId": command.transaction_id, "activate": command.activate},
    )


@handlers.on(Version.V21, "NotifyPriorityCharging")
async def notify_priority_charging(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await service.notified(ctx.services, ctx.station_id, p)
    return {}
