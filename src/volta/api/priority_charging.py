"""OCPP 2.1 priority charging of a running session (UsePriorityCharging) and
what stations told of it (NotifyPriorityCharging)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from volta.api.models import CommandOut, Id
from volta.blocks.priority_charging import service
from volta.blocks.transactions.queries import get_transaction
from volta.http import ServicesDep

router = APIRouter(tags=["priority-charging"])


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activate: bool = Field(True, description="true: charge with priority; false: stop that")


class PriorityEntry(BaseModel):
    id: int
    station_id: str
    transaction_id: str = Field(description="the station's transactionId")
    activated: bool
    source: str = Field(description="api (UsePriorityCharging) or station (NotifyPriorityCharging)")
    status: str = Field(
        description="api: the answer (Accepted, Rejected, NoProfile) or Failed; station: Notified"
    )
    command_id: str | None
    created_at: dt.datetime


class PriorityOut(BaseModel):
    transaction_id: int
    active: bool | None = Field(description="on or off by the last word on it; null: never asked")
    history: list[PriorityEntry]


class PriorityAnswer(BaseModel):
    transaction_id: int
    activate: bool
    status: str = Field(description="Accepted, Rejected, NoProfile; or Failed (no answer)")
    command: CommandOut


@router.post("/transactions/{transaction_id}/priority-charging", response_model=PriorityAnswer)
async def use_priority_charging(
    transaction_id: Id, body: PriorityIn, services: ServicesDep
) -> PriorityAnswer:
    """Send UsePriorityCharging for a running session of a 2.1 station. 404
    unknown session; 409 ended, or the station offline or not OCPP 2.1."""
    try:
        found: dict[str, Any] = await service.use(services, transaction_id, body.activate)
    except LookupError:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"transaction {transaction_id} not found"
        ) from None
    except service.Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return PriorityAnswer(**{**found, "command": CommandOut(**found["command"])})


@router.get("/transactions/{transaction_id}/priority-charging", response_model=PriorityOut)
async def priority_charging(transaction_id: Id, services: ServicesDep) -> PriorityOut:
    if await get_transaction(services.db, transaction_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"transaction {transaction_id} not found")
    rows = await service.history(services.db, transaction_id)
    return PriorityOut(
        transaction_id=transaction_id,
        active=service.active(rows),
        history=[PriorityEntry(**r) for r in rows],
    )
