"""OCPP 2.0.1 block H: ReservationStatusUpdate (H04), and how ReserveNow (H01)
and CancelReservation (H02) are asked for."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.reservations import service
from volta.blocks.reservations.service import CancelReservation, ReserveNow
from volta.ocpp.times import format_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import Message, OutgoingTable
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)


handlers = HandlerTable()


@handlers.on(Version.V201, "ReservationStatusUpdate")
async def reservation_status_update(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    changed = await service.status_update(
        ctx.services.db, ctx.station_id, p["reservationId"], p["reservationUpdateStatus"]
    )
    if not changed:
        log.info(
            "%s: ReservationStatusUpdate for reservation %s, which is not live here",
            ctx.station_id,
            p["reservationId"],
        )
    return {}


outgoing = OutgoingTable()


@outgoing.builds(ReserveNow)
def reserve_now(command: ReserveNow) -> Message:
    # H01: an EVSE, a connector type, or neither (any EVSE of the station).
    payload: dict[str, Any] = {
        "id": command.reservation_id,
        "expiryDateTime": format_timestamp(command.expires_at),
        "idToken": {"idToken": command.id_token, "type": command.id_token_type},
    }
    if command.evse_id:
        payload["evseId"] = command.evse_id
    if command.connector_type:
        payload["connectorType"] = command.connector_type
    if command.group_id:
        payload["groupIdToken"] = {"idToken": command.group_id, "type": command.group_type}
    return Message("ReserveNow", payload)


@outgoing.builds(CancelReservation)
def cancel_reservation(command: CancelReservation) -> Message:
    return Message("CancelReservation", {"reservationId": command.reservation_id})
