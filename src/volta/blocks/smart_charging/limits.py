"""What stations tell Volta about limits (2.0.1 block K; 1.6 has no such
messages). An EV's needs and schedule (ISO 15118) are in ev.py.

- An external limit (K11/K12 NotifyChargingLimit: an EMS, the grid operator)
  is stored as a `charging_profiles` row, source `station`, purpose
  ChargingStationExternalConstraints, status `Accepted`: Volta counts it as
  installed, like the profiles it sent. A newer notice from the same source
  for the same EVSE replaces it; ClearedChargingLimit (K13) clears it.
- A report (K09 ReportChargingProfiles, the answer to GetChargingProfiles)
  is stored as rows status `Reported`, apart from what Volta believes is
  installed: what the station says it has. The first message of a new
  requestId for an EVSE replaces that EVSE's previous report.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging.service import insert_profile_row
from volta.events import service as events
from volta.ocpp.charging import EXTERNAL, Profile, Schedule, from_v201
from volta.store.db import Conn, Database
from volta.store.models import ChargingProfile, Connector, utcnow
from volta.store.models import Transaction as Tx

log = logging.getLogger(__name__)

# 2.0.1 ChargingLimitSourceEnumType; CSO is the operator, i.e. Volta.
LIMIT_SOURCES = ("CSO", "EMS", "SO", "Other")
# An external limit has no profile id on the wire; its rows carry this one
# (below the API's range, which starts at 1).
EXTERNAL_PROFILE_ID = 0


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
        if not await evse_known(conn, station_id, limit.evse_id):
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
    return await insert_profile_row(
        conn,
        station_id,
        evse_id,
        profile,
        source="station",
        status=status,
        now=now,
        limit_source=limit_source,
        report_id=report_id,
    )


# -- shared lookups -----------------------------------------------------------------


async def evse_known(conn: Conn, station_id: str, evse_id: int, *, strict: bool = False) -> bool:
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


async def ongoing_transaction(conn: Conn, station_id: str, evse_id: int) -> str | None:
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
