"""Scale-out bench: several Volta nodes on one PostgreSQL and one NATS server.

One command, loopback only; it starts and stops everything it uses (its own
`nats-server -js` on a free port with a temporary store, a fresh PostgreSQL
database on 127.0.0.1:5432 dropped afterwards, the Volta nodes as
`volta serve` subprocesses on ports of their own, the load generators):

    .venv/bin/python bench/scale_out.py            # ~15 min: the targets of issue 18
    .venv/bin/python bench/scale_out.py --quick    # ~4 min: 2 x 2,000 idle, 1,000 failover
    .venv/bin/python bench/scale_out.py --phases hold,scaling
    .venv/bin/python bench/scale_out.py --workers  # `volta serve --workers 2` on one port pair

The phases (each on a fresh database; nodes are named a, b, ...):

1. hold: 2 nodes hold 2 x 19,000 idle stations (bench/loadgen.py hold mode:
   boot, then a Heartbeat every 60 s spread evenly), half connected to each
   node as a TCP load balancer would; time to connect all, heartbeat latency
   while held (p50 / p99 / max), RSS of each node. Target: p99 <= 20 ms.
2. scaling: run_load.py's throughput mix (200 stations, CALLs back to back,
   60 % MeterValues, 20 % StatusNotification, 20 % Heartbeat) against one
   Volta process without NATS (the reference, kept up), and beside it in turn
   two nodes (100 stations on each), one node with NATS, two processes
   without NATS; each pair measured alternately over 3 rounds; round trips
   per second and per server CPU-second (the nodes' CPU summed). Target: 2
   nodes per CPU-second >= 0.9 x 1 process.
3. command: a station on node b; commands (GetConfiguration) through the API
   of node a (NATS request-reply to b) and of node b, interleaved; p50 / p99
   of each. Target: p99(a) - p99(b) <= 5 ms.
4. failover: node b holds 5,000 chargers (bench/fleet.py: they reconnect
   after 1-10 s at random, like real ones, and send again a transaction
   message that was not answered), 500 of them charging (StartTransaction
   answered, MeterValues every ~3 s); node b is killed with SIGKILL; time
   until every charger is online again on node a, acknowledged messages
   lost (each StartTransaction and MeterValues answered must have its row),
   duplicate sessions (a station with two transactions, or two Active on
   one connector). Targets: all online within 30 s, 0 lost, 0 duplicate.

With --workers, the hold and the 2-node scaling run on one `volta serve
--workers 2` (the generators connect to its one port and the kernel spreads
the connections over the workers); the command phase is skipped (one API
port: the node cannot be chosen) and the failover phase keeps separate nodes
(a supervisor starts a killed worker again: another scenario).

The nodes run on the first CPU (taskset), the load generators on the second,
as in bench/run_load.py; PostgreSQL and nats-server where the kernel puts
them (their CPU is reported). Prints a table, writes
bench/results/scale_out.json and replaces the "## Scale-out" section of
docs/performance.md (a run with --phases or other sizes: not the doc).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import FleetPool
from loadgen import GeneratorPool, merge, percentiles
from run_load import (
    HOST,
    PER_PROCESS,
    PYTHON,
    ROOT,
    Addresses,
    Cleanup,
    check_clean,
    cpu_idle,
    cpu_seconds,
    dig,
    free_port,
    machine,
    package_version,
    pg_execute,
    postgres_cpu_seconds,
    rss_kib,
    sleep_until,
    stop_process,
    volta_revision,
)

RESULTS = ROOT / "bench" / "results"
OUT = RESULTS / "scale_out.json"
DOC = ROOT / "docs" / "performance.md"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
API_TOKEN = "bench-scale-out-token"
PHASES = ("hold", "scaling", "command", "failover")
START_TIMEOUT = 90.0
PER_FLEET_PROCESS = 2500  # chargers per bench/fleet.py process


@dataclass
class Plan:
    mode: str = "full"
    hold_per_node: int = 19000
    hold_period: float = 60.0
    hold_seconds: float = 45.0
    stations: int = 200  # throughput mix: 100 per node in the 2-node run
    warmup: float = 2.0
    duration: float = 8.0
    rounds: int = 3  # scaling: each configuration and the reference, this many times in turn
    commands: int = 500
    failover_stations: int = 5000
    failover_transactions: int = 500
    meter_interval: float = 3.0
    settle: float = 8.0  # metering before the kill
    failover_timeout: float = 90.0
    after: float = 8.0  # metering after all are back, before the check
    in_flight: float = 3.0  # after metering stops, for the answers in flight
    backoff: tuple[float, float] = (1.0, 10.0)  # a charger's wait before reconnecting

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls()
        return cls(
            mode="quick",
            hold_per_node=2000,
            hold_seconds=10.0,
            duration=4.0,
            rounds=2,
            commands=100,
            failover_stations=1000,
            failover_transactions=100,
            settle=5.0,
            after=5.0,
        )


# --- processes ------------------------------------------------------------------------------


def raise_nofile() -> int:
    """The soft open-files limit up to the hard one; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def children_of(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            out += [int(x) for x in text]
    return out


def base_env() -> dict[str, str]:
    """This checkout's src first, so the nodes run the code of this tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTA_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
    )
    return env


def has_cluster() -> bool:
    """Whether this tree has volta.cluster (the NATS node and router)."""
    out = subprocess.run(
        [PYTHON, "-c", "import volta.cluster"],
        env=base_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    return out.returncode == 0


def has_workers_flag() -> bool:
    out = subprocess.run(
        [PYTHON, "-m", "volta", "serve", "--help"],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "--workers" in out.stdout


class Nats:
    """A nats-server with JetStream on a free loopback port, its store in tmpdir."""

    def __init__(self, cleanup: Cleanup) -> None:
        self.cleanup = cleanup
        self.port = free_port()
        self.monitor = free_port()  # HTTP monitoring: /varz counts the messages
        self.url = f"nats://{HOST}:{self.port}"
        self.store = cleanup.tmpdir / f"nats-{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not Path(NATS_SERVER).exists():
            raise RuntimeError("nats-server is not installed (Debian: apt-get install nats-server)")
        log = (self.cleanup.tmpdir / "nats.log").open("ab")
        cmd = [NATS_SERVER, "-js", "-a", HOST, "-p", str(self.port), "-sd", str(self.store)]
        cmd += ["-m", str(self.monitor)]
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.cleanup.procs.append(self.proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection((HOST, self.port), 0.5).close()
                return
            time.sleep(0.05)
        raise RuntimeError("nats-server did not listen within 20 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def messages(self) -> int:
        """Messages the server has received from its clients so far."""
        conn = http.client.HTTPConnection(HOST, self.monitor, timeout=5)
        try:
            conn.request("GET", "/varz")
            return int(json.loads(conn.getresponse().read())["in_msgs"])
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
        shutil.rmtree(self.store, ignore_errors=True)


class Database:
    """A fresh PostgreSQL database, migrated, with the id tag the stations use."""

    counter = 0

    def __init__(self, cleanup: Cleanup) -> None:
        Database.counter += 1
        self.name = f"bench_scale_{os.getpid()}_{Database.counter}"
        self.url = f"postgresql://postgres@127.0.0.1:5432/{self.name}"
        cleanup.databases.append(self.name)
        pg_execute(f'CREATE DATABASE "{self.name}"')
        env = {**base_env(), "VOLTA_DATABASE_URL": self.url}
        out = subprocess.run(
            [PYTHON, "-m", "volta", "tokens", "add", "BENCH-TAG"],
            env=env,
            cwd=cleanup.tmpdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"volta tokens add failed: {out.stderr.strip()[-500:]}")

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        import asyncio

        import asyncpg

        async def go() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.url, timeout=10)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(go())


class Node:
    """One `volta serve` (or `volta serve --workers N`: then `pids` are its workers)."""

    def __init__(
        self,
        name: str,
        cleanup: Cleanup,
        db: Database,
        nats: Nats | None,
        cpu: int | None,
        workers: int = 0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name, self.cleanup, self.db, self.nats, self.cpu = name, cleanup, db, nats, cpu
        self.workers = workers
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.ocpp_port = self.api_port = 0
        self.log = cleanup.tmpdir / f"node-{name}.log"
        self._api: Api | None = None

    def env(self) -> dict[str, str]:
        env = base_env()
        env.update(
            VOLTA_DATABASE_URL=self.db.url,
            VOLTA_LOG_LEVEL="WARNING",
            VOLTA_AUTO_REGISTER="true",
            VOLTA_AUTO_REGISTER_STATUS="Accepted",
            VOLTA_AUTO_REGISTER_PER_MINUTE="0",
            VOLTA_AUTO_REGISTER_PER_ADDRESS_PER_MINUTE="0",
            VOLTA_AUTO_REGISTER_MAX_PENDING="0",
            VOLTA_API_TOKEN=API_TOKEN,
        )
        if self.nats is not None:
            env["VOLTA_NATS_URL"] = self.nats.url
            if not self.workers:
                env["VOLTA_NODE_ID"] = self.name
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.ocpp_port, self.api_port = free_port(), free_port()
        cmd = [PYTHON, "-m", "volta", "serve", "--host", HOST]
        cmd += ["--ocpp-port", str(self.ocpp_port), "--api-port", str(self.api_port)]
        if self.workers:
            cmd += ["--workers", str(self.workers)]
        if self.cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        with self.log.open("ab") as log:
            log.write(f"\n--- start {dt.datetime.now().isoformat()} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                cmd, env=self.env(), cwd=self.cleanup.tmpdir, stdout=log, stderr=subprocess.STDOUT
            )
        self.cleanup.procs.append(self.proc)

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"node {self.name} exited with {self.proc.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                status, _ = self.api.get("/healthz")
                if status == 200 and (not self.workers or len(self.pids) >= self.workers):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name} not healthy within {START_TIMEOUT:.0f} s")

    @property
    def api(self) -> Api:
        if self._api is None or self._api.port != self.api_port:
            self._api = Api(self.api_port)
        return self._api

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def pids(self) -> list[int]:
        """The processes doing the work: the server, or the workers of --workers."""
        if not self.workers:
            return [self.pid]
        return children_of(self.pid)

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in [self.pid, *(self.pids if self.workers else [])]:
            with contextlib.suppress(OSError):
                total += cpu_seconds(pid)
        return total

    def rss_kib(self) -> list[int]:
        out = []
        for pid in self.pids:
            with contextlib.suppress(OSError, RuntimeError):
                out.append(rss_kib(pid))
        return out

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        if self._api is not None:
            self._api.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Api:
    """A kept-alive HTTP/1.1 connection to one node's API."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def online(self, prefix: str) -> int:
        """Stations listed online by this node's API whose id starts with prefix."""
        count, offset = 0, 0
        while True:
            status, rows = self.get(f"/api/v1/stations?limit=1000&offset={offset}")
            if status != 200:
                raise RuntimeError(f"GET /api/v1/stations: {status} {rows}")
            count += sum(1 for r in rows if r["online"] and r["id"].startswith(prefix))
            if len(rows) < 1000:
                return count
            offset += 1000


class Cluster:
    """A database, (a NATS server,) and nodes a, b, ... on it."""

    def __init__(
        self,
        cleanup: Cleanup,
        n: int,
        clustered: bool,
        cpu: int | None,
        workers: int = 0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.cleanup = cleanup
        self.db = Database(cleanup)
        self.nats: Nats | None = None
        if clustered:
            self.nats = Nats(cleanup)
            self.nats.start()
        names = [chr(ord("a") + i) for i in range(n)]
        if workers:
            self.nodes = [Node("w", cleanup, self.db, self.nats, cpu, workers, extra_env)]
        else:
            self.nodes = [Node(n, cleanup, self.db, self.nats, cpu, 0, extra_env) for n in names]
        for node in self.nodes:  # all at once: their start-up overlaps
            node.start()
        for node in self.nodes:
            node.wait_ready()

    def cpu_seconds(self) -> float:
        return sum(n.cpu_seconds() for n in self.nodes if n.proc and n.proc.poll() is None)

    def nats_cpu_seconds(self) -> float:
        if self.nats is None or self.nats.proc is None:
            return 0.0
        with contextlib.suppress(OSError):
            return cpu_seconds(self.nats.pid)
        return 0.0

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self.nats is not None:
            self.nats.stop()


class Meter:
    """CPU of the nodes, NATS and PostgreSQL between start() and stop()."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def _sample(self) -> tuple[float, float, float, float, float]:
        messages = 0.0
        if self.cluster.nats is not None:
            with contextlib.suppress(OSError, ValueError, KeyError, http.client.HTTPException):
                messages = float(self.cluster.nats.messages())
        return (
            time.monotonic(),
            self.cluster.cpu_seconds(),
            self.cluster.nats_cpu_seconds(),
            postgres_cpu_seconds(),
            messages,
        )

    def start(self) -> None:
        self.a = self._sample()

    def stop(self) -> dict[str, float]:
        b = self._sample()
        wall, nodes, nats, pg, messages = (y - x for x, y in zip(self.a, b, strict=True))
        return {
            "wall_s": wall,
            "server_cpu_s": nodes,
            "server_core_use": nodes / wall,
            "nats_core_use": nats / wall,
            "postgres_core_use": pg / wall,
            "nats_messages": messages,
        }


@dataclass
class Context:
    plan: Plan
    cleanup: Cleanup
    addresses: Addresses
    cpus: tuple[int | None, int | None]
    workers: int = 0  # 0: separate nodes on separate ports
    cluster_code: bool = True
    notes: list[str] = field(default_factory=list)
    node_env: dict[str, str] = field(default_factory=dict)  # more VOLTA_* for every node

    def pool(self, port: int, processes: int) -> GeneratorPool:
        pool = GeneratorPool(HOST, port, processes, self.cpus[1])
        self.cleanup.pools.append(pool)
        return pool

    def fleet(self, processes: int) -> FleetPool:
        pool = FleetPool(processes, self.cpus[1])
        self.cleanup.pools.append(pool)
        return pool

    def cluster(self, n: int, clustered: bool = True, workers: int = 0) -> Cluster:
        cluster = Cluster(self.cleanup, n, clustered, self.cpus[0], workers, self.node_env)
        self.cleanup.clusters.append(cluster)
        return cluster


# --- phase 1: stations held -------------------------------------------------------------------


def targets(ctx: Context, cluster: Cluster, n: int) -> list[int]:
    """The OCPP port each generator pool aims at: one per node, or the shared one."""
    if ctx.workers:
        return [cluster.nodes[0].ocpp_port] * n
    return [node.ocpp_port for node in cluster.nodes]


def phase_hold(ctx: Context) -> dict[str, Any]:
    plan = ctx.plan
    nodes = 2
    cluster = ctx.cluster(nodes, workers=ctx.workers)
    per_node = plan.hold_per_node
    workers = max(1, math.ceil(per_node / PER_PROCESS))
    pools = [ctx.pool(port, workers) for port in targets(ctx, cluster, nodes)]
    try:
        for pool in pools:
            pool.run("ping", {}, 60)
        rss0 = [r for node in cluster.nodes for r in node.rss_kib()]
        t0 = time.monotonic()
        for k, pool in enumerate(pools):
            new = [(f"H{k}-{i:05d}", k * per_node + i) for i in range(per_node)]
            pool.submit(
                "connect",
                [
                    {"stations": part, "sources": srcs}
                    for part, srcs in zip(
                        pool.split(new), ctx.addresses.take(per_node, workers), strict=True
                    )
                ],
            )
        connects = [merge(pool.collect("connect", 1800)) for pool in pools]
        connect_s = time.monotonic() - t0
        reference = time.monotonic()
        for pool in pools:
            pool.run("hold_start", {"period": plan.hold_period, "reference": reference}, 60)
        time.sleep(2.0)
        start = time.monotonic()
        end = start + plan.hold_seconds
        for pool in pools:
            pool.submit("hold_measure", {"start": start, "end": end})
        meter = Meter(cluster)
        meter.start()
        sleep_until(end)
        usage = meter.stop()
        raw = [pool.collect("hold_measure", plan.hold_seconds + 120) for pool in pools]
        held = merge([r for rs in raw for r in rs])
        per = [merge(rs) for rs in raw]
        rss = [r for node in cluster.nodes for r in node.rss_kib()]
        # Every node's view of the whole deployment (its presence map): each
        # should count every station held, whichever node holds it.
        online: dict[str, int | None] = {}
        for node in cluster.nodes:
            online[node.name] = None
            with contextlib.suppress(Exception):
                _, health = node.api.get("/healthz")
                online[node.name] = health.get("stations_connected")
        held_by: dict[str, int] = {}
        with contextlib.suppress(Exception):
            _, rows = cluster.nodes[0].api.get("/api/v1/nodes")
            held_by = {row["id"]: row["stations"] for row in rows}
        for pool in pools:
            pool.run("close", {}, 600)
        return {
            "nodes": nodes,
            "stations": nodes * per_node,
            "connected": sum(c.get("open", 0) for c in connects),
            "connect_failed": sum(c.get("failed_count", 0) for c in connects),
            "connect_s": connect_s,
            "connect": connects,
            "heartbeats": held,
            "heartbeats_per_node": per,
            "rss_before_kib": rss0,
            "rss_kib": rss,
            "online_seen_by": online,
            "stations_per_node": held_by,
            **usage,
        }
    finally:
        for pool in pools:
            pool.close()
        cluster.stop()


# --- phase 2: scaling ---------------------------------------------------------------------------


class Setup:
    """One configuration of the scaling phase: its cluster, its generators (one per
    node port, the stations split between them), connected and ready."""

    def __init__(
        self, ctx: Context, key: str, nodes: int, clustered: bool, label: str, workers: int
    ) -> None:
        self.key, self.label, self.nodes, self.clustered = key, label, nodes, clustered
        self.cluster = ctx.cluster(nodes, clustered, workers=workers)
        if workers:
            ports = [self.cluster.nodes[0].ocpp_port] * nodes
        else:
            ports = [n.ocpp_port for n in self.cluster.nodes]
        self.pools = [ctx.pool(port, 1) for port in ports]
        self.results: list[dict[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []

    def connect(self, ctx: Context, stations: int) -> None:
        for k, pool in enumerate(self.pools):
            mine = [(f"TP{k}-{i:04d}", i) for i in range(k, stations, len(self.pools))]
            pool.submit(
                "connect",
                {
                    "stations": mine,
                    "sources": ctx.addresses.take(len(mine), 1)[0],
                    "start_transaction": True,
                },
            )
        setups = [merge(pool.collect("connect", 300)) for pool in self.pools]
        connected = sum(s.get("connected", 0) for s in setups)
        if connected != stations:
            raise RuntimeError(f"{self.label}: only {connected} of {stations} set up: {setups}")

    def window(self, plan: Plan) -> None:
        start = time.monotonic() + plan.warmup
        end = start + plan.duration
        for pool in self.pools:
            pool.submit("throughput", {"start": start, "end": end})
        meter = Meter(self.cluster)
        sleep_until(start)
        meter.start()
        sleep_until(end)
        usage = meter.stop()
        wait = plan.duration + 120
        results = [r for pool in self.pools for r in pool.collect("throughput", wait)]
        self.results += results
        count = sum(r["results"] for r in results)
        self.rounds.append(
            {
                "round_trips_per_s": count / plan.duration,
                "round_trips_per_server_cpu_s": count / usage["server_cpu_s"]
                if usage["server_cpu_s"]
                else None,
                "results": count,
                **usage,
            }
        )

    def summary(self, plan: Plan) -> dict[str, Any]:
        out = merge(self.results)
        rounds = self.rounds
        cpu = sum(r["server_cpu_s"] for r in rounds)
        wall = sum(r["wall_s"] for r in rounds)
        out.update(
            {
                "label": self.label,
                "nodes": self.nodes,
                "clustered": self.clustered,
                "rounds": rounds,
                "round_trips_per_s": out["results"] / (plan.duration * len(rounds)),
                "round_trips_per_server_cpu_s": out["results"] / cpu if cpu else None,
                "server_cpu_s": cpu,
                "server_core_use": cpu / wall if wall else None,
                "nats_core_use": sum(r["nats_core_use"] for r in rounds) / len(rounds),
                "nats_messages_per_round_trip": sum(r["nats_messages"] for r in rounds)
                / max(1, out["results"]),
                "postgres_core_use": sum(r["postgres_core_use"] for r in rounds) / len(rounds),
            }
        )
        return out

    def close(self) -> None:
        for pool in self.pools:
            pool.close()
        self.cluster.stop()


def per_cpu(rounds: list[dict[str, Any]]) -> float | None:
    cpu = sum(r["server_cpu_s"] for r in rounds)
    return sum(r["results"] for r in rounds) / cpu if cpu else None


def phase_scaling(ctx: Context) -> dict[str, Any]:
    """One process without NATS (the reference) stays up; each other
    configuration runs beside it in turn, and the two are measured one after
    the other, round after round: what the noise of a shared machine does to
    one, it does to the other too. (All four at once would need more
    PostgreSQL connections than a default server allows.)"""
    plan = ctx.plan
    others = [
        ("two", 2, True, "2 nodes, NATS" if not ctx.workers else "--workers 2", ctx.workers),
        ("one_nats", 1, True, "1 node, NATS", 0),
        # Two processes that know nothing of each other (each its own stations):
        # what splitting the load costs, without the cluster's own work.
        ("two_solo", 2, False, "2 processes, no NATS", 0),
    ]
    out: dict[str, Any] = {}
    one = Setup(ctx, "one", 1, False, "1 process, no NATS", 0)
    try:
        one.connect(ctx, plan.stations)
        for key, nodes, clustered, label, workers in others:
            other = Setup(ctx, key, nodes, clustered, label, workers)
            try:
                other.connect(ctx, plan.stations)
                mark = len(one.rounds)
                for r in range(plan.rounds):
                    print(f"    scaling: {label}, round {r + 1} of {plan.rounds}", flush=True)
                    for setup in (one, other) if r % 2 == 0 else (other, one):
                        setup.window(plan)
                out[key] = other.summary(plan)
                mine, ref = per_cpu(other.rounds), per_cpu(one.rounds[mark:])
                out[key]["per_cpu_ratio_to_one"] = mine / ref if mine and ref else None
                out[key]["throughput_ratio_to_one"] = sum(x["results"] for x in other.rounds) / max(
                    1, sum(x["results"] for x in one.rounds[mark:])
                )
                out[key]["per_cpu_ratio_by_round"] = [
                    (x["round_trips_per_server_cpu_s"] or 0)
                    / (y["round_trips_per_server_cpu_s"] or 1)
                    for x, y in zip(other.rounds, one.rounds[mark:], strict=True)
                ]
            finally:
                other.close()
        out["one"] = one.summary(plan)
    finally:
        one.close()
    two = out.get("two") or {}
    out["per_cpu_ratio"] = two.get("per_cpu_ratio_to_one")
    out["throughput_ratio"] = two.get("throughput_ratio_to_one")
    out["per_cpu_ratio_by_round"] = two.get("per_cpu_ratio_by_round")
    out["per_cpu_ratio_solo"] = dig(out, "two_solo", "per_cpu_ratio_to_one")
    out["per_cpu_ratio_one_nats"] = dig(out, "one_nats", "per_cpu_ratio_to_one")
    return out


# --- phase 3: a command across nodes --------------------------------------------------------


def phase_command(ctx: Context) -> dict[str, Any]:
    if ctx.workers:
        return {"skipped": "with --workers the API port is shared: no choosing the node"}
    if not ctx.cluster_code:
        return {"skipped": "volta.cluster is not in this tree: a command cannot cross nodes"}
    plan = ctx.plan
    cluster = ctx.cluster(2)
    a, b = cluster.nodes
    fleet = ctx.fleet(1)
    try:
        started = fleet.run(
            "start",
            {"stations": [("CMD-0", 0, False)], "endpoints": [(HOST, b.ocpp_port)],
             "sources": ctx.addresses.take(1, 1)[0], "timeout": 60},
            120,
        )[0]  # fmt: skip
        if started["ready"] != 1:
            raise RuntimeError(f"the station did not come online on b: {started}")
        path = "/api/v1/stations/CMD-0/commands/GetConfiguration"
        # The station must be known online to a (presence through NATS) first.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, body = a.api.request("POST", path, {})
            if status == 200 and body.get("status") == "accepted":
                break
            time.sleep(0.2)
        times: dict[str, list[float]] = {"a": [], "b": []}
        statuses: dict[str, dict[str, int]] = {"a": {}, "b": {}}
        for _ in range(20):  # warm both paths
            a.api.request("POST", path, {})
            b.api.request("POST", path, {})
        for i in range(plan.commands):
            order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
            for name, node in order:
                t = time.perf_counter()
                status, body = node.api.request("POST", path, {})
                times[name].append(time.perf_counter() - t)
                key = f"{status} {body.get('status') if isinstance(body, dict) else body}"
                statuses[name][key] = statuses[name].get(key, 0) + 1
        pa, pb = percentiles(times["a"]), percentiles(times["b"])
        return {
            "commands": plan.commands,
            "through_a": {**pa, "outcomes": statuses["a"]},
            "through_b": {**pb, "outcomes": statuses["b"]},
            "p50_extra_ms": (pa["p50_ms"] or 0) - (pb["p50_ms"] or 0),
            "p99_extra_ms": (pa["p99_ms"] or 0) - (pb["p99_ms"] or 0),
            "example": body,
        }
    finally:
        fleet.close()
        cluster.stop()


# --- phase 4: failover ------------------------------------------------------------------------


def fleet_status(fleet: FleetPool, since: float) -> dict[str, Any]:
    parts = fleet.run("status", {"since": since}, 60)
    last = [p["last_back"] for p in parts if p["last_back"] is not None]
    return {
        "back": sum(p["back"] for p in parts),
        "online": sum(p["online"] for p in parts),
        "last_back": max(last) if last else None,
    }


def phase_failover(ctx: Context) -> dict[str, Any]:
    plan = ctx.plan
    n, m = plan.failover_stations, plan.failover_transactions
    cluster = ctx.cluster(2, workers=0)
    a, b = cluster.nodes
    processes = max(1, math.ceil(n / PER_FLEET_PROCESS))
    fleet = ctx.fleet(processes)
    every = max(1, n // max(1, m))
    chargers = [(f"FO-{i:05d}", i, i % every == 0 and i // every < m) for i in range(n)]
    try:
        t0 = time.monotonic()
        started = fleet.run(
            "start",
            [
                {"stations": part, "endpoints": [(HOST, b.ocpp_port)], "sources": srcs,
                 "timeout": 300, "backoff": plan.backoff}
                for part, srcs in zip(
                    fleet.split(chargers), ctx.addresses.take(2 * n, processes), strict=True
                )
            ],
            600,
        )  # fmt: skip
        ready = sum(s["ready"] for s in started)
        connect_s = time.monotonic() - t0
        if ready != n:
            raise RuntimeError(f"only {ready} of {n} chargers ready on b: {merge(started)}")
        fleet.run("endpoints_set", {"endpoints": [(HOST, a.ocpp_port), (HOST, b.ocpp_port)]}, 60)
        fleet.run("meter", {"on": True, "interval": plan.meter_interval}, 60)
        time.sleep(plan.settle)
        seen_before = None
        with contextlib.suppress(Exception):
            seen_before = a.api.online("FO-")
        b.kill()
        killed = time.monotonic()
        print(f"    failover: node b killed with {n:,} chargers on it", flush=True)
        track = ctx.cluster_code
        first_all_back = first_db = first_api = b_gone = None
        samples: list[dict[str, Any]] = []
        deadline = killed + plan.failover_timeout
        while time.monotonic() < deadline:
            now = time.monotonic()
            st = fleet_status(fleet, killed)
            on_a = None
            if track:
                with contextlib.suppress(Exception):
                    on_a = cluster.db.fetch(
                        "SELECT count(*) FROM stations WHERE id LIKE 'FO-%' "
                        "AND connection_id LIKE 'a/%'"
                    )[0][0]
            if b_gone is None and track:
                with contextlib.suppress(Exception):
                    if not cluster.db.fetch("SELECT 1 FROM nodes WHERE id = 'b'"):
                        b_gone = now - killed
            api = None
            if first_all_back is not None and first_api is None:
                with contextlib.suppress(Exception):
                    api = a.api.online("FO-")
            samples.append(
                {"t": round(now - killed, 2), "back": st["back"], "db_on_a": on_a, "api": api}
            )
            if first_all_back is None and st["back"] >= n:
                first_all_back = (st["last_back"] or now) - killed
            if first_db is None and on_a is not None and on_a >= n:
                first_db = now - killed
            if first_api is None and api is not None and api >= n:
                first_api = now - killed
            if (
                first_all_back is not None
                and (first_db is not None or not track)
                and (b_gone is not None or not track)
                and (first_api is not None)
            ):
                break
            time.sleep(0.5)
        time.sleep(plan.after)
        fleet.run("meter", {"on": False}, 60)
        time.sleep(plan.in_flight)
        ledgers = fleet.run("ledger", {}, 120)
        check = check_failover(cluster.db, [c for lg in ledgers for c in lg["chargers"]])
        failures: dict[str, int] = {}
        close_codes: dict[str, int] = {}
        server_calls: dict[str, int] = {}
        for lg in ledgers:
            for k, v in lg["close_codes"].items():
                close_codes[k] = close_codes.get(k, 0) + v
            for k, v in lg["calls_from_server"].items():
                server_calls[k] = server_calls.get(k, 0) + v
            for k, v in lg["failures"].items():
                failures[k] = failures.get(k, 0) + v
        fleet.close()
        return {
            "stations": n,
            "transactions": m,
            "connect_s": connect_s,
            "online_on_a_before_kill": seen_before,
            "seconds_to_all_reconnected": first_all_back,
            "seconds_to_all_held_by_a_db": first_db,
            "seconds_to_all_online_api_a": first_api,
            "seconds_to_all_online": max(
                x for x in (first_all_back, first_db, first_api, 0.0) if x is not None
            )
            if first_all_back is not None and first_api is not None
            else None,
            "seconds_until_b_lease_gone": b_gone,
            "tracked_connection_id": track,
            "samples": samples[:: max(1, len(samples) // 40)],
            "drops": sum(lg["drops"] for lg in ledgers),
            "failures": failures,
            "close_codes": close_codes,
            "server_calls": server_calls,
            **check,
        }
    finally:
        fleet.close()
        cluster.stop()


def check_failover(db: Database, chargers: list[dict[str, Any]]) -> dict[str, Any]:
    """Every acknowledged StartTransaction and MeterValues in the database; no
    transaction twice."""
    txs = db.fetch(
        "SELECT id, station_id, evse_id, status FROM transactions WHERE station_id LIKE 'FO-%'"
    )
    mvs = db.fetch(
        "SELECT station_id, transaction_id, raw_value FROM meter_values "
        "WHERE station_id LIKE 'FO-%' AND measurand = 'Energy.Active.Import.Register'"
    )
    by_id = {row[0]: row for row in txs}
    per_station: dict[str, int] = {}
    active: dict[tuple[str, Any], int] = {}
    for _, station, evse, status in txs:
        per_station[station] = per_station.get(station, 0) + 1
        if status == "Active":
            active[(station, evse)] = active.get((station, evse), 0) + 1
    stored: dict[tuple[str, Any], dict[str, int]] = {}
    for station, tx, raw in mvs:
        bucket = stored.setdefault((station, tx), {})
        bucket[str(raw)] = bucket.get(str(raw), 0) + 1
    lost: list[str] = []
    acked_samples = acked_starts = 0
    for c in chargers:
        if c["start_acked"]:
            acked_starts += 1
            row = by_id.get(c["transaction_id"])
            if row is None or row[1] != c["id"]:
                lost.append(f"{c['id']}: StartTransaction -> {c['transaction_id']}")
        bucket = stored.get((c["id"], c["transaction_id"]), {})
        for seq in c["samples"]:
            acked_samples += 1
            if str(seq * 10) not in bucket:
                lost.append(f"{c['id']}: MeterValues #{seq}")
    twice = sorted(s for s, k in per_station.items() if k > 1)
    two_active = sorted(f"{s}/{e}" for (s, e), k in active.items() if k > 1)
    stored_twice = sum(k - 1 for bucket in stored.values() for k in bucket.values() if k > 1)
    return {
        "acked_starts": acked_starts,
        "acked_samples": acked_samples,
        "lost": len(lost),
        "lost_examples": lost[:10],
        "duplicate_sessions": len(twice) + len(two_active),
        "stations_with_two_transactions": twice[:10],
        "two_active_on_one_connector": two_active[:10],
        "samples_stored_twice": stored_twice,
        "resent": sum(c["resent"] for c in chargers),
        "reconnections": sum(max(0, c["connections"] - 1) for c in chargers),
    }


# --- reporting ---------------------------------------------------------------------------------


def f(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "mib":
        return f"{value / 1024:,.0f}"
    return format(value, spec)


def verdict(value: Any, target: float, below: bool = True, unit: str = "") -> str:
    """met / MISSED, and by how much."""
    if not isinstance(value, int | float):
        return "not measured"
    ok = value <= target if below else value >= target
    margin = abs(value - target)
    spec = ".2f" if abs(target) < 2 else ".1f"
    side = "under" if value < target else "over"
    return f"{'met' if ok else 'MISSED'} ({side} by {margin:{spec}}{unit})"


def table(report: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(measure, value, target, verdict) rows."""
    r = report["results"]
    rows: list[tuple[str, str, str, str]] = []
    hold = r.get("hold") or {}
    if hold and "error" not in hold:
        hb = hold["heartbeats"]
        rss = hold.get("rss_kib") or []
        rows += [
            (f"hold: stations connected ({hold['nodes']} nodes)",
             f"{hold['connected']:,} of {hold['stations']:,}", "", ""),
            ("hold: time to connect all (s)", f(hold["connect_s"], ".0f"), "", ""),
            ("hold: heartbeat p50 (ms)", f(hb.get("p50_ms"), ".1f"), "", ""),
            ("hold: heartbeat p99 (ms)", f(hb.get("p99_ms"), ".1f"), "<= 20",
             verdict(hb.get("p99_ms"), 20, unit=" ms")),
            ("hold: heartbeat max (ms)", f(hb.get("max_ms"), ".1f"), "", ""),
            ("hold: heartbeats answered", f(hb.get("results"), ",d"), "", ""),
            ("hold: stations per node (GET /api/v1/nodes)",
             " / ".join(f"{v:,}" for v in (hold.get("stations_per_node") or {}).values()), "", ""),
            ("hold: stations online as each node sees them (/healthz)",
             " / ".join(f(v, ",d") for v in (hold.get("online_seen_by") or {}).values()),
             f"{hold['stations']:,} each", ""),
            ("hold: RSS per node (MiB)", " / ".join(f(x, "mib") for x in rss), "", ""),
            ("hold: nodes' CPU (cores busy)", f(hold.get("server_core_use"), ".2f"), "", ""),
        ]  # fmt: skip
    sc = r.get("scaling") or {}
    if sc and "error" not in sc:
        for key in ("one", "one_nats", "two", "two_solo"):
            run = sc.get(key) or {}
            if run:
                rows += [
                    (f"scaling: {run['label']}: round trips/s",
                     f(run.get("round_trips_per_s"), ",.0f"), "", ""),
                    (f"scaling: {run['label']}: per server CPU-second",
                     f(run.get("round_trips_per_server_cpu_s"), ",.0f"), "", ""),
                    (f"scaling: {run['label']}: nodes' cores busy",
                     f(run.get("server_core_use"), ".2f"), "", ""),
                ]  # fmt: skip
                if run.get("clustered"):
                    rows.append(
                        (f"scaling: {run['label']}: NATS messages per round trip",
                         f(run.get("nats_messages_per_round_trip"), ".3f"), "", "")
                    )  # fmt: skip
                rows += [
                    (f"scaling: {run['label']}: PostgreSQL cores busy (every database)",
                     f(run.get("postgres_core_use"), ".2f"), "", ""),
                ]  # fmt: skip
        rows += [
            ("scaling: 2 nodes / 1 process, per CPU-second", f(sc.get("per_cpu_ratio"), ".2f"),
             ">= 0.90", verdict(sc.get("per_cpu_ratio"), 0.9, below=False)),
            ("scaling: 1 node with NATS / 1 process, per CPU-second",
             f(sc.get("per_cpu_ratio_one_nats"), ".2f"), "", ""),
            ("scaling: 2 processes without NATS / 1 process, per CPU-second",
             f(sc.get("per_cpu_ratio_solo"), ".2f"), "", ""),
            ("scaling: 2 nodes / 1 process, round by round",
             " / ".join(f(x, ".2f") for x in sc.get("per_cpu_ratio_by_round") or []), "", ""),
            ("scaling: 2 nodes / 1 process, round trips/s", f(sc.get("throughput_ratio"), ".2f"),
             "", ""),
        ]  # fmt: skip
    cmd = r.get("command") or {}
    if cmd and "error" not in cmd and "skipped" not in cmd:
        rows += [
            ("command: through b's API (local) p50 / p99 (ms)",
             f"{f(cmd['through_b']['p50_ms'], '.1f')} / {f(cmd['through_b']['p99_ms'], '.1f')}",
             "", ""),
            ("command: through a's API (to b) p50 / p99 (ms)",
             f"{f(cmd['through_a']['p50_ms'], '.1f')} / {f(cmd['through_a']['p99_ms'], '.1f')}",
             "", ""),
            ("command: p99(a) - p99(b) (ms)", f(cmd["p99_extra_ms"], ".1f"), "<= 5",
             verdict(cmd["p99_extra_ms"], 5, unit=" ms")),
        ]  # fmt: skip
    fo = r.get("failover") or {}
    if fo and "error" not in fo:
        rows += [
            (f"failover: {fo['stations']:,} chargers on b ({fo['transactions']} charging), "
             "s until all online on a", f(fo.get("seconds_to_all_online"), ".1f"), "<= 30",
             verdict(fo.get("seconds_to_all_online"), 30, unit=" s")),
            ("failover: s until every charger reconnected",
             f(fo.get("seconds_to_all_reconnected"), ".1f"), "", ""),
            ("failover: s until b's row left `nodes` (lease 6 s)",
             f(fo.get("seconds_until_b_lease_gone"), ".1f"), "", ""),
            ("failover: acknowledged messages lost",
             f"{fo['lost']} of {fo['acked_starts'] + fo['acked_samples']:,}", "0",
             "met" if fo["lost"] == 0 else "MISSED"),
            ("failover: duplicate sessions", f(fo["duplicate_sessions"], "d"), "0",
             "met" if fo["duplicate_sessions"] == 0 else "MISSED"),
            ("failover: transaction messages sent again", f(fo["resent"], ",d"), "", ""),
        ]  # fmt: skip
    for name in PHASES:
        phase = r.get(name) or {}
        if "error" in phase:
            rows.append((f"{name}: FAILED", phase["error"][:80], "", ""))
        elif "skipped" in phase:
            rows.append((f"{name}: skipped", phase["skipped"], "", ""))
    return rows


def render(report: dict[str, Any], markdown: bool) -> str:
    rows = table(report)
    header = ("measure", "value", "target", "")
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|---|---:|---:|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(widths[i]) if i != 1 else c.rjust(widths[i]) for i, c in enumerate(row))
        for row in [header, *rows]
    )


