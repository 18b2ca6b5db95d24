"""Reading sites, allocations and charging profiles for the dashboard:
read-only SQL over `sites`, `stations.site_id`, `evse_allocations`,
`charging_profiles`, `transactions` and `meter_values`. Nothing here writes;
the allocator and the profile service own those tables."""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging import sites as site_store
from volta.blocks.smart_charging.sites import SiteRecord
from volta.store.db import Database
from volta.store.models import (
    ChargingProfile,
    EvseAllocation,
    MeterValue,
    Site,
    Station,
    Transaction,
    utcnow,
)
from volta.store.search import text_in

CURRENT = "Current.Import"


@dataclass(frozen=True, slots=True)
class EvseRow:
    """One EVSE of a site: what the allocator gave it and what it draws now."""

    station_id: str
    evse_id: int
    site_id: int | None
    limit_a: float | None  # allocated, per phase (None: no allocation yet)
    phases: int
    status: str | None  # the allocation's: Sent, Accepted, Rejected, Failed
    transaction_id: str | None
    drawn_a: float | None  # the highest phase of the latest Current.Import sample
    drawn_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SiteSummary:
    site: SiteRecord
    stations: int
    evses: int
    allocated_a: float
    drawn_a: float


@dataclass
class SiteView:
    site: SiteRecord
    ancestors: list[SiteRecord]  # from the root down, without the site
    children: list[SiteSummary]
    stations: list[str]  # placed on the site or below it
    evses: list[EvseRow]
    chart: dict[str, Any] = field(default_factory=dict)
    # Each station's fallback share (its EVSE 0 row: the TxDefaultProfile it
    # falls back to without Volta), A per phase.
    fallbacks: dict[str, float] = field(default_factory=dict)

    @property
    def allocated_a(self) -> float:
        return sum(e.limit_a or 0.0 for e in self.evses)

    @property
    def drawn_a(self) -> float:
        return sum(e.drawn_a or 0.0 for e in self.evses)


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """A `charging_profiles` row as the station page shows it."""

    evse_id: int
    profile_id: int
    stack_level: int
    purpose: str
    kind: str
    limit: float | None  # the first period's
    unit: str | None
    transaction_id: str | None
    source: str
    status: str
    updated_at: dt.datetime


def _split(rows: list[EvseRow]) -> tuple[list[EvseRow], dict[str, float]]:
    """The charging EVSEs, and each station's fallback share (EVSE 0)."""
    fallbacks = {e.station_id: e.limit_a or 0.0 for e in rows if e.evse_id == 0}
    return [e for e in rows if e.evse_id != 0], fallbacks


def _ids_below(sites: dict[int, SiteRecord], site_id: int) -> list[int]:
    return [s.id for s in site_store.subtree(sites, site_id)]


async def _latest_current(conn: Any, tx_ids: list[int]) -> dict[int, tuple[float, dt.datetime]]:
    """Per transaction: the highest phase of its latest Current.Import sample."""
    if not tx_ids:
        return {}
    last = (
        sa.select(MeterValue.transaction_id, sa.func.max(MeterValue.timestamp).label("ts"))
        .where(MeterValue.transaction_id.in_(tx_ids), MeterValue.measurand == CURRENT)
        .group_by(MeterValue.transaction_id)
        .subquery()
    )
    stmt = sa.select(MeterValue.transaction_id, MeterValue.value, MeterValue.timestamp).join(
        last,
        sa.and_(
            MeterValue.transaction_id == last.c.transaction_id,
            MeterValue.timestamp == last.c.ts,
        ),
    )
    stmt = stmt.where(MeterValue.measurand == CURRENT)
    out: dict[int, tuple[float, dt.datetime]] = {}
    for tx, value, ts in (await conn.execute(stmt)).all():
        if tx not in out or value > out[tx][0]:
            out[tx] = (float(value), ts)
    return out


async def _evses(conn: Any, station_ids: list[str] | Any) -> list[EvseRow]:
    """Every EVSE with an allocation or a session of these stations (a list,
    or a subquery of their ids); EVSE 0 rows are the stations' fallback
    shares (see `_split`)."""
    if isinstance(station_ids, list) and not station_ids:
        return []
    allocs = (
        await conn.execute(
            sa.select(EvseAllocation).where(EvseAllocation.station_id.in_(station_ids))
        )
    ).all()
    active = (
        await conn.execute(
            sa.select(
                Transaction.id,
                Transaction.station_id,
                Transaction.evse_id,
                Transaction.station_transaction_id,
            ).where(Transaction.station_id.in_(station_ids), Transaction.status == "Active")
        )
    ).all()
    drawn = await _latest_current(conn, [t.id for t in active])
    by_evse: dict[tuple[str, int], EvseRow] = {}
    for a in allocs:
        by_evse[(a.station_id, a.evse_id)] = EvseRow(
            a.station_id,
            a.evse_id,
            a.site_id,
            a.limit_a,
            a.phases,
            a.status,
            a.transaction_id,
            None,
            None,
        )
    for t in active:
        key = (t.station_id, t.evse_id or 0)
        now = drawn.get(t.id)
        old = by_evse.get(key)
        by_evse[key] = EvseRow(
            t.station_id,
            t.evse_id or 0,
            old.site_id if old else None,
            old.limit_a if old else None,
            old.phases if old else 3,
            old.status if old else None,
            t.station_transaction_id or str(t.id),
            now[0] if now else None,
            now[1] if now else None,
        )
    return [by_evse[k] for k in sorted(by_evse)]


