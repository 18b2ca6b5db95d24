"""Stations: registration, boot, heartbeat, connector status and device model."""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.availability import service as availability
from volta.blocks.provisioning.models import ConnectorOut, StationOut
from volta.events import service as events
from volta.security import hash_password
from volta.store.db import Database
from volta.store.lookup import batched
from volta.store.models import CONNECTORS, STATIONS, Connector, DeviceVariable, Station, utcnow
from volta.store.raw import RawStatement
from volta.store.search import text_in


@dataclass(frozen=True, slots=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BootDecision:
    status: str
    interval: int
    current_time: dt.datetime


# Built once, on the raw driver: a connection storm runs these thousands of
# times a second (docs/architecture.md, "Connecting and booting").
_RAW_CONNECTED = RawStatement.update(
    STATIONS, ("protocol", "last_connected_at", "connection_id"), ("id",)
)
# Only the connection that holds the station records it offline (a station
# that reconnected, here or on another node, has a new connection_id).
# One process: the router knows the closing connection was the station's.
_RAW_UNGUARDED_OFFLINE = RawStatement.update(
    STATIONS, ("last_disconnected_at", "connection_id"), ("id",)
)
_BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
    "boot_reason",
    "last_boot_at",
    "last_heartbeat_at",
)
# A boot is a batched read of the registration status the operator set
# (B02: a Pending station is accepted at its next boot) and a raw UPDATE:
# after a restart every station boots at once.
_RAW_BOOTED = RawStatement.update(STATIONS, _BOOT_FIELDS, ("id",))
# Auto-registration: many stations at once in a storm, as rows on the raw
# driver; one that appeared meanwhile (its other connection) is left as it is.
_REGISTER = RawStatement.insert(
    STATIONS,
    ("id", "registration_status", "validation", "created_at"),
    ignore_conflict_on=("id",),
)


async def find_station(db: Database, station_id: str) -> dict[str, Any] | None:
    return await batched(db, STATIONS, "id").find(station_id)


async def register_station(db: Database, station_id: str, registration_status: str) -> None:
    """Auto-registration on a first connection (no password): an existing
    station is left as it is."""
    row = (station_id, registration_status, "strict", db.db_time(utcnow()))
    await db.write_rows(station_id, [(_REGISTER, [row])])


async def count_stations(db: Database, registration_status: str) -> int:
    """How many stations are in `registration_status` (the gateway's cap on
    auto-registered stations waiting for approval)."""
    stmt = sa.select(sa.func.count()).select_from(Station)
    async with db.read() as conn:
        result = await conn.execute(stmt.where(Station.registration_status == registration_status))
        return int(result.scalar_one())


async def create_station(
    db: Database,
    station_id: str,
    *,
    password: str | None = None,
    registration_status: str = "Accepted",
    validation: str = "strict",
    security_profile: int | None = None,
) -> None:
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.insert(STATIONS).values(
                id=station_id,
                password_hash=hash_password(password) if password else None,
                registration_status=registration_status,
                validation=validation,
                security_profile=security_profile,
                created_at=utcnow(),
            )
        )


async def update_station(db: Database, station_id: str, **values: Any) -> bool:
    if "password" in values:
        password = values.pop("password")
        values["password_hash"] = hash_password(password) if password else None
    if not values:
        return await find_station(db, station_id) is not None
    async with db.write(station_id) as conn:
        result = await conn.execute(
            sa.update(STATIONS).where(STATIONS.c.id == station_id).values(**values)
        )
    return bool(result.rowcount)


async def delete_station(db: Database, station_id: str) -> bool:
    forget_statuses(db, station_id)
    async with db.write(station_id) as conn:
        await conn.execute(sa.delete(Connector).where(Connector.station_id == station_id))
        await conn.execute(sa.delete(DeviceVariable).where(DeviceVariable.station_id == station_id))
        result = await conn.execute(sa.delete(Station).where(Station.id == station_id))
    return bool(result.rowcount)


