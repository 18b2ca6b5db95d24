"""Send a command to a station and keep what became of it.

The command is stored as `pending` before it is sent and updated with the
outcome (accepted, rejected, error, timeout, offline, invalid) when it ends, so
a restart mid-command leaves a record rather than nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa

from volta import metrics
from volta.ocpp.actions import CSMS_INITIATED
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.versions import Version
from volta.services import Services
from volta.stations import CallOutcome
from volta.store.models import Command, utcnow


def check_command(
    services: Services, version: Version, action: str, payload: dict[str, Any]
) -> None:
    """Raise OcppError when `action` cannot be sent to a `version` station."""
    if action not in CSMS_INITIATED[version]:
        raise OcppError(
            ErrorCode.NOT_SUPPORTED,
            f"{action} is not a message a CSMS sends to an OCPP {version.label} station",
        )
    services.schemas.validate(version, action, payload)


async def send_command(
    services: Services,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    version_hint: str | None = None,
) -> dict[str, Any]:
    db = services.db
    command_id = str(uuid.uuid4())
    version = services.router.version_of(station_id)
    outcome: CallOutcome | None = None
    check_version = version or (Version(version_hint) if version_hint else None)
    if check_version is not None:
        try:
            check_command(services, check_version, action, payload)
        except OcppError as exc:
            outcome = CallOutcome(
                "invalid", error_code=exc.code.value, error_description=exc.description
            )
    if outcome is None and version is None:
        outcome = CallOutcome("offline", error_description=f"station {station_id} is not connected")
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.insert(Command).values(
                id=command_id,
                station_id=station_id,
                action=action,
                payload=payload,
                status="pending" if outcome is None else outcome.status,
                error_code=outcome.error_code if outcome else None,
                error_description=outcome.error_description if outcome else None,
                created_at=utcnow(),
                completed_at=utcnow() if outcome else None,
            )
        )
    if outcome is None:
        # Shielded: an API client that gives up waiting must not leave the
        # command `pending` forever; its outcome is still recorded.
        outcome = await asyncio.shield(_deliver(services, command_id, station_id, action, payload))
    metrics.COMMANDS.labels(action, outcome.status).inc()
    command = await get_command(services, command_id)
    assert command is not None
    return command


async def _deliver(
    services: Services, command_id: str, station_id: str, action: str, payload: dict[str, Any]
) -> CallOutcome:
    outcome = await services.router.call(station_id, action, payload)
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(Command)
            .where(Command.id == command_id)
            .values(
                status=outcome.status,
                message_id=outcome.message_id,
                response=outcome.response,
                error_code=outcome.error_code,
                error_description=outcome.error_description,
                completed_at=utcnow(),
            )
        )
    return outcome


async def get_command(services: Services, command_id: str) -> dict[str, Any] | None:
    async with services.db.read() as conn:
        row = (
            (await conn.execute(sa.select(Command).where(Command.id == command_id)))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def recover_pending(services: Services) -> int:
    """Commands left `pending` by a crash can no longer get their answer."""
    async with services.db.write() as conn:
        result = await conn.execute(
            sa.update(Command)
            .where(Command.status == "pending")
            .values(
                status="error",
                error_description="Volta restarted before the station answered",
                completed_at=utcnow(),
            )
        )
    return int(result.rowcount or 0)
