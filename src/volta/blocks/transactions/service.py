"""The transactions core: open, follow and close charging sessions on one
neutral model of an EVSE's transaction, which the 1.6 (`v16.py`) and 2.0.1
(`v201.py`) adapters map onto.

Every function here commits before it returns, so a handler that answers
after calling it has only acknowledged what is on disk.

Rules (docs/protocol.md, "One transaction per EVSE"):
- an EVSE holds one transaction at a time: when a station starts a new one
  on an EVSE whose previous transaction never ended, the previous one is
  closed as abandoned, with its last known meter reading, a recorded reason
  and a `session.ended` event, so its driver's token is free again;
- a refused start (ConcurrentTx, Invalid, Blocked, ...) never leaves an
  Active transaction behind: it is stored ended, `ended_by = refused`;
- an operator may close a stale session by hand (`close_by_operator`).

The hot path (MeterValues and TransactionEvent Updated on a known session,
the great majority of messages) reads nothing: the session is kept in memory
(`live.py`) and one message costs one INSERT of its samples and one UPDATE
of the session, on the raw driver inside the group commit. What is worked
out from a message (energy, state of charge, limits) is carried forward, so
the 10,000th message of a session costs what the 10th did. A message that
raises an event (a threshold or limit crossed, a state change, a start or an
end) takes the ordinary path, in one database transaction with its events.

Collaborators: `linking.py` ties a start to its reservation, remote start and
limits; `limits.py` records limits reached; `queries.py` reads.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.transactions.limits import (
    cost_limit_reached,
    cost_limited,
    limit_reached,
    stop_requested,
    stops_owed,
    time_limits_due,
)
from volta.blocks.transactions.linking import link_start
from volta.blocks.transactions.live import (
    EVENT_COLUMNS,
    INSERT_EVENT,
    INSERT_SAMPLES,
    SAMPLE_COLUMNS,
    UPDATE_PROGRESS,
    LiveTx,
    live_of,
)
from volta.blocks.transactions.meter import ENERGY_REGISTER, Sample, energy_readings
from volta.blocks.transactions.queries import (
    SessionFilter,
    daily_totals,
    find_v201,
    get_transaction,
    list_transactions,
)
from volta.events import service as events
from volta.store.db import Conn, Database, RawOps
from volta.store.models import (
    METER_VALUES,
    TRANSACTION_EVENTS,
    TRANSACTIONS,
    MeterValue,
    Transaction,
    TransactionEvent,
    utcnow,
)

__all__ = [
    "DEFAULT_RULES",
    "EventOutcome",
    "EventV201",
    "Opened",
    "Rules",
    "SessionFilter",
    "SessionNotActive",
    "add_meter_values",
    "apply_event_v201",
    "close_by_operator",
    "cost_limit_reached",
    "cost_limited",
    "daily_totals",
    "energy_between",
    "find_v201",
    "forget",
    "get_transaction",
    "list_transactions",
    "start_v16",
    "stop_requested",
    "stop_v16",
    "stops_owed",
    "time_limits_due",
]

log = logging.getLogger(__name__)


def energy_between(start_wh: float | None, stop_wh: float | None) -> float | None:
    """Energy from two register readings, rounded to a milliwatt-hour so that
    float noise (kWh readings times 1000) does not show."""
    if start_wh is None or stop_wh is None:
        return None
    return round(stop_wh - start_wh, 3)


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


def forget(db: Database, transaction_id: int) -> None:
    """Drop a session from memory after a write elsewhere changed its row
    (its limits, say); the next message about it reads it again."""
    live_of(db).forget(transaction_id)


def forget_station(db: Database, station_id: str) -> None:
    """A station disconnected: its sessions are read again when it is back."""
    live_of(db).forget_station(station_id)


# -- following a session: pure ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    """What a message's samples change in a session."""

    energy_wh: float | None
    meter_start_wh: float | None
    soc_percent: float | None
    soc_crossed: tuple[float, ...]
    # (kind, limit, value) of a limit these samples reached.
    reached: tuple[str, Any, Any] | None

    @property
    def eventful(self) -> bool:
        return bool(self.soc_crossed) or self.reached is not None


