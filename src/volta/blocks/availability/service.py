"""Availability reporting: uptime per EVSE and per site over a period.

What is recorded (`availability_changes`), only when it changes and in the
transaction of the change it follows, so a heartbeat or a meter value
writes nothing more:

- a connector going down (status Faulted or Unavailable) or up (any other
  status), written beside the connector's status upsert when its status
  changed (provisioning.record_status reads the previous status then anyway);
- the station going offline or online (connector null), one more row in the
  connection's own commit.

How uptime is counted follows the US NEVI rule (23 CFR 680.116(b)): over a
period of T seconds, uptime = (T - (outage - excluded)) / T, where outage is
the time the EVSE could not charge (its station offline, the station as a
whole down: 1.6 connector 0, or a connector of the EVSE down) and excluded
is the part of that outage inside maintenance windows the operator marked.
A period starts no earlier than the station was registered, and ends no
later than now. Times are Volta's clock when it received the change, not
the station's (station clocks drift, and some send no zone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from volta.events import service as events
from volta.store.db import Conn, Database, RawOps
from volta.store.models import (
    AvailabilityChange,
    Connector,
    MaintenanceWindow,
    Site,
    Station,
    utcnow,
)
from volta.store.raw import RawStatement

DOWN_STATUSES = frozenset({"Faulted", "Unavailable"})
CHANGES = cast(sa.Table, AvailabilityChange.__table__)
_RAW_CHANGE = RawStatement.insert(
    CHANGES,
    ("station_id", "evse_id", "connector_id", "down", "status", "at"),
)
# Bounds: what one report may cover and hold.
MAX_PERIOD = dt.timedelta(days=366)
MAX_WINDOWS = 10_000
STATION_CHUNK = 500


def is_down(status: str | None) -> bool:
    return status in DOWN_STATUSES


# -- recording ---------------------------------------------------------------------


async def status_changed(conn: Conn, row: dict[str, Any], before: Any) -> None:
    """Inside the status upsert's transaction (its status changed): a row
    when the connector goes down or up, or is seen for the first time."""
    down = is_down(row["status"])
    if before is not None and is_down(before.status) == down:
        return
    await conn.execute(
        sa.insert(CHANGES).values(
            station_id=row["station_id"],
            evse_id=row["evse_id"],
            connector_id=row["connector_id"],
            down=down,
            status=str(row["status"])[:20],
            at=row["updated_at"],
        )
    )


def presence_rows(db: Database, station_id: str, online: bool) -> RawOps:
    """The station's connection opened or closed: a row for the same commit."""
    row = (station_id, None, None, not online, "online" if online else "offline")
    return [(_RAW_CHANGE, [(*row, db.db_time(utcnow()))])]


async def presence_changed(conn: Conn, station_id: str, online: bool) -> None:
    await conn.execute(
        sa.insert(CHANGES).values(
            station_id=station_id,
            evse_id=None,
            connector_id=None,
            down=not online,
            status="online" if online else "offline",
            at=utcnow(),
        )
    )


# -- maintenance windows -----------------------------------------------------------


class WindowRefused(ValueError):
    """A maintenance window that cannot be kept; the message says why."""


async def add_window(
    db: Database,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    station_id: str | None = None,
    evse_id: int | None = None,
    site_id: int | None = None,
    reason: str = "",
    created_by: str = "",
) -> dict[str, Any]:
    if ends_at <= starts_at:
        raise WindowRefused("ends_at must be after starts_at")
    if ends_at - starts_at > MAX_PERIOD:
        raise WindowRefused("a maintenance window lasts at most 366 days")
    if evse_id is not None and station_id is None:
        raise WindowRefused("evse_id needs station_id")
    if station_id is not None and site_id is not None:
        raise WindowRefused("give station_id or site_id, not both")
    values = {
        "station_id": station_id,
        "evse_id": evse_id,
        "site_id": site_id,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "reason": reason[:200],
        "created_by": created_by[:64],
        "created_at": utcnow(),
    }
    async with db.write(station_id) as conn:
        if station_id is not None:
            found = await conn.execute(sa.select(Station.id).where(Station.id == station_id))
            if found.first() is None:
                raise WindowRefused(f"no station {station_id}")
        if site_id is not None:
            found = await conn.execute(sa.select(Site.id).where(Site.id == site_id))
            if found.first() is None:
                raise WindowRefused(f"no site {site_id}")
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(MaintenanceWindow))
        ).scalar_one()
        if count >= MAX_WINDOWS:
            raise WindowRefused(f"at most {MAX_WINDOWS} maintenance windows: delete old ones")
        new_id = (
            await conn.execute(
                sa.insert(MaintenanceWindow).values(**values).returning(MaintenanceWindow.id)
            )
        ).scalar_one()
        await events.emit(
            conn,
            "maintenance.scheduled",
            station_id=station_id,
            window_id=new_id,
            evse_id=evse_id,
            site_id=site_id,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=values["reason"],
        )
    return {"id": new_id, **values}


