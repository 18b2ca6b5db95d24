"""Charging profiles: installed, cleared, listed and asked about (1.6 Smart
Charging §5.5 ClearChargingProfile, §5.7 GetCompositeSchedule, §5.16
SetChargingProfile; 2.0.1 K01, K05-K10).

The interface other parts build on (the allocator, the fallback profiles,
the API and the CLI):

- `SetChargingProfile(evse_id, profile)`, `ClearChargingProfile(profile_id,
  evse_id, purpose, stack_level)`, `GetCompositeSchedule(evse_id,
  duration_s, unit)`, `GetChargingProfiles(request_id, ...)`: the
  version-neutral commands; `v16.py` / `v201.py` spell them (1.6 through
  `volta.ocpp.charging.to_v16`, 2.0.1 through `to_v201`). `evse_id` 0 is the
  whole station (1.6 connectorId 0).
- `await install_profile(services, station_id, evse_id, profile, source=)`:
  stores a `charging_profiles` row `Requested` (source api, allocator,
  fallback), sends SetChargingProfile as a durable command and records the
  answer: `Accepted` (an older Accepted row with the same profile id, or the
  same EVSE + purpose + stack level, becomes `Replaced`: K01.FR.05 / 1.6
  §3.13.2), `Rejected`, or `Failed` (no answer, offline, error). Returns an
  `InstalledProfile` (the row, and `command`, the command record). Raises
  `validation.ProfileInvalid` (the version's rules, checked first: see
  validation.py) or `ProfileRefused` (unknown station, or the version cannot
  say the profile) when nothing was sent; a station's no is a `Rejected` row.
  On 2.0.1 a profile with another id in the same EVSE + purpose + stack
  level slot is forbidden to the CSMS (K01.FR.06, TxProfile: K01.FR.39):
  the API is refused such a profile; the allocator should keep one id per
  slot and replace by id (K01.FR.05).
- `await clear_profiles(services, station_id, ClearChargingProfile(...),
  source=)`: sends ClearChargingProfile; on Accepted (or Unknown: the
  station holds none of them) the matching installed rows become `Cleared`.
  Returns the command record.
- `await installed_profiles(db, station_id, evse_id=None)`: what Volta
  believes is installed (rows `Accepted`), oldest first.
- `await next_profile_id(db, station_id, allocator=False)`: a profile id not
  yet used at the station. Ids >= `ALLOCATOR_IDS` (1_000_000) are reserved
  for the allocator and the fallback profiles; the API's are below.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from volta.blocks.remote_control.service import CommandRecord, send, send_command
from volta.blocks.smart_charging import v2x_profiles, validation
from volta.ocpp.charging import TX, Profile, from_v201, to_v201
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import ChargingProfile, Station, Transaction, utcnow
from volta.store.models import RemoteStart as RemoteStartRecord

log = logging.getLogger(__name__)

# Profile ids from here up belong to the allocator and the fallback profiles.
ALLOCATOR_IDS = validation.ALLOCATOR_IDS
ProfileInvalid = validation.ProfileInvalid
SOURCES = ("api", "allocator", "fallback", "station")
# Row statuses: Requested until the station answers.
STATUSES = ("Requested", "Accepted", "Rejected", "Failed", "Cleared", "Replaced")


class ProfileRefused(Exception):
    """Nothing was sent: the message says why (unknown station, or a profile
    the station's version cannot express)."""


# -- the commands, version-neutral ---------------------------------------------


@dataclass(frozen=True, slots=True)
class SetChargingProfile:
    """1.6 §5.16 SetChargingProfile, 2.0.1 K01."""

    evse_id: int  # 0 = the whole station (1.6 connectorId 0)
    profile: Profile


@dataclass(frozen=True, slots=True)
class ClearChargingProfile:
    """1.6 §5.5, 2.0.1 K10: by id, or by the criteria given (none: all)."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: str | None = None  # 2.0.1 names
    stack_level: int | None = None


@dataclass(frozen=True, slots=True)
class GetCompositeSchedule:
    """1.6 §5.7, 2.0.1 K08: the schedule the station will follow on an EVSE
    (0: the grid connection) for the next `duration_s` seconds."""

    evse_id: int
    duration_s: int
    unit: str | None = None  # A or W; None: the station's choice


@dataclass(frozen=True, slots=True)
class GetChargingProfiles:
    """2.0.1 K09: the station reports its profiles in ReportChargingProfiles
    messages carrying `request_id`. 1.6 has no such message."""

    request_id: int
    evse_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None
    profile_ids: tuple[int, ...] = ()
    # CSO, EMS, SO, Other (2.0.1 ChargingLimitSourceEnumType)
    limit_sources: tuple[str, ...] = ()


# -- what is stored ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """A `charging_profiles` row; `command` is the command record that sent
    it (or cleared it), where there was one in this call."""

    id: int
    station_id: str
    evse_id: int
    profile_id: int
    stack_level: int
    purpose: str
    transaction_id: str | None
    profile: dict[str, Any]  # 2.0.1 wire shape
    source: str
    status: str
    command_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: CommandRecord | None = field(default=None, compare=False)

    @property
    def model(self) -> Profile:
        return model_of(self.profile)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "station_id": self.station_id,
            "evse_id": self.evse_id,
            "profile_id": self.profile_id,
            "stack_level": self.stack_level,
            "purpose": self.purpose,
            "transaction_id": self.transaction_id,
            "profile": self.profile,
            "source": self.source,
            "status": self.status,
            "command_id": self.command_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def wire_of(profile: Profile) -> dict[str, Any]:
    """What a `charging_profiles` row keeps: the 2.0.1 ChargingProfileType,
    or the 2.1 one as given when the profile says what only 2.1 can (V2X)."""
    v21 = profile.extra.get("v21")
    return dict(v21) if v21 is not None else to_v201(profile)


def model_of(body: dict[str, Any]) -> Profile:
    """A stored profile read back (a 2.1 one keeps its wire shape in extra)."""
    profile = from_v201(body)
    if v2x_profiles.uses_v21(body):
        profile.extra["v21"] = body
    return profile


def _installed(row: Any, command: CommandRecord | None = None) -> InstalledProfile:
    return InstalledProfile(
        id=row.id,
        station_id=row.station_id,
        evse_id=row.evse_id,
        profile_id=row.profile_id,
        stack_level=row.stack_level,
        purpose=row.purpose,
        transaction_id=row.transaction_id,
        profile=row.profile,
        source=row.source,
        status=row.status,
        command_id=row.command_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        command=command,
    )


async def station_version(services: Services, station_id: str) -> Version | None:
    """The version the station speaks now, or spoke last (offline)."""
    version = services.router.version_of(station_id)
    if version is not None:
        return version
    async with services.db.read() as conn:
        protocol = (
            await conn.execute(sa.select(Station.protocol).where(Station.id == station_id))
        ).scalar_one_or_none()
    return Version(protocol) if protocol else None


# -- installing and clearing ---------------------------------------------------


async def insert_profile_row(
    conn: Conn,
    station_id: str,
    evse_id: int,
    profile: Profile,
    *,
    source: str,
    status: str,
    now: dt.datetime,
    **extra: Any,
) -> int:
    """One `charging_profiles` row (the profile kept in 2.0.1 shape); its id."""
    result = await conn.execute(
        sa.insert(ChargingProfile)
        .values(
            station_id=station_id,
            evse_id=evse_id,
            profile_id=profile.id,
            stack_level=profile.stack_level,
            purpose=profile.purpose,
            transaction_id=profile.transaction_id,
            profile=wire_of(profile),
            source=source,
            status=status,
            created_at=now,
            updated_at=now,
            **extra,
        )
        .returning(ChargingProfile.id)
    )
    return int(result.scalar_one())


async def install_profile(
    services: Services,
    station_id: str,
    evse_id: int,
    profile: Profile,
    *,
    source: str = "api",
    validate: bool = True,
) -> InstalledProfile:
    """Send SetChargingProfile and keep the answer (see the module docstring).
    `validate`: check the version's rules first (validation.check; raises
    ProfileInvalid, nothing stored or sent)."""
    version = await station_version(services, station_id)
    if version is None:
        raise ProfileRefused(f"station {station_id} is unknown or has never connected")
    if validate:
        await validation.check(services.db, station_id, version, evse_id, profile, source=source)
    try:
        message = services.outgoing[version].build(SetChargingProfile(evse_id, profile))
    except CannotSpell as exc:
        raise ProfileRefused(str(exc)) from None
    now = utcnow()
    async with services.db.write(station_id) as conn:
        row_id = await insert_profile_row(
            conn, station_id, evse_id, profile, source=source, status="Requested", now=now
        )
    command = await send_command(
        services, station_id, message.action, message.payload, offline_version=version
    )
    status = {"accepted": "Accepted", "rejected": "Rejected"}.get(command["status"], "Failed")
    async with services.db.write(station_id) as conn:
        if status == "Accepted":
            await _mark_replaced(conn, version, station_id, evse_id, profile, row_id)
        await conn.execute(
            sa.update(ChargingProfile)
            .where(ChargingProfile.id == row_id)
            .values(status=status, command_id=command["id"], updated_at=utcnow())
        )
        row = (
            await conn.execute(sa.select(ChargingProfile).where(ChargingProfile.id == row_id))
        ).one()
    return _installed(row, command)


async def _mark_replaced(
    conn: AsyncConnection,
    version: Version,
    station_id: str,
    evse_id: int,
    profile: Profile,
    row_id: int,
) -> None:
    """The installed rows a newly accepted profile replaces become Replaced
    (validation.replaces: K01.FR.05/06/39, 1.6 §5.16)."""
    rows = await conn.execute(
        sa.select(ChargingProfile).where(
            ChargingProfile.station_id == station_id,
            ChargingProfile.status == "Accepted",
            ChargingProfile.id != row_id,
            sa.or_(
                ChargingProfile.profile_id == profile.id,
                sa.and_(
                    ChargingProfile.purpose == profile.purpose,
                    ChargingProfile.stack_level == profile.stack_level,
                ),
            ),
        )
    )
    gone = [
        r.id for r in rows if validation.replaces(version, evse_id, profile, validation.slot_of(r))
    ]
    if gone:
        await conn.execute(
            sa.update(ChargingProfile)
            .where(ChargingProfile.id.in_(gone))
            .values(status="Replaced", updated_at=utcnow())
        )


def _matching(station_id: str, clear: ClearChargingProfile) -> sa.ColumnElement[bool]:
    """The installed rows a ClearChargingProfile removes: by id, else every
    criterion given (1.6 §5.5, 2.0.1 K10). Never an external limit the
    station told of (NotifyChargingLimit, source "station"): it is the
    station's, and only ClearedChargingLimit ends it (K13)."""
    where: list[sa.ColumnElement[bool]] = [
        ChargingProfile.station_id == station_id,
        ChargingProfile.status == "Accepted",
        ChargingProfile.source != "station",
    ]
    if clear.profile_id is not None:
        where.append(ChargingProfile.profile_id == clear.profile_id)
    else:
        if clear.evse_id is not None:
            where.append(ChargingProfile.evse_id == clear.evse_id)
        if clear.purpose is not None:
            where.append(ChargingProfile.purpose == clear.purpose)
        if clear.stack_level is not None:
            where.append(ChargingProfile.stack_level == clear.stack_level)
    return sa.and_(*where)


