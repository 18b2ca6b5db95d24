"""OCPP 1.6 Core: StartTransaction, StopTransaction, MeterValues."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.authorization.service import authorize, authorize_start
from volta.blocks.authorization.v16 import id_tag_info
from volta.blocks.remote_control import sessions
from volta.blocks.transactions import service
from volta.blocks.transactions.meter import samples_v16
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)
V16 = Version.V16


def _timestamp(p: dict[str, Any]) -> Any:
    ts = parse_timestamp(p["timestamp"])
    if ts is None:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "timestamp is not a dateTime")
    return ts


handlers = HandlerTable()


@handlers.on(V16, "StartTransaction")
async def start_transaction(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    db = ctx.services.db
    settings = ctx.services.settings
    auth = await authorize_start(
        db,
        ctx.station_id,
        p["idTag"],
        evse_id=p["connectorId"],
        reservation_id=p.get("reservationId"),
        master_pass_group_id=settings.master_pass_group_id,
        allow_concurrent=settings.allow_concurrent_transactions,
    )
    if auth.reason:
        log.info("%s: start by %s refused: %s", ctx.station_id, p["idTag"], auth.reason)
    info = id_tag_info(auth)
    opened = await service.start_v16(
        db,
        ctx.station_id,
        connector_id=p["connectorId"],
        id_tag=p["idTag"],
        meter_start_wh=float(p["meterStart"]),
        started_at=_timestamp(p),
        reservation_id=p.get("reservationId"),
        authorization_status=info["status"],
        remote_start_window=settings.remote_start_timeout,
    )
    if not opened.created:
        log.info("%s repeated StartTransaction; answered with %s", ctx.station_id, opened.id)
    return {"transactionId": opened.id, "idTagInfo": info}


@handlers.on(V16, "StopTransaction")
async def stop_transaction(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    db = ctx.services.db
    known = await service.stop_v16(
        db,
        ctx.station_id,
        transaction_id=p["transactionId"],
        meter_stop_wh=float(p["meterStop"]),
        stopped_at=_timestamp(p),
        reason=p.get("reason"),
        id_tag=p.get("idTag"),
        samples=samples_v16(p.get("transactionData", [])),
    )
    if not known:
        # OCPP 1.6 §4.10: the Central System must answer StopTransaction even
        # when it cannot match it, or the charger retries it forever.
        log.warning(
            "%s stopped unknown transaction %s (meterStop %s)",
            ctx.station_id,
            p["transactionId"],
            p["meterStop"],
        )
    response: dict[str, Any] = {}
    if "idTag" in p:
        response["idTagInfo"] = id_tag_info(await authorize(db, p["idTag"]))
    return response


@handlers.on(V16, "MeterValues")
async def meter_values(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    connector = p["connectorId"]
    reached = await service.add_meter_values(
        ctx.services.db,
        ctx.station_id,
        evse_id=connector,
        transaction_id=p.get("transactionId"),
        samples=samples_v16(p["meterValue"]),
        rules=service.Rules.from_settings(ctx.services.settings),
    )
    if reached:
        sessions.stop_for_limit_soon(ctx.services, p["transactionId"])
    return {}
