"""OCPP 2.1 battery swap, version-neutral.

A battery swap station reports each step of a swap with BatterySwap: the
driver's batteries going in (BatteryIn), the charged ones handed out
(BatteryOut) or not taken (BatteryOutTimeout), with each battery's serial
number, state of charge and health. The station authorised the driver's
idToken before the swap (Authorize); BatterySwapResponse carries nothing, so
Volta cannot refuse a step: it records its own verdict on the token beside
the step (Accepted, Blocked, Expired, Invalid, Unknown) and an operator sees
a swap by a token Volta would not accept in the event it emits.
RequestBatterySwap asks a station to start a swap for a token (an app's
"swap now"), its answer kept as a Requested row with the requestId the
station's BatterySwap messages repeat.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.authorization.service import authorize
from volta.blocks.payment.service import Refused, require_v21
from volta.blocks.remote_control.service import send
from volta.events import service as events
from volta.services import Services
from volta.store.db import Database
from volta.store.models import BatterySwap, utcnow

__all__ = ["Refused", "RequestBatterySwap", "list_swaps", "reported", "request"]

INT32_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class RequestBatterySwap:
    request_id: int
    id_token: str
    id_token_type: str


async def reported(services: Services, station_id: str, p: dict[str, Any]) -> None:
    token = p["idToken"]
    verdict = await authorize(services.db, token["idToken"], token["type"])
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.insert(BatterySwap).values(
                station_id=station_id,
                request_id=p["requestId"],
                event_type=p["eventType"],
                id_token=token["idToken"],
                id_token_type=token["type"],
                status=verdict.status,
                batteries=p["batteryData"],
                created_at=utcnow(),
            )
        )
        await events.emit(
            conn,
            "battery_swap.reported",
            station_id=station_id,
            request_id=p["requestId"],
            event_type=p["eventType"],
            id_token=token["idToken"],
            authorization_status=verdict.status,
            batteries=[b["serialNumber"] for b in p["batteryData"]],
        )


async def request(
    services: Services, station_id: str, id_token: str, id_token_type: str
) -> dict[str, Any]:
    """Send RequestBatterySwap; the answer is kept as a Requested row."""
    require_v21(services, station_id, "RequestBatterySwap")
    request_id = secrets.randbelow(INT32_MAX) + 1
    command = await send(
        services, station_id, RequestBatterySwap(request_id, id_token, id_token_type)
    )
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in ("Accepted", "Rejected") else "Failed"
    async with services.db.write(station_id) as conn:
        row_id = (
            await conn.execute(
                sa.insert(BatterySwap)
                .values(
                    station_id=station_id,
                    request_id=request_id,
                    event_type="Requested",
                    id_token=id_token,
                    id_token_type=id_token_type,
                    status=status,
                    batteries=[],
                    command_id=command["id"],
                    created_at=utcnow(),
                )
                .returning(BatterySwap.id)
            )
        ).scalar_one()
    rows = await list_swaps(services.db, station_id=station_id, request_id=request_id)
    row = next(r for r in rows if r["id"] == row_id)
    return {**row, "command": command}


async def list_swaps(
    db: Database,
    *,
    station_id: str | None = None,
    request_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = sa.select(BatterySwap).order_by(BatterySwap.id).limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(BatterySwap.station_id == station_id)
    if request_id is not None:
        stmt = stmt.where(BatterySwap.request_id == request_id)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]
