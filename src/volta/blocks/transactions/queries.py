"""Reading transactions: lists, one session with its meter values, totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from volta.store.db import Database
from volta.store.models import TRANSACTIONS, Cdr, MeterValue, Transaction, utcnow
from volta.store.search import text_in

TX_BY_STATION_TX = sa.select(TRANSACTIONS).where(
    TRANSACTIONS.c.station_id == sa.bindparam("station_id"),
    TRANSACTIONS.c.station_transaction_id == sa.bindparam("station_tx"),
)


@dataclass(frozen=True)
class SessionFilter:
    """The console's filters on the session list (each None: no filter).
    `started_from` / `started_to`: started at or after / before (UTC);
    `cost_min` / `cost_max`: the CDR's total with tax (ended sessions a tariff
    priced); `search`: text anywhere in the station, token or the station's
    transaction id (or the session's id, when `search_id`)."""

    id_token: str | None = None
    charging_state: str | None = None
    started_from: dt.datetime | None = None
    started_to: dt.datetime | None = None
    cost_min: Decimal | None = None
    cost_max: Decimal | None = None
    search: str | None = None
    search_id: int | None = None


async def list_transactions(
    db: Database,
    *,
    station_id: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    where: SessionFilter | None = None,
) -> list[dict[str, Any]]:
    """Sessions, newest id first; with `where` (the console's filters), newest
    start first (the id breaks ties) and each with its CDR's `cost` and
    `currency` (None without a CDR or a tariff)."""
    if where is None:
        stmt = sa.select(Transaction).order_by(Transaction.id.desc())
    else:
        stmt = (
            sa.select(
                Transaction,
                sa.case((Cdr.tariff_id.is_not(None), Cdr.total_incl_tax)).label("cost"),
                Cdr.currency.label("currency"),
            )
            .outerjoin(Cdr, Cdr.transaction_id == Transaction.id)
            .order_by(Transaction.started_at.desc(), Transaction.id.desc())
        )
        stmt = _filtered(stmt, where)
    stmt = stmt.limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(Transaction.station_id == station_id)
    if active is not None:
        stmt = stmt.where(Transaction.status == ("Active" if active else "Ended"))
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


def _filtered(stmt: Any, f: SessionFilter) -> Any:
    if f.id_token is not None:
        stmt = stmt.where(Transaction.id_token == f.id_token)
    if f.charging_state is not None:
        stmt = stmt.where(Transaction.charging_state == f.charging_state)
    if f.started_from is not None:
        stmt = stmt.where(Transaction.started_at >= f.started_from)
    if f.started_to is not None:
        stmt = stmt.where(Transaction.started_at < f.started_to)
    if f.cost_min is not None or f.cost_max is not None:
        stmt = stmt.where(Cdr.tariff_id.is_not(None))
    if f.cost_min is not None:
        stmt = stmt.where(Cdr.total_incl_tax >= f.cost_min)
    if f.cost_max is not None:
        stmt = stmt.where(Cdr.total_incl_tax <= f.cost_max)
    if f.search:
        found = [
            text_in(
                f.search,
                Transaction.station_id,
                Transaction.id_token,
                Transaction.station_transaction_id,
            )
        ]
        if f.search_id is not None:
            found.append(Transaction.id == f.search_id)
        stmt = stmt.where(sa.or_(*found))
    return stmt


async def find_v201(db: Database, station_id: str, station_tx: str) -> Any:
    """The stored row of a 2.0.1 transaction, by the station's id, or None."""
    async with db.read() as conn:
        return (
            await conn.execute(
                TX_BY_STATION_TX, {"station_id": station_id, "station_tx": station_tx}
            )
        ).first()


async def get_transaction(db: Database, transaction_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(Transaction).where(Transaction.id == transaction_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        values = (
            (
                await conn.execute(
                    sa.select(MeterValue)
                    .where(MeterValue.transaction_id == transaction_id)
                    .order_by(MeterValue.timestamp, MeterValue.id)
                )
            )
            .mappings()
            .all()
        )
    tx = dict(row)
    tx["meter_values"] = [dict(v) for v in values]
    return tx


async def daily_totals(db: Database, *, days: int = 30) -> list[dict[str, Any]]:
    """Sessions started and energy delivered per UTC day, oldest first, for the
    last `days` days (days without sessions are left out)."""
    since = utcnow() - dt.timedelta(days=days)
    column = Transaction.started_at
    day: Any = (
        sa.func.date(column) if db.is_sqlite else sa.cast(sa.func.timezone("UTC", column), sa.Date)
    )
    stmt = (
        sa.select(
            day.label("day"),
            sa.func.count().label("sessions"),
            sa.func.coalesce(sa.func.sum(Transaction.energy_wh), 0.0).label("energy_wh"),
        )
        .where(column >= since)
        .group_by(day)
        .order_by(day)
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        {"day": str(r["day"]), "sessions": int(r["sessions"]), "energy_wh": float(r["energy_wh"])}
        for r in rows
    ]