def _window_dict(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "site_id": row.site_id,
        "starts_at": row.starts_at,
        "ends_at": row.ends_at,
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


async def list_windows(
    db: Database,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Windows overlapping [start, end), latest first."""
    stmt = sa.select(MaintenanceWindow)
    if start is not None:
        stmt = stmt.where(MaintenanceWindow.ends_at > start)
    if end is not None:
        stmt = stmt.where(MaintenanceWindow.starts_at < end)
    stmt = stmt.order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc())
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).all()
    return [_window_dict(r) for r in rows]


async def delete_window(db: Database, window_id: int) -> bool:
    async with db.write() as conn:
        result = await conn.execute(
            sa.delete(MaintenanceWindow).where(MaintenanceWindow.id == window_id)
        )
    return bool(result.rowcount)


# -- computing -----------------------------------------------------------------------

Interval = tuple[float, float]


def union(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def overlap(xs: Sequence[Interval], ys: Sequence[Interval]) -> float:
    """Total length of the intersection of two unions."""
    total, i, j = 0.0, 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            total += b - a
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return total


def down_intervals(
    initial: bool | None, changes: Sequence[tuple[float, bool]], start: float, end: float
) -> list[Interval]:
    """The down time in [start, end) of one thing that starts `initial`
    (None: unknown, counted up) and then changes at each (time, down)."""
    out: list[Interval] = []
    down, since = bool(initial), start
    for at, now_down in changes:
        at = min(max(at, start), end)
        if now_down and not down:
            down, since = True, at
        elif down and not now_down:
            out.append((since, at))
            down = False
    if down:
        out.append((since, end))
    return out


@dataclass(frozen=True, slots=True)
class EvseUptime:
    station_id: str
    evse_id: int
    site_id: int | None
    period_start: dt.datetime
    period_end: dt.datetime
    period_seconds: float
    outage_seconds: float
    excluded_seconds: float

    @property
    def counted_outage_seconds(self) -> float:
        return max(0.0, self.outage_seconds - self.excluded_seconds)

    @property
    def uptime_percent(self) -> float | None:
        if self.period_seconds <= 0:
            return None
        return round(100.0 * (1 - self.counted_outage_seconds / self.period_seconds), 3)


@dataclass(frozen=True, slots=True)
class Report:
    start: dt.datetime
    end: dt.datetime
    evses: list[EvseUptime]

    @property
    def uptime_percent(self) -> float | None:
        total = sum(e.period_seconds for e in self.evses)
        if total <= 0:
            return None
        counted = sum(e.counted_outage_seconds for e in self.evses)
        return round(100.0 * (1 - counted / total), 3)

    def by_site(self) -> dict[int | None, float | None]:
        sites: dict[int | None, list[EvseUptime]] = {}
        for e in self.evses:
            sites.setdefault(e.site_id, []).append(e)
        return {
            site: Report(self.start, self.end, evses).uptime_percent
            for site, evses in sites.items()
        }


class ReportRefused(ValueError):
    pass


async def _site_tree(conn: Conn, site_id: int) -> set[int]:
    rows = (await conn.execute(sa.select(Site.id, Site.parent_id))).all()
    children: dict[int | None, list[int]] = {}
    for r in rows:
        children.setdefault(r.parent_id, []).append(r.id)
    if site_id not in {r.id for r in rows}:
        raise ReportRefused(f"no site {site_id}")
    found, todo = set(), [site_id]
    while todo:
        s = todo.pop()
        if s not in found:
            found.add(s)
            todo.extend(children.get(s, ()))
    return found


def _ts(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


async def report(
    db: Database,
    start: dt.datetime,
    end: dt.datetime,
    *,
    site_id: int | None = None,
    station_id: str | None = None,
    station_ids: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> Report:
    """Uptime per EVSE from `start` to `end`: of every station, of the
    stations of a site (and the sites below it), of one station, or of
    `station_ids` (a page of the console's list, `page_stations`)."""
    if end <= start:
        raise ReportRefused("`to` must be after `from`")
    if end - start > MAX_PERIOD:
        raise ReportRefused("a report covers at most 366 days")
    now = now or utcnow()
    async with db.read() as conn:
        stations = sa.select(Station.id, Station.site_id, Station.created_at).order_by(Station.id)
        if station_id is not None:
            stations = stations.where(Station.id == station_id)
        if station_ids is not None:
            stations = stations.where(Station.id.in_(list(station_ids)))
        if site_id is not None:
            stations = stations.where(Station.site_id.in_(await _site_tree(conn, site_id)))
        station_rows = (await conn.execute(stations)).all()
        windows = (
            await conn.execute(
                sa.select(MaintenanceWindow)
                .where(MaintenanceWindow.ends_at > start, MaintenanceWindow.starts_at < end)
                .limit(MAX_WINDOWS)
            )
        ).all()
    evses: list[EvseUptime] = []
    for i in range(0, len(station_rows), STATION_CHUNK):
        chunk = station_rows[i : i + STATION_CHUNK]
        evses.extend(await _chunk(db, chunk, windows, start, min(end, now)))
    return Report(start, end, evses)


async def page_stations(
    db: Database,
    *,
    site_id: int | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[str]:
    """One page of station ids in id order (of a site and the sites below
    it; `q`: text in the id, any case): what a page of the report covers."""
    stmt = sa.select(Station.id).order_by(Station.id).offset(offset).limit(limit)
    if q:
        stmt = stmt.where(sa.func.lower(Station.id).contains(q.lower(), autoescape=True))
    async with db.read() as conn:
        if site_id is not None:
            stmt = stmt.where(Station.site_id.in_(await _site_tree(conn, site_id)))
        return list((await conn.execute(stmt)).scalars().all())


async def _chunk(
    db: Database,
    stations: Sequence[Any],
    windows: Sequence[Any],
    start: dt.datetime,
    end: dt.datetime,
) -> list[EvseUptime]:
    ids = [s.id for s in stations]
    c = CHANGES.c
    async with db.read() as conn:
        connectors = (
            await conn.execute(
                sa.select(Connector.station_id, Connector.evse_id)
                .where(Connector.station_id.in_(ids), Connector.evse_id > 0)
                .distinct()
            )
        ).all()
        # The state at `start`: each thing's last change before it.
        last_before = (
            sa.select(sa.func.max(c.id))
            .where(c.station_id.in_(ids), c.at < start)
            .group_by(c.station_id, c.evse_id, c.connector_id)
        )
        prior = (await conn.execute(sa.select(CHANGES).where(c.id.in_(last_before)))).all()
        during = (
            await conn.execute(
                sa.select(CHANGES)
                .where(c.station_id.in_(ids), c.at >= start, c.at < end)
                .order_by(c.at, c.id)
            )
        ).all()
    evse_ids: dict[str, set[int]] = {}
    for r in connectors:
        evse_ids.setdefault(r.station_id, set()).add(r.evse_id)
    Key = tuple[str, int | None, int | None]
    initial: dict[Key, bool] = {(r.station_id, r.evse_id, r.connector_id): r.down for r in prior}
    changes: dict[Key, list[tuple[float, bool]]] = {}
    for r in during:
        changes.setdefault((r.station_id, r.evse_id, r.connector_id), []).append(
            (_ts(r.at), r.down)
        )
        if r.evse_id:
            evse_ids.setdefault(r.station_id, set()).add(r.evse_id)
    out = []
    for station in stations:
        begin = max(start, station.created_at) if station.created_at else start
        s0, s1 = _ts(begin), _ts(end)
        if s1 <= s0:
            continue
        keys = {k for k in (*initial, *changes) if k[0] == station.id}

        def down_of(key: Key, a: float = s0, b: float = s1) -> list[Interval]:
            return down_intervals(initial.get(key), changes.get(key, []), a, b)

        whole = [
            *down_of((station.id, None, None)),
            *(iv for k in keys if k[1] == 0 for iv in down_of(k)),
        ]
        for evse in sorted(evse_ids.get(station.id, ())):
            outage = union([*whole, *(iv for k in keys if k[1] == evse for iv in down_of(k))])
            excused = union(
                (_ts(w.starts_at), _ts(w.ends_at))
                for w in windows
                if _applies(w, station.id, station.site_id, evse)
            )
            out.append(
                EvseUptime(
                    station_id=station.id,
                    evse_id=evse,
                    site_id=station.site_id,
                    period_start=begin,
                    period_end=end,
                    period_seconds=s1 - s0,
                    outage_seconds=sum(b - a for a, b in outage),
                    excluded_seconds=overlap(outage, excused),
                )
            )
    return out


def _applies(window: Any, station_id: str, site_id: int | None, evse_id: int) -> bool:
    if window.station_id is not None:
        return bool(window.station_id == station_id and window.evse_id in (None, evse_id))
    if window.site_id is not None:
        return bool(window.site_id == site_id)
    return True  # the whole fleet


CSV_COLUMNS = (
    "station_id",
    "evse_id",
    "site_id",
    "period_start",
    "period_end",
    "period_seconds",
    "outage_seconds",
    "excluded_seconds",
    "uptime_percent",
)


def csv_rows(rep: Report) -> Iterable[list[Any]]:
    yield list(CSV_COLUMNS)
    for e in rep.evses:
        yield [
            e.station_id,
            e.evse_id,
            "" if e.site_id is None else e.site_id,
            e.period_start.isoformat(),
            e.period_end.isoformat(),
            round(e.period_seconds),
            round(e.outage_seconds),
            round(e.excluded_seconds),
            "" if e.uptime_percent is None else f"{e.uptime_percent:.3f}",
        ]