async def record_connection(
    db: Database,
    station_id: str,
    protocol: str,
    connection_id: str | None = None,
    *,
    current: Callable[[], bool] | None = None,
) -> None:
    """The station is connected through `connection_id` ("<node>/<serial>"),
    which from now on is the only connection that may record it offline.

    `current` says whether that connection is still the station's: it is
    asked as the record joins the station's write queue, in order with the
    station's other writes, so a connection replaced (or closed) while its
    record was being prepared never overwrites its successor's record (or
    its own disconnection)."""
    row = (protocol, db.db_time(utcnow()), connection_id, station_id)
    await _record_presence(
        db, station_id, _RAW_CONNECTED, row, "station.online", current=current, protocol=protocol
    )


async def record_disconnection(
    db: Database, station_id: str, connection_id: str | None = None, *, guarded: bool = False
) -> bool:
    """The connection `connection_id` of the station closed. Unguarded (one
    process: the router already knows it was the station's connection) the
    row and its station.offline event are raw rows; guarded (several nodes:
    the station may have connected to another node meanwhile) the event is
    written only when the row still named this connection. Whether it did."""
    forget_statuses(db, station_id)
    at = db.db_time(utcnow())
    if not guarded:
        row = (at, None, station_id)
        await _record_presence(db, station_id, _RAW_UNGUARDED_OFFLINE, row, "station.offline")
        return True
    async with db.write(station_id) as conn:
        matched = (
            await conn.execute(
                sa.update(Station)
                .where(Station.id == station_id, Station.connection_id == connection_id)
                .values(last_disconnected_at=utcnow(), connection_id=None)
                .returning(Station.id)
            )
        ).first()
        if matched is not None:
            await events.emit(conn, "station.offline", station_id=station_id)
            await availability.presence_changed(conn, station_id, online=False)
    return matched is not None


async def release_connections(
    db: Database, *, dead: Collection[str] = (), live: Collection[str] | None = None
) -> list[str]:
    """Stations recorded as held by a node that is gone (killed, or its lease
    passed): the nodes in `dead`, or, given `live`, every node not in it.
    Each is recorded offline with its station.offline event. Run by the
    leader; returns their ids."""
    stmt = sa.select(Station.id, Station.connection_id)
    if live is None:
        if not dead:
            return []
        stmt = stmt.where(sa.or_(*(Station.connection_id.startswith(f"{n}/") for n in dead)))
    else:
        stmt = stmt.where(Station.connection_id.is_not(None))
    async with db.write() as conn:
        held = (await conn.execute(stmt)).all()
        gone = [r for r in held if live is None or r.connection_id.split("/", 1)[0] not in live]
        for row in gone:
            await conn.execute(
                sa.update(Station)
                .where(Station.id == row.id, Station.connection_id == row.connection_id)
                .values(last_disconnected_at=utcnow(), connection_id=None)
            )
            await events.emit(conn, "station.offline", station_id=row.id, reason="node gone")
            await availability.presence_changed(conn, row.id, online=False)
    for row in gone:
        forget_statuses(db, row.id)
    return [r.id for r in gone]


async def _record_presence(
    db: Database,
    station_id: str,
    statement: RawStatement,
    row: tuple[Any, ...],
    type_: events.EventType,
    *,
    current: Callable[[], bool] | None = None,
    **data: Any,
) -> None:
    """The station's row and its station.online / station.offline event, in
    one commit: as raw rows (a storm reconnects thousands at once), or, when
    a webhook wants the event, the same statement in a `write()` whose
    `emit()` queues the deliveries."""
    # ... and the availability reporting's row, in the same commit.
    presence = availability.presence_rows(db, station_id, online=type_ == "station.online")
    event = await events.event_rows(db, type_, station_id=station_id, **data)
    if event is not None:
        # Nothing is awaited between the question and joining the queue.
        if current is None or current():
            await db.write_rows(station_id, [(statement, [row]), *event, *presence])
        return
    async with db.write(station_id) as conn:
        if current is not None and not current():
            return
        await conn.exec_driver_sql(statement.text(db.is_sqlite), row)
        await events.emit(conn, type_, station_id=station_id, **data)
        for raw, rows in presence:
            await conn.exec_driver_sql(raw.text(db.is_sqlite), rows[0])