def follow(tx: LiveTx, samples: list[Sample], rules: Rules) -> Progress:
    """meter_start, the energy so far and the state of charge after
    `samples`; the thresholds and limits they cross. Reads only `tx`."""
    start, energy = tx.meter_start_wh, tx.energy_wh
    readings = energy_readings(samples)
    if readings:
        if start is None:
            begin = [r for r in readings if r.context == "Transaction.Begin"]
            start = (begin or sorted(readings, key=lambda r: r.timestamp))[0].value
        latest = max(readings, key=lambda r: r.timestamp).value
        energy = energy_between(start, latest)
        if energy is not None and tx.energy_wh is not None and tx.meter_start_wh == start:
            # A reading that goes back (flagged on read) takes no energy away.
            energy = max(energy, tx.energy_wh)
    soc = tx.soc_percent
    crossed: tuple[float, ...] = ()
    soc_samples = [smp for smp in samples if smp.measurand == "SoC"]
    if soc_samples:
        soc = max(soc_samples, key=lambda smp: smp.timestamp).value
        before = tx.soc_percent if tx.soc_percent is not None else -1.0
        crossed = tuple(t for t in rules.soc_thresholds if before < t <= soc)
    reached = None
    # A 2.1 station holding a limit enforces it itself (E16): not watched here.
    held = tx.station_limit or {}
    if tx.limit_reached is None and tx.active:
        if (
            tx.limit_energy_wh is not None
            and "maxEnergy" not in held
            and energy is not None
            and energy >= tx.limit_energy_wh
        ):
            reached = ("energy", tx.limit_energy_wh, energy)
        elif (
            tx.limit_seconds is not None
            and "maxTime" not in held
            and samples
            and tx.started_at is not None
        ):
            elapsed = (max(smp.timestamp for smp in samples) - tx.started_at).total_seconds()
            if elapsed >= tx.limit_seconds:
                reached = ("time", tx.limit_seconds, round(elapsed))
    return Progress(energy, start, soc, crossed, reached)


def _apply(tx: LiveTx, progress: Progress) -> None:
    tx.energy_wh = progress.energy_wh
    tx.meter_start_wh = progress.meter_start_wh
    tx.soc_percent = progress.soc_percent
    if progress.reached is not None:
        tx.limit_reached = progress.reached[0]


def sample_rows(
    db: Database | None,
    station_id: str,
    transaction_id: int | None,
    evse_id: int | None,
    samples: list[Sample],
) -> list[tuple[Any, ...]]:
    """Rows in `SAMPLE_COLUMNS` order; timestamps as `db`'s driver takes them
    (no `db`: as datetimes, for SQLAlchemy)."""
    time: Any = db.db_time if db is not None else (lambda t: t)
    return [
        (
            station_id,
            transaction_id,
            evse_id,
            time(s.timestamp),
            s.measurand,
            s.phase,
            s.context,
            s.location,
            s.unit,
            s.value,
            s.raw_value,
            s.raw_unit,
        )
        for s in samples
    ]


async def _insert_samples(
    conn: Conn,
    station_id: str,
    transaction_id: int | None,
    evse_id: int | None,
    samples: list[Sample],
) -> None:
    """The ordinary path's INSERT (inside a `db.write()` block)."""
    if not samples:
        return
    rows = sample_rows(None, station_id, transaction_id, evse_id, samples)
    await conn.execute(
        METER_VALUES.insert(), [dict(zip(SAMPLE_COLUMNS, row, strict=True)) for row in rows]
    )


def _sample_key(
    timestamp: dt.datetime,
    measurand: str,
    phase: str | None,
    location: str | None,
    unit: str | None,
    value: float,
) -> tuple[Any, ...]:
    # The same reading: same instant, quantity, phase, location and value.
    # The context is left out: a station repeating its start reading in the
    # Ended event may label it Transaction.Begin or Sample.Periodic.
    # No location is an Outlet reading (the default of both versions).
    return (timestamp, measurand, phase, location or "Outlet", unit, round(value, 3))


