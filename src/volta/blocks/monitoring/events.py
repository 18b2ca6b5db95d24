"""NotifyEvent (2.0.1 N07 alerts, N08 periodic): every eventData stored
compactly (one row, strings cut to the schema's lengths) and raised as a
`monitoring.event` with the monitor's severity when Volta knows the monitor;
kept at most `monitoring_events_per_station` per station and pruned after
`monitoring_events_days` by housekeeping."""

from __future__ import annotations

import datetime as dt
import logging
import time
import weakref
from typing import Any, cast

import sqlalchemy as sa

from volta.blocks.monitoring.service import Target, cut, severity_name
from volta.events import service as events
from volta.ocpp.times import parse_timestamp
from volta.services import Services
from volta.store.db import Database
from volta.store.models import MonitoringEvent, VariableMonitor, utcnow
from volta.store.search import text_in

log = logging.getLogger(__name__)

EVENTS = cast(sa.Table, MonitoringEvent.__table__)


# Events stored per station since its bound was last enforced (this process).
_since_trim: weakref.WeakKeyDictionary[Database, dict[str, int]] = weakref.WeakKeyDictionary()
TRIM_EVERY = 100


EVENT_FIELDS = ("eventId", "timestamp", "trigger", "actualValue", "eventNotificationType")


def _event_ok(d: Any) -> bool:
    return (
        isinstance(d, dict)
        and all(k in d for k in EVENT_FIELDS)
        and isinstance(d.get("eventId"), int)
        and isinstance(d.get("component"), dict)
        and isinstance(d.get("variable"), dict)
        and "name" in d["component"]
        and "name" in d["variable"]
    )


async def store_events(services: Services, station_id: str, payload: dict[str, Any]) -> int:
    """A NotifyEvent: every eventData stored and raised as a
    `monitoring.event`, with the monitor's severity when Volta knows the
    monitor. A message of a series (tbc) is stored as it comes: each
    eventData stands on its own. Returns how many were stored."""
    # A station whose validation is relaxed may send an eventData without
    # what the schema requires: those are logged and left out.
    data = [d for d in payload.get("eventData") or [] if _event_ok(d)]
    if len(data) != len(payload.get("eventData") or []):
        log.warning("station %s: eventData without its required fields left out", station_id)
    if not data:
        return 0
    db = services.db
    ids = {d["variableMonitoringId"] for d in data if d.get("variableMonitoringId") is not None}
    severities: dict[int, int] = {}
    now = utcnow()
    async with db.write(station_id) as conn:
        if ids:
            found = await conn.execute(
                sa.select(VariableMonitor.monitor_id, VariableMonitor.severity).where(
                    VariableMonitor.station_id == station_id,
                    VariableMonitor.monitor_id.in_(ids),
                )
            )
            severities = {int(r.monitor_id): int(r.severity) for r in found}
        for d in data:
            target = Target.from_json(d["component"], d["variable"])
            monitor = d.get("variableMonitoringId")
            severity = severities.get(monitor) if monitor is not None else None
            at = parse_timestamp(d.get("timestamp")) or now
            row = {
                "station_id": station_id,
                "event_id": int(d["eventId"]),
                "timestamp": at,
                "trigger": str(d["trigger"])[:10],
                "cause": d.get("cause"),
                "actual_value": str(d.get("actualValue", ""))[:2500],
                "tech_code": cut(d.get("techCode"), 50),
                "tech_info": cut(d.get("techInfo"), 500),
                "cleared": bool(d.get("cleared", False)),
                "transaction_id": cut(d.get("transactionId"), 36),
                **target.columns(),
                "variable_monitoring_id": monitor,
                "event_notification_type": str(d["eventNotificationType"])[:24],
                "severity": severity,
                "received_at": now,
            }
            row_id = (
                await conn.execute(
                    sa.insert(MonitoringEvent).values(**row).returning(MonitoringEvent.id)
                )
            ).scalar_one()
            await events.emit(
                conn,
                "monitoring.event",
                station_id=station_id,
                monitoring_event_id=int(row_id),
                event_id=row["event_id"],
                severity=severity,
                severity_name=severity_name(severity),
                trigger=row["trigger"],
                cleared=row["cleared"],
                actual_value=row["actual_value"],
                component=target.component_json(),
                variable=target.variable_json(),
                variable_monitoring_id=monitor,
                event_notification_type=row["event_notification_type"],
                tech_code=row["tech_code"],
                tech_info=row["tech_info"],
                station_transaction_id=row["transaction_id"],
                timestamp=at,
            )
    counts = _since_trim.setdefault(db, {})
    counts[station_id] = counts.get(station_id, TRIM_EVERY) + len(data)
    if counts[station_id] >= TRIM_EVERY:
        counts[station_id] = 0
        await trim_station(db, station_id, services.settings.monitoring_events_per_station)
    return len(data)