async def clear_profiles(
    services: Services, station_id: str, clear: ClearChargingProfile, *, source: str = "api"
) -> CommandRecord:
    """Send ClearChargingProfile; Accepted, or Unknown (the station holds
    none that match: Volta's belief was stale), ends the matching rows as
    Cleared. `source` is who asked (kept for the log; the rows keep theirs)."""
    version = await station_version(services, station_id)
    if version is None:
        raise ProfileRefused(f"station {station_id} is unknown or has never connected")
    try:
        command = await send(services, station_id, clear, offline_version=version)
    except CannotSpell as exc:
        raise ProfileRefused(str(exc)) from None
    answer = (command.get("response") or {}).get("status")
    if command["status"] == "accepted" or answer == "Unknown":
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.update(ChargingProfile)
                .where(_matching(station_id, clear))
                .values(status="Cleared", command_id=command["id"], updated_at=utcnow())
            )
        log.info("%s: ClearChargingProfile %s by %s: %s", station_id, clear, source, answer)
    return command


async def record_start_profile(
    db: Database,
    station_id: str,
    version: Version,
    evse_id: int,
    profile: Profile,
    command: CommandRecord,
) -> InstalledProfile:
    """The TxProfile a remote start carried, once the station accepted the
    start (1.6 §5.11, 2.0.1 F01.FR.08): installed for the transaction to
    come. Until it starts it has no transactionId (see list_profiles)."""
    now = utcnow()
    async with db.write(station_id) as conn:
        row_id = (
            await conn.execute(
                sa.insert(ChargingProfile)
                .values(
                    station_id=station_id,
                    evse_id=evse_id,
                    profile_id=profile.id,
                    stack_level=profile.stack_level,
                    purpose=profile.purpose,
                    transaction_id=None,
                    profile=wire_of(profile),
                    source="api",
                    status="Accepted",
                    command_id=command["id"],
                    created_at=now,
                    updated_at=now,
                )
                .returning(ChargingProfile.id)
            )
        ).scalar_one()
        await _mark_replaced(conn, version, station_id, evse_id, profile, row_id)
        row = (
            await conn.execute(sa.select(ChargingProfile).where(ChargingProfile.id == row_id))
        ).one()
    return _installed(row, command)