async def _new_samples(conn: Conn, tx: Any, samples: list[Sample]) -> list[Sample]:
    """`samples` less the ones this transaction has stored already.

    The final message of a session repeats earlier readings by design (2.0.1
    SampledDataTxEndedMeasurands / TxEndedInterval in the Ended
    TransactionEvent; 1.6 StopTransaction transactionData): a repeat is the
    reading the station sent before, not a new one, so it is stored once and
    is not out of order. Only the messages that end or change a session come
    here (one indexed read by transaction and timestamp); the hot path does
    not. The start reading a 1.6 StartTransaction gave as meterStart counts
    as stored (its Transaction.Begin sample in transactionData repeats it)."""
    if not samples:
        return samples
    transaction_id = tx.id
    times = sorted({s.timestamp for s in samples})
    rows = (
        await conn.execute(
            sa.select(
                MeterValue.timestamp,
                MeterValue.measurand,
                MeterValue.phase,
                MeterValue.location,
                MeterValue.unit,
                MeterValue.value,
            ).where(MeterValue.transaction_id == transaction_id, MeterValue.timestamp.in_(times))
        )
    ).all()
    seen = {_sample_key(*row) for row in rows}
    if tx.started_at is not None and tx.meter_start_wh is not None:
        seen.add(_sample_key(tx.started_at, ENERGY_REGISTER, None, None, "Wh", tx.meter_start_wh))
    fresh = []
    for s in samples:
        key = _sample_key(s.timestamp, s.measurand, s.phase, s.location, s.unit, s.value)
        if key not in seen:
            seen.add(key)
            fresh.append(s)
    if len(fresh) < len(samples):
        log.debug(
            "transaction %s: %d repeated sample(s) not stored again",
            transaction_id,
            len(samples) - len(fresh),
        )
    return fresh


def event_row(
    db: Database | None, transaction_id: int, event: EventV201, received_at: dt.datetime
) -> tuple[Any, ...]:
    """A TransactionEvent's row in `EVENT_COLUMNS` order (times as `db`'s
    driver takes them; no `db`: datetimes, for SQLAlchemy)."""
    time: Any = db.db_time if db is not None else (lambda t: t)
    return (
        transaction_id,
        event.seq_no,
        event.event_type,
        event.trigger_reason,
        time(event.timestamp),
        event.offline,
        time(received_at),
    )


async def _insert_event(
    conn: Conn, transaction_id: int, event: EventV201, received_at: dt.datetime
) -> None:
    """The ordinary path's INSERT of a TransactionEvent row (its seqNo kept)."""
    row = event_row(None, transaction_id, event, received_at)
    await conn.execute(TRANSACTION_EVENTS.insert(), dict(zip(EVENT_COLUMNS, row, strict=True)))


async def _eventful_progress(
    conn: Conn, tx: LiveTx, progress: Progress, last_seq_no: int | None = None
) -> None:
    """Write `progress` with the events it raises (the ordinary path)."""
    values: dict[str, Any] = {
        "energy_wh": progress.energy_wh,
        "meter_start_wh": progress.meter_start_wh,
        "soc_percent": progress.soc_percent,
        "updated_at": utcnow(),
    }
    if last_seq_no is not None:
        values["last_seq_no"] = last_seq_no
    await conn.execute(sa.update(Transaction).where(Transaction.id == tx.id).values(**values))
    for threshold in progress.soc_crossed:
        await events.emit(
            conn,
            "soc.reached",
            station_id=tx.station_id,
            transaction_id=tx.id,
            evse_id=tx.evse_id,
            threshold=threshold,
            soc=progress.soc_percent,
        )
    if progress.reached is not None:
        await limit_reached(conn, tx, *progress.reached)