async def boot(
    db: Database, station_id: str, info: BootInfo, *, heartbeat_interval: int, retry_interval: int
) -> BootDecision:
    """Store what the station says about itself and decide its registration:
    the status the operator set (Accepted by default; Pending or Rejected hold it
    back, B01.FR.01 / B02 / B03)."""
    now = utcnow()
    station = await find_station(db, station_id)
    if station is None:
        status = "Rejected"
    else:
        status = station["registration_status"]
        at = db.db_time(now)
        row = (
            info.vendor,
            info.model,
            info.serial_number,
            info.firmware_version,
            info.iccid,
            info.imsi,
            info.meter_type,
            info.meter_serial_number,
            info.reason,
            at,  # last_boot_at
            at,  # last_heartbeat_at
            station_id,
        )
        await db.write_rows(station_id, [(_RAW_BOOTED, [row])])
    interval = heartbeat_interval if status == "Accepted" else retry_interval
    return BootDecision(status, interval, now)


# Built once: status notifications are among the most frequent writes.
_STATUS_COLUMNS = (
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "status_at",
    "updated_at",
)
_status_upserts: dict[bool, Any] = {}
_CONNECTOR_STATUS = sa.select(CONNECTORS.c.status, CONNECTORS.c.error_code).where(
    CONNECTORS.c.station_id == sa.bindparam("station_id"),
    CONNECTORS.c.evse_id == sa.bindparam("evse_id"),
    CONNECTORS.c.connector_id == sa.bindparam("connector_id"),
)


def _status_upsert(db: Database) -> Any:
    stmt = _status_upserts.get(db.is_sqlite)
    if stmt is None:
        insert = db.insert(CONNECTORS)
        stmt = insert.on_conflict_do_update(
            index_elements=["station_id", "evse_id", "connector_id"],
            set_={c: insert.excluded[c] for c in _STATUS_COLUMNS},
        )
        _status_upserts[db.is_sqlite] = stmt
    return stmt


# The hot path's statements on the raw driver (volta.store.raw).
_RAW_HEARTBEAT = RawStatement.update(STATIONS, ("last_heartbeat_at",), ("id",))
_STATUS_ROW = (
    "station_id",
    "evse_id",
    "connector_id",
    "status",
    "error_code",
    "info",
    "vendor_id",
    "vendor_error_code",
    "status_at",
    "updated_at",
)
_RAW_STATUS = RawStatement.upsert(
    CONNECTORS, _STATUS_ROW, ("station_id", "evse_id", "connector_id")
)

# The last status of each connector, as this Volta last wrote it, so that a
# StatusNotification that changes nothing (most of them) is one upsert with
# no read. Per Database object, like the live transactions; by station, so
# that forgetting one station's costs nothing when thousands disconnect.
_Known = dict[str, dict[tuple[int, int], tuple[Any, Any]]]
_statuses: weakref.WeakKeyDictionary[Database, _Known] = weakref.WeakKeyDictionary()


def _known_statuses(db: Database) -> _Known:
    known = _statuses.get(db)
    if known is None:
        known = _statuses[db] = {}
    return known


def forget_statuses(db: Database, station_id: str) -> None:
    """Read a station's connector statuses again next time (it disconnected)."""
    _known_statuses(db).pop(station_id, None)


async def heartbeat(db: Database, station_id: str) -> dt.datetime:
    now = utcnow()
    await db.write_rows(station_id, [(_RAW_HEARTBEAT, [(db.db_time(now), station_id)])])
    return now


async def record_status(
    db: Database,
    station_id: str,
    *,
    evse_id: int,
    connector_id: int,
    status: str,
    timestamp: dt.datetime | None,
    error_code: str | None = None,
    info: str | None = None,
    vendor_id: str | None = None,
    vendor_error_code: str | None = None,
) -> None:
    row = {
        "station_id": station_id,
        "evse_id": evse_id,
        "connector_id": connector_id,
        "status": status,
        "error_code": error_code,
        "info": info,
        "vendor_id": vendor_id,
        "vendor_error_code": vendor_error_code,
        "status_at": timestamp,
        "updated_at": utcnow(),
    }
    known = _known_statuses(db).setdefault(station_id, {})
    key = (evse_id, connector_id)
    if known.get(key) == (status, error_code):
        # Nothing changed: no event to raise, so no read and one upsert.
        time: Any = db.db_time
        values = tuple(
            time(row[c]) if c in ("status_at", "updated_at") else row[c] for c in _STATUS_ROW
        )
        await db.write_rows(station_id, [(_RAW_STATUS, [values])])
        return
    async with db.write(station_id) as conn:
        before = (
            await conn.execute(
                _CONNECTOR_STATUS,
                {"station_id": station_id, "evse_id": evse_id, "connector_id": connector_id},
            )
        ).first()
        await conn.execute(_status_upsert(db), row)
        await _status_events(conn, row, before)
        await availability.status_changed(conn, row, before)
    known[key] = (status, error_code)


