"""The security event log: what stations report (SecurityEventNotification)
and what Volta itself sees (failed station sign-ins, certificates refused,
attempts to connect below a station's security profile), in one place.

`record()` is the one way in, for every block and adapter. Each event is one
row of `security_events` and one `security.event` event (webhooks), written
in the same transaction. Nothing a station sends can grow memory: the row is
bounded by the schema's lengths (type string[50], techInfo string[255]).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal, cast

import sqlalchemy as sa

from volta.events import service as events
from volta.services import Services
from volta.store.db import Database
from volta.store.models import SecurityEvent, utcnow
from volta.store.search import text_in

log = logging.getLogger(__name__)

TYPE_LENGTH = 50  # SecurityEventNotification type: string[50]
TECH_INFO_LENGTH = 255  # techInfo: string[255]

# The critical security events: OCPP 2.0.1 Part 2, appendix "Security events"
# (and the 1.6 security whitepaper's list, whose names differ only for the
# CSMS / Central System). A station SHALL deliver these (A04); any
# other type, and every type Volta does not know, is not critical.
CRITICAL: frozenset[str] = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
    }
)

SECURITY_EVENTS = cast(sa.Table, SecurityEvent.__table__)

Origin = Literal["station", "volta"]


@dataclass(frozen=True, slots=True)
class SecurityEventView:
    id: int
    station_id: str | None
    type: str
    critical: bool
    tech_info: str | None
    origin: str
    timestamp: dt.datetime
    received_at: dt.datetime


def is_critical(kind: str) -> bool:
    return kind in CRITICAL


async def record(
    services: Services,
    station_id: str | None,
    kind: str,
    *,
    tech_info: str | None = None,
    origin: str = "volta",
    timestamp: dt.datetime | None = None,
) -> None:
    """Record a security event of `kind` (the OCPP security event names,
    e.g. "InvalidChargingStationCertificate", or Volta's own) for
    `station_id`; `origin` is "station" (SecurityEventNotification) or
    "volta". Never raises: a security event that cannot be stored is logged."""
    try:
        await store(
            services.db, station_id, kind, tech_info=tech_info, origin=origin, timestamp=timestamp
        )
    except Exception:
        log.exception(
            "could not store security event %s for station %s", kind[:TYPE_LENGTH], station_id
        )


async def store(
    db: Database,
    station_id: str | None,
    kind: str,
    *,
    tech_info: str | None = None,
    origin: str = "volta",
    timestamp: dt.datetime | None = None,
) -> int:
    """`record()` that raises: a station's SecurityEventNotification is
    answered only once its event is stored (the station keeps it otherwise,
    A04: critical events are queued until delivered)."""
    kind = kind[:TYPE_LENGTH]
    info = tech_info[:TECH_INFO_LENGTH] if tech_info is not None else None
    critical = is_critical(kind)
    now = utcnow()
    at = timestamp or now
    # %r: a station's line breaks in techInfo cannot forge log lines.
    if critical:
        log.warning("critical security event %r for station %s: %r", kind, station_id, info)
    else:
        log.info("security event %r for station %s: %r", kind, station_id, info)
    async with db.write(station_id) as conn:
        event_id = int(
            (
                await conn.execute(
                    sa.insert(SecurityEvent)
                    .values(
                        station_id=station_id,
                        type=kind,
                        critical=critical,
                        tech_info=info,
                        origin=origin,
                        timestamp=at,
                        received_at=now,
                    )
                    .returning(SecurityEvent.id)
                )
            ).scalar_one()
        )
        await events.emit(
            conn,
            "security.event",
            station_id=station_id,
            security_event_id=event_id,
            kind=kind,
            critical=critical,
            severity="critical" if critical else "normal",
            tech_info=info,
            origin=origin,
            timestamp=at,
        )
    return event_id


async def list_events(
    db: Database,
    *,
    station_id: str | None = None,
    kind: str | None = None,
    critical: bool | None = None,
    origin: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    critical_first: bool = False,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[SecurityEventView]:
    """Security events, newest first (critical ones first, then newest, when
    `critical_first`); `since` / `until` bound their timestamp; `q`: text in
    the station id, the type or the details (any case)."""
    stmt = sa.select(*SECURITY_EVENTS.c)
    if q:
        stmt = stmt.where(
            text_in(q, SecurityEvent.station_id, SecurityEvent.type, SecurityEvent.tech_info)
        )
    if station_id is not None:
        stmt = stmt.where(SecurityEvent.station_id == station_id)
    if kind is not None:
        stmt = stmt.where(SecurityEvent.type == kind)
    if critical is not None:
        stmt = stmt.where(SecurityEvent.critical.is_(critical))
    if origin is not None:
        stmt = stmt.where(SecurityEvent.origin == origin)
    if since is not None:
        stmt = stmt.where(SecurityEvent.timestamp >= since)
    if until is not None:
        stmt = stmt.where(SecurityEvent.timestamp < until)
    order: list[Any] = [SecurityEvent.critical.desc()] if critical_first else []
    stmt = stmt.order_by(*order, SecurityEvent.id.desc()).limit(limit).offset(offset)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [SecurityEventView(**r) for r in rows]
