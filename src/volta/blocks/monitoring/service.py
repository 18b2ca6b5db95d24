"""Monitoring (2.0.1 block N, N02-N06): monitors set on stations' variables
and kept with the station's answers, the monitoring base and level, and the
monitoring reports stations send.

Every monitor Volta asks for is stored `Requested` before it is sent, then
updated with what the station answered (its SetMonitoringResult: the id it
gave, or why not). Requests are split by the station's ItemsPerMessage /
BytesPerMessage of SetVariableMonitoring and ClearVariableMonitoring
(N06.FR.04 says so of clearing; setting is bounded the same way), asked for
with GetVariables when the device model does not tell them.

The events stations notify (NotifyEvent) are in `events.py`; the monitor
sets for a fleet in `sets.py`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from volta.blocks.device_model import service as device_model
from volta.blocks.provisioning import service as provisioning
from volta.blocks.remote_control.service import CommandRecord, send
from volta.services import Services
from volta.store.db import Database
from volta.store.models import (
    MonitoringEvent,
    MonitoringReport,
    StationMonitoring,
    VariableMonitor,
    utcnow,
)

log = logging.getLogger(__name__)

# Severity levels (2.0.1 Part 2, "Severity levels" of N. Diagnostics).
SEVERITY_NAMES: tuple[str, ...] = (
    "Danger",
    "Hardware Failure",
    "System Failure",
    "Critical",
    "Error",
    "Alert",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
)
MONITOR_TYPES = ("UpperThreshold", "LowerThreshold", "Delta", "Periodic", "PeriodicClockAligned")
MONITORING_BASES = ("All", "FactoryDefault", "HardWiredOnly")
MONITORING_CRITERIA = ("ThresholdMonitoring", "DeltaMonitoring", "PeriodicMonitoring")
# What one request may ask for at most (the API's bound too).
MAX_MONITORS = 1000

MONITORS = cast(sa.Table, VariableMonitor.__table__)
REPORTS = cast(sa.Table, MonitoringReport.__table__)


def cut(value: Any, length: int) -> str | None:
    """A station's optional string, at most `length` characters."""
    return None if value is None else str(value)[:length]


def severity_name(severity: int | None) -> str | None:
    if severity is None or not 0 <= severity < len(SEVERITY_NAMES):
        return None
    return SEVERITY_NAMES[severity]


class MonitoringRefused(ValueError):
    """The request cannot be sent as asked; the message says why."""


class StationNotFound(LookupError):
    pass


class NotConnected(RuntimeError):
    """The station is not connected, or does not speak 2.0.1."""


