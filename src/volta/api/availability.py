"""Availability reporting: uptime per EVSE and per site over a period
(JSON and CSV), and the planned maintenance windows not counted against it."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from volta.api.models import INT32_MAX, Id, Offset
from volta.blocks.availability import service as availability
from volta.http import ServicesDep
from volta.store.models import utcnow

router = APIRouter(tags=["availability"])

DEFAULT_DAYS = 30


class EvseUptimeOut(BaseModel):
    station_id: str
    evse_id: int
    site_id: int | None
    period_start: dt.datetime = Field(description="from, or when the station was registered")
    period_end: dt.datetime = Field(description="to, or now when `to` is later")
    period_seconds: float
    outage_seconds: float = Field(description="offline, or faulted / unavailable")
    excluded_seconds: float = Field(description="the outage inside maintenance windows")
    uptime_percent: float | None = Field(
        description="100 x (period - (outage - excluded)) / period (23 CFR 680.116(b))"
    )


class SiteUptimeOut(BaseModel):
    site_id: int | None
    uptime_percent: float | None


class AvailabilityOut(BaseModel):
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime
    uptime_percent: float | None = Field(description="over every EVSE reported")
    sites: list[SiteUptimeOut]
    evses: list[EvseUptimeOut]


class WindowIn(BaseModel):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    station_id: str | None = Field(None, max_length=48, description="one station (or all)")
    evse_id: int | None = Field(None, ge=0, le=INT32_MAX, description="one EVSE of it")
    site_id: int | None = Field(None, ge=0, le=INT32_MAX, description="one site (or all)")
    reason: str = Field("", max_length=200)


class WindowOut(BaseModel):
    id: int
    station_id: str | None
    evse_id: int | None
    site_id: int | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    created_by: str
    created_at: dt.datetime


async def _report(
    services: ServicesDep,
    from_: dt.datetime | None,
    to: dt.datetime | None,
    site_id: int | None,
    station_id: str | None,
) -> availability.Report:
    end = to or utcnow()
    start = from_ or end - dt.timedelta(days=DEFAULT_DAYS)
    try:
        return await availability.report(
            services.db, start, end, site_id=site_id, station_id=station_id
        )
    except availability.ReportRefused as exc:
        raise HTTPException(422, str(exc)) from exc


FromQ = Annotated[
    AwareDatetime | None, Query(alias="from", description="start, with zone (default: 30 days ago)")
]
ToQ = Annotated[AwareDatetime | None, Query(description="end, with zone (default: now)")]
SiteQ = Annotated[int | None, Query(ge=0, le=INT32_MAX, description="a site and its circuits")]
StationQ = Annotated[str | None, Query(max_length=48)]


@router.get("/availability", response_model=AvailabilityOut, response_model_by_alias=True)
async def get_availability(
    services: ServicesDep,
    from_: FromQ = None,
    to: ToQ = None,
    site_id: SiteQ = None,
    station_id: StationQ = None,
) -> AvailabilityOut:
    """Uptime per EVSE over [from, to), per site and overall (at most 366 days)."""
    rep = await _report(services, from_, to, site_id, station_id)
    return AvailabilityOut.model_validate(
        {
            "from": rep.start,
            "to": rep.end,
            "uptime_percent": rep.uptime_percent,
            "sites": [
                {"site_id": s, "uptime_percent": u}
                for s, u in sorted(
                    rep.by_site().items(), key=lambda kv: (kv[0] is None, kv[0] or 0)
                )
            ],
            "evses": [
                {
                    "station_id": e.station_id,
                    "evse_id": e.evse_id,
                    "site_id": e.site_id,
                    "period_start": e.period_start,
                    "period_end": e.period_end,
                    "period_seconds": e.period_seconds,
                    "outage_seconds": e.outage_seconds,
                    "excluded_seconds": e.excluded_seconds,
                    "uptime_percent": e.uptime_percent,
                }
                for e in rep.evses
            ],
        }
    )


@router.get("/availability.csv", response_class=Response)
async def get_availability_csv(
    services: ServicesDep,
    from_: FromQ = None,
    to: ToQ = None,
    site_id: SiteQ = None,
    station_id: StationQ = None,
) -> Response:
    """The same report as CSV, one row per EVSE (columns in docs/api.md)."""
    rep = await _report(services, from_, to, site_id, station_id)
    out = io.StringIO()
    csv.writer(out).writerows(availability.csv_rows(rep))
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="availability.csv"'},
    )


@router.post("/maintenance-windows", response_model=WindowOut, status_code=201)
async def add_maintenance_window(services: ServicesDep, body: WindowIn) -> WindowOut:
    """Mark planned maintenance: outage inside it is excluded from uptime."""
    try:
        row = await availability.add_window(services.db, created_by="api", **body.model_dump())
    except availability.WindowRefused as exc:
        raise HTTPException(422, str(exc)) from exc
    return WindowOut(**row)


@router.get("/maintenance-windows", response_model=list[WindowOut])
async def list_maintenance_windows(
    services: ServicesDep,
    from_: FromQ = None,
    to: ToQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[WindowOut]:
    """Windows overlapping [from, to), latest first."""
    rows = await availability.list_windows(
        services.db, start=from_, end=to, limit=limit, offset=offset
    )
    return [WindowOut(**r) for r in rows]


@router.delete("/maintenance-windows/{window_id}", status_code=204)
async def delete_maintenance_window(services: ServicesDep, window_id: Id) -> Response:
    if not await availability.delete_window(services.db, window_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id}")
    return Response(status_code=204)
