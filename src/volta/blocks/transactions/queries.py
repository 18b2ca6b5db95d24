"""Reading transactions: lists, one session with its meter values, totals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from volta.store.db import Database
from volta.store.models import TRANSACTIONS, MeterValue, Transaction, utcnow

TX_BY_STATION_TX = sa.select(TRANSACTIONS).where(
    TRANSACTIONS.c.station_id == sa.bindparam("station_id"),
    TRANSACTIONS.c.station_transaction_id == sa.bindparam("station_tx"),
)


async def list_transactions(
    db: Database,
    *,
    station_id: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = sa.select(Transaction).order_by(Transaction.id.desc()).limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(Transaction.station_id == station_id)
    if active is not None:
        stmt = stmt.where(Transaction.status == ("Active" if active else "Ended"))
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


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
