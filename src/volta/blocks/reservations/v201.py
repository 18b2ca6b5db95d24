"""OCPP 2.0.1 block H: ReservationStatusUpdate (H04)."""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.reservations import service
from volta.ocpp.versions import Version
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
