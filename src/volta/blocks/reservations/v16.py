"""OCPP 1.6 reservations (§5.13 ReserveNow, §5.1 CancelReservation): how they
are asked for. 1.6 reserves a connector (0: any), never a connector type."""

from __future__ import annotations

from typing import Any

from volta.blocks.reservations.service import CancelReservation, ReserveNow
from volta.ocpp.times import format_timestamp
from volta.outgoing import CannotSpell, Message, OutgoingTable

outgoing = OutgoingTable()


@outgoing.builds(ReserveNow)
def reserve_now(command: ReserveNow) -> Message:
    if command.connector_type:
        raise CannotSpell("OCPP 1.6 cannot reserve by connector type")
    payload: dict[str, Any] = {
        "connectorId": command.evse_id or 0,
        "expiryDate": format_timestamp(command.expires_at),
        "idTag": command.id_token,
        "reservationId": command.reservation_id,
    }
    if command.group_id:
        payload["parentIdTag"] = command.group_id
    return Message("ReserveNow", payload)


@outgoing.builds(CancelReservation)
def cancel_reservation(command: CancelReservation) -> Message:
    return Message("CancelReservation", {"reservationId": command.reservation_id})
