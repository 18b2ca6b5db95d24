"""Does a message cost more late in a long session? One 2.0.1 session of
10,000 TransactionEvent Updated messages, each with an energy register
reading, priced under a tariff with time-of-day periods (so every answer
carries totalCost), against a real Volta on SQLite and on PostgreSQL.

Volta runs in this process (uvloop), the station is a bare `websockets`
client in the same loop, sending one event at a time. For a window of events
around the 10th and around the 10,000th it reports the median round trip
and the process CPU time per event, and the SQL statements per event
(counted on every DBAPI connection: SELECT vs INSERT/UPDATE; SQLite only,
where the driver exposes a trace hook). The two windows must cost the same
within noise: the hot path reads nothing and carries its totals forward.

    .venv/bin/python bench/bench_session_length.py            # ~4-6 min
    .venv/bin/python bench/bench_session_length.py --events 2000 --backends sqlite

Writes bench/results/session_length.json. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop
import websockets
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from volta.app import Volta
from volta.blocks.authorization import service as tokens
from volta.blocks.provisioning import service as provisioning
from volta.blocks.tariffs import service as tariffs
from volta.config import Settings

RESULTS = Path(__file__).resolve().parent / "results"
PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARIFF = {
    "name": "bench",
    "currency": "EUR",
    "price_kwh": "0.30",
    "price_minute": "0.02",
    "price_idle_minute": "0.10",
    "idle_grace_minutes": "15",
    "session_fee": "1.00",
    "tax_percent": "19",
    "timezone": "Europe/Berlin",
    "periods": [
        {
            "name": "peak",
            "days": ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"],
            "start": "17:00",
            "end": "21:00",
            "price_kwh": "0.45",
        },
    ],
}


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class Counter:
    """Statements run on SQLite connections, by kind."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def trace(self, sql: str) -> None:
        word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        self.counts[word] += 1


