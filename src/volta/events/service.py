"""Events: emitted inside the database transaction of the change they tell
of (a transactional outbox), then delivered to webhooks by the dispatcher
and streamed to listeners. An event is never lost across a restart, and
never told of a change that was rolled back.

Types (payloads in docs/events.md):

  station.online, station.offline       a station connected / disconnected
  ev.connected                          a car was plugged in (parking started)
  session.started                       a transaction started
  charging.started                      energy started to flow
  charging.suspended_ev                 the car stopped taking energy (full)
  soc.reached                           the car's state of charge crossed a threshold
  limit.reached                         a session limit (energy, time, cost, soc) was reached
  session.ended                         a transaction ended
  fault.reported                        a connector reported a fault
  security.auth_failures                repeated failed sign-ins on the OCPP port
  charging_limit.notified               a station told of an external limit (2.0.1 K11/K12)
  charging_limit.cleared                ... and that it was released (K13)
  ev_schedule.exceeded                  an EV's schedule exceeds the limit in force (K15-K17)
  monitoring.event                      a station notified an event of its monitors (N07/N08)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import weakref
from collections.abc import Collection
from typing import Any, Literal, get_args

import orjson
import sqlalchemy as sa

from volta.store.db import Conn, Database, RawOps
from volta.store.models import EVENTS, Event, Webhook, WebhookDelivery, utcnow
from volta.store.raw import RawStatement

EventType = Literal[
    "station.online",
    "station.offline",
    "ev.connected",
    "session.started",
    "charging.started",
    "charging.suspended_ev",
    "soc.reached",
    "limit.reached",
    "session.ended",
    "fault.reported",
    "security.auth_failures",
    "charging_limit.notified",
    "charging_limit.cleared",
    "ev_schedule.exceeded",
    # Security (docs/security.md): a station's SecurityEventNotification or
    # one of Volta's own (failed sign-in, certificate refused, downgrade).
    "security.event",
    "security.password_rotated",
    "certificate.signed",
    "certificate.expiring",
    # Device management (docs/device-management.md).
    # Diagnostics and logs.
    "log.uploaded",
    "log.failed",
    # Firmware updates and campaigns.
    "firmware.status",
    "firmware_campaign.finished",
    "firmware_campaign.halted",
    # A station's NotifyEvent (2.0.1 N07/N08).
    "monitoring.event",
    # Display messages and customer information.
    # A station's answer to a display message Volta set (Accepted or not).
    "display_message.answered",
    # A station's customer information report came in full (N09).
    "customer_information.reported",
    # A driver's data was erased (only the pseudonym is told).
    "id_token.erased",
    # Charger profiles and availability.
    "charger_profile.matched",
    "maintenance.scheduled",
    # OCPP 2.1 (docs/ocpp21.md).
    # Transaction limits.
    # Tariffs and cost in the station.
    # A 2.1 station answered SetDefaultTariff / ChangeTransactionTariff.
    "tariff.station_answered",
    # A 2.1 station's own cost of a session differs from Volta's (the CDR
    # carries the flag station_cost_differs).
    "cdr.station_cost_differs",
    # Payment, priority charging, battery swap, event streams.
    # A station's NotifySettlement (status Settled, Canceled, Rejected, Failed).
    "payment.settlement",
    # Priority charging of a transaction switched on or off (NotifyPriorityCharging).
    "priority_charging.changed",
    # A station's BatterySwap (BatteryIn, BatteryOut, BatteryOutTimeout).
    "battery_swap.reported",
    # A periodic event stream opened or closed by a station.
    "event_stream.opened",
    "event_stream.closed",
    # V2X.
    # Volta told a station which energy transfer modes a transaction may use
    # (NotifyAllowedEnergyTransfer), with the station's answer.
    "v2x.energy_transfer_allowed",
    # DER control.
    # A station's answer to a DER control Volta set (Accepted or not).
    "der.control_answered",
    # A DER control started or ended in the station (NotifyDERStartStop).
    "der.control_started",
    "der.control_stopped",
    # A grid event made a DER control act (NotifyDERAlarm), and its end.
    "der.alarm",
    "der.alarm_ended",
]
TYPES: tuple[str, ...] = get_args(EventType)

_INSERT_EVENT = EVENTS.insert().returning(EVENTS.c.id)
_ACTIVE_HOOKS = sa.select(Webhook.id, Webhook.event_types).where(Webhook.active.is_(True))
_EVENT_ROW = RawStatement.insert(
    EVENTS, ("type", "station_id", "transaction_id", "data", "created_at")
)

# The event types some active webhook wants, per Database: read at most once
# a HOOKS_TTL (one read shared by every event waiting for it), and again at
# once after this process changes a webhook (`forget_hooks`). Another
# process's change is seen within HOOKS_TTL.
HOOKS_TTL = 1.0
# With several nodes the API's node tells every node a webhook changed, on
# this topic (volta.housekeeping.register_cluster_callbacks listens).
CHANGED_TOPIC = "webhooks.changed"
_wanted: weakref.WeakKeyDictionary[Database, tuple[float, asyncio.Future[frozenset[str]]]] = (
    weakref.WeakKeyDictionary()
)


def forget_hooks(db: Database) -> None:
    """A webhook changed: read the wanted types again before the next event."""
    _wanted.pop(db, None)


async def _read_wanted(db: Database) -> frozenset[str]:
    async with db.read() as conn:
        hooks = (await conn.execute(_ACTIVE_HOOKS)).all()
    return frozenset(t for h in hooks for t in h.event_types)


async def _wanted_types(db: Database) -> frozenset[str]:
    now = time.monotonic()
    cached = _wanted.get(db)
    if cached is None or cached[0] <= now or _failed(cached[1]):
        cached = (now + HOOKS_TTL, asyncio.ensure_future(_read_wanted(db)))
        _wanted[db] = cached
    return await asyncio.shield(cached[1])


def _failed(read: asyncio.Future[frozenset[str]]) -> bool:
    """A read that failed is not kept for HOOKS_TTL: the next event reads again."""
    return read.done() and (read.cancelled() or read.exception() is not None)


async def event_rows(
    db: Database,
    type_: EventType,
    *,
    station_id: str | None = None,
    transaction_id: int | None = None,
    **data: Any,
) -> RawOps | None:
    """The event as a row for `Database.write_rows()` (a hot path's outbox,
    written in the same transaction as its change), or None when a webhook
    wants it: then `emit()` inside a `write()`, which queues the deliveries."""
    wanted = await _wanted_types(db)
    if "*" in wanted or type_ in wanted:
        return None
    body = {"station_id": station_id, "transaction_id": transaction_id, **data}
    row = (
        type_,
        station_id,
        transaction_id,
        orjson.dumps(_jsonable(body)).decode(),
        db.db_time(utcnow()),
    )
    return [(_EVENT_ROW, [row])]


async def emit(
    conn: Conn,
    type_: str,
    *,
    station_id: str | None = None,
    transaction_id: int | None = None,
    **data: Any,
) -> int:
    """Record an event in the caller's transaction and queue it for every
    webhook that wants it. Returns the event id."""
    assert type_ in TYPES, type_
    now = utcnow()
    body = {"station_id": station_id, "transaction_id": transaction_id, **data}
    event_id = int(
        (
            await conn.execute(
                _INSERT_EVENT,
                {
                    "type": type_,
                    "station_id": station_id,
                    "transaction_id": transaction_id,
                    "data": _jsonable(body),
                    "created_at": now,
                },
            )
        ).scalar_one()
    )
    hooks = (await conn.execute(_ACTIVE_HOOKS)).all()
    wanted = [h.id for h in hooks if "*" in h.event_types or type_ in h.event_types]
    if wanted:
        await conn.execute(
            sa.insert(WebhookDelivery),
            [
                {
                    "webhook_id": hook_id,
                    "event_id": event_id,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for hook_id in wanted
            ],
        )
    return event_id


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return value


def message(
    event_id: int, type_: str, created_at: dt.datetime, data: dict[str, Any]
) -> dict[str, Any]:
    """The shape an event has on a webhook and on the stream."""
    return {"id": event_id, "type": type_, "created_at": _jsonable(created_at), "data": data}


async def list_events(
    db: Database,
    *,
    after: int = 0,
    types: list[str] | None = None,
    station_id: str | None = None,
    limit: int = 100,
    also: Collection[int] = (),
) -> list[dict[str, Any]]:
    """Events after `after` (and those of ids `also`), oldest first (the
    stream's replay order)."""
    after_cursor = Event.id > after
    stmt = (
        sa.select(Event.id, Event.type, Event.created_at, Event.data)
        .where(sa.or_(after_cursor, Event.id.in_(list(also))) if also else after_cursor)
        .order_by(Event.id)
        .limit(limit)
    )
    if types:
        stmt = stmt.where(Event.type.in_(types))
    if station_id is not None:
        stmt = stmt.where(Event.station_id == station_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [message(r.id, r.type, r.created_at, r.data) for r in rows]


async def last_event_id(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.max(Event.id)))).scalar() or 0)
