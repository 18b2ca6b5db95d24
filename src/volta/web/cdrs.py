"""The console's charge detail records: the list (filters by station, id
token, end date in the user's time zone, least cost and flag; search; pages;
newest first, the CDR id breaking ties), the CSV of the filtered list, a
CDR's page and its OCPI 2.2.1 JSON.

The exports are the block's own (`volta.blocks.tariffs.cdr.to_csv`,
`to_ocpi`), the ones the HTTP API's `/api/v1/cdrs.csv` and
`/api/v1/cdrs/{id}?format=ocpi` write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse

from volta.blocks.payment import service as payment
from volta.blocks.tariffs import cdr, service
from volta.http import ServicesDep
from volta.web import i18n
from volta.web.paging import Paging, paging
from volta.web.views import User, render, templates

router = APIRouter(include_in_schema=False)

FILTERS = ("station_id", "id_token", "from", "to", "min_total", "flag")
# At most this many rows in one CSV (the API's limit too).
CSV_ROWS = 10_000


def when_iso(text: str | None) -> str:
    """A time the breakdown keeps as ISO text, as `when` writes it."""
    if not text:
        return "-"
    try:
        return i18n.when(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


templates.env.filters["when_iso"] = when_iso


@dataclass(frozen=True, slots=True)
class CdrFilters:
    station_id: str | None
    id_token: str | None
    since: dt.datetime | None
    until: dt.datetime | None
    min_total: Decimal | None
    flag: str | None
    search: str | None

    async def rows(self, services: Any, limit: int, offset: int) -> list[dict[str, Any]]:
        return await service.list_cdrs(
            services.db,
            station_id=self.station_id,
            id_token=self.id_token,
            since=self.since,
            until=self.until,
            min_total=self.min_total,
            flag=self.flag,
            search=self.search,
            limit=limit,
            offset=offset,
            newest_first=True,
        )


def _filters(request: Request, p: Paging) -> CdrFilters:
    """The list's filters from the query string; 422 for one that is not
    what it says (a date, an amount, a known flag)."""
    here = i18n.for_request(request)
    params = p.params
    times: dict[str, dt.datetime | None] = {}
    for name in ("from", "to"):
        try:
            times[name] = i18n.parse_local(params.get(name, ""), here)
        except ValueError:
            raise HTTPException(422, f"{name}: not a date and time") from None
    min_total = None
    if params.get("min_total"):
        try:
            min_total = Decimal(params["min_total"].replace(",", "."))
        except InvalidOperation:
            raise HTTPException(422, "min_total: not an amount") from None
        if not min_total.is_finite():
            raise HTTPException(422, "min_total: not an amount")
    flag = params.get("flag") or None
    if flag is not None and flag not in service.CDR_FLAGS:
        raise HTTPException(422, f"flag: one of {', '.join(service.CDR_FLAGS)}")
    return CdrFilters(
        station_id=params.get("station_id") or None,
        id_token=params.get("id_token") or None,
        since=times["from"],
        until=times["to"],
        min_total=min_total,
        flag=flag,
        search=p.q or None,
    )


def _export_url(p: Paging) -> str:
    """The CSV of the list as filtered (every page)."""
    kept = Paging(path="/cdrs.csv", q=p.q, params=p.params)
    return kept.url()


@router.get("/cdrs")
async def cdrs_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = paging(request, *FILTERS)
    found = _filters(request, p)
    rows = p.window(await found.rows(services, p.limit, p.offset))
    return render(
        request,
        "cdrs.html",
        p=p,
        cdrs=rows,
        flags=service.CDR_FLAGS,
        export_url=_export_url(p),
    )


@router.get("/cdrs.csv")
async def cdrs_csv(request: Request, user: User, services: ServicesDep) -> Response:
    p = paging(request, *FILTERS)
    rows = await _filters(request, p).rows(services, CSV_ROWS, 0)
    return Response(
        cdr.to_csv([cdr.summary(r) for r in rows]),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="cdrs.csv"'},
    )


async def _cdr(services: Any, cdr_id: str) -> dict[str, Any]:
    found = await service.get_cdr(services.db, cdr_id[:39])
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"CDR {cdr_id[:39]} not found")
    return found


@router.get("/cdrs/{cdr_id}/ocpi.json")
async def cdr_ocpi(cdr_id: str, user: User, services: ServicesDep) -> Response:
    found = await _cdr(services, cdr_id)
    return Response(
        cdr.dumps(cdr.to_ocpi(found)),
        media_type="application/json",
        headers={"Content-Disposition": f'inline; filename="{found["id"]}.json"'},
    )


@router.get("/cdrs/{cdr_id}")
async def cdr_page(
    request: Request, cdr_id: str, user: User, services: ServicesDep
) -> HTMLResponse:
    found = await _cdr(services, cdr_id)
    settlements = await payment.settlements_of(services.db, found["transaction_id"])
    return render(request, "cdr.html", c=found, settlements=settlements)
