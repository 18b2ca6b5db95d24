"""Limits by energy, time and money: when one is reached Volta records it
with a `limit.reached` event and has the session stopped (remote_control's
housekeeping asks the station, and asks again if it goes on)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from volta.blocks.transactions.live import live_of
from volta.events import service as events
from volta.store.db import Conn, Database
from volta.store.models import TRANSACTIONS, Transaction, utcnow

_REACHED = (
    TRANSACTIONS.update()
    .where(TRANSACTIONS.c.id == sa.bindparam("tx_id"), TRANSACTIONS.c.limit_reached.is_(None))
    .values(
        limit_reached=sa.bindparam("kind"),
        limit_reached_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
)


async def limit_reached(conn: Conn, tx: Any, kind: str, limit: Any, value: Any) -> bool:
    """Record that `tx` reached a limit, once: False when another writer (the
    hot path, housekeeping) recorded one first, and then no event is raised."""
    result = await conn.execute(_REACHED, {"tx_id": tx.id, "kind": kind, "now": utcnow()})
    if not result.rowcount:
        return False
    await events.emit(
        conn,
        "limit.reached",
        station_id=tx.station_id,
        transaction_id=tx.id,
        evse_id=tx.evse_id,
        kind=kind,
        limit=limit,
        value=value,
    )
    return True


def _mark(db: Database, tx_id: int, kind: str) -> None:
    live = live_of(db).get(tx_id)
    if live is not None:
        live.limit_reached = kind


async def time_limits_due(db: Database) -> int:
    """Sessions past their time limit with no meter value to tell (late or
    missing meter values must not let a session run on)."""
    now = utcnow()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(TRANSACTIONS).where(
                    TRANSACTIONS.c.status == "Active",
                    TRANSACTIONS.c.limit_reached.is_(None),
                    TRANSACTIONS.c.limit_seconds.is_not(None),
                    TRANSACTIONS.c.started_at.is_not(None),
                )
            )
        ).all()
    due = [r for r in rows if (now - r.started_at).total_seconds() >= r.limit_seconds]
    for tx in due:
        async with db.write(tx.station_id) as conn:
            await limit_reached(
                conn, tx, "time", tx.limit_seconds, round((now - tx.started_at).total_seconds())
            )
        _mark(db, tx.id, "time")
    return len(due)


async def cost_limited(db: Database) -> list[Any]:
    """Active sessions with a money limit not reached yet."""
    async with db.read() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(TRANSACTIONS).where(
                        TRANSACTIONS.c.status == "Active",
                        TRANSACTIONS.c.limit_reached.is_(None),
                        TRANSACTIONS.c.limit_cost.is_not(None),
                    )
                )
            ).all()
        )


async def cost_limit_reached(db: Database, tx: Any, value: Any) -> None:
    async with db.write(tx.station_id) as conn:
        await limit_reached(conn, tx, "cost", tx.limit_cost, str(value))
    _mark(db, tx.id, "cost")


async def stops_owed(db: Database, retry_after: float = 60.0) -> list[int]:
    """Active sessions whose limit was reached and whose stop was not asked
    for lately."""
    cutoff = utcnow() - dt.timedelta(seconds=retry_after)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(Transaction.id).where(
                    Transaction.status == "Active",
                    Transaction.limit_reached.is_not(None),
                    sa.or_(
                        Transaction.stop_requested_at.is_(None),
                        Transaction.stop_requested_at < cutoff,
                    ),
                )
            )
        ).all()
    return [int(r.id) for r in rows]


async def stop_requested(db: Database, station_id: str, transaction_id: int) -> None:
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(stop_requested_at=utcnow())
        )
