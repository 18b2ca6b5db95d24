"""OCPP 2.0.1 adapter of display messages: SetDisplayMessage (O01/O02/O06),
GetDisplayMessages (O03/O04), ClearDisplayMessage (O05) spelled;
NotifyDisplayMessages stored; the tariff's display text sent bound to a
transaction when it starts (O02, the display_tariff_at_start setting)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from volta.blocks.display_messages import service
from volta.blocks.display_messages.service import (
    ClearDisplayMessage,
    DisplayRefused,
    GetDisplayMessages,
    MessageSpec,
    SetDisplayMessage,
)
from volta.blocks.tariffs.service import resolve
from volta.blocks.transactions.queries import find_v201
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable
from volta.store.models import IdToken

log = logging.getLogger(__name__)

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(SetDisplayMessage)
def set_display_message(command: SetDisplayMessage) -> Message:
    spec = command.spec
    content: dict[str, Any] = {"format": spec.format, "content": spec.content}
    if spec.language:
        content["language"] = spec.language
    info: dict[str, Any] = {"id": command.message_id, "priority": spec.priority, "message": content}
    if spec.state:
        info["state"] = spec.state
    if spec.start_at:
        info["startDateTime"] = format_timestamp(spec.start_at)
    if spec.end_at:
        info["endDateTime"] = format_timestamp(spec.end_at)
    if spec.transaction_id:
        info["transactionId"] = spec.transaction_id
    if spec.display:
        info["display"] = spec.display
    return Message("SetDisplayMessage", {"message": info})


@outgoing.builds(GetDisplayMessages)
def get_display_messages(command: GetDisplayMessages) -> Message:
    # O03: no criteria asks for every message; O04: by id, priority or state.
    payload: dict[str, Any] = {"requestId": command.request_id}
    if command.ids:
        payload["id"] = list(command.ids)
    if command.priority:
        payload["priority"] = command.priority
    if command.state:
        payload["state"] = command.state
    return Message("GetDisplayMessages", payload)


@outgoing.builds(ClearDisplayMessage)
def clear_display_message(command: ClearDisplayMessage) -> Message:
    return Message("ClearDisplayMessage", {"id": command.message_id})


@handlers.on(Version.V201, "NotifyDisplayMessages")
async def notify_display_messages(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    if not await service.notify(ctx.services.db, ctx.station_id, p):
        log.info(
            "%s: NotifyDisplayMessages for request %s, which Volta did not send",
            ctx.station_id,
            p["requestId"],
        )
    return {}


def _tariff_wanted(ctx: CallContext) -> bool:
    return ctx.services.settings.display_tariff_at_start


@handlers.after(Version.V201, "TransactionEvent", when=_tariff_wanted)
async def tariff_at_start(ctx: CallContext, request: dict[str, Any], _: dict[str, Any]) -> None:
    """O02: the tariff's display text, shown only during this transaction."""
    if request["eventType"] != "Started":
        return
    services = ctx.services
    station_tx = request["transactionInfo"]["transactionId"]
    tx = await find_v201(services.db, ctx.station_id, station_tx)
    if tx is None:
        return
    async with services.db.read() as conn:
        tariff = await resolve(conn, ctx.station_id, tx.evse_id, tx.id_token)
        language = None
        if tx.id_token is not None:
            language = (
                await conn.execute(sa.select(IdToken.language1).where(IdToken.token == tx.id_token))
            ).scalar_one_or_none()
    if tariff is None or not tariff.display_text:
        return
    try:
        await service.set_message(
            services,
            ctx.station_id,
            MessageSpec(
                content=tariff.display_text,
                priority="InFront",
                language=language,
                transaction_id=station_tx,
            ),
            source="tariff",
        )
    except DisplayRefused as exc:
        log.info("%s: tariff not shown: %s", ctx.station_id, exc)
