"""Load benchmark: Volta (SQLite, PostgreSQL) against a reference CSMS built the usual way.

One command runs everything, on loopback only, and cleans up after itself:

    .venv/bin/python bench/run_load.py           # 4-6 min
    .venv/bin/python bench/run_load.py --full    # 15-20 min: 19k idle connections, 10k storm

For each server (Volta on a fresh SQLite file, Volta on a fresh PostgreSQL
database, bench/reference_csms.py on a fresh SQLite file) it

  1. throughput: 100 stations send CALLs back to back (60 % MeterValues with 4
     sampled values, 20 % StatusNotification, 20 % Heartbeat) after one
     BootNotification and one StartTransaction each;
  2. fixed rate: the same mix at 50 % of the throughput just measured, open loop;
  3. idle hold: 1,000 then 5,000 (then 19,000) stations boot and send a Heartbeat
     every 60 s, spread evenly; heartbeat latency while held, and the server's
     RSS (VmRSS) per connection;
  4. storm: the server restarts on the same database and 2,000 (10,000) stations
     connect at once and boot; time until all are Accepted.

The server runs on the first usable CPU, the load generator (bench/loadgen.py,
one or more processes) on the second. Server CPU time comes from
/proc/<pid>/stat, so "per server CPU-second" is round trips per second of the
server process's CPU. Prints a table, writes bench/results/load.json and
replaces the "## Load" section of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import GeneratorPool, merge, source_addresses

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"  # the servers' output of the last run (not in git)
DOC = ROOT / "docs" / "performance.md"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
HOST = "127.0.0.1"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SERVERS = ("volta-sqlite", "volta-postgresql", "reference")
# Volta on one named WebSocket stack (the kinds above use the `transport`
# setting's default), for running the two side by side: --servers
# volta-sqlite-websockets,volta-sqlite-picows
TRANSPORT_SERVERS = (
    "volta-sqlite-websockets",
    "volta-sqlite-picows",
    "volta-postgresql-websockets",
    "volta-postgresql-picows",
)
LABELS = {
    "volta-sqlite": "Volta, SQLite",
    "volta-postgresql": "Volta, PostgreSQL",
    "reference": "reference",
    "volta-sqlite-websockets": "Volta, SQLite, websockets",
    "volta-sqlite-picows": "Volta, SQLite, picows",
    "volta-postgresql-websockets": "Volta, PostgreSQL, websockets",
    "volta-postgresql-picows": "Volta, PostgreSQL, picows",
}
PHASES = ("load", "hold", "storm")
PER_PROCESS = 5000  # connections per load-generator process
PER_ADDRESS = 4000  # connections per source address (28,232 ephemeral ports each)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass
class Plan:
    full: bool = False
    stations: int = 100
    warmup: float = 2.0
    duration: float = 8.0
    rate_fraction: float = 0.5
    hold_levels: tuple[int, ...] = (1000, 5000)
    hold_period: float = 60.0
    hold_seconds: float = 12.0
    storm: int = 2000
    storm_timeout: float = 120.0

    @classmethod
    def make(cls, full: bool) -> Plan:
        if not full:
            return cls()
        return cls(
            full=True,
            duration=20.0,
            hold_levels=(1000, 5000, 19000),
            hold_seconds=45.0,
            storm=10000,
            storm_timeout=180.0,
        )


# --- /proc ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def postgres_cpu_seconds() -> float:
    """CPU time of every process named postgres (its backends do Volta's queries)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = (entry / "stat").read_text()
            if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
                total += cpu_seconds(int(entry.name))
    return total


def system_busy_seconds() -> float:
    """CPU-seconds the whole machine has spent not idle, since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def other_cpu_seconds(exclude: set[int]) -> float:
    """CPU time of every user-space process but ours and PostgreSQL's, with the
    children they have reaped (a test run's short-lived processes): how busy
    the rest of the machine is."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            text = (entry / "stat").read_text()
            if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
                continue
            fields = text.rsplit(")", 1)[1].split()
            if int(fields[6]) & 0x00200000:  # PF_KTHREAD: a kernel thread
                continue
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def cpu_idle(seconds: float = 1.0) -> list[float]:
    """Idle fraction of each CPU over `seconds`."""

    def sample() -> dict[str, list[int]]:
        out = {}
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("cpu") and line[3:4].isdigit():
                name, *values = line.split()
                out[name] = [int(v) for v in values[:8]]
        return out

    a = sample()
    time.sleep(seconds)
    b = sample()
    idle = []
    for name in sorted(a, key=lambda n: int(n[3:])):
        delta = [y - x for x, y in zip(a[name], b[name], strict=True)]
        total = sum(delta) or 1
        idle.append((delta[3] + delta[4]) / total)
    return idle


def package_version(name: str) -> str | None:
    try:
        return dist_version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    python = subprocess.run(
        [PYTHON, "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": python or platform.python_version(),
        "kernel": platform.release(),
        "nofile": _nofile(),
    }


def _nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def volta_revision() -> str:
    """The commit Volta was measured at, and whether src/ had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" with uncommitted changes in src/" if dirty else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- clean-up ----------------------------------------------------------------------------


class Cleanup:
    """Everything started here, stopped at the end whatever happens."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.pools: list[GeneratorPool] = []
        self.databases: list[str] = []
        self.tmpdir = Path(tempfile.mkdtemp(prefix="volta-load-"))
        self.done = False

    def run(self) -> None:
        if self.done:
            return
        self.done = True
        for pool in self.pools:
            with contextlib.suppress(Exception):
                pool.close(timeout=10)
        for proc in self.procs:
            stop_process(proc)
        for name in self.databases:
            with contextlib.suppress(Exception):
                pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        with contextlib.suppress(OSError):
            LOGS.mkdir(parents=True, exist_ok=True)
            (LOGS / ".gitignore").write_text("*\n")
            for old in LOGS.glob("*.log"):
                old.unlink()
            for log in self.tmpdir.glob("*.log"):
                shutil.copyfile(log, LOGS / log.name)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(5)


def pg_execute(sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


# --- servers -----------------------------------------------------------------------------


class Server:
    """One server under test: a subprocess pinned to `cpu`, with its own database."""

    def __init__(self, kind: str, cleanup: Cleanup, cpu: int | None) -> None:
        self.kind = kind
        self.cleanup = cleanup
        self.cpu = cpu
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.database = ""
        self.log = cleanup.tmpdir / f"{kind}.log"
        self.generation = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def fresh_database(self) -> None:
        self.generation += 1
        if self.kind.startswith("volta-postgresql"):
            name = f"bench_load_{os.getpid()}_{self.generation}"
            self.cleanup.databases.append(name)
            pg_execute(f'CREATE DATABASE "{name}"')
            self.database = f"postgresql://postgres@127.0.0.1:5432/{name}"
        else:
            path = self.cleanup.tmpdir / f"{self.kind}-{self.generation}.db"
            self.database = f"sqlite:///{path}" if self.kind.startswith("volta") else str(path)
        if self.kind.startswith("volta"):
            # The id tag the stations present: known and Accepted, as in real life.
            # (This also creates the schema.)
            out = subprocess.run(
                [PYTHON, "-m", "volta", "tokens", "add", "BENCH-TAG"],
                env=self.env(),
                cwd=self.cleanup.tmpdir,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if out.returncode != 0:
                raise RuntimeError(f"volta tokens add failed: {out.stderr.strip()[-500:]}")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTA_")}
        if self.kind.startswith("volta"):
            env.update(
                VOLTA_DATABASE_URL=self.database,
                VOLTA_LOG_LEVEL="WARNING",
                VOLTA_AUTO_REGISTER="true",
                VOLTA_AUTO_REGISTER_STATUS="Accepted",
                # The fleet is trusted and on loopback: no rate limit on its
                # first connections (the 10,000-station storm registers them).
                VOLTA_AUTO_REGISTER_PER_MINUTE="0",
                VOLTA_AUTO_REGISTER_PER_ADDRESS_PER_MINUTE="0",
                VOLTA_API_TOKEN="bench-load-token",
            )
            transport = self.kind.rsplit("-", 1)[1]
            if transport in ("websockets", "picows"):
                env["VOLTA_TRANSPORT"] = transport
        return env

    def command(self) -> list[str]:
        if self.kind.startswith("volta"):
            api_port = free_port()
            cmd = [PYTHON, "-m", "volta", "serve", "--host", HOST]
            cmd += ["--ocpp-port", str(self.port), "--api-port", str(api_port)]
        else:
            cmd = [PYTHON, str(ROOT / "bench" / "reference_csms.py")]
            cmd += ["--host", HOST, "--port", str(self.port), "--db", self.database]
        if self.cpu is not None and shutil.which("taskset"):
            # taskset execs the server, so the pid stays the same and every
            # thread the server starts inherits the CPU.
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        return cmd

    def start(self) -> None:
        self.port = free_port()
        with self.log.open("ab") as log:
            log.write(f"\n--- start {dt.datetime.now().isoformat()} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.command(),
                env=self.env(),
                cwd=self.cleanup.tmpdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.cleanup.procs.append(self.proc)
        if self.cpu is not None and not shutil.which("taskset"):
            os.sched_setaffinity(self.proc.pid, {self.cpu})
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} exited with code {self.proc.returncode}:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), 0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} did not listen within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Addresses:
    """Fresh loopback source addresses for every batch of connections, so
    connections closed earlier (TIME_WAIT) never hold the ports a batch needs."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, connections: int, workers: int) -> list[list[str]]:
        """For each of `workers` workers, its own addresses."""
        per_worker = max(1, math.ceil(connections / workers / PER_ADDRESS))
        out = []
        for _ in range(workers):
            out.append(source_addresses(self.used, per_worker))
            self.used += per_worker
        return out


# --- the phases --------------------------------------------------------------------------


class Meter:
    """CPU used between start() and stop(): server, load generator, PostgreSQL, others."""

    def __init__(self, server: Server, pool: GeneratorPool, with_postgres: bool) -> None:
        self.server, self.pool, self.with_postgres = server, pool, with_postgres

    def _sample(self) -> tuple[float, float, float, float, float, float]:
        return (
            time.monotonic(),
            self.server.cpu_seconds(),
            sum(cpu_seconds(p) for p in self.pool.pids),
            postgres_cpu_seconds(),
            other_cpu_seconds({os.getpid(), self.server.pid, *self.pool.pids}),
            system_busy_seconds(),
        )

    def start(self) -> None:
        self.a = self._sample()

    def stop(self) -> dict[str, float]:
        b = self._sample()
        wall, server, gen, pg, other, busy = (y - x for x, y in zip(self.a, b, strict=True))
        # Two over-estimates of what the rest of the machine used: the machine's
        # busy time minus ours (counts kernel work such as our fsyncs), and
        # other processes' CPU with their reaped children's (counts a child's
        # whole life when it ends in the window). The smaller is the better one.
        # PostgreSQL is ours only when the server under test uses it.
        ours_pg = pg if self.with_postgres else 0.0
        other = min(other + pg - ours_pg, max(0.0, busy - server - gen - ours_pg))
        out = {
            "wall_s": wall,
            "server_cpu_s": server,
            "server_core_use": server / wall,
            "generator_core_use": gen / wall,
            "other_core_use": other / wall,
        }
        if self.with_postgres:
            out["postgres_cpu_s"] = pg
            out["postgres_core_use"] = pg / wall
        return out


def sleep_until(t: float) -> None:
    time.sleep(max(0.0, t - time.monotonic()))


def check_clean(name: str, r: dict[str, Any]) -> list[str]:
    """Anomalies worth reporting: CALLERRORs, unanswered CALLs, dropped connections."""
    notes = []
    for key in ("call_errors", "unanswered", "overdue", "lost_calls", "protocol_errors",
                "server_calls", "unexpected_closes", "failed_count"):  # fmt: skip
        if r.get(key):
            notes.append(f"{name}: {key}={r[key]}")
    return notes


def windowed(
    pool: GeneratorPool,
    meter: Meter,
    command: str,
    kwargs: dict[str, Any],
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    start = time.monotonic() + warmup
    end = start + duration
    pool.submit(command, {**kwargs, "start": start, "end": end})
    sleep_until(start)
    meter.start()
    sleep_until(end)
    usage = meter.stop()
    results = pool.collect(command, duration + 120)
    summary = merge(results)
    summary.update(usage)
    summary["round_trips_per_s"] = summary["results"] / duration
    summary["round_trips_per_server_cpu_s"] = (
        summary["results"] / usage["server_cpu_s"] if usage["server_cpu_s"] else None
    )
    return summary


def phase_throughput(
    server: Server, plan: Plan, addresses: Addresses, cleanup: Cleanup, gen_cpu: int | None
) -> dict[str, Any]:
    server.fresh_database()
    server.start()
    pool = GeneratorPool(HOST, server.port, 1, gen_cpu)
    cleanup.pools.append(pool)
    try:
        stations = [(f"TP-{i:04d}", i) for i in range(plan.stations)]
        connect = merge(
            pool.run(
                "connect",
                {
                    "stations": stations,
                    "sources": addresses.take(len(stations), 1)[0],
                    "start_transaction": True,
                },
                300,
            )
        )
        if connect.get("connected") != plan.stations:
            raise RuntimeError(f"only {connect.get('connected')} stations set up: {connect}")
        meter = Meter(server, pool, server.kind.startswith("volta-postgresql"))
        throughput = windowed(pool, meter, "throughput", {}, plan.warmup, plan.duration)
        target = plan.rate_fraction * throughput["round_trips_per_s"]
        fixed = windowed(pool, meter, "rate", {"rate": target}, plan.warmup, plan.duration)
        fixed["target_per_s"] = target
        return {"setup": connect, "throughput": throughput, "fixed_rate": fixed}
    finally:
        pool.close()
        server.stop()


def phase_hold(
    server: Server, plan: Plan, addresses: Addresses, cleanup: Cleanup, gen_cpu: int | None
) -> dict[str, Any]:
    server.fresh_database()
    server.start()
    workers = max(1, math.ceil(max(plan.hold_levels) / PER_PROCESS))
    pool = GeneratorPool(HOST, server.port, workers, gen_cpu)
    cleanup.pools.append(pool)
    out: dict[str, Any] = {"workers": workers, "levels": []}
    try:
        pool.run("ping", {}, 60)
        # One station comes and goes first, so imports and caches that the
        # first connection triggers are not counted per connection.
        warm = [[("WARMUP-0", 0)]] + [[]] * (workers - 1)
        pool.run("connect", [{"stations": w, "sources": []} for w in warm], 60)
        pool.run("close", {}, 60)
        time.sleep(1.0)
        out["rss_baseline_kib"] = rss0 = server.rss_kib()
        reference = time.monotonic()
        meter = Meter(server, pool, server.kind.startswith("volta-postgresql"))
        connected = 0
        for level in plan.hold_levels:
            new = [(f"ST-{i:05d}", i) for i in range(connected, level)]
            t0 = time.monotonic()
            connect = merge(
                pool.run(
                    "connect",
                    [
                        {"stations": part, "sources": srcs}
                        for part, srcs in zip(
                            pool.split(new), addresses.take(len(new), workers), strict=True
                        )
                    ],
                    900,
                )
            )
            connect_s = time.monotonic() - t0
            pool.run("hold_start", {"period": plan.hold_period, "reference": reference}, 60)
            connected = level
            time.sleep(2.0)
            rss = server.rss_kib()
            start = time.monotonic()
            end = start + plan.hold_seconds
            pool.submit("hold_measure", {"start": start, "end": end})
            meter.start()
            sleep_until(end)
            usage = meter.stop()
            held = merge(pool.collect("hold_measure", plan.hold_seconds + 120))
            rss_after = server.rss_kib()
            out["levels"].append(
                {
                    "connections": level,
                    "connected": connect.get("open"),
                    "connect_failed": connect.get("failed_count", 0),
                    "connect_s": connect_s,
                    "rss_kib": rss,
                    "rss_after_hold_kib": rss_after,
                    "rss_per_connection_kib": (rss_after - rss0) / level,
                    "heartbeats": held,
                    **usage,
                }
            )
        pool.run("close", {}, 300)
        return out
    finally:
        pool.close()
        server.stop()


def phase_storm(
    server: Server, plan: Plan, addresses: Addresses, cleanup: Cleanup, gen_cpu: int | None
) -> dict[str, Any]:
    # The same database as the idle hold, where ST-00000... connected and were
    # registered: the storm is a restart with every station coming back at once.
    if not server.database:
        server.fresh_database()
    server.start()
    workers = max(1, math.ceil(plan.storm / PER_PROCESS))
    pool = GeneratorPool(HOST, server.port, workers, gen_cpu)
    cleanup.pools.append(pool)
    try:
        pool.run("ping", {}, 60)
        time.sleep(1.0)
        rss0 = server.rss_kib()
        stations = [(f"ST-{i:05d}", i) for i in range(plan.storm)]
        at = time.monotonic() + 0.5
        until = at + plan.storm_timeout
        cpu0 = server.cpu_seconds()
        results = pool.run(
            "storm",
            [
                {"stations": part, "sources": srcs, "at": at, "until": until}
                for part, srcs in zip(
                    pool.split(stations), addresses.take(plan.storm, workers), strict=True
                )
            ],
            plan.storm_timeout + 120,
        )
        cpu = server.cpu_seconds() - cpu0
        times = array("d")
        for r in results:
            times.frombytes(r["accepted_at"])
        summary = merge(results)
        ordered = sorted(t - at for t in times)
        summary.update(
            {
                "stations": plan.storm,
                "all_accepted": len(times) == plan.storm,
                "seconds_to_all_accepted": ordered[-1] if len(times) == plan.storm else None,
                "seconds_to_half_accepted": ordered[len(ordered) // 2] if ordered else None,
                "seconds_to_last_accepted": ordered[-1] if ordered else None,
                "retries": summary.get("attempts", 0) - len(times),
                "server_cpu_s": cpu,
                "rss_before_kib": rss0,
                "rss_after_kib": server.rss_kib(),
            }
        )
        pool.run("close", {}, 300)
        return summary
    finally:
        pool.close()
        server.stop()


def run_server(
    kind: str,
    plan: Plan,
    addresses: Addresses,
    cleanup: Cleanup,
    cpus: tuple[int | None, ...],
    phases: tuple[str, ...] = PHASES,
) -> dict[str, Any]:
    server = Server(kind, cleanup, cpus[0])
    out: dict[str, Any] = {"server": kind, "label": LABELS[kind]}
    every = (("load", phase_throughput), ("hold", phase_hold), ("storm", phase_storm))
    for name, phase in (p for p in every if p[0] in phases):
        print(f"  {LABELS[kind]}: {name} ...", flush=True)
        t0 = time.monotonic()
        try:
            out[name] = phase(server, plan, addresses, cleanup, cpus[1])
        except Exception as exc:
            server.stop()
            message = f"{type(exc).__name__}: {exc}"
            print(f"  {LABELS[kind]}: {name} FAILED: {message}\n{server.log_tail(15)}", flush=True)
            out[name] = {"error": message, "log_tail": server.log_tail(40)}
        print(f"  {LABELS[kind]}: {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    return out


# --- reporting -----------------------------------------------------------------------------


def dig(d: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(d, dict):
            d = d.get(key)
        elif isinstance(d, list) and isinstance(key, int) and -len(d) <= key < len(d):
            d = d[key]
        else:
            return None
    return d


def level_of(r: dict[str, Any], connections: int) -> dict[str, Any] | None:
    for level in dig(r, "hold", "levels") or []:
        if level["connections"] == connections:
            return dict(level)
    return None


Row = tuple[str, list[Any], str, bool]  # label, value per server, format, show ratio


def rows(results: list[dict[str, Any]], plan: Plan) -> list[Row]:
    """The table; None: not measured."""

    def each(*keys: Any) -> list[Any]:
        return [dig(r, *keys) for r in results]

    tp, fr = ("load", "throughput"), ("load", "fixed_rate")
    table: list[Row] = [
        ("throughput: round trips/s", each(*tp, "round_trips_per_s"), ",.0f", True),
        ("  server core busy", each(*tp, "server_core_use"), ".0%", False),
        ("  PostgreSQL core busy", each(*tp, "postgres_core_use"), ".0%", False),
        (
            "  round trips per server CPU-second",
            each(*tp, "round_trips_per_server_cpu_s"),
            ",.0f",
            True,
        ),
        ("  latency p50 (ms)", each(*tp, "p50_ms"), ".1f", True),
        ("  latency p99 (ms)", each(*tp, "p99_ms"), ".1f", True),
        ("fixed rate: target (CALLs/s)", each(*fr, "target_per_s"), ",.0f", False),
        ("  achieved (round trips/s)", each(*fr, "round_trips_per_s"), ",.0f", False),
        ("  server core busy", each(*fr, "server_core_use"), ".0%", False),
        ("  latency p50 (ms)", each(*fr, "p50_ms"), ".1f", True),
        ("  latency p99 (ms)", each(*fr, "p99_ms"), ".1f", True),
        ("  latency max (ms)", each(*fr, "max_ms"), ".1f", True),
    ]
    for k in plan.hold_levels:
        levels = [level_of(r, k) for r in results]
        name = f"idle {k:,}"

        def at(*keys: str, levels: list[Any] = levels) -> list[Any]:
            return [dig(lv, *keys) for lv in levels]

        table += [
            (f"{name}: heartbeat p50 (ms)", at("heartbeats", "p50_ms"), ".1f", True),
            (f"{name}: heartbeat p99 (ms)", at("heartbeats", "p99_ms"), ".1f", True),
            (f"{name}: server RSS (MiB)", at("rss_after_hold_kib"), "mib", True),
            (f"{name}: RSS per connection (KiB)", at("rss_per_connection_kib"), ".1f", True),
            (f"{name}: server core busy", at("server_core_use"), ".1%", True),
        ]
    storm = f"storm {plan.storm:,}"
    table += [
        (f"{storm}: s until all Accepted", each("storm", "seconds_to_all_accepted"), ".1f", True),
        (f"{storm}: server CPU-s", each("storm", "server_cpu_s"), ".1f", True),
        (f"{storm}: failed attempts (retried)", each("storm", "retries"), ",.0f", False),
    ]
    return table


def fmt(value: Any, spec: str) -> str:
    if value is None:
        return "-"
    if spec == "mib":
        return f"{value / 1024:,.0f}"
    return format(value, spec)


def ratio(a: Any, b: Any) -> str:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return "-"
    return f"{a / b:.2f}×"


def render_table(results: list[dict[str, Any]], plan: Plan, markdown: bool) -> str:
    labels = [r["label"] for r in results]
    ref = next((i for i, r in enumerate(results) if r["server"] == "reference"), None)
    ratio_cols = [
        (i, f"{r['label'].replace('Volta, ', '')} / reference")
        for i, r in enumerate(results)
        if r["server"] != "reference" and ref is not None
    ]
    header = ["", *labels, *(name for _, name in ratio_cols)]
    body = []
    for label, values, spec, show_ratio in rows(results, plan):
        if all(v is None for v in values):
            continue
        cells = [fmt(v, spec) for v in values]
        if ref is not None:
            cells += [ratio(values[i], values[ref]) if show_ratio else "" for i, _ in ratio_cols]
        body.append([label, *cells])
    if markdown:
        # No indentation in Markdown: "  latency p50" becomes "fixed rate: latency p50".
        group = ""
        for row in body:
            if row[0].startswith("  "):
                row[0] = f"{group}: {row[0].strip()}"
            else:
                group = row[0].split(":", 1)[0]
        lines = ["| " + " | ".join(header) + " |"]
        lines.append("|---|" + "---:|" * (len(header) - 1))
        lines += ["| " + " | ".join(c.strip() for c in row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = []
    for row in [header, *body]:
        lines.append(
            "  ".join(
                c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)
            )
        )
    return "\n".join(lines)


def anomalies(results: list[dict[str, Any]]) -> list[str]:
    notes = []
    for r in results:
        name = r["label"]
        for phase in ("load", "hold", "storm"):
            if dig(r, phase, "error"):
                notes.append(f"{name}: {phase} failed: {r[phase]['error']}")
        for part in ("setup", "throughput", "fixed_rate"):
            notes += check_clean(f"{name} {part}", dig(r, "load", part) or {})
        for level in dig(r, "hold", "levels") or []:
            notes += check_clean(f"{name} idle {level['connections']}", level["heartbeats"])
            if level.get("connect_failed"):
                notes.append(f"{name} idle {level['connections']}: connect failures")
        storm = dig(r, "storm") or {}
        if storm and "error" not in storm and not storm.get("all_accepted"):
            notes.append(
                f"{name} storm: only {storm.get('accepted')} of {storm.get('stations')} Accepted"
            )
        if storm.get("failures"):
            notes.append(f"{name} storm: failed attempts {storm['failures']}")
        fixed = dig(r, "load", "fixed_rate") or {}
        if fixed.get("target_per_s") and fixed.get("round_trips_per_s"):
            shortfall = 1 - fixed["round_trips_per_s"] / fixed["target_per_s"]
            if shortfall > 0.05:
                notes.append(f"{name} fixed rate: {shortfall:.0%} below the target rate")
        gen = dig(r, "load", "throughput", "generator_core_use")
        if gen and gen > 0.8:
            notes.append(f"{name} throughput: load generator core {gen:.0%} busy (a limit?)")
    return notes


def busy_notes(results: list[dict[str, Any]]) -> list[str]:
    """Windows during which other processes (a test run, ...) used the CPU."""
    notes = []
    for r in results:
        windows = [(part, dig(r, "load", part)) for part in ("throughput", "fixed_rate")]
        windows += [(f"idle {lv['connections']}", lv) for lv in dig(r, "hold", "levels") or []]
        for name, window in windows:
            other = dig(window, "other_core_use")
            if other and other > 0.1:
                notes.append(
                    f"{r['label']} {name}: other processes used {other:.0%} of a core meanwhile"
                )
    return notes


def plan_of(report: dict[str, Any]) -> Plan:
    values = dict(report["plan"])
    values["hold_levels"] = tuple(values["hold_levels"])
    return Plan(**values)


def run_section(report: dict[str, Any]) -> list[str]:
    """One run: machine, conditions, table, anomalies."""
    plan = plan_of(report)
    m, v = report["machine"], report["versions"]
    idle = ", ".join(f"{x:.0%}" for x in report["cpu_idle_before"])
    lines = [
        "```",
        report["command"],
        "```",
        "",
        f'Machine: {m["nproc"]} cores (`nproc`), CPU "{m["cpu"]}", {m["memory_gib"]} GiB,',
        f"Python {m['python']}, Linux {m['kernel']}; websockets {v.get('websockets')},",
        f"ocpp {v.get('ocpp')}, uvloop {v.get('uvloop')}; PostgreSQL 15 on the same machine.",
        f"Volta at commit {report.get('volta_revision', 'unknown')}.",
        f"Run at {report['started']} ({report['elapsed_s'] / 60:.1f} min); CPU idle just",
        f"before: {idle}; load average before / after: {report['loadavg_before']} /",
        f"{report['loadavg_after']}.",
        "",
        render_table(report["results"], plan, markdown=True),
    ]
    notes = report["anomalies"] + report["busy"]
    if notes:
        lines += ["", "Noted during this run:", ""] + [f"- {n}" for n in notes]
    return lines


def update_doc(runs: dict[str, dict[str, Any]]) -> None:
    """Write (or replace) the "## Load" section of docs/performance.md."""
    plan = plan_of(runs.get("default") or runs["full"])
    lines = [
        "## Load",
        "",
        "Whole servers under OCPP 1.6 load on 127.0.0.1: Volta on SQLite, Volta on",
        "PostgreSQL, and a reference central system written the way a first",
        "implementation usually is (`bench/reference_csms.py`: the PyPI `ocpp`",
        "library's `ChargePoint` with `@on` handlers, `websockets` on the standard",
        "asyncio loop, and `sqlite3` with a commit per StartTransaction, MeterValues",
        "and StopTransaction). Each server runs alone on CPU 0, on a fresh database;",
        "the load generator (`bench/loadgen.py`: bare asyncio protocols on uvloop",
        "sending pre-built, pre-masked frames in which only the message id changes)",
        "runs on CPU 1. Everything is started, checked and stopped by one command,",
        "which prints the table, writes `bench/results/load.json` and rewrites this",
        "section:",
        "",
        "```",
        ".venv/bin/python bench/run_load.py          # 4-6 min",
        ".venv/bin/python bench/run_load.py --full   # 15-20 min: 19k idle, 10k storm",
        "```",
        "",
        "How each figure is made:",
        "",
        f"- throughput: {plan.stations} stations, each after one BootNotification and one",
        "  StartTransaction, send CALLs back to back, one outstanding per station:",
        "  60 % MeterValues (4 sampled values, the transaction's id, each a new",
        "  reading 1 ms after the station's last: runs before 2026-12-06 sent the",
        "  same reading again, which Volta now stores once as a repeat), 20 %",
        "  StatusNotification, 20 % Heartbeat; a warm-up, then a measured window.",
        '  Every answer is checked to be the CALLRESULT of the CALL sent. "Per server',
        "  CPU-second\" divides by the server process's CPU time (`/proc/<pid>/stat`,",
        "  all threads); with PostgreSQL the database's own processes come on top",
        '  ("PostgreSQL core busy").',
        f"- fixed rate: the same mix at {plan.rate_fraction:.0%} of that server's own throughput,",
        "  open loop (each station on a schedule); when an answer is late, the next",
        "  CALL's latency counts from when it should have been sent.",
        f"- idle: stations boot, then send a Heartbeat every {plan.hold_period:g} s, spread",
        "  evenly; latency over the heartbeats answered in a measured window while all",
        "  are held. RSS per connection: the server's VmRSS after the window minus",
        "  VmRSS before the first connection, over the connections. WebSocket pings",
        "  are on (Volta every 30 s, the reference websockets' default 20 s) and",
        "  answered.",
        "- storm: the server restarts on the database of the idle run (its stations",
        "  are registered), then all stations connect at once and send",
        "  BootNotification; time until the last is Accepted. A failed attempt",
        "  retries after 1-2 s.",
        "",
        "Ratio columns divide Volta's figure by the reference's: above 1 is better",
        "for round trips, below 1 is better for latency, memory, CPU and time.",
        "Neither side compresses (the stations do not offer permessage-deflate). The",
        "reference does less per message than Volta: it stores only transactions and",
        "meter values (a commit each), keeps no frame log and no station or",
        "connector state; it validates with the `ocpp` library's jsonschema.",
    ]
    for mode, title in (("default", "Default run"), ("full", "Full run (`--full`)")):
        if mode in runs:
            lines += ["", f"### {title}", "", *run_section(runs[mode])]
    section = "\n".join(lines) + "\n"
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    start = text.find("\n## Load\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        nxt = text.find("\n## ", start + 1)
        text = text[: start + 1] + section + (text[nxt:] if nxt >= 0 else "")
    DOC.write_text(text)


# --- main ---------------------------------------------------------------------------------


def load_runs() -> dict[str, dict[str, Any]]:
    """bench/results/load.json: the latest default run and the latest full run."""
    path = RESULTS / "load.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {
        k: v for k, v in data.items() if k in ("default", "full", "custom") and isinstance(v, dict)
    }


def show(report: dict[str, Any]) -> None:
    print(render_table(report["results"], plan_of(report), markdown=False))
    for note in report["anomalies"] + report["busy"]:
        print(f"note: {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--full", action="store_true", help="19k idle, 10k storm, longer runs")
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated subset of {','.join(SERVERS + TRANSPORT_SERVERS)} "
        "(then no doc update)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {','.join(PHASES)} (then no doc update)",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/performance.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: print bench/results/load.json and rewrite the doc section from it",
    )
    parser.add_argument("--duration", type=float, help="measured seconds per load run")
    parser.add_argument("--hold-levels", help="idle connection counts, e.g. 1000,5000")
    parser.add_argument("--hold-seconds", type=float, help="measured seconds per idle level")
    parser.add_argument("--storm", type=int, help="stations in the storm")
    args = parser.parse_args()

    if args.report_only:
        runs = load_runs()
        if not runs:
            parser.error("no results in bench/results/load.json")
        for mode, report in runs.items():
            print(f"\n{mode} run, {report['started']}:")
            show(report)
        if not args.no_doc:
            update_doc(runs)
            print(f"updated the Load section of {DOC}")
        return 0

    kinds = [k.strip() for k in args.servers.split(",") if k.strip()]
    unknown = set(kinds) - set(SERVERS) - set(TRANSPORT_SERVERS)
    if unknown:
        parser.error(f"unknown servers: {', '.join(sorted(unknown))}")
    phases = tuple(p.strip() for p in args.phases.split(",") if p.strip())
    if set(phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(set(phases) - set(PHASES)))}")
    plan = Plan.make(args.full)
    if args.duration:
        plan.duration = args.duration
    if args.hold_levels:
        plan.hold_levels = tuple(int(x) for x in args.hold_levels.split(","))
    if args.hold_seconds:
        plan.hold_seconds = args.hold_seconds
    if args.storm:
        plan.storm = args.storm
    # A run with other settings is kept apart, so the doc shows the standard ones.
    standard = (
        set(kinds) == set(SERVERS)
        and set(phases) == set(PHASES)
        and not (args.duration or args.hold_levels or args.hold_seconds or args.storm)
    )
    mode = ("full" if args.full else "default") if standard else "custom"
    command = " ".join([".venv/bin/python", "bench/run_load.py", *sys.argv[1:]])

    cleanup = Cleanup()
    atexit.register(cleanup.run)

    def on_term(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Ctrl-C raises KeyboardInterrupt even when started in the background (where
    # the shell makes SIGINT ignored), so the clean-up below always runs.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    usable = sorted(os.sched_getaffinity(0))
    cpus: tuple[int | None, ...] = (usable[0], usable[1]) if len(usable) >= 2 else (None, None)
    info = machine()
    idle = cpu_idle()
    loadavg_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    started_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    revision = volta_revision()
    print(
        f"machine: {info['nproc']} cores, {info['cpu']}, {info['memory_gib']} GiB, "
        f"Python {info['python']}; open files limit {info['nofile']}"
    )
    print(
        f"CPU idle now: {', '.join(f'{x:.0%}' for x in idle)}; load average {loadavg_before}"
        + ("  (the machine is busy: figures will be low)" if min(idle) < 0.9 else "")
    )
    print(f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]}; plan: {asdict(plan)}")
    need = max(*plan.hold_levels, plan.storm) + 200
    if info["nofile"] < need:
        print(f"warning: open files limit {info['nofile']} < {need}; the biggest runs may fail")

    started = time.monotonic()
    results = []
    addresses = Addresses()
    try:
        for kind in kinds:
            results.append(run_server(kind, plan, addresses, cleanup, cpus, phases))
    except (KeyboardInterrupt, SystemExit) as exc:
        print(f"interrupted ({type(exc).__name__}); stopping everything", file=sys.stderr)
        cleanup.run()
        return 130 if isinstance(exc, KeyboardInterrupt) else int(exc.code or 1)
    finally:
        cleanup.run()

    report: dict[str, Any] = {
        "mode": mode,
        "started": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": time.monotonic() - started,
        "command": command,
        "volta_revision": revision,
        "machine": info,
        "versions": {
            n: package_version(n)
            for n in ("volta", "websockets", "picows", "ocpp", "uvloop", "asyncpg")
        },
        "cpu_idle_before": idle,
        "loadavg_before": loadavg_before,
        "loadavg_after": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "plan": asdict(plan),
        "cpus": {"server": cpus[0], "generator": cpus[1]},
        "results": results,
    }
    report["anomalies"] = anomalies(results)
    report["busy"] = busy_notes(results)

    print()
    show(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    runs = load_runs()
    runs[mode] = report
    out = RESULTS / "load.json"
    out.write_text(json.dumps(runs, indent=2, default=str) + "\n")
    print(f"wrote the {mode} run into {out}")
    if standard and not args.no_doc:
        update_doc({k: v for k, v in runs.items() if k in ("default", "full")})
        print(f"updated the Load section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
