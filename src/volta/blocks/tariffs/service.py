"""Tariffs in the database, which tariff a session pays, its cost from the
stored meter values, and the charge detail record written when it ends.

Which tariff applies to a session: one assigned to its EVSE, else to its
station, else to its id token's group, else the default tariff; the newest
assignment wins within a level. A session no tariff applies to costs nothing
and its CDR says so (currency XXX, "no currency" in ISO 4217).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from volta.blocks.tariffs.cost import (
    ROUNDING_RULE,
    Breakdown,
    Reading,
    RunningCost,
    Timeline,
    compute,
)
from volta.blocks.tariffs.model import NO_CURRENCY, TariffError
from volta.blocks.tariffs.model import Tariff as TariffValue
from volta.blocks.tariffs.station_cost import STATION_COST_DIFFERS, compare, station_cost_row
from volta.blocks.transactions.live import live_of
from volta.blocks.transactions.meter import ENERGY_REGISTER, Sample
from volta.events import service as events
from volta.store.db import Conn, Database
from volta.store.models import (
    Cdr,
    Connector,
    IdToken,
    MeterValue,
    Station,
    Tariff,
    TariffAssignment,
    Transaction,
    utcnow,
)
from volta.store.search import text_in

if TYPE_CHECKING:
    from volta.services import Services

log = logging.getLogger(__name__)

NO_TARIFF = TariffValue(name="no tariff", currency=NO_CURRENCY)
_COMPONENTS = (
    "price_kwh",
    "price_minute",
    "price_idle_minute",
    "idle_grace_minutes",
    "session_fee",
)
CHARGING_END_RULE = (
    "charging ended at the first register reading showing the final register value; "
    "while active and the station reports Charging, charging runs until now"
)


class NotFound(LookupError):
    pass


# -- tariffs -----------------------------------------------------------------------


def _values(tariff: TariffValue) -> dict[str, Any]:
    doc = tariff.to_dict()
    return {
        "name": tariff.name,
        "currency": tariff.currency,
        "tax_percent": tariff.tax_percent,
        # The display text rides with the amounts (no column of its own).
        "components": {key: doc[key] for key in _COMPONENTS}
        | ({"display_text": tariff.display_text} if tariff.display_text else {}),
        "periods": doc["periods"],
        "timezone": tariff.timezone,
    }


def _plain(value: Decimal) -> str:
    """7.7000 as 7.7 and 19.0000 as 19 (the column keeps 4 decimals)."""
    return str(value.quantize(1) if value == value.to_integral() else value.normalize())


def _tariff(row: Any) -> TariffValue:
    return TariffValue.from_dict(
        {
            "id": row.id,
            "name": row.name,
            "currency": row.currency,
            "tax_percent": _plain(row.tax_percent),
            "timezone": row.timezone,
            "periods": row.periods,
            **row.components,
        }
    )


def _out(row: Any) -> dict[str, Any]:
    return _tariff(row).to_dict() | {
        "is_default": row.is_default,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


async def _clear_default(conn: Conn, keep: int) -> None:
    await conn.execute(
        sa.update(Tariff).where(Tariff.id != keep, Tariff.is_default).values(is_default=False)
    )


async def create_tariff(db: Database, data: dict[str, Any], *, is_default: bool) -> dict[str, Any]:
    """Store a tariff; `data` is checked by `Tariff.from_dict` (TariffError)."""
    tariff = TariffValue.from_dict(data)
    now = utcnow()
    async with db.write() as conn:
        tariff_id = (
            await conn.execute(
                sa.insert(Tariff)
                .values(**_values(tariff), is_default=is_default, created_at=now, updated_at=now)
                .returning(Tariff.id)
            )
        ).scalar_one()
        if is_default:
            await _clear_default(conn, tariff_id)
    found = await get_tariff(db, tariff_id)
    assert found is not None
    return found


async def replace_tariff(
    db: Database, tariff_id: int, data: dict[str, Any], *, is_default: bool
) -> dict[str, Any]:
    """Replace a tariff's prices. Sessions already ended keep the tariff their
    CDR froze; active sessions are priced with the new one from now on."""
    tariff = TariffValue.from_dict(data)
    async with db.write() as conn:
        changed = await conn.execute(
            sa.update(Tariff)
            .where(Tariff.id == tariff_id)
            .values(**_values(tariff), is_default=is_default, updated_at=utcnow())
        )
        if not changed.rowcount:
            raise NotFound(f"tariff {tariff_id} not found")
        if is_default:
            await _clear_default(conn, tariff_id)
    found = await get_tariff(db, tariff_id)
    assert found is not None
    return found


async def delete_tariff(db: Database, tariff_id: int) -> bool:
    async with db.write() as conn:
        await conn.execute(
            sa.delete(TariffAssignment).where(TariffAssignment.tariff_id == tariff_id)
        )
        return bool((await conn.execute(sa.delete(Tariff).where(Tariff.id == tariff_id))).rowcount)


async def get_tariff(db: Database, tariff_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(Tariff).where(Tariff.id == tariff_id))).first()
    return None if row is None else _out(row)


async def list_tariffs(
    db: Database, *, search: str | None = None, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Tariffs by id; `search` a part of the name (or the currency)."""
    stmt = sa.select(Tariff).order_by(Tariff.id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    if search:
        stmt = stmt.where(sa.or_(text_in(search, Tariff.name), Tariff.currency == search.upper()))
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    return [_out(r) for r in rows]


# -- assignments ---------------------------------------------------------------------


async def assign(
    db: Database,
    tariff_id: int,
    *,
    station_id: str | None = None,
    evse_id: int | None = None,
    group_id: str | None = None,
) -> dict[str, Any]:
    """Apply a tariff to an EVSE, a station or a token group, replacing the
    tariff that target had. Raises ValueError for a target that is not one of
    those, NotFound for an unknown tariff."""
    if evse_id is not None and station_id is None:
        raise ValueError("evse_id needs station_id")
    if (station_id is None) == (group_id is None):
        raise ValueError("give station_id (with evse_id for one EVSE) or group_id, not both")
    target = (
        TariffAssignment.station_id.is_(None)
        if station_id is None
        else TariffAssignment.station_id == station_id,
        TariffAssignment.evse_id.is_(None)
        if evse_id is None
        else TariffAssignment.evse_id == evse_id,
        TariffAssignment.group_id.is_(None)
        if group_id is None
        else TariffAssignment.group_id == group_id,
    )
    async with db.write(station_id) as conn:
        if (await conn.execute(sa.select(Tariff.id).where(Tariff.id == tariff_id))).first() is None:
            raise NotFound(f"tariff {tariff_id} not found")
        if station_id is not None and (
            (await conn.execute(sa.select(Station.id).where(Station.id == station_id))).first()
            is None
        ):
            raise NotFound(f"station {station_id} not found")
        await conn.execute(sa.delete(TariffAssignment).where(*target))
        row = (
            (
                await conn.execute(
                    sa.insert(TariffAssignment)
                    .values(
                        tariff_id=tariff_id,
                        station_id=station_id,
                        evse_id=evse_id,
                        group_id=group_id,
                        created_at=utcnow(),
                    )
                    .returning(*TariffAssignment.__table__.c)
                )
            )
            .mappings()
            .one()
        )
    return dict(row)


async def list_assignments(db: Database, tariff_id: int | None = None) -> list[dict[str, Any]]:
    stmt = sa.select(TariffAssignment).order_by(TariffAssignment.id)
    if tariff_id is not None:
        stmt = stmt.where(TariffAssignment.tariff_id == tariff_id)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]


