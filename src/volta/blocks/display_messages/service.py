"""Display messages of 2.0.1 stations (block O).

Volta keeps one row per (station, message id): what it set (O01, O02 bound to
a transaction, O06 replaced in place by the same id) with the station's
answer, or what the station reported (NotifyDisplayMessages after
GetDisplayMessages, O03/O04). A row is stored `Requested` before the command
goes out, so a restart mid-command leaves a record.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import send
from volta.events import service as events
from volta.ocpp.times import parse_timestamp
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import DisplayMessage, DisplayMessageReport, utcnow

log = logging.getLogger(__name__)

PRIORITIES = ("AlwaysFront", "InFront", "NormalCycle")
STATES = ("Charging", "Faulted", "Idle", "Unavailable")
FORMATS = ("ASCII", "HTML", "URI", "UTF8")
# SetDisplayMessage answers (DisplayMessageStatusEnumType).
ANSWERS = frozenset(
    {
        "Accepted",
        "NotSupportedMessageFormat",
        "Rejected",
        "NotSupportedPriority",
        "NotSupportedState",
        "UnknownTransaction",
    }
)
# A station's report is kept whole up to this many messages (NotifyDisplayMessages
# parts); more are counted, not stored, so a station cannot grow a row without end.
MAX_REPORTED = 500
# Messages kept per station at most; a report's further new ids are not stored.
MAX_STORED = 1000
# GetDisplayMessages id[] at most (NumberOfDisplayMessages is usually far less).
MAX_IDS = 100


class DisplayRefused(Exception):
    """The request cannot be sent; the message says why (a 409)."""


# -- the commands, 2.0.1 only (v201.py spells them) ----------------------------------


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """A display message as an operator gives it (MessageInfoType)."""

    content: str
    priority: str = "NormalCycle"
    format: str = "UTF8"
    language: str | None = None
    state: str | None = None
    start_at: dt.datetime | None = None
    end_at: dt.datetime | None = None
    # O02: the station's transactionId; shown only during that transaction.
    transaction_id: str | None = None
    display: dict[str, Any] | None = None
    # None: the next free id of the station.
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class SetDisplayMessage:
    message_id: int
    spec: MessageSpec


@dataclass(frozen=True, slots=True)
class GetDisplayMessages:
    request_id: int
    ids: tuple[int, ...] = ()
    priority: str | None = None
    state: str | None = None


@dataclass(frozen=True, slots=True)
class ClearDisplayMessage:
    message_id: int


@dataclass(frozen=True, slots=True)
class Criteria:
    ids: tuple[int, ...] = field(default=())
    priority: str | None = None
    state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ids": list(self.ids), "priority": self.priority, "state": self.state}


# -- setting, clearing, asking ------------------------------------------------------


def _require_v201(services: Services, station_id: str) -> None:
    version = services.router.version_of(station_id)
    if version is None:
        raise DisplayRefused(f"station {station_id} is not connected")
    if not version.modern:
        raise DisplayRefused(
            f"station {station_id} speaks OCPP {version.label}: display messages are OCPP 2.0.1"
        )


async def _next_id(conn: Conn, station_id: str) -> int:
    top = (
        await conn.execute(
            sa.select(sa.func.max(DisplayMessage.message_id)).where(
                DisplayMessage.station_id == station_id
            )
        )
    ).scalar_one_or_none()
    return int(top or 0) + 1


def _columns(spec: MessageSpec) -> dict[str, Any]:
    return {
        "priority": spec.priority,
        "state": spec.state,
        "start_at": spec.start_at,
        "end_at": spec.end_at,
        "transaction_id": spec.transaction_id,
        "format": spec.format,
        "language": spec.language,
        "content": spec.content,
        "display": spec.display,
    }


async def set_message(
    services: Services, station_id: str, spec: MessageSpec, *, source: str = "api"
) -> dict[str, Any]:
    """Send SetDisplayMessage (O01/O02; O06 when the id is already in use:
    the station replaces that message) and keep the answer."""
    _require_v201(services, station_id)
    db = services.db
    now = utcnow()
    values = {**_columns(spec), "status": "Requested", "source": source, "updated_at": now}
    async with db.write(station_id) as conn:
        message_id = spec.message_id or await _next_id(conn, station_id)
        await conn.execute(
            db.insert(DisplayMessage)
            .values(station_id=station_id, message_id=message_id, created_at=now, **values)
            .on_conflict_do_update(index_elements=["station_id", "message_id"], set_=values)
        )
    command = await send(services, station_id, SetDisplayMessage(message_id, spec))
    answer = (command.get("response") or {}).get("status")
    status = answer if answer in ANSWERS else "Failed"
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(DisplayMessage)
            .where(
                DisplayMessage.station_id == station_id,
                DisplayMessage.message_id == message_id,
            )
            .values(status=status, command_id=command["id"], updated_at=utcnow())
        )
        await events.emit(
            conn,
            "display_message.answered",
            station_id=station_id,
            message_id=message_id,
            status=status,
            source=source,
        )
    found = await get_message(db, station_id, message_id)
    assert found is not None
    return {**found, "command": command}


async def clear_message(services: Services, station_id: str, message_id: int) -> dict[str, Any]:
    """ClearDisplayMessage (O05). Any id may be cleared, also one Volta did
    not set; the answer (Accepted, Unknown) is returned and an Accepted one
    marks the stored message Cleared."""
    _require_v201(services, station_id)
    command = await send(services, station_id, ClearDisplayMessage(message_id))
    answer = (command.get("response") or {}).get("status")
    if answer == "Accepted":
        async with services.db.write(station_id) as conn:
            await conn.execute(
                sa.update(DisplayMessage)
                .where(
                    DisplayMessage.station_id == station_id,
                    DisplayMessage.message_id == message_id,
                )
                .values(status="Cleared", updated_at=utcnow())
            )
    return {
        "message_id": message_id,
        "status": answer or "Failed",
        "message": await get_message(services.db, station_id, message_id),
        "command": command,
    }


async def refresh(services: Services, station_id: str, criteria: Criteria) -> dict[str, Any]:
    """GetDisplayMessages (O03 all, O04 by id, priority or state): the report
    row's id is the requestId; NotifyDisplayMessages fills it in."""
    _require_v201(services, station_id)
    if len(criteria.ids) > MAX_IDS:
        raise DisplayRefused(f"at most {MAX_IDS} message ids")
    db = services.db
    now = utcnow()
    async with db.write(station_id) as conn:
        request_id = (
            await conn.execute(
                sa.insert(DisplayMessageReport)
                .values(
                    station_id=station_id,
                    criteria=criteria.to_dict(),
                    status="Requested",
                    messages=[],
                    parts=0,
                    complete=False,
                    created_at=now,
                    updated_at=now,
                )
                .returning(DisplayMessageReport.id)
            )
        ).scalar_one()
    command = await send(
        services,
        station_id,
        GetDisplayMessages(request_id, criteria.ids, criteria.priority, criteria.state),
    )
    answer = (command.get("response") or {}).get("status") or "Failed"
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(DisplayMessageReport)
            .where(DisplayMessageReport.id == request_id)
            .values(status=answer[:16], command_id=command["id"], updated_at=utcnow())
        )
    found = await get_report(db, station_id, request_id)
    assert found is not None
    return {**found, "command": command}


