"""Soak bench: many stations for many minutes against a real Volta process, with
random disconnects, wrong passwords and malformed frames; then a check that
nothing the server acknowledged was lost.

    .venv/bin/python bench/soak.py                          # 1,000 stations, 10 min, SQLite
    .venv/bin/python bench/soak.py --stations 200 --minutes 1
    .venv/bin/python bench/soak.py --database postgresql    # a fresh PostgreSQL database

What runs, all on loopback:

- a `volta serve` process (pinned to the first CPU with taskset, as
  bench/run_load.py does) on a fresh SQLite file (or PostgreSQL database), its
  stations registered with passwords through the API;
- N stations (half OCPP 1.6, half 2.0.1; this process, pinned to the second
  CPU) from source address 127.0.0.1: boot, status, a Heartbeat every
  --heartbeat seconds, sessions (1.6 StartTransaction / MeterValues /
  StopTransaction; 2.0.1 TransactionEvent Started / Updated / Ended) with a
  meter sample every --meter seconds; each station drops its connection at
  random (on average every --drop-every seconds, half abruptly), comes back
  and carries on with the session it had open, and now and then sends a
  malformed frame (not JSON, a wrong message type, a CALL without payload,
  an unknown action), which the server answers with a CALLERROR or ignores;
- wrong-password clients (2 % of N, at least 5) that try to connect with a
  wrong password every few seconds under station ids of their own. They come
  from source address 127.0.0.2: Volta backs off per source address and per
  station id, so from 127.0.0.1 they would get the real stations throttled.
  401, 429, 404 or a refused upgrade all count as refused; one that gets in
  is a failure.

Every CALL the server answered with a CALLRESULT that carries data (a
transaction's start and stop, each meter sample) is written down. At the end
the stations leave, the server stops (SIGTERM), and the database is read:
"lost acknowledged messages" counts those whose data is not there. The
server's RSS (VmRSS) is sampled every 5 s; "bounded" means the largest
sample of the second half of the run (after the ramp that connects the
stations) is within 10 % of the largest of the first half. Short runs are
mostly warm-up (caches, the frame log's buffers) and may say GROWING; the
verdict is for runs of several minutes.
The heartbeat round trip p99 is over every Heartbeat answered.

Prints the figures; --write also writes bench/results/soak.json and replaces
the "## Soak" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import json
import os
import random
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection

# bench/ is the script directory (sys.path[0]): the load bench already has the
# PostgreSQL administration the soak needs.
from run_load import pg_execute

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "performance.md"
PYTHON = sys.executable
HOST = "127.0.0.1"
BAD_SOURCE = "127.0.0.2"  # wrong-password clients come from here
API_TOKEN = "bench-soak-token"
PASSWORD = "soak-station-pass"
TAG = "SOAK-TAG"
MALFORMED = [
    b"this is not json",
    b'[2, "bad-1"]',
    b'[2, "bad-2", "Heartbeat", "not an object"]',
    b'[9, "bad-3", "Heartbeat", {}]',
    b'[2, "bad-4", "NoSuchAction", {}]',
    b"{}",
]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- what the server acknowledged ---------------------------------------------------------


@dataclass
class Ledger:
    """Acknowledged data, by transaction: station id and the station's key
    (1.6: the transactionId the server gave; 2.0.1: the station's own id)."""

    started: dict[tuple[str, str], float] = field(default_factory=dict)  # meter start
    stopped: dict[tuple[str, str], float] = field(default_factory=dict)  # meter stop
    samples: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    acked: int = 0
    heartbeats: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    malformed_sent: int = 0
    malformed_answered: int = 0
    connects: int = 0
    drops: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    bad_admitted: int = 0

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class Gone(Exception):
    """The connection went (or a CALL was not answered)."""


class Client:
    """One station's connection: CALLs one at a time, answers by message id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.pending: dict[str, asyncio.Future[Any]] = {}
        self.reader = asyncio.create_task(self._read())
        self.stray_errors = 0

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                try:
                    msg = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(msg, list) or len(msg) < 3:
                    continue
                if msg[0] == 2:  # a CALL from the CSMS: this bench supports none
                    err = [4, msg[1], "NotImplemented", "soak bench", {}]
                    await self.ws.send(orjson.dumps(err).decode())
                    continue
                fut = self.pending.pop(str(msg[1]), None)
                if fut is None:
                    if msg[0] == 4:
                        self.stray_errors += 1
                    continue
                if not fut.done():
                    fut.set_result(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(Gone("closed"))

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 30) -> Any:
        msg_id = uuid.uuid4().hex[:16]
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        try:
            await self.ws.send(orjson.dumps([2, msg_id, action, payload]).decode())
            async with asyncio.timeout(timeout):
                answer = await fut
        except (websockets.ConnectionClosed, TimeoutError, OSError) as exc:
            raise Gone(str(exc)) from exc
        finally:
            self.pending.pop(msg_id, None)
        if answer[0] == 3:
            return answer[2]
        raise CallError(f"{action}: {answer[2]} {answer[3]}")

    async def close(self, abrupt: bool) -> None:
        if abrupt:
            self.ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


class CallError(Exception):
    """The server answered CALLERROR."""


def basic(station_id: str, password: str) -> dict[str, str]:
    secret = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": "Basic " + secret}


@dataclass
class Session:
    key: str  # 1.6: the server's transactionId; 2.0.1: our transactionId
    ends_at: float
    seq: int = 0


class Station:
    def __init__(self, args: argparse.Namespace, index: int, url: str, ledger: Ledger) -> None:
        self.args = args
        self.id = f"SOAK-{index:05d}"
        self.v201 = index % 2 == 1
        self.url = f"{url}/{self.id}"
        self.ledger = ledger
        self.rng = random.Random(args.seed + index)
        self.register_wh = float(self.rng.randrange(0, 5_000_000))
        self.session: Session | None = None
        self.unsure_start = False  # a start sent but not answered

    async def run(self, start_at: float, end_at: float) -> None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        delay = 1.0
        while time.monotonic() < end_at:
            try:
                ws = await websockets.connect(
                    self.url,
                    subprotocols=["ocpp2.0.1" if self.v201 else "ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=basic(self.id, PASSWORD),
                    open_timeout=30,
                    ping_interval=None,
                    local_addr=(HOST, 0),
                )
            except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                self.ledger.count(self.ledger.errors, f"connect: {type(exc).__name__}")
                await asyncio.sleep(delay * self.rng.uniform(0.5, 1.5))
                delay = min(delay * 2, 30)
                continue
            delay = 1.0
            self.ledger.connects += 1
            client = Client(ws)
            abrupt = self.rng.random() < 0.5
            try:
                await self._connected(client, end_at)
            except Gone:
                self.ledger.count(self.ledger.errors, "connection lost")
            except CallError as exc:
                self.ledger.count(self.ledger.errors, str(exc)[:60])
            finally:
                self.ledger.malformed_answered += client.stray_errors
                await client.close(abrupt)
            if time.monotonic() < end_at:
                await asyncio.sleep(self.rng.uniform(0.5, 3.0))

    async def _connected(self, c: Client, end_at: float) -> None:
        a = self.args
        await self.boot(c)
        await self.status(c, "Charging" if self.session else "Available")
        drop_at = time.monotonic() + self.rng.expovariate(1 / a.drop_every)
        next_hb = time.monotonic() + self.rng.uniform(0, a.heartbeat)
        next_meter = time.monotonic() + self.rng.uniform(0, a.meter)
        next_start = time.monotonic() + self.rng.uniform(1, 20)
        while True:
            now = time.monotonic()
            if now >= end_at:
                return
            if now >= drop_at:
                self.ledger.drops += 1
                return
            if now >= next_hb:
                t0 = time.perf_counter()
                await c.call("Heartbeat", {})
                self.ledger.heartbeats.append(time.perf_counter() - t0)
                next_hb = now + a.heartbeat
                if self.rng.random() < a.malformed:
                    await c.ws.send(self.rng.choice(MALFORMED).decode())
                    self.ledger.malformed_sent += 1
            if self.session is None and now >= next_start:
                await self.start(c)
                next_meter = now + a.meter
            elif self.session is not None and now >= self.session.ends_at:
                await self.stop(c)
                next_start = now + self.rng.uniform(5, 30)
            elif self.session is not None and now >= next_meter:
                await self.meter(c)
                next_meter = now + a.meter
            upcoming = [drop_at, next_hb, end_at]
            if self.session is None:
                upcoming.append(next_start)
            else:
                upcoming += [next_meter, self.session.ends_at]
            await asyncio.sleep(max(0.0, min(upcoming) - time.monotonic()))

    # -- messages ----------------------------------------------------------------------

    async def boot(self, c: Client) -> None:
        if self.v201:
            payload: dict[str, Any] = {
                "reason": "PowerUp",
                "chargingStation": {"vendorName": "Soak", "model": "S1"},
            }
        else:
            payload = {"chargePointVendor": "Soak", "chargePointModel": "S1"}
        answer = await c.call("BootNotification", payload)
        if answer.get("status") != "Accepted":
            raise CallError(f"BootNotification: {answer.get('status')}")

    async def status(self, c: Client, status: str) -> None:
        if self.v201:
            status = "Occupied" if status == "Charging" else status
            payload = {
                "timestamp": now_iso(),
                "connectorStatus": status,
                "evseId": 1,
                "connectorId": 1,
            }
        else:
            payload = {"connectorId": 1, "errorCode": "NoError", "status": status}
        await c.call("StatusNotification", payload)

    def _sample(self) -> dict[str, Any]:
        return {
            "timestamp": now_iso(),
            "sampledValue": [
                {
                    "value": round(self.register_wh, 1) if self.v201 else f"{self.register_wh:.1f}",
                    "measurand": "Energy.Active.Import.Register",
                    **(
                        {"unitOfMeasure": {"unit": "Wh"}}
                        if self.v201
                        else {"unit": "Wh", "context": "Sample.Periodic"}
                    ),
                }
            ],
        }

    async def _event(self, c: Client, kind: str, trigger: str, extra: dict[str, Any]) -> None:
        s = self.session
        assert s is not None
        payload = {
            "eventType": kind,
            "timestamp": now_iso(),
            "triggerReason": trigger,
            "seqNo": s.seq,
            "transactionInfo": {"transactionId": s.key, **extra},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [self._sample()],
        }
        if kind == "Started":
            payload["idToken"] = {"idToken": TAG, "type": "ISO14443"}
        if kind != "Updated":
            payload["meterValue"][0]["sampledValue"][0]["context"] = (
                "Transaction.Begin" if kind == "Started" else "Transaction.End"
            )
        s.seq += 1
        await c.call("TransactionEvent", payload)

    async def start(self, c: Client) -> None:
        ends_at = time.monotonic() + self.rng.uniform(*self.args.session)
        if self.v201:
            self.session = Session(uuid.uuid4().hex, ends_at)
            await self._event(c, "Started", "Authorized", {"chargingState": "Charging"})
        else:
            answer = await c.call(
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": TAG,
                    "meterStart": int(self.register_wh),
                    "timestamp": now_iso(),
                },
            )
            if answer["idTagInfo"]["status"] != "Accepted":
                self.ledger.count(self.ledger.errors, "start refused")
            self.session = Session(str(answer["transactionId"]), ends_at)
        key = (self.id, self.session.key)
        self.ledger.started[key] = self.register_wh if self.v201 else float(int(self.register_wh))
        self.ledger.acked += 1
        await self.status(c, "Charging")

    async def meter(self, c: Client) -> None:
        assert self.session is not None
        self.register_wh += self.rng.uniform(50, 500)
        value = round(self.register_wh, 1)
        if self.v201:
            await self._event(c, "Updated", "MeterValuePeriodic", {"chargingState": "Charging"})
        else:
            await c.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": int(self.session.key),
                    "meterValue": [self._sample()],
                },
            )
        self.ledger.samples.setdefault((self.id, self.session.key), []).append(value)
        self.ledger.acked += 1

    async def stop(self, c: Client) -> None:
        s = self.session
        assert s is not None
        self.register_wh += self.rng.uniform(10, 100)
        if self.v201:
            await self._event(
                c, "Ended", "StopAuthorized", {"chargingState": "Idle", "stoppedReason": "Local"}
            )
            stop = round(self.register_wh, 1)
        else:
            stop = float(int(self.register_wh))
            await c.call(
                "StopTransaction",
                {
                    "transactionId": int(s.key),
                    "meterStop": int(self.register_wh),
                    "timestamp": now_iso(),
                    "reason": "Local",
                },
            )
        self.ledger.stopped[(self.id, s.key)] = stop
        self.ledger.acked += 1
        self.session = None
        await self.status(c, "Available")


async def wrong_password_client(
    index: int, url: str, end_at: float, ledger: Ledger, rng: random.Random
) -> None:
    station_id = f"SOAK-BAD-{index:04d}"
    await asyncio.sleep(rng.uniform(0, 5))
    while time.monotonic() < end_at:
        try:
            ws = await websockets.connect(
                f"{url}/{station_id}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=basic(station_id, "wrong-" + uuid.uuid4().hex[:8]),
                open_timeout=30,
                local_addr=(BAD_SOURCE, 0),
            )
        except websockets.InvalidStatus as exc:
            ledger.count(ledger.refused, str(exc.response.status_code))
        except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
            ledger.count(ledger.refused, type(exc).__name__)
        else:
            ledger.bad_admitted += 1
            await ws.close()
        await asyncio.sleep(rng.uniform(1, 5))


# --- the server -----------------------------------------------------------------------------


class Server:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.ocpp_port = free_port()
        self.api_port = free_port()
        self.pg_name = ""
        if args.database == "postgresql":
            self.pg_name = f"bench_soak_{os.getpid()}"
            pg_execute(f'CREATE DATABASE "{self.pg_name}"')
            self.url = f"postgresql://postgres@127.0.0.1:5432/{self.pg_name}"
        else:
            self.url = f"sqlite:///{tmp}/soak.db"
        self.log = tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTA_")}
        env.update(
            VOLTA_DATABASE_URL=self.url,
            VOLTA_LOG_LEVEL="WARNING",
            VOLTA_API_TOKEN=API_TOKEN,
            VOLTA_HEARTBEAT_INTERVAL=str(int(self.args.heartbeat)),
            # Every station's driver presents the same card.
            VOLTA_ALLOW_CONCURRENT_TRANSACTIONS="true",
        )
        return env

    def start(self) -> None:
        cmd = [PYTHON, "-m", "volta", "serve", "--host", HOST]
        cmd += ["--ocpp-port", str(self.ocpp_port), "--api-port", str(self.api_port)]
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2 and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpus[0]), *cmd]  # the server on the first CPU
            os.sched_setaffinity(0, {cpus[1]})  # the stations on the second
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.env(), cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"volta exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.api_port), 1):
                return
            time.sleep(0.2)
        raise RuntimeError("volta did not listen within 60 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def drop_database(self) -> None:
        if self.pg_name:
            with contextlib.suppress(Exception):
                pg_execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')


async def register(server: Server, ids: list[str], password: str) -> None:
    async with httpx.AsyncClient(
        base_url=f"http://{HOST}:{server.api_port}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=60,
    ) as api:
        r = await api.post("/api/v1/id-tokens", json={"token": TAG})
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"adding the id token: {r.status_code} {r.text}")
        sem = asyncio.Semaphore(8)

        async def one(station_id: str) -> None:
            async with sem:
                r = await api.post(
                    "/api/v1/stations", json={"id": station_id, "password": password}
                )
                if r.status_code not in (201, 409):
                    raise RuntimeError(f"registering {station_id}: {r.status_code} {r.text}")

        await asyncio.gather(*(one(i) for i in ids))


# --- the check -------------------------------------------------------------------------------


async def read_database(server: Server) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(transactions, energy-register samples) of the soak's stations."""
    tx_sql = (
        "SELECT id, station_id, station_transaction_id, protocol, status, meter_start_wh, "
        "meter_stop_wh FROM transactions WHERE station_id LIKE 'SOAK-%'"
    )
    mv_sql = (
        "SELECT transaction_id, value FROM meter_values WHERE station_id LIKE 'SOAK-%' "
        "AND measurand = 'Energy.Active.Import.Register'"
    )
    if server.pg_name:
        import asyncpg

        conn = await asyncpg.connect(server.url)
        try:
            txs = [tuple(r) for r in await conn.fetch(tx_sql)]
            mvs = [tuple(r) for r in await conn.fetch(mv_sql)]
        finally:
            await conn.close()
        return txs, mvs
    db = sqlite3.connect(server.url.removeprefix("sqlite:///"))
    try:
        return db.execute(tx_sql).fetchall(), db.execute(mv_sql).fetchall()
    finally:
        db.close()


def check(ledger: Ledger, txs: list[tuple[Any, ...]], mvs: list[tuple[Any, ...]]) -> dict[str, Any]:
    by_key: dict[tuple[str, str], tuple[Any, ...]] = {}
    for row in txs:
        row_id, station_id, station_tx, protocol, *_ = row
        key = str(station_tx) if protocol == "ocpp2.0.1" else str(row_id)
        by_key[(station_id, key)] = row
    values: dict[int, set[float]] = {}
    for tx_id, value in mvs:
        values.setdefault(tx_id, set()).add(round(float(value), 1))
    lost: list[str] = []
    for key, meter_start in ledger.started.items():
        row = by_key.get(key)
        if row is None:
            lost.append(f"start {key}")
        elif row[5] is None or abs(float(row[5]) - meter_start) > 1:
            lost.append(f"start {key}: meter_start {row[5]} != {meter_start}")
    for key, meter_stop in ledger.stopped.items():
        row = by_key.get(key)
        if row is None or row[4] != "Ended" or row[6] is None:
            lost.append(f"stop {key}: {row}")
        elif abs(float(row[6]) - meter_stop) > 1:
            lost.append(f"stop {key}: meter_stop {row[6]} != {meter_stop}")
    for key, samples in ledger.samples.items():
        row = by_key.get(key)
        stored = values.get(row[0], set()) if row is not None else set()
        lost += [f"sample {key} {v}" for v in samples if round(v, 1) not in stored]
    return {"lost": len(lost), "examples": lost[:10]}


# --- the run -----------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, server: Server) -> dict[str, Any]:
    ledger = Ledger()
    n_bad = max(5, args.stations // 50)
    stations_ids = [f"SOAK-{i:05d}" for i in range(args.stations)]
    bad_ids = [f"SOAK-BAD-{i:04d}" for i in range(n_bad)]
    await register(server, stations_ids + bad_ids, PASSWORD)
    url = f"ws://{HOST}:{server.ocpp_port}/ocpp"
    t0 = time.monotonic()
    end_at = t0 + args.minutes * 60
    ramp = min(60.0, args.stations * 0.02)
    stations = [Station(args, i, url, ledger) for i in range(args.stations)]
    rng = random.Random(args.seed)
    tasks = [
        asyncio.create_task(s.run(t0 + ramp * i / len(stations), end_at))
        for i, s in enumerate(stations)
    ]
    tasks += [
        asyncio.create_task(wrong_password_client(i, url, end_at, ledger, rng))
        for i in range(n_bad)
    ]
    rss: list[tuple[float, int]] = []
    while time.monotonic() < end_at:
        rss.append((time.monotonic() - t0, rss_kib(server.pid)))
        print(
            f"  {rss[-1][0]:6.0f} s  rss {rss[-1][1] / 1024:6.1f} MiB  "
            f"acked {ledger.acked}  connects {ledger.connects}  drops {ledger.drops}  "
            f"refused {sum(ledger.refused.values())}",
            flush=True,
        )
        await asyncio.sleep(min(5.0, max(0.0, end_at - time.monotonic())))
    rss.append((time.monotonic() - t0, rss_kib(server.pid)))
    done, pending = await asyncio.wait(tasks, timeout=60)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    failures = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
    exit_code = server.stop()
    txs, mvs = await read_database(server)
    result = check(ledger, txs, mvs)
    # The halves of the run after the ramp (every station connected once).
    half = ramp + (args.minutes * 60 - ramp) / 2
    first = max((r for t, r in rss if ramp <= t <= half), default=0)
    second = max((r for t, r in rss if t > half), default=0)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": args.database,
        "stations": args.stations,
        "minutes": args.minutes,
        "wrong_password_clients": n_bad,
        "acknowledged": ledger.acked,
        "transactions_started": len(ledger.started),
        "transactions_stopped": len(ledger.stopped),
        "meter_samples": sum(len(v) for v in ledger.samples.values()),
        "lost_acknowledged": result["lost"],
        "lost_examples": result["examples"],
        "connects": ledger.connects,
        "drops": ledger.drops,
        "malformed_sent": ledger.malformed_sent,
        "malformed_answered_callerror": ledger.malformed_answered,
        "wrong_password_refused": ledger.refused,
        "wrong_password_admitted": ledger.bad_admitted,
        "client_errors": dict(sorted(ledger.errors.items(), key=lambda kv: -kv[1])[:10]),
        "client_task_failures": [repr(f) for f in failures[:5]],
        "rss_kib": {
            "start": rss[0][1],
            "max": max(r for _, r in rss),
            "end": rss[-1][1],
            "max_first_half": first,
            "max_second_half": second,
            "bounded": second <= first * 1.10,
        },
        "heartbeats": len(ledger.heartbeats),
        "heartbeat_p50_ms": percentile(ledger.heartbeats, 50) * 1000,
        "heartbeat_p99_ms": percentile(ledger.heartbeats, 99) * 1000,
        "server_exit_code": exit_code,
    }


def report(r: dict[str, Any]) -> str:
    rss = r["rss_kib"]
    return "\n".join(
        [
            f"soak: {r['stations']} stations, {r['minutes']} min, {r['database']}",
            f"acknowledged messages: {r['acknowledged']} ({r['transactions_started']} starts, "
            f"{r['meter_samples']} meter samples, {r['transactions_stopped']} stops)",
            f"lost acknowledged messages: {r['lost_acknowledged']}",
            f"connections: {r['connects']} ({r['drops']} random drops); malformed frames sent: "
            f"{r['malformed_sent']} ({r['malformed_answered_callerror']} answered CALLERROR)",
            f"wrong passwords ({r['wrong_password_clients']} clients from {BAD_SOURCE}): "
            f"refused {r['wrong_password_refused']}, admitted {r['wrong_password_admitted']}",
            f"server RSS: start {rss['start'] / 1024:.1f} MiB, max {rss['max'] / 1024:.1f} MiB, "
            f"end {rss['end'] / 1024:.1f} MiB; max second half {rss['max_second_half'] / 1024:.1f}"
            f" vs first half {rss['max_first_half'] / 1024:.1f} MiB: "
            + ("bounded" if rss["bounded"] else "GROWING"),
            f"heartbeat round trip: p50 {r['heartbeat_p50_ms']:.1f} ms, "
            f"p99 {r['heartbeat_p99_ms']:.1f} ms ({r['heartbeats']} heartbeats)",
            f"client errors (top): {r['client_errors']}",
            f"server exit code: {r['server_exit_code']}",
        ]
    )


SOAK_INTRO = """\
`.venv/bin/python bench/soak.py [--stations 1000] [--minutes 10] [--database sqlite|postgresql]`
runs a real Volta process (pinned to the first CPU) and that many stations
(half 1.6, half 2.0.1, on the second CPU) that charge, drop their connection
at random and come back to the session they had, and now and then send a
malformed frame; 2 % more clients try wrong passwords from source address
127.0.0.2 (Volta throttles per source address, so they must not share the
real stations' 127.0.0.1). Every start, meter sample and stop the server
acknowledged is then looked up in the database. It prints the figures;
`--write` also writes `bench/results/soak.json` and this section. "Bounded"
RSS: the largest sample of the run's second half (after the ramp) within
10 % of the first half's."""


def write_results(r: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(r, indent=2) + "\n")
    section = (
        "## Soak\n\n"
        f"{SOAK_INTRO}\n\n"
        f"Last written run ({r['date']}): {r['stations']} stations for {r['minutes']} "
        f"minutes on {r['database']}.\n\n```\n{report(r)}\n```\n"
    )
    text = DOC.read_text(encoding="utf-8")
    start = text.find("\n## Soak\n")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--heartbeat", type=float, default=60.0, help="seconds between Heartbeats")
    parser.add_argument("--meter", type=float, default=15.0, help="seconds between meter samples")
    parser.add_argument(
        "--session", type=float, nargs=2, default=(60.0, 240.0), help="session length range, s"
    )
    parser.add_argument(
        "--drop-every", type=float, default=180.0, help="mean seconds between random drops"
    )
    parser.add_argument(
        "--malformed", type=float, default=0.05, help="chance of a malformed frame per Heartbeat"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--write", action="store_true", help="write bench/results/soak.json and docs/performance.md"
    )
    args = parser.parse_args()
    # One descriptor per station here and in the server (which inherits it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = Path(tempfile.mkdtemp(prefix="volta-soak-"))
    server = Server(args, tmp)
    try:
        server.start()
        result = asyncio.run(soak(args, server))
    finally:
        server.stop()
        server.drop_database()
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(result))
    if log.count("Traceback"):
        print(f"server log: {log.count('Traceback')} tracebacks; last lines:\n{log[-1500:]}")
    if args.write:
        write_results(result)
    ok = (
        result["lost_acknowledged"] == 0
        and result["rss_kib"]["bounded"]
        and result["wrong_password_admitted"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
