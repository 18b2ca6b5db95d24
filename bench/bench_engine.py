"""A whole engine run for a site of N charging EVSEs: what the issue's
"time to recompute a site" costs in Volta, not only in the allocator.

For 10 / 100 / 1,000 stations (one EVSE each, a running session each) on one
site, on a real database (SQLite by default, `--database URL` for
PostgreSQL), it times `Engine.run(site)`:

- **first**: every EVSE gets its first TxProfile and every station its
  fallback (2 x N SetChargingProfile built, recorded as commands and answered);
- **steady**: the same picture again (a meter value that changed nothing
  much): read the site, its stations, sessions and allocations, allocate,
  send nothing, write nothing;
- **limit**: the site's limit lowered by 10 %: every TxProfile is sent again.

The stations are attached through in-process links that answer Accepted at
once: this times Volta's side (reads, allocation, durable commands, writes),
not the network or the stations. Median of the repeats, in ms; also written
to bench/results/engine.json.

    .venv/bin/python bench/bench_engine.py [--database URL] [--sizes 10,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from volta.app import handler_table, outgoing_tables
from volta.blocks.provisioning import service as provisioning
from volta.blocks.smart_charging import sites as site_store
from volta.blocks.smart_charging.engine import Engine
from volta.blocks.transactions import service as transactions
from volta.config import Settings
from volta.gateway.router import LocalRouter
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.services import Services
from volta.stations import CallOutcome
from volta.store import migrate
from volta.store.db import Database
from volta.store.framelog import FrameLog

RESULTS = Path(__file__).resolve().parent / "results"
REPEATS = 5
PROFILE = False


class AnsweringLink:
    """A station's connection that answers every CALL Accepted, in-process."""

    version = Version.V16

    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.calls = 0

    async def call(self, action: str, payload: dict[str, Any]) -> CallOutcome:
        self.calls += 1
        return CallOutcome("accepted", response={"status": "Accepted"})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None


async def one_size(url: str, n: int) -> dict[str, Any]:
    db = Database(url)
    await migrate.upgrade(db)
    settings = Settings(database_url=url)
    frames = FrameLog(db)
    services = Services(
        settings, db, frames, LocalRouter(), registry(), handler_table(), outgoing=outgoing_tables()
    )
    site = await site_store.create_site(db, name=f"bench-{n}", max_current_a=float(n * 10))
    now = dt.datetime.now(dt.UTC)
    for i in range(n):
        sid = f"B{n}-{i:05d}"
        await provisioning.create_station(db, sid)
        await site_store.place_station(db, sid, site.id)
        await transactions.start_v16(
            db,
            sid,
            connector_id=1,
            id_tag=f"T{i}",
            meter_start_wh=0.0,
            started_at=now - dt.timedelta(seconds=n - i),
            reservation_id=None,
            authorization_status="Accepted",
        )
        services.router.attach(AnsweringLink(sid))
    engine = Engine(services)
    out: dict[str, Any] = {"evses": n}

    async def timed() -> tuple[float, int]:
        started = time.perf_counter()
        report = await engine.run(site.id)
        return (time.perf_counter() - started) * 1000, len(report.sent) + len(report.fallbacks)

    first_ms, first_sent = await timed()
    out["first_ms"], out["first_sent"] = round(first_ms, 1), first_sent
    if PROFILE:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(REPEATS):
            await timed()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    steady = [await timed() for _ in range(REPEATS)]
    out["steady_ms"] = round(statistics.median(t for t, _ in steady), 2)
    out["steady_sent"] = max(s for _, s in steady)
    limits = []
    for k in range(REPEATS):
        await site_store.set_limit(db, site.id, float(n * 10) * (0.9 - 0.05 * k), None)
        engine.tree_changed()
        limits.append(await timed())
    out["limit_ms"] = round(statistics.median(t for t, _ in limits), 1)
    out["limit_sent"] = max(s for _, s in limits)
    await db.close()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--profile", action="store_true", help="cProfile the steady runs")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database or f"sqlite:///{tmp}/bench.db"
            rows.append(await one_size(url, n))
    head = ("EVSEs", "first run", "sent", "steady", "sent", "limit", "sent")
    print("{:>6} {:>10} {:>6} {:>8} {:>5} {:>8} {:>6}".format(*head))
    for r in rows:
        print(
            f"{r['evses']:>6} {r['first_ms']:>8.1f}ms {r['first_sent']:>6} "
            f"{r['steady_ms']:>6.2f}ms {r['steady_sent']:>5} "
            f"{r['limit_ms']:>6.1f}ms {r['limit_sent']:>6}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(
        json.dumps(
            {"python": platform.python_version(), "machine": platform.machine(), "rows": rows},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    asyncio.run(main())
