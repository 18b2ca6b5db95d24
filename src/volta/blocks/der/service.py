"""DER control of 2.1 stations (block R).

Volta keeps one row per (station, controlId): what it set (SetDERControl,
stored `Requested` before the command goes out, then with the station's
answer and the controls the answer superseded), and what the station
reported (ReportDERControl after GetDERControl, in parts with tbc), whether
the control runs (NotifyDERStartStop) and the station's alarms
(NotifyDERAlarm, open until alarmEnded).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import send
from volta.events import service as events
from volta.ocpp.errors import OcppError
from volta.ocpp.schemas import registry
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import DerAlarm, DerControl, DerReport, DerStartStop, utcnow

log = logging.getLogger(__name__)

# DERControlEnumType, and the SetDERControlRequest field that carries each
# type's setting: the IEEE 1547 / IEC 61850 curves all travel as `curve`.
SETTING_FIELDS: dict[str, str] = {
    "EnterService": "enterService",
    "FreqDroop": "freqDroop",
    "FixedPFAbsorb": "fixedPFAbsorb",
    "FixedPFInject": "fixedPFInject",
    "FixedVar": "fixedVar",
    "Gradients": "gradient",
    "LimitMaxDischarge": "limitMaxDischarge",
    **{
        name: "curve"
        for name in (
            "FreqWatt",
            "HFMustTrip",
            "HFMayTrip",
            "HVMustTrip",
            "HVMomCess",
            "HVMayTrip",
            "LFMustTrip",
            "LVMustTrip",
            "LVMomCess",
            "LVMayTrip",
            "PowerMonitoringMustTrip",
            "VoltVar",
            "VoltWatt",
            "WattPF",
            "WattVar",
        )
    },
}
CONTROL_TYPES: tuple[str, ...] = tuple(SETTING_FIELDS)
# Only default controls exist of these (a report lists them without isDefault).
DEFAULT_ONLY = frozenset({"EnterService", "Gradients"})
# DERControlStatusEnumType: the answer to Set/Get/ClearDERControl.
ANSWERS = frozenset({"Accepted", "Rejected", "NotSupported", "NotFound"})
# ReportDERControlRequest: each list, the field of its items holding the
# setting, and the control type of the list (None: the item's curveType).
REPORT_LISTS: dict[str, tuple[str, str | None]] = {
    "curve": ("curve", None),
    "enterService": ("enterService", "EnterService"),
    "fixedPFAbsorb": ("fixedPF", "FixedPFAbsorb"),
    "fixedPFInject": ("fixedPF", "FixedPFInject"),
    "fixedVar": ("fixedVar", "FixedVar"),
    "freqDroop": ("freqDroop", "FreqDroop"),
    "gradient": ("gradient", "Gradients"),
    "limitMaxDischarge": ("limitMaxDischarge", "LimitMaxDischarge"),
}
# Controls kept per station at most: a report's further new ids are not stored.
MAX_STORED = 1000
# Controls summarised in one report row at most (24 per list per part).
MAX_REPORTED = 1000


class DerRefused(Exception):
    """The request cannot be sent to this station (a 409): offline, or not 2.1."""


class DerInvalid(Exception):
    """The control is not a valid SetDERControlRequest (a 422); `problems` says why."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# -- the commands, 2.1 only (v21.py spells them) ----------------------------------------


@dataclass(frozen=True, slots=True)
class SetDerControl:
    control_id: str
    control_type: str
    is_default: bool
    # The setting as on the wire (a DERCurveType, FreqDroopType, ...).
    setting: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GetDerControl:
    request_id: int
    control_type: str | None = None
    is_default: bool | None = None
    control_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClearDerControl:
    is_default: bool
    control_type: str | None = None
    control_id: str | None = None


def set_message(command: SetDerControl) -> tuple[str, dict[str, Any]]:
    """The SetDERControlRequest of a command (action, payload)."""
    return "SetDERControl", {
        "isDefault": command.is_default,
        "controlId": command.control_id,
        "controlType": command.control_type,
        SETTING_FIELDS[command.control_type]: command.setting,
    }


# -- setting, clearing, asking ----------------------------------------------------------


