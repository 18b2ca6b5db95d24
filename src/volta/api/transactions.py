"""Charging sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from volta.api.models import Id, Offset, TransactionClose, TransactionOut
from volta.blocks.payment import service as payment
from volta.blocks.transactions import service
from volta.blocks.transactions.flags import meter_value_flags, transaction_flags
from volta.http import ServicesDep

router = APIRouter(tags=["transactions"])


@router.get("/transactions", response_model=list[TransactionOut])
async def list_transactions(
    services: ServicesDep,
    station_id: str | None = None,
    active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[TransactionOut]:
    """Newest first; `active=true` for sessions in progress."""
    rows = await service.list_transactions(
        services.db, station_id=station_id, active=active, limit=limit, offset=offset
    )
    return [TransactionOut(**r, flags=transaction_flags(r)) for r in rows]


@router.get("/transactions/{transaction_id}", response_model=TransactionOut)
async def get_transaction(transaction_id: Id, services: ServicesDep) -> TransactionOut:
    """One session with its meter values."""
    row = await service.get_transaction(services.db, transaction_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"transaction {transaction_id} not found")
    per_value = meter_value_flags(row["meter_values"])
    row["meter_values"] = [{**v, "flags": per_value.get(v["id"], [])} for v in row["meter_values"]]
    row["settlements"] = await payment.settlements_of(services.db, transaction_id)
    return TransactionOut(**row, flags=transaction_flags(row))


@router.post("/transactions/{transaction_id}/close", response_model=TransactionOut)
async def close_transaction(
    transaction_id: Id, body: TransactionClose, services: ServicesDep
) -> TransactionOut:
    """Close a stale session by hand, without asking the station (it may be
    gone or never send its stop): it ends on its last known meter reading with
    `ended_by = operator` and the reason, and its token is free again. 404
    unknown, 409 ended. To have the station stop charging, use `/stop`."""
    try:
        row = await service.close_by_operator(services.db, transaction_id, body.reason)
    except LookupError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"transaction {transaction_id} not found"
        ) from None
    except service.SessionNotActive as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    row.pop("meter_values", None)
    return TransactionOut(**row, flags=transaction_flags(row))
