"""Station passwords and their rotation (OCPP 2.0.1 A01 "Update Charging
Station Password for HTTP Basic Authentication", TC_A_09/10_CSMS; 1.6
security whitepaper A01, TC_073_CSMS).

Volta makes a strong password, keeps only its hash, and sends it: 2.0.1
SetVariables SecurityCtrlr.BasicAuthPassword, 1.6 ChangeConfiguration
AuthorizationKey (hex-encoded, see `generate`). From the moment it is sent
until the station signs in with it, both the old and the new password open
the door (a station that answered Accepted, A01.FR.03, may reconnect with
the new one at once: TC_A_09 / TC_073 step 3); the first sign-in with
the new one makes it the station's password, drops the old one and emits
`security.password_rotated`. A refusal, a CALLERROR or no answer forgets the
new one: the old one stays, the rotation is `failed`.

The new password is never stored in clear or logged: the commands table
and the frame log keep `REDACTED` in its place (volta.ocpp.redact).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import string
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta import metrics
from volta.events import service as events
from volta.ocpp.redact import redact_payload
from volta.ocpp.versions import Version
from volta.security import hash_password, verify_password
from volta.services import Services
from volta.store.db import Database
from volta.store.models import Command, Station, StationPassword, utcnow

log = logging.getLogger(__name__)

# 2.0.1 passwordString (Part 2 §2.1.4 primitive datatypes): a-z, A-Z, 0-9
# and * - _ = : + | @ . ; BasicAuthPassword is 16 to 40 characters
# (A00.FR.205: maxLimit at least 40).
ALPHABET = string.ascii_letters + string.digits + "*-_=:+|@."
V201_LENGTH = 32
# 1.6 AuthorizationKey: 16 to 20 bytes, sent as at most 40 hex digits (whitepaper
# A00.FR.205, TC_073_CSMS). Volta chooses 20 printable characters of the same
# alphabet: the station's Basic password is these 20 bytes, which are text,
# so stations that type or store it as text keep working.
V16_LENGTH = 20
# A rotation still `sending` after this long was cut short (a crash or a
# lost node): it no longer holds the station's next rotation back.
STALE_SENDING = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SetStationPassword:
    """Give the station a new HTTP Basic password (2.0.1 A01, 1.6 A01)."""

    password: str = field(repr=False)


class RotationRefused(Exception):
    """A rotation that cannot start (409): no password, offline, one in flight."""


class StationNotFound(Exception):
    pass


class _UnderWay(Exception):
    """Rolls the claim back: another rotation of the station is being sent."""


@dataclass(frozen=True, slots=True)
class RotationView:
    station_id: str
    state: str
    started_by: str
    command_id: str | None
    detail: str | None
    requested_at: dt.datetime
    answered_at: dt.datetime | None
    rotated_at: dt.datetime | None


def generate(version: Version) -> str:
    """A new random password in the alphabet and length of `version`."""
    length = V16_LENGTH if version is Version.V16 else V201_LENGTH
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def station_accepted(response: dict[str, Any] | None) -> tuple[bool, str | None]:
    """Whether the station took the password, and its status: 1.6
    ChangeConfiguration `status`, 2.0.1 SetVariables `attributeStatus` of the
    one variable set. RebootRequired counts: the station will use the new
    password after its reboot, the old one is accepted until then."""
    if not response:
        return False, None
    results = response.get("setVariableResult")
    if isinstance(results, list):
        status = results[0].get("attributeStatus") if results else None
    else:
        status = response.get("status")
    return status in ("Accepted", "RebootRequired"), status


async def get_rotation(db: Database, station_id: str) -> RotationView | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(_VIEW.where(StationPassword.station_id == station_id)))
            .mappings()
            .first()
        )
    return RotationView(**row) if row is not None else None


_VIEW = sa.select(
    StationPassword.station_id,
    StationPassword.state,
    StationPassword.started_by,
    StationPassword.command_id,
    StationPassword.detail,
    StationPassword.requested_at,
    StationPassword.answered_at,
    StationPassword.rotated_at,
)


async def rotate(services: Services, station_id: str, *, started_by: str = "api") -> RotationView:
    """Send the station a new password and record what became of it.
    Raises StationNotFound, RotationRefused (no password: profile 3 or none;
    offline; a rotation in flight)."""
    db = services.db
    async with db.read() as conn:
        station = (
            await conn.execute(sa.select(Station.password_hash).where(Station.id == station_id))
        ).first()
    if station is None:
        raise StationNotFound(station_id)
    current_hash = station.password_hash
    if not current_hash:
        raise RotationRefused(
            f"station {station_id} has no password (security profile 3 or none): nothing to rotate"
        )
    version = services.router.version_of(station_id)
    if version is None:
        raise RotationRefused(f"station {station_id} is not connected")
    password = generate(version)
    message = services.outgoing[version].build(SetStationPassword(password))
    hashed = await asyncio.to_thread(hash_password, password)
    command_id = str(uuid.uuid4())
    now = utcnow()
    # A rotation still `sending` holds the next one back, unless it was cut
    # short (a crash, a lost node) long ago.
    stale = now - max(STALE_SENDING, dt.timedelta(seconds=3 * services.settings.call_timeout))
    rotation = {
        "state": "sending",
        "next_hash": hashed,
        "replaces_hash": current_hash,
        "started_by": started_by,
        "command_id": command_id,
        "detail": None,
        "requested_at": now,
        "answered_at": None,
        "rotated_at": None,
    }
    try:
        async with db.write(station_id) as conn:
            # One statement decides, so two requests at once cannot both send.
            upsert = db.insert(StationPassword).values(station_id=station_id, **rotation)
            claimed = (
                await conn.execute(
                    upsert.on_conflict_do_update(
                        index_elements=["station_id"],
                        set_=rotation,
                        where=(StationPassword.state != "sending")
                        | (StationPassword.requested_at < stale),
                    ).returning(StationPassword.station_id)
                )
            ).first()
            if claimed is None:
                raise _UnderWay()
            await conn.execute(
                sa.insert(Command).values(
                    id=command_id,
                    station_id=station_id,
                    action=message.action,
                    # Stored without the password; the wire gets the real payload.
                    payload=redact_payload(message.action, message.payload),
                    status="pending",
                    created_at=now,
                )
            )
    except _UnderWay:
        raise RotationRefused(f"a password rotation of station {station_id} is under way") from None
    log.info("rotating the password of station %s (%s)", station_id, started_by)
    outcome = await asyncio.shield(
        services.router.call(station_id, message.action, message.payload)
    )
    took, status = False, None
    if outcome.status in ("accepted", "rejected"):  # a CALLRESULT: what it says
        took, status = station_accepted(outcome.response)
    # Failed: the station's status, else the CALLERROR's code, else timeout / offline.
    detail = None if took else (status or outcome.error_code or outcome.status)
    command_status = "accepted" if took else ("rejected" if status else outcome.status)
    answered = utcnow()
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(Command)
            .where(Command.id == command_id)
            .values(
                status=command_status,
                message_id=outcome.message_id,
                response=outcome.response,
                error_code=outcome.error_code,
                error_description=outcome.error_description,
                completed_at=answered,
            )
        )
        # Only this rotation's row, and only while still `sending`: a station
        # that already signed in with the new password made it `rotated`.
        mine = (StationPassword.station_id == station_id) & (
            StationPassword.command_id == command_id
        )
        if took:
            await conn.execute(
                sa.update(StationPassword)
                .where(mine, StationPassword.state == "sending")
                .values(state="pending", answered_at=answered)
            )
        else:
            await conn.execute(
                sa.update(StationPassword)
                .where(mine, StationPassword.state == "sending")
                .values(state="failed", next_hash=None, detail=detail, answered_at=answered)
            )
    metrics.COMMANDS.labels(message.action, command_status).inc()
    if not took:
        log.warning(
            "station %s did not take its new password (%s): the old one stays",
            station_id,
            detail,
        )
    found = await get_rotation(db, station_id)
    assert found is not None
    return found


async def sign_in_with_next(
    db: Database, station_id: str, password: str, current_hash: str
) -> str | None:
    """The station's password (`current_hash`) did not match: is it the new
    one of a rotation under way? Then it becomes the station's password (the
    old one is dropped, `security.password_rotated` emitted) and its hash is
    returned. A rotation begun before the operator set another password
    (PATCH /stations) is void: the operator's password wins."""
    async with db.read() as conn:
        pending = (
            await conn.execute(
                sa.select(StationPassword.next_hash, StationPassword.replaces_hash).where(
                    StationPassword.station_id == station_id,
                    StationPassword.next_hash.is_not(None),
                )
            )
        ).first()
    if pending is None or pending.replaces_hash != current_hash:
        return None
    next_hash = str(pending.next_hash)
    if not await asyncio.to_thread(verify_password, password, next_hash):
        return None
    now = utcnow()
    async with db.write(station_id) as conn:
        done = (
            await conn.execute(
                sa.update(StationPassword)
                .where(
                    StationPassword.station_id == station_id,
                    StationPassword.next_hash == next_hash,
                )
                .values(state="rotated", next_hash=None, rotated_at=now, detail=None)
                .returning(StationPassword.started_by)
            )
        ).first()
        if done is not None:
            await conn.execute(
                sa.update(Station)
                .where(Station.id == station_id, Station.password_hash == current_hash)
                .values(password_hash=next_hash)
            )
            await events.emit(
                conn, "security.password_rotated", station_id=station_id, started_by=done[0]
            )
    if done is not None:
        log.info("station %s signed in with its new password; the old one is dropped", station_id)
    return next_hash


