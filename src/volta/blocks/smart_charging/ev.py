"""An EV's needs and schedule, as stations tell them (2.0.1 K15-K17, ISO
15118; 1.6 has no such messages).

- The needs (NotifyEVChargingNeeds) go into `evse_allocations` for the
  allocator, and are forgotten when the transaction ends.
- The schedule (NotifyEVChargingSchedule) is checked against the composite
  of what Volta believes installed; when it exceeds it, Volta sends the
  EVSE's TxProfile again to renegotiate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging.limits import evse_known, ongoing_transaction
from volta.blocks.smart_charging.service import install_profile, installed_profiles
from volta.events import service as events
from volta.ocpp.charging import TX, Profile, Schedule, from_v201
from volta.ocpp.composite import composite_schedule
from volta.services import Services
from volta.store.db import Database
from volta.store.models import ChargingProfile, EvseAllocation, Station, utcnow
from volta.store.models import Transaction as Tx

# Limits carry one decimal (1.6 §7.9, 2.0.1 ChargingSchedulePeriodType):
# closer than this is equal.
TOLERANCE = 0.05
# How far an EV schedule without a duration is checked.
DAY_S = 86_400
_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


# -- an EV's needs (K15, K17) -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargingNeeds:
    """A NotifyEVChargingNeedsRequest, flattened. The currents are AC per
    phase (acChargingParameters) or, for DC, the EV's DC maximum."""

    evse_id: int
    transfer_mode: str  # DC, AC_single_phase, AC_two_phase, AC_three_phase
    departure_at: dt.datetime | None = None
    energy_wh: float | None = None
    min_current_a: float | None = None
    max_current_a: float | None = None


@dataclass(frozen=True, slots=True)
class NeedsAnswer:
    """NotifyEVChargingNeedsResponse status, and why when not Accepted."""

    status: str  # Accepted, Rejected, Processing
    code: str | None = None  # StatusInfo reasonCode (up to 20 characters)
    reason: str | None = None
    transaction_id: str | None = None  # the ongoing 2.0.1 transaction, if any


async def record_needs(db: Database, station_id: str, needs: ChargingNeeds) -> NeedsAnswer:
    """Store the needs on the EVSE's allocation and say whether Volta will
    give the EV a schedule:

    - Rejected (K15.FR.04) on EVSE 0 or an EVSE the station never reported
      (nothing stored), or when the station is on no site: without a site
      Volta has no limit to plan in (the needs are kept all the same, for
      when it is placed on one).
    - Accepted (K15.FR.03 / K17.FR.03) when a transaction runs on the EVSE:
      the allocator sends its TxProfile next (K15.FR.07).
    - Processing (K15.FR.05) before the transaction started: the TxProfile
      needs its transactionId and follows once it has started.

    A new allocation row is created with status `Needs` and limit 0 (the
    allocator has not given it anything yet); an existing row keeps its
    limit and status.
    """
    if needs.evse_id <= 0:
        return NeedsAnswer("Rejected", "UnknownEvse", "evseId may not be 0 (K15)")
    async with db.write(station_id) as conn:
        if not await evse_known(conn, station_id, needs.evse_id, strict=True):
            return NeedsAnswer("Rejected", "UnknownEvse", f"EVSE {needs.evse_id} is unknown")
        site_id = (
            await conn.execute(sa.select(Station.site_id).where(Station.id == station_id))
        ).scalar_one_or_none()
        tx = await ongoing_transaction(conn, station_id, needs.evse_id)
        now = utcnow()
        changes: dict[str, Any] = {
            "departure_at": needs.departure_at,
            "energy_needed_wh": needs.energy_wh,
            "ev_min_current_a": needs.min_current_a,
            "ev_max_current_a": needs.max_current_a,
            "updated_at": now,
        }
        if needs.transfer_mode in _PHASES:
            changes["phases"] = _PHASES[needs.transfer_mode]
        if tx is not None:
            changes["transaction_id"] = tx
        await conn.execute(
            db.insert(EvseAllocation)
            .values(
                station_id=station_id,
                evse_id=needs.evse_id,
                site_id=site_id,
                limit_a=0.0,
                priority=0,
                status="Needs",
                **{"phases": 3, **changes},
            )
            .on_conflict_do_update(index_elements=["station_id", "evse_id"], set_=changes)
        )
    if site_id is None:
        return NeedsAnswer("Rejected", "NoSchedule", "the station is on no site", tx)
    if tx is None:
        return NeedsAnswer(
            "Processing", "NoTransaction", "the TxProfile follows when the transaction starts"
        )
    return NeedsAnswer("Accepted", transaction_id=tx)


async def forget_needs(db: Database, station_id: str, evse_id: int) -> None:
    """The session ended: what its EV needed no longer holds."""
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(EvseAllocation)
            .where(
                EvseAllocation.station_id == station_id,
                EvseAllocation.evse_id == evse_id,
                sa.or_(
                    EvseAllocation.departure_at.is_not(None),
                    EvseAllocation.energy_needed_wh.is_not(None),
                    EvseAllocation.ev_max_current_a.is_not(None),
                ),
            )
            .values(
                departure_at=None,
                energy_needed_wh=None,
                ev_min_current_a=None,
                ev_max_current_a=None,
                updated_at=utcnow(),
            )
        )