async def recover_requested(db: Database, older_than: dt.timedelta | None = None) -> int:
    """Profiles left `Requested` by a stop mid-command never got their answer:
    Failed, so that nothing counts them as installed (their commands are
    marked as errors by remote_control.recover_pending). With several nodes,
    only those older than any live node's wait (`older_than`)."""
    now = utcnow()
    stmt = sa.update(ChargingProfile).where(ChargingProfile.status == "Requested")
    if older_than is not None:
        stmt = stmt.where(ChargingProfile.updated_at < now - older_than)
    async with db.write() as conn:
        result = await conn.execute(stmt.values(status="Failed", updated_at=now))
    return int(result.rowcount or 0)


# -- reading -------------------------------------------------------------------


async def installed_profiles(
    db: Database, station_id: str, evse_id: int | None = None
) -> list[InstalledProfile]:
    """What Volta believes is installed at the station (rows Accepted)."""
    return await list_profiles(db, station_id, evse_id=evse_id)


async def list_profiles(
    db: Database,
    station_id: str,
    *,
    evse_id: int | None = None,
    purpose: str | None = None,
    history: bool = False,
    limit: int = 1000,
) -> list[InstalledProfile]:
    """Installed profiles, or with `history` every row (newest first).

    A TxProfile ends with its transaction (1.6 §3.13.1; 2.0.1
    ChargingProfilePurposeEnumType: TxProfile): once the transaction is no
    longer active its profile is not counted as installed, though its row
    stays Accepted (history shows it)."""
    stmt = sa.select(ChargingProfile).where(ChargingProfile.station_id == station_id)
    if evse_id is not None:
        stmt = stmt.where(ChargingProfile.evse_id == evse_id)
    if purpose is not None:
        stmt = stmt.where(ChargingProfile.purpose == purpose)
    if history:
        stmt = stmt.order_by(ChargingProfile.id.desc())
    else:
        stmt = stmt.where(ChargingProfile.status == "Accepted").order_by(
            ChargingProfile.evse_id, ChargingProfile.id
        )
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit))).all()
        if not history and any(r.purpose == TX for r in rows):
            rows = await _running_only(conn, station_id, rows)
    return [_installed(r) for r in rows]