# -- what is monitored, and the commands ---------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A component and variable of a station's device model (ComponentType,
    VariableType)."""

    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None

    def component_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.component}
        if self.component_instance:
            out["instance"] = self.component_instance
        if self.evse_id is not None:
            evse: dict[str, Any] = {"id": self.evse_id}
            if self.connector_id is not None:
                evse["connectorId"] = self.connector_id
            out["evse"] = evse
        return out

    def variable_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.variable}
        if self.variable_instance:
            out["instance"] = self.variable_instance
        return out

    @classmethod
    def from_json(cls, component: dict[str, Any], variable: dict[str, Any]) -> Target:
        evse = component.get("evse") or {}
        return cls(
            component=str(component["name"])[:50],
            variable=str(variable["name"])[:50],
            component_instance=cut(component.get("instance"), 50),
            evse_id=evse.get("id"),
            connector_id=evse.get("connectorId"),
            variable_instance=cut(variable.get("instance"), 50),
        )

    def columns(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "component_instance": self.component_instance,
            "evse_id": self.evse_id,
            "connector_id": self.connector_id,
            "variable": self.variable,
            "variable_instance": self.variable_instance,
        }


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    """One SetMonitoringData: a monitor to set (or, with `monitor_id`, to
    replace the station's monitor of that id)."""

    target: Target
    type: str
    value: float
    severity: int
    transaction: bool = False
    monitor_id: int | None = None


@dataclass(frozen=True, slots=True)
class SetVariableMonitoring:
    monitors: tuple[MonitorSpec, ...]


@dataclass(frozen=True, slots=True)
class ClearVariableMonitoring:
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SetMonitoringBase:
    base: str


@dataclass(frozen=True, slots=True)
class SetMonitoringLevel:
    severity: int


@dataclass(frozen=True, slots=True)
class GetMonitoringReport:
    request_id: int
    criteria: tuple[str, ...] = ()
    targets: tuple[Target, ...] = ()


def monitoring_data(spec: MonitorSpec) -> dict[str, Any]:
    """A SetMonitoringDataType."""
    value: float | int = int(spec.value) if float(spec.value).is_integer() else spec.value
    data: dict[str, Any] = {
        "value": value,
        "type": spec.type,
        "severity": spec.severity,
        "component": spec.target.component_json(),
        "variable": spec.target.variable_json(),
    }
    if spec.transaction:
        data["transaction"] = True
    if spec.monitor_id is not None:
        data["id"] = spec.monitor_id
    return data


def validate(spec: MonitorSpec) -> None:
    """What a station would refuse for its form, refused before it is sent."""
    if spec.type not in MONITOR_TYPES:
        raise MonitoringRefused(f"type must be one of {', '.join(MONITOR_TYPES)}")
    if not 0 <= spec.severity <= 9:
        raise MonitoringRefused("severity must be 0 (Danger) to 9 (Debug)")
    if not math.isfinite(spec.value):
        raise MonitoringRefused("value must be a finite number")
    if spec.type in ("Periodic", "PeriodicClockAligned") and spec.value <= 0:
        raise MonitoringRefused(f"a {spec.type} monitor's value is its interval: more than 0 s")
    if spec.type == "Delta" and spec.value < 0:
        raise MonitoringRefused("a Delta monitor's value cannot be negative")
    if spec.target.connector_id is not None and spec.target.evse_id is None:
        raise MonitoringRefused("a connector is addressed within its EVSE (evse_id)")


# -- splitting by the station's message limits --------------------------------
# One splitter and one lookup of the limits for every request they bound:
# blocks/device_model (device_model.chunks, device_model.message_limits).


async def message_limits(
    services: Services, station_id: str, action: str
) -> tuple[int | None, int | None]:
    """The station's MonitoringCtrlr ItemsPerMessage and BytesPerMessage for
    `action` (SetVariableMonitoring, ClearVariableMonitoring): from its
    device model, else asked with GetVariables once and kept there (N06.FR.04
    is checked by TC_N_18 this way). None: not known (no bound)."""
    return await device_model.message_limits(
        services, station_id, action, ask=True, component="MonitoringCtrlr"
    )


async def _station_201(services: Services, station_id: str) -> None:
    if await provisioning.find_station(services.db, station_id) is None:
        raise StationNotFound(f"station {station_id} not found")
    version = services.router.version_of(station_id)
    if version is None:
        raise NotConnected(f"station {station_id} is not connected")
    if not version.modern:
        raise NotConnected(f"station {station_id} speaks OCPP {version.label}: monitors are 2.0.1")


def _status_info(info: dict[str, Any] | None) -> str | None:
    if not info:
        return None
    text = str(info.get("reasonCode", ""))
    if info.get("additionalInfo"):
        text += f": {info['additionalInfo']}"
    return text[:600] or None


def _failure(record: CommandRecord) -> str:
    detail = record["error_description"] or record["error_code"] or ""
    return f"{record['status']}{': ' + detail if detail else ''}"[:600]


async def set_monitors(
    services: Services,
    station_id: str,
    specs: Sequence[MonitorSpec],
    *,
    set_name: str | None = None,
) -> list[dict[str, Any]]:
    """SetVariableMonitoring (N04): store each monitor as Requested, send them
    in as many messages as the station's limits ask, keep each answer.
    Returns the monitors' rows as stored, in the order asked."""
    if not specs:
        raise MonitoringRefused("no monitors to set")
    if len(specs) > MAX_MONITORS:
        raise MonitoringRefused(f"at most {MAX_MONITORS} monitors at once")
    for spec in specs:
        validate(spec)
    await _station_201(services, station_id)
    now = utcnow()
    row_ids: list[int] = []
    async with services.db.write(station_id) as conn:
        for spec in specs:
            # An earlier attempt at the same monitor that the station did not
            # accept is replaced by this one (no pile of refusals).
            await conn.execute(
                sa.delete(VariableMonitor).where(
                    VariableMonitor.station_id == station_id,
                    VariableMonitor.monitor_id.is_(None),
                    # One still in flight (another request) gets its answer.
                    VariableMonitor.status != "Requested",
                    *_same_target(spec.target),
                    VariableMonitor.type == spec.type,
                )
            )
            row_id = (
                await conn.execute(
                    sa.insert(VariableMonitor)
                    .values(
                        station_id=station_id,
                        monitor_id=None,
                        **spec.target.columns(),
                        type=spec.type,
                        value=float(spec.value),
                        severity=spec.severity,
                        transaction=spec.transaction,
                        status="Requested",
                        origin="volta",
                        set_name=set_name,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(VariableMonitor.id)
                )
            ).scalar_one()
            row_ids.append(int(row_id))
    pairs = list(zip(specs, row_ids, strict=True))
    items, size = await message_limits(services, station_id, "SetVariableMonitoring")
    chunks = device_model.chunks(
        pairs,
        lambda chunk: {"setMonitoringData": [monitoring_data(s) for s, _ in chunk]},
        action="SetVariableMonitoring",
        max_items=items,
        max_bytes=size,
    )
    for chunk in chunks:
        record = await send(services, station_id, SetVariableMonitoring(tuple(s for s, _ in chunk)))
        await _record_set_results(services, station_id, chunk, record)
    stored = {m["id"]: m for m in await list_monitors(services.db, station_id, ids=row_ids)}
    # In the order asked (a row replaced meanwhile by another request is gone).
    return [stored[i] for i in row_ids if i in stored]


def _same_target(target: Target) -> list[Any]:
    conds = []
    for column, value in target.columns().items():
        col = getattr(VariableMonitor, column)
        conds.append(col.is_(None) if value is None else col == value)
    return conds


def _matches(spec: MonitorSpec, result: dict[str, Any]) -> bool:
    try:
        got = Target.from_json(result["component"], result["variable"])
    except (KeyError, TypeError):
        return False
    return got == spec.target and result.get("type") == spec.type


async def _record_set_results(
    services: Services,
    station_id: str,
    chunk: list[tuple[MonitorSpec, int]],
    record: CommandRecord,
) -> None:
    now = utcnow()
    results = (record["response"] or {}).get("setMonitoringResult")
    async with services.db.write(station_id) as conn:
        if record["response"] is None or not isinstance(results, list):
            await conn.execute(
                sa.update(VariableMonitor)
                .where(VariableMonitor.id.in_([row for _, row in chunk]))
                .values(status="Failed", status_info=_failure(record), updated_at=now)
            )
            return
        unmatched = list(range(len(chunk)))
        for index, result in enumerate(results):
            # N04.FR.02: each result names the component and variable of one
            # request; by that (and type), else by position.
            found = next((i for i in unmatched if _matches(chunk[i][0], result)), None)
            if found is None and index in unmatched:
                found = index
            if found is None:
                continue
            unmatched.remove(found)
            row_id = chunk[found][1]
            status = str(result.get("status", "Rejected"))[:24]
            monitor_id = result.get("id") if status == "Accepted" else None
            if isinstance(monitor_id, int):
                # The station's id names one monitor: a replaced or stale row goes.
                await conn.execute(
                    sa.delete(VariableMonitor).where(
                        VariableMonitor.station_id == station_id,
                        VariableMonitor.monitor_id == monitor_id,
                        VariableMonitor.id != row_id,
                    )
                )
                # The station may fire the new monitor before this answer is
                # stored: its events, received since the request, get the
                # severity they could not be given then.
                await conn.execute(
                    sa.update(MonitoringEvent)
                    .where(
                        MonitoringEvent.station_id == station_id,
                        MonitoringEvent.variable_monitoring_id == monitor_id,
                        MonitoringEvent.severity.is_(None),
                        MonitoringEvent.received_at >= record["created_at"],
                    )
                    .values(severity=chunk[found][0].severity)
                )
            else:
                monitor_id = None
            await conn.execute(
                sa.update(VariableMonitor)
                .where(VariableMonitor.id == row_id)
                .values(
                    status=status,
                    monitor_id=monitor_id,
                    status_info=_status_info(result.get("statusInfo")),
                    updated_at=now,
                )
            )
        if unmatched:
            await conn.execute(
                sa.update(VariableMonitor)
                .where(VariableMonitor.id.in_([chunk[i][1] for i in unmatched]))
                .values(
                    status="Failed", status_info="no result for it in the answer", updated_at=now
                )
            )


async def clear_monitors(
    services: Services, station_id: str, ids: Sequence[int]
) -> list[dict[str, Any]]:
    """ClearVariableMonitoring (N06), split by the station's limits
    (N06.FR.04). Accepted and NotFound monitors are forgotten; a Rejected one
    stays, with `clear_status` Rejected. Returns per id: its status (the
    station's, or Failed when it did not answer) and the station's info."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        raise MonitoringRefused("no monitor ids to clear")
    if len(unique) > MAX_MONITORS:
        raise MonitoringRefused(f"at most {MAX_MONITORS} monitors at once")
    if any(i < 0 for i in unique):
        raise MonitoringRefused("monitor ids are not negative")
    await _station_201(services, station_id)
    items, size = await message_limits(services, station_id, "ClearVariableMonitoring")
    chunks = device_model.chunks(
        unique,
        lambda chunk: {"id": chunk},
        action="ClearVariableMonitoring",
        max_items=items,
        max_bytes=size,
    )
    outcome: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        record = await send(services, station_id, ClearVariableMonitoring(tuple(chunk)))
        results = (record["response"] or {}).get("clearMonitoringResult")
        if record["response"] is None or not isinstance(results, list):
            for i in chunk:
                outcome[i] = {"id": i, "status": "Failed", "info": _failure(record)}
            continue
        for result in results:
            if result.get("id") in chunk:
                outcome[result["id"]] = {
                    "id": result["id"],
                    "status": str(result.get("status")),
                    "info": _status_info(result.get("statusInfo")),
                }
        for i in chunk:
            outcome.setdefault(i, {"id": i, "status": "Failed", "info": "not in the answer"})
    gone = [i for i, o in outcome.items() if o["status"] in ("Accepted", "NotFound")]
    refused = [i for i, o in outcome.items() if o["status"] == "Rejected"]
    async with services.db.write(station_id) as conn:
        if gone:
            await conn.execute(
                sa.delete(VariableMonitor).where(
                    VariableMonitor.station_id == station_id, VariableMonitor.monitor_id.in_(gone)
                )
            )
        if refused:
            await conn.execute(
                sa.update(VariableMonitor)
                .where(
                    VariableMonitor.station_id == station_id,
                    VariableMonitor.monitor_id.in_(refused),
                )
                .values(clear_status="Rejected", updated_at=utcnow())
            )
    return [outcome[i] for i in unique]


async def list_monitors(
    db: Database, station_id: str, *, ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """A station's monitors: Volta's (with the station's answers) and those it
    reported, by component and variable."""
    stmt = sa.select(*MONITORS.c).where(VariableMonitor.station_id == station_id)
    if ids is not None:
        stmt = stmt.where(VariableMonitor.id.in_(list(ids)))
    stmt = stmt.order_by(
        VariableMonitor.component,
        VariableMonitor.evse_id,
        VariableMonitor.variable,
        VariableMonitor.id,
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(r) | {"severity_name": severity_name(r["severity"])} for r in rows]


# -- base, level, reports ---------------------------------------------------------


async def _answer(services: Services, station_id: str, command: object) -> tuple[str, str | None]:
    record = await send(services, station_id, command)
    if record["response"] is None:
        return "Failed", _failure(record)
    response = record["response"]
    return str(response.get("status", "Rejected")), _status_info(response.get("statusInfo"))


async def _keep_setting(db: Database, station_id: str, **values: Any) -> None:
    stmt = db.insert(StationMonitoring).values(station_id=station_id, updated_at=utcnow(), **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id"], set_={**values, "updated_at": stmt.excluded.updated_at}
    )
    async with db.write(station_id) as conn:
        await conn.execute(stmt)


async def set_base(services: Services, station_id: str, base: str) -> dict[str, Any]:
    """SetMonitoringBase (N03). HardWiredOnly clears the custom monitors
    (MonitoringBaseEnumType): Volta forgets the ones it set once accepted."""
    if base not in MONITORING_BASES:
        raise MonitoringRefused(f"monitoring_base must be one of {', '.join(MONITORING_BASES)}")
    await _station_201(services, station_id)
    status, info = await _answer(services, station_id, SetMonitoringBase(base))
    await _keep_setting(services.db, station_id, monitoring_base=base, base_status=status[:16])
    if status == "Accepted" and base == "HardWiredOnly":
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.delete(VariableMonitor).where(
                    VariableMonitor.station_id == station_id, VariableMonitor.origin == "volta"
                )
            )
    return {"monitoring_base": base, "status": status, "info": info}


async def set_level(services: Services, station_id: str, severity: int) -> dict[str, Any]:
    """SetMonitoringLevel (N05): only events of this severity or more severe
    (a lower number) are reported from now on."""
    if not 0 <= severity <= 9:
        raise MonitoringRefused("severity must be 0 (Danger) to 9 (Debug)")
    await _station_201(services, station_id)
    status, info = await _answer(services, station_id, SetMonitoringLevel(severity))
    await _keep_setting(
        services.db, station_id, monitoring_level=severity, level_status=status[:16]
    )
    return {"severity": severity, "status": status, "info": info}


async def station_settings(db: Database, station_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(StationMonitoring).where(StationMonitoring.station_id == station_id)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def request_report(
    services: Services,
    station_id: str,
    *,
    criteria: Sequence[str] = (),
    targets: Sequence[Target] = (),
) -> dict[str, Any]:
    """GetMonitoringReport (N02). The requestId is the report's row id; the
    NotifyMonitoringReport parts that carry it are stored against it."""
    for c in criteria:
        if c not in MONITORING_CRITERIA:
            raise MonitoringRefused(f"criteria must be of {', '.join(MONITORING_CRITERIA)}")
    if len(targets) > MAX_MONITORS:
        raise MonitoringRefused(f"at most {MAX_MONITORS} components and variables")
    await _station_201(services, station_id)
    criteria = list(dict.fromkeys(criteria))
    async with services.db.write(station_id) as conn:
        report_id = int(
            (
                await conn.execute(
                    sa.insert(MonitoringReport)
                    .values(
                        station_id=station_id,
                        request_id=0,
                        criteria=criteria or None,
                        component_variables=[
                            {"component": t.component_json(), "variable": t.variable_json()}
                            for t in targets
                        ]
                        or None,
                        status="Requested",
                        parts=0,
                        monitors=0,
                        requested_at=utcnow(),
                    )
                    .returning(MonitoringReport.id)
                )
            ).scalar_one()
        )
        await conn.execute(
            sa.update(MonitoringReport)
            .where(MonitoringReport.id == report_id)
            .values(request_id=report_id)
        )
    status, _ = await _answer(
        services,
        station_id,
        GetMonitoringReport(report_id, tuple(criteria), tuple(targets)),
    )
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(MonitoringReport)
            .where(MonitoringReport.id == report_id, MonitoringReport.status == "Requested")
            .values(
                status=status[:16],
                completed_at=None if status == "Accepted" else utcnow(),
            )
        )
    return await get_report(services.db, station_id, report_id) or {}


async def get_report(db: Database, station_id: str, report_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(*REPORTS.c).where(
                        MonitoringReport.station_id == station_id, MonitoringReport.id == report_id
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_reports(db: Database, station_id: str, limit: int = 20) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(*REPORTS.c)
                    .where(MonitoringReport.station_id == station_id)
                    .order_by(MonitoringReport.id.desc())
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def store_report_part(db: Database, station_id: str, payload: dict[str, Any]) -> None:
    """One NotifyMonitoringReport (N02): its monitors kept by the id the
    station gave them; the report's last part (tbc false) completes it, and
    a complete report of everything drops the monitors it no longer lists."""
    request_id = int(payload["requestId"])
    tbc = bool(payload.get("tbc", False))
    now = utcnow()
    rows = []
    for item in payload.get("monitor") or []:
        target = Target.from_json(item["component"], item["variable"])
        for m in item.get("variableMonitoring") or []:
            rows.append(
                {
                    "station_id": station_id,
                    "monitor_id": int(m["id"]),
                    **target.columns(),
                    "type": str(m["type"])[:24],
                    "value": float(m["value"]),
                    "severity": int(m["severity"]),
                    "transaction": bool(m.get("transaction", False)),
                    "status": "Reported",
                    "origin": "station",
                    "created_at": now,
                    "updated_at": now,
                }
            )
    async with db.write(station_id) as conn:
        report = (
            await conn.execute(
                sa.select(
                    MonitoringReport.id,
                    MonitoringReport.criteria,
                    MonitoringReport.component_variables,
                )
                .where(
                    MonitoringReport.station_id == station_id,
                    MonitoringReport.request_id == request_id,
                )
                .order_by(MonitoringReport.id.desc())
                .limit(1)
            )
        ).first()
        if report is None:
            # A report Volta did not ask for (another CSMS, a restart): kept too.
            report_id = int(
                (
                    await conn.execute(
                        sa.insert(MonitoringReport)
                        .values(
                            station_id=station_id,
                            request_id=request_id,
                            status="Accepted",
                            parts=0,
                            monitors=0,
                            requested_at=now,
                        )
                        .returning(MonitoringReport.id)
                    )
                ).scalar_one()
            )
            everything = False
        else:
            report_id = int(report.id)
            everything = not report.criteria and not report.component_variables
        for row in rows:
            row["reported_in"] = report_id
        if rows:
            stmt = db.insert(VariableMonitor)
            stmt = stmt.on_conflict_do_update(
                index_elements=["station_id", "monitor_id"],
                set_={
                    c: stmt.excluded[c]
                    for c in (
                        *Target("", "").columns(),
                        "type",
                        "value",
                        "severity",
                        "transaction",
                        "reported_in",
                        "updated_at",
                    )
                },
            )
            await conn.execute(stmt, rows)
        values: dict[str, Any] = {
            "parts": MonitoringReport.parts + 1,
            "monitors": MonitoringReport.monitors + len(rows),
        }
        if not tbc:
            values.update(status="Complete", completed_at=now)
        await conn.execute(
            sa.update(MonitoringReport).where(MonitoringReport.id == report_id).values(**values)
        )
        if not tbc and everything:
            await conn.execute(
                sa.delete(VariableMonitor).where(
                    VariableMonitor.station_id == station_id,
                    VariableMonitor.monitor_id.is_not(None),
                    sa.or_(
                        VariableMonitor.reported_in.is_(None),
                        VariableMonitor.reported_in != report_id,
                    ),
                )
            )