def _require_v21(services: Services, station_id: str) -> None:
    version = services.router.version_of(station_id)
    if version is None:
        raise DerRefused(f"station {station_id} is not connected")
    if version is not Version.V21:
        raise DerRefused(
            f"station {station_id} speaks OCPP {version.label}: DER control is OCPP 2.1"
        )


def check(command: SetDerControl) -> None:
    """Raise DerInvalid unless the command is a valid SetDERControlRequest."""
    problems: list[str] = []
    if command.control_type not in SETTING_FIELDS:
        raise DerInvalid([f"control_type: one of {', '.join(CONTROL_TYPES)}"])
    if command.control_type in DEFAULT_ONLY and not command.is_default:
        problems.append(f"{command.control_type} exists only as a default control")
    action, payload = set_message(command)
    try:
        registry().validate(Version.V21, action, payload)
    except OcppError as exc:
        problems.append(f"{SETTING_FIELDS[command.control_type]}: {exc.description}")
    if problems:
        raise DerInvalid(problems)


async def _mark_superseded(
    conn: Conn, station_id: str, ids: list[str], by: str, now: dt.datetime
) -> None:
    if ids:
        await conn.execute(
            sa.update(DerControl)
            .where(DerControl.station_id == station_id, DerControl.control_id.in_(ids))
            .values(superseded=True, superseded_by=by, updated_at=now)
        )


async def set_control(
    services: Services,
    station_id: str,
    control_type: str,
    is_default: bool,
    setting: dict[str, Any],
    control_id: str | None = None,
    *,
    source: str = "api",
) -> dict[str, Any]:
    """Send SetDERControl and keep the control with the station's answer; the
    controls the answer names in supersededIds are marked superseded by it.
    The same controlId again replaces the control (in the station and here)."""
    command = SetDerControl(control_id or str(uuid.uuid4()), control_type, is_default, setting)
    check(command)
    _require_v21(services, station_id)
    db = services.db
    now = utcnow()
    values = {
        "control_type": control_type,
        "is_default": is_default,
        "setting": setting,
        "status": "Requested",
        "status_info": None,
        "source": source,
        "superseded": False,
        "superseded_by": None,
        "updated_at": now,
    }
    async with db.write(station_id) as conn:
        await conn.execute(
            db.insert(DerControl)
            .values(station_id=station_id, control_id=command.control_id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["station_id", "control_id"], set_=values)
        )
    record = await send(services, station_id, command)
    response = record.get("response") or {}
    answer = response.get("status")
    status = answer if answer in ANSWERS else "Failed"
    superseded = [str(i) for i in response.get("supersededIds") or []]
    async with db.write(station_id) as conn:
        now = utcnow()
        await conn.execute(
            sa.update(DerControl)
            .where(
                DerControl.station_id == station_id,
                DerControl.control_id == command.control_id,
            )
            .values(
                status=status,
                status_info=response.get("statusInfo"),
                command_id=record["id"],
                updated_at=now,
            )
        )
        if status == "Accepted":
            await _mark_superseded(
                conn,
                station_id,
                [i for i in superseded if i != command.control_id],
                command.control_id,
                now,
            )
        await events.emit(
            conn,
            "der.control_answered",
            station_id=station_id,
            control_id=command.control_id,
            control_type=control_type,
            is_default=is_default,
            status=status,
            superseded_ids=superseded,
            source=source,
        )
    found = await get_control(db, station_id, command.control_id)
    assert found is not None
    return {**found, "superseded_ids": superseded, "command": record}


async def clear_controls(
    services: Services,
    station_id: str,
    is_default: bool,
    control_type: str | None = None,
    control_id: str | None = None,
) -> dict[str, Any]:
    """ClearDERControl by controlId, or every control of a type (or of every
    type) that is default or scheduled as `is_default` says. When the station
    answers Accepted, what it cleared is removed from Volta's store too."""
    _require_v21(services, station_id)
    record = await send(services, station_id, ClearDerControl(is_default, control_type, control_id))
    answer = (record.get("response") or {}).get("status")
    status = answer if answer in ANSWERS else "Failed"
    removed: list[str] = []
    if status == "Accepted":
        if control_id is not None:
            # The controlId names the control; the other criteria are not used.
            where = [DerControl.control_id == control_id]
        else:
            where = [DerControl.is_default.is_(is_default)]
            if control_type is not None:
                where.append(DerControl.control_type == control_type)
        async with services.db.write(station_id) as conn:
            removed = list(
                (
                    await conn.execute(
                        sa.delete(DerControl)
                        .where(DerControl.station_id == station_id, *where)
                        .returning(DerControl.control_id)
                    )
                )
                .scalars()
                .all()
            )
    return {
        "status": status,
        "status_info": (record.get("response") or {}).get("statusInfo"),
        "removed": sorted(removed),
        "command": record,
    }


