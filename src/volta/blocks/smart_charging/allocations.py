"""The allocations kept in `evse_allocations`: what a run reads, what it
stores, and the profiles it sends (engine.py decides when and what).

Profile ids (the range >= 1,000,000 is the allocator's, see
service.ALLOCATOR_IDS): a station's fallback is `FALLBACK_ID`, an EVSE's
TxProfile `FALLBACK_ID + evse_id`, each replaced by id (K01.FR.05, 1.6
§3.13.2: same id replaces), so a station holds one of each at most. Rows:
per EVSE its limit, phases, transaction, profile id and the station's answer
(`status`: Accepted, Rejected, Failed; Counted: counted while offline,
never sent; Idle: no session); EVSE 0 is the station's fallback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.smart_charging.allocator import Evse, EvseKey
from volta.blocks.smart_charging.service import ALLOCATOR_IDS
from volta.ocpp.charging import TX, TX_DEFAULT, Period, Profile, Schedule
from volta.store.db import Database
from volta.store.models import Connector, EvseAllocation, IdToken, Transaction, utcnow

FALLBACK_ID = ALLOCATOR_IDS
FALLBACK_STACK = 0
TX_STACK = 1  # above the fallback


@dataclass(slots=True)
class RunReport:
    """What one run decided and sent (tests, the API and the logs read it)."""

    root_id: int
    limits: dict[EvseKey, float] = field(default_factory=dict)
    sent: dict[EvseKey, tuple[float, str]] = field(default_factory=dict)  # limit, answer
    fallbacks: dict[str, tuple[float, str]] = field(default_factory=dict)
    load: dict[int, list[float]] = field(default_factory=dict)
    took_ms: float = 0.0


def tx_profile(evse_id: int, limit_a: float, transaction_id: str) -> Profile:
    # Relative: from the session's start, no startSchedule (K01.FR.41).
    return Profile(
        id=FALLBACK_ID + evse_id,
        stack_level=TX_STACK,
        purpose=TX,
        kind="Relative",
        schedules=(Schedule("A", (Period(0, limit_a),)),),
        transaction_id=transaction_id,
    )


def discharge_profile(evse_id: int, discharge_a: float, transaction_id: str) -> Profile:
    """The allocator's 2.1 TxProfile for an EV whose discharge the site's
    limits hold back (V2X): in its own slot, like tx_profile, a
    CentralSetpoint period that discharges at most `discharge_a` per phase
    (setpoint and dischargeLimit at minus it) and charges nothing."""
    d = -abs(round(discharge_a, 1))
    period = {
        "startPeriod": 0,
        "operationMode": "CentralSetpoint",
        "limit": 0.0,
        "dischargeLimit": d,
        "setpoint": d,
    }
    body: dict[str, Any] = {
        "id": FALLBACK_ID + evse_id,
        "stackLevel": TX_STACK,
        "chargingProfilePurpose": TX,
        "chargingProfileKind": "Relative",
        "transactionId": transaction_id,
        "chargingSchedule": [
            {"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
        ],
    }
    profile = Profile(
        id=FALLBACK_ID + evse_id,
        stack_level=TX_STACK,
        purpose=TX,
        kind="Relative",
        schedules=(Schedule("A", (Period(0, 0.0),), id=1),),
        transaction_id=transaction_id,
    )
    profile.extra["v21"] = body
    return profile


def fallback_profile(limit_a: float) -> Profile:
    return Profile(
        id=FALLBACK_ID,
        stack_level=FALLBACK_STACK,
        purpose=TX_DEFAULT,
        kind="Relative",
        schedules=(Schedule("A", (Period(0, limit_a),)),),
    )


@dataclass(frozen=True, slots=True)
class SiteState:
    """What a run reads: the stations' active sessions, their allocation rows
    by (station, EVSE), the EVSEs each has reported, token groups."""

    txs: list[Any]
    rows: dict[EvseKey, Any]
    evse_ids: dict[str, set[int]]
    groups: dict[str, str | None]


# What a run reads of an allocation row (all but updated_at: a datetime per
# row converted for nothing, 2 x N of them on a site of N EVSEs).
_ROW_COLUMNS = [c for c in EvseAllocation.__table__.columns if c.name != "updated_at"]


async def read_state(db: Database, station_ids: list[str]) -> SiteState:
    """One read of what a run needs about these stations."""
    if not station_ids:
        return SiteState([], {}, {}, {})
    async with db.read() as conn:
        txs = (
            await conn.execute(
                # Only the columns a run uses (a session row has ~30).
                sa.select(
                    Transaction.id,
                    Transaction.station_id,
                    Transaction.evse_id,
                    Transaction.connector_id,
                    Transaction.station_transaction_id,
                    Transaction.protocol,
                    Transaction.id_token,
                    Transaction.started_at,
                    Transaction.charging_state,
                ).where(Transaction.station_id.in_(station_ids), Transaction.status == "Active")
            )
        ).all()
        rows = (
            await conn.execute(
                sa.select(*_ROW_COLUMNS).where(EvseAllocation.station_id.in_(station_ids))
            )
        ).all()
        connectors = (
            await conn.execute(
                sa.select(Connector.station_id, Connector.evse_id).where(
                    Connector.station_id.in_(station_ids), Connector.evse_id > 0
                )
            )
        ).all()
        tokens = {t.id_token for t in txs if t.id_token}
        groups: dict[str, str | None] = {}
        if tokens:
            found = await conn.execute(
                sa.select(IdToken.token, IdToken.group_id).where(IdToken.token.in_(tokens))
            )
            groups = {r.token: r.group_id for r in found}
    evse_ids: dict[str, set[int]] = {}
    for c in connectors:
        evse_ids.setdefault(c.station_id, set()).add(int(c.evse_id))
    for t in txs:
        evse_ids.setdefault(t.station_id, set()).add(int(t.evse_id or t.connector_id or 1))
    return SiteState(list(txs), {(r.station_id, r.evse_id): r for r in rows}, evse_ids, groups)


async def store_run(
    db: Database,
    report: RunReport,
    evses: Iterable[Evse],
    rows: dict[EvseKey, Any],
    placed: dict[str, int],
    tx_of: dict[EvseKey, str],
    fallback_of: dict[str, float],
) -> None:
    """Keep what the run sent and what the stations answered (only the
    rows that changed), so a restart sends only differences."""
    now = utcnow()
    values: dict[EvseKey, dict[str, Any]] = {}
    for evse in evses:
        key = evse.key
        row = rows.get(key)
        sent = report.sent.get(key)
        status = sent[1] if sent else (row.status if row is not None else "Counted")
        limit = sent[0] if sent else (row.limit_a if row is not None else evse.fixed_a or 0.0)
        values[key] = {
            "limit_a": limit,
            "phases": evse.phases,
            "transaction_id": tx_of[key],
            "profile_id": FALLBACK_ID + key[1],
            "status": status,
        }
    for station_id, share in fallback_of.items():
        key = (station_id, 0)
        row = rows.get(key)
        sent_fb = report.fallbacks.get(station_id)
        values[key] = {
            "limit_a": sent_fb[0] if sent_fb else (row.limit_a if row is not None else share),
            "phases": 3,
            "transaction_id": None,
            "profile_id": FALLBACK_ID,
            "status": sent_fb[1] if sent_fb else (row.status if row is not None else "Owed"),
        }
    # A session that ended: its row stays (with its priority), idle.
    for key, row in rows.items():
        if key not in values and row.transaction_id is not None:
            values[key] = {
                "limit_a": 0.0,
                "transaction_id": None,
                "status": "Idle",
                "departure_at": None,
                "energy_needed_wh": None,
                "ev_min_current_a": None,
                "ev_max_current_a": None,
            }
    changed = {
        k: v
        for k, v in values.items()
        if k not in rows or any(getattr(rows[k], f) != x for f, x in v.items())
    }
    if not changed:
        return
    async with db.write() as conn:
        for (station_id, evse_id), value in changed.items():
            site_id = placed.get(station_id)
            if (station_id, evse_id) in rows:
                await conn.execute(
                    sa.update(EvseAllocation)
                    .where(
                        EvseAllocation.station_id == station_id,
                        EvseAllocation.evse_id == evse_id,
                    )
                    .values(**value, site_id=site_id, updated_at=now)
                )
            else:
                # A row may have been made since the run read them (the
                # EV's needs, a priority): update it then, keeping its fields.
                await conn.execute(
                    db.insert(EvseAllocation)
                    .values(
                        station_id=station_id,
                        evse_id=evse_id,
                        site_id=site_id,
                        priority=0,
                        updated_at=now,
                        **{"phases": 3, **value},
                    )
                    .on_conflict_do_update(
                        index_elements=["station_id", "evse_id"],
                        set_={**value, "site_id": site_id, "updated_at": now},
                    )
                )


async def idle_station(db: Database, station_id: str) -> list[Any]:
    """The station left its site: its rows go idle (keeping the EVSEs'
    priorities). Returns the rows as they were."""
    async with db.write(station_id) as conn:
        rows = (
            await conn.execute(
                sa.select(EvseAllocation).where(EvseAllocation.station_id == station_id)
            )
        ).all()
        await conn.execute(
            sa.update(EvseAllocation)
            .where(EvseAllocation.station_id == station_id)
            .values(limit_a=0.0, transaction_id=None, status="Idle", updated_at=utcnow())
        )
    return list(rows)
