"""Charging sessions: open, follow and close them, idempotently and durably.

Every function here commits before it returns, so a handler that answers
after calling it has only acknowledged what is on disk.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.transactions.meter import Sample, energy_readings
from volta.events import service as events
from volta.store.db import Conn, Database
from volta.store.models import (
    METER_VALUES,
    TRANSACTIONS,
    IdToken,
    MeterValue,
    RemoteStart,
    Reservation,
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


@dataclass(frozen=True, slots=True)
class Rules:
    """What Volta watches in a session's meter values."""

    soc_thresholds: tuple[float, ...] = (80.0, 90.0)

    @classmethod
    def from_settings(cls, settings: Any) -> Rules:
        return _rules(str(settings.soc_thresholds))


@functools.lru_cache(maxsize=8)
def _rules(thresholds: str) -> Rules:
    values = [v.strip() for v in thresholds.split(",") if v.strip()]
    return Rules(tuple(sorted(float(v) for v in values)))


DEFAULT_RULES = Rules()


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


async def _follow_session(conn: Conn, tx: Any, samples: list[Sample], rules: Rules) -> bool:
    """Keep meter_start, the energy so far and the state of charge in step
    with the meter values; raise soc.reached and limit.reached when crossed.
    Returns True when a limit was reached by these values (the caller has the
    session stopped)."""
    if tx.status != "Active":
        return False
    readings = energy_readings(samples)
    values: dict[str, Any] = {}
    energy = tx.energy_wh
    if readings:
        start = tx.meter_start_wh
        if start is None:
            begin = [r for r in readings if r.context == "Transaction.Begin"]
            start = (begin or sorted(readings, key=lambda r: r.timestamp))[0].value
        latest = max(readings, key=lambda r: r.timestamp).value
        energy = energy_between(start, latest)
        if energy is not None and tx.energy_wh is not None and tx.meter_start_wh == start:
            # A reading that goes back (flagged on read) takes no energy away.
            energy = max(energy, tx.energy_wh)
        await conn.execute(
            _FOLLOW_ENERGY, {"tx_id": tx.id, "energy": energy, "start": start, "now": utcnow()}
        )
    soc = [smp for smp in samples if smp.measurand == "SoC"]
    if soc:
        latest_soc = max(soc, key=lambda smp: smp.timestamp).value
        before = tx.soc_percent if tx.soc_percent is not None else -1.0
        values["soc_percent"] = latest_soc
        for threshold in rules.soc_thresholds:
            if before < threshold <= latest_soc:
                await events.emit(
                    conn,
                    "soc.reached",
                    station_id=tx.station_id,
                    transaction_id=tx.id,
                    evse_id=tx.evse_id,
                    threshold=threshold,
                    soc=latest_soc,
                )
    reached = None
    if tx.limit_reached is None:
        if tx.limit_energy_wh is not None and energy is not None and energy >= tx.limit_energy_wh:
            reached = ("energy", tx.limit_energy_wh, energy)
        elif tx.limit_seconds is not None and samples and tx.started_at is not None:
            elapsed = (max(smp.timestamp for smp in samples) - tx.started_at).total_seconds()
            if elapsed >= tx.limit_seconds:
                reached = ("time", tx.limit_seconds, round(elapsed))
    if reached is not None:
        await _limit_reached(conn, tx, *reached)
    if values:
        await conn.execute(sa.update(Transaction).where(Transaction.id == tx.id).values(**values))
    return reached is not None


async def _limit_reached(conn: Conn, tx: Any, kind: str, limit: Any, value: Any) -> None:
    now = utcnow()
    await conn.execute(
        sa.update(Transaction)
        .where(Transaction.id == tx.id)
        .values(limit_reached=kind, limit_reached_at=now, updated_at=now)
    )
    await events.emit(
        conn,
        "limit.reached",
        station_id=tx.station_id,
        transaction_id=tx.id,
        evse_id=tx.evse_id,
        kind=kind,
        limit=limit,
        value=value,
    )


async def time_limits_due(db: Database) -> int:
    """Sessions past their time limit with no meter value to tell (late or
    missing meter values must not let a session run on)."""
    now = utcnow()
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(TRANSACTIONS).where(
                    TRANSACTIONS.c.status == "Active",
                    TRANSACTIONS.c.limit_reached.is_(None),
                    TRANSACTIONS.c.limit_seconds.is_not(None),
                    TRANSACTIONS.c.started_at.is_not(None),
                )
            )
        ).all()
    due = [r for r in rows if (now - r.started_at).total_seconds() >= r.limit_seconds]
    for tx in due:
        async with db.write(tx.station_id) as conn:
            await _limit_reached(
                conn, tx, "time", tx.limit_seconds, round((now - tx.started_at).total_seconds())
            )
    return len(due)


async def cost_limited(db: Database) -> list[Any]:
    """Active sessions with a money limit not reached yet."""
    async with db.read() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(TRANSACTIONS).where(
                        TRANSACTIONS.c.status == "Active",
                        TRANSACTIONS.c.limit_reached.is_(None),
                        TRANSACTIONS.c.limit_cost.is_not(None),
                    )
                )
            ).all()
        )