async def refresh(
    services: Services,
    station_id: str,
    control_type: str | None = None,
    is_default: bool | None = None,
    control_id: str | None = None,
) -> dict[str, Any]:
    """GetDERControl: the report row's id is the requestId; the station's
    ReportDERControl parts fill it in and replace what its earlier report said."""
    _require_v21(services, station_id)
    criteria = {"control_type": control_type, "is_default": is_default, "control_id": control_id}
    db = services.db
    now = utcnow()
    async with db.write(station_id) as conn:
        request_id = (
            await conn.execute(
                sa.insert(DerReport)
                .values(
                    station_id=station_id,
                    criteria=criteria,
                    status="Requested",
                    controls=[],
                    parts=0,
                    complete=False,
                    created_at=now,
                    updated_at=now,
                )
                .returning(DerReport.id)
            )
        ).scalar_one()
        await _trim(conn, DerReport, station_id, services.settings.der_history_per_station)
    record = await send(
        services, station_id, GetDerControl(request_id, control_type, is_default, control_id)
    )
    answer = (record.get("response") or {}).get("status")
    status = answer if answer in ANSWERS else "Failed"
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(DerReport)
            .where(DerReport.id == request_id)
            .values(status=status, command_id=record["id"], updated_at=utcnow())
        )
    found = await get_report(db, station_id, request_id)
    assert found is not None
    return {**found, "command": record}


# -- what stations tell -----------------------------------------------------------------


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_timestamp(value)


