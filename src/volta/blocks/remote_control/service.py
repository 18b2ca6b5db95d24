"""Send a command to a station and keep what became of it.

The command is stored as `pending` before it is sent and updated with the
outcome (accepted, rejected, error, timeout, offline, invalid) when it ends, so
a restart mid-command leaves a record rather than nothing. The record returned
is the one written: nothing is read back.

The commands below are version-neutral; `v16.py` / `v201.py` spell them (see
`volta.outgoing`), and `send()` picks the spelling of the station's version.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Literal, TypedDict, cast

import sqlalchemy as sa

from volta import metrics
from volta.ocpp.actions import CSMS_INITIATED
from volta.ocpp.charging import Profile
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.redact import redact_payload
from volta.ocpp.versions import Version
from volta.outgoing import Message
from volta.services import Services
from volta.stations import CallOutcome
from volta.store.models import Command, utcnow

CommandStatus = Literal["pending", "accepted", "rejected", "error", "timeout", "offline", "invalid"]


class CommandRecord(TypedDict):
    """A row of `commands`, as stored."""

    id: str
    station_id: str
    action: str
    payload: dict[str, Any]
    status: CommandStatus
    message_id: str | None
    response: dict[str, Any] | None
    error_code: str | None
    error_description: str | None
    created_at: dt.datetime
    completed_at: dt.datetime | None


# -- the commands, version-neutral ---------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteStart:
    """Start charging for a token (1.6 §5.11, 2.0.1 F01/F02)."""

    id_token: str
    id_token_type: str
    # The remote-start record's id (2.0.1 remoteStartId, F01.FR.01/F02.FR.01).
    remote_start_id: int
    evse_id: int | None = None
    # A TxProfile for the transaction to come (1.6 §5.11, 2.0.1 F01.FR.08).
    charging_profile: Profile | None = None


@dataclass(frozen=True, slots=True)
class RemoteStop:
    """Stop a transaction (1.6 §5.12, 2.0.1 F03). 1.6 knows it by the id
    Volta gave it, 2.0.1 by the id the station chose."""

    transaction_id: int
    station_transaction_id: str | None = None


@dataclass(frozen=True, slots=True)
class Reset:
    # The version's own word: 1.6 Soft / Hard, 2.0.1 Immediate / OnIdle
    # (`OutgoingTable.choices[Reset]` lists them).
    kind: str


@dataclass(frozen=True, slots=True)
class UnlockConnector:
    evse_id: int
    connector_id: int = 1


@dataclass(frozen=True, slots=True)
class ChangeAvailability:
    operative: bool
    # None: the whole station.
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class TriggerMessage:
    # A station-initiated action of the station's version
    # (`OutgoingTable.choices[TriggerMessage]`).
    message: str
    evse_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConfigurationReport:
    """Everything the station will tell of its configuration: 1.6
    GetConfiguration, 2.0.1 GetBaseReport FullInventory (B07)."""

    request_id: int


# -- sending --------------------------------------------------------------------


async def send(
    services: Services, station_id: str, command: object, *, offline_version: Version | None = None
) -> CommandRecord:
    """Send a version-neutral command in the words of the station's version.

    `offline_version` (the station's last protocol) spells the command that
    is recorded when the station is offline. Raises `CannotSpell` when the
    version cannot express the command (nothing is stored or sent).
    """
    version = services.router.version_of(station_id) or offline_version
    if version is None:
        # Nothing tells how the station would be spoken to: keep the
        # command's own name, so the record still says what was asked.
        message = Message(type(command).__name__, {})
    else:
        message = services.outgoing[version].build(command)
    return await send_command(
        services, station_id, message.action, message.payload, offline_version=offline_version
    )


async def send_command(
    services: Services,
    station_id: str,
    action: str,
    payload: dict[str, Any],
    *,
    offline_version: Version | None = None,
) -> CommandRecord:
    """Send `action` with `payload` as they are; store and return the record.

    The payload is validated once: by the session that sends it when the
    station is online, else against the schema of `offline_version`, so a
    command to an offline station is still refused for what it says.
    """
    version = services.router.version_of(station_id)
    now = utcnow()
    record = CommandRecord(
        id=str(uuid.uuid4()),
        station_id=station_id,
        action=action,
        # A station password (ChangeConfiguration AuthorizationKey, SetVariables
        # BasicAuthPassword) is sent, never stored or answered back.
        payload=redact_payload(action, payload),
        status="pending",
        message_id=None,
        response=None,
        error_code=None,
        error_description=None,
        created_at=now,
        completed_at=None,
    )
    early = _refusal(services, version or offline_version, action, payload, online=bool(version))
    if early is None and version is None:
        early = CallOutcome("offline", error_description=f"station {station_id} is not connected")
    if early is not None:
        _complete(record, early, now)
    async with services.db.write(station_id) as conn:
        await conn.execute(sa.insert(Command).values(**record))
    if early is None:
        # Shielded: an API client that gives up waiting must not leave the
        # command `pending` forever; its outcome is still recorded.
        await asyncio.shield(_deliver(services, record, payload))
    metrics.COMMANDS.labels(action, record["status"]).inc()
    return record


def _refusal(
    services: Services,
    version: Version | None,
    action: str,
    payload: dict[str, Any],
    *,
    online: bool,
) -> CallOutcome | None:
    """Why the command cannot be sent, before anything is: an action the
    version's CSMS does not send; for an offline station, a payload its
    schema refuses (for an online one the session validates as it sends)."""
    if version is None:
        return None
    try:
        if action not in CSMS_INITIATED[version]:
            raise OcppError(
                ErrorCode.NOT_SUPPORTED,
                f"{action} is not a message a CSMS sends to an OCPP {version.label} station",
            )
        if not online:
            services.schemas.validate(version, action, payload)
    except OcppError as exc:
        return CallOutcome("invalid", error_code=exc.code.value, error_description=exc.description)
    return None


def _complete(record: CommandRecord, outcome: CallOutcome, at: dt.datetime) -> None:
    # CallOutcome's statuses are CommandStatus less "pending".
    record["status"] = cast(CommandStatus, outcome.status)
    record["message_id"] = outcome.message_id
    record["response"] = outcome.response
    record["error_code"] = outcome.error_code
    record["error_description"] = outcome.error_description
    record["completed_at"] = at


async def _deliver(services: Services, record: CommandRecord, payload: dict[str, Any]) -> None:
    station_id = record["station_id"]
    outcome = await services.router.call(station_id, record["action"], payload)
    _complete(record, outcome, utcnow())
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(Command)
            .where(Command.id == record["id"])
            .values(
                status=record["status"],
                message_id=record["message_id"],
                response=record["response"],
                error_code=record["error_code"],
                error_description=record["error_description"],
                completed_at=record["completed_at"],
            )
        )


async def get_command(services: Services, command_id: str) -> CommandRecord | None:
    async with services.db.read() as conn:
        row = (
            (await conn.execute(sa.select(Command).where(Command.id == command_id)))
            .mappings()
            .first()
        )
    return CommandRecord(**row) if row else None  # type: ignore[typeddict-item]


async def recover_pending(services: Services, older_than: dt.timedelta | None = None) -> int:
    """Commands left `pending` by a crash can no longer get their answer. One
    process: all of them, at start. Several nodes: the leader's sweep, for
    those older than any live node's wait (`older_than`), so that another
    node's command in flight is left alone."""
    now = utcnow()
    stmt = sa.update(Command).where(Command.status == "pending")
    if older_than is not None:
        stmt = stmt.where(Command.created_at < now - older_than)
    async with services.db.write() as conn:
        result = await conn.execute(
            stmt.values(
                status="error",
                error_description="Volta restarted before the station answered",
                completed_at=now,
            )
        )
    return int(result.rowcount or 0)
