"""Sites and circuits (load management): a tree of grid connections,
sub-panels and stations, each node with a limit the allocator keeps to
(docs/smart-charging.md, "Sites and load management").

The allocator runs on the leader (smart_charging/leader.py): a route that
recomputes has the leader run and waits for it, whichever node answers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, model_validator

from volta.blocks.smart_charging import leader
from volta.blocks.smart_charging import sites as site_store
from volta.blocks.smart_charging.allocator import phase_set
from volta.blocks.smart_charging.engine import Engine, engine_of
from volta.blocks.smart_charging.sites import NotFound, SiteError, SiteInUse, SiteRecord
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import EvseAllocation

router = APIRouter(tags=["sites"])

Current = Annotated[float, Field(gt=0, le=100_000, description="per phase, in A")]
Power = Annotated[float, Field(gt=0, le=1_000_000_000, description="over all phases, in W")]
Strategy = Literal["equal", "priority", "first_come"]
SiteId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class SiteCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    max_current_a: Current | None = None
    max_power_w: Power | None = None
    phases: Literal[1, 3] = 3
    parent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    strategy: Strategy = "equal"
    min_current_a: float = Field(6.0, ge=0, le=100, description="below it an EVSE is paused")
    voltage_v: float = Field(230.0, gt=0, le=1000, description="phase voltage, for W limits")
    meter_station_id: str | None = Field(None, min_length=1, max_length=48)
    group_priorities: dict[str, int] | None = Field(
        None, description="with strategy priority: a token group's priority (higher first)"
    )

    @model_validator(mode="after")
    def _a_limit(self) -> SiteCreate:
        if self.max_current_a is None and self.max_power_w is None:
            raise ValueError("give max_current_a or max_power_w")
        return self


class SiteUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    max_current_a: Current | None = None
    max_power_w: Power | None = None
    phases: Literal[1, 3] | None = None
    parent_id: int | None = Field(None, ge=1, le=2**31 - 1)
    strategy: Strategy | None = None
    min_current_a: float | None = Field(None, ge=0, le=100)
    voltage_v: float | None = Field(None, gt=0, le=1000)
    meter_station_id: str | None = Field(None, min_length=1, max_length=48)
    group_priorities: dict[str, int] | None = None


class LimitIn(BaseModel):
    """The run-time signal: replaces the site's limit (one of the two, or both)."""

    max_current_a: Current | None = None
    max_power_w: Power | None = None

    @model_validator(mode="after")
    def _a_limit(self) -> LimitIn:
        if self.max_current_a is None and self.max_power_w is None:
            raise ValueError("give max_current_a or max_power_w")
        return self


class MeterIn(BaseModel):
    non_ev_load_a: list[Annotated[float, Field(ge=0, le=100_000)]] = Field(
        min_length=1, max_length=3, description="non-EV current per phase (L1, L2, L3), in A"
    )


class PriorityIn(BaseModel):
    priority: int = Field(ge=-1000, le=1000, description="higher first")


class EvseAllocationOut(BaseModel):
    station_id: str
    evse_id: int = Field(description="0: the station's fallback TxDefaultProfile")
    limit_a: float = Field(description="per phase, in A (0: paused)")
    drawn_a: float | None = Field(None, description="the last measured current, per phase")
    phases: int
    priority: int
    transaction_id: str | None
    status: str = Field(description="the station's answer: Accepted, Rejected, Failed, ...")
    updated_at: dt.datetime


class SiteOut(BaseModel):
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
    limit_a: list[float] = Field(description="per phase, net of the non-EV load")
    allocated_a: list[float] = Field(
        description="per phase: the sum of the limits of the charging EVSEs below it"
    )
    children: list[int]
    stations: list[str]
    allocations: list[EvseAllocationOut] = Field(description="the EVSEs of its own stations")
    created_at: dt.datetime
    updated_at: dt.datetime


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


async def _out(services: Services, engine: Engine, site: SiteRecord) -> SiteOut:
    sites = await engine.sites()
    placed = await site_store.stations_of(services.db, [site.id])
    below = [s.id for s in site_store.subtree(sites, site.id)] if site.id in sites else [site.id]
    async with services.db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(EvseAllocation)
                .where(EvseAllocation.site_id.in_(below))
                .order_by(EvseAllocation.station_id, EvseAllocation.evse_id)
            )
        ).all()
    allocated = [0.0, 0.0, 0.0]
    allocations = []
    for row in rows:
        if row.evse_id > 0 and row.transaction_id is not None:
            for p in phase_set(row.phases):
                allocated[p] += row.limit_a
        if row.station_id not in placed:
            continue
        live = engine.live.get((row.station_id, row.evse_id))
        allocations.append(
            EvseAllocationOut(
                station_id=row.station_id,
                evse_id=row.evse_id,
                limit_a=row.limit_a,
                drawn_a=live.draw_a if live is not None else None,
                phases=row.phases,
                priority=row.priority,
                transaction_id=row.transaction_id,
                status=row.status,
                updated_at=row.updated_at,
            )
        )
    values = {name: getattr(site, name) for name in SiteRecord.__slots__}
    return SiteOut(
        **values,
        limit_a=list(site.node().limit_a),
        allocated_a=[round(v, 1) for v in allocated],
        children=[s.id for s in sites.values() if s.parent_id == site.id],
        stations=sorted(placed),
        allocations=allocations,
    )