async def _record_progress(
    db: Database,
    tx: LiveTx,
    evse_id: int | None,
    samples: list[Sample],
    rules: Rules,
    event: EventV201 | None = None,
) -> bool:
    """Store a message's samples against an active session and carry its
    totals forward. Returns True when a limit was reached."""
    progress = follow(tx, samples, rules)
    now = utcnow()
    last_seq = tx.last_seq_no if event is None else max(event.seq_no, tx.last_seq_no or 0)
    if progress.eventful:
        async with db.write(tx.station_id) as conn:
            await _insert_samples(conn, tx.station_id, tx.id, evse_id, samples)
            if event is not None:
                await _insert_event(conn, tx.id, event, now)
            await _eventful_progress(conn, tx, progress, last_seq)
    else:
        ops: RawOps = []
        if samples:
            ops.append((INSERT_SAMPLES, sample_rows(db, tx.station_id, tx.id, evse_id, samples)))
        if event is not None:
            ops.append((INSERT_EVENT, [event_row(db, tx.id, event, now)]))
        time = db.db_time
        row = (progress.energy_wh, progress.meter_start_wh, progress.soc_percent, last_seq)
        ops.append((UPDATE_PROGRESS, [(*row, time(now), tx.id)]))
        await db.write_rows(tx.station_id, ops)
    _apply(tx, progress)
    if samples:
        newest = max(s.timestamp for s in samples)
        if tx.last_sample_at is None or newest > tx.last_sample_at:
            tx.last_sample_at = newest
    tx.last_seq_no = last_seq
    if event is not None:
        tx.recent_seq.append(event.seq_no)
    return progress.reached is not None


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
    tx = None
    if transaction_id is not None:
        tx = await live_of(db).load(db, station_id, transaction_id)
        if tx is None:
            log.warning(
                "%s sent meter values for unknown transaction %s", station_id, transaction_id
            )
    if tx is not None and tx.active:
        last = tx.last_sample_at
        if samples and last is not None and min(s.timestamp for s in samples) <= last:
            # Perhaps sent again (its answer was lost, e.g. its node died):
            # what is stored already is not stored twice. In-order values
            # never come here.
            async with db.read() as conn:
                samples = await _new_samples(conn, tx, samples)
            if not samples:
                return False
        return await _record_progress(db, tx, evse_id, samples, rules)
    if samples:
        rows = sample_rows(db, station_id, tx.id if tx else None, evse_id, samples)
        await db.write_rows(station_id, [(INSERT_SAMPLES, rows)])
    return False


# -- opening and closing -----------------------------------------------------------


_LAST_READING = (
    sa.select(MeterValue.value)
    .where(
        MeterValue.transaction_id == sa.bindparam("tx_id"),
        MeterValue.measurand == "Energy.Active.Import.Register",
        MeterValue.phase.is_(None),
        MeterValue.unit == "Wh",
    )
    .order_by(MeterValue.timestamp.desc(), MeterValue.id.desc())
    .limit(1)
)


async def _last_register_reading(conn: Conn, transaction_id: int) -> float | None:
    row = (await conn.execute(_LAST_READING, {"tx_id": transaction_id})).scalar_one_or_none()
    return float(row) if row is not None else None


async def _emit_started(conn: Conn, tx: Any) -> None:
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


async def _emit_ended(conn: Conn, tx_id: int) -> None:
    tx = await _row(conn, tx_id)
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
        limit_reached_by=tx.limit_reached_by,
        ended_by=tx.ended_by,
        end_note=tx.end_note,
    )


async def _end(
    conn: Conn,
    tx: Any,
    *,
    stopped_at: dt.datetime,
    meter_stop_wh: float | None,
    reason: str,
    ended_by: str,
    note: str | None = None,
    stop_id_token: str | None = None,
) -> None:
    """Close `tx` (a row) and raise `session.ended`, in the caller's transaction."""
    await conn.execute(
        sa.update(Transaction)
        .where(Transaction.id == tx.id)
        .values(
            status="Ended",
            stopped_at=stopped_at,
            meter_stop_wh=meter_stop_wh,
            energy_wh=energy_between(tx.meter_start_wh, meter_stop_wh),
            stop_reason=reason,
            stop_id_token=stop_id_token,
            ended_by=ended_by,
            end_note=note,
            updated_at=utcnow(),
        )
    )
    await _emit_ended(conn, tx.id)


