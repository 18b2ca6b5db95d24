"""OCPP 2.1 periodic event streams, version-neutral.

A station opens a stream for one of its monitors (OpenPeriodicEventStream:
Volta accepts up to `event_streams_per_station` open streams per station)
and then sends the monitored values at a high rate with
NotifyPeriodicEventStream, a SEND that is never answered. Each such message
is stored as one row with its points packed (compact JSON [[t, v], ...], t
in seconds after the message's basetime), so a stream costs a row per
message, not per value; a stream keeps at most `event_stream_max_messages`
messages and none older than `event_stream_retention_days` (pruned as new
messages arrive). The station closes a stream with ClosePeriodicEventStream;
an operator asks which streams are open (GetPeriodicEventStream) and changes
a stream's interval or batch size (AdjustPeriodicEventStream).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.payment.service import Refused, require_v21
from volta.blocks.remote_control.service import send
from volta.events import service as events
from volta.ocpp.times import parse_timestamp
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import EventStream, EventStreamData, utcnow

log = logging.getLogger(__name__)

__all__ = ["AdjustPeriodicEventStream", "GetPeriodicEventStream", "Refused"]

# Prune a stream's old messages once per this many messages.
PRUNE_EVERY = 100


@dataclass(frozen=True, slots=True)
class GetPeriodicEventStream:
    pass


@dataclass(frozen=True, slots=True)
class AdjustPeriodicEventStream:
    stream_id: int
    interval: int | None = None
    values: int | None = None


def params_wire(interval: int | None, values: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if interval is not None:
        out["interval"] = interval
    if values is not None:
        out["values"] = values
    return out


async def _find(conn: Conn, station_id: str, stream_id: int) -> Any:
    return (
        await conn.execute(
            sa.select(EventStream).where(
                EventStream.station_id == station_id, EventStream.stream_id == stream_id
            )
        )
    ).first()


async def _upsert_open(conn: Conn, db: Database, station_id: str, data: dict[str, Any]) -> None:
    params = data.get("params") or {}
    now = utcnow()
    values = {
        "variable_monitoring_id": data["variableMonitoringId"],
        "interval": params.get("interval"),
        "values": params.get("values"),
        "status": "Open",
        "opened_at": now,
        "closed_at": None,
    }
    await conn.execute(
        db.insert(EventStream)
        .values(station_id=station_id, stream_id=data["id"], messages=0, points=0, **values)
        .on_conflict_do_update(index_elements=["station_id", "stream_id"], set_=values)
    )


async def open_stream(services: Services, station_id: str, p: dict[str, Any]) -> dict[str, Any]:
    """OpenPeriodicEventStreamResponse: Accepted up to the station's bound of
    open streams (re-opening an open stream's id replaces its parameters)."""
    data = p["constantStreamData"]
    db = services.db
    async with db.write(station_id) as conn:
        existing = await _find(conn, station_id, data["id"])
        if existing is None or existing.status != "Open":
            open_count = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(EventStream)
                    .where(EventStream.station_id == station_id, EventStream.status == "Open")
                )
            ).scalar_one()
            if open_count >= services.settings.event_streams_per_station:
                return {
                    "status": "Rejected",
                    "statusInfo": {
                        "reasonCode": "TooManyStreams",
                        "additionalInfo": f"at most {services.settings.event_streams_per_station} "
                        "open streams per station",
                    },
                }
        await _upsert_open(conn, db, station_id, data)
        await events.emit(
            conn,
            "event_stream.opened",
            station_id=station_id,
            stream_id=data["id"],
            variable_monitoring_id=data["variableMonitoringId"],
        )
    return {"status": "Accepted"}


async def close_stream(services: Services, station_id: str, stream_id: int) -> None:
    async with services.db.write(station_id) as conn:
        result = await conn.execute(
            sa.update(EventStream)
            .where(
                EventStream.station_id == station_id,
                EventStream.stream_id == stream_id,
                EventStream.status == "Open",
            )
            .values(status="Closed", closed_at=utcnow())
        )
        if result.rowcount:
            await events.emit(
                conn, "event_stream.closed", station_id=station_id, stream_id=stream_id
            )


def pack(data: list[dict[str, Any]]) -> str:
    return json.dumps([[d["t"], d["v"]] for d in data], separators=(",", ":"))


