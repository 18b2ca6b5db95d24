"""Volta nodes as real processes (`python -m volta serve`) on a NATS server,
for what only a process can show: SIGKILL of a node, a webhook sender lease
holder killed. Built on `tests.volta_process.ServeProcess` (the drain and
`--workers` tests' process)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from tests.conftest import TEST_SECRET_KEY
from tests.volta_process import TOKEN, ServeProcess, postgres_database


@contextlib.asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    async with postgres_database("volta_cluster") as url:
        yield url


class NodeProcess(ServeProcess):
    """One `volta serve` node of a deployment, on its own ports; its output
    in `<workdir>/<node_id>.log`. Short heartbeats and lease (0.3 s, 2 s)."""

    def __init__(
        self, database_url: str, nats_url: str, node_id: str, workdir: Path, **settings: object
    ) -> None:
        values: dict[str, object] = {
            "nats_url": nats_url,
            "node_id": node_id,
            "secret_key": TEST_SECRET_KEY,
            "node_heartbeat": 0.3,
            "node_lease": 2,
            **settings,
        }
        super().__init__(database_url, workdir, **values)
        self.node_id = node_id
        self.log_path = workdir / f"{node_id}.log"

    def ws_url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp/{station_id}"

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=20,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