async def _last_known_reading(conn: Conn, tx: Any) -> float | None:
    """The register reading a session closed without its stop message ends
    on: its last stored reading, else its start reading (no energy)."""
    last = await _last_register_reading(conn, tx.id)
    return last if last is not None else tx.meter_start_wh


async def _close_abandoned(
    conn: Conn,
    station_id: str,
    evse_id: int | None,
    *,
    keep: int,
    at: dt.datetime,
) -> list[int]:
    """Close every other Active transaction on this EVSE as abandoned: the
    station just started a new one there, so they are over (an EVSE holds
    one transaction at a time). Returns their ids."""
    if evse_id is None:
        return []
    rows = (
        await conn.execute(
            sa.select(TRANSACTIONS).where(
                TRANSACTIONS.c.station_id == station_id,
                TRANSACTIONS.c.evse_id == evse_id,
                TRANSACTIONS.c.status == "Active",
                TRANSACTIONS.c.id != keep,
            )
        )
    ).all()
    for tx in rows:
        stop = await _last_known_reading(conn, tx)
        stopped_at = at if tx.started_at is None or at >= tx.started_at else tx.started_at
        await _end(
            conn,
            tx,
            stopped_at=stopped_at,
            meter_stop_wh=stop,
            reason="Other",
            ended_by="abandoned",
            note=f"abandoned: transaction {keep} started on EVSE {evse_id}",
        )
        log.warning(
            "%s: transaction %s on EVSE %s closed as abandoned (transaction %s started there)",
            station_id,
            tx.id,
            evse_id,
            keep,
        )
    return [int(r.id) for r in rows]


# Sessions Volta ended before the station said so (ended_by).
CLOSED_BY_VOLTA = frozenset({"refused", "abandoned", "operator"})


async def _station_stop_after_volta(
    conn: Conn,
    tx: Any,
    *,
    stopped_at: dt.datetime,
    meter_stop_wh: float | None,
    reason: str,
    stop_id_token: str | None,
) -> None:
    """The station's own stop of a session Volta closed first: its reading
    and reason are better than Volta's guess. A refused start ends when the
    station says; an abandoned or operator-closed one keeps the time Volta
    closed it (the EVSE was in use by then). `ended_by` and `end_note` stay."""
    await conn.execute(
        sa.update(Transaction)
        .where(Transaction.id == tx.id)
        .values(
            stopped_at=stopped_at if tx.ended_by == "refused" else tx.stopped_at,
            meter_stop_wh=meter_stop_wh,
            energy_wh=energy_between(tx.meter_start_wh, meter_stop_wh),
            stop_reason=reason,
            stop_id_token=stop_id_token,
            updated_at=utcnow(),
        )
    )


class SessionNotActive(Exception):
    """The session has ended already."""


async def close_by_operator(db: Database, transaction_id: int, reason: str) -> dict[str, Any]:
    """Close a stale session by hand, without asking the station (which may be
    gone): it ends on its last known reading, `ended_by = operator`, with the
    operator's reason. Raises LookupError / SessionNotActive."""
    async with db.read() as conn:
        found = await _row(conn, transaction_id, required=False)
    if found is None:
        raise LookupError(f"transaction {transaction_id} not found")
    # Read again under the write: the station may have ended it meanwhile.
    async with db.write(found.station_id) as conn:
        tx = await _row(conn, transaction_id)
        if tx.status != "Active":
            raise SessionNotActive(f"transaction {transaction_id} has ended")
        stop = await _last_known_reading(conn, tx)
        await _end(
            conn,
            tx,
            stopped_at=utcnow(),
            meter_stop_wh=stop,
            reason="Other",
            ended_by="operator",
            note=reason,
        )
    forget(db, transaction_id)
    log.info("transaction %s closed by an operator: %s", transaction_id, reason)
    row = await get_transaction(db, transaction_id)
    assert row is not None
    return row


