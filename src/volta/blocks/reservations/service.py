"""Hold a connector (1.6), an EVSE or a connector type (2.0.1) for a driver.

A reservation is stored `Requested` before ReserveNow goes out (its row id is
the reservationId), then takes the station's answer. An Accepted one ends as
Used (a transaction consumed it, see transactions.service._link_start),
Cancelled (CancelReservation accepted), Expired (its time passed: Volta's
housekeeping, or 2.0.1 ReservationStatusUpdate) or Removed (2.0.1
ReservationStatusUpdate, e.g. the EVSE went Faulted).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from volta.blocks.authorization.service import authorize
from volta.blocks.remote_control.service import send, send_command
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.services import Services
from volta.store.db import Database
from volta.store.models import Reservation, utcnow
from volta.store.search import text_in

# 2.0.1 ConnectorEnumType: a reservation of a connector type (any EVSE with one);
# the API validates against it and the console offers it.
ConnectorType = Literal[
    "cCCS1",
    "cCCS2",
    "cG105",
    "cTesla",
    "cType1",
    "cType2",
    "s309-1P-16A",
    "s309-1P-32A",
    "s309-3P-16A",
    "s309-3P-32A",
    "sBS1361",
    "sCEE-7-7",
    "sType2",
    "sType3",
    "Other1PhMax16A",
    "Other1PhOver16A",
    "Other3Ph",
    "Pan",
    "wInductive",
    "wResonant",
    "Undetermined",
    "Unknown",
]

log = logging.getLogger(__name__)

LIVE = ("Requested", "Accepted")
# What ReserveNow / CancelReservation answers mean for the reservation.
_ANSWERS = {"Accepted", "Faulted", "Occupied", "Rejected", "Unavailable"}


class ReservationRefused(Exception):
    """The reservation cannot be made; the message says why (for a 409)."""


class StationRefused(ReservationRefused):
    """The station did not accept ReserveNow (H01 / 1.6 §5.13: Occupied,
    Faulted, Rejected, Unavailable; or no answer: Failed). The reservation is
    stored with that status, which holds nothing."""

    def __init__(self, reservation: dict[str, Any]) -> None:
        self.reservation = reservation
        self.station_status: str | None = (reservation["command"].get("response") or {}).get(
            "status"
        )
        if self.station_status is not None:
            why = f"answered ReserveNow {self.station_status}"
        else:
            why = f"did not answer ReserveNow ({reservation['command']['status']})"
        super().__init__(f"station {reservation['station_id']} {why}; nothing is reserved")


@dataclass(frozen=True, slots=True)
class ReservationRequest:
    station_id: str
    id_token: str
    expires_at: dt.datetime
    evse_id: int | None = None
    connector_type: str | None = None
    id_token_type: str = "ISO14443"


@dataclass(frozen=True, slots=True)
class ReserveNow:
    """The version-neutral ReserveNow (1.6 §5.13, 2.0.1 H01); spelled by v16.py / v201.py."""

    reservation_id: int
    expires_at: dt.datetime
    id_token: str
    id_token_type: str
    evse_id: int | None = None
    connector_type: str | None = None
    group_id: str | None = None
    group_type: str | None = None


@dataclass(frozen=True, slots=True)
class CancelReservation:
    reservation_id: int


async def reserve(services: Services, req: ReservationRequest) -> dict[str, Any]:
    """Store the reservation, send ReserveNow and record the answer."""
    version = services.router.version_of(req.station_id)
    if version is None:
        raise ReservationRefused(f"station {req.station_id} is not connected")
    if req.expires_at <= utcnow():
        raise ReservationRefused("expires_at is in the past")
    auth = await authorize(services.db, req.id_token, req.id_token_type)
    if not auth.accepted:
        raise ReservationRefused(f"id token {req.id_token} is {auth.status}")
    db = services.db
    now = utcnow()
    async with db.write(req.station_id) as conn:
        # One live reservation per token: a driver holds one place at a time
        # (a second would keep a connector from others for nothing; stations
        # differ in what they do with a second ReserveNow for the same idTag).
        held = (
            await conn.execute(
                sa.select(Reservation.id, Reservation.station_id).where(
                    Reservation.id_token == req.id_token,
                    Reservation.status.in_(LIVE),
                    Reservation.expires_at > now,
                )
            )
        ).first()
        if held is not None:
            raise ReservationRefused(
                f"id token {req.id_token} already holds reservation {held.id} at {held.station_id}"
            )
        if req.evse_id:
            clash = (
                await conn.execute(
                    sa.select(Reservation.id).where(
                        Reservation.station_id == req.station_id,
                        Reservation.evse_id == req.evse_id,
                        Reservation.status.in_(LIVE),
                        Reservation.expires_at > now,
                    )
                )
            ).first()
            if clash is not None:
                raise ReservationRefused(
                    f"EVSE {req.evse_id} of {req.station_id} is already reserved "
                    f"(reservation {clash.id})"
                )
        result = await conn.execute(
            sa.insert(Reservation)
            .values(
                station_id=req.station_id,
                protocol=version.value,
                evse_id=req.evse_id,
                connector_type=req.connector_type,
                id_token=req.id_token,
                id_token_type=req.id_token_type,
                group_id=auth.group_id,
                expires_at=req.expires_at,
                status="Requested",
                created_at=now,
                updated_at=now,
            )
            .returning(Reservation.id)
        )
        reservation_id = int(result.scalar_one())
        # Spelled inside the transaction: a request the station's version
        # cannot express (a connector type to 1.6) leaves no reservation.
        try:
            message = services.outgoing[version].build(
                ReserveNow(
                    reservation_id,
                    req.expires_at,
                    req.id_token,
                    req.id_token_type,
                    evse_id=req.evse_id,
                    connector_type=req.connector_type,
                    group_id=auth.group_id,
                    group_type=auth.group_type,
                )
            )
        except CannotSpell as exc:
            raise ReservationRefused(str(exc)) from None
    command = await send_command(services, req.station_id, message.action, message.payload)
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in _ANSWERS else "Failed"
    await _set(db, req.station_id, reservation_id, status, command_id=command["id"], only=LIVE)
    found = await get_reservation(db, reservation_id)
    assert found is not None
    if status != "Accepted":
        raise StationRefused({**found, "command": command})
    return {**found, "command": command}


async def cancel(services: Services, reservation_id: int) -> dict[str, Any] | None:
    """Send CancelReservation; an Accepted answer ends the reservation."""
    found = await get_reservation(services.db, reservation_id)
    if found is None:
        return None
    if found["status"] not in LIVE:
        raise ReservationRefused(f"reservation {reservation_id} is {found['status']}")
    station_id = found["station_id"]
    command = await send(
        services,
        station_id,
        CancelReservation(reservation_id),
        offline_version=Version(found["protocol"]),
    )
    if command["status"] == "accepted":
        await _set(services.db, station_id, reservation_id, "Cancelled", only=LIVE)
    found = await get_reservation(services.db, reservation_id)
    assert found is not None
    return {**found, "command": command}


async def status_update(db: Database, station_id: str, reservation_id: int, update: str) -> bool:
    """2.0.1 ReservationStatusUpdate: Expired or Removed."""
    return await _set(db, station_id, reservation_id, update, only=LIVE)


async def expire_due(db: Database) -> int:
    """Reservations whose time has passed end as Expired (H04: the
    station ends them too, but Volta must not count on hearing of it)."""
    due = sa.and_(Reservation.status.in_(LIVE), Reservation.expires_at <= utcnow())
    # Read first: housekeeping must not wait on the write lock for nothing.
    async with db.read() as conn:
        if (await conn.execute(sa.select(Reservation.id).where(due).limit(1))).first() is None:
            return 0
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(Reservation).where(due).values(status="Expired", updated_at=utcnow())
        )
    return int(result.rowcount or 0)


async def _set(
    db: Database,
    station_id: str,
    reservation_id: int,
    status: str,
    *,
    only: tuple[str, ...],
    command_id: str | None = None,
) -> bool:
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if command_id is not None:
        values["command_id"] = command_id
    async with db.write(station_id) as conn:
        result = await conn.execute(
            sa.update(Reservation)
            .where(
                Reservation.id == reservation_id,
                Reservation.station_id == station_id,
                Reservation.status.in_(only),
            )
            .values(**values)
        )
    return bool(result.rowcount)


async def get_reservation(db: Database, reservation_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(Reservation).where(Reservation.id == reservation_id)))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_reservations(
    db: Database,
    *,
    station_id: str | None = None,
    status: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; `search` a part of the station id or the id token."""
    stmt = sa.select(Reservation).order_by(Reservation.id.desc()).limit(limit).offset(offset)
    if search:
        stmt = stmt.where(text_in(search, Reservation.station_id, Reservation.id_token))
    if station_id is not None:
        stmt = stmt.where(Reservation.station_id == station_id)
    if status is not None:
        stmt = stmt.where(Reservation.status == status)
    if active is not None:
        live = sa.and_(Reservation.status.in_(LIVE), Reservation.expires_at > utcnow())
        stmt = stmt.where(live if active else sa.not_(live))
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
