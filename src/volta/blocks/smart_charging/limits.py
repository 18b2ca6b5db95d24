"""What stations tell Volta about limits and EVs (2.0.1 block K; 1.6 has no
such messages).

- An external limit (K11/K12 NotifyChargingLimit: an EMS, the grid operator)
  is stored as a `charging_profiles` row, source `station`, purpose
  ChargingStationExternalConstraints, status `Accepted`: Volta counts it as
  installed, like the profiles it sent. A newer notice from the same source
  for the same EVSE replaces it; ClearedChargingLimit (K13) clears it.
- A report (K09 ReportChargingProfiles, the answer to GetChargingProfiles)
  is stored as rows status `Reported`, apart from what Volta believes is
  installed: what the station says it has. The first message of a new
  requestId for an EVSE replaces that EVSE's previous report.
- An EV's charging needs (K15/K17 NotifyEVChargingNeeds, ISO 15118) go into
  `evse_allocations` for the allocator, and are forgotten when the
  transaction ends.
- An EV's charging schedule (K15-K17 NotifyEVChargingSchedule) is checked
  against the limit in force on its EVSE.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.events import service as events
from volta.ocpp.charging import EXTERNAL, Profile, Schedule, from_v201, to_v201
from volta.ocpp.composite import composite_schedule
from volta.store.db import Conn, Database
from volta.store.models import ChargingProfile, Connector, EvseAllocation, Station, utcnow
from volta.store.models import Transaction as Tx

log = logging.getLogger(__name__)

# 2.0.1 ChargingLimitSourceEnumType; CSO is the operator, i.e. Volta.
LIMIT_SOURCES = ("CSO", "EMS", "SO", "Other")
# An external limit has no profile id on the wire; its rows carry this one
# (below the API's range, which starts at 1).
EXTERNAL_PROFILE_ID = 0
# How far an EV schedule without a duration is checked.
DAY_S = 86_400
# Limits carry one decimal (K01.FR.xx, 1.6 §7.9): closer than this is equal.
TOLERANCE = 0.05
_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


# -- external limits (K11, K12, K13) --------------------------------------------


@dataclass(frozen=True, slots=True)
class ExternalLimit:
    """A NotifyChargingLimitRequest: `evse_id` 0 is the whole station;
    `schedules` is empty when the station did not send them (K12.FR.03: only
    with EnableNotifyChargingLimitWithSchedules)."""

    evse_id: int
    source: str
    grid_critical: bool
    schedules: tuple[Schedule, ...]


async def notify_limit(db: Database, station_id: str, limit: ExternalLimit) -> int | None:
    """Store the limit (replacing the same source's older one on that EVSE)
    and emit `charging_limit.notified`; returns the new row's id, None when
    the notice carried no schedule (the older limit is then replaced by an
    unknown one: its row ends `Replaced`, none takes its place)."""
    now = utcnow()
    async with db.write(station_id) as conn:
        if not await _evse_known(conn, station_id, limit.evse_id):
            log.info("%s: NotifyChargingLimit for unknown EVSE %s", station_id, limit.evse_id)
            return None
        await conn.execute(
            sa.update(ChargingProfile)
            .where(_external(station_id, limit.source), ChargingProfile.evse_id == limit.evse_id)
            .values(status="Replaced", updated_at=now)
        )
        row_id = None
        if limit.schedules:
            # Absolute from now when the schedule does not say when it starts:
            # the limit holds from the moment the station tells of it.
            schedules = tuple(
                s if s.start is not None else _with_start(s, now) for s in limit.schedules
            )
            profile = Profile(
                id=EXTERNAL_PROFILE_ID,
                stack_level=0,
                purpose=EXTERNAL,
                kind="Absolute",
                schedules=schedules,
            )
            row_id = await _insert(
                conn, station_id, limit.evse_id, profile, "Accepted", now, limit_source=limit.source
            )
        first = limit.schedules[0] if limit.schedules else None
        await events.emit(
            conn,
            "charging_limit.notified",
            station_id=station_id,
            evse_id=limit.evse_id,
            source=limit.source,
            grid_critical=limit.grid_critical,
            unit=first.unit if first else None,
            limit=first.periods[0].limit if first else None,
        )
    return row_id


async def clear_limit(db: Database, station_id: str, source: str, evse_id: int | None) -> int:
    """K13 ClearedChargingLimit: the source's limits (on `evse_id`, or on
    every EVSE when it is not given) end `Cleared`; returns how many."""
    async with db.write(station_id) as conn:
        where = _external(station_id, source)
        if evse_id is not None:
            where = sa.and_(where, ChargingProfile.evse_id == evse_id)
        result = await conn.execute(
            sa.update(ChargingProfile).where(where).values(status="Cleared", updated_at=utcnow())
        )
        cleared = int(result.rowcount or 0)
        await events.emit(
            conn,
            "charging_limit.cleared",
            station_id=station_id,
            evse_id=evse_id,
            source=source,
            cleared=cleared,
        )
    return cleared


def _external(station_id: str, source: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        ChargingProfile.station_id == station_id,
        ChargingProfile.source == "station",
        ChargingProfile.purpose == EXTERNAL,
        ChargingProfile.status == "Accepted",
        ChargingProfile.limit_source == source,
    )


def _with_start(schedule: Schedule, start: dt.datetime) -> Schedule:
    return Schedule(
        unit=schedule.unit,
        periods=schedule.periods,
        id=schedule.id,
        start=start,
        duration_s=schedule.duration_s,
        min_rate=schedule.min_rate,
    )


# -- reports (K09) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """One ReportChargingProfilesRequest (one of several when `tbc`)."""

    request_id: int
    evse_id: int
    source: str
    profiles: tuple[dict[str, Any], ...]  # ChargingProfileType, schema-valid
    tbc: bool = False


async def store_report(db: Database, station_id: str, report: Report) -> int:
    """Keep the reported profiles as `Reported` rows; the EVSE's rows from
    an earlier requestId end `Replaced` (the messages of one requestId add
    up: tbc, or one message per source). Returns how many were stored."""
    now = utcnow()
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(ChargingProfile)
            .where(
                ChargingProfile.station_id == station_id,
                ChargingProfile.evse_id == report.evse_id,
                ChargingProfile.status == "Reported",
                ChargingProfile.report_id != report.request_id,
            )
            .values(status="Replaced", updated_at=now)
        )
        for wire in report.profiles:
            await _insert(
                conn,
                station_id,
                report.evse_id,
                from_v201(wire),
                "Reported",
                now,
                limit_source=report.source,
                report_id=report.request_id,
            )
    return len(report.profiles)


async def _insert(
    conn: Conn,
    station_id: str,
    evse_id: int,
    profile: Profile,
    status: str,
    now: dt.datetime,
    *,
    limit_source: str,
    report_id: int | None = None,
) -> int:
    return int(
        (
            await conn.execute(
                sa.insert(ChargingProfile)
                .values(
                    station_id=station_id,
                    evse_id=evse_id,
                    profile_id=profile.id,
                    stack_level=profile.stack_level,
                    purpose=profile.purpose,
                    transaction_id=profile.transaction_id,
                    profile=to_v201(profile),
                    source="station",
                    status=status,
                    limit_source=limit_source,
                    report_id=report_id,
                    created_at=now,
                    updated_at=now,
                )
                .returning(ChargingProfile.id)
            )
        ).scalar_one()
    )


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
        if not await _evse_known(conn, station_id, needs.evse_id, strict=True):
            return NeedsAnswer("Rejected", "UnknownEvse", f"EVSE {needs.evse_id} is unknown")
        site_id = (
            await conn.execute(sa.select(Station.site_id).where(Station.id == station_id))
        ).scalar_one_or_none()
        tx = await _ongoing(conn, station_id, needs.evse_id)
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
        if not await _evse_known(conn, station_id, evse_id, strict=True):
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
                sa.select(ChargingProfile.evse_id, ChargingProfile.profile).where(
                    ChargingProfile.station_id == station_id,
                    ChargingProfile.evse_id.in_((evse_id, 0)),
                    ChargingProfile.status == "Accepted",
                )
            )
        ).all()
    installed = [(r.evse_id, from_v201(r.profile)) for r in rows]
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


# -- shared lookups -----------------------------------------------------------------


async def _evse_known(conn: Conn, station_id: str, evse_id: int, *, strict: bool = False) -> bool:
    """An EVSE the station reported (StatusNotification). EVSE 0, the whole
    station, is known unless `strict`; a station that has reported no EVSE
    yet gets the benefit of the doubt."""
    if evse_id == 0:
        return not strict
    reported = (
        (
            await conn.execute(
                sa.select(Connector.evse_id)
                .where(Connector.station_id == station_id, Connector.evse_id > 0)
                .distinct()
            )
        )
        .scalars()
        .all()
    )
    return not reported or evse_id in reported


async def _ongoing(conn: Conn, station_id: str, evse_id: int) -> str | None:
    """The 2.0.1 transactionId of the transaction running on the EVSE."""
    found: str | None = (
        await conn.execute(
            sa.select(Tx.station_transaction_id)
            .where(Tx.station_id == station_id, Tx.evse_id == evse_id, Tx.status == "Active")
            .order_by(Tx.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return found