# -- an EV's schedule (K15-K17) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScheduleCheck:
    """Whether the EV's schedule stays within the limit in force; where not,
    the first moment it exceeds it and both values (in the EV's unit)."""

    within: bool
    at: dt.datetime | None = None
    requested: float | None = None
    allowed: float | None = None
    unit: str | None = None
    reason: str | None = None


async def check_ev_schedule(
    db: Database, station_id: str, evse_id: int, time_base: dt.datetime, schedule: Schedule
) -> ScheduleCheck:
    """K15.FR.11/12, K16.FR.06/07, K17.FR.11/12: the CSMS checks the EV's
    schedule against its own; exceeding it emits `ev_schedule.exceeded`.

    The limit in force is the composite (volta.ocpp.composite) of every
    profile Volta believes installed at the station (its own and the
    external limits stations told of), for the transaction running on the
    EVSE. No limit in force: within."""
    async with db.read() as conn:
        if not await evse_known(conn, station_id, evse_id, strict=True):
            return ScheduleCheck(False, reason=f"EVSE {evse_id} is unknown")
        tx = (
            await conn.execute(
                sa.select(Tx.station_transaction_id, Tx.started_at)
                .where(Tx.station_id == station_id, Tx.evse_id == evse_id, Tx.status == "Active")
                .order_by(Tx.id.desc())
                .limit(1)
            )
        ).first()
        rows = (
            await conn.execute(
                sa.select(ChargingProfile.evse_id, ChargingProfile.profile)
                .where(
                    ChargingProfile.station_id == station_id,
                    ChargingProfile.evse_id.in_((evse_id, 0)),
                    ChargingProfile.status.in_(("Accepted", "Requested")),
                )
                .order_by(ChargingProfile.id)
            )
        ).all()
    installed = _in_force([(r.evse_id, from_v201(r.profile)) for r in rows])
    check = exceeds(
        schedule,
        time_base,
        installed,
        evse_id,
        transaction_id=tx.station_transaction_id if tx else None,
        transaction_start=tx.started_at if tx else None,
    )
    if not check.within:
        async with db.write(station_id) as conn:
            await events.emit(
                conn,
                "ev_schedule.exceeded",
                station_id=station_id,
                evse_id=evse_id,
                at=check.at,
                requested=check.requested,
                allowed=check.allowed,
                unit=check.unit,
            )
    return check


async def renegotiate(services: Services, station_id: str, evse_id: int) -> bool:
    """K15.FR.13 / K16.FR.08 / K17.FR.13: after rejecting an EV's schedule
    the CSMS starts a new renegotiation (K16) by sending the EVSE's TxProfile
    again. False when Volta has no TxProfile there for the running
    transaction (the limit came from elsewhere: nothing of its own to send)."""
    async with services.db.read() as conn:
        tx = await ongoing_transaction(conn, station_id, evse_id)
    if tx is None:
        return False
    mine = [
        p
        for p in await installed_profiles(services.db, station_id, evse_id)
        if p.purpose == TX and p.transaction_id == tx
    ]
    if not mine:
        return False
    top = max(mine, key=lambda p: (p.stack_level, p.id))
    again = await install_profile(services, station_id, evse_id, top.model, source=top.source)
    return again.status == "Accepted"


def _in_force(rows: list[tuple[int, Profile]]) -> list[tuple[int, Profile]]:
    """Installed profiles, and those sent but not yet answered: an EV may
    answer with its schedule before the station's SetChargingProfileResponse
    reached Volta (ISO 15118 renegotiates at once), and its schedule follows
    the newest profile. A newer one takes the place of those it replaces
    (the same id, or EVSE, purpose and stack level: K01.FR.05)."""
    out: list[tuple[int, Profile]] = []
    for evse, profile in rows:
        out = [
            (e, p)
            for e, p in out
            if p.id != profile.id
            and (e, p.purpose, p.stack_level) != (evse, profile.purpose, profile.stack_level)
        ]
        out.append((evse, profile))
    return out


def exceeds(
    ev: Schedule,
    time_base: dt.datetime,
    installed: list[tuple[int, Profile]],
    evse_id: int,
    *,
    transaction_id: str | None = None,
    transaction_start: dt.datetime | None = None,
) -> ScheduleCheck:
    """The EV's schedule (from `time_base`) against the composite, in the
    EV's unit. Both are step functions: comparing them at every step of
    either is exact. A schedule without duration is checked for a day."""
    if not ev.periods:
        return ScheduleCheck(True)
    span = ev.duration_s or DAY_S
    composite = composite_schedule(
        installed,
        evse_id,
        time_base,
        span,
        unit=ev.unit,
        transaction_id=transaction_id,
        transaction_start=transaction_start,
    )
    steps = {p.start_s for p in ev.periods} | {p.start_s for p in composite.periods}
    for offset in sorted(s for s in steps if 0 <= s < span):
        wanted, allowed = _step_at(ev, offset), _step_at(composite, offset)
        if wanted is not None and allowed is not None and wanted > allowed + TOLERANCE:
            at = time_base + dt.timedelta(seconds=offset)
            return ScheduleCheck(False, at, wanted, round(allowed, 1), ev.unit)
    return ScheduleCheck(True)


def _step_at(schedule: Schedule, offset: int) -> float | None:
    value = None
    for period in schedule.periods:
        if period.start_s <= offset:
            value = period.limit
    return value
