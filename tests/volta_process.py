"""`volta serve` as a real subprocess, for the tests that signal it (drain,
`--workers`): its database of its own, its ports, its stations over real
sockets, and what the kernel says about its processes and connections."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.conftest import PG_URL, REQUIRE_PG, _pg_available
from tests.helpers import basic_auth

TOKEN = "drain-test-token"
PASSWORD = "drain-station-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def postgres_database(prefix: str) -> AsyncIterator[str]:
    """A PostgreSQL database of its own (a subprocess cannot be given a
    schema), dropped afterwards."""
    if not await _pg_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL required but unreachable")
        pytest.skip("PostgreSQL not reachable")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class ServeProcess:
    """`python -m volta serve ...` with the test's settings in VOLTA_*."""

    def __init__(self, database_url: str, workdir: Path, **settings: object) -> None:
        self.env = {
            **os.environ,
            "VOLTA_DATABASE_URL": database_url,
            "VOLTA_API_TOKEN": TOKEN,
            "VOLTA_LOG_FORMAT": "text",
            "VOLTA_SECRET_KEY": "drain-tests-secret-key-0123456789abcdef",
            # Several processes per test and several tests at once on one server.
            "VOLTA_DATABASE_POOL_SIZE": "3",
            **{f"VOLTA_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.workdir = workdir
        self.log_path = workdir / "volta-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ocpp_port = self.api_port = 0

    async def start(self, *args: str, program: list[str] | None = None) -> None:
        self.ocpp_port, self.api_port = free_port(), free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
            [
                sys.executable,
                *(program or ["-m", "volta"]),
                "serve",
                "--host",
                "127.0.0.1",
                "--ocpp-port",
                str(self.ocpp_port),
                "--api-port",
                str(self.api_port),
                *args,
            ],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
        )
        log.close()
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.api_url("/healthz"))).status_code == 200:
                        return
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"volta serve exited with {self.proc.returncode}: {self.log()[-2000:]}"
                    )
                await asyncio.sleep(0.05)
        raise RuntimeError("volta serve did not start within 30 s")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def api_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.api_port}{path}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def wait(self, timeout: float) -> int:
        """The exit status, waiting at most `timeout` s (AssertionError after)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"volta serve still running after {timeout} s")
            await asyncio.sleep(0.02)
        return self.proc.returncode

    def stop(self) -> None:
        """Whatever the test did: no process of it is left behind."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in children_of(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    async def connect(self, station_id: str, protocol: str = "ocpp1.6") -> ClientConnection:
        return await websockets.connect(
            f"ws://127.0.0.1:{self.ocpp_port}/ocpp/{station_id}",
            subprotocols=[protocol],  # type: ignore[list-item]
            additional_headers=basic_auth(station_id, PASSWORD),
            open_timeout=5,
        )

    async def api(self, path: str, json: object = None) -> httpx.Response:
        """GET `path` (POST `json` when given), on a new connection each time
        (with --workers, each request lands on one of them)."""
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            if json is None:
                return await client.get(self.api_url(path), timeout=10)
            return await client.post(self.api_url(path), json=json, timeout=40)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def established_on(pid: int, port: int) -> int:
    """How many established TCP connections process `pid` holds on local `port`."""
    return _sockets_on(pid, port, "01")


def listening_on(pid: int, port: int) -> bool:
    """Whether process `pid` listens on TCP `port`."""
    return _sockets_on(pid, port, "0A") > 0


def _sockets_on(pid: int, port: int, state: str) -> int:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == state and fields[9] in inodes:
                    count += 1
    return count


async def close_of(ws: ClientConnection, timeout: float = 15) -> tuple[int | None, float]:
    """Wait until the server closes (reading nothing: the test may still be
    calling on it); its close code and when it came."""
    async with asyncio.timeout(timeout):
        await ws.wait_closed()
    return ws.close_code, time.monotonic()


def groups(times: list[float], gap: float) -> list[int]:
    """Sizes of the runs of `times` (sorted) no more than `gap` apart."""
    sizes: list[int] = []
    last = None
    for t in sorted(times):
        if last is None or t - last > gap:
            sizes.append(0)
        sizes[-1] += 1
        last = t
    return sizes