# -- OCPP 1.6 ----------------------------------------------------------------------


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
    the same transactionId: same connector, tag, start time and meter start.
    1.6 §4.8 wants a transactionId even for a refused start; such a
    transaction is stored ended, never Active."""
    abandoned: list[int] = []
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
        accepted = authorization_status == "Accepted"
        values: dict[str, Any] = {
            "station_id": station_id,
            "protocol": "ocpp1.6",
            "evse_id": connector_id,
            "connector_id": connector_id,
            "id_token": id_tag,
            "id_token_type": "ISO14443",
            "authorization_status": authorization_status,
            "status": "Active",
            "started_at": started_at,
            "meter_start_wh": meter_start_wh,
            "energy_wh": 0.0,
            "created_at": now,
            "updated_at": now,
        }
        if not accepted:
            values.update(_refused(authorization_status, started_at, meter_start_wh))
        result = await conn.execute(
            sa.insert(Transaction).values(**values).returning(Transaction.id)
        )
        tx_id = result.scalar_one()
        # The connector starts anew whatever the verdict: what ran there is over.
        abandoned = await _close_abandoned(
            conn, station_id, connector_id, keep=tx_id, at=started_at
        )
        if accepted:
            await link_start(
                conn,
                station_id,
                tx_id,
                evse_id=connector_id,
                id_token=id_tag,
                reservation_id=reservation_id,
                remote_start_id=None,
                remote_start_window=remote_start_window,
            )
            await _emit_started(conn, await _row(conn, tx_id))
    for old in abandoned:
        forget(db, old)
    return Opened(tx_id, True)


def _refused(status: str, at: dt.datetime, meter_wh: float | None) -> dict[str, Any]:
    """The columns of a transaction whose start was refused: ended at once."""
    return {
        "status": "Ended",
        "stopped_at": at,
        "meter_stop_wh": meter_wh,
        "stop_reason": "DeAuthorized",
        "ended_by": "refused",
        "end_note": f"start refused: {status}",
    }


_BY_ID = sa.select(TRANSACTIONS).where(TRANSACTIONS.c.id == sa.bindparam("tx_id"))


async def _row(conn: Conn, tx_id: int, *, required: bool = True) -> Any:
    """A transaction's row by Volta's id (the ordinary path)."""
    row = (await conn.execute(_BY_ID, {"tx_id": tx_id})).first()
    assert row is not None or not required
    return row


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
    station is answered all the same, OCPP 1.6 §4.10). Repeats change nothing.
    A transaction Volta closed already (refused, abandoned, by an operator)
    takes the station's stop reading, which is better than the one it had."""
    async with db.write(station_id) as conn:
        tx = (
            await conn.execute(
                sa.select(TRANSACTIONS).where(
                    TRANSACTIONS.c.id == transaction_id, TRANSACTIONS.c.station_id == station_id
                )
            )
        ).first()
        if tx is None:
            return False
        # StopTransaction's transactionData repeats readings sent before.
        samples = await _new_samples(conn, tx, samples)
        if tx.status == "Ended":
            if tx.ended_by in CLOSED_BY_VOLTA and tx.stop_id_token is None:
                await _insert_samples(conn, station_id, tx.id, tx.evse_id, samples)
                await _station_stop_after_volta(
                    conn,
                    tx,
                    stopped_at=stopped_at,
                    meter_stop_wh=meter_stop_wh,
                    reason=reason or "Local",
                    stop_id_token=id_tag,
                )
            return True
        await _insert_samples(conn, station_id, tx.id, tx.evse_id, samples)
        await _end(
            conn,
            tx,
            stopped_at=stopped_at,
            meter_stop_wh=meter_stop_wh,
            reason=reason or "Local",
            ended_by="station",
            stop_id_token=id_tag,
        )
    forget(db, transaction_id)
    return True


# -- OCPP 2.0.1 --------------------------------------------------------------------


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
    # ocpp2.0.1 or ocpp2.1: the version the station speaks (kept on the transaction).
    protocol: str = "ocpp2.0.1"


@dataclass(frozen=True, slots=True)
class EventOutcome:
    applied: bool
    limit_reached: bool = False
    # Volta's id of the transaction (None only when nothing was stored).
    transaction_id: int | None = None