def reported_controls(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The controls of a ReportDERControlRequest part, one dict each:
    control_id, control_type, is_default, is_superseded, setting."""
    found: list[dict[str, Any]] = []
    for name, (inner, control_type) in REPORT_LISTS.items():
        for item in payload.get(name) or []:
            found.append(
                {
                    "control_id": item["id"],
                    "control_type": control_type or item["curveType"],
                    # EnterService and Gradients are listed without isDefault:
                    # only default ones exist.
                    "is_default": bool(item.get("isDefault", True)),
                    "is_superseded": bool(item.get("isSuperseded", False)),
                    "setting": item[inner],
                }
            )
    return found


def _covered(criteria: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    """What a report with these criteria speaks for: its controls replace
    what earlier reports said of these, and no others."""
    if criteria.get("control_id") is not None:
        return [DerControl.control_id == criteria["control_id"]]
    where: list[sa.ColumnElement[bool]] = []
    if criteria.get("control_type") is not None:
        where.append(DerControl.control_type == criteria["control_type"])
    if criteria.get("is_default") is not None:
        where.append(DerControl.is_default.is_(bool(criteria["is_default"])))
    return where


async def report(db: Database, station_id: str, payload: dict[str, Any]) -> bool:
    """ReportDERControl: the part's controls are stored as the station has
    them; the first part of a report forgets what the station's earlier
    report said of the controls this one covers (controls Volta knew only
    from a report are dropped). False when no GetDERControl of this station
    had that requestId (the controls are kept all the same, replacing nothing)."""
    controls = reported_controls(payload)
    now = utcnow()
    async with db.write(station_id) as conn:
        row = (
            await conn.execute(
                sa.select(DerReport.controls, DerReport.parts, DerReport.criteria).where(
                    DerReport.id == payload["requestId"], DerReport.station_id == station_id
                )
            )
        ).first()
        if row is not None and row.parts == 0:
            covered = [DerControl.station_id == station_id, *_covered(row.criteria)]
            await conn.execute(
                sa.delete(DerControl).where(*covered, DerControl.source == "station")
            )
            await conn.execute(
                sa.update(DerControl)
                .where(*covered)
                .values(reported=None, reported_at=None, updated_at=now)
            )
        known = set(
            (
                await conn.execute(
                    sa.select(DerControl.control_id).where(DerControl.station_id == station_id)
                )
            )
            .scalars()
            .all()
        )
        for c in controls:
            if c["control_id"] not in known and len(known) >= MAX_STORED:
                continue  # a station cannot grow the table without end
            known.add(c["control_id"])
            reported = {"setting": c["setting"], "is_superseded": c["is_superseded"]}
            columns = {
                "control_type": c["control_type"],
                "is_default": c["is_default"],
                "reported": reported,
                "reported_at": now,
                "superseded": c["is_superseded"],
                "updated_at": now,
            }
            if not c["is_superseded"]:
                columns["superseded_by"] = None
            await conn.execute(
                db.insert(DerControl)
                .values(
                    station_id=station_id,
                    control_id=c["control_id"],
                    setting=None,
                    status="Reported",
                    source="station",
                    created_at=now,
                    **columns,
                )
                # What the station holds wins over what Volta last asked for;
                # Volta's own setting stays beside it.
                .on_conflict_do_update(index_elements=["station_id", "control_id"], set_=columns)
            )
        if row is None:
            return False
        kept = list(row.controls)
        summary = [{k: v for k, v in c.items() if k != "setting"} for c in controls]
        kept.extend(summary[: max(0, MAX_REPORTED - len(kept))])
        await conn.execute(
            sa.update(DerReport)
            .where(DerReport.id == payload["requestId"])
            .values(
                controls=kept,
                parts=row.parts + 1,
                complete=not payload.get("tbc", False),
                updated_at=now,
            )
        )
    return True


async def alarm(
    db: Database, station_id: str, payload: dict[str, Any], *, keep: int = 0
) -> dict[str, Any]:
    """NotifyDERAlarm: an alarm starts (a row, event `der.alarm`) or ends
    (alarmEnded: the station's open alarm of that control type, and grid
    event if told, gets its end; event `der.alarm_ended`). An end without a
    known start is stored as an alarm that started and ended unseen."""
    at = _time(payload["timestamp"])
    control_type = payload["controlType"]
    fault = payload.get("gridEventFault")
    info = payload.get("extraInfo")
    now = utcnow()
    async with db.write(station_id) as conn:

        async def new_alarm(**when: Any) -> int:
            return int(
                (
                    await conn.execute(
                        sa.insert(DerAlarm)
                        .values(
                            station_id=station_id,
                            control_type=control_type,
                            grid_event_fault=fault,
                            created_at=now,
                            updated_at=now,
                            **when,
                        )
                        .returning(DerAlarm.id)
                    )
                ).scalar_one()
            )

        if not payload.get("alarmEnded", False):
            alarm_id = await new_alarm(extra_info=info, started_at=at)
            kind = "der.alarm"
        else:
            stmt = sa.select(DerAlarm.id).where(
                DerAlarm.station_id == station_id,
                DerAlarm.control_type == control_type,
                DerAlarm.ended_at.is_(None),
            )
            if fault is not None:
                stmt = stmt.where(
                    sa.or_(DerAlarm.grid_event_fault == fault, DerAlarm.grid_event_fault.is_(None))
                )
            open_id = (
                await conn.execute(stmt.order_by(DerAlarm.id.desc()).limit(1))
            ).scalar_one_or_none()
            if open_id is not None:
                alarm_id = open_id
                await conn.execute(
                    sa.update(DerAlarm)
                    .where(DerAlarm.id == open_id)
                    .values(ended_at=at, ended_info=info, updated_at=now)
                )
            else:
                alarm_id = await new_alarm(ended_at=at, ended_info=info)
            kind = "der.alarm_ended"
        await _trim(conn, DerAlarm, station_id, keep)
        await events.emit(
            conn,
            kind,
            station_id=station_id,
            alarm_id=alarm_id,
            control_type=control_type,
            grid_event_fault=fault,
            extra_info=info,
            timestamp=payload["timestamp"],
        )
    found = await get_alarm(db, station_id, alarm_id)
    assert found is not None
    return found


async def start_stop(
    db: Database, station_id: str, payload: dict[str, Any], *, keep: int = 0
) -> None:
    """NotifyDERStartStop: kept in the station's history; the control (if
    Volta knows it) is marked running or ended, and the controls its start
    superseded are marked so; event `der.control_started` / `_stopped`."""
    at = _time(payload["timestamp"])
    assert at is not None
    started = bool(payload["started"])
    control_id = payload["controlId"]
    superseded = [str(i) for i in payload.get("supersededIds") or []]
    now = utcnow()
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.insert(DerStartStop).values(
                station_id=station_id,
                control_id=control_id,
                started=started,
                at=at,
                superseded_ids=superseded,
                created_at=now,
            )
        )
        await _trim(conn, DerStartStop, station_id, keep)
        values: dict[str, Any] = {"active": started, "updated_at": now}
        values["started_at" if started else "stopped_at"] = at
        if started:
            values["superseded"] = False
            values["superseded_by"] = None
        control_type = (
            await conn.execute(
                sa.update(DerControl)
                .where(DerControl.station_id == station_id, DerControl.control_id == control_id)
                .values(**values)
                .returning(DerControl.control_type)
            )
        ).scalar_one_or_none()
        if started:
            await _mark_superseded(
                conn, station_id, [i for i in superseded if i != control_id], control_id, now
            )
        await events.emit(
            conn,
            "der.control_started" if started else "der.control_stopped",
            station_id=station_id,
            control_id=control_id,
            control_type=control_type,
            superseded_ids=superseded,
            timestamp=payload["timestamp"],
        )


async def _trim(conn: Conn, table: Any, station_id: str, keep: int) -> None:
    """Keep the station's newest `keep` rows of an id-ordered history table."""
    if keep <= 0:
        return
    cutoff = (
        await conn.execute(
            sa.select(table.id)
            .where(table.station_id == station_id)
            .order_by(table.id.desc())
            .offset(keep)
            .limit(1)
        )
    ).scalar_one_or_none()
    if cutoff is not None:
        await conn.execute(
            sa.delete(table).where(table.station_id == station_id, table.id <= cutoff)
        )


