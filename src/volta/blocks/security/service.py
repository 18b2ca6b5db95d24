"""What both versions' adapters of block A share: a station's
SecurityEventNotification (2.0.1 A04, 1.6 security whitepaper A04), stored
in the security event log before it is answered."""

from __future__ import annotations

from typing import Any

from volta.blocks.security import log
from volta.ocpp.times import parse_timestamp
from volta.services import CallContext


async def security_event_notification(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    # Stored before the answer (store() raises, so a failed write answers
    # InternalError and the station sends it again: A04 wants critical
    # events delivered, queued while offline).
    await log.store(
        ctx.services.db,
        ctx.station_id,
        p["type"],
        tech_info=p.get("techInfo"),
        origin="station",
        timestamp=parse_timestamp(p.get("timestamp")),
    )
    return {}
