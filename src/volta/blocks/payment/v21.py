"""OCPP 2.1 ad hoc payment (block C): NotifySettlement stored and attached to
its session, VatNumberValidation answered, NotifyWebPaymentStarted spelled."""

from __future__ import annotations

from typing import Any

from volta.blocks.payment import service
from volta.blocks.payment.service import NotifyWebPaymentStarted
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(NotifyWebPaymentStarted)
def notify_web_payment_started(command: NotifyWebPaymentStarted) -> Message:
    return Message(
        "NotifyWebPaymentStarted", {"evseId": command.evse_id, "timeout": command.timeout}
    )


@handlers.on(Version.V21, "NotifySettlement")
async def notify_settlement(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """A payment terminal's (or web payment's) settlement of a session."""
    return await service.settlement(ctx.services, ctx.station_id, p)


@handlers.on(Version.V21, "VatNumberValidation")
async def vat_number_validation(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    """A driver asked for a company receipt: is the VAT number valid?"""
    return await service.validate_vat(ctx.services, p)
