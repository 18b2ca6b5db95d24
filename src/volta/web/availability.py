"""The dashboard's availability page and maintenance windows; the charger
profile a station matched."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from volta.blocks.availability import service as availability
from volta.blocks.charger_profiles import service as charger_profiles
from volta.blocks.charger_profiles.profiles import ProfileError
from volta.blocks.smart_charging import sites
from volta.http import ServicesDep
from volta.web import i18n
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, _field, _form, notice, render

log = logging.getLogger(__name__)


def spell(seconds: float) -> str:
    """A duration as hours and minutes ("3 h 05 min"; the units are the
    same in Italian)."""
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


router = APIRouter(include_in_schema=False)

DEFAULT_DAYS = 30


def _day(value: str, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip()[:10]) if value.strip() else default
    except ValueError:
        return default


def _period(start: str, end: str) -> tuple[dt.date, dt.date]:
    today = dt.datetime.now(dt.UTC).date()
    last = _day(end, today)
    first = _day(start, last - dt.timedelta(days=DEFAULT_DAYS - 1))
    if first > last:
        first = last
    return first, last


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


async def _page(
    request: Request,
    services: ServicesDep,
    start: str = "",
    end: str = "",
    site_id: str = "",
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    # One page of stations (by id: a stable order; search in the id), each
    # with its EVSEs' uptime: 20,000 stations are never reported at once
    # (the CSV of the API has them all).
    p = paging(request)
    p.params = {"start": start, "end": end, "site_id": site_id}
    p.path = "/availability"
    first, last = _period(start, end)
    site = int(site_id) if site_id.strip().isdigit() else None
    all_sites = await sites.all_sites(services.db)
    if site is not None and site not in all_sites:
        site = None
    report = None
    try:
        station_ids = p.window(
            await availability.page_stations(
                services.db, site_id=site, q=p.q or None, limit=p.limit, offset=p.offset
            )
        )
        report = await availability.report(
            services.db,
            _midnight(first),
            _midnight(last + dt.timedelta(days=1)),
            station_ids=station_ids,
        )
    except availability.ReportRefused as exc:
        problem = problem or tr(request, "No report: {why}", why=str(exc))
    windows = await availability.list_windows(
        services.db,
        start=_midnight(first),
        end=_midnight(last + dt.timedelta(days=1)),
        limit=200,
    )
    params = {"from": _midnight(first).isoformat(), "to": _midnight(last).isoformat()}
    params["to"] = _midnight(last + dt.timedelta(days=1)).isoformat()
    if site is not None:
        params["site_id"] = str(site)
    return render(
        request,
        "availability.html",
        status_code,
        report=report,
        first=first,
        last=last,
        site=site,
        sites=sorted(all_sites.values(), key=lambda s: s.name),
        site_names={s.id: s.name for s in all_sites.values()},
        windows=windows,
        csv_query=urlencode(params),
        spell=spell,
        p=p,
        problem=problem,
    )


@router.get("/availability")
async def availability_page(
    request: Request,
    user: User,
    services: ServicesDep,
    start: str = "",
    end: str = "",
    site_id: str = "",
) -> HTMLResponse:
    return await _page(
        request, services, start.strip()[:10], end.strip()[:10], site_id.strip()[:10]
    )


@router.post("/availability/maintenance-windows")
async def add_window(request: Request, user: Admin, services: ServicesDep) -> HTMLResponse:
    form = await _form(request)
    values: dict[str, Any] = {"reason": _field(form, "reason")[:200]}
    here = i18n.for_request(request)
    try:
        # Typed in the user's time zone (My account), stored in UTC.
        for name in ("starts_at", "ends_at"):
            values[name] = i18n.parse_local(_field(form, name), here)
            if values[name] is None:
                raise ValueError(tr(request, "a date and time is needed"))
        station = _field(form, "station_id")[:48]
        evse = _field(form, "evse_id")
        site = _field(form, "site_id")
        values["station_id"] = station or None
        values["evse_id"] = int(evse) if evse else None
        values["site_id"] = int(site) if site else None
        if any(
            v is not None and not 0 <= v < 2**31 for v in (values["evse_id"], values["site_id"])
        ):
            raise ValueError("numbers out of range")
        await availability.add_window(services.db, created_by=user["username"], **values)
    except (ValueError, availability.WindowRefused) as exc:
        return await _page(
            request,
            services,
            _field(form, "start"),
            _field(form, "end"),
            _field(form, "site"),
            problem=tr(request, "Maintenance window not added: {why}", why=str(exc)),
            status_code=422,
        )
    log.info("dashboard: %s marked a maintenance window", user["username"])
    return await _page(
        request, services, _field(form, "start"), _field(form, "end"), _field(form, "site")
    )


@router.post("/availability/maintenance-windows/{window_id}/delete")
async def delete_window(
    request: Request, window_id: int, user: Admin, services: ServicesDep
) -> HTMLResponse:
    form = await _form(request)
    if not 0 <= window_id < 2**31 or not await availability.delete_window(services.db, window_id):
        return notice(request, tr(request, "No maintenance window {id}.", id=window_id), "bad", 404)
    log.info("dashboard: %s deleted maintenance window %d", user["username"], window_id)
    return await _page(
        request, services, _field(form, "start"), _field(form, "end"), _field(form, "site")
    )


@router.get("/stations/{station_id}/charger-profile")
async def station_charger_profile(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> Any:
    found = await charger_profiles.matched(services, station_id[:48])
    if not found:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    profile, problem = None, None
    if found[0]["profile"]:
        try:
            profile = charger_profiles.catalogue(services.settings).by_id.get(found[0]["profile"])
        except ProfileError as exc:
            problem = str(exc)
    return render(
        request, "_station_charger_profile.html", match=found[0], profile=profile, problem=problem
    )
