"""The dashboard's smart-charging pages: sites (the tree, the limit, and a
live chart of limit vs allocated vs drawn) and the charging profiles on a
station page. Read-only: data comes from `blocks.smart_charging.queries`."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse

from volta.blocks.smart_charging import queries
from volta.http import ServicesDep
from volta.web.views import User, render

router = APIRouter(include_in_schema=False)


@router.get("/sites")
async def sites_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    rows = await queries.list_sites(services.db)
    names = {r.site.id: r.site.name for r in rows}
    return render(request, "sites.html", sites=rows, names=names)


async def _site(services: ServicesDep, site_id: int) -> queries.SiteView:
    view = await queries.site_view(services.db, site_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"site {site_id} not found")
    return view


@router.get("/sites/{site_id}")
async def site_page(
    request: Request, site_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return render(request, "site.html", view=await _site(services, site_id))


@router.get("/sites/{site_id}/live")
async def site_live(
    request: Request, site_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return render(request, "_site_live.html", view=await _site(services, site_id))


@router.get("/stations/{station_id}/profiles")
async def station_profiles(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    rows = await queries.station_profiles(services.db, station_id)
    return render(request, "_station_profiles.html", profiles=rows, station_id=station_id)
