"""Sessions started and stopped from an app or a QR code (1.6 §5.11/§5.12,
2.0.1 F01/F02/F03).

`start_session` records a remote start (its row id is the 2.0.1
remoteStartId), sends RemoteStartTransaction / RequestStartTransaction and
keeps the station's answer. The transaction that follows is linked to it when
it starts (transactions.service._link_start), so the app can follow the
session it asked for with GET /api/v1/remote-starts/{id}.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from volta.blocks.authorization.service import authorize_start
from volta.blocks.remote_control.service import (
    CommandRecord,
    RemoteStart,
    RemoteStop,
    send,
    send_command,
)
from volta.blocks.smart_charging.service import record_start_profile
from volta.blocks.smart_charging.validation import ProfileInvalid, start_problems
from volta.blocks.transactions import service as tx_service
from volta.ocpp.charging import Profile
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Database
from volta.store.models import RemoteStart as RemoteStartRecord
from volta.store.models import Transaction, utcnow


class SessionRefused(Exception):
    """The session cannot be started or stopped; the message says why."""


@dataclass(frozen=True, slots=True)
class StartRequest:
    station_id: str
    id_token: str
    evse_id: int | None = None
    id_token_type: str = "Central"
    # limit_energy_wh / limit_seconds / limit_cost for the session.
    limits: dict[str, Any] | None = None
    # A TxProfile for the transaction (1.6 §5.11, 2.0.1 F01.FR.08).
    charging_profile: Profile | None = None


async def start_session(services: Services, req: StartRequest) -> dict[str, Any]:
    version = services.router.version_of(req.station_id)
    if version is None:
        raise SessionRefused(f"station {req.station_id} is not connected")
    if req.charging_profile is not None:
        found_problems = start_problems(version, req.evse_id, req.charging_profile)
        if found_problems:
            raise ProfileInvalid(found_problems)
    settings = services.settings
    # The same checks a start at the charger gets: refused here, the driver
    # learns why at once instead of from a station that never starts.
    auth = await authorize_start(
        services.db,
        req.station_id,
        req.id_token,
        req.id_token_type,
        evse_id=req.evse_id,
        reservation_id=None,
        master_pass_group_id=settings.master_pass_group_id,
        allow_concurrent=settings.allow_concurrent_transactions,
    )
    if not auth.accepted:
        raise SessionRefused(f"id token {req.id_token}: {auth.reason or auth.status}")
    now = utcnow()
    async with services.db.write(req.station_id) as conn:
        result = await conn.execute(
            sa.insert(RemoteStartRecord)
            .values(
                station_id=req.station_id,
                evse_id=req.evse_id,
                id_token=req.id_token,
                id_token_type=req.id_token_type,
                status="Requested",
                **(req.limits or {}),
                created_at=now,
                updated_at=now,
            )
            .returning(RemoteStartRecord.id)
        )
        remote_start_id = int(result.scalar_one())
        # Spelled inside the transaction: a version that cannot say it
        # (CannotSpell) leaves no record behind.
        message = services.outgoing[version].build(
            RemoteStart(
                req.id_token,
                req.id_token_type,
                remote_start_id,
                req.evse_id,
                charging_profile=req.charging_profile,
            )
        )
    command = await send_command(services, req.station_id, message.action, message.payload)
    status = {"accepted": "Accepted", "rejected": "Rejected"}.get(command["status"], "Failed")
    if status == "Accepted" and req.charging_profile is not None and req.evse_id:
        await record_start_profile(
            services.db, req.station_id, version, req.evse_id, req.charging_profile, command
        )
    async with services.db.write(req.station_id) as conn:
        # A fast station may have started the transaction already: keep Started.
        found = (
            (
                await conn.execute(
                    sa.update(RemoteStartRecord)
                    .where(RemoteStartRecord.id == remote_start_id)
                    .values(
                        status=sa.case(
                            (RemoteStartRecord.status == "Requested", status),
                            else_=RemoteStartRecord.status,
                        ),
                        command_id=command["id"],
                        updated_at=utcnow(),
                    )
                    .returning(*RemoteStartRecord.__table__.c)
                )
            )
            .mappings()
            .one()
        )
    return {**found, "command": command}


async def stop_session(
    services: Services, transaction_id: int, *, station_id: str | None = None
) -> CommandRecord:
    """RemoteStopTransaction / RequestStopTransaction for a Volta transaction
    (of `station_id`, when given: the dashboard stops from a station's page)."""
    async with services.db.read() as conn:
        tx = (
            await conn.execute(sa.select(Transaction).where(Transaction.id == transaction_id))
        ).first()
    if tx is None:
        raise LookupError(f"transaction {transaction_id} not found")
    if station_id is not None and tx.station_id != station_id:
        raise LookupError(f"transaction {transaction_id} is not a session of {station_id}")
    if tx.status != "Active":
        raise SessionRefused(f"transaction {transaction_id} has ended")
    command = RemoteStop(tx.id, tx.station_transaction_id)
    return await send(services, tx.station_id, command, offline_version=Version(tx.protocol))


async def stop_for_limit(services: Services, transaction_id: int) -> CommandRecord | None:
    """Stop a session that reached its limit; recorded so that housekeeping
    asks again (no sooner than a minute later) if the stop does not come."""
    try:
        command = await stop_session(services, transaction_id)
    except (LookupError, SessionRefused):
        return None
    await tx_service.stop_requested(services.db, command["station_id"], transaction_id)
    return command


def stop_for_limit_soon(services: Services, transaction_id: int) -> None:
    services.spawn(stop_for_limit(services, transaction_id), name=f"limit-stop-{transaction_id}")


async def enforce_limits(services: Services) -> int:
    """Housekeeping: time limits with no meter value to tell, and stops owed."""
    await tx_service.time_limits_due(services.db)
    await _cost_limits_due(services)
    owed = await tx_service.stops_owed(services.db)
    for transaction_id in owed:
        await stop_for_limit(services, transaction_id)
    return len(owed)


async def _cost_limits_due(services: Services) -> None:
    """Money limits: the running cost (incl. tax, the session's tariff) is
    worked out every housekeeping run, not with every meter value."""
    from volta.blocks.tariffs.service import session_cost

    for tx in await tx_service.cost_limited(services.db):
        cost = await session_cost(services.db, tx.id)
        if cost is None or cost.tariff is None:
            continue
        if cost.breakdown.total >= Decimal(tx.limit_cost):
            await tx_service.cost_limit_reached(services.db, tx, cost.breakdown.total)


async def expire_waiting(db: Database, timeout: float) -> int:
    """Accepted remote starts whose transaction never came end as Timeout."""
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    due = sa.and_(
        RemoteStartRecord.status.in_(("Requested", "Accepted")),
        RemoteStartRecord.created_at < cutoff,
    )
    # Read first: housekeeping must not wait on the write lock for nothing.
    async with db.read() as conn:
        if (
            await conn.execute(sa.select(RemoteStartRecord.id).where(due).limit(1))
        ).first() is None:
            return 0
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(RemoteStartRecord).where(due).values(status="Timeout", updated_at=utcnow())
        )
    return int(result.rowcount or 0)


async def set_limits(db: Database, transaction_id: int, limits: dict[str, Any]) -> bool:
    """Change an active session's limits (a reached limit is not undone)."""
    async with db.read() as conn:
        tx = (
            await conn.execute(
                sa.select(Transaction.station_id, Transaction.status).where(
                    Transaction.id == transaction_id
                )
            )
        ).first()
    if tx is None:
        raise LookupError(f"transaction {transaction_id} not found")
    if tx.status != "Active":
        raise SessionRefused(f"transaction {transaction_id} has ended")
    async with db.write(tx.station_id) as conn:
        await conn.execute(
            sa.update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(
                limit_energy_wh=limits.get("limit_energy_wh"),
                limit_seconds=limits.get("limit_seconds"),
                limit_cost=limits.get("limit_cost"),
                updated_at=utcnow(),
            )
        )
    return True


async def get_remote_start(db: Database, remote_start_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(RemoteStartRecord).where(RemoteStartRecord.id == remote_start_id)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_remote_starts(
    db: Database, *, station_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(RemoteStartRecord)
        .order_by(RemoteStartRecord.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if station_id is not None:
        stmt = stmt.where(RemoteStartRecord.station_id == station_id)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