# -- what stations tell ---------------------------------------------------------------


def _from_info(info: dict[str, Any]) -> dict[str, Any]:
    content = info.get("message") or {}
    return {
        "priority": info["priority"],
        "state": info.get("state"),
        "start_at": _time(info.get("startDateTime")),
        "end_at": _time(info.get("endDateTime")),
        "transaction_id": info.get("transactionId"),
        "format": content.get("format", "UTF8"),
        "language": content.get("language"),
        "content": content.get("content", ""),
        "display": info.get("display"),
    }


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else parse_timestamp(value)


async def notify(db: Database, station_id: str, payload: dict[str, Any]) -> bool:
    """NotifyDisplayMessages: each message is stored (as the station has it),
    and the part is added to the report of its requestId. False when no
    report of this station has that requestId (the messages are kept all the same)."""
    infos: list[dict[str, Any]] = payload.get("messageInfo") or []
    now = utcnow()
    async with db.write(station_id) as conn:
        known = set(
            (
                await conn.execute(
                    sa.select(DisplayMessage.message_id).where(
                        DisplayMessage.station_id == station_id
                    )
                )
            )
            .scalars()
            .all()
        )
        for info in infos[:MAX_REPORTED]:
            if info["id"] not in known and len(known) >= MAX_STORED:
                continue  # a station cannot grow the table without end
            known.add(info["id"])
            columns = _from_info(info)
            await conn.execute(
                db.insert(DisplayMessage)
                .values(
                    station_id=station_id,
                    message_id=info["id"],
                    status="Reported",
                    source="station",
                    reported_at=now,
                    created_at=now,
                    updated_at=now,
                    **columns,
                )
                .on_conflict_do_update(
                    index_elements=["station_id", "message_id"],
                    # What the station holds wins over what Volta last asked for.
                    set_={**columns, "reported_at": now, "updated_at": now},
                )
            )
        report = (
            await conn.execute(
                sa.select(DisplayMessageReport.messages, DisplayMessageReport.parts).where(
                    DisplayMessageReport.id == payload["requestId"],
                    DisplayMessageReport.station_id == station_id,
                )
            )
        ).first()
        if report is None:
            return False
        kept = list(report.messages)
        kept.extend(infos[: max(0, MAX_REPORTED - len(kept))])
        await conn.execute(
            sa.update(DisplayMessageReport)
            .where(DisplayMessageReport.id == payload["requestId"])
            .values(
                messages=kept,
                parts=report.parts + 1,
                complete=not payload.get("tbc", False),
                updated_at=now,
            )
        )
    return True


# -- reading ------------------------------------------------------------------------


async def get_message(db: Database, station_id: str, message_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(DisplayMessage).where(
                        DisplayMessage.station_id == station_id,
                        DisplayMessage.message_id == message_id,
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_messages(
    db: Database, station_id: str, *, include_cleared: bool = False
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(DisplayMessage)
        .where(DisplayMessage.station_id == station_id)
        .order_by(DisplayMessage.message_id)
    )
    if not include_cleared:
        stmt = stmt.where(DisplayMessage.status != "Cleared")
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


async def get_report(db: Database, station_id: str, request_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(DisplayMessageReport).where(
                        DisplayMessageReport.id == request_id,
                        DisplayMessageReport.station_id == station_id,
                    )
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def latest_report(db: Database, station_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(DisplayMessageReport)
                    .where(DisplayMessageReport.station_id == station_id)
                    .order_by(DisplayMessageReport.id.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None