async def cost_limit_reached(db: Database, tx: Any, value: Any) -> None:
    async with db.write(tx.station_id) as conn:
        await _limit_reached(conn, tx, "cost", tx.limit_cost, str(value))


async def stops_owed(db: Database, retry_after: float = 60.0) -> list[int]:
    """Active sessions whose limit was reached and whose stop was not asked
    for lately."""
    cutoff = utcnow() - dt.timedelta(seconds=retry_after)
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(Transaction.id).where(
                    Transaction.status == "Active",
                    Transaction.limit_reached.is_not(None),
                    sa.or_(
                        Transaction.stop_requested_at.is_(None),
                        Transaction.stop_requested_at < cutoff,
                    ),
                )
            )
        ).all()
    return [int(r.id) for r in rows]


async def stop_requested(db: Database, station_id: str, transaction_id: int) -> None:
    async with db.write(station_id) as conn:
        await conn.execute(
            sa.update(Transaction)
            .where(Transaction.id == transaction_id)
            .values(stop_requested_at=utcnow())
        )


async def _session_ended(conn: Conn, tx_id: int) -> None:
    tx = (await conn.execute(sa.select(TRANSACTIONS).where(TRANSACTIONS.c.id == tx_id))).first()
    assert tx is not None
    duration = (
        (tx.stopped_at - tx.started_at).total_seconds()
        if tx.stopped_at is not None and tx.started_at is not None
        else None
    )
    await events.emit(
        conn,
        "session.ended",
        station_id=tx.station_id,
        transaction_id=tx.id,
        evse_id=tx.evse_id,
        id_token=tx.id_token,
        started_at=tx.started_at,
        stopped_at=tx.stopped_at,
        duration_s=duration,
        energy_wh=tx.energy_wh,
        soc_percent=tx.soc_percent,
        stop_reason=tx.stop_reason,
        limit_reached=tx.limit_reached,
    )


