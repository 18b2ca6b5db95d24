"""Several Volta nodes on one PostgreSQL and one real NATS server.

`nats_url` starts a `nats-server -js` of the test's own (a free loopback
port, JetStream in the test's temporary directory) and stops it after the
test, so a test may also kill it. `pg_target` is a PostgreSQL schema of the
test's own. `nodes(n)` starts n Volta nodes in this process on both (each
its own gateway, API, NATS connection and node id); subprocess nodes for
SIGKILL and drain tests are in tests/cluster/processes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import DatabaseTarget, make_settings, postgres_schema
from tests.volta_process import free_port
from volta.app import Volta

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """A real nats-server with JetStream, on a free loopback port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> None:
        if not Path(NATS_SERVER).exists():
            pytest.fail("nats-server is not installed (Debian: apt-get install nats-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        self.spawn()
        for _ in range(100):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pg_target() -> AsyncIterator[DatabaseTarget]:
    """A PostgreSQL schema of the test's own: several nodes need a database
    every process can reach."""
    async with postgres_schema() as target:
        yield target


NodeFactory = Callable[..., Awaitable[Volta]]


@pytest.fixture
async def nodes(pg_target: DatabaseTarget, nats_server: NatsServer) -> AsyncIterator[NodeFactory]:
    """`await nodes(node_id="a", **settings)` starts one more node."""
    started: list[Volta] = []

    async def start(node_id: str | None = None, **overrides: object) -> Volta:
        settings = make_settings(
            pg_target,
            nats_url=nats_server.url,
            node_id=node_id or f"node-{len(started) + 1}",
            node_heartbeat=0.25,
            node_lease=3.0,
            # Several nodes per test and several tests at once on one server.
            database_pool_size=3,
            **overrides,
        )
        volta = Volta(settings, db_schema=pg_target.schema)
        await volta.start()
        started.append(volta)
        return volta

    try:
        yield start
    finally:
        for volta in reversed(started):
            with contextlib.suppress(Exception):  # a test may have stopped it already
                await volta.stop()