async def _running_only(conn: Any, station_id: str, rows: list[Any]) -> list[Any]:
    """The rows less TxProfiles whose transaction is over. A remote start's
    profile (no transactionId, record_start_profile) follows its start
    request: held while the start is pending, then its transaction's."""
    running = await conn.execute(
        sa.select(Transaction.id, Transaction.station_transaction_id).where(
            Transaction.station_id == station_id, Transaction.status == "Active"
        )
    )
    # 1.6 names a transaction by Volta's id, 2.0.1 by the station's.
    active = {x for t in running for x in (str(t.id), t.station_transaction_id)}
    starts: dict[str, Any] = {}
    waiting = [r.command_id for r in rows if r.purpose == TX and not r.transaction_id]
    if any(waiting):
        found = await conn.execute(
            sa.select(
                RemoteStartRecord.command_id,
                RemoteStartRecord.status,
                RemoteStartRecord.transaction_id,
            ).where(RemoteStartRecord.command_id.in_([c for c in waiting if c]))
        )
        starts = {f.command_id: f for f in found}

    def held(r: Any) -> bool:
        if r.purpose != TX:
            return True
        if r.transaction_id:
            return bool(r.transaction_id in active)
        start = starts.get(r.command_id)
        if start is None:
            return True  # reported by the station: it knows
        if start.transaction_id is not None:
            return str(start.transaction_id) in active
        return bool(start.status in ("Requested", "Accepted"))

    return [r for r in rows if held(r)]


async def next_profile_id(db: Database, station_id: str, *, allocator: bool = False) -> int:
    """One more than the highest profile id used at the station in its range
    (the API's below ALLOCATOR_IDS, the allocator's from it up)."""
    low, high = (ALLOCATOR_IDS, 2**31 - 1) if allocator else (1, ALLOCATOR_IDS - 1)
    async with db.read() as conn:
        top = (
            await conn.execute(
                sa.select(sa.func.max(ChargingProfile.profile_id)).where(
                    ChargingProfile.station_id == station_id,
                    ChargingProfile.profile_id.between(low, high),
                )
            )
        ).scalar_one_or_none()
    return low if top is None else int(top) + 1