async def unassign(db: Database, assignment_id: int) -> bool:
    async with db.write() as conn:
        result = await conn.execute(
            sa.delete(TariffAssignment).where(TariffAssignment.id == assignment_id)
        )
        return bool(result.rowcount)


async def resolve(
    conn: Conn, station_id: str, evse_id: int | None, id_token: str | None
) -> TariffValue | None:
    """The tariff a session at `station_id`/`evse_id` by `id_token` pays."""
    group = None
    if id_token is not None:
        group = (
            await conn.execute(sa.select(IdToken.group_id).where(IdToken.token == id_token))
        ).scalar_one_or_none()
    level = sa.case(
        (
            sa.and_(
                TariffAssignment.station_id == station_id,
                TariffAssignment.evse_id.is_not(None),
                TariffAssignment.evse_id == evse_id,
            ),
            0,
        ),
        (sa.and_(TariffAssignment.station_id == station_id, TariffAssignment.evse_id.is_(None)), 1),
        else_=2,
    )
    matches = [
        sa.and_(TariffAssignment.station_id == station_id, TariffAssignment.evse_id.is_(None))
    ]
    if evse_id is not None:
        matches.append(
            sa.and_(TariffAssignment.station_id == station_id, TariffAssignment.evse_id == evse_id)
        )
    if group is not None:
        matches.append(TariffAssignment.group_id == group)
    row = (
        await conn.execute(
            sa.select(Tariff)
            .join(TariffAssignment, TariffAssignment.tariff_id == Tariff.id)
            .where(sa.or_(*matches))
            .order_by(level, TariffAssignment.id.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        row = (
            await conn.execute(
                sa.select(Tariff).where(Tariff.is_default).order_by(Tariff.id.desc()).limit(1)
            )
        ).first()
    return None if row is None else _tariff(row)


# -- costs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionCost:
    transaction: Any
    tariff: TariffValue | None
    readings: list[dict[str, Any]]
    breakdown: Breakdown

    @property
    def final(self) -> bool:
        return bool(self.transaction.status == "Ended")


_MWH = Decimal("0.001")


def _wh(value: float | None) -> Decimal | None:
    # Stored readings are floats of Wh; a milliwatt-hour is their resolution.
    return None if value is None else Decimal(str(round(value, 3))).quantize(_MWH)


async def _session_cost(
    conn: Conn, tx: Any, tariff: TariffValue | None, now: dt.datetime | None
) -> SessionCost:
    rows = (
        await conn.execute(
            sa.select(MeterValue.id, MeterValue.timestamp, MeterValue.value)
            .where(
                MeterValue.transaction_id == tx.id,
                MeterValue.measurand == ENERGY_REGISTER,
                MeterValue.phase.is_(None),
                MeterValue.unit == "Wh",
            )
            .order_by(MeterValue.timestamp, MeterValue.id)
        )
    ).all()
    ended = tx.status == "Ended"
    start = tx.started_at or tx.stopped_at or tx.created_at
    end = (tx.stopped_at if ended else None) or now or utcnow()
    readings: list[dict[str, Any]] = []
    start_wh = _wh(tx.meter_start_wh)
    if start_wh is not None:
        readings.append({"source": "meter_start", "timestamp": start, "wh": start_wh})
    readings += [
        {"source": f"meter_value:{r.id}", "timestamp": r.timestamp, "wh": _wh(r.value)}
        for r in rows
    ]
    stop_wh = _wh(tx.meter_stop_wh)
    if ended and stop_wh is not None:
        readings.append({"source": "meter_stop", "timestamp": end, "wh": stop_wh})
    still_charging = False
    if not ended:
        status = (
            await conn.execute(
                sa.select(Connector.status).where(
                    Connector.station_id == tx.station_id, Connector.evse_id == tx.evse_id
                )
            )
        ).scalars()
        still_charging = tx.charging_state == "Charging" or "Charging" in set(status)
    breakdown = compute(
        tariff or NO_TARIFF,
        Timeline(
            start=start,
            end=end,
            readings=tuple(Reading(r["timestamp"], r["wh"]) for r in readings),
            still_charging=still_charging,
        ),
    )
    return SessionCost(tx, tariff, readings, breakdown)


# CDR flags: why a CDR is not an ordinary billable session.
TOKEN_REFUSED = "token_refused"


def token_refused(tx: Any) -> bool:
    """The session's token was refused (Authorize / start answered Invalid,
    Blocked, Expired, ConcurrentTx, ...) and the station charged all the
    same, or the start was refused and the station still reported it. No
    driver agreed to pay: it is not priced (no tariff applies) and its CDR
    carries the flag `token_refused` (docs/tariffs.md)."""
    return tx.authorization_status not in (None, "Accepted")


def cdr_flags(tx: Any) -> list[str]:
    return [TOKEN_REFUSED] if token_refused(tx) else []


async def session_cost(
    db: Database, transaction_id: int, now: dt.datetime | None = None
) -> SessionCost | None:
    """The cost of a session so far (active; up to `now`, default the clock)
    or in the end (ended), under the tariff that applies today. A CDR, once
    written, keeps the tariff of its day: `get_cdr` reads it."""
    async with db.read() as conn:
        tx = (
            await conn.execute(sa.select(Transaction).where(Transaction.id == transaction_id))
        ).first()
        if tx is None:
            return None
        tariff = (
            None
            if token_refused(tx)
            else await resolve(conn, tx.station_id, tx.evse_id, tx.id_token)
        )
        return await _session_cost(conn, tx, tariff, now)


async def running_total(
    db: Database,
    station_id: str,
    station_transaction_id: str,
    now: dt.datetime,
    samples: list[Sample] | tuple[Sample, ...] = (),
) -> Decimal | None:
    """Total cost incl. tax of a 2.0.1 session at `now` (the event's time), or
    None when no tariff applies (I02/I03: TransactionEventResponse.totalCost).

    For a session the transactions core follows in memory, the cost is kept
    there (`RunningCost`) and `samples`, the event's own values (already
    stored), are added to it: no read, and a cost that does not grow with
    the session. The tariff is the one that applied when the session was
    first followed; the CDR resolves it again at the end."""
    live = live_of(db).get_v201(station_id, station_transaction_id)
    if live is not None and live.active:
        if _COST not in live.extra:
            live.extra[_COST] = await _running_cost(db, live.id)
        else:
            cost = live.extra[_COST]
            if cost is not None:
                for sample in samples:
                    if sample.is_energy_register:
                        wh = _wh(sample.value)
                        assert wh is not None
                        cost.add(Reading(sample.timestamp, wh))
        running: RunningCost | None = live.extra[_COST]
        if running is None:
            return None
        if running.exact and all(r.timestamp <= now for r in running.readings[-1:]):
            charging = live.charging_state == "Charging"
            return running.breakdown(now, still_charging=charging).total
    return await _running_total_read(db, station_id, station_transaction_id, now)


# The largest totalCost a station is sent: a station's display and its
# decimal field are not made for more, and a float beyond it may be infinite.
MAX_STATION_COST = Decimal("1e12")


async def station_total_cost(
    db: Database,
    station_id: str,
    station_transaction_id: str,
    now: dt.datetime,
    samples: list[Sample] | tuple[Sample, ...] = (),
) -> float | None:
    """`running_total` as the JSON number a TransactionEventResponse carries
    (I02/I03 totalCost), or None to leave it out: no tariff, a cost that is
    not a finite amount within MAX_STATION_COST (an absurd meter reading
    under a real tariff, beyond what a Decimal holds), or a stored tariff
    that no longer loads. Never
    infinity or NaN (JSON has neither; `null` breaks the schema and the
    station would get a CALLERROR on every event)."""
    try:
        total = await running_total(db, station_id, station_transaction_id, now, samples)
    except (TariffError, ArithmeticError) as exc:
        # A stored tariff that no longer loads, or readings no Decimal holds.
        log.warning(
            "%s transaction %s: no totalCost sent, it cannot be computed: %r",
            station_id,
            station_transaction_id,
            exc,
        )
        return None
    if total is None:
        return None
    number = float(total)
    if not total.is_finite() or not math.isfinite(number) or abs(total) > MAX_STATION_COST:
        log.warning(
            "%s transaction %s: no totalCost sent, %s is out of range",
            station_id,
            station_transaction_id,
            total,
        )
        return None
    return number


_COST = "tariffs.running_cost"


async def _running_cost(db: Database, transaction_id: int) -> RunningCost | None:
    """A session's running cost, from its stored readings (once per session)."""
    cost = await session_cost(db, transaction_id)
    if cost is None or cost.tariff is None:
        return None
    return RunningCost(
        cost.tariff,
        cost.breakdown.start,
        [Reading(r["timestamp"], r["wh"]) for r in cost.readings],
    )


async def _running_total_read(
    db: Database, station_id: str, station_transaction_id: str, now: dt.datetime
) -> Decimal | None:
    """The running total worked out from the stored readings."""
    async with db.read() as conn:
        tx = (
            await conn.execute(
                sa.select(Transaction).where(
                    Transaction.station_id == station_id,
                    Transaction.station_transaction_id == station_transaction_id,
                )
            )
        ).first()
        if tx is None or token_refused(tx):
            return None
        tariff = await resolve(conn, tx.station_id, tx.evse_id, tx.id_token)
        if tariff is None:
            return None
        cost = await _session_cost(conn, tx, tariff, now)
    return cost.breakdown.total


# -- charge detail records ---------------------------------------------------------


def cdr_id(transaction_id: int) -> str:
    return f"VOLTA-{transaction_id}"


def _audit(cost: SessionCost) -> dict[str, Any]:
    tx = cost.transaction
    return {
        "transaction": {
            "id": tx.id,
            "protocol": tx.protocol,
            "id_token_type": tx.id_token_type,
            "remote_start_id": tx.remote_start_id,
            "station_transaction_id": tx.station_transaction_id,
            "started_at": _iso(tx.started_at),
            "stopped_at": _iso(tx.stopped_at),
            "meter_start_wh": tx.meter_start_wh,
            "meter_stop_wh": tx.meter_stop_wh,
            "stop_reason": tx.stop_reason,
            "authorization_status": tx.authorization_status,
            "ended_by": tx.ended_by,
        },
        "flags": cdr_flags(tx),
        "readings": [
            {"source": r["source"], "timestamp": _iso(r["timestamp"]), "wh": str(r["wh"])}
            for r in cost.readings
        ],
        "tariff": (cost.tariff or NO_TARIFF).to_dict(),
        "charging_end_rule": CHARGING_END_RULE,
        "steps": cost.breakdown.to_dict(),
        "rounding": ROUNDING_RULE,
        "computed_at": _iso(utcnow()),
    }


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def create_cdr(
    db: Database, transaction_id: int, *, tolerance_units: int = 1
) -> dict[str, Any] | None:
    """Write the CDR of an ended session, once: an existing CDR is returned
    as it is (CDRs are never updated). None for an unknown or active session.
    When a 2.1 station reported its own cost (costDetails), the CDR keeps
    it beside Volta's and is flagged `station_cost_differs` when the two
    are more than `tolerance_units` minor units apart."""
    existing = await get_cdr(db, cdr_id(transaction_id))
    if existing is not None:
        return existing
    cost = await session_cost(db, transaction_id)
    if cost is None or not cost.final:
        return None
    tx, b = cost.transaction, cost.breakdown
    audit = _audit(cost)
    async with db.read() as conn:
        station_cost = await station_cost_row(conn, tx.id)
    checked = None
    if station_cost is not None:
        # A 2.1 station calculated the cost itself (costDetails, I11).
        checked = compare(b, station_cost, tolerance_units)
        audit["station_cost"] = checked
        if checked["differs"]:
            audit["flags"] = [*audit["flags"], STATION_COST_DIFFERS]
    async with db.write(tx.station_id) as conn:
        await conn.execute(
            db.insert(Cdr)
            .values(
                id=cdr_id(tx.id),
                transaction_id=tx.id,
                station_id=tx.station_id,
                evse_id=tx.evse_id,
                connector_id=tx.connector_id,
                id_token=tx.id_token,
                start_at=b.start,
                end_at=b.end,
                tariff_id=cost.tariff.id if cost.tariff else None,
                currency=b.currency,
                energy_wh=b.energy_wh,
                total_excl_tax=b.subtotal,
                total_incl_tax=b.total,
                breakdown=b.to_dict(),
                tariff=cost.tariff.to_dict() if cost.tariff else None,
                audit=audit,
                flags=_flags_column(audit["flags"]),
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        if checked is not None and checked["differs"]:
            await events.emit(
                conn,
                "cdr.station_cost_differs",
                station_id=tx.station_id,
                transaction_id=tx.id,
                cdr_id=cdr_id(tx.id),
                reason=checked["reason"],
                station_total_incl_tax=checked["station_total_incl_tax"],
                station_total_excl_tax=checked["station_total_excl_tax"],
                volta_total_incl_tax=checked["volta_total_incl_tax"],
                currency=b.currency,
            )
    flags = audit["flags"]
    if flags:
        log.info("CDR %s: not priced (%s)", cdr_id(tx.id), ", ".join(flags))
    log.info("CDR %s: %s %s", cdr_id(tx.id), b.total, b.currency)
    return await get_cdr(db, cdr_id(tx.id))


async def create_missing_cdrs(services: Services, batch: int = 500) -> int:
    """CDRs for ended sessions that have none (a follow-up lost to a restart)."""
    async with services.db.read() as conn:
        missing = (
            (
                await conn.execute(
                    sa.select(Transaction.id)
                    .outerjoin(Cdr, Cdr.transaction_id == Transaction.id)
                    .where(Transaction.status == "Ended", Cdr.id.is_(None))
                    .order_by(Transaction.id)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
    created = 0
    for transaction_id in missing:
        tolerance = services.settings.v21_cost_tolerance_units
        if await create_cdr(services.db, transaction_id, tolerance_units=tolerance) is not None:
            created += 1
    return created


def _cdr_out(row: Any) -> dict[str, Any]:
    b = row.breakdown
    return {
        "id": row.id,
        "transaction_id": row.transaction_id,
        "station_id": row.station_id,
        "evse_id": row.evse_id,
        "connector_id": row.connector_id,
        "id_token": row.id_token,
        "start": row.start_at,
        "end": row.end_at,
        "tariff_id": row.tariff_id,
        "currency": row.currency,
        "energy_wh": b["energy_wh"],
        "total_excl_tax": b["subtotal"],
        "tax": b["tax"],
        "total_incl_tax": b["total"],
        "breakdown": b,
        "tariff": row.tariff,
        "audit": row.audit,
        "flags": list(row.audit.get("flags", [])),
        "station_cost": row.audit.get("station_cost"),
        "created_at": row.created_at,
    }


async def get_cdr(db: Database, cdr: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(Cdr).where(Cdr.id == cdr))).first()
    return None if row is None else _cdr_out(row)


CDR_FLAGS = (TOKEN_REFUSED, STATION_COST_DIFFERS)


def _flags_column(flags: list[str]) -> str | None:
    """A CDR's flags as its `flags` column holds them: in CDR_FLAGS order."""
    known = [f for f in CDR_FLAGS if f in flags]
    return ",".join(known + [f for f in flags if f not in CDR_FLAGS]) or None


def _flag_values(flag: str) -> list[str]:
    """Every `flags` column value that holds `flag` (each set of CDR_FLAGS
    with it, in order)."""
    others = [f for f in CDR_FLAGS if f != flag]
    found = []
    for mask in range(2 ** len(others)):
        chosen = {flag} | {f for n, f in enumerate(others) if mask >> n & 1}
        found.append(",".join(f for f in CDR_FLAGS if f in chosen))
    return found


async def list_cdrs(
    db: Database,
    *,
    station_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    id_token: str | None = None,
    min_total: Decimal | None = None,
    flag: str | None = None,
    search: str | None = None,
    newest_first: bool = False,
) -> list[dict[str, Any]]:
    """CDRs of sessions that ended in [since, until), oldest first (newest
    first for the console), the CDR id breaking ties: a stable order.
    `id_token` and `station_id` match exactly, `min_total` is the least
    total including tax, `flag` one of CDR_FLAGS, `search` the CDR id,
    the session's number, the station or the id token (exactly)."""
    order: tuple[Any, ...] = (
        (Cdr.end_at.desc(), Cdr.id.desc()) if newest_first else (Cdr.end_at, Cdr.id)
    )
    stmt = sa.select(Cdr).order_by(*order).limit(limit).offset(offset)
    if station_id is not None:
        stmt = stmt.where(Cdr.station_id == station_id)
    if id_token is not None:
        stmt = stmt.where(Cdr.id_token == id_token)
    if since is not None:
        stmt = stmt.where(Cdr.end_at >= since)
    if until is not None:
        stmt = stmt.where(Cdr.end_at < until)
    if min_total is not None:
        stmt = stmt.where(Cdr.total_incl_tax >= min_total)
    if flag is not None:
        # Equality on the (flags, end_at) index: few CDRs have a flag. A
        # LIKE made SQLite walk the end_at index (1M rows, 2 s), and so does
        # this after an ANALYZE (its statistics count NULL as one common
        # value); unlikely() tells it what PostgreSQL's null_frac knows.
        flagged = Cdr.flags.in_(_flag_values(flag))
        stmt = stmt.where(sa.func.unlikely(flagged) if db.is_sqlite else flagged)
    if search:
        # Exact: each is an indexed column (a substring would read every CDR).
        matches = [Cdr.id == search, Cdr.station_id == search, Cdr.id_token == search]
        if search.isdigit() and int(search) <= 2**31 - 1:
            matches.append(Cdr.transaction_id == int(search))
        stmt = stmt.where(sa.or_(*matches))
    async with db.read() as conn:
        return [_cdr_out(r) for r in (await conn.execute(stmt)).all()]
