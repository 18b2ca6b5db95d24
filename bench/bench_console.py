"""The operations console at fleet scale: every page and live fragment of the
dashboard timed on a database of 20,000 stations and 1,000,000 sessions.

1. **Seed** a database through the real migrations, then bulk-insert with
   SQLAlchemy Core executemany (batches of 10,000 rows): stations (vendors,
   models, long vendor strings, three protocols, registration statuses, two
   connectors each with a status), sessions over the last 365 days (most
   ended, 2,000 active of which 20 stale), id tokens, reservations, tariffs and their
   assignments, CDRs, webhooks and deliveries, events, security events, the
   OCPP frame log of a few stations, meter values of the latest sessions,
   sites and local lists. The SQLite file is cached under /tmp, keyed by the
   migrations (head and text), the seed's version and the sizes (`--reseed`
   makes it again); each run works on a copy, so the cache stays as seeded.
2. **Measure**: Volta's real app in-process on that database, a user signed
   in through the real /login form (httpx), then every page of
   `volta.web.nav.PAGES`, the detail pages (a station with each `?tab=` its
   page links to, a session, a tariff, a CDR, a site, a webhook), page 2 and
   page 100 of the big lists, a search and a filter on each (the filter read
   from the list's own GET form), and every htmx fragment (`hx-get`) found in
   those pages' HTML. Per URL: the server-side time (ASGI in to the last body
   byte out; median and max of N requests after one warm-up), the response
   size and the SQL statements per request (`before_cursor_execute`).
3. Print one table, worst first, against the targets: 200 ms per page, and
   50 KB per live (polled) fragment; pages answering 404 are "missing".

    .venv/bin/python bench/bench_console.py                      # SQLite; seeds once (minutes)
    .venv/bin/python bench/bench_console.py --json bench/results/console.json
    .venv/bin/python bench/bench_console.py --postgres postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/bench_console.py --profile /sessions  # where a page's time goes
    .venv/bin/python bench/bench_console.py --only /fleet --sql "CREATE INDEX ..."  # an index tried
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import hashlib
import io
import json
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import sqlalchemy as sa
from sqlalchemy import event

import volta.app as volta_app
from volta.app import Volta
from volta.blocks.tariffs import service as tariffs
from volta.config import Settings
from volta.events.webhooks import SECRET_PURPOSE
from volta.secretbox import SecretBox
from volta.security import hash_password
from volta.store import migrate
from volta.store import models as m
from volta.store.db import Database
from volta.web import nav, users

RESULTS = Path(__file__).resolve().parent / "results"
PAGE_MS = 200.0
LIVE_KB = 50.0
BATCH = 10_000
SEED_VERSION = 3  # bump when the seed's rows change: a new cache file
USER = ("bench", "bench-console-password")
SECRET_KEY = "bench-console-secret-key-of-32-characters"

# -- seed -------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    stations: int = 20_000
    sessions: int = 1_000_000
    active: int = 2_000
    tokens: int = 5_000
    reservations: int = 300
    tariffs: int = 20
    cdrs: int = 100_000
    events: int = 200_000
    deliveries: int = 50_000
    security_events: int = 20_000
    sites: int = 5
    # Stations whose frame log, and sessions whose meter values, are seeded.
    frame_stations: int = 500
    metered_sessions: int = 300

    @classmethod
    def tiny(cls) -> Size:
        return cls(
            stations=50,
            sessions=500,
            active=10,
            tokens=40,
            reservations=10,
            tariffs=3,
            cdrs=100,
            events=300,
            deliveries=100,
            security_events=50,
            sites=2,
            frame_stations=5,
            metered_sessions=20,
        )

    def key(self) -> str:
        return "-".join(str(v) for v in asdict(self).values())


VENDORS = [
    "ABB", "Alpitronic", "Wallbox", "Kempower", "Enel X", "Schneider Electric", "EVBox",
    "Circontrol", "Ekoenergetyka", "Siemens",
    # Long unbroken vendor strings (the issue: they broke the layout).
    "ELECTRICVEHICLESUPPLYEQUIPMENTMANUFACTURINGCOMPANY",
    "Société-Générale-d'Équipements-Électriques-pour-VE",
]  # fmt: skip
MODELS = ["Terra AC", "HYC300", "Pulsar Plus", "S-Series", "JuiceBox", "Raption 50",
          "Commander-2-Double-Socket-Type2-22kW-TetheredCable"]  # fmt: skip
PROTOCOLS = (["ocpp1.6"] * 5) + (["ocpp2.0.1"] * 4) + ["ocpp2.1"]
STOP_REASONS_16 = ["Local", "Remote", "EVDisconnected", "PowerLoss", "DeAuthorized", "Other"]
STOP_REASONS_201 = ["Local", "Remote", "EVDisconnected", "StoppedByEV", "Timeout", "Other"]
EVENT_TYPES = [
    "station.connected", "station.disconnected", "transaction.started", "transaction.ended",
    "connector.status", "station.booted", "command.completed",
]  # fmt: skip
SECURITY_TYPES = [
    "StartupOfTheDevice", "FirmwareUpdated", "SettingSystemTime", "ResetOrReboot",
    "InvalidCentralSystemCertificate", "InvalidFirmwareSignature", "FailedToAuthenticateAtCsms",
    "TamperDetectionActivated",
]  # fmt: skip
CRITICAL_SECURITY = {"InvalidFirmwareSignature", "TamperDetectionActivated"}


def cache_path(size: Size) -> Path:
    """Keyed by the migrations (their head and their text: an index added to
    the head migration makes a new file), the seed's version and its sizes."""
    head = migrate.head() or "none"
    text = hashlib.sha256()
    for path in sorted((migrate.MIGRATIONS / "versions").glob("*.py")):
        text.update(path.read_bytes())
    key = f"{head}-{text.hexdigest()[:10]}-v{SEED_VERSION}-{size.key()}"
    return Path(tempfile.gettempdir()) / f"volta-bench-console-{key}.db"


