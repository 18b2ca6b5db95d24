"""The device model of a station, kept in Volta.

2.0.1: NotifyReport parts stored per attribute (component, variable,
attribute, characteristics) and per report (requestId: requested, receiving,
complete); GetBaseReport / GetReport (B07, B08), GetVariables (B06) and
SetVariables (B05) sent on an operator's behalf, each split so that no message
holds more items or bytes than the station's DeviceDataCtrlr ItemsPerMessage /
BytesPerMessage for it (B06.FR.05 for GetVariables, TC_B_08; the same rule
for SetVariables and GetReport), the answers combined and kept per variable.

1.6: GetConfiguration stored per key (value, readonly, unknown), split by
GetConfigurationMaxKeys once the station told it; ChangeConfiguration with the
value asked and the answer kept per key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from volta.blocks.remote_control import service as remote_control
from volta.ocpp.redact import SECRET_KEYS_V16, SECRET_VARIABLES_V201
from volta.ocpp.versions import Version
from volta.outgoing import Message
from volta.services import Services
from volta.store.db import Database
from volta.store.models import ConfigurationKey, DeviceReport, DeviceVariable, utcnow
from volta.store.search import text_in

log = logging.getLogger(__name__)

DEVICE_DATA = "DeviceDataCtrlr"
# What a CALL frame adds around its payload: [2,"<message id>","<action>",...].
FRAME_OVERHEAD = 64
REPORT_BASES = ("ConfigurationInventory", "FullInventory", "SummaryInventory")


# -- the commands, version-neutral ---------------------------------------------


@dataclass(frozen=True, slots=True)
class VariableRef:
    """One attribute of one variable of one component (2.0.1)."""

    component: str
    variable: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable_instance: str | None = None
    attribute_type: str = "Actual"

    @property
    def key(self) -> str:
        return variable_key(
            self.component,
            self.component_instance,
            self.evse_id,
            self.connector_id,
            self.variable,
            self.variable_instance,
            self.attribute_type,
        )

    @property
    def secret(self) -> bool:
        return (self.component, self.variable) in SECRET_VARIABLES_V201


@dataclass(frozen=True, slots=True)
class ComponentVariable:
    """What a GetReport asks for: a component, and one of its variables or all."""

    component: str
    component_instance: str | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    variable: str | None = None
    variable_instance: str | None = None


@dataclass(frozen=True, slots=True)
class GetVariables:
    """B06: the values of attributes (2.0.1 only)."""

    items: tuple[VariableRef, ...]


@dataclass(frozen=True, slots=True)
class SetVariables:
    """B05: new values of attributes (2.0.1 only)."""

    items: tuple[tuple[VariableRef, str], ...]


@dataclass(frozen=True, slots=True)
class GetBaseReport:
    """B07: a predefined report (2.0.1 only)."""

    request_id: int
    report_base: str


@dataclass(frozen=True, slots=True)
class GetReport:
    """B08: a report of the components and variables asked, or of the
    components matching the criteria, or of both (2.0.1 only)."""

    request_id: int
    component_variables: tuple[ComponentVariable, ...] = ()
    component_criteria: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GetConfiguration:
    """1.6 §5.8: the keys asked, every key when none is (1.6 only)."""

    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ChangeConfiguration:
    """1.6 §5.3 (1.6 only)."""

    key: str
    value: str


# -- errors the API and the dashboard turn into 4xx -------------------------------------


class DeviceModelError(Exception):
    """Why a request cannot be sent (the message says it)."""


class WrongVersion(DeviceModelError):
    pass


class NotConnected(DeviceModelError):
    pass


# -- keys and rows ----------------------------------------------------------------------


def variable_key(
    component: str,
    component_instance: str | None,
    evse_id: int | None,
    connector_id: int | None,
    variable: str,
    variable_instance: str | None,
    attribute_type: str,
) -> str:
    comp = component + (f"[{component_instance}]" if component_instance else "")
    if evse_id is not None:
        comp += f"@{evse_id}" + (f".{connector_id}" if connector_id is not None else "")
    var = variable + (f"[{variable_instance}]" if variable_instance else "")
    return f"{comp}/{var}#{attribute_type}"


def _ref_of(
    component: dict[str, Any], variable: dict[str, Any], attribute_type: Any
) -> VariableRef:
    """A ComponentType / VariableType pair as a station spells it (2.0.1)."""
    evse = component.get("evse") or {}
    return VariableRef(
        component=str(component["name"]),
        variable=str(variable["name"]),
        component_instance=component.get("instance"),
        evse_id=evse.get("id"),
        connector_id=evse.get("connectorId"),
        variable_instance=variable.get("instance"),
        attribute_type=str(attribute_type or "Actual"),
    )


def _identity(ref: VariableRef) -> dict[str, Any]:
    return {
        "key": ref.key,
        "component": ref.component,
        "component_instance": ref.component_instance,
        "evse_id": ref.evse_id,
        "connector_id": ref.connector_id,
        "variable": ref.variable,
        "variable_instance": ref.variable_instance,
        "attribute_type": ref.attribute_type,
    }


async def _upsert_variables(
    conn: AsyncConnection, db: Database, rows: list[dict[str, Any]], columns: Iterable[str]
) -> None:
    """Insert the attributes, or update `columns` of those already there."""
    if not rows:
        return
    stmt = db.insert(DeviceVariable)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id", "key"],
        set_={c: stmt.excluded[c] for c in (*columns, "updated_at")},
    )
    await conn.execute(stmt, rows)


async def _room(
    conn: AsyncConnection, station_id: str, rows: list[dict[str, Any]], cap: int
) -> list[dict[str, Any]]:
    """`rows` less the new ones beyond the station's cap on stored attributes
    (a station reporting without end must not fill the database)."""
    count = (
        await conn.execute(
            sa.select(sa.func.count())
            .select_from(DeviceVariable)
            .where(DeviceVariable.station_id == station_id)
        )
    ).scalar_one()
    if count + len(rows) <= cap:
        return rows
    keys = [r["key"] for r in rows]
    existing = set(
        (
            await conn.execute(
                sa.select(DeviceVariable.key).where(
                    DeviceVariable.station_id == station_id, DeviceVariable.key.in_(keys)
                )
            )
        ).scalars()
    )
    allowed = max(cap - count, 0)
    kept = []
    for row in rows:
        if row["key"] in existing:
            kept.append(row)
        elif allowed > 0:
            kept.append(row)
            allowed -= 1
    log.warning(
        "station %s: device model full (%d attributes), %d not stored",
        station_id,
        cap,
        len(rows) - len(kept),
    )
    return kept


# -- NotifyReport (B07 / B08) ------------------------------------------------------------


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


async def store_report(services: Services, station_id: str, payload: dict[str, Any]) -> int:
    """One NotifyReport part: its attributes stored, its report's progress
    kept (complete at the part without tbc). Returns the attributes stored."""
    db = services.db
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for item in payload.get("reportData") or []:
        characteristics = item.get("variableCharacteristics") or {}
        for attribute in item.get("variableAttribute") or []:
            ref = _ref_of(item["component"], item["variable"], attribute.get("type"))
            rows.append(
                {
                    "station_id": station_id,
                    **_identity(ref),
                    "value": None if ref.secret else attribute.get("value"),
                    "mutability": attribute.get("mutability"),
                    "persistent": attribute.get("persistent"),
                    "constant": attribute.get("constant"),
                    "unit": characteristics.get("unit"),
                    "data_type": characteristics.get("dataType"),
                    "min_limit": _float(characteristics.get("minLimit")),
                    "max_limit": _float(characteristics.get("maxLimit")),
                    "values_list": characteristics.get("valuesList"),
                    "supports_monitoring": characteristics.get("supportsMonitoring"),
                    "updated_at": now,
                }
            )
    request_id = int(payload["requestId"])
    done = not payload.get("tbc", False)
    async with db.write(station_id) as conn:
        rows = await _room(conn, station_id, rows, services.settings.device_model_max_attributes)
        await _upsert_variables(
            conn,
            db,
            rows,
            (
                "value",
                "mutability",
                "persistent",
                "constant",
                "unit",
                "data_type",
                "min_limit",
                "max_limit",
                "values_list",
                "supports_monitoring",
            ),
        )
        values: dict[str, Any] = {
            "status": "complete" if done else "receiving",
            "parts": DeviceReport.parts + 1,
            "items": DeviceReport.items + len(rows),
            "updated_at": now,
        }
        if done:
            values["completed_at"] = now
        found = await conn.execute(
            sa.update(DeviceReport)
            .where(DeviceReport.station_id == station_id, DeviceReport.request_id == request_id)
            .values(**values)
        )
        if not found.rowcount:
            # A report Volta did not ask for (or asked before a restart).
            await conn.execute(
                sa.insert(DeviceReport).values(
                    station_id=station_id,
                    request_id=request_id,
                    status="complete" if done else "receiving",
                    parts=1,
                    items=len(rows),
                    requested_at=now,
                    updated_at=now,
                    completed_at=now if done else None,
                )
            )
    return len(rows)


# -- reading what is stored ------------------------------------------------------------


async def list_variables(
    db: Database,
    station_id: str,
    *,
    q: str | None = None,
    evse_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[int, list[dict[str, Any]]]:
    """The station's attributes by component and variable: those whose
    component or variable name holds `q` (any case), of EVSE `evse_id`.
    Returns (how many match, the page)."""
    where = [DeviceVariable.station_id == station_id]
    if q:
        where.append(text_in(q, DeviceVariable.component, DeviceVariable.variable))
    if evse_id is not None:
        where.append(DeviceVariable.evse_id == evse_id)
    async with db.read() as conn:
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(DeviceVariable).where(*where))
        ).scalar_one()
        rows = (
            (
                await conn.execute(
                    sa.select(DeviceVariable)
                    .where(*where)
                    .order_by(DeviceVariable.component, DeviceVariable.key)
                    .limit(limit)
                    .offset(offset)
                )
            )
            .mappings()
            .all()
        )
    return int(total), [dict(r) for r in rows]


async def device_variables(db: Database, station_id: str) -> list[dict[str, Any]]:
    """A 2.0.1 station's reported device model, by component (the station page)."""
    return (await list_variables(db, station_id, limit=10_000))[1]