def _is_routine(tx: LiveTx, ev: EventV201) -> bool:
    """An Updated event that changes nothing but the meter: the hot path."""
    return (
        ev.event_type == "Updated"
        and ev.id_token is None
        and ev.trigger_reason != "CablePluggedIn"
        and (ev.charging_state is None or ev.charging_state == tx.charging_state)
        and (ev.evse_id is None or ev.evse_id == tx.evse_id)
        and (ev.reservation_id is None or tx.reservation_id is not None)
        and (ev.remote_start_id is None or tx.remote_start_id is not None)
        and tx.started_at is not None
        and ev.timestamp >= tx.started_at
    )


async def apply_event_v201(
    db: Database, ev: EventV201, tx: LiveTx | None, rules: Rules = DEFAULT_RULES
) -> EventOutcome:
    """TransactionEvent. `tx` is the transaction as `live_of(db).load_v201()`
    gave it to the adapter (None: not stored yet), so it is looked up once.
    `applied` is False for a repeat (same transaction and seqNo), which is
    acknowledged but not applied twice. An Updated or Ended event for a
    transaction never seen Started opens it (E01: the Started event may have
    been lost or sent to another CSMS)."""
    live = live_of(db)
    if tx is not None:
        if tx.active and ev.seq_no in tx.recent_seq:
            return EventOutcome(False, transaction_id=tx.id)
        oldest = tx.recent_seq[0] if tx.recent_seq else None
        if tx.active and _is_routine(tx, ev) and (oldest is None or ev.seq_no > oldest):
            reached = await _record_progress(
                db, tx, ev.evse_id or tx.evse_id, ev.samples, rules, ev
            )
            return EventOutcome(True, reached, tx.id)
    outcome = await _apply_event_slow(db, ev, rules)
    if outcome.transaction_id is not None:
        live.forget(outcome.transaction_id)  # read again, as it is now, when next needed
    return outcome