def _insert_rows(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    conn.execute(table.insert(), rows)


async def insert(db: Database, model: Any, rows: Iterable[dict[str, Any]]) -> int:
    """Rows in batches of BATCH, one executemany and one transaction each."""
    table = model.__table__ if hasattr(model, "__table__") else model
    batch: list[dict[str, Any]] = []
    count = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            await db.run_sync(_insert_rows, table, batch)
            count += len(batch)
            batch = []
    if batch:
        await db.run_sync(_insert_rows, table, batch)
        count += len(batch)
    return count


@dataclass
class Seeded:
    """What the measurement needs to know of the seed."""

    station_id: str = ""
    session_id: int = 0
    active_session_id: int = 0
    tariff_id: int = 0
    cdr_id: str = ""
    site_id: int = 0
    webhook_id: int = 0
    token: str = ""
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)


def _station_ids(size: Size) -> list[str]:
    auto = max(1, size.stations // 10)
    return [f"CP-{i:05d}" for i in range(1, size.stations - auto + 1)] + [
        f"AUTO-{i:08X}" for i in range(1, auto + 1)
    ]


async def seed(db: Database, size: Size, *, password_iterations: int | None = None) -> Seeded:
    """A fresh database (migrated) filled with `size` rows of everything the
    console shows. Deterministic (random.Random(17)) but for the clock."""
    started = time.perf_counter()
    rnd = random.Random(17)
    now = m.utcnow().replace(microsecond=0)
    await migrate.upgrade(db)
    out = Seeded()
    counts = out.counts

    # Sites first: stations hang from them.
    counts["sites"] = await insert(
        db,
        m.Site,
        (
            {
                "name": f"Depot {i}",
                "parent_id": None,
                "max_current_a": 250.0,
                "max_power_w": None,
                "phases": 3,
                "voltage_v": 230.0,
                "strategy": "equal",
                "min_current_a": 6.0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1, size.sites + 1)
        ),
    )
    out.site_id = 1

    ids = _station_ids(size)
    protocol = {sid: rnd.choice(PROTOCOLS) for sid in ids}
    auto = {sid for sid in ids if sid.startswith("AUTO-")}

    def stations() -> Iterator[dict[str, Any]]:
        for n, sid in enumerate(ids):
            registration = (
                "Pending"
                if sid in auto and rnd.random() < 0.7
                else rnd.choices(["Accepted", "Pending", "Rejected"], [95, 3, 2])[0]
            )
            beat = now - dt.timedelta(seconds=rnd.randint(0, 3 * 86_400))
            yield {
                "id": sid,
                "password_hash": None,
                "registration_status": registration,
                "validation": "strict",
                "protocol": protocol[sid],
                "vendor": rnd.choice(VENDORS),
                "model": rnd.choice(MODELS),
                "serial_number": f"SN{n:09d}",
                "firmware_version": f"{rnd.randint(1, 5)}.{rnd.randint(0, 20)}.{rnd.randint(0, 9)}",
                "iccid": None,
                "imsi": None,
                "meter_type": None,
                "meter_serial_number": None,
                "boot_reason": "PowerUp",
                "last_boot_at": beat - dt.timedelta(days=rnd.randint(0, 30)),
                "last_heartbeat_at": beat,
                "last_connected_at": beat - dt.timedelta(hours=1),
                "last_disconnected_at": beat,
                "created_at": now - dt.timedelta(days=rnd.randint(30, 700)),
                "site_id": (n % size.sites) + 1 if n < 100 else None,
                "connection_id": None,
                "security_profile": 1,
                "charger_profile": None,
            }

    counts["stations"] = await insert(db, m.Station, stations())
    out.station_id = ids[0]

    # Id tokens.
    tokens = [f"04{i:08X}" for i in range(1, size.tokens + 1)]
    out.token = tokens[0]

    def id_tokens() -> Iterator[dict[str, Any]]:
        for i, token in enumerate(tokens):
            created = now - dt.timedelta(days=rnd.randint(1, 700))
            yield {
                "token": token,
                "type": rnd.choices(["ISO14443", "eMAID", "Central", "KeyCode"], [85, 10, 3, 2])[0],
                "status": rnd.choices(["Accepted", "Blocked", "Expired", "Invalid"], [92, 4, 2, 2])[
                    0
                ],
                "expires_at": now + dt.timedelta(days=rnd.randint(-30, 700))
                if i % 5 == 0
                else None,
                "group_id": f"FLEET-{i % 40}" if i % 3 == 0 else None,
                "language1": None,
                "language2": None,
                "limit_energy_wh": None,
                "limit_seconds": None,
                "limit_cost": None,
                "note": f"Driver {i}" if i % 7 == 0 else None,
                "created_at": created,
                "updated_at": created,
            }

    counts["id_tokens"] = await insert(db, m.IdToken, id_tokens())

    # Sessions: ids in the order they started; the newest `active` are running,
    # one per (station, EVSE).
    busy = rnd.sample([(sid, evse) for sid in ids for evse in (1, 2)], size.active)
    # A few active sessions are stale (started weeks ago, never ended): the
    # rest are the newest. `ended_count` is the newest ended session's id.
    stale = max(1, size.active // 100)
    ended_count = size.sessions - (size.active - stale)
    low, high = int(size.sessions * 0.85), ended_count - 1
    stale_ids = set(range(low, high, max(1, (high - low) // stale))[:stale])
    span = dt.timedelta(days=365).total_seconds()
    charging_now: set[tuple[str, int]] = set(busy)

    def transactions() -> Iterator[dict[str, Any]]:
        pairs = iter(busy)
        for i in range(1, size.sessions + 1):
            active = i > ended_count or i in stale_ids
            start = now - dt.timedelta(
                seconds=span * (1 - i / size.sessions) + 4 * 3600 + rnd.randint(0, 600)
            )
            if active:
                sid, evse = next(pairs)
                if i > ended_count:
                    start = now - dt.timedelta(seconds=rnd.randint(60, 3 * 3600))
            else:
                sid, evse = rnd.choice(ids), rnd.randint(1, 2)
            proto = protocol[sid]
            v16 = proto == "ocpp1.6"
            energy = round(rnd.uniform(500, 60_000), 1)
            meter_start = round(rnd.uniform(0, 5_000_000), 1)
            duration = dt.timedelta(seconds=rnd.randint(600, 8 * 3600))
            stop = None if active else start + duration
            yield {
                "id": i,
                "station_id": sid,
                "station_transaction_id": None if v16 else f"{i:x}-{sid}"[:36],
                "protocol": proto,
                "evse_id": evse,
                "connector_id": evse if v16 else 1,
                "id_token": rnd.choice(tokens),
                "id_token_type": "ISO14443",
                "authorization_status": "Accepted" if rnd.random() < 0.98 else "Invalid",
                "reservation_id": None,
                "remote_start_id": None,
                "status": "Active" if active else "Ended",
                "charging_state": None
                if v16
                else ("Charging" if active else rnd.choice(["EVConnected", "Idle"])),
                "started_at": start,
                "stopped_at": stop,
                "meter_start_wh": meter_start,
                "meter_stop_wh": None if active else meter_start + energy,
                "energy_wh": energy / (3 if active else 1),
                "stop_reason": None
                if active
                else rnd.choice(STOP_REASONS_16 if v16 else STOP_REASONS_201),
                "stop_id_token": None,
                "ended_by": None
                if active
                else rnd.choices(["station", "abandoned", "operator"], [97, 2, 1])[0],
                "end_note": None,
                "last_seq_no": None if v16 else 12,
                "soc_percent": None if v16 else round(rnd.uniform(10, 95), 1),
                "limit_energy_wh": None,
                "limit_seconds": None,
                "limit_cost": None,
                "limit_reached": None,
                "limit_reached_at": None,
                "stop_requested_at": None,
                "limit_sent": None,
                "station_limit": None,
                "station_limit_at": None,
                "limit_reached_by": None,
                "created_at": start,
                "updated_at": stop or start,
            }

    counts["transactions"] = await insert(db, m.Transaction, transactions())
    out.active_session_id = size.sessions
    out.session_id = ended_count

    def connectors() -> Iterator[dict[str, Any]]:
        for sid in ids:
            v16 = protocol[sid] == "ocpp1.6"
            for evse in (1, 2):
                if (sid, evse) in charging_now:
                    status = "Charging" if v16 else "Occupied"
                else:
                    status = rnd.choices(
                        ["Available", "Faulted", "Unavailable", "Preparing", "SuspendedEV"]
                        if v16
                        else ["Available", "Faulted", "Unavailable", "Occupied", "Reserved"],
                        [85, 4, 6, 3, 2],
                    )[0]
                yield {
                    "station_id": sid,
                    "evse_id": evse,
                    "connector_id": evse if v16 else 1,
                    "status": status,
                    "error_code": "GroundFailure" if status == "Faulted" and v16 else None,
                    "info": None,
                    "vendor_id": None,
                    "vendor_error_code": None,
                    "status_at": now - dt.timedelta(minutes=rnd.randint(1, 10_000)),
                    "updated_at": now,
                }

    counts["connectors"] = await insert(db, m.Connector, connectors())

    def reservations() -> Iterator[dict[str, Any]]:
        for _ in range(size.reservations):
            sid = rnd.choice(ids)
            created = now - dt.timedelta(hours=rnd.randint(0, 24 * 60))
            yield {
                "station_id": sid,
                "protocol": protocol[sid],
                "evse_id": rnd.randint(1, 2),
                "connector_type": None,
                "id_token": rnd.choice(tokens),
                "id_token_type": "ISO14443",
                "group_id": None,
                "expires_at": created + dt.timedelta(hours=2),
                "status": rnd.choices(
                    ["Accepted", "Used", "Expired", "Cancelled", "Rejected"], [20, 40, 25, 10, 5]
                )[0],
                "transaction_id": None,
                "command_id": None,
                "created_at": created,
                "updated_at": created,
            }

    counts["reservations"] = await insert(db, m.Reservation, reservations())

    # Tariffs through the tariff block; then one real CDR, cloned below.
    for i in range(size.tariffs):
        made = await tariffs.create_tariff(
            db,
            {
                "name": f"Tariff {i + 1}" if i else "Standard AC",
                "currency": "EUR",
                "price_kwh": f"0.{30 + i:02d}",
                "tax_percent": "22",
            },
            is_default=i == 0,
        )
        out.tariff_id = out.tariff_id or made["id"]
    counts["tariffs"] = size.tariffs
    counts["tariff_assignments"] = await insert(
        db,
        m.TariffAssignment,
        (
            {
                "tariff_id": (i % size.tariffs) + 1,
                "station_id": ids[i] if i % 10 else None,
                "evse_id": None,
                "group_id": None if i % 10 else f"FLEET-{i % 40}",
                "created_at": now,
            }
            for i in range(min(len(ids), 500))
        ),
    )

    template = await tariffs.create_cdr(db, ended_count)
    assert template is not None, "no CDR for the template session"
    async with db.read() as conn:
        cdr_table = m.Cdr.__table__
        found = await conn.execute(
            sa.select(cdr_table).where(cdr_table.c.transaction_id == ended_count)
        )
        cdr = dict(found.mappings().one())
    out.cdr_id = cdr["id"]
    first_cdr = ended_count - size.cdrs + 1

    def cdrs() -> Iterator[dict[str, Any]]:
        for i in range(first_cdr, ended_count):
            if i in stale_ids:
                continue
            energy = Decimal(rnd.randint(500, 60_000))
            subtotal = (energy / 1000 * Decimal("0.35")).quantize(Decimal("0.0001"))
            total = (subtotal * Decimal("1.22")).quantize(Decimal("0.0001"))
            breakdown = {
                **cdr["breakdown"],
                "energy_wh": str(energy),
                "subtotal": str(subtotal),
                "tax": str(total - subtotal),
                "total": str(total),
            }
            yield {
                **cdr,
                "id": tariffs.cdr_id(i),
                "transaction_id": i,
                "energy_wh": energy,
                "total_excl_tax": subtotal,
                "total_incl_tax": total,
                "breakdown": breakdown,
            }

    # The billed sessions' own fields, so that a CDR matches its session.
    facts: dict[int, Any] = {}
    async with db.read() as conn:
        result = await conn.execute(
            sa.select(
                m.Transaction.id,
                m.Transaction.station_id,
                m.Transaction.evse_id,
                m.Transaction.connector_id,
                m.Transaction.id_token,
                m.Transaction.started_at,
                m.Transaction.stopped_at,
            ).where(m.Transaction.id >= first_cdr, m.Transaction.id < ended_count)
        )
        for r in result:
            facts[r.id] = r

    def cdrs_matched() -> Iterator[dict[str, Any]]:
        for row in cdrs():
            tx = facts[row["transaction_id"]]
            row.update(
                station_id=tx.station_id,
                evse_id=tx.evse_id,
                connector_id=tx.connector_id,
                id_token=tx.id_token,
                start_at=tx.started_at,
                end_at=tx.stopped_at,
                created_at=tx.stopped_at,
            )
            yield row

    counts["cdrs"] = 1 + await insert(db, m.Cdr, cdrs_matched())
    facts.clear()

    # Webhooks and their deliveries; events; security events.
    hooks = 6
    sealed = SecretBox(SECRET_KEY, source="bench").seal("whsec-bench", SECRET_PURPOSE)
    counts["webhooks"] = await insert(
        db,
        m.Webhook,
        (
            {
                "url": f"https://hooks.example.com/volta/{i}",
                "secret": sealed,
                "event_types": ["*"] if i == 1 else [rnd.choice(EVENT_TYPES)],
                "description": f"Integration {i}",
                "active": i != hooks,
                "created_at": now - dt.timedelta(days=100),
                "dispatch_node": None,
                "dispatch_until": None,
            }
            for i in range(1, hooks + 1)
        ),
    )
    out.webhook_id = 1
    event_span = dt.timedelta(days=30).total_seconds()

    def events() -> Iterator[dict[str, Any]]:
        for i in range(1, size.events + 1):
            sid = rnd.choice(ids)
            yield {
                "id": i,
                "type": rnd.choice(EVENT_TYPES),
                "station_id": sid,
                "transaction_id": None,
                "data": {"station_id": sid, "status": "Available", "n": i},
                "created_at": now - dt.timedelta(seconds=event_span * (1 - i / size.events)),
            }

    counts["events"] = await insert(db, m.Event, events())

    def deliveries() -> Iterator[dict[str, Any]]:
        for i in range(1, size.deliveries + 1):
            event_id = size.events - size.deliveries + i
            at = now - dt.timedelta(seconds=event_span * (1 - event_id / size.events))
            ok = rnd.random() < 0.9
            yield {
                "webhook_id": (i % hooks) + 1,
                "event_id": event_id,
                "status": "delivered" if ok else "failed",
                "attempts": 1 if ok else 8,
                "next_attempt_at": at,
                "last_status_code": 200 if ok else 503,
                "last_error": None if ok else "HTTP 503 Service Unavailable",
                "delivered_at": at if ok else None,
                "created_at": at,
            }

    counts["webhook_deliveries"] = await insert(db, m.WebhookDelivery, deliveries())

    def security_events() -> Iterator[dict[str, Any]]:
        for i in range(1, size.security_events + 1):
            kind = rnd.choice(SECURITY_TYPES)
            at = now - dt.timedelta(seconds=span * (1 - i / size.security_events))
            yield {
                "station_id": rnd.choice(ids),
                "type": kind,
                "critical": kind in CRITICAL_SECURITY,
                "tech_info": "bench" if i % 3 else None,
                "origin": "station",
                "timestamp": at,
                "received_at": at,
            }

    counts["security_events"] = await insert(db, m.SecurityEvent, security_events())

    # The frame log of a few stations (the first is the one measured), and
    # the meter values of the latest sessions (the measured ones among them).
    def frames() -> Iterator[dict[str, Any]]:
        for n, sid in enumerate(ids[: size.frame_stations]):
            for k in range(400 if n == 0 else 20):
                at = now - dt.timedelta(seconds=60 * (400 - k))
                yield {
                    "station_id": sid,
                    "direction": "in" if k % 2 == 0 else "out",
                    "message_type": 2 if k % 2 == 0 else 3,
                    "message_id": f"{n}-{k}",
                    "action": "Heartbeat" if k % 2 == 0 else None,
                    "error_code": None,
                    "raw": f'[2,"{n}-{k}","Heartbeat",{{}}]'
                    if k % 2 == 0
                    else f'[3,"{n}-{k}",{{"currentTime":"2026-12-01T00:00:00Z"}}]',
                    "created_at": at,
                }

    counts["frames"] = await insert(db, m.Frame, frames())

    async with db.read() as conn:
        metered = (
            await conn.execute(
                sa.select(
                    m.Transaction.id,
                    m.Transaction.station_id,
                    m.Transaction.evse_id,
                    m.Transaction.started_at,
                    m.Transaction.meter_start_wh,
                    m.Transaction.energy_wh,
                ).where(
                    # The latest ended sessions (the measured one is the last)
                    # and the latest active ones.
                    sa.or_(
                        m.Transaction.id.between(ended_count - size.metered_sessions, ended_count),
                        m.Transaction.id > size.sessions - size.metered_sessions // 4,
                    )
                )
            )
        ).all()

    def meter_values() -> Iterator[dict[str, Any]]:
        for tx in metered:
            for k in range(60):
                at = tx.started_at + dt.timedelta(minutes=k)
                wh = tx.meter_start_wh + tx.energy_wh * k / 59
                for measurand, unit, value in (
                    ("Energy.Active.Import.Register", "Wh", wh),
                    ("Power.Active.Import", "W", 7200.0 + (k % 7) * 100),
                ):
                    yield {
                        "station_id": tx.station_id,
                        "transaction_id": tx.id,
                        "evse_id": tx.evse_id,
                        "timestamp": at,
                        "measurand": measurand,
                        "phase": None,
                        "context": "Sample.Periodic",
                        "location": "Outlet",
                        "unit": unit,
                        "value": value,
                        "raw_value": str(value),
                        "raw_unit": unit,
                    }

    counts["meter_values"] = await insert(db, m.MeterValue, meter_values())

    lists = ids[: min(len(ids), 200)]
    counts["local_lists"] = await insert(
        db,
        m.LocalList,
        (
            {
                "station_id": sid,
                "version": 3,
                "managed": True,
                "full_pending": False,
                "last_status": "Accepted",
                "synced_at": now,
                "updated_at": now,
            }
            for sid in lists
        ),
    )
    counts["local_list_entries"] = await insert(
        db,
        m.LocalListEntry,
        (
            {
                "station_id": sid,
                "token": token,
                "token_type": "ISO14443",
                "info": {"status": "Accepted"},
                "pending": False,
                "removed": False,
                "version": 3,
                "updated_at": now,
            }
            for sid in lists
            for token in tokens[:20]
        ),
    )

    iterations = password_iterations or users.USER_PBKDF2_ITERATIONS
    await insert(
        db,
        m.User,
        [
            {
                "username": USER[0],
                "password_hash": hash_password(USER[1], iterations=iterations),
                "role": "admin",
                "language": "en",
                "time_zone": None,
                "last_login_at": None,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    await db.run_sync(lambda conn: conn.exec_driver_sql("ANALYZE"))
    out.seconds = time.perf_counter() - started
    return out


def seeded_facts(path: Path) -> Path:
    return path.with_suffix(".json")


async def seeded_sqlite(size: Size, *, reseed: bool) -> tuple[Path, Seeded]:
    """The cached seeded file (made when missing or asked for)."""
    path = cache_path(size)
    facts = seeded_facts(path)
    if path.exists() and facts.exists() and not reseed:
        return path, Seeded(**json.loads(facts.read_text()))
    partial = path.with_name(path.name + ".partial")
    for old in (path, facts, partial, *path.parent.glob(partial.name + "*")):
        old.unlink(missing_ok=True)
    db = Database(f"sqlite:///{partial}")
    try:
        made = await seed(db, size)
    finally:
        await db.close()
    for extra in path.parent.glob(partial.name + ".*"):
        extra.unlink(missing_ok=True)  # its lock file
    partial.rename(path)
    facts.write_text(json.dumps(asdict(made)))
    return path, made


# -- measure ------------------------------------------------------------------------


class _Links(HTMLParser):
    """The hx-get fragments (with their triggers), links and GET forms of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.fragments: dict[str, str] = {}
        self.links: list[str] = []
        self.forms: list[dict[str, Any]] = []
        self._form: dict[str, Any] | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if a.get("hx-get"):
            self.fragments.setdefault(a["hx-get"], a.get("hx-trigger", ""))
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        if tag == "form":
            get = a.get("method", "get").lower() == "get" and not (
                a.get("hx-post") or a.get("hx-delete")
            )
            self._form = (
                {"action": a.get("action", ""), "selects": {}, "inputs": []} if get else None
            )
            if self._form is not None:
                self.forms.append(self._form)
        elif self._form is not None and tag == "select" and a.get("name"):
            self._select = a["name"]
            self._form["selects"][self._select] = []
        elif self._form is not None and tag == "option" and self._select:
            self._form["selects"][self._select].append(a.get("value", ""))
        elif self._form is not None and tag == "input" and a.get("name"):
            self._form["inputs"].append((a["name"], a.get("type", "text")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._form = None


def parse(html_text: str) -> _Links:
    parser = _Links()
    parser.feed(html_text)
    return parser


@dataclass
class Row:
    kind: str  # page, detail, list, fragment, live
    url: str
    status: int = 0
    median_ms: float = 0.0
    max_ms: float = 0.0
    size: int = 0
    statements: int = 0
    origin: str = ""  # the page a fragment was found on

    @property
    def missing(self) -> bool:
        return self.status == 404

    @property
    def error(self) -> bool:
        return self.status not in (200, 404)

    @property
    def target(self) -> str:
        return f"{PAGE_MS:.0f} ms" + (f", {LIVE_KB:.0f} KB" if self.kind == "live" else "")

    @property
    def ok(self) -> bool:
        if self.status != 200:
            return False
        return self.median_ms <= PAGE_MS and (self.kind != "live" or self.size <= LIVE_KB * 1024)

    @property
    def verdict(self) -> str:
        if self.missing:
            return "missing"
        if self.error:
            return f"ERROR {self.status}"
        return "PASS" if self.ok else "MISS"

    @property
    def badness(self) -> float:
        """How far over its targets (1.0: at the target); missing pages last."""
        if self.missing:
            return -1.0
        if self.error:
            return 1e9
        worst = self.median_ms / PAGE_MS
        if self.kind == "live":
            worst = max(worst, self.size / (LIVE_KB * 1024))
        return worst


class Meter:
    """The server's own time per request (an ASGI wrapper round the app: the
    request in until the last body byte out) and the SQL statements run
    meanwhile (transaction control left out)."""

    def __init__(self) -> None:
        self.last_ms = 0.0
        self.statements = 0
        self.sql: list[tuple[str, float]] = []
        self.record_sql = False
        self._started: dict[int, float] = {}

    def wrap(self, app: Any) -> Any:
        async def timed(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            started = time.perf_counter()

            async def sending(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    self.last_ms = (time.perf_counter() - started) * 1000

            await app(scope, receive, sending)

        return timed

    def listen(self, engine: sa.Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        word = statement.lstrip()[:12].split(None, 1)[0].upper() if statement.strip() else ""
        if word in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK"):
            return
        self.statements += 1
        if self.record_sql:
            self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        started = self._started.pop(id(cursor), None)
        if started is not None:
            self.sql.append((statement, (time.perf_counter() - started) * 1000))


@contextlib.contextmanager
def metered_app(meter: Meter) -> Iterator[None]:
    """Volta's HTTP app, as app.py builds it, wrapped by the meter."""
    original = volta_app.http_app

    def http_app(*args: Any, **kwargs: Any) -> Any:
        return meter.wrap(original(*args, **kwargs))

    volta_app.http_app = http_app  # type: ignore[assignment]
    try:
        yield
    finally:
        volta_app.http_app = original  # type: ignore[assignment]


def bench_settings(database_url: str, files_dir: str) -> Settings:
    return Settings(
        host="127.0.0.1",
        ocpp_port=0,
        api_port=0,
        database_url=database_url,
        api_token="bench-console-api-token",
        secret_key=SECRET_KEY,
        log_format="text",
        log_level="WARNING",
        files_dir=files_dir,
        # Nothing in the background while pages are timed: no housekeeping
        # run (it would write CDRs for the sessions seeded without one) and
        # no retention prune (0: keep for ever).
        housekeeping_interval=3600.0,
        retention_interval=86_400.0,
        retention_frames_days=0,
        retention_events_days=0,
        retention_meter_values_days=0,
        retention_security_events_days=0,
        db_stats_interval=86_400.0,
    )  # type: ignore[call-arg]


async def sign_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "no CSRF field on /login"
    resp = await client.post(
        "/login", data={"username": USER[0], "password": USER[1], "csrf": found.group(1)}
    )
    assert resp.status_code == 303, f"sign-in failed: {resp.status_code}"


# The big lists: a search term that finds rows in the seed, and a filter
# used when the page has no GET form to read one from.
BIG_LISTS: dict[str, tuple[str, dict[str, str]]] = {
    "/": ("CP-001", {"status": "Faulted"}),
    "/sessions": ("04000000", {"active": "yes"}),
    "/tokens": ("04000001", {"status": "Blocked"}),
    "/cdrs": ("CP-01", {}),
    "/events": ("station.connected", {}),
    "/security": ("Tamper", {"critical": "on"}),
    "/reservations": ("CP-0", {"status": "Accepted"}),
}


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return parts.path + "?" + urlencode(query)


def form_filter(links: _Links) -> dict[str, str]:
    """A filter from the page's own GET form: its first select's first real option."""
    for form in links.forms:
        for name, options in form["selects"].items():
            if name in ("page", "lang", "language"):
                continue
            values = [v for v in options if v]
            if values:
                return {name: values[0]}
    return {}


class Bench:
    def __init__(self, client: httpx.AsyncClient, meter: Meter, repeats: int) -> None:
        self.client = client
        self.meter = meter
        self.repeats = repeats
        self.rows: dict[str, Row] = {}
        self.html: dict[str, str] = {}
        self.progress = False

    async def measure(self, kind: str, url: str, origin: str = "") -> Row:
        if url in self.rows:
            return self.rows[url]
        headers = {"HX-Request": "true"} if kind in ("fragment", "live") else {}
        times: list[float] = []
        counts: list[int] = []
        resp = None
        for n in range(self.repeats + 1):
            self.meter.statements = 0
            resp = await self.client.get(url, headers=headers)
            if resp.status_code == 404 or (n == 0 and resp.status_code != 200):
                break
            if n:  # the first is the warm-up
                times.append(self.meter.last_ms)
                counts.append(self.meter.statements)
        assert resp is not None
        row = Row(kind, url, resp.status_code, size=len(resp.content), origin=origin)
        if times:
            row.median_ms = statistics.median(times)
            row.max_ms = max(times)
            row.statements = round(statistics.median(counts))
        if resp.status_code == 200:
            self.html[url] = resp.text
        self.rows[url] = row
        if self.progress:
            print(f"  {row.verdict:<8} {row.median_ms:7.1f} ms  {url}", file=sys.stderr, flush=True)
        return row

    async def run(self, seeded: Seeded, only: list[str] | None = None) -> list[Row]:
        if only:
            for url in only:
                await self.measure("page", url)
            return sorted(self.rows.values(), key=lambda r: -r.badness)
        for page in nav.PAGES:
            await self.measure("page", page.path)
        sid = seeded.station_id
        station = f"/stations/{sid}"
        details = [
            station,
            f"/sessions/{seeded.session_id}",
            f"/sessions/{seeded.active_session_id}",
            f"/tariffs/{seeded.tariff_id}",
            f"/cdrs/{seeded.cdr_id}",
            f"/sites/{seeded.site_id}",
            f"/webhooks/{seeded.webhook_id}",
            f"/tokens/{seeded.token}",
        ]
        for url in details:
            await self.measure("detail", url)
        # The station page's tabs, as its own links name them.
        tabs = sorted(
            {
                link
                for link in parse(self.html.get(station, "")).links
                if urlsplit(link).path == station and "tab=" in urlsplit(link).query
            }
        )
        for url in tabs:
            await self.measure("detail", url)
        for path, (term, fallback) in BIG_LISTS.items():
            if path not in self.html:
                continue
            await self.measure("list", with_query(path, page="2"))
            await self.measure("list", with_query(path, page="100"))
            await self.measure("list", with_query(path, q=term))
            chosen = form_filter(parse(self.html[path])) or fallback
            if chosen:
                await self.measure("list", with_query(path, **chosen))
        # Every fragment the measured pages name (deduplicated).
        for origin, text in list(self.html.items()):
            for url, trigger in parse(text).fragments.items():
                if not url.startswith("/") or "{" in url:
                    continue
                kind = "live" if "every" in trigger else "fragment"
                await self.measure(kind, url, origin)
        return sorted(self.rows.values(), key=lambda r: -r.badness)

    async def profile(self, url: str, top: int = 25) -> str:
        """cProfile of the server handling `url` (in-process: the same thread)
        and the slowest SQL statements of the request."""
        await self.client.get(url)
        self.meter.sql = []
        self.meter.record_sql = True
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            await self.client.get(url)
        finally:
            profiler.disable()
            self.meter.record_sql = False
        out = io.StringIO()
        out.write(f"== {url}: {self.meter.last_ms:.0f} ms\n-- slowest SQL:\n")
        for statement, ms in sorted(self.meter.sql, key=lambda s: -s[1])[:8]:
            out.write(f"{ms:8.1f} ms  {' '.join(statement.split())[:300]}\n")
        out.write(f"-- {len(self.meter.sql)} statements, "
                  f"{sum(ms for _, ms in self.meter.sql):.0f} ms in SQL\n")  # fmt: skip
        stats = pstats.Stats(profiler, stream=out)
        out.write("-- Volta's functions and the templates, by cumulative time:\n")
        stats.sort_stats("cumulative").print_stats(r"volta/|\.html", top)
        out.write("-- every function, by its own time:\n")
        stats.sort_stats("tottime").print_stats(top // 2)
        return out.getvalue()


@contextlib.asynccontextmanager
async def running_volta(
    database_url: str, schema: str | None, meter: Meter
) -> AsyncIterator[Volta]:
    files_dir = tempfile.mkdtemp(prefix="volta-bench-console-files-")
    settings = bench_settings(database_url, files_dir)
    app = Volta(settings, db_schema=schema)
    try:
        with metered_app(meter):
            await app.start()
    except BaseException:
        shutil.rmtree(files_dir, ignore_errors=True)
        raise
    try:
        db = app.db
        engine = db._sync_engine or (db._async_engine.sync_engine if db._async_engine else None)
        assert engine is not None
        meter.listen(engine)
        yield app
    finally:
        await app.stop()
        shutil.rmtree(files_dir, ignore_errors=True)


async def measure(
    database_url: str, seeded: Seeded, *, repeats: int, schema: str | None = None,
    profile: list[str] | None = None, progress: bool = False, only: list[str] | None = None,
) -> tuple[list[Row], list[str]]:  # fmt: skip
    meter = Meter()
    async with running_volta(database_url, schema, meter) as app:
        base = f"http://127.0.0.1:{app.api_port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            await sign_in(client)
            bench = Bench(client, meter, repeats)
            bench.progress = progress
            rows = await bench.run(seeded, only)
            profiles = [await bench.profile(url) for url in profile or []]
    return rows, profiles


def table(rows: list[Row]) -> str:
    lines = [
        f"{'kind':<8} {'url':<52} {'status':>6} {'median':>8} {'max':>8} "
        f"{'size':>9} {'SQL':>5}  {'target':<14} verdict",
    ]
    for r in rows:
        url = r.url if len(r.url) <= 52 else r.url[:49] + "..."
        timing = (f"{r.median_ms:6.1f}ms", f"{r.max_ms:6.1f}ms") if r.status == 200 else ("-", "-")
        lines.append(
            f"{r.kind:<8} {url:<52} {r.status:>6} {timing[0]:>8} {timing[1]:>8} "
            f"{r.size / 1024:7.1f}KB {r.statements:>5}  {r.target:<14} {r.verdict}"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    ok = [r for r in rows if r.status == 200 and r.ok]
    miss = [r for r in rows if r.status == 200 and not r.ok]
    missing = [r for r in rows if r.missing]
    errors = [r for r in rows if r.error]
    worst = max((r for r in rows if r.status == 200), key=lambda r: r.median_ms, default=None)
    return (
        f"{len(rows)} URLs: {len(ok)} PASS, {len(miss)} MISS, {len(missing)} missing (404), "
        f"{len(errors)} errors"
        + (f"; slowest {worst.url} at {worst.median_ms:.0f} ms" if worst else "")
    )


# -- main ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_database(url: str, size: Size) -> AsyncIterator[tuple[str, str, Seeded]]:
    """A schema of its own on `url`, seeded, dropped afterwards."""
    import asyncpg

    plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    schema = "bench_console_" + uuid.uuid4().hex[:8]
    conn = await asyncpg.connect(plain)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    try:
        db = Database(plain, schema=schema)
        try:
            made = await seed(db, size)
        finally:
            await db.close()
        yield plain, schema, made
    finally:
        conn = await asyncpg.connect(plain)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


async def main(args: argparse.Namespace) -> int:
    size = Size.tiny() if args.tiny else Size()
    if args.stations or args.sessions:
        size = replace(
            size,
            stations=args.stations or size.stations,
            sessions=args.sessions or size.sessions,
        )
    profile = args.profile or []
    if args.postgres:
        print(f"seeding PostgreSQL ({size.stations} stations, {size.sessions} sessions) ...")
        async with postgres_database(args.postgres, size) as (url, schema, seeded):
            print(f"seeded in {seeded.seconds:.0f} s")
            rows, profiles = await measure(
                url,
                seeded,
                repeats=args.repeats,
                schema=schema,
                profile=profile,
                progress=True,
                only=args.only,
            )
        backend = "postgresql"
    else:
        cached = cache_path(size)
        fresh = args.reseed or not cached.exists()
        if fresh:
            print(f"seeding {cached} ({size.stations} stations, {size.sessions} sessions) ...")
        path, seeded = await seeded_sqlite(size, reseed=args.reseed)
        print(f"seeded in {seeded.seconds:.0f} s" + ("" if fresh else " (cached)"))
        work = Path(tempfile.mkdtemp(prefix="volta-bench-console-"))
        try:
            copy = work / "volta.db"
            shutil.copyfile(path, copy)
            for statement in args.sql or []:
                # An experiment on the copy (an index tried before a migration).
                with sqlite3.connect(copy) as conn:
                    conn.execute(statement)
                    conn.execute("ANALYZE")
            rows, profiles = await measure(
                f"sqlite:///{copy}",
                seeded,
                repeats=args.repeats,
                profile=profile,
                progress=True,
                only=args.only,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        backend = "sqlite"
    print(table(rows))
    print(summary(rows))
    for text in profiles:
        print(text)
    if args.json:
        write_json(
            Path(args.json),
            {
                "backend": backend,
                "size": asdict(size),
                "repeats": args.repeats,
                "targets": {"page_ms": PAGE_MS, "live_kb": LIVE_KB},
                "seed_seconds": round(seeded.seconds, 1),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
                "date": dt.date.today().isoformat(),
                "rows": [{**asdict(r), "verdict": r.verdict, "target": r.target} for r in rows],
                "summary": summary(rows),
            },
        )
    return 0


def write_json(path: Path, figures: dict[str, Any]) -> None:
    path.write_text(json.dumps(figures, indent=1) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--postgres", metavar="URL", help="seed and measure on PostgreSQL instead")
    p.add_argument("--reseed", action="store_true", help="seed the cached SQLite file again")
    p.add_argument("--repeats", type=int, default=7, help="timed requests per URL (after one)")
    p.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    p.add_argument("--tiny", action="store_true", help="50 stations, 500 sessions (a smoke run)")
    p.add_argument("--stations", type=int, default=0)
    p.add_argument("--sessions", type=int, default=0)
    p.add_argument(
        "--sql", action="append", metavar="STATEMENT", help="run on the SQLite copy first"
    )
    p.add_argument("--only", action="append", metavar="URL", help="measure only this URL")
    p.add_argument("--profile", action="append", metavar="URL", help="profile this URL too")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
