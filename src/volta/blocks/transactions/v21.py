"""OCPP 2.1 transactions: transaction limits held by the station (E16).

A session's limits (energy, time, money; from its token, the app's start or
PUT /transactions/{id}/limits) go to a 2.1 station as `transactionLimit` in
the TransactionEventResponse: of the first event Volta sees for the
transaction (Started, as a rule), and again when they change. A change made
while the session runs does not wait for the station's next event: Volta
asks for one (TriggerMessage TransactionEvent for the EVSE, F06) and answers
it with the new limit. The station then holds the limit while it is offline.

What the station reports holding (transactionInfo.transactionLimit, with
triggerReason LimitSet as a rule) is kept on the transaction; those kinds are
the station's to enforce, and Volta no longer stops the session for them.
A limit the station reports reaching (triggerReason EnergyLimitReached,
TimeLimitReached, CostLimitReached, SoCLimitReached; stoppedReason
EnergyLimitReached, TimeLimitReached, SOCLimitReached) is recorded once, as a
`limit.reached` event with `by: "station"`.

Everything else of TransactionEvent is the 2.0.1 handler's."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import CommandRecord, TriggerMessage, send
from volta.blocks.transactions import limits
from volta.blocks.transactions.live import live_of
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import OutgoingTable
from volta.services import CallContext, HandlerTable, Services
from volta.store.models import Transaction, utcnow

V21 = Version.V21

handlers = HandlerTable()
outgoing = OutgoingTable()


def _reached(request: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, the reason that told) of a limit the station reports reaching."""
    trigger = request.get("triggerReason")
    if trigger in limits.REACHED_TRIGGERS:
        return limits.REACHED_TRIGGERS[trigger], trigger
    stopped = request["transactionInfo"].get("stoppedReason")
    if request.get("eventType") == "Ended" and stopped in limits.REACHED_STOPS:
        return limits.REACHED_STOPS[stopped], stopped
    return None


@handlers.amend(V21, "TransactionEvent")
async def transaction_limit(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    db = ctx.services.db
    info = request["transactionInfo"]
    tx = await live_of(db).load_v201(db, ctx.station_id, info["transactionId"])
    if tx is None:
        return
    reported = info.get("transactionLimit")
    if reported is not None:
        # E16: the limit the station holds now (LimitSet, or any event's report).
        held = {k: v for k, v in reported.items() if k != "customData"}
        if held != tx.station_limit:
            await limits.station_limit_reported(db, tx, held)
            tx.station_limit = held
    reached = _reached(request)
    if reached is not None:
        kind, reason = reached
        at = parse_timestamp(request["timestamp"]) or utcnow()
        async with db.write(ctx.station_id) as conn:
            recorded = await limits.limit_reached(
                conn,
                tx,
                kind,
                limits.limit_of(tx, kind),
                limits.reached_value(tx, kind, at),
                by="station",
                trigger=reason,
            )
        if recorded:
            tx.limit_reached = kind
    if not ctx.services.settings.limits_in_station:
        return
    if not tx.active or request["eventType"] == "Ended":
        return
    wanted = limits.wanted_limit(tx)
    if limits.should_send(tx, wanted):
        response["transactionLimit"] = wanted
        await limits.limit_sent(db, tx, wanted)
        tx.limit_sent = wanted


async def deliver_limit(services: Services, transaction_id: int) -> CommandRecord | None:
    """The session's limits changed: on a connected 2.1 station, ask for a
    TransactionEvent now (TriggerMessage, F06) so that its answer carries the
    new limit. None when there is nothing to ask (another version, offline:
    the next event's answer carries it)."""
    async with services.db.read() as conn:
        tx = (
            await conn.execute(
                sa.select(Transaction.station_id, Transaction.evse_id, Transaction.status).where(
                    Transaction.id == transaction_id
                )
            )
        ).first()
    if tx is None or tx.status != "Active" or not services.settings.limits_in_station:
        return None
    if services.router.version_of(tx.station_id) != V21:
        return None
    return await send(services, tx.station_id, TriggerMessage("TransactionEvent", tx.evse_id))


def limits_changed(services: Services, transaction_id: int) -> None:
    """Called after a session's limits changed (the API): the in-memory
    session is read again, and a 2.1 station is given the new limit."""
    live_of(services.db).forget(transaction_id)
    services.spawn(deliver_limit(services, transaction_id), name=f"limit-deliver-{transaction_id}")