async def list_sites(
    db: Database, *, q: str | None = None, limit: int | None = None, offset: int = 0
) -> list[SiteSummary]:
    """Sites by name (the id last: a stable order) with what is placed on
    them (directly) and their totals now; `q`: text in the name (any case);
    `limit` / `offset`: one page of them (its stations counted in SQL and
    reached through a subquery: a page never reads every placed station)."""
    async with db.read() as conn:
        if q is None and limit is None and not offset:
            sites = await site_store.read_sites(conn)
            site_of = await site_store.read_placements(conn)
            evses, _fallbacks = _split(await _evses(conn, list(site_of)))
            station_count: dict[int, int] = {}
            for placed_on_site in site_of.values():
                station_count[placed_on_site] = station_count.get(placed_on_site, 0) + 1
        else:
            stmt = sa.select(Site).order_by(Site.name, Site.id).offset(offset).limit(limit)
            if q:
                stmt = stmt.where(text_in(q, Site.name))
            sites = {row.id: SiteRecord.from_row(row) for row in (await conn.execute(stmt)).all()}
            placed = Station.site_id.in_(list(sites))
            counts = await conn.execute(
                sa.select(Station.site_id, sa.func.count()).where(placed).group_by(Station.site_id)
            )
            station_count = {int(site): int(n) for site, n in counts.all()}
            evses, _fallbacks = _split(await _evses(conn, sa.select(Station.id).where(placed)))
            busy = sorted({e.station_id for e in evses})
            rows = await conn.execute(
                sa.select(Station.id, Station.site_id).where(Station.id.in_(busy))
            )
            site_of = {row.id: int(row.site_id) for row in rows.all() if row.site_id is not None}
    out = []
    for s in sorted(sites.values(), key=lambda s: (s.name, s.id)):
        mine = [e for e in evses if site_of.get(e.station_id) == s.id]
        out.append(
            SiteSummary(
                s,
                station_count.get(s.id, 0),
                len(mine),
                sum(e.limit_a or 0.0 for e in mine),
                sum(e.drawn_a or 0.0 for e in mine),
            )
        )
    return out


async def site_names(db: Database, site_ids: set[int]) -> dict[int, str]:
    """The names of these sites (a page's parents)."""
    if not site_ids:
        return {}
    async with db.read() as conn:
        rows = await conn.execute(sa.select(Site.id, Site.name).where(Site.id.in_(site_ids)))
        return {row.id: row.name for row in rows.all()}


async def site_view(db: Database, site_id: int, *, minutes: int = 15) -> SiteView | None:
    """One site: its place in the tree, the EVSEs on it or below it, and the
    chart of the last `minutes` (limit vs allocated vs drawn)."""
    async with db.read() as conn:
        sites = await site_store.read_sites(conn)
        site = sites.get(site_id)
        if site is None:
            return None
        subtree = _ids_below(sites, site_id)
        stations = list(
            (
                await conn.execute(
                    sa.select(Station.id).where(Station.site_id.in_(subtree)).order_by(Station.id)
                )
            )
            .scalars()
            .all()
        )
        evses, fallbacks = _split(await _evses(conn, stations))
        chart = await _chart(conn, site, stations, utcnow() - dt.timedelta(minutes=minutes))
    ancestors: list[SiteRecord] = []
    parent = site.parent_id
    while parent is not None and parent in sites and len(ancestors) < 32:
        ancestors.insert(0, sites[parent])
        parent = sites[parent].parent_id
    children = []
    children_of = (s for s in sites.values() if s.parent_id == site_id)
    for c in sorted(children_of, key=lambda s: (s.name, s.id)):
        below = set(_ids_below(sites, c.id))
        mine = [e for e in evses if e.site_id in below]
        children.append(
            SiteSummary(
                c,
                0,
                len(mine),
                sum(e.limit_a or 0.0 for e in mine),
                sum(e.drawn_a or 0.0 for e in mine),
            )
        )
    return SiteView(site, ancestors, children, stations, evses, chart, fallbacks)


