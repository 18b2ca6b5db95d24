"""OCPP 2.1 priority charging, version-neutral.

An operator asks a station to charge a running transaction with priority
(UsePriorityCharging: the station switches to its priority charging profile,
answering Accepted, Rejected or NoProfile); a station tells Volta when
priority charging of a transaction was switched on or off, also by the driver
at the station (NotifyPriorityCharging). Both are kept per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.payment.service import Refused, require_v21
from volta.blocks.remote_control.service import send
from volta.blocks.transactions.queries import find_v201
from volta.events import service as events
from volta.services import Services
from volta.store.db import Database
from volta.store.models import PriorityCharging, Transaction, utcnow

ANSWERS = frozenset({"Accepted", "Rejected", "NoProfile"})

__all__ = ["Refused", "UsePriorityCharging", "history", "notified", "use"]


@dataclass(frozen=True, slots=True)
class UsePriorityCharging:
    transaction_id: str  # the station's transactionId
    activate: bool


async def use(services: Services, transaction_ref: int, activate: bool) -> dict[str, Any]:
    """Send UsePriorityCharging for an active transaction of a 2.1 station;
    LookupError when Volta knows no such transaction."""
    async with services.db.read() as conn:
        tx = (
            await conn.execute(
                sa.select(
                    Transaction.station_id,
                    Transaction.station_transaction_id,
                    Transaction.status,
                ).where(Transaction.id == transaction_ref)
            )
        ).first()
    if tx is None:
        raise LookupError(transaction_ref)
    if tx.status != "Active" or not tx.station_transaction_id:
        raise Refused(f"transaction {transaction_ref} is not running")
    require_v21(services, tx.station_id, "UsePriorityCharging")
    command = await send(
        services, tx.station_id, UsePriorityCharging(tx.station_transaction_id, activate)
    )
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in ANSWERS else "Failed"
    async with services.db.write(tx.station_id) as conn:
        await conn.execute(
            sa.insert(PriorityCharging).values(
                station_id=tx.station_id,
                transaction_id=tx.station_transaction_id,
                transaction_ref=transaction_ref,
                activated=activate,
                source="api",
                status=status,
                command_id=command["id"],
                created_at=utcnow(),
            )
        )
    return {
        "transaction_id": transaction_ref,
        "activate": activate,
        "status": status,
        "command": command,
    }


async def notified(services: Services, station_id: str, p: dict[str, Any]) -> None:
    """A station's NotifyPriorityCharging: kept with its transaction, evented."""
    db = services.db
    tx = await find_v201(db, station_id, p["transactionId"])
    ref = tx.id if tx is not None else None
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.insert(PriorityCharging).values(
                station_id=station_id,
                transaction_id=p["transactionId"],
                transaction_ref=ref,
                activated=bool(p["activated"]),
                source="station",
                status="Notified",
                created_at=utcnow(),
            )
        )
        await events.emit(
            conn,
            "priority_charging.changed",
            station_id=station_id,
            transaction_id=ref,
            station_transaction_id=p["transactionId"],
            activated=bool(p["activated"]),
        )


async def history(db: Database, transaction_ref: int) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(PriorityCharging)
                .where(PriorityCharging.transaction_ref == transaction_ref)
                .order_by(PriorityCharging.id)
            )
        ).mappings()
        return [dict(r) for r in rows]


def active(rows: list[dict[str, Any]]) -> bool | None:
    """Whether priority charging is on, by the last word on it (an accepted
    request or the station's notification); None when nothing was said."""
    for row in reversed(rows):
        if row["source"] == "station" or row["status"] == "Accepted":
            return bool(row["activated"])
    return None