async def _apply_event_slow(db: Database, ev: EventV201, rules: Rules) -> EventOutcome:
    """Every TransactionEvent that is not a routine Updated one: it opens,
    links, changes state or ends a session, or raises an event."""
    abandoned: list[int] = []
    async with db.write(ev.station_id) as conn:
        row = (
            await conn.execute(
                sa.select(TRANSACTIONS).where(
                    TRANSACTIONS.c.station_id == ev.station_id,
                    TRANSACTIONS.c.station_transaction_id == ev.transaction_id,
                )
            )
        ).first()
        now = utcnow()
        created = row is None
        authorised = ev.authorization_status in (None, "Accepted")
        if row is None:
            values: dict[str, Any] = {
                "station_id": ev.station_id,
                "station_transaction_id": ev.transaction_id,
                "protocol": ev.protocol,
                "evse_id": ev.evse_id,
                "connector_id": ev.connector_id,
                "id_token": ev.id_token,
                "id_token_type": ev.id_token_type,
                "authorization_status": ev.authorization_status,
                "status": "Active",
                "charging_state": ev.charging_state,
                "started_at": ev.timestamp,
                "created_at": now,
                "updated_at": now,
            }
            tx_id = (
                await conn.execute(
                    sa.insert(Transaction).values(**values).returning(Transaction.id)
                )
            ).scalar_one()
            row = await _row(conn, tx_id)
            # A new transaction on this EVSE: what ran there before is over.
            abandoned = await _close_abandoned(
                conn, ev.station_id, ev.evse_id, keep=row.id, at=ev.timestamp
            )
        seen = (
            await conn.execute(
                sa.select(TransactionEvent.seq_no).where(
                    TransactionEvent.transaction_id == row.id,
                    TransactionEvent.seq_no == ev.seq_no,
                )
            )
        ).scalar_one_or_none()
        if seen is not None:
            return EventOutcome(False, transaction_id=row.id)
        await _insert_event(conn, row.id, ev, now)
        fresh = ev.samples if created else await _new_samples(conn, row, ev.samples)
        await _insert_samples(conn, ev.station_id, row.id, ev.evse_id or row.evse_id, fresh)
        values = {"updated_at": now, "last_seq_no": max(ev.seq_no, row.last_seq_no or 0)}
        if ev.event_type == "Started" or (row.started_at and ev.timestamp < row.started_at):
            values["started_at"] = ev.timestamp
        if ev.evse_id is not None and row.evse_id is None:
            values.update(evse_id=ev.evse_id, connector_id=ev.connector_id)
            abandoned += await _close_abandoned(
                conn, ev.station_id, ev.evse_id, keep=row.id, at=ev.timestamp
            )
        if ev.charging_state:
            values["charging_state"] = ev.charging_state
        first_token = ev.id_token is not None and (created or row.id_token is None)
        if ev.id_token and row.id_token is None:
            values.update(
                id_token=ev.id_token,
                id_token_type=ev.id_token_type,
                authorization_status=ev.authorization_status,
            )
        await conn.execute(sa.update(Transaction).where(Transaction.id == row.id).values(**values))
        unlinked = (ev.reservation_id is not None and row.reservation_id is None) or (
            ev.remote_start_id is not None and row.remote_start_id is None
        )
        # F02: a remote start the station reports without idToken or remoteStartId.
        remote_trigger = (
            ev.trigger_reason == "RemoteStart"
            and ev.id_token is None
            and row.id_token is None
            and row.remote_start_id is None
        )
        if (first_token or unlinked or remote_trigger) and authorised and row.status == "Active":
            await link_start(
                conn,
                ev.station_id,
                row.id,
                evse_id=ev.evse_id or row.evse_id,
                id_token=ev.id_token or row.id_token,
                reservation_id=ev.reservation_id,
                remote_start_id=ev.remote_start_id,
                remote_start_window=ev.remote_start_window,
                remote_trigger=remote_trigger,
            )
        await _charging_state_events(conn, row, ev, created, authorised)
        current = await _row(conn, row.id)
        reached = False
        if current.status == "Active" and ev.samples:
            progress = follow(LiveTx.from_row(current), ev.samples, rules)
            if (
                progress.energy_wh != current.energy_wh
                or progress.meter_start_wh != current.meter_start_wh
                or progress.soc_percent != current.soc_percent
                or progress.eventful
            ):
                await _eventful_progress(conn, LiveTx.from_row(current), progress)
            reached = progress.reached is not None
        if (
            current.status == "Active"
            and first_token
            and not authorised
            and ev.event_type == "Started"
        ):
            # A refused start never stays Active (the station deauthorises
            # it, E05; its Ended event fills in the end reading). A token
            # refused later in a cable-first session leaves the session
            # waiting for another one, as the station does.
            refused = _refused(ev.authorization_status or "Invalid", ev.timestamp, None)
            await conn.execute(
                sa.update(Transaction).where(Transaction.id == row.id).values(**refused)
            )
        if ev.event_type == "Ended":
            current = await _row(conn, row.id)
            end = [r for r in energy_readings(ev.samples) if r.context == "Transaction.End"]
            stop = end[-1].value if end else await _last_register_reading(conn, row.id)
            if current.status == "Active":
                await _end(
                    conn,
                    current,
                    stopped_at=ev.timestamp,
                    meter_stop_wh=stop,
                    reason=ev.stopped_reason or "Local",
                    ended_by="station",
                    stop_id_token=ev.id_token if ev.id_token != current.id_token else None,
                )
            elif current.ended_by in CLOSED_BY_VOLTA:
                await _station_stop_after_volta(
                    conn,
                    current,
                    stopped_at=ev.timestamp,
                    meter_stop_wh=stop if stop is not None else current.meter_stop_wh,
                    reason=ev.stopped_reason or "Local",
                    stop_id_token=ev.id_token if ev.id_token != current.id_token else None,
                )
    for old in abandoned:
        forget(db, old)
    return EventOutcome(True, reached, row.id)


async def _charging_state_events(
    conn: Conn, row: Any, ev: EventV201, created: bool, started: bool
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
    if created and started:
        await _emit_started(conn, await _row(conn, row.id))
    if state is not None and state != before:
        if state == "Charging":
            await events.emit(conn, "charging.started", **common, evse_id=evse)
        elif state == "SuspendedEV":
            await events.emit(conn, "charging.suspended_ev", **common, evse_id=evse)
