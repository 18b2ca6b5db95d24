"""Volta nodes as real processes (`python -m volta serve`), for what only a
process can show: SIGKILL, SIGTERM and draining, `--workers`.

`pg_database()` is a PostgreSQL database of its own (a process cannot be
put in a test's schema), dropped afterwards; `NodeProcess` runs one node on
it and on a NATS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.cluster.conftest import free_port
from tests.conftest import PG_URL, REQUIRE_PG, TEST_SECRET_KEY, _pg_available

TOKEN = "cluster-test-token"


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    if not await _pg_available():
        if REQUIRE_PG:
            pytest.fail("PostgreSQL required but unreachable")
        pytest.skip("PostgreSQL not reachable")
    name = "volta_cluster_" + uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class NodeProcess:
    """One `volta serve` node on its own ports; its output in `log`."""

    def __init__(
        self, database_url: str, nats_url: str, node_id: str, workdir: Path, **settings: object
    ) -> None:
        self.node_id = node_id
        self.log = workdir / f"{node_id}.log"
        self.env = {
            **os.environ,
            "VOLTA_DATABASE_URL": database_url,
            "VOLTA_NATS_URL": nats_url,
            "VOLTA_NODE_ID": node_id,
            "VOLTA_API_TOKEN": TOKEN,
            "VOLTA_SECRET_KEY": TEST_SECRET_KEY,
            "VOLTA_LOG_FORMAT": "text",
            "VOLTA_NODE_HEARTBEAT": "0.3",
            "VOLTA_NODE_LEASE": "2",
            "VOLTA_DATABASE_POOL_SIZE": "3",
            **{f"VOLTA_{k.upper()}": str(v) for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ocpp_port = self.api_port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp/{station_id}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=20
        )

    async def start(self) -> None:
        self.ocpp_port, self.api_port = free_port(), free_port()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
                [
                    sys.executable,
                    "-m",
                    "volta",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--ocpp-port",
                    str(self.ocpp_port),
                    "--api-port",
                    str(self.api_port),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        async with httpx.AsyncClient() as client:
            for _ in range(400):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.api_url}/healthz")).status_code == 200:
                        return
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"node {self.node_id} exited with {self.proc.returncode}:\n"
                        + self.log.read_text()[-3000:]
                    )
                await asyncio.sleep(0.05)
        raise RuntimeError(f"node {self.node_id} did not start within 20 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