async def get_variable(db: Database, station_id: str, key: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(DeviceVariable).where(
                        DeviceVariable.station_id == station_id, DeviceVariable.key == key
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_reports(db: Database, station_id: str, *, limit: int = 50) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(DeviceReport)
                    .where(DeviceReport.station_id == station_id)
                    .order_by(DeviceReport.requested_at.desc(), DeviceReport.request_id.desc())
                    .limit(limit)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


async def get_report(db: Database, station_id: str, request_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(DeviceReport).where(
                        DeviceReport.station_id == station_id,
                        DeviceReport.request_id == request_id,
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_configuration(db: Database, station_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(ConfigurationKey)
                    .where(ConfigurationKey.station_id == station_id)
                    .order_by(ConfigurationKey.key)
                )
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


# -- splitting -------------------------------------------------------------------------------


def chunks(
    items: Sequence[Any],
    payload_of: Callable[[list[Any]], dict[str, Any]],
    *,
    action: str,
    max_items: int | None,
    max_bytes: int | None,
) -> list[list[Any]]:
    """`items` in chunks of at most `max_items`, each chunk's CALL frame
    (`payload_of(chunk)` as `action`) at most `max_bytes` bytes; an item too
    big alone still goes, alone (no smaller message could carry it). The
    items keep their order. The one splitter of every request a station's
    ItemsPerMessage / BytesPerMessage bound (B08, TC_B_08; N04/N06, TC_N_18)."""
    overhead = FRAME_OVERHEAD + len(action)
    base = overhead + len(orjson.dumps(payload_of([])))
    parts: list[list[Any]] = []
    current: list[Any] = []
    size = base
    for item in items:
        item_size = overhead + len(orjson.dumps(payload_of([item]))) - base
        # +1: the comma between two items of the list.
        grown = size + item_size + (1 if current else 0)
        if current and (
            (max_items is not None and len(current) >= max_items)
            or (max_bytes is not None and grown > max_bytes)
        ):
            parts.append(current)
            current, size = [], base
            grown = size + item_size
        current.append(item)
        size = grown
    if current:
        parts.append(current)
    return parts


def split(
    message: Message, field: str, max_items: int | None, max_bytes: int | None
) -> list[Message]:
    """`message` as several, each with a chunk of its list `field` (chunks)."""
    items = message.payload.get(field) or []
    if not items:
        return [message]
    rest = {k: v for k, v in message.payload.items() if k != field}
    return [
        Message(message.action, {**rest, field: part})
        for part in chunks(
            items,
            lambda part: {**rest, field: part},
            action=message.action,
            max_items=max_items,
            max_bytes=max_bytes,
        )
    ]


def _positive(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else 0
    except ValueError:
        return None
    return number if number > 0 else None


async def message_limits(
    services: Services,
    station_id: str,
    instance: str,
    *,
    ask: bool,
    component: str = DEVICE_DATA,
) -> tuple[int | None, int | None]:
    """ItemsPerMessage / BytesPerMessage of `instance` as the station
    reported them: DeviceDataCtrlr's for GetReport, GetVariables and
    SetVariables, MonitoringCtrlr's for SetVariableMonitoring and
    ClearVariableMonitoring. Asked for first (one GetVariables) when never
    reported and `ask`; a station's "I don't have it" is kept, and not asked
    again. None: not known (no bound)."""
    refs = [
        VariableRef(component, name, variable_instance=instance)
        for name in ("ItemsPerMessage", "BytesPerMessage")
    ]
    known = await _stored(services.db, station_id, refs)
    if len(known) < len(refs) and ask:
        await _send_get_variables(
            services,
            station_id,
            refs,
            [Message("GetVariables", _spell_get(services, station_id, refs))],
        )
        known = await _stored(services.db, station_id, refs)
    items = known.get(refs[0].key)
    size = known.get(refs[1].key)
    return (
        _positive(items["value"]) if items else None,
        _positive(size["value"]) if size else None,
    )


async def _stored(
    db: Database, station_id: str, refs: list[VariableRef]
) -> dict[str, dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(DeviceVariable).where(
                        DeviceVariable.station_id == station_id,
                        DeviceVariable.key.in_([r.key for r in refs]),
                    )
                )
            )
            .mappings()
            .all()
        )
    # Known: reported, or asked for and answered (even as unknown to it).
    return {r["key"]: dict(r) for r in rows if r["mutability"] or r["attribute_status"]}


def _version(services: Services, station_id: str, wanted: Version) -> Version:
    version = services.router.version_of(station_id)
    if version is None:
        raise NotConnected(f"station {station_id} is not connected")
    if (version is Version.V16) != (wanted is Version.V16):
        if wanted is Version.V16:
            raise WrongVersion(
                f"station {station_id} speaks OCPP {version.label}: its device model is"
                " under /device-model"
            )
        raise WrongVersion(
            f"station {station_id} speaks OCPP 1.6: its configuration keys are under /configuration"
        )
    return version


def _spell_get(services: Services, station_id: str, refs: list[VariableRef]) -> dict[str, Any]:
    version = _version(services, station_id, Version.V201)
    return services.outgoing[version].build(GetVariables(tuple(refs))).payload


# -- GetVariables (B06) ------------------------------------------------------------------------


@dataclass
class Sent:
    """What a split request became: its messages' command records and the
    station's answers, combined (one per element asked, in order)."""

    commands: list[remote_control.CommandRecord]
    results: list[dict[str, Any]]


def _failed(record: remote_control.CommandRecord) -> dict[str, Any]:
    return {
        "attribute_status": None,
        "error": record["error_description"] or record["status"],
        "command_id": record["id"],
    }


async def _send_get_variables(
    services: Services, station_id: str, refs: list[VariableRef], messages: list[Message]
) -> Sent:
    sent = Sent([], [])
    position = 0
    for message in messages:
        part = refs[position : position + len(message.payload["getVariableData"])]
        position += len(part)
        record = await remote_control.send_command(
            services, station_id, message.action, message.payload
        )
        sent.commands.append(record)
        answers = (record["response"] or {}).get("getVariableResult")
        now = utcnow()
        rows = []
        if not isinstance(answers, list):
            sent.results += [{**_identity(ref), **_failed(record)} for ref in part]
            continue
        # B06.FR.01: one result per element asked; more is not believed.
        for asked, answer in zip(part, answers[: len(part)], strict=False):
            try:
                ref = _ref_of(answer["component"], answer["variable"], answer.get("attributeType"))
            except (KeyError, TypeError):
                ref = asked
            status = answer.get("attributeStatus")
            value = answer.get("attributeValue")
            row = {
                "station_id": station_id,
                **_identity(ref),
                "attribute_status": status,
                "status_info": answer.get("attributeStatusInfo"),
                "answered_at": now,
                "updated_at": now,
            }
            if status == "Accepted" and not ref.secret:
                row["value"] = value
            rows.append(row)
            sent.results.append(
                {
                    **_identity(ref),
                    "attribute_status": status,
                    "value": value if not ref.secret else None,
                    "status_info": answer.get("attributeStatusInfo"),
                    "command_id": record["id"],
                }
            )
        await _store_answers(services, station_id, rows)
    return sent


async def _store_answers(services: Services, station_id: str, rows: list[dict[str, Any]]) -> None:
    """Answers per attribute: rows with a value update it; others keep theirs."""
    async with services.db.write(station_id) as conn:
        rows = await _room(conn, station_id, rows, services.settings.device_model_max_attributes)
        with_value = [r for r in rows if "value" in r]
        without = [r for r in rows if "value" not in r]
        answer_columns = ("attribute_status", "status_info", "answered_at")
        await _upsert_variables(conn, services.db, with_value, (*answer_columns, "value"))
        await _upsert_variables(conn, services.db, without, answer_columns)


async def get_variables(services: Services, station_id: str, refs: list[VariableRef]) -> Sent:
    """GetVariables of `refs`, in as many messages as the station's
    ItemsPerMessage / BytesPerMessage GetVariables ask (B06.FR.05)."""
    payload = _spell_get(services, station_id, refs)
    items, size = await message_limits(services, station_id, "GetVariables", ask=len(refs) > 1)
    messages = split(Message("GetVariables", payload), "getVariableData", items, size)
    return await _send_get_variables(services, station_id, refs, messages)


# -- SetVariables (B05) -----------------------------------------------------------------------


async def set_variables(
    services: Services, station_id: str, values: list[tuple[VariableRef, str]], *, by: str
) -> Sent:
    """SetVariables of `values`, split like GetVariables (by
    ItemsPerMessage / BytesPerMessage SetVariables). What was asked is kept
    before it is sent (a secret's value never), the answers as they come;
    an Accepted value becomes the stored one."""
    version = _version(services, station_id, Version.V201)
    payload = services.outgoing[version].build(SetVariables(tuple(values))).payload
    items, size = await message_limits(services, station_id, "SetVariables", ask=len(values) > 1)
    messages = split(Message("SetVariables", payload), "setVariableData", items, size)
    now = utcnow()
    asked = [
        {
            "station_id": station_id,
            **_identity(ref),
            "requested_value": None if ref.secret else value,
            "requested_at": now,
            "requested_by": by[:64],
            "attribute_status": None,
            "status_info": None,
            "answered_at": None,
            "updated_at": now,
        }
        for ref, value in values
    ]
    async with services.db.write(station_id) as conn:
        asked = await _room(conn, station_id, asked, services.settings.device_model_max_attributes)
        await _upsert_variables(
            conn,
            services.db,
            asked,
            (
                "requested_value",
                "requested_at",
                "requested_by",
                "attribute_status",
                "status_info",
                "answered_at",
            ),
        )
    sent = Sent([], [])
    position = 0
    for message in messages:
        part = values[position : position + len(message.payload["setVariableData"])]
        position += len(part)
        record = await remote_control.send_command(
            services, station_id, message.action, message.payload
        )
        sent.commands.append(record)
        answers = (record["response"] or {}).get("setVariableResult")
        if not isinstance(answers, list):
            sent.results += [{**_identity(ref), **_failed(record)} for ref, _ in part]
            continue
        now = utcnow()
        rows = []
        for (ref, value), answer in zip(part, answers[: len(part)], strict=False):
            status = answer.get("attributeStatus")
            row = {
                "station_id": station_id,
                **_identity(ref),
                "attribute_status": status,
                "status_info": answer.get("attributeStatusInfo"),
                "answered_at": now,
                "updated_at": now,
            }
            if status == "Accepted" and not ref.secret:
                row["value"] = value
            rows.append(row)
            sent.results.append(
                {
                    **_identity(ref),
                    "attribute_status": status,
                    "status_info": answer.get("attributeStatusInfo"),
                    "command_id": record["id"],
                }
            )
        await _store_answers(services, station_id, rows)
    return sent


# -- reports (B07 / B08) -----------------------------------------------------------------------


def _request_id() -> int:
    return secrets.randbelow(2**31 - 2) + 1


async def request_report(
    services: Services,
    station_id: str,
    *,
    report_base: str | None = None,
    component_variables: list[ComponentVariable] | None = None,
    component_criteria: list[str] | None = None,
    by: str,
) -> tuple[list[dict[str, Any]], list[remote_control.CommandRecord]]:
    """GetBaseReport of `report_base`, or GetReport of the components and
    variables and/or criteria (split by ItemsPerMessage / BytesPerMessage
    GetReport, one requestId per message). The report rows are written
    before the request goes: its NotifyReports may come before its answer."""
    version = _version(services, station_id, Version.V201)
    table = services.outgoing[version]
    if report_base is not None:
        messages = [table.build(GetBaseReport(_request_id(), report_base))]
        kind = report_base
    else:
        wanted = tuple(component_variables or ())
        message = table.build(GetReport(0, wanted, tuple(component_criteria or ())))
        items, size = await message_limits(services, station_id, "GetReport", ask=len(wanted) > 1)
        messages = [
            Message(m.action, {**m.payload, "requestId": _request_id()})
            for m in split(message, "componentVariable", items, size)
        ]
        kind = "Custom"
    reports: list[dict[str, Any]] = []
    records = []
    for message in messages:
        now = utcnow()
        criteria = {
            k: v for k, v in message.payload.items() if k not in ("requestId", "reportBase")
        }
        report = {
            "station_id": station_id,
            "request_id": message.payload["requestId"],
            "kind": kind,
            "status": "requested",
            "answer": None,
            "criteria": criteria or None,
            "parts": 0,
            "items": 0,
            "requested_by": by[:64],
            "requested_at": now,
            "updated_at": now,
            "completed_at": None,
        }
        async with services.db.write(station_id) as conn:
            await conn.execute(sa.insert(DeviceReport).values(**report))
        record = await remote_control.send_command(
            services, station_id, message.action, message.payload
        )
        records.append(record)
        answer = (record["response"] or {}).get("status")
        async with services.db.write(station_id) as conn:
            where = (
                DeviceReport.station_id == station_id,
                DeviceReport.request_id == report["request_id"],
            )
            await conn.execute(sa.update(DeviceReport).where(*where).values(answer=answer))
            if answer != "Accepted":
                # EmptyResultSet, Rejected, NotSupported: no NotifyReport comes.
                await conn.execute(
                    sa.update(DeviceReport)
                    .where(*where, DeviceReport.status == "requested")
                    .values(status="refused" if answer else "failed", updated_at=utcnow())
                )
        found = await get_report(services.db, station_id, report["request_id"])
        assert found is not None
        reports.append(found)
    return reports, records


# -- 1.6 configuration keys ------------------------------------------------------------------


async def _max_keys(db: Database, station_id: str) -> int | None:
    async with db.read() as conn:
        value = (
            await conn.execute(
                sa.select(ConfigurationKey.value).where(
                    ConfigurationKey.station_id == station_id,
                    ConfigurationKey.key == "GetConfigurationMaxKeys",
                )
            )
        ).scalar()
    return _positive(value)


async def get_configuration(
    services: Services, station_id: str, keys: list[str]
) -> tuple[list[dict[str, Any]], list[remote_control.CommandRecord]]:
    """GetConfiguration of `keys` (all when empty), in messages of at most
    GetConfigurationMaxKeys keys once the station told it; what it answers
    stored per key. Returns the stored keys asked (all when none) and the
    commands."""
    version = _version(services, station_id, Version.V16)
    table = services.outgoing[version]
    most = await _max_keys(services.db, station_id) if keys else None
    chunks = [keys[i : i + most] for i in range(0, len(keys), most)] if most else [keys]
    records = []
    cap = services.settings.device_model_max_attributes
    for chunk in chunks:
        message = table.build(GetConfiguration(tuple(chunk)))
        record = await remote_control.send_command(
            services, station_id, message.action, message.payload
        )
        records.append(record)
        response = record["response"] or {}
        now = utcnow()
        rows = [
            {
                "station_id": station_id,
                "key": item["key"],
                "value": None if item["key"] in SECRET_KEYS_V16 else item.get("value"),
                "readonly": item.get("readonly"),
                "unknown": False,
                "updated_at": now,
            }
            for item in (response.get("configurationKey") or [])[:cap]
        ]
        rows += [
            {
                "station_id": station_id,
                "key": key,
                "value": None,
                "readonly": None,
                "unknown": True,
                "updated_at": now,
            }
            for key in (response.get("unknownKey") or [])[:cap]
        ]
        await _store_keys(services, station_id, rows, ("value", "readonly", "unknown"))
    stored = await list_configuration(services.db, station_id)
    if keys:
        wanted = set(keys)
        stored = [r for r in stored if r["key"] in wanted]
    return stored, records


async def _store_keys(
    services: Services, station_id: str, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    if not rows:
        return
    db = services.db
    stmt = db.insert(ConfigurationKey)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id", "key"],
        set_={c: stmt.excluded[c] for c in (*columns, "updated_at")},
    )
    async with db.write(station_id) as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(ConfigurationKey)
                .where(ConfigurationKey.station_id == station_id)
            )
        ).scalar_one()
        if count + len(rows) > services.settings.device_model_max_attributes:
            log.warning("station %s: too many configuration keys, not all stored", station_id)
            rows = rows[: max(services.settings.device_model_max_attributes - count, 0)]
            if not rows:
                return
        await conn.execute(stmt, rows)


async def change_configuration(
    services: Services, station_id: str, key: str, value: str, *, by: str
) -> tuple[dict[str, Any], remote_control.CommandRecord]:
    """ChangeConfiguration of one key: what was asked kept first (a secret's
    value never), then the answer; an Accepted value becomes the stored one."""
    version = _version(services, station_id, Version.V16)
    message = services.outgoing[version].build(ChangeConfiguration(key, value))
    secret = key in SECRET_KEYS_V16
    now = utcnow()
    asked = {
        "station_id": station_id,
        "key": key,
        "unknown": False,
        "requested_value": None if secret else value,
        "requested_at": now,
        "requested_by": by[:64],
        "answer": None,
        "answered_at": None,
        "updated_at": now,
    }
    await _store_keys(
        services,
        station_id,
        [asked],
        ("requested_value", "requested_at", "requested_by", "answer", "answered_at"),
    )
    record = await remote_control.send_command(
        services, station_id, message.action, message.payload
    )
    answer = (record["response"] or {}).get("status")
    changes: dict[str, Any] = {"answer": answer, "answered_at": utcnow(), "updated_at": utcnow()}
    if answer == "Accepted" and not secret:
        changes["value"] = value
    if answer == "NotSupported":
        changes["unknown"] = True
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(ConfigurationKey)
            .where(ConfigurationKey.station_id == station_id, ConfigurationKey.key == key)
            .values(**changes)
        )
    rows = await list_configuration(services.db, station_id)
    row = next((r for r in rows if r["key"] == key), {**asked, **changes})
    return row, record
