"""Sites and circuits: the tree the allocator divides (a grid connection ->
sub-panels -> stations), each node with a limit per phase (A) or in W.

Site CRUD, placing a station on a site, the run-time limit change, non-EV
load readings (peak shaving) and an EVSE's priority. Recomputing after a
change is the engine's (engine.py); the API calls it after these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging.allocator import STRATEGIES, Node, node_limit
from volta.store.db import Conn, Database
from volta.store.models import EvseAllocation, Site, Station, utcnow

MAX_DEPTH = 16


class SiteError(Exception):
    """A request the tree cannot take (unknown parent, a cycle, no limit):
    the message says why (a 422)."""


class SiteInUse(Exception):
    """The site still has stations or circuits below it (a 409)."""


class NotFound(Exception):
    """No such site or station (a 404)."""


@dataclass(frozen=True, slots=True)
class SiteRecord:
    id: int
    name: str
    parent_id: int | None
    max_current_a: float | None
    max_power_w: float | None
    phases: int
    voltage_v: float
    strategy: str
    min_current_a: float
    group_priorities: dict[str, int] | None
    meter_station_id: str | None
    non_ev_load_a: list[float] | None
    non_ev_load_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> SiteRecord:
        return cls(**{name: getattr(row, name) for name in cls.__slots__})

    def node(self) -> Node:
        """The allocator's view: its limit per phase, net of non-EV load."""
        limit = node_limit(
            self.max_current_a, self.max_power_w, self.phases, self.voltage_v, self.non_ev_load_a
        )
        return Node(self.id, self.parent_id, limit)

    def limit_a(self) -> tuple[float, float, float]:
        """Its limit per phase before non-EV load."""
        return node_limit(self.max_current_a, self.max_power_w, self.phases, self.voltage_v)

    @property
    def rated_a(self) -> float | None:
        """The limit per phase in A as the dashboard shows it: the current
        limit, else the power limit read over its phases; None without one."""
        if self.max_current_a is not None:
            return self.max_current_a
        if self.max_power_w is not None:
            return self.max_power_w / (self.voltage_v * max(1, self.phases))
        return None


_FIELDS = (
    "name",
    "parent_id",
    "max_current_a",
    "max_power_w",
    "phases",
    "voltage_v",
    "strategy",
    "min_current_a",
    "group_priorities",
    "meter_station_id",
)


async def all_sites(db: Database) -> dict[int, SiteRecord]:
    """Every site (the table is small: one row per grid connection or circuit)."""
    async with db.read() as conn:
        return await read_sites(conn)


async def read_sites(conn: Conn) -> dict[int, SiteRecord]:
    """`all_sites` inside a read the caller holds."""
    rows = (await conn.execute(sa.select(Site).order_by(Site.id))).all()
    return {row.id: SiteRecord.from_row(row) for row in rows}


async def get_site(db: Database, site_id: int) -> SiteRecord | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(Site).where(Site.id == site_id))).first()
    return SiteRecord.from_row(row) if row is not None else None


def root_of(sites: dict[int, SiteRecord], site_id: int) -> int:
    current = site_id
    for _ in range(MAX_DEPTH + 1):
        parent = sites[current].parent_id
        if parent is None or parent not in sites:
            return current
        current = parent
    return current


def subtree(sites: dict[int, SiteRecord], root_id: int) -> list[SiteRecord]:
    """The site and every node below it, parents first."""
    children: dict[int | None, list[int]] = {}
    for site in sites.values():
        children.setdefault(site.parent_id, []).append(site.id)
    out: list[SiteRecord] = []
    todo = [root_id]
    while todo:
        current = todo.pop(0)
        if current in sites:
            out.append(sites[current])
            todo.extend(children.get(current, []))
    return out


def _check(values: dict[str, Any], sites: dict[int, SiteRecord], site_id: int | None) -> None:
    strategy = values.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise SiteError(f"strategy must be one of {', '.join(STRATEGIES)}")
    parent = values.get("parent_id")
    if parent is None:
        return
    if parent not in sites:
        raise SiteError(f"parent site {parent} not found")
    # A cycle: the new parent is the site itself or below it.
    current: int | None = parent
    depth = 0
    while current is not None:
        if current == site_id:
            raise SiteError(f"site {parent} is below site {site_id}: that would make a cycle")
        depth += 1
        if depth > MAX_DEPTH:
            raise SiteError(f"a site tree is at most {MAX_DEPTH} levels deep")
        current = sites[current].parent_id if current in sites else None


async def create_site(db: Database, **values: Any) -> SiteRecord:
    if values.get("max_current_a") is None and values.get("max_power_w") is None:
        raise SiteError("a site needs max_current_a or max_power_w")
    _check(values, await all_sites(db), None)
    now = utcnow()
    row = {name: values[name] for name in _FIELDS if values.get(name) is not None}
    async with db.write() as conn:
        site_id = (
            await conn.execute(
                sa.insert(Site)
                .values(
                    **{
                        "phases": 3,
                        "voltage_v": 230.0,
                        "strategy": "equal",
                        "min_current_a": 6.0,
                        **row,
                    },
                    created_at=now,
                    updated_at=now,
                )
                .returning(Site.id)
            )
        ).scalar_one()
    found = await get_site(db, int(site_id))
    assert found is not None
    return found