# -- reading ----------------------------------------------------------------------------


async def _all(db: Database, stmt: Any) -> list[dict[str, Any]]:
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


async def _first(db: Database, stmt: Any) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row else None


async def get_control(db: Database, station_id: str, control_id: str) -> dict[str, Any] | None:
    return await _first(
        db,
        sa.select(DerControl).where(
            DerControl.station_id == station_id, DerControl.control_id == control_id
        ),
    )


async def list_controls(
    db: Database,
    station_id: str,
    *,
    control_type: str | None = None,
    is_default: bool | None = None,
    active: bool | None = None,
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(DerControl)
        .where(DerControl.station_id == station_id)
        .order_by(DerControl.control_type, DerControl.control_id)
    )
    if control_type is not None:
        stmt = stmt.where(DerControl.control_type == control_type)
    if is_default is not None:
        stmt = stmt.where(DerControl.is_default.is_(is_default))
    if active is not None:
        stmt = stmt.where(
            DerControl.active.is_(True) if active else sa.not_(DerControl.active.is_(True))
        )
    return await _all(db, stmt)


async def get_report(db: Database, station_id: str, request_id: int) -> dict[str, Any] | None:
    return await _first(
        db,
        sa.select(DerReport).where(DerReport.id == request_id, DerReport.station_id == station_id),
    )


async def list_reports(db: Database, station_id: str, limit: int = 20) -> list[dict[str, Any]]:
    stmt = (
        sa.select(DerReport)
        .where(DerReport.station_id == station_id)
        .order_by(DerReport.id.desc())
        .limit(limit)
    )
    return await _all(db, stmt)


async def get_alarm(db: Database, station_id: str, alarm_id: int) -> dict[str, Any] | None:
    return await _first(
        db,
        sa.select(DerAlarm).where(DerAlarm.id == alarm_id, DerAlarm.station_id == station_id),
    )


async def list_alarms(
    db: Database, station_id: str, *, active: bool | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(DerAlarm)
        .where(DerAlarm.station_id == station_id)
        .order_by(DerAlarm.id.desc())
        .limit(limit)
    )
    if active is not None:
        stmt = stmt.where(DerAlarm.ended_at.is_(None) if active else DerAlarm.ended_at.is_not(None))
    return await _all(db, stmt)


async def list_start_stops(
    db: Database, station_id: str, *, control_id: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(DerStartStop)
        .where(DerStartStop.station_id == station_id)
        .order_by(DerStartStop.id.desc())
        .limit(limit)
    )
    if control_id is not None:
        stmt = stmt.where(DerStartStop.control_id == control_id)
    return await _all(db, stmt)
