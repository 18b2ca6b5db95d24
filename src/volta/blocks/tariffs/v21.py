"""OCPP 2.1 tariffs and cost calculated in the station (block I): Volta's
tariffs sent as 2.1 TariffType (SetDefaultTariff, ChangeTransactionTariff,
in AuthorizeResponse), GetTariffs, ClearTariffs, and the station's
costDetails compared with Volta's own calculation (see station.py)."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.tariffs import service, station
from volta.blocks.tariffs.station import (
    ChangeTransactionTariff,
    ClearTariffs,
    GetTariffs,
    SetDefaultTariff,
)
from volta.blocks.tariffs.translate import Untranslatable, to_ocpp
from volta.blocks.transactions.queries import find_v201
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)

handlers = HandlerTable()
outgoing = OutgoingTable()


@outgoing.builds(SetDefaultTariff)
def set_default_tariff(command: SetDefaultTariff) -> Message:
    return Message("SetDefaultTariff", {"evseId": command.evse_id, "tariff": command.tariff})


@outgoing.builds(ChangeTransactionTariff)
def change_transaction_tariff(command: ChangeTransactionTariff) -> Message:
    return Message(
        "ChangeTransactionTariff",
        {"transactionId": command.transaction_id, "tariff": command.tariff},
    )


@outgoing.builds(GetTariffs)
def get_tariffs(command: GetTariffs) -> Message:
    return Message("GetTariffs", {"evseId": command.evse_id})


@outgoing.builds(ClearTariffs)
def clear_tariffs(command: ClearTariffs) -> Message:
    payload: dict[str, Any] = {}
    if command.tariff_ids:
        payload["tariffIds"] = list(command.tariff_ids)
    if command.evse_id is not None:
        payload["evseId"] = command.evse_id
    return Message("ClearTariffs", payload)


@handlers.amend(Version.V21, "Authorize")
async def driver_tariff(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """I08: an accepted driver gets the tariff Volta would price the session
    with at this station (AuthorizeResponse.tariff). A tariff TariffType
    cannot say is left out (logged), never replaced by another."""
    if not ctx.services.settings.v21_driver_tariff:
        return
    if (response.get("idTokenInfo") or {}).get("status") != "Accepted":
        return
    token = (request.get("idToken") or {}).get("idToken")
    async with ctx.services.db.read() as conn:
        tariff = await service.resolve(conn, ctx.station_id, None, token)
    if tariff is None:
        return
    try:
        response["tariff"] = to_ocpp(tariff)
    except Untranslatable as exc:
        log.warning("%s: tariff %s not given with Authorize: %s", ctx.station_id, tariff.id, exc)


@handlers.amend(Version.V21, "TransactionEvent")
async def keep_station_cost(
    ctx: CallContext, request: dict[str, Any], _response: dict[str, Any]
) -> None:
    """I11: the cost the station calculated (costDetails), kept before the
    answer so the CDR written after an Ended event can compare it."""
    if "costDetails" not in request:
        return
    tx = await find_v201(
        ctx.services.db, ctx.station_id, request["transactionInfo"]["transactionId"]
    )
    if tx is not None:
        await station.record_station_cost(ctx.services.db, ctx.station_id, tx.id, request)


@handlers.after(Version.V21, "TransactionEvent")
async def remote_start_tariff(
    ctx: CallContext, request: dict[str, Any], _response: dict[str, Any]
) -> None:
    """I08 for a transaction Volta started remotely (RequestStartTransaction
    has no tariff field in 2.1): the driver's tariff by ChangeTransactionTariff."""
    if request["eventType"] != "Started" or not ctx.services.settings.v21_driver_tariff:
        return
    await station.driver_tariff_for_remote_start(ctx.services, ctx.station_id, request)