# 1.6 ChargePointStatus / 2.0.1 ConnectorStatusEnumType transitions that tell
# of the car. 2.0.1 tells charging and suspension in TransactionEvent instead.
_PLUGGED = {"Preparing", "Occupied"}
_FREE = {"Available", "Reserved", None}


async def _status_events(conn: Any, row: dict[str, Any], before: Any) -> None:
    status = row["status"]
    previous = before.status if before is not None else None
    where = {"station_id": row["station_id"], "evse_id": row["evse_id"]}
    if status == previous and (before is None or before.error_code == row["error_code"]):
        return
    if status in _PLUGGED and previous in _FREE:
        await events.emit(conn, "ev.connected", **where)
    elif status == "Charging":
        await events.emit(conn, "charging.started", **where)
    elif status == "SuspendedEV":
        await events.emit(conn, "charging.suspended_ev", **where)
    faulted = status == "Faulted" or row["error_code"] not in (None, "NoError")
    if faulted:
        await events.emit(
            conn,
            "fault.reported",
            **where,
            connector_id=row["connector_id"],
            status=status,
            error_code=row["error_code"],
            info=row["info"],
            vendor_error_code=row["vendor_error_code"],
        )


async def connectors_of(db: Database, station_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(Connector)
                    .where(Connector.station_id.in_(station_ids))
                    .order_by(Connector.station_id, Connector.evse_id, Connector.connector_id)
                )
            )
            .mappings()
            .all()
        )
    result: dict[str, list[dict[str, Any]]] = {sid: [] for sid in station_ids}
    for row in rows:
        result[row["station_id"]].append(dict(row))
    return result


async def describe_stations(
    db: Database, rows: list[dict[str, Any]], online: Mapping[str, object]
) -> list[StationOut]:
    """Station rows with their connectors and whether they are online (`online`:
    the router's stations with a live connection): the view of a station the
    API and the dashboard show."""
    connectors = await connectors_of(db, [r["id"] for r in rows])
    return [
        StationOut(
            **{k: v for k, v in row.items() if k != "password_hash"},
            has_password=bool(row["password_hash"]),
            online=row["id"] in online,
            connectors=[ConnectorOut(**c) for c in connectors.get(row["id"], [])],
        )
        for row in rows
    ]


async def list_stations(db: Database, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(Station).order_by(Station.id).limit(limit).offset(offset)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


# Above this many stations online the "online" filter reads the stations'
# recorded connection (connection_id) instead of an IN list of the router's ids.
_ONLINE_IN_LIST = 2000


async def search_stations(
    db: Database,
    *,
    q: str = "",
    online: bool | None = None,
    online_ids: Collection[str] = (),
    registration_status: str | None = None,
    connector_status: str | None = None,
    protocol: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """A page of stations in a stable order (by id): `q` matches the id,
    vendor, model or serial number anywhere (case-insensitive); `online`
    keeps the stations in (True) or out of (False) `online_ids` (the router's
    live connections); `connector_status` keeps the stations with a connector
    (EVSE > 0) in that status; `protocol` is the negotiated subprotocol
    ("ocpp1.6", "ocpp2.0.1", ...)."""
    stmt = sa.select(Station)
    if q:
        stmt = stmt.where(
            text_in(q, Station.id, Station.vendor, Station.model, Station.serial_number)
        )
    if online is not None:
        if len(online_ids) <= _ONLINE_IN_LIST:
            held = Station.id.in_(list(online_ids)) if online_ids else sa.false()
        else:
            held = Station.connection_id.is_not(None)
        stmt = stmt.where(held if online else sa.not_(held))
    if registration_status:
        stmt = stmt.where(Station.registration_status == registration_status)
    if protocol:
        stmt = stmt.where(Station.protocol == protocol)
    if connector_status:
        stmt = stmt.where(
            sa.exists().where(
                Connector.station_id == Station.id,
                Connector.evse_id > 0,
                Connector.status == connector_status,
            )
        )
    stmt = stmt.order_by(Station.id).limit(limit).offset(offset)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(r) for r in rows]