def _profile_amps(profile: dict[str, Any]) -> tuple[float | None, str | None]:
    """The first period's limit of a stored (2.0.1-shaped) profile, and its unit."""
    try:
        schedule = profile["chargingSchedule"][0]
        period = schedule["chargingSchedulePeriod"][0]
        return float(period["limit"]), str(schedule["chargingRateUnit"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None, None


async def _chart(
    conn: Any, site: SiteRecord, stations: list[str], since: dt.datetime
) -> dict[str, Any]:
    """Step series on one time axis: the site's limit, the sum of what the
    allocator gave (its profiles, from when each was made until replaced or
    cleared), the sum drawn (each session's latest Current.Import, highest
    phase), and the draw of each EVSE (at most 12)."""
    if not stations:
        return {"x": [], "series": []}
    events: dict[str, list[tuple[float, float]]] = defaultdict(list)  # key -> (t, A)
    profiles = (
        await conn.execute(
            sa.select(ChargingProfile)
            .where(
                ChargingProfile.station_id.in_(stations),
                ChargingProfile.source == "allocator",
                ChargingProfile.status.in_(("Accepted", "Replaced", "Cleared", "Requested")),
                # Installed however old, or ended within the window.
                sa.or_(ChargingProfile.status == "Accepted", ChargingProfile.updated_at >= since),
            )
            .order_by(ChargingProfile.created_at, ChargingProfile.id)
        )
    ).all()
    for p in profiles:
        limit, unit = _profile_amps(p.profile)
        if limit is None:
            continue
        amps = limit if unit == "A" else limit / (site.voltage_v * max(1, site.phases))
        key = f"alloc:{p.station_id}:{p.evse_id}"
        events[key].append((p.created_at.timestamp(), amps))
        if p.status == "Cleared":
            events[key].append((p.updated_at.timestamp(), 0.0))
    txs = (
        await conn.execute(
            sa.select(
                Transaction.id, Transaction.station_id, Transaction.evse_id, Transaction.stopped_at
            ).where(
                Transaction.station_id.in_(stations),
                sa.or_(Transaction.status == "Active", Transaction.stopped_at >= since),
            )
        )
    ).all()
    evse_of = {t.id: f"draw:{t.station_id}:{t.evse_id or 0}" for t in txs}
    if evse_of:
        samples = await conn.execute(
            sa.select(MeterValue.transaction_id, MeterValue.timestamp, MeterValue.value)
            .where(
                MeterValue.transaction_id.in_(list(evse_of)),
                MeterValue.measurand == CURRENT,
                MeterValue.timestamp >= since,
            )
            .order_by(MeterValue.timestamp)
        )
        highest: dict[tuple[int, float], float] = {}
        for tx, ts, value in samples.all():
            key2 = (tx, ts.timestamp())
            highest[key2] = max(highest.get(key2, 0.0), float(value))
        for (tx, t), value in sorted(highest.items(), key=lambda kv: kv[0][1]):
            events[evse_of[tx]].append((t, value))
        for t in txs:
            if t.stopped_at is not None:
                events[evse_of[t.id]].append((t.stopped_at.timestamp(), 0.0))
    return _steps(events, since.timestamp(), utcnow().timestamp(), site.rated_a)


def _value_at(points: list[tuple[float, float]], t: float) -> float:
    """The step function's value at `t` (0 before its first point)."""
    i = bisect.bisect_right(points, (t, math.inf))
    return points[i - 1][1] if i else 0.0


def _steps(
    events: dict[str, list[tuple[float, float]]],
    since: float,
    now: float,
    limit: float | None,
) -> dict[str, Any]:
    for points in events.values():
        points.sort()
    times = sorted({since, now, *(t for ps in events.values() for t, _ in ps if since <= t <= now)})
    allocated = [k for k in events if k.startswith("alloc:")]
    drawn = sorted(k for k in events if k.startswith("draw:"))
    series: list[dict[str, Any]] = [
        {"label": "Limit (A)", "kind": "limit", "values": [limit for _ in times]},
        {
            "label": "Allocated (A)",
            "kind": "allocated",
            "values": [round(sum(_value_at(events[k], t) for k in allocated), 2) for t in times],
        },
        {
            "label": "Drawn (A)",
            "kind": "drawn",
            "values": [round(sum(_value_at(events[k], t) for k in drawn), 2) for t in times],
        },
    ]
    for k in drawn[:12]:
        _kind, station, evse = k.split(":", 2)
        series.append(
            {
                "label": f"{station} #{evse}",
                "kind": "evse",
                "values": [round(_value_at(events[k], t), 2) for t in times],
            }
        )
    return {"x": [round(t, 3) for t in times], "series": series}


async def station_profiles(db: Database, station_id: str, *, limit: int = 50) -> list[ProfileRow]:
    """The station's charging profiles, newest first: what is installed
    (Accepted) and what was asked or ended recently, with source and status."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(ChargingProfile)
                .where(ChargingProfile.station_id == station_id)
                .order_by(ChargingProfile.updated_at.desc(), ChargingProfile.id.desc())
                .limit(limit)
            )
        ).all()
    out = []
    for r in rows:
        value, unit = _profile_amps(r.profile)
        out.append(
            ProfileRow(
                r.evse_id,
                r.profile_id,
                r.stack_level,
                r.purpose,
                str(r.profile.get("chargingProfileKind", ""))
                if isinstance(r.profile, dict)
                else "",
                value,
                unit,
                r.transaction_id,
                r.source,
                r.status,
                r.updated_at,
            )
        )
    out.sort(key=lambda p: (p.status != "Accepted", p.evse_id, -p.stack_level))
    return out
