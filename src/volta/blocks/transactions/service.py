"""Charging sessions: open, follow and close them, idempotently and durably.

Every function here commits before it returns, so a handler that answers
after calling it has only acknowledged what is on disk.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.transactions.meter import Sample, energy_readings
from volta.store.db import Conn, Database
from volta.store.models import (
    METER_VALUES,
    TRANSACTIONS,
    MeterValue,
    Transaction,
    TransactionEvent,
    utcnow,
)

log = logging.getLogger(__name__)


def energy_between(start_wh: float | None, stop_wh: float | None) -> float | None:
    """Energy from two register readings, rounded to a milliwatt-hour so that
    float noise (kWh readings times 1000) does not show."""
    if start_wh is None or stop_wh is None:
        return None
    return round(stop_wh - start_wh, 3)


# Statements on the hot path (every MeterValues / TransactionEvent) are built
# once: building and hashing a SQLAlchemy construct per message cost more than
# running it (profiled with py-spy under load).
_INSERT_SAMPLE = METER_VALUES.insert()
_TX_BY_ID = sa.select(TRANSACTIONS).where(
    TRANSACTIONS.c.id == sa.bindparam("tx_id"),
    TRANSACTIONS.c.station_id == sa.bindparam("station_id"),
)
_TX_BY_STATION_TX = sa.select(TRANSACTIONS).where(
    TRANSACTIONS.c.station_id == sa.bindparam("station_id"),
    TRANSACTIONS.c.station_transaction_id == sa.bindparam("station_tx"),
)
_FOLLOW_ENERGY = (
    TRANSACTIONS.update()
    .where(TRANSACTIONS.c.id == sa.bindparam("tx_id"))
    .values(
        energy_wh=sa.bindparam("energy"),
        meter_start_wh=sa.bindparam("start"),
        updated_at=sa.bindparam("now"),
    )
)


@dataclass(frozen=True, slots=True)
class Opened:
    id: int
    created: bool


async def _insert_samples(
    conn: Conn,
    station_id: str,
    transaction_id: int | None,
    evse_id: int | None,
    samples: list[Sample],
) -> None:
    if not samples:
        return
    await conn.execute(
        _INSERT_SAMPLE,
        [
            {
                "station_id": station_id,
                "transaction_id": transaction_id,
                "evse_id": evse_id,
                "timestamp": s.timestamp,
                "measurand": s.measurand,
                "phase": s.phase,
                "context": s.context,
                "location": s.location,
                "unit": s.unit,
                "value": s.value,
                "raw_value": s.raw_value,
                "raw_unit": s.raw_unit,
            }
            for s in samples
        ],
    )


async def _follow_energy(conn: Conn, tx: Any, samples: list[Sample]) -> None:
    """Keep meter_start and the energy so far in step with the register."""
    readings = energy_readings(samples)
    if not readings or tx.status != "Active":
        return
    start = tx.meter_start_wh
    if start is None:
        begin = [r for r in readings if r.context == "Transaction.Begin"]
        start = (begin or sorted(readings, key=lambda r: r.timestamp))[0].value
    latest = max(readings, key=lambda r: r.timestamp).value
    await conn.execute(
        _FOLLOW_ENERGY,
        {"tx_id": tx.id, "energy": energy_between(start, latest), "start": start, "now": utcnow()},
    )


async def _last_register_reading(conn: Conn, transaction_id: int) -> float | None:
    row = (
        await conn.execute(
            sa.select(MeterValue.value)
            .where(
                MeterValue.transaction_id == transaction_id,
                MeterValue.measurand == "Energy.Active.Import.Register",
                MeterValue.phase.is_(None),
                MeterValue.unit == "Wh",
            )
            .order_by(MeterValue.timestamp.desc(), MeterValue.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return float(row) if row is not None else None


# -- OCPP 1.6 ------------------------------------------------------------------


async def start_v16(
    db: Database,
    station_id: str,
    *,
    connector_id: int,
    id_tag: str,
    meter_start_wh: float,
    started_at: dt.datetime,
    reservation_id: int | None,
    authorization_status: str,
) -> Opened:
    """StartTransaction. A station that repeats it (its answer was lost) gets
    the same transactionId: same connector, tag, start time and meter start."""
    async with db.write(station_id) as conn:
        existing = (
            await conn.execute(
                sa.select(Transaction.id).where(
                    Transaction.station_id == station_id,
                    Transaction.connector_id == connector_id,
                    Transaction.id_token == id_tag,
                    Transaction.started_at == started_at,
                    Transaction.meter_start_wh == meter_start_wh,
                )
            )
        ).scalar_one_or_none()
        if existing is not None:
            return Opened(existing, False)
        now = utcnow()
        result = await conn.execute(
            sa.insert(Transaction)
            .values(
                station_id=station_id,
                protocol="ocpp1.6",
                evse_id=connector_id,
                connector_id=connector_id,
                id_token=id_tag,
                id_token_type="ISO14443",
                authorization_status=authorization_status,
                reservation_id=reservation_id,
                status="Active",
                started_at=started_at,
                meter_start_wh=meter_start_wh,
                energy_wh=0.0,
                created_at=now,
                updated_at=now,
            )
            .returning(Transaction.id)
        )
        return Opened(result.scalar_one(), True)


async def stop_v16(
    db: Database,
    station_id: str,
    *,
    transaction_id: int,
    meter_stop_wh: float,
    stopped_at: dt.datetime,
    reason: str | None,
    id_tag: str | None,
    samples: list[Sample],
) -> bool:
    """StopTransaction. Returns False when the transaction is unknown (the
    station is answered all the same, OCPP 1.6 §4.10). Repeats change nothing."""
    async with db.write(station_id) as conn:
        tx = (
            await conn.execute(
                sa.select(Transaction).where(
                    Transaction.id == transaction_id, Transaction.station_id == station_id
                )
            )
        ).first()
        if tx is None:
            return False
        if tx.status == "Ended":
            return True
        await _insert_samples(conn, station_id, tx.id, tx.evse_id, samples)
        start = tx.meter_start_wh
        await conn.execute(
            sa.update(Transaction)
            .where(Transaction.id == tx.id)
            .values(
                status="Ended",
                stopped_at=stopped_at,
                meter_stop_wh=meter_stop_wh,
                energy_wh=energy_between(start, meter_stop_wh),
                stop_reason=reason or "Local",
                stop_id_token=id_tag,
                updated_at=utcnow(),
            )
        )
        return True


async def add_meter_values(
    db: Database,
    station_id: str,
    *,
    evse_id: int | None,
    transaction_id: int | None,
    samples: list[Sample],
) -> None:
    """MeterValues. Values naming an unknown transaction are kept unlinked."""
    async with db.write(station_id) as conn:
        tx = None
        if transaction_id is not None:
            tx = (
                await conn.execute(_TX_BY_ID, {"tx_id": transaction_id, "station_id": station_id})
            ).first()
            if tx is None:
                log.warning(
                    "%s sent meter values for unknown transaction %s", station_id, transaction_id
                )
        await _insert_samples(conn, station_id, tx.id if tx else None, evse_id, samples)
        if tx is not None:
            await _follow_energy(conn, tx, samples)


# -- OCPP 2.0.1 ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventV201:
    station_id: str
    event_type: str  # Started, Updated, Ended
    transaction_id: str
    seq_no: int
    timestamp: dt.datetime
    trigger_reason: str
    offline: bool
    evse_id: int | None
    connector_id: int | None
    charging_state: str | None
    stopped_reason: str | None
    id_token: str | None
    id_token_type: str | None
    authorization_status: str | None
    remote_start_id: int | None
    reservation_id: int | None
    samples: list[Sample]


async def apply_event_v201(db: Database, ev: EventV201) -> bool:
    """TransactionEvent. Returns False for a repeat (same transaction and
    seqNo), which is acknowledged but not applied twice. An Updated or Ended
    event for a transaction never seen Started opens it (E01: the Started event
    may have been lost or sent to another CSMS)."""
    async with db.write(ev.station_id) as conn:
        tx = (
            await conn.execute(
                _TX_BY_STATION_TX, {"station_id": ev.station_id, "station_tx": ev.transaction_id}
            )
        ).first()
        now = utcnow()
        if tx is None:
            result = await conn.execute(
                sa.insert(Transaction)
                .values(
                    station_id=ev.station_id,
                    station_transaction_id=ev.transaction_id,
                    protocol="ocpp2.0.1",
                    evse_id=ev.evse_id,
                    connector_id=ev.connector_id,
                    id_token=ev.id_token,
                    id_token_type=ev.id_token_type,
                    authorization_status=ev.authorization_status,
                    reservation_id=ev.reservation_id,
                    status="Active",
                    charging_state=ev.charging_state,
                    started_at=ev.timestamp,
                    created_at=now,
                    updated_at=now,
                )
                .returning(Transaction.id)
            )
            tx_id = result.scalar_one()
            tx = (await conn.execute(sa.select(Transaction).where(Transaction.id == tx_id))).first()
        assert tx is not None
        row = tx
        seen = (
            await conn.execute(
                sa.select(TransactionEvent.seq_no).where(
                    TransactionEvent.transaction_id == row.id,
                    TransactionEvent.seq_no == ev.seq_no,
                )
            )
        ).scalar_one_or_none()
        if seen is not None:
            return False
        await conn.execute(
            sa.insert(TransactionEvent).values(
                transaction_id=row.id,
                seq_no=ev.seq_no,
                event_type=ev.event_type,
                trigger_reason=ev.trigger_reason,
                timestamp=ev.timestamp,
                offline=ev.offline,
                received_at=now,
            )
        )
        await _insert_samples(conn, ev.station_id, row.id, ev.evse_id or row.evse_id, ev.samples)
        values: dict[str, Any] = {
            "updated_at": now,
            "last_seq_no": max(ev.seq_no, row.last_seq_no or 0),
        }
        if ev.event_type == "Started" or (row.started_at and ev.timestamp < row.started_at):
            values["started_at"] = ev.timestamp
        if ev.evse_id is not None and row.evse_id is None:
            values.update(evse_id=ev.evse_id, connector_id=ev.connector_id)
        if ev.charging_state:
            values["charging_state"] = ev.charging_state
        if ev.id_token and row.id_token is None:
            values.update(
                id_token=ev.id_token,
                id_token_type=ev.id_token_type,
                authorization_status=ev.authorization_status,
            )
        if ev.reservation_id is not None:
            values["reservation_id"] = ev.reservation_id
        await conn.execute(sa.update(Transaction).where(Transaction.id == row.id).values(**values))
        await _follow_energy(conn, row, ev.samples)
        if ev.event_type == "Ended" and row.status != "Ended":
            refreshed = (
                await conn.execute(sa.select(Transaction).where(Transaction.id == row.id))
            ).first()
            assert refreshed is not None
            start = refreshed.meter_start_wh
            end = [r for r in energy_readings(ev.samples) if r.context == "Transaction.End"]
            stop = end[-1].value if end else await _last_register_reading(conn, row.id)
            await conn.execute(
                sa.update(Transaction)
                .where(Transaction.id == row.id)
                .values(
                    status="Ended",
                    stopped_at=ev.timestamp,
                    meter_stop_wh=stop,
                    energy_wh=energy_between(start, stop),
                    stop_reason=ev.stopped_reason or "Local",
                    stop_id_token=ev.id_token if ev.id_token != row.id_token else None,
                    updated_at=now,
                )
            )
        return True


# -- reading ---------------------------------------------------------------------


async def list_transactions(
    db: Database,
    *,
    station_id: str | None = None,
    active: bool | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    stmt = sa.select(Transaction).order_by(Transaction.id.desc()).limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(Transaction.station_id == station_id)
    if active is not None:
        stmt = stmt.where(Transaction.status == ("Active" if active else "Ended"))
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


async def get_transaction(db: Database, transaction_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(Transaction).where(Transaction.id == transaction_id)))
            .mappings()
            .first()
        )
        if row is None:
            return None
        values = (
            (
                await conn.execute(
                    sa.select(MeterValue)
                    .where(MeterValue.transaction_id == transaction_id)
                    .order_by(MeterValue.timestamp, MeterValue.id)
                )
            )
            .mappings()
            .all()
        )
    tx = dict(row)
    tx["meter_values"] = [dict(v) for v in values]
    return tx


async def daily_totals(db: Database, *, days: int = 30) -> list[dict[str, Any]]:
    """Sessions started and energy delivered per UTC day, oldest first, for the
    last `days` days (days without sessions are left out)."""
    since = utcnow() - dt.timedelta(days=days)
    column = Transaction.started_at
    day: Any = (
        sa.func.date(column) if db.is_sqlite else sa.cast(sa.func.timezone("UTC", column), sa.Date)
    )
    stmt = (
        sa.select(
            day.label("day"),
            sa.func.count().label("sessions"),
            sa.func.coalesce(sa.func.sum(Transaction.energy_wh), 0.0).label("energy_wh"),
        )
        .where(column >= since)
        .group_by(day)
        .order_by(day)
    )
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        {"day": str(r["day"]), "sessions": int(r["sessions"]), "energy_wh": float(r["energy_wh"])}
        for r in rows
    ]
