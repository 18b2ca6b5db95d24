"""Composite schedules (1.6 §5.7, 2.0.1 K08) as the station answers and as
Volta computes them, and the 2.0.1 report of installed profiles (K09)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import CommandRecord, send
from volta.blocks.smart_charging.service import (
    GetChargingProfiles,
    GetCompositeSchedule,
    ProfileRefused,
    installed_profiles,
    station_version,
)
from volta.ocpp.charging import Period, Schedule
from volta.ocpp.composite import composite_schedule
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.outgoing import CannotSpell
from volta.services import Services
from volta.store.db import Database
from volta.store.models import Transaction, utcnow


@dataclass(frozen=True, slots=True)
class Composite:
    """An EVSE's composite schedule twice: as the station answered
    GetCompositeSchedule (`station`, None when it did not say one) and as
    Volta computes it from what it believes is installed (`volta`)."""

    command: CommandRecord
    station: Schedule | None
    volta: Schedule


async def composite(
    services: Services,
    station_id: str,
    evse_id: int,
    duration_s: int,
    unit: str | None = None,
) -> Composite:
    """Ask the station (1.6 §5.7, 2.0.1 K08) and compute Volta's own
    (volta.ocpp.composite) for the same moment."""
    version = await station_version(services, station_id)
    if version is None:
        raise ProfileRefused(f"station {station_id} is unknown or has never connected")
    command = await send(
        services,
        station_id,
        GetCompositeSchedule(evse_id, duration_s, unit),
        offline_version=version,
    )
    start = utcnow()
    installed = await installed_profiles(services.db, station_id)
    profiles = [(p.evse_id, p.model) for p in installed]
    tx_id, tx_start = await _active_transaction(services.db, station_id, evse_id, version)
    ours = composite_schedule(
        profiles,
        evse_id,
        start,
        duration_s,
        unit=unit,
        transaction_id=tx_id,
        transaction_start=tx_start,
    )
    return Composite(command, station_schedule(command.get("response")), ours)


def station_schedule(response: dict[str, Any] | None) -> Schedule | None:
    """The schedule in a GetCompositeSchedule answer, either version's shape
    (1.6: scheduleStart + chargingSchedule; 2.0.1: schedule)."""
    if not response or response.get("status") != "Accepted":
        return None
    if "schedule" in response:  # 2.0.1 CompositeScheduleType
        s = response["schedule"]
        body = {**s, "startSchedule": s.get("scheduleStart")}
    elif "chargingSchedule" in response:  # 1.6
        body = dict(response["chargingSchedule"])
        body.setdefault("startSchedule", response.get("scheduleStart"))
    else:
        return None
    try:
        return Schedule(
            unit=body["chargingRateUnit"],
            periods=tuple(
                Period(int(p["startPeriod"]), float(p["limit"]), p.get("numberPhases"))
                for p in body["chargingSchedulePeriod"]
            ),
            start=parse_timestamp(body.get("startSchedule")),
            duration_s=body.get("duration"),
        )
    except (KeyError, TypeError, ValueError):
        return None  # relaxed validation let a broken answer through


async def _active_transaction(
    db: Database, station_id: str, evse_id: int, version: Version
) -> tuple[str | None, dt.datetime | None]:
    if evse_id == 0:
        return None, None
    async with db.read() as conn:
        row = (
            await conn.execute(
                sa.select(
                    Transaction.id, Transaction.station_transaction_id, Transaction.started_at
                )
                .where(
                    Transaction.station_id == station_id,
                    Transaction.evse_id == evse_id,
                    Transaction.status == "Active",
                )
                .order_by(Transaction.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return None, None
    tx = str(row.id) if version is Version.V16 else row.station_transaction_id
    return tx, row.started_at


async def request_report(
    services: Services, station_id: str, request: GetChargingProfiles
) -> CommandRecord:
    """2.0.1 K09 GetChargingProfiles: the station answers Accepted (or
    NoProfiles) and then sends ReportChargingProfiles with
    `request.request_id` (stored by the K handlers as source "station")."""
    version = await station_version(services, station_id)
    if version is None:
        raise ProfileRefused(f"station {station_id} is unknown or has never connected")
    try:
        return await send(services, station_id, request, offline_version=version)
    except CannotSpell as exc:
        raise ProfileRefused(str(exc)) from None