async def stream_data(services: Services, station_id: str, p: dict[str, Any]) -> None:
    """Store one NotifyPeriodicEventStream, packed. Data of a stream the
    station never opened is dropped (logged): the bound on streams holds."""
    settings = services.settings
    db = services.db
    async with db.write(station_id) as conn:
        stream = await _find(conn, station_id, p["id"])
        if stream is None:
            log.info("%s: data for periodic event stream %s, never opened", station_id, p["id"])
            return
        now = utcnow()
        count = len(p["data"])
        await conn.execute(
            sa.insert(EventStreamData).values(
                stream_ref=stream.id,
                basetime=parse_timestamp(p["basetime"]),
                pending=p["pending"],
                count=count,
                data=pack(p["data"]),
                received_at=now,
            )
        )
        # SENDs are handled concurrently: the counters move in the database.
        messages = (
            await conn.execute(
                sa.update(EventStream)
                .where(EventStream.id == stream.id)
                .values(
                    messages=EventStream.messages + 1,
                    points=EventStream.points + count,
                    last_data_at=now,
                )
                .returning(EventStream.messages)
            )
        ).scalar_one()
        if messages % PRUNE_EVERY == 0:
            before = now - dt.timedelta(days=settings.event_stream_retention_days)
            await _prune(conn, stream.id, settings.event_stream_max_messages, before)


async def _prune(conn: Conn, stream_ref: int, keep: int, before: dt.datetime) -> None:
    cutoff = (
        await conn.execute(
            sa.select(EventStreamData.id)
            .where(EventStreamData.stream_ref == stream_ref)
            .order_by(EventStreamData.id.desc())
            .offset(max(keep, 1) - 1)
            .limit(1)
        )
    ).scalar_one_or_none()
    condition = EventStreamData.received_at < before
    if cutoff is not None:
        condition = sa.or_(condition, EventStreamData.id < cutoff)
    await conn.execute(
        sa.delete(EventStreamData).where(EventStreamData.stream_ref == stream_ref, condition)
    )


# -- operator's side ------------------------------------------------------------------


async def list_streams(db: Database, station_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(EventStream)
                .where(EventStream.station_id == station_id)
                .order_by(EventStream.stream_id)
            )
        ).mappings()
        return [dict(r) for r in rows]


async def get_stream(db: Database, station_id: str, stream_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = await _find(conn, station_id, stream_id)
    return None if row is None else dict(row._mapping)


async def read_data(
    db: Database, stream_ref: int, *, after: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """The stream's messages after message id `after`, oldest first, each
    with its points unpacked: at (basetime + t), t, v."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(EventStreamData)
                .where(EventStreamData.stream_ref == stream_ref, EventStreamData.id > after)
                .order_by(EventStreamData.id)
                .limit(limit)
            )
        ).all()
    out = []
    for row in rows:
        points = [
            {"at": row.basetime + dt.timedelta(seconds=float(t)), "t": t, "v": v}
            for t, v in json.loads(row.data)
        ]
        out.append(
            {
                "id": row.id,
                "basetime": row.basetime,
                "pending": row.pending,
                "received_at": row.received_at,
                "points": points,
            }
        )
    return out


async def refresh(services: Services, station_id: str) -> dict[str, Any]:
    """GetPeriodicEventStream: the station's open streams; Volta's record
    follows the answer (streams it names are Open, others it had are Closed)."""
    require_v21(services, station_id, "GetPeriodicEventStream")
    command = await send(services, station_id, GetPeriodicEventStream())
    response = command.get("response")
    if response is not None:
        named = response.get("constantStreamData") or []
        db = services.db
        async with db.write(station_id) as conn:
            ids = []
            for data in named:
                ids.append(data["id"])
                existing = await _find(conn, station_id, data["id"])
                if existing is None or existing.status != "Open":
                    await _upsert_open(conn, db, station_id, data)
                else:
                    params = data.get("params") or {}
                    await conn.execute(
                        sa.update(EventStream)
                        .where(EventStream.id == existing.id)
                        .values(
                            variable_monitoring_id=data["variableMonitoringId"],
                            interval=params.get("interval"),
                            values=params.get("values"),
                        )
                    )
            await conn.execute(
                sa.update(EventStream)
                .where(
                    EventStream.station_id == station_id,
                    EventStream.status == "Open",
                    EventStream.stream_id.not_in(ids),
                )
                .values(status="Closed", closed_at=utcnow())
            )
    return {"streams": await list_streams(services.db, station_id), "command": command}


async def adjust(
    services: Services, station_id: str, stream_id: int, interval: int | None, values: int | None
) -> dict[str, Any]:
    require_v21(services, station_id, "AdjustPeriodicEventStream")
    command = await send(
        services, station_id, AdjustPeriodicEventStream(stream_id, interval, values)
    )
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in ("Accepted", "Rejected") else "Failed"
    if status == "Accepted":
        changes: dict[str, Any] = {}
        if interval is not None:
            changes["interval"] = interval
        if values is not None:
            changes["values"] = values
        if changes:
            async with services.db.write(station_id) as conn:
                await conn.execute(
                    sa.update(EventStream)
                    .where(EventStream.station_id == station_id, EventStream.stream_id == stream_id)
                    .values(**changes)
                )
    return {
        "status": status,
        "stream": await get_stream(services.db, station_id, stream_id),
        "command": command,
    }
