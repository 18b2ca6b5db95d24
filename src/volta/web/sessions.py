"""The console's sessions: the list (filters on the server, pages, CSV export),
a session's page (chart, cost, details) and an admin's Stop and Close.

The list is newest start first, the id breaking ties, so rows never swap
places between two loads. The export streams the same filtered list as CSV,
at most `MAX_EXPORT` rows (the newest), in chunks of `EXPORT_CHUNK`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, StreamingResponse

from volta.blocks.authorization import service as tokens_service
from volta.blocks.remote_control import sessions as remote
from volta.blocks.tariffs import service as tariffs_service
from volta.blocks.transactions import service as transactions
from volta.blocks.transactions.service import SessionFilter
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import utcnow
from volta.web import i18n, paging
from volta.web.i18n import tr
from volta.web.views import Admin, User, _field, _form, _station, notice, render

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

FILTERS = ("station_id", "id_token", "state", "charging", "from", "to", "cost_min", "cost_max")
CHARGING_STATES = ("Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle")
MAX_EXPORT = 100_000
EXPORT_CHUNK = 1_000
CSV_COLUMNS = (
    "id",
    "station_id",
    "evse_id",
    "connector_id",
    "id_token",
    "status",
    "charging_state",
    "stop_reason",
    "started_at",
    "stopped_at",
    "energy_wh",
    "cost",
    "currency",
)


def _date(value: str, name: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name}: not a date (YYYY-MM-DD)") from None


def _amount(value: str, name: str) -> Decimal | None:
    if not value:
        return None
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:
        raise HTTPException(422, f"{name}: not a number") from None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 10:
        raise HTTPException(422, f"{name}: not a number")
    return amount


def _local_midnight(day: dt.date, here: i18n.I18n) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), here.tz).astimezone(dt.UTC)


def session_filter(request: Request, p: paging.Paging) -> tuple[SessionFilter, dict[str, Any]]:
    """The list's filters from the query string (dates in the user's zone,
    `to` included); 422 when a date or an amount is not one."""
    f = p.params
    here = i18n.for_request(request)
    start, end = _date(f.get("from", ""), "from"), _date(f.get("to", ""), "to")
    search_id = int(p.q) if p.q.isdigit() and len(p.q) < 10 else None
    where = SessionFilter(
        id_token=f.get("id_token") or None,
        charging_state=f.get("charging") or None,
        started_from=_local_midnight(start, here) if start else None,
        started_to=_local_midnight(end + dt.timedelta(days=1), here) if end else None,
        cost_min=_amount(f.get("cost_min", ""), "cost_min"),
        cost_max=_amount(f.get("cost_max", ""), "cost_max"),
        search=p.q or None,
        search_id=search_id,
    )
    scope = {
        "station_id": f.get("station_id") or None,
        "active": {"active": True, "ended": False}.get(f.get("state", "")),
    }
    return where, scope


@router.get("/sessions")
async def sessions_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    p = paging.paging(request, *FILTERS)
    where, scope = session_filter(request, p)
    rows = p.window(
        await transactions.list_transactions(
            services.db, **scope, where=where, limit=p.limit, offset=p.offset
        )
    )
    online = services.router.online()
    return render(
        request,
        "sessions.html",
        sessions=rows,
        p=p,
        f=p.params,
        offline={r["station_id"] for r in rows if r["station_id"] not in online},
        charging_states=CHARGING_STATES,
        export_url=p.url().replace("/sessions", "/sessions.csv", 1),
    )


def _csv_line(row: dict[str, Any]) -> str:
    out = io.StringIO()
    values = []
    for column in CSV_COLUMNS:
        value = row.get(column)
        if isinstance(value, dt.datetime):
            value = value.astimezone(dt.UTC).isoformat()
        values.append("" if value is None else value)
    csv.writer(out).writerow(values)
    return out.getvalue()


@router.get("/sessions.csv")
async def sessions_csv(request: Request, user: User, services: ServicesDep) -> StreamingResponse:
    """The filtered list as CSV (times in UTC, ISO 8601), every page of it up
    to MAX_EXPORT rows, streamed in chunks."""
    p = paging.paging(request, *FILTERS)
    where, scope = session_filter(request, p)
    db = services.db

    async def lines() -> AsyncIterator[str]:
        yield ",".join(CSV_COLUMNS) + "\r\n"
        for offset in range(0, MAX_EXPORT, EXPORT_CHUNK):
            rows = await transactions.list_transactions(
                db, **scope, where=where, limit=EXPORT_CHUNK, offset=offset
            )
            yield "".join(_csv_line(r) for r in rows)
            if len(rows) < EXPORT_CHUNK:
                return

    name = f"sessions-{utcnow():%Y%m%d-%H%M%S}.csv"
    log.info("dashboard: %s exports sessions", user["username"])
    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def session_chart(tx: dict[str, Any]) -> dict[str, Any]:
    """The series of the session chart: energy delivered (kWh), power (kW) and
    state of charge (%), each on the times it was sampled."""
    start = tx["meter_start_wh"]
    energy: dict[float, float] = {}
    power: dict[float, float] = {}
    soc: dict[float, float] = {}
    for mv in tx["meter_values"]:
        t = mv["timestamp"].timestamp()
        if mv["measurand"] == "SoC":
            soc[t] = mv["value"]
            continue
        if mv["phase"] or mv["location"] not in (None, "Outlet"):
            continue  # the totals at the outlet only
        if mv["measurand"] == "Energy.Active.Import.Register" and mv["unit"] == "Wh":
            if start is None:
                start = mv["value"]
            energy[t] = round((mv["value"] - start) / 1000, 4)
        elif mv["measurand"] == "Power.Active.Import" and mv["unit"] == "W":
            power[t] = round(mv["value"] / 1000, 3)
    times = sorted({*energy, *power})
    return {
        "x": times,
        "energy": [energy.get(t) for t in times],
        "power": [power.get(t) for t in times],
        "soc_x": sorted(soc),
        "soc": [soc[t] for t in sorted(soc)],
    }


async def _session(services: Services, transaction_id: int) -> dict[str, Any]:
    tx = await transactions.get_transaction(services.db, transaction_id)
    if tx is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"session {transaction_id} not found")
    tx["chart"] = session_chart(tx)
    readings = [e for e in tx["chart"]["energy"] if e is not None]
    tx["energy_so_far_wh"] = readings[-1] * 1000 if readings else None
    cost = await tariffs_service.session_cost(services.db, transaction_id)
    tx["cost"] = cost.breakdown if cost is not None and cost.tariff is not None else None
    tx["stale"] = tx["status"] == "Active" and await _stale(services, tx)
    return tx


async def _stale(services: Services, tx: dict[str, Any]) -> bool:
    """An active session whose station is offline, or silent (nothing heard
    from it, nor of the session, for two heartbeat intervals)."""
    station = await _station(services, tx["station_id"])
    if not station.online:
        return True
    quiet_since = utcnow() - dt.timedelta(seconds=2 * services.settings.heartbeat_interval)
    heard = [
        t
        for t in (station.last_heartbeat_at, station.last_connected_at, tx.get("updated_at"))
        if t is not None
    ]
    return not heard or max(heard) < quiet_since


@router.get("/sessions/{transaction_id}")
async def session_page(
    request: Request, transaction_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    tx = await _session(services, transaction_id)
    token = await tokens_service.get_token(services.db, tx["id_token"]) if tx["id_token"] else None
    return render(request, "session.html", tx=tx, token=token)


@router.get("/sessions/{transaction_id}/live")
async def session_live(
    request: Request, transaction_id: int, user: User, services: ServicesDep
) -> HTMLResponse:
    return render(request, "_session_live.html", tx=await _session(services, transaction_id))


@router.post("/sessions/{transaction_id}/stop")
async def stop_session(
    request: Request, transaction_id: int, user: Admin, services: ServicesDep
) -> HTMLResponse:
    """RemoteStopTransaction / RequestStopTransaction; the station's answer."""
    log.info("dashboard: %s stops session %s", user["username"], transaction_id)
    try:
        command = await remote.stop_session(services, transaction_id)
    except (LookupError, remote.SessionRefused) as exc:
        return notice(request, str(exc), "bad")
    return render(request, "_command_result.html", command=command)


@router.post("/sessions/{transaction_id}/close")
async def close_session(
    request: Request, transaction_id: int, user: Admin, services: ServicesDep
) -> HTMLResponse:
    """Close a stale session without asking its station (it ends on its last
    known reading, ended by the operator, with the reason given)."""
    reason = _field(await _form(request), "reason")[:200] or "closed from the console"
    try:
        row = await transactions.close_by_operator(services.db, transaction_id, reason)
    except LookupError:
        raise HTTPException(404, f"session {transaction_id} not found") from None
    except transactions.SessionNotActive:
        return notice(request, tr(request, "Session {id} has already ended.", id=transaction_id))
    log.info("dashboard: %s closed session %s", user["username"], transaction_id)
    message = tr(
        request,
        "Session {id} closed on {energy}.",
        id=transaction_id,
        energy=_kwh(request, row.get("energy_wh")),
    )
    return notice(request, message)


def _kwh(request: Request, wh: float | None) -> str:
    token = i18n.activate(i18n.for_request(request))
    try:
        return i18n.kwh(wh)
    finally:
        i18n.deactivate(token)
