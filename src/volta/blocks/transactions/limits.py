"""Limits by energy, time and money: when one is reached Volta records it
with a `limit.reached` event and has the session stopped (remote_control's
housekeeping asks the station, and asks again if it goes on).

OCPP 2.1 stations hold a session's limits themselves (E16, transactions/v21):
the kinds a station reports holding (`transactions.station_limit`) are left
to it; Volta records what it reports reaching (`by: "station"`) and asks for
no stop. Until a station reports holding a limit, Volta watches it as for
2.0.1 (the fallback)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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
        limit_reached_by=sa.bindparam("by"),
        limit_reached_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
)


async def limit_reached(
    conn: Conn,
    tx: Any,
    kind: str,
    limit: Any,
    value: Any,
    *,
    by: str = "volta",
    trigger: str | None = None,
) -> bool:
    """Record that `tx` reached a limit, once: False when another writer (the
    hot path, housekeeping) recorded one first, and then no event is raised.
    `by`: volta (its own watch) or station (a 2.1 station's report, whose
    triggerReason or stoppedReason is `trigger`)."""
    result = await conn.execute(_REACHED, {"tx_id": tx.id, "kind": kind, "by": by, "now": utcnow()})
    if not result.rowcount:
        return False
    extra: dict[str, Any] = {"trigger": trigger} if trigger is not None else {}
    await events.emit(
        conn,
        "limit.reached",
        station_id=tx.station_id,
        transaction_id=tx.id,
        evse_id=tx.evse_id,
        kind=kind,
        limit=limit,
        value=value,
        by=by,
        **extra,
    )
    return True


def _held(row: Any, key: str) -> bool:
    """Whether the 2.1 station reports holding this limit (its key in
    TransactionLimitType)."""
    return key in (getattr(row, "station_limit", None) or {})


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
    due = [
        r
        for r in rows
        if (now - r.started_at).total_seconds() >= r.limit_seconds and not _held(r, "maxTime")
    ]
    for tx in due:
        async with db.write(tx.station_id) as conn:
            await limit_reached(
                conn, tx, "time", tx.limit_seconds, round((now - tx.started_at).total_seconds())
            )
        _mark(db, tx.id, "time")
    return len(due)


async def cost_limited(db: Database) -> list[Any]:
    """Active sessions with a money limit not reached yet (and not held by
    a 2.1 station)."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(TRANSACTIONS).where(
                    TRANSACTIONS.c.status == "Active",
                    TRANSACTIONS.c.limit_reached.is_(None),
                    TRANSACTIONS.c.limit_cost.is_not(None),
                )
            )
        ).all()
    return [r for r in rows if not _held(r, "maxCost")]


async def cost_limit_reached(db: Database, tx: Any, value: Any) -> None:
    async with db.write(tx.station_id) as conn:
        await limit_reached(conn, tx, "cost", tx.limit_cost, str(value))
    _mark(db, tx.id, "cost")


async def stops_owed(db: Database, retry_after: float = 60.0) -> list[int]:
    """Active sessions whose limit Volta found reached and whose stop was
    not asked for lately (a 2.1 station that reports reaching its limit
    stops or suspends by itself: Volta asks nothing of it)."""
    cutoff = utcnow() - dt.timedelta(seconds=retry_after)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(Transaction.id).where(
                    Transaction.status == "Active",
                    Transaction.limit_reached.is_not(None),
                    sa.or_(
                        Transaction.limit_reached_by.is_(None),
                        Transaction.limit_reached_by != "station",
                    ),
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


# -- OCPP 2.1: limits held by the station (E16) --------------------------------

# TransactionLimitType key -> Volta's kind of limit.
KIND_OF_KEY = {"maxEnergy": "energy", "maxTime": "time", "maxCost": "cost", "maxSoC": "soc"}
# 2.1 triggerReason / stoppedReason -> the kind of limit the station reached.
REACHED_TRIGGERS = {
    "EnergyLimitReached": "energy",
    "TimeLimitReached": "time",
    "CostLimitReached": "cost",
    "SoCLimitReached": "soc",
}
REACHED_STOPS = {
    "EnergyLimitReached": "energy",
    "TimeLimitReached": "time",
    "SOCLimitReached": "soc",
}


def wanted_limit(tx: Any) -> dict[str, Any]:
    """The session's limits as a 2.1 TransactionLimitType."""
    limit: dict[str, Any] = {}
    if tx.limit_energy_wh is not None:
        limit["maxEnergy"] = float(tx.limit_energy_wh)
    if tx.limit_seconds is not None:
        limit["maxTime"] = int(tx.limit_seconds)
    if tx.limit_cost is not None:
        limit["maxCost"] = float(Decimal(tx.limit_cost))
    return limit


def _same(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) < 1e-6
    except (TypeError, ValueError):
        return False


def holds(held: dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether the station reports holding every limit in `wanted`, at its value."""
    held = held or {}
    return all(key in held and _same(held[key], value) for key, value in wanted.items())


def should_send(tx: Any, wanted: dict[str, Any]) -> bool:
    """Send the limit when it is not what Volta last sent (the first event
    Volta sees, a change through the API), and again while the station does
    not report holding it (the answer that carried it may have been lost).
    A limit the station set by itself (LimitSet, e.g. its driver's) is left
    alone: only the kinds Volta wants are compared."""
    sent = tx.limit_sent
    if sent is None:
        return bool(wanted)
    if set(sent) != set(wanted) or not holds(sent, wanted):
        return True
    return not holds(tx.station_limit, wanted)


def reached_value(tx: Any, kind: str, now: dt.datetime) -> Any:
    """What the session stood at, as Volta knows it, when the station
    reported reaching a limit of `kind`."""
    if kind == "energy":
        return tx.energy_wh
    if kind == "time" and tx.started_at is not None:
        return round((now - tx.started_at).total_seconds())
    if kind == "soc":
        return tx.soc_percent
    return None


def limit_of(tx: Any, kind: str) -> Any:
    """The limit of `kind` the station reports holding, else Volta's."""
    for key, k in KIND_OF_KEY.items():
        if k == kind and key in (tx.station_limit or {}):
            return tx.station_limit[key]
    return {"energy": tx.limit_energy_wh, "time": tx.limit_seconds, "cost": tx.limit_cost}.get(kind)


async def limit_sent(db: Database, tx: Any, limit: dict[str, Any]) -> None:
    async with db.write(tx.station_id) as conn:
        await conn.execute(
            sa.update(Transaction).where(Transaction.id == tx.id).values(limit_sent=limit)
        )


async def station_limit_reported(db: Database, tx: Any, limit: dict[str, Any]) -> None:
    async with db.write(tx.station_id) as conn:
        await conn.execute(
            sa.update(Transaction)
            .where(Transaction.id == tx.id)
            .values(station_limit=limit, station_limit_at=utcnow())
        )