def anomalies(report: dict[str, Any]) -> list[str]:
    r = report["results"]
    notes: list[str] = []
    hold = r.get("hold") or {}
    if hold and "error" not in hold:
        notes += check_clean("hold heartbeats", hold["heartbeats"])
        for name, seen in (hold.get("online_seen_by") or {}).items():
            if seen != hold["stations"]:
                notes.append(
                    f"hold: node {name} saw {seen} of the {hold['stations']:,} stations online"
                )
        if hold.get("connect_failed"):
            notes.append(f"hold: {hold['connect_failed']} stations failed to connect")
    for key in ("one", "one_nats", "two", "two_solo"):
        run = dig(r, "scaling", key) or {}
        notes += check_clean(f"scaling {run.get('label', key)}", run)
    fo = r.get("failover") or {}
    odd = {k: v for k, v in (fo.get("failures") or {}).items() if "refused" not in k}
    if odd:  # a refused connection (the dead node) is expected: the next node is tried
        notes.append(f"failover: charger-side failures (retried): {odd}")
    return notes


def update_doc(runs: dict[str, dict[str, Any]]) -> None:
    lines = [
        "## Scale-out",
        "",
        "Several Volta nodes on one PostgreSQL database and one NATS server, on",
        "127.0.0.1, as docs/scale-out.md describes. One command starts a",
        "`nats-server -js` of its own, a fresh PostgreSQL database per phase and the",
        "nodes (`volta serve` subprocesses, each with its own OCPP and API port,",
        "`VOLTA_NATS_URL` and `VOLTA_NODE_ID` a, b), runs the load generators, checks",
        "and stops everything, prints the table, writes `bench/results/scale_out.json`",
        "and rewrites this section:",
        "",
        "```",
        ".venv/bin/python bench/scale_out.py            # ~15 min: 2 x 19,000 idle, 5,000 failover",
        ".venv/bin/python bench/scale_out.py --quick    # ~4 min: 2 x 2,000 idle, 1,000 failover",
        ".venv/bin/python bench/scale_out.py --workers  # the nodes as volta serve --workers 2",
        "```",
        "",
        "The nodes run on CPU 0 (taskset), the load generators on CPU 1;",
        "PostgreSQL and nats-server where the kernel puts them. How each figure",
        "is made:",
        "",
        "- hold: 2 nodes, each given half the stations the way a TCP load balancer",
        "  would (the generator connects each half to one node's port, from several",
        "  loopback source addresses); each station boots, then sends a Heartbeat every",
        "  60 s, spread evenly; latency over the heartbeats answered in the measured",
        "  window while all are held; RSS (VmRSS) of each node after it; each node's",
        "  `/healthz` count of stations online (its presence map: every station of",
        "  the deployment, whichever node holds it). Every process raises its",
        "  open-files limit to the hard limit (20,000 here).",
        "- scaling: bench/run_load.py's throughput mix (each station with a",
        "  transaction sends CALLs back to back: 60 % MeterValues, 20 %",
        "  StatusNotification, 20 % Heartbeat) from 200 stations. The reference,",
        "  one Volta process without NATS, stays up; beside it in turn run two nodes",
        "  with NATS (100 stations each), one node with NATS, and two processes",
        "  without NATS (each on its own, 100 stations each: what splitting the load",
        "  costs without the cluster's work). The pair is measured one after the",
        "  other, round after round, so the noise of the shared machine falls on",
        "  both; each ratio is against the reference's windows of the same pair.",
        "  Per server CPU-second divides the round trips by the CPU time of the",
        "  configuration's processes together (`/proc/<pid>/stat`); all nodes share",
        "  CPU 0, so two cannot do more than one core's work: the ratio per",
        "  CPU-second is the figure that says what running several nodes costs.",
        "- command: a station (bench/fleet.py) connected to node b; GetConfiguration",
        "  through `POST /api/v1/stations/{id}/commands/GetConfiguration` on node a",
        "  (which asks node b over NATS) and on node b, alternately, one at a time,",
        "  over kept-alive HTTP connections; the latency is the API call's, client",
        "  side.",
        "- failover: chargers (bench/fleet.py: OCPP 1.6; a charger whose connection",
        '  drops waits 1-10 s at random and connects again through the "load',
        '  balancer", a random node and the next when that refuses; a transaction',
        "  message not answered is sent again) all on node b, some charging",
        "  (StartTransaction answered, then MeterValues every ~3 s with an energy",
        '  register of their own); node b is killed with SIGKILL. "All online on a":',
        "  every charger has reconnected and had its StatusNotification answered,",
        "  every station's `connection_id` names node a, and node a's",
        "  `GET /api/v1/stations` lists all online. Lost: a StartTransaction or",
        "  MeterValues the charger got a CALLRESULT for without its row in the",
        "  database. Duplicate sessions: a station with two transactions, or two",
        "  Active on one connector.",
        "",
        "The machine has 2 cores shared with other work (other sessions' test runs",
        "during these runs): the figures are noisy, and the ratios say more than the",
        "absolute values. Reading the scaling rows: one node with NATS does the same",
        "work per message as one process without (NATS messages per round trip:",
        "0.000; the nodes talk on NATS when a station connects, not per message), so",
        "its ratio to the reference shows how noisy the run was; two processes",
        "without NATS show what splitting the load over two event loops and two",
        "group-commit writers costs by itself, apart from the cluster. The nodes are",
        "far from saturated here (cores busy well under 1: the shared machine is the",
        "limit), and a process that is not saturated spends more CPU per message",
        "(fewer messages per wake-up and per commit), the more so at half the load.",
    ]
    for mode, title in (("full", "Full run"), ("quick", "Quick run (`--quick`)")):
        report = runs.get(mode)
        if not report:
            continue
        m = report["machine"]
        idle = ", ".join(f"{x:.0%}" for x in report["cpu_idle_before"])
        lines += [
            "",
            f"### {title}",
            "",
            "```",
            report["command"],
            "```",
            "",
            f'Machine: {m["nproc"]} cores, CPU "{m["cpu"]}", {m["memory_gib"]} GiB, Python',
            f"{m['python']}, Linux {m['kernel']}, open files {m['nofile']:,}; PostgreSQL and",
            f"nats-server {report.get('nats_version', '?')} on the same machine. Volta at",
            f"commit {report.get('volta_revision', 'unknown')}"
            + (f", nodes as `volta serve --workers {report['workers']}`" if report.get("workers")
               else "")
            + ".",
            f"Run at {report['started']} ({report['elapsed_s'] / 60:.1f} min); CPU idle just",
            f"before: {idle}; load average before / after: {report['loadavg_before']} /",
            f"{report['loadavg_after']}.",
            "",
            render(report, markdown=True),
        ]  # fmt: skip
        notes = report.get("anomalies", []) + report.get("notes", [])
        if notes:
            lines += ["", "Noted during this run:", ""] + [f"- {n}" for n in notes]
    section = "\n".join(lines) + "\n"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    start = text.find("\n## Scale-out\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[nxt:] if nxt >= 0 else "")
    DOC.write_text(text)


def load_runs() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(OUT.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)}