async def _session_started(conn: Conn, tx_id: int) -> None:
    tx = (await conn.execute(sa.select(TRANSACTIONS).where(TRANSACTIONS.c.id == tx_id))).first()
    assert tx is not None
    await events.emit(
        conn,
        "session.started",
        station_id=tx.station_id,
        transaction_id=tx.id,
        evse_id=tx.evse_id,
        id_token=tx.id_token,
        started_at=tx.started_at,
        remote_start_id=tx.remote_start_id,
        reservation_id=tx.reservation_id,
        limits={
            "energy_wh": tx.limit_energy_wh,
            "seconds": tx.limit_seconds,
            "cost": tx.limit_cost,
        },
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


async def _link_start(
    conn: Conn,
    station_id: str,
    transaction_id: int,
    *,
    evse_id: int | None,
    id_token: str | None,
    reservation_id: int | None,
    remote_start_id: int | None,
    remote_start_window: float,
) -> None:
    """Tie a starting transaction to what led to it: the reservation it
    consumes (H03; 1.6 §5.13) and the remote start that asked for it (F01,
    F02; 1.6 RemoteStartTransaction has no id, so the newest accepted request
    for this token and connector within `remote_start_window` seconds)."""
    now = utcnow()
    values: dict[str, Any] = {}
    live = Reservation.status.in_(("Accepted", "Requested"))
    token = None
    if id_token is not None:
        token = (
            await conn.execute(
                sa.select(
                    IdToken.group_id,
                    IdToken.limit_energy_wh,
                    IdToken.limit_seconds,
                    IdToken.limit_cost,
                ).where(IdToken.token == id_token)
            )
        ).first()
    if token is not None:
        # Limits attached to the token apply to each of its sessions.
        values.update(_limits(token))
    if reservation_id is None and id_token is not None:
        group = token.group_id if token is not None else None
        owners = [id_token] + ([group] if group else [])
        reservation_id = (
            await conn.execute(
                sa.select(Reservation.id)
                .where(
                    Reservation.station_id == station_id,
                    live,
                    Reservation.expires_at > now,
                    sa.or_(Reservation.evse_id.is_(None), Reservation.evse_id.in_((0, evse_id))),
                    sa.or_(Reservation.id_token == id_token, Reservation.group_id.in_(owners)),
                )
                .order_by(Reservation.expires_at)
                .limit(1)
            )
        ).scalar_one_or_none()
    if reservation_id is not None:
        used = await conn.execute(
            sa.update(Reservation)
            .where(Reservation.id == reservation_id, Reservation.station_id == station_id, live)
            .values(status="Used", transaction_id=transaction_id, updated_at=now)
        )
        if used.rowcount:
            values["reservation_id"] = reservation_id
    waiting = RemoteStart.status.in_(("Requested", "Accepted"))
    if remote_start_id is None and id_token is not None:
        remote_start_id = (
            await conn.execute(
                sa.select(RemoteStart.id)
                .where(
                    RemoteStart.station_id == station_id,
                    RemoteStart.id_token == id_token,
                    waiting,
                    sa.or_(RemoteStart.evse_id.is_(None), RemoteStart.evse_id == evse_id),
                    RemoteStart.created_at > now - dt.timedelta(seconds=remote_start_window),
                )
                .order_by(RemoteStart.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if remote_start_id is not None:
        linked = (
            await conn.execute(
                sa.update(RemoteStart)
                .where(RemoteStart.id == remote_start_id, RemoteStart.station_id == station_id)
                .values(status="Started", transaction_id=transaction_id, updated_at=now)
                .returning(
                    RemoteStart.limit_energy_wh, RemoteStart.limit_seconds, RemoteStart.limit_cost
                )
            )
        ).first()
        if linked is not None:
            values["remote_start_id"] = remote_start_id
            # The app's limits for this session win over the token's.
            values.update(_limits(linked))
    if values:
        await conn.execute(
            sa.update(Transaction).where(Transaction.id == transaction_id).values(**values)
        )


def _limits(row: Any) -> dict[str, Any]:
    limits = {
        "limit_energy_wh": row.limit_energy_wh,
        "limit_seconds": row.limit_seconds,
        "limit_cost": row.limit_cost,
    }
    return {k: v for k, v in limits.items() if v is not None}


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
    remote_start_window: float = 600.0,
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
                status="Active",
                started_at=started_at,
                meter_start_wh=meter_start_wh,
                energy_wh=0.0,
                created_at=now,
                updated_at=now,
            )
            .returning(Transaction.id)
        )
        tx_id = result.scalar_one()
        if authorization_status == "Accepted":
            await _link_start(
                conn,
                station_id,
                tx_id,
                evse_id=connector_id,
                id_token=id_tag,
                reservation_id=reservation_id,
                remote_start_id=None,
                remote_start_window=remote_start_window,
            )
            await _session_started(conn, tx_id)
        return Opened(tx_id, True)


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
        await _session_ended(conn, tx.id)
        return True


async def add_meter_values(
    db: Database,
    station_id: str,
    *,
    evse_id: int | None,
    transaction_id: int | None,
    samples: list[Sample],
    rules: Rules = DEFAULT_RULES,
) -> bool:
    """MeterValues. Values naming an unknown transaction are kept unlinked.
    Returns True when they made the transaction reach a limit."""
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
            return await _follow_session(conn, tx, samples, rules)
        return False


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
    remote_start_window: float = 600.0


@dataclass(frozen=True, slots=True)
class EventOutcome:
    applied: bool
    limit_reached: bool = False


async def apply_event_v201(
    db: Database, ev: EventV201, rules: Rules = DEFAULT_RULES
) -> EventOutcome:
    """TransactionEvent. `applied` is False for a repeat (same transaction and
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
        created = tx is None
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
            return EventOutcome(False)
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
        await conn.execute(sa.update(Transaction).where(Transaction.id == row.id).values(**values))
        first_token = ev.id_token is not None and (created or row.id_token is None)
        unlinked = (ev.reservation_id is not None and row.reservation_id is None) or (
            ev.remote_start_id is not None and row.remote_start_id is None
        )
        if (first_token or unlinked) and ev.authorization_status in (None, "Accepted"):
            await _link_start(
                conn,
                ev.station_id,
                row.id,
                evse_id=ev.evse_id or row.evse_id,
                id_token=ev.id_token or row.id_token,
                reservation_id=ev.reservation_id,
                remote_start_id=ev.remote_start_id,
                remote_start_window=ev.remote_start_window,
            )
        authorised = ev.authorization_status in (None, "Accepted")
        await _charging_state_events(conn, row, ev, created, authorised)
        limit_reached = await _follow_session(conn, row, ev.samples, rules)
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
            await _session_ended(conn, row.id)
        return EventOutcome(True, limit_reached)


async def _charging_state_events(
    conn: Conn, row: Any, ev: EventV201, created: bool, authorised: bool
) -> None:
    """2.0.1 tells what the car does with chargingState and triggerReason."""
    before = None if created else row.charging_state
    state = ev.charging_state
    common = {"station_id": row.station_id, "transaction_id": row.id}
    evse = ev.evse_id or row.evse_id
    if ev.trigger_reason == "CablePluggedIn" or (
        state == "EVConnected" and before in (None, "Idle")
    ):
        await events.emit(conn, "ev.connected", **common, evse_id=evse)
    if created and authorised:
        await _session_started(conn, row.id)
    if state is not None and state != before:
        if state == "Charging":
            await events.emit(conn, "charging.started", **common, evse_id=evse)
        elif state == "SuspendedEV":
            await events.emit(conn, "charging.suspended_ev", **common, evse_id=evse)


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


async def find_v201(db: Database, station_id: str, station_tx: str) -> Any:
    """The stored row of a 2.0.1 transaction, by the station's id, or None."""
    async with db.read() as conn:
        return (
            await conn.execute(
                _TX_BY_STATION_TX, {"station_id": station_id, "station_tx": station_tx}
            )
        ).first()


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