async def rotate_due(services: Services) -> int:
    """Scheduled rotation (`password_rotation_days`), on the leader: connected
    stations with a password whose last rotation (or creation) is older than
    the period, at most `password_rotation_batch` a run. Returns how many
    were started."""
    settings = services.settings
    days = settings.password_rotation_days
    if days <= 0:
        return 0
    due_before = utcnow() - dt.timedelta(days=days)
    last = sa.func.coalesce(StationPassword.rotated_at, Station.created_at)
    stmt = (
        sa.select(Station.id)
        .outerjoin(StationPassword, StationPassword.station_id == Station.id)
        .where(
            Station.password_hash.is_not(None),
            Station.connection_id.is_not(None),
            last < due_before,
            # A failed or pending rotation is tried again a period after it
            # was asked for, not at every run.
            sa.or_(
                StationPassword.station_id.is_(None),
                StationPassword.requested_at < due_before,
            ),
        )
        .order_by(last)
        .limit(settings.password_rotation_batch)
    )
    async with services.db.read() as conn:
        due = [r[0] for r in (await conn.execute(stmt)).all()]
    started = 0
    for station_id in due:
        if services.router.version_of(station_id) is None:
            continue
        # Each in the background: a station's answer may take call_timeout,
        # and housekeeping's other work must not wait for it.
        services.spawn(_scheduled(services, station_id), name=f"password-rotation-{station_id}")
        started += 1
    return started


async def _scheduled(services: Services, station_id: str) -> None:
    try:
        await rotate(services, station_id, started_by="schedule")
    except (RotationRefused, StationNotFound) as exc:
        log.info("scheduled password rotation of %s skipped: %s", station_id, exc)