async def update_site(db: Database, site_id: int, **values: Any) -> SiteRecord:
    sites = await all_sites(db)
    if site_id not in sites:
        raise NotFound(f"site {site_id} not found")
    _check(values, sites, site_id)
    current = sites[site_id]
    cur_a = values.get("max_current_a", current.max_current_a)
    cur_w = values.get("max_power_w", current.max_power_w)
    if cur_a is None and cur_w is None:
        raise SiteError("a site needs max_current_a or max_power_w")
    changes = {name: values[name] for name in _FIELDS if name in values}
    if changes:
        async with db.write() as conn:
            await conn.execute(
                sa.update(Site).where(Site.id == site_id).values(**changes, updated_at=utcnow())
            )
    found = await get_site(db, site_id)
    assert found is not None
    return found


async def set_limit(
    db: Database, site_id: int, max_current_a: float | None, max_power_w: float | None
) -> SiteRecord:
    """The run-time signal (a grid operator, a tariff window): the limit is
    replaced by what is given (one of the two, or both)."""
    if max_current_a is None and max_power_w is None:
        raise SiteError("give max_current_a or max_power_w")
    return await update_site(db, site_id, max_current_a=max_current_a, max_power_w=max_power_w)


async def record_non_ev_load(db: Database, site_id: int, load_a: Sequence[float]) -> SiteRecord:
    """A building meter's reading: the current, per phase, that is not EVs'."""
    if await get_site(db, site_id) is None:
        raise NotFound(f"site {site_id} not found")
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            sa.update(Site)
            .where(Site.id == site_id)
            .values(non_ev_load_a=[float(v) for v in load_a], non_ev_load_at=now, updated_at=now)
        )
    found = await get_site(db, site_id)
    assert found is not None
    return found


async def delete_site(db: Database, site_id: int) -> None:
    async with db.write() as conn:
        if (await conn.execute(sa.select(Site.id).where(Site.id == site_id))).first() is None:
            raise NotFound(f"site {site_id} not found")
        child = (await conn.execute(sa.select(Site.id).where(Site.parent_id == site_id))).first()
        if child is not None:
            raise SiteInUse(f"site {site_id} still has circuit {child.id} below it")
        station = (
            await conn.execute(sa.select(Station.id).where(Station.site_id == site_id))
        ).first()
        if station is not None:
            raise SiteInUse(f"site {site_id} still has station {station.id}")
        await conn.execute(sa.delete(Site).where(Site.id == site_id))


async def stations_of(db: Database, site_ids: Sequence[int]) -> dict[str, int]:
    """Station id -> the site it hangs from, for stations on these sites."""
    if not site_ids:
        return {}
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(Station.id, Station.site_id).where(Station.site_id.in_(list(site_ids)))
            )
        ).all()
    return {row.id: int(row.site_id) for row in rows}


async def placements(db: Database) -> dict[str, int]:
    """Every station that hangs from a site, and its site."""
    async with db.read() as conn:
        return await read_placements(conn)


async def read_placements(conn: Conn) -> dict[str, int]:
    """`placements` inside a read the caller holds."""
    rows = (
        await conn.execute(
            sa.select(Station.id, Station.site_id).where(Station.site_id.is_not(None))
        )
    ).all()
    return {row.id: int(row.site_id) for row in rows}


async def site_of_station(db: Database, station_id: str) -> int | None:
    async with db.read() as conn:
        return (  # type: ignore[no-any-return]
            await conn.execute(sa.select(Station.site_id).where(Station.id == station_id))
        ).scalar_one_or_none()


async def place_station(db: Database, station_id: str, site_id: int | None) -> int | None:
    """Hang the station from `site_id` (None: from no site). Returns the site
    it hung from before."""
    async with db.write(station_id) as conn:
        before = (
            await conn.execute(sa.select(Station.site_id).where(Station.id == station_id))
        ).first()
        if before is None:
            raise NotFound(f"station {station_id} not found")
        if site_id is not None:
            found = (await conn.execute(sa.select(Site.id).where(Site.id == site_id))).first()
            if found is None:
                raise SiteError(f"site {site_id} not found")
        await conn.execute(
            sa.update(Station).where(Station.id == station_id).values(site_id=site_id)
        )
        await conn.execute(
            sa.update(EvseAllocation)
            .where(EvseAllocation.station_id == station_id)
            .values(site_id=site_id)
        )
    return before.site_id  # type: ignore[no-any-return]


async def set_priority(db: Database, station_id: str, evse_id: int, priority: int) -> None:
    """An EVSE's priority (higher first), kept in its allocation row."""
    async with db.write(station_id) as conn:
        station = (
            await conn.execute(sa.select(Station.site_id).where(Station.id == station_id))
        ).first()
        if station is None:
            raise NotFound(f"station {station_id} not found")
        now = utcnow()
        await conn.execute(
            db.insert(EvseAllocation)
            .values(
                station_id=station_id,
                evse_id=evse_id,
                site_id=station.site_id,
                limit_a=0.0,
                phases=3,
                priority=priority,
                status="Idle",
                updated_at=now,
            )
            .on_conflict_do_update(
                index_elements=["station_id", "evse_id"],
                set_={"priority": priority, "updated_at": now},
            )
        )
