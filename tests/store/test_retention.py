"""Retention: old frames, events, webhook deliveries and meter values are
deleted in bounded batches; recent rows, the meter values of a running
session and the energy readings a CDR's audit trail cites are kept; the
database size and row counts are in /metrics. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from prometheus_client import generate_latest

from volta import metrics
from volta.blocks.provisioning import service as provisioning
from volta.config import Settings
from volta.store.framelog import _INSERT_FRAME
from volta.store.models import (
    Cdr,
    Event,
    Frame,
    MeterValue,
    Transaction,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from volta.store.retention import ENERGY_REGISTER, Retention

NOW = utcnow()
OLD = NOW - dt.timedelta(days=120)  # beyond every default
RECENT = NOW - dt.timedelta(days=1)


async def _insert(db: Any, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    ids = []
    async with db.write() as conn:
        for row in rows:
            result = await conn.execute(sa.insert(model).values(**row).returning(model.id))
            ids.append(result.scalar_one())
    return ids


async def _ids(db: Any, model: Any) -> set[Any]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(model.id))).scalars())


def _tx(status: str, created: dt.datetime) -> dict[str, Any]:
    return {
        "station_id": "RET-1",
        "protocol": "ocpp1.6",
        "evse_id": 1,
        "connector_id": 1,
        "status": status,
        "started_at": created,
        "created_at": created,
        "updated_at": created,
    }


def _mv(tx: int | None, measurand: str, unit: str, at: dt.datetime) -> dict[str, Any]:
    return {
        "station_id": "RET-1",
        "transaction_id": tx,
        "timestamp": at,
        "measurand": measurand,
        "unit": unit,
        "value": 1.0,
        "raw_value": "1",
    }


async def test_retention_prunes_in_batches_and_keeps_what_is_needed(db):
    await provisioning.create_station(db, "RET-1")
    await Retention(db, Settings()).prune()  # its statements compiled once, as in a server
    # 2,500 old frames and 10 recent ones (the frame log's own statement).
    old_frames = [("RET-1", "in", "[2]", 2, "o", "Heartbeat", None, db.db_time(OLD))]
    for _ in range(5):
        await db.write_rows(None, [(_INSERT_FRAME, old_frames * 500)])
    recent = [("RET-1", "in", "[2]", 2, "r", "Heartbeat", None, db.db_time(RECENT))] * 10
    await db.write_rows(None, [(_INSERT_FRAME, recent)])

    # Events: old ones, one old event a pending delivery still needs, recent ones.
    old_events = await _insert(
        db, Event, [{"type": "station.online", "data": {}, "created_at": OLD} for _ in range(5)]
    )
    new_events = await _insert(
        db, Event, [{"type": "station.online", "data": {}, "created_at": RECENT} for _ in range(2)]
    )
    (hook,) = await _insert(
        db, Webhook, [{"url": "https://example.test/h", "secret": "x", "event_types": ["*"]}]
    )
    delivered, pending = await _insert(
        db,
        WebhookDelivery,
        [
            {
                "webhook_id": hook,
                "event_id": old_events[0],
                "status": "delivered",
                "created_at": OLD,
            },
            {"webhook_id": hook, "event_id": old_events[1], "status": "pending", "created_at": OLD},
        ],
    )

    # Sessions: ended and priced (CDR), ended unpriced, still active, recent.
    priced, unpriced, active, fresh = await _insert(
        db,
        Transaction,
        [_tx("Ended", OLD), _tx("Ended", OLD), _tx("Active", OLD), _tx("Ended", RECENT)],
    )
    async with db.write() as conn:
        await conn.execute(
            sa.insert(Cdr).values(
                id="CDR-RET-1",
                transaction_id=priced,
                station_id="RET-1",
                start_at=OLD,
                end_at=OLD,
                currency="EUR",
                energy_wh=Decimal("1000"),
                total_excl_tax=Decimal("1"),
                total_incl_tax=Decimal("1.2"),
                breakdown={},
                audit={},
            )
        )
    # In the order they would be written: the recent session's value last.
    cited, priced_power, unpriced_energy, active_energy, loose, fresh_energy = await _insert(
        db,
        MeterValue,
        [
            _mv(priced, ENERGY_REGISTER, "Wh", OLD),
            _mv(priced, "Power.Active.Import", "W", OLD),
            _mv(unpriced, ENERGY_REGISTER, "Wh", OLD),
            _mv(active, ENERGY_REGISTER, "Wh", OLD),
            _mv(None, ENERGY_REGISTER, "Wh", OLD),
            _mv(fresh, ENERGY_REGISTER, "Wh", RECENT),
        ],
    )

    retention = Retention(db, Settings(retention_batch=1000, retention_pause=0.01))
    writes = 0
    original = db.write

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += 1
        return original(*args, **kwargs)

    db.write = counting  # type: ignore[method-assign]

    # A station's writes go on while it prunes: none waits long.
    latencies: list[float] = []
    pruning = asyncio.create_task(retention.prune())
    while not pruning.done():
        started = time.perf_counter()
        await db.write_rows("RET-1", [(_INSERT_FRAME, recent[:1])])
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.005)
    deleted = await pruning
    db.write = original  # type: ignore[method-assign]

    assert deleted["frames"] == 2500
    assert writes >= 3  # 1,000 + 1,000 + 500: one delete per batch, never all at once
    assert max(latencies) < 0.5, latencies
    async with db.read() as conn:
        left = (await conn.execute(sa.select(Frame.created_at))).scalars().all()
    assert left and all(at > NOW - dt.timedelta(days=7) for at in left)

    assert await _ids(db, Event) == {old_events[1], *new_events}
    assert await _ids(db, WebhookDelivery) == {pending}
    assert delivered not in await _ids(db, WebhookDelivery)
    assert await _ids(db, MeterValue) == {cited, active_energy, fresh_energy}
    assert {priced_power, unpriced_energy, loose}.isdisjoint(await _ids(db, MeterValue))

    # A second run finds nothing more to do.
    again = await Retention(db, Settings()).prune()
    assert not any(again.values())

    # Size and row counts in /metrics.
    if not db.is_sqlite:
        async with db.read() as conn:
            await conn.execute(sa.text("ANALYZE"))
    await retention.refresh_stats()
    text = generate_latest(metrics.REGISTRY).decode()
    size = [line for line in text.splitlines() if line.startswith("volta_db_size_bytes ")]
    assert size and float(size[0].split()[1]) > 0
    frames_rows = metrics.DB_ROWS.labels("frames")._value.get()
    assert frames_rows == len(left)
    assert 'volta_db_rows{table="meter_values"} 3.0' in text
    assert 'volta_retention_deleted_total{table="frames"}' in text


async def test_zero_days_keeps_for_ever(db):
    await provisioning.create_station(db, "RET-1")
    await db.write_rows(
        None,
        [(_INSERT_FRAME, [("RET-1", "in", "[2]", 2, "o", "Heartbeat", None, db.db_time(OLD))])],
    )
    deleted = await Retention(
        db,
        Settings(
            retention_frames_days=0,
            retention_events_days=0,
            retention_meter_values_days=0,
            retention_security_events_days=0,
        ),
    ).prune()
    assert deleted == {}
    assert len(await _ids(db, Frame)) == 1