def nats_version() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            [NATS_SERVER, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip().split()[-1] if out.stdout.strip() else None
    return None


# --- main ----------------------------------------------------------------------------------------


class ScaleCleanup(Cleanup):
    """run_load's clean-up, with the clusters; `keep_logs`: the nodes' logs of
    the last run are copied to bench/results/logs (not for tests)."""

    def __init__(self, keep_logs: bool = True) -> None:
        super().__init__()
        self.clusters: list[Cluster] = []
        self.keep_logs = keep_logs

    def run(self) -> None:
        if self.done:
            return
        for pool in self.pools:
            with contextlib.suppress(Exception):
                pool.close(timeout=10)
        self.pools.clear()
        for cluster in self.clusters:
            with contextlib.suppress(Exception):
                cluster.stop()
        if self.keep_logs:
            super().run()
            return
        self.done = True
        for proc in self.procs:
            stop_process(proc)
        for name in self.databases:
            with contextlib.suppress(Exception):
                pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="2 x 2,000 idle, 1,000 failover")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"subset of {PHASES}")
    parser.add_argument(
        "--workers",
        action="store_true",
        help="the two nodes as one `volta serve --workers 2` (one port pair, SO_REUSEPORT)",
    )
    parser.add_argument("--hold-per-node", type=int, help="idle stations per node")
    parser.add_argument("--stations", type=int, help="stations of the scaling phase (100)")
    parser.add_argument("--failover-stations", type=int, help="chargers on the killed node")
    parser.add_argument(
        "--no-pin", action="store_true", help="no taskset: nodes and generators on any CPU"
    )
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/performance.md")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the doc section from the json"
    )
    args = parser.parse_args()

    if args.report_only:
        runs = load_runs()
        for mode, report in runs.items():
            print(f"\n{mode} run, {report['started']}:")
            print(render(report, markdown=False))
        if not args.no_doc and runs:
            update_doc(runs)
        return 0

    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if set(phases) - set(PHASES):
        parser.error(f"unknown phases: {sorted(set(phases) - set(PHASES))}")
    plan = Plan.make(args.quick)
    if args.hold_per_node:
        plan.hold_per_node = args.hold_per_node
    if args.stations:
        plan.stations = args.stations
    if args.failover_stations:
        plan.failover_stations = args.failover_stations
        plan.failover_transactions = max(1, args.failover_stations // 10)
    standard = set(phases) == set(PHASES) and not (
        args.hold_per_node or args.failover_stations or args.no_pin or args.stations
    )
    mode = plan.mode if standard else "custom"
    command = " ".join([".venv/bin/python", "bench/scale_out.py", *sys.argv[1:]])

    nofile = raise_nofile()
    cleanup = ScaleCleanup()
    atexit.register(cleanup.run)

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    usable = sorted(os.sched_getaffinity(0))
    cpus: tuple[int | None, int | None] = (
        (usable[0], usable[1]) if len(usable) >= 2 and not args.no_pin else (None, None)
    )
    info = machine()
    workers = 0
    notes: list[str] = []
    if args.workers:
        if not has_workers_flag():
            parser.error("`volta serve --workers` is not in this tree")
        workers = 2
    cluster_code = has_cluster()
    if not cluster_code:
        notes.append(
            "volta.cluster is not in this tree: the nodes ran without the NATS router "
            "(each sees only its own stations; no command across nodes)"
        )
    need = plan.hold_per_node + 500
    if nofile < need:
        notes.append(f"open files limit {nofile} < {need}: the hold phase may fail")
    idle = cpu_idle()
    loadavg_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}; open files {nofile}; "
        f"CPU idle now {', '.join(f'{x:.0%}' for x in idle)}, load average {loadavg_before}"
    )
    print(f"nodes on CPU {cpus[0]}, generators on CPU {cpus[1]}; plan {asdict(plan)}")
    for note in notes:
        print(f"note: {note}")
    ctx = Context(plan, cleanup, Addresses(), cpus, workers, cluster_code, notes)
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    revision = volta_revision()
    t0 = time.monotonic()
    results: dict[str, Any] = {}
    every = {
        "hold": phase_hold,
        "scaling": phase_scaling,
        "command": phase_command,
        "failover": phase_failover,
    }
    try:
        for name in PHASES:
            if name not in phases:
                continue
            print(f"  {name} ...", flush=True)
            t = time.monotonic()
            try:
                results[name] = every[name](ctx)
            except Exception as exc:
                import traceback

                message = f"{type(exc).__name__}: {exc}"
                print(f"  {name} FAILED: {message}", flush=True)
                traceback.print_exc()
                results[name] = {"error": message}
            finally:
                for cluster in cleanup.clusters:
                    cluster.stop()
            print(f"  {name} done in {time.monotonic() - t:.0f} s", flush=True)
    except (KeyboardInterrupt, SystemExit) as exc:
        print(f"interrupted ({type(exc).__name__}); stopping everything", file=sys.stderr)
        cleanup.run()
        return 130 if isinstance(exc, KeyboardInterrupt) else int(exc.code or 1)
    finally:
        cleanup.run()

    report: dict[str, Any] = {
        "mode": mode,
        "started": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": time.monotonic() - t0,
        "command": command,
        "volta_revision": revision,
        "machine": {**info, "nofile": nofile},
        "versions": {n: package_version(n) for n in ("volta", "picows", "uvloop", "nats-py")},
        "nats_version": nats_version(),
        "workers": workers,
        "cpu_idle_before": idle,
        "loadavg_before": loadavg_before,
        "loadavg_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "plan": asdict(plan),
        "cpus": {"nodes": cpus[0], "generators": cpus[1]},
        "results": results,
        "notes": notes,
    }
    report["anomalies"] = anomalies(report)
    print()
    print(render(report, markdown=False))
    for note in report["anomalies"] + notes:
        print(f"note: {note}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = load_runs()
    runs[mode] = report
    OUT.write_text(json.dumps(runs, indent=2, default=str) + "\n")
    print(f"wrote the {mode} run into {OUT}")
    if standard and not args.no_doc:
        update_doc({k: v for k, v in runs.items() if k in ("full", "quick")})
        print(f"updated the Scale-out section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
