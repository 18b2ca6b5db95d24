"""Tariffs in OCPP 2.1 stations (block I, local cost calculation): Volta's
tariffs sent as TariffType (SetDefaultTariff I07, ChangeTransactionTariff
I10), the tariffs a station holds (GetTariffs I12), clearing them
(ClearTariffs I12), and the cost a station calculated itself (costDetails,
I11) kept and compared with Volta's own calculation on the CDR.

Only 2.1 stations are sent these commands: a 1.6 or 2.0.1 station (or one
not connected) is refused with `StationTariffRefused` before anything is
sent; a tariff TariffType cannot say is refused with `Untranslatable`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa

from volta.blocks.remote_control.service import send
from volta.blocks.tariffs import service
from volta.blocks.tariffs.model import Tariff as TariffValue
from volta.blocks.tariffs.translate import Untranslatable, to_ocpp, volta_tariff_id
from volta.blocks.transactions.queries import find_v201
from volta.events import service as events
from volta.ocpp.times import parse_timestamp
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import StationCost, StationTariff, Tariff, Transaction, utcnow

log = logging.getLogger(__name__)

__all__ = ["StationTariffRefused", "Untranslatable"]


class StationTariffRefused(Exception):
    """A 2.1 tariff command Volta does not send (station offline, not 2.1,
    transaction not active); the message says why."""


# -- the commands, version-neutral (built by v21.outgoing) ---------------------------


@dataclass(frozen=True, slots=True)
class SetDefaultTariff:
    evse_id: int
    tariff: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChangeTransactionTariff:
    transaction_id: str
    tariff: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GetTariffs:
    evse_id: int


@dataclass(frozen=True, slots=True)
class ClearTariffs:
    tariff_ids: tuple[str, ...] = ()
    evse_id: int | None = None


def require_v21(services: Services, station_id: str) -> None:
    version = services.router.version_of(station_id)
    if version is None:
        raise StationTariffRefused(f"station {station_id} is not connected")
    if version is not Version.V21:
        raise StationTariffRefused(
            f"station {station_id} speaks OCPP {version.label}: tariffs in the station "
            "(SetDefaultTariff, ChangeTransactionTariff, GetTariffs, ClearTariffs) are OCPP 2.1"
        )


async def _tariff(db: Database, tariff_id: int) -> TariffValue:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(Tariff).where(Tariff.id == tariff_id))).first()
    if row is None:
        raise service.NotFound(f"tariff {tariff_id} not found")
    return service._tariff(row)


def _answer(command: Any) -> tuple[str, dict[str, Any] | None]:
    response = command.get("response") or {}
    return str(response.get("status") or "Failed"), response.get("statusInfo")


async def _answered(
    services: Services, station_id: str, action: str, status: str, **data: Any
) -> None:
    async with services.db.write(station_id) as conn:
        await events.emit(
            conn,
            "tariff.station_answered",
            station_id=station_id,
            action=action,
            status=status,
            **data,
        )


async def set_default_tariff(
    services: Services, station_id: str, evse_id: int, tariff_id: int
) -> dict[str, Any]:
    """SetDefaultTariff (I07): Volta's tariff `tariff_id` as the default of
    EVSE `evse_id` (0: every EVSE of the station)."""
    require_v21(services, station_id)
    tariff = to_ocpp(await _tariff(services.db, tariff_id))
    command = await send(services, station_id, SetDefaultTariff(evse_id, tariff))
    status, info = _answer(command)
    await _answered(
        services,
        station_id,
        "SetDefaultTariff",
        status,
        evse_id=evse_id,
        tariff_id=tariff_id,
        ocpp_tariff_id=tariff["tariffId"],
    )
    return {
        "station_id": station_id,
        "evse_id": evse_id,
        "tariff_id": tariff_id,
        "ocpp_tariff_id": tariff["tariffId"],
        "status": status,
        "status_info": info,
        "tariff": tariff,
        "command": command,
    }


async def change_transaction_tariff(
    services: Services, transaction_id: int, tariff_id: int | None = None
) -> dict[str, Any]:
    """ChangeTransactionTariff (I10): a running 2.1 transaction priced with
    `tariff_id` from now on, or (None) with the tariff Volta resolves for it."""
    async with services.db.read() as conn:
        tx = (
            await conn.execute(sa.select(Transaction).where(Transaction.id == transaction_id))
        ).first()
        if tx is None:
            raise service.NotFound(f"transaction {transaction_id} not found")
        resolved = (
            None
            if tariff_id is not None
            else await service.resolve(conn, tx.station_id, tx.evse_id, tx.id_token)
        )
    if tx.status != "Active" or tx.station_transaction_id is None:
        raise StationTariffRefused(f"transaction {transaction_id} is not active")
    require_v21(services, tx.station_id)
    if tariff_id is not None:
        value = await _tariff(services.db, tariff_id)
    elif resolved is None:
        raise StationTariffRefused(f"no tariff applies to transaction {transaction_id}")
    else:
        value = resolved
    return await _change(services, tx, value)


async def _change(services: Services, tx: Any, value: TariffValue) -> dict[str, Any]:
    tariff = to_ocpp(value)
    command = await send(
        services, tx.station_id, ChangeTransactionTariff(tx.station_transaction_id, tariff)
    )
    status, info = _answer(command)
    await _answered(
        services,
        tx.station_id,
        "ChangeTransactionTariff",
        status,
        transaction=tx.id,
        tariff_id=value.id,
        ocpp_tariff_id=tariff["tariffId"],
    )
    return {
        "station_id": tx.station_id,
        "transaction_id": tx.id,
        "tariff_id": value.id,
        "ocpp_tariff_id": tariff["tariffId"],
        "status": status,
        "status_info": info,
        "tariff": tariff,
        "command": command,
    }


async def driver_tariff_for_remote_start(
    services: Services, station_id: str, request: dict[str, Any]
) -> None:
    """I08 for a remote start: a 2.1 station that started a transaction Volta
    asked for (remoteStartId) without an Authorize may run it under its
    default tariff; when that is not the driver's tariff, send the driver's
    with ChangeTransactionTariff."""
    info = request.get("transactionInfo") or {}
    if info.get("remoteStartId") is None:
        return
    tx = await find_v201(services.db, station_id, info["transactionId"])
    if tx is None or tx.status != "Active" or service.token_refused(tx):
        return
    async with services.db.read() as conn:
        tariff = await service.resolve(conn, tx.station_id, tx.evse_id, tx.id_token)
    if tariff is None:
        return
    try:
        wanted = to_ocpp(tariff)
    except Untranslatable as exc:
        log.warning("%s: driver tariff %s not sent: %s", station_id, tariff.id, exc)
        return
    if info.get("tariffId") == wanted["tariffId"]:
        return
    await _change(services, tx, tariff)


# -- what the station holds ------------------------------------------------------------


def _reported(station_id: str, item: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "tariff_id": item["tariffId"],
        "tariff_kind": item["tariffKind"],
        "valid_from": parse_timestamp(item.get("validFrom")),
        "evse_ids": item.get("evseIds"),
        "id_tokens": item.get("idTokens"),
        "volta_tariff_id": volta_tariff_id(item["tariffId"]),
        "reported_at": now,
    }


async def get_tariffs(services: Services, station_id: str, evse_id: int = 0) -> dict[str, Any]:
    """GetTariffs (I12): ask the station which tariffs it holds (`evse_id`
    0: all of them) and keep its answer, replacing what it reported before
    (for `evse_id` 0, everything; else the tariffs of that EVSE)."""
    require_v21(services, station_id)
    command = await send(services, station_id, GetTariffs(evse_id))
    status, info = _answer(command)
    if status in ("Accepted", "NoTariff"):
        items = (command.get("response") or {}).get("tariffAssignments") or []
        now = utcnow()
        async with services.db.write(station_id) as conn:
            await _forget(conn, station_id, evse_id)
            for item in items:
                await conn.execute(
                    sa.insert(StationTariff).values(**_reported(station_id, item, now))
                )
    return {
        "station_id": station_id,
        "evse_id": evse_id,
        "status": status,
        "status_info": info,
        "tariffs": await list_station_tariffs(services.db, station_id),
        "command": command,
    }


async def _forget(
    conn: Conn, station_id: str, evse_id: int | None, tariff_id: str | None = None
) -> None:
    rows = (
        await conn.execute(sa.select(StationTariff).where(StationTariff.station_id == station_id))
    ).all()
    for row in rows:
        if tariff_id is not None and row.tariff_id != tariff_id:
            continue
        if evse_id and not (row.evse_ids and evse_id in row.evse_ids):
            continue
        await conn.execute(sa.delete(StationTariff).where(StationTariff.id == row.id))


async def list_station_tariffs(db: Database, station_id: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(StationTariff)
                .where(StationTariff.station_id == station_id)
                .order_by(StationTariff.id)
            )
        ).all()
    return [
        {
            "tariff_id": r.tariff_id,
            "tariff_kind": r.tariff_kind,
            "valid_from": r.valid_from,
            "evse_ids": r.evse_ids,
            "id_tokens": r.id_tokens,
            "volta_tariff_id": r.volta_tariff_id,
            "reported_at": r.reported_at,
        }
        for r in rows
    ]


async def clear_tariffs(
    services: Services,
    station_id: str,
    tariff_ids: tuple[str, ...] = (),
    evse_id: int | None = None,
) -> dict[str, Any]:
    """ClearTariffs (I12): clear the given tariffIds (none: all), on one EVSE
    or (None) all; what the station cleared leaves the stored report."""
    require_v21(services, station_id)
    command = await send(services, station_id, ClearTariffs(tariff_ids, evse_id))
    results = list((command.get("response") or {}).get("clearTariffsResult") or [])
    async with services.db.write(station_id) as conn:
        for result in results:
            if result.get("status") == "Accepted":
                await _forget(conn, station_id, evse_id, result.get("tariffId"))
    return {
        "station_id": station_id,
        "evse_id": evse_id,
        "results": [
            {
                "tariff_id": r.get("tariffId"),
                "status": r.get("status"),
                "status_info": r.get("statusInfo"),
            }
            for r in results
        ],
        "status": "Answered" if command.get("response") is not None else "Failed",
        "tariffs": await list_station_tariffs(services.db, station_id),
        "command": command,
    }


# -- the station's own cost ------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


async def record_station_cost(
    db: Database, station_id: str, transaction_id: int, request: dict[str, Any]
) -> None:
    """Keep the costDetails of a TransactionEvent (the latest one wins)."""
    details = request["costDetails"]
    total = details.get("totalCost") or {}
    price = total.get("total") or {}
    values = {
        "station_id": station_id,
        "event_type": request["eventType"],
        "currency": total.get("currency"),
        "type_of_cost": total.get("typeOfCost"),
        "total_excl_tax": _decimal(price.get("exclTax")),
        "total_incl_tax": _decimal(price.get("inclTax")),
        "tariff_id": (request.get("transactionInfo") or {}).get("tariffId"),
        "cost_details": details,
        "reported_at": utcnow(),
    }
    async with db.write(station_id) as conn:
        await conn.execute(
            db.insert(StationCost)
            .values(transaction_id=transaction_id, **values)
            .on_conflict_do_update(index_elements=["transaction_id"], set_=values)
        )