async def run_backend(kind: str, events: int, window: int, tariff: str) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="volta-bench-")
    schema = None
    if kind == "sqlite":
        url = f"sqlite:///{tmp}/volta.db"
    else:
        url = PG_URL
        schema = "bench_" + uuid.uuid4().hex[:10]
        conn = await asyncpg.connect(PG_URL)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
    settings = Settings(  # type: ignore[call-arg]
        host="127.0.0.1",
        ocpp_port=0,
        api_port=0,
        database_url=url,
        api_token="bench-token",
        log_format="text",
        log_level="WARNING",
    )
    volta = Volta(settings, db_schema=schema)
    counter = Counter()
    if volta.db.is_sqlite and volta.db._sync_engine is not None:
        event.listen(
            volta.db._sync_engine,
            "connect",
            lambda dbapi, _rec: dbapi.set_trace_callback(counter.trace),
        )
    await volta.start()
    try:
        await provisioning.create_station(volta.db, "LONG-1", password="bench-pass-123")
        await tokens.add_token(volta.db, "LONG-CARD")
        if tariff != "none":
            doc = TARIFF if tariff == "periods" else {**TARIFF, "periods": []}
            await tariffs.create_tariff(volta.db, doc, is_default=True)
        auth = base64.b64encode(b"LONG-1:bench-pass-123").decode()
        async with websockets.connect(
            f"ws://127.0.0.1:{volta.ocpp_port}/LONG-1",
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers={"Authorization": f"Basic {auth}"},
            compression=None,
            open_timeout=10,
        ) as ws:

            async def call(action: str, payload: dict[str, Any]) -> Any:
                mid = uuid.uuid4().hex[:12]
                await ws.send(orjson.dumps([2, mid, action, payload]).decode())
                reply = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                if reply[0] != 3 or reply[1] != mid:
                    raise RuntimeError(f"unexpected answer {reply!r}")
                return reply[2]

            await call(
                "BootNotification",
                {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
            )
            start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10 * (events + 10))
            await call(
                "TransactionEvent",
                {
                    "eventType": "Started",
                    "timestamp": iso(start),
                    "triggerReason": "Authorized",
                    "seqNo": 0,
                    "transactionInfo": {"transactionId": "LONG-TX", "chargingState": "Charging"},
                    "evse": {"id": 1, "connectorId": 1},
                    "idToken": {"idToken": "LONG-CARD", "type": "ISO14443"},
                },
            )
            rtt: list[float] = []
            cpu: list[float] = []
            statements: list[collections.Counter[str]] = []
            total_costs: list[float] = []
            for n in range(1, events + 1):
                ts = iso(start + dt.timedelta(seconds=10 * n))
                payload = {
                    "eventType": "Updated",
                    "timestamp": ts,
                    "triggerReason": "MeterValuePeriodic",
                    "seqNo": n,
                    "transactionInfo": {"transactionId": "LONG-TX"},
                    "meterValue": [
                        {
                            "timestamp": ts,
                            "sampledValue": [
                                {
                                    "value": 1000 + 30 * n,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unitOfMeasure": {"unit": "Wh"},
                                },
                                {"value": 11000, "measurand": "Power.Active.Import"},
                            ],
                        }
                    ],
                }
                before = dict(counter.counts)
                c0, t0 = time.process_time(), time.perf_counter()
                answer = await call("TransactionEvent", payload)
                rtt.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                statements.append(counter.counts - collections.Counter(before))
                total_costs.append(float(answer.get("totalCost", -1)))
    finally:
        await volta.stop()
        if schema:
            conn = await asyncpg.connect(PG_URL)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()

    def summary(lo: int, hi: int) -> dict[str, Any]:
        per: collections.Counter[str] = collections.Counter()
        for c in statements[lo:hi]:
            per.update(c)
        count = hi - lo
        return {
            "events": f"{lo + 1}-{hi}",
            "rtt_ms_median": round(statistics.median(rtt[lo:hi]) * 1000, 3),
            "cpu_us_median": round(statistics.median(cpu[lo:hi]) * 1e6, 1),
            "cpu_us_mean": round(statistics.fmean(cpu[lo:hi]) * 1e6, 1),
            "statements_per_event": {k: round(v / count, 2) for k, v in sorted(per.items())}
            if volta.db.is_sqlite
            else None,
        }

    early = summary(5, 5 + window)
    late = summary(events - window, events)
    return {
        "backend": kind,
        "tariff": tariff,
        "events": events,
        "early": early,
        "late": late,
        "cpu_late_over_early": round(late["cpu_us_median"] / early["cpu_us_median"], 2),
        "rtt_late_over_early": round(late["rtt_ms_median"] / early["rtt_ms_median"], 2),
        "last_total_cost": total_costs[-1],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=100, help="events per measured window")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--tariffs",
        default="periods,flat",
        help="periods: a weekday peak (its price lines grow as the session crosses "
        "periods: a cost of the session's duration, not of its message count); "
        "flat: one price; none: no totalCost",
    )
    args = parser.parse_args()
    uvloop.install()
    results = []
    for tariff in [t.strip() for t in args.tariffs.split(",") if t.strip()]:
        for kind in [b.strip() for b in args.backends.split(",") if b.strip()]:
            work = run_backend(kind, args.events, args.window, tariff)
            results.append(asyncio.run(asyncio.wait_for(work, 900)))
    cpu = platform.processor() or platform.machine()
    machine = f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    print(f"machine: {machine}")
    print(
        f"{'backend':<11} {'tariff':<8} {'window':<13} {'rtt ms (median)':>15} "
        f"{'CPU us/event (median)':>22}  statements/event"
    )
    for r in results:
        for name in ("early", "late"):
            w = r[name]
            print(
                f"{r['backend']:<11} {r['tariff']:<8} {w['events']:<13} {w['rtt_ms_median']:>15} "
                f"{w['cpu_us_median']:>22}  {w['statements_per_event']}"
            )
        print(
            f"{r['backend']:<11} {r['tariff']:<8} late/early: CPU {r['cpu_late_over_early']}x, "
            f"round trip {r['rtt_late_over_early']}x; last totalCost {r['last_total_cost']}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "session_length.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