async def trim_station(db: Database, station_id: str, keep: int) -> int:
    """Keep the station's newest `keep` events (0: all); returns rows deleted."""
    if keep <= 0:
        return 0
    async with db.read() as conn:
        oldest_kept = (
            await conn.execute(
                sa.select(MonitoringEvent.id)
                .where(MonitoringEvent.station_id == station_id)
                .order_by(MonitoringEvent.id.desc())
                .limit(1)
                .offset(keep - 1)
            )
        ).scalar()
    if oldest_kept is None:
        return 0
    async with db.write(station_id) as conn:
        result = await conn.execute(
            sa.delete(MonitoringEvent).where(
                MonitoringEvent.station_id == station_id, MonitoringEvent.id < oldest_kept
            )
        )
    return int(result.rowcount or 0)


PRUNE_BATCH = 1000
PRUNE_EVERY_S = 60.0
_next_prune: weakref.WeakKeyDictionary[Database, float] = weakref.WeakKeyDictionary()


async def prune_events(db: Database, days: float) -> int:
    """Delete events received more than `days` ago (0: keep), oldest first in
    batches; returns rows deleted."""
    if days <= 0:
        return 0
    cutoff = utcnow() - dt.timedelta(days=days)
    deleted = 0
    while True:
        async with db.read() as conn:
            due = [
                int(r[0])
                for r in await conn.execute(
                    sa.select(MonitoringEvent.id)
                    .where(MonitoringEvent.received_at < cutoff)
                    .order_by(MonitoringEvent.id)
                    .limit(PRUNE_BATCH)
                )
            ]
        if not due:
            return deleted
        async with db.write() as conn:
            await conn.execute(sa.delete(MonitoringEvent).where(MonitoringEvent.id.in_(due)))
        deleted += len(due)
        if len(due) < PRUNE_BATCH:
            return deleted


async def housekeeping(services: Services) -> int:
    """Housekeeping's share (the leader's): old events pruned, at most once a minute."""
    if time.monotonic() < _next_prune.get(services.db, 0.0):
        return 0
    _next_prune[services.db] = time.monotonic() + PRUNE_EVERY_S
    return await prune_events(services.db, services.settings.monitoring_events_days)


async def list_events(
    db: Database,
    *,
    station_id: str | None = None,
    severity_max: int | None = None,
    component: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Events stations notified, newest first; `severity_max`: this severity
    or more severe (a lower number; events of unknown severity are left out);
    `q`: text in the station id, component, variable or value (any case)."""
    stmt = sa.select(*EVENTS.c)
    if q:
        stmt = stmt.where(
            text_in(
                q,
                MonitoringEvent.station_id,
                MonitoringEvent.component,
                MonitoringEvent.variable,
                MonitoringEvent.actual_value,
            )
        )
    if station_id is not None:
        stmt = stmt.where(MonitoringEvent.station_id == station_id)
    if severity_max is not None:
        stmt = stmt.where(MonitoringEvent.severity <= severity_max)
    if component is not None:
        stmt = stmt.where(MonitoringEvent.component == component)
    stmt = stmt.order_by(MonitoringEvent.id.desc()).limit(limit).offset(offset)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(r) | {"severity_name": severity_name(r["severity"])} for r in rows]
