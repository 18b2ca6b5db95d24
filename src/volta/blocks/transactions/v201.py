"""OCPP 2.0.1 blocks E and J: TransactionEvent and MeterValues."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.authorization.service import authorize, authorize_start
from volta.blocks.authorization.v201 import id_token_info
from volta.blocks.remote_control import sessions
from volta.blocks.tariffs import service as tariffs
from volta.blocks.transactions import service
from volta.blocks.transactions.live import live_of
from volta.blocks.transactions.meter import samples_v201
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)
V201 = Version.V201


handlers = HandlerTable()


@handlers.on(V201, "TransactionEvent")
async def transaction_event(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    db = ctx.services.db
    timestamp = parse_timestamp(p["timestamp"])
    if timestamp is None:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "timestamp is not a dateTime")
    info = p["transactionInfo"]
    evse = p.get("evse") or {}
    token = p.get("idToken")
    response: dict[str, Any] = {}
    status = None
    settings = ctx.services.settings
    # Looked up once for the whole message (kept in memory while it runs).
    known = await live_of(db).load_v201(db, ctx.station_id, info["transactionId"])
    if token is not None:
        # C01 / E01: the CSMS answers idTokenInfo whenever idToken is sent. The
        # first token of a transaction starts it; a later, different one stops it.
        if known is None or known.id_token is None:
            auth = await authorize_start(
                db,
                ctx.station_id,
                token["idToken"],
                token["type"],
                evse_id=evse.get("id") or (known.evse_id if known else None),
                reservation_id=p.get("reservationId"),
                master_pass_group_id=settings.master_pass_group_id,
                allow_concurrent=settings.allow_concurrent_transactions,
            )
            if auth.reason:
                log.info(
                    "%s: start by %s refused: %s", ctx.station_id, token["idToken"], auth.reason
                )
        else:
            auth = await authorize(db, token["idToken"], token["type"])
        response["idTokenInfo"] = id_token_info(auth)
        status = auth.status
    samples = samples_v201(p.get("meterValue", []))
    outcome = await service.apply_event_v201(
        db,
        service.EventV201(
            station_id=ctx.station_id,
            event_type=p["eventType"],
            transaction_id=info["transactionId"],
            seq_no=p["seqNo"],
            timestamp=timestamp,
            trigger_reason=p["triggerReason"],
            offline=bool(p.get("offline", False)),
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
            charging_state=info.get("chargingState"),
            stopped_reason=info.get("stoppedReason"),
            id_token=token["idToken"] if token else None,
            id_token_type=token["type"] if token else None,
            authorization_status=status,
            remote_start_id=info.get("remoteStartId"),
            reservation_id=p.get("reservationId"),
            samples=samples,
            remote_start_window=settings.remote_start_timeout,
            protocol=ctx.version.value,
        ),
        known,
        service.Rules.from_settings(settings),
    )
    if outcome.limit_reached and outcome.transaction_id is not None:
        sessions.stop_for_limit_soon(ctx.services, outcome.transaction_id)
    if p["eventType"] != "Started":
        # I02/I03: the running (Updated) or final (Ended) cost incl. tax.
        total = await tariffs.station_total_cost(
            db, ctx.station_id, info["transactionId"], timestamp, samples if outcome.applied else ()
        )
        if total is not None:  # a finite JSON number; exact to the minor unit
            response["totalCost"] = total
    if not outcome.applied:
        log.info(
            "%s repeated TransactionEvent %s seqNo %s; acknowledged, not applied",
            ctx.station_id,
            info["transactionId"],
            p["seqNo"],
        )
    return response


@handlers.on(V201, "MeterValues")
async def meter_values(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # J01: MeterValues outside a transaction (transaction values come inside
    # TransactionEvent); kept against the EVSE.
    await service.add_meter_values(
        ctx.services.db,
        ctx.station_id,
        evse_id=p["evseId"],
        transaction_id=None,
        samples=samples_v201(p["meterValue"]),
    )
    return {}
