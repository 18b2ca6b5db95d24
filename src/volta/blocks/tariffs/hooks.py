"""A CDR for every session that ends, written after Volta answered the
message that ended it (housekeeping writes the ones a restart lost)."""

from __future__ import annotations

from typing import Any

from volta.blocks.tariffs import service
from volta.blocks.transactions.service import find_v201
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

handlers = HandlerTable()


@handlers.after(Version.V16, "StopTransaction")
async def cdr_after_stop(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    await service.create_cdr(ctx.services.db, request["transactionId"])


@handlers.after(Version.V201, "TransactionEvent")
async def cdr_after_ended(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    if request["eventType"] != "Ended":
        return
    tx = await find_v201(
        ctx.services.db, ctx.station_id, request["transactionInfo"]["transactionId"]
    )
    if tx is not None:
        tolerance = ctx.services.settings.v21_cost_tolerance_units
        await service.create_cdr(ctx.services.db, tx.id, tolerance_units=tolerance)