async def _require(engine: Engine, site_id: int) -> SiteRecord:
    site = (await engine.sites()).get(site_id)
    if site is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} not found")
    return site


@router.post("/sites", response_model=SiteOut, status_code=201)
async def create_site(body: SiteCreate, services: ServicesDep) -> SiteOut:
    engine = engine_of(services)
    try:
        site = await site_store.create_site(services.db, **body.model_dump())
    except SiteError as exc:
        raise _invalid("parent_id", str(exc)) from None
    await leader.tree_changed(services)
    return await _out(services, engine, site)


@router.get("/sites", response_model=list[SiteOut])
async def list_sites(services: ServicesDep) -> list[SiteOut]:
    engine = engine_of(services)
    engine.tree_changed()
    return [await _out(services, engine, s) for s in (await engine.sites()).values()]


@router.get("/sites/{site_id}", response_model=SiteOut)
async def get_site(site_id: SiteId, services: ServicesDep) -> SiteOut:
    engine = engine_of(services)
    return await _out(services, engine, await _require(engine, site_id))


@router.patch("/sites/{site_id}", response_model=SiteOut)
async def update_site(site_id: SiteId, body: SiteUpdate, services: ServicesDep) -> SiteOut:
    engine = engine_of(services)
    before = await _require(engine, site_id)
    values = body.model_dump(exclude_unset=True)
    for name in ("name", "phases", "strategy", "min_current_a", "voltage_v"):
        if name in values and values[name] is None:
            raise _invalid(name, "may not be null")
    try:
        site = await site_store.update_site(services.db, site_id, **values)
    except SiteError as exc:
        raise _invalid("parent_id" if "cycle" in str(exc) else "max_current_a", str(exc)) from None
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    old_root = site_store.root_of(await engine.sites(), before.id)
    await leader.tree_changed(services)
    await leader.recompute(services, old_root, site_id)
    return await _out(services, engine, site)


@router.delete("/sites/{site_id}", status_code=204)
async def delete_site(site_id: SiteId, services: ServicesDep) -> Response:
    try:
        await site_store.delete_site(services.db, site_id)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except SiteInUse as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await leader.tree_changed(services)
    return Response(status_code=204)


@router.put("/sites/{site_id}/limit", response_model=SiteOut)
async def set_limit(site_id: SiteId, body: LimitIn, services: ServicesDep) -> SiteOut:
    """Change the limit at run time (a grid operator's signal, a tariff
    window): the tree is recomputed and the changed profiles sent before
    this answers."""
    engine = engine_of(services)
    await _require(engine, site_id)
    try:
        site = await site_store.set_limit(
            services.db, site_id, body.max_current_a, body.max_power_w
        )
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await leader.tree_changed(services)
    await leader.recompute(services, site_id)
    return await _out(services, engine, site)


@router.post("/sites/{site_id}/meter", response_model=SiteOut)
async def push_meter(site_id: SiteId, body: MeterIn, services: ServicesDep) -> SiteOut:
    """Peak shaving: a building meter's non-EV load; the allocator divides
    the limit less this load."""
    engine = engine_of(services)
    await _require(engine, site_id)
    site = await site_store.record_non_ev_load(services.db, site_id, body.non_ev_load_a)
    await leader.tree_changed(services)
    await leader.recompute(services, site_id)
    return await _out(services, engine, site)


@router.put("/stations/{station_id}/evses/{evse_id}/priority", status_code=204)
async def set_priority(
    station_id: str,
    evse_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: PriorityIn,
    services: ServicesDep,
) -> Response:
    """An EVSE's priority with the priority strategy (higher first; also
    who is paused last with the others)."""
    try:
        await site_store.set_priority(services.db, station_id, evse_id, body.priority)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await leader.touch(services, station_id)
    return Response(status_code=204)


async def place_station(services: Services, station_id: str, site_id: int | None) -> None:
    """`site_id` of PUT / PATCH /stations/{id}: hang the station from a site
    (None: from none); both trees are recomputed and its fallback sent."""
    try:
        before = await site_store.place_station(services.db, station_id, site_id)
    except SiteError as exc:
        raise _invalid("site_id", str(exc)) from None
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    await leader.tree_changed(services)
    await leader.placed(services, station_id, before, site_id)


def site_fields(values: dict[str, Any]) -> tuple[bool, int | None]:
    """Whether a station update names a site, and which."""
    return "site_id" in values, values.pop("site_id", None)
