"""The dashboard's smart-charging pages: sites (the tree, the limit, and a
live chart of limit vs allocated vs drawn) and the charging profiles on a
station page. Read-only: data comes from `blocks.smart_charging.queries`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from volta.blocks.smart_charging import queries
from volta.http import ServicesDep
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import User, render

router = APIRouter(include_in_schema=False)


@router.get("/sites")
async def sites_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    """Sites by name (the id last: a stable order), one page at a time,
    searched by name; only the page's sites and their stations are read."""
    p = paging(request)
    rows = p.window(
        await queries.list_sites(services.db, q=p.q or None, limit=p.limit, offset=p.offset)
    )
    parents = {r.site.parent_id for r in rows if r.site.parent_id is not None}
    names = await queries.site_names(services.db, parents)
    return render(request, "sites.html", sites=rows, names=names, p=p)


async def _site(request: Request, services: ServicesDep, site_id: int) -> queries.SiteView:
    view = await queries.site_view(services.db, site_id) if 0 <= site_id < 2**31 else None
    if view is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, tr(request, "Site {id} not found.", id=site_id)
        )
    return view


@router.get("/sites/{site_id}")
async def site_page(
    request: Request, site_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return render(request, "site.html", view=await _site(request, services, site_id))


@router.get("/sites/{site_id}/live")
async def site_live(
    request: Request, site_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return render(request, "_site_live.html", view=await _site(request, services, site_id))


@router.get("/stations/{station_id}/profiles")
async def station_profiles(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    rows = await queries.station_profiles(services.db, station_id)
    return render(request, "_station_profiles.html", profiles=rows, station_id=station_id)
