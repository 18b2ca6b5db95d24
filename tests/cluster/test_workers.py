"""`volta serve --workers N`: a supervisor and N worker processes sharing the
OCPP and API ports (SO_REUSEPORT), on a PostgreSQL database of their own and
a real NATS server. Checked on real processes and sockets: both workers take
stations on the one port, SIGTERM to the supervisor drains every worker
(1012) and exits 0, a worker killed with SIGKILL is started again, and the
settings one process cannot share are refused."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection

from tests.cluster.conftest import NatsServer
from tests.conftest import DatabaseTarget, make_settings
from tests.helpers import RawStation, wait_until
from tests.volta_process import (
    PASSWORD,
    ServeProcess,
    alive,
    children_of,
    close_of,
    established_on,
    listening_on,
    postgres_database,
)
from volta.app import Volta
from volta.blocks.provisioning import service as provisioning
from volta.cluster.node import make_node_id
from volta.config import Settings
from volta.ocpp.schemas import Validation
from volta.store import migrate
from volta.store.db import Database, SchemaBehind
from volta.supervisor import (
    WorkersRefused,
    check,
    read_settings_line,
    settings_line,
    worker_node_id,
)

STATIONS = [f"WK-{i:02d}" for i in range(1, 17)]
BOOT16 = {"chargePointVendor": "v", "chargePointModel": "m"}


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with postgres_database("volta_workers") as url:
        db = Database(url)
        try:
            await migrate.upgrade(db)
            for station_id in STATIONS:
                await provisioning.create_station(db, station_id, password=PASSWORD)
        finally:
            await db.close()
        yield url


@pytest.fixture
async def workers(
    database_url: str, nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[ServeProcess]:
    """`volta serve --workers 2`, started; its workers listening."""
    server = ServeProcess(
        database_url,
        tmp_path / "serve",
        nats_url=nats_server.url,
        drain_batch=4,
        drain_pause=0.1,
        node_heartbeat=0.2,
        node_lease=1.5,
    )
    try:
        await server.start("--workers", "2")
        assert await wait_until(lambda: len(listening_workers(server)) == 2, timeout=20)
        yield server
    finally:
        server.stop()


def listening_workers(server: ServeProcess) -> list[int]:
    """The supervisor's children listening on both ports."""
    return [
        pid
        for pid in children_of(server.pid)
        if listening_on(pid, server.ocpp_port) and listening_on(pid, server.api_port)
    ]


async def connect_all(server: ServeProcess) -> list:
    stations = []
    for station_id in STATIONS:
        ws = await server.connect(station_id)
        assert (await RawStation(ws).call("BootNotification", BOOT16))[2]["status"] == "Accepted"
        stations.append(ws)
    return stations


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def answer_one_call(ws: ClientConnection) -> str:
    """Answer the next CALL the station gets with Accepted; its action."""
    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
    await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
    return str(frame[2])


@pytest.mark.slow
async def test_two_workers_share_the_port_and_drain_on_sigterm(workers: ServeProcess):
    """16 stations on one port land on both workers (each holds some of the
    connections); SIGTERM to the supervisor: every station gets 1012, every
    worker exits, the supervisor exits 0."""
    pids = listening_workers(workers)
    assert len(pids) == 2 and workers.pid not in pids
    stations = await connect_all(workers)
    try:
        held = {pid: established_on(pid, workers.ocpp_port) for pid in pids}
        assert sum(held.values()) == len(STATIONS)
        assert all(count > 0 for count in held.values()), held

        # Two nodes, each holding its share, as any worker's API tells.
        async def shares() -> list[tuple[int, int]]:
            nodes = (await workers.api("/api/v1/nodes")).json()
            return sorted((n["pid"], n["stations"]) for n in nodes)

        assert await wait_until(lambda: _equal(shares(), sorted(held.items()))), await shares()
        # Every worker's API (a new connection each time lands on either)
        # lists every station online and sends it a command, wherever it is.
        for _ in range(4):
            listed = (await workers.api("/api/v1/stations")).json()
            assert sorted(s["id"] for s in listed if s["online"]) == STATIONS
        answering = [asyncio.create_task(answer_one_call(ws)) for ws in stations]
        outcomes = await asyncio.gather(
            *(
                workers.api(f"/api/v1/stations/{sid}/commands/ClearCache", json={})
                for sid in STATIONS
            )
        )
        assert [o.json()["status"] for o in outcomes] == ["accepted"] * len(STATIONS)
        assert [await task for task in answering] == ["ClearCache"] * len(STATIONS)

        closes = [asyncio.create_task(close_of(ws)) for ws in stations]
        workers.signal(signal.SIGTERM)
        results = await asyncio.gather(*closes)
        assert [code for code, _ in results] == [1012] * len(STATIONS)
        assert await workers.wait(20) == 0
        assert not [pid for pid in pids if alive(pid)]
    finally:
        for ws in stations:
            await ws.close()
    assert "all 2 workers stopped" in workers.log()


@pytest.mark.slow
async def test_a_draining_worker_hands_its_stations_over(workers: ServeProcess):
    """SIGTERM to one worker: exactly its stations get 1012, the others stay
    connected; they reconnect through the port at once and every worker's
    API lists all 16 online again, none left offline by the drain."""
    first, _ = listening_workers(workers)
    stations = await connect_all(workers)
    on_first = established_on(first, workers.ocpp_port)
    assert 0 < on_first < len(STATIONS)
    closes = {
        sid: asyncio.create_task(close_of(ws)) for sid, ws in zip(STATIONS, stations, strict=True)
    }
    os.kill(first, signal.SIGTERM)
    try:
        assert await wait_until(
            lambda: sum(task.done() for task in closes.values()) == on_first, timeout=15
        )
        await asyncio.sleep(0.5)  # no other station is closed
        moved = [sid for sid, task in closes.items() if task.done()]
        assert len(moved) == on_first
        assert [closes[sid].result()[0] for sid in moved] == [1012] * on_first
        for sid in moved:  # as a station does: connect again at once
            ws = await workers.connect(sid)
            await RawStation(ws).call("BootNotification", BOOT16)
            stations[STATIONS.index(sid)] = ws

        async def all_online() -> bool:
            listed = (await workers.api("/api/v1/stations")).json()
            return sorted(s["id"] for s in listed if s["online"]) == STATIONS

        assert await wait_until(all_online)
        await asyncio.sleep(1.0)  # the drained node's last records are in
        for _ in range(4):
            assert await all_online()
        assert "exited with status 0" in workers.log()  # and it is started again
    finally:
        for ws in stations:
            await ws.close()


@pytest.mark.slow
async def test_a_killed_worker_is_started_again(workers: ServeProcess):
    """SIGKILL one worker: the supervisor logs it and starts a new one on
    the same ports; its stations connect again through the port; SIGTERM
    then stops everything with status 0."""
    first, second = listening_workers(workers)
    stations = await connect_all(workers)
    os.kill(second, signal.SIGKILL)
    assert await wait_until(
        lambda: len(listening_workers(workers)) == 2 and second not in children_of(workers.pid),
        timeout=20,
    ), workers.log()[-3000:]
    restarted = [pid for pid in listening_workers(workers) if pid != first]
    assert len(restarted) == 1
    assert "exited with signal SIGKILL" in workers.log()
    # The killed worker's stations lost their connection; they come back.
    for ws in stations:
        await ws.close()
    stations = await connect_all(workers)
    try:
        assert first in children_of(workers.pid)  # the other one was left alone
        workers.signal(signal.SIGTERM)
        codes = [code for code, _ in await asyncio.gather(*(close_of(ws) for ws in stations))]
        assert codes == [1012] * len(STATIONS)
        assert await workers.wait(20) == 0
    finally:
        for ws in stations:
            await ws.close()


@pytest.mark.slow
async def test_workers_drain_when_the_supervisor_is_killed(workers: ServeProcess):
    """SIGKILL to the supervisor (it cannot forward anything): the workers
    see their stdin end, drain (1012) and exit; nothing is left running."""
    pids = listening_workers(workers)
    stations = await connect_all(workers)
    try:
        workers.signal(signal.SIGKILL)
        codes = [code for code, _ in await asyncio.gather(*(close_of(ws) for ws in stations))]
        assert codes == [1012] * len(STATIONS)
        assert await wait_until(lambda: not any(alive(pid) for pid in pids), timeout=20)
    finally:
        for ws in stations:
            await ws.close()


@pytest.mark.slow
async def test_sighup_replaces_the_workers_one_at_a_time(workers: ServeProcess):
    """SIGHUP: each worker in turn gets a replacement, which serves before
    the old one drains (1012 for its stations): the OCPP port never refuses
    a connection meanwhile, two new workers serve at the end, and the
    supervisor is the same process."""
    old = set(listening_workers(workers))
    stations = await connect_all(workers)
    refused = probes = 0
    try:
        closes = [asyncio.create_task(close_of(ws, timeout=60)) for ws in stations]
        workers.signal(signal.SIGHUP)

        def replaced() -> bool:
            now = set(listening_workers(workers))
            return len(now) == 2 and not now & old

        async def probe() -> None:
            nonlocal probes, refused
            while True:
                probes += 1
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", workers.ocpp_port)
                    writer.close()
                except OSError:
                    refused += 1
                await asyncio.sleep(0.02)

        prober = asyncio.create_task(probe())
        try:
            assert await wait_until(replaced, timeout=60, interval=0.2), workers.log()[-3000:]
        finally:
            prober.cancel()
        assert refused == 0 and probes >= 5, (refused, probes)
        codes = [code for code, _ in await asyncio.gather(*closes)]
        assert codes == [1012] * len(STATIONS)
        assert await wait_until(lambda: "rolling restart done" in workers.log())
        assert workers.proc is not None and workers.proc.poll() is None
    finally:
        for ws in stations:
            await ws.close()
    # The new workers serve stations.
    stations = await connect_all(workers)
    for ws in stations:
        await ws.close()
    workers.signal(signal.SIGTERM)
    assert await workers.wait(20) == 0


async def test_a_worker_refuses_an_older_schema(pg_target: DatabaseTarget):
    """A worker does not migrate: one started onto a database its version's
    migrations have not reached (a rolling restart onto a newer version)
    refuses to start, saying to run `volta migrate`."""
    db = Database(pg_target.url, schema=pg_target.schema)
    try:
        await migrate.upgrade(db, "0010")
    finally:
        await db.close()
    volta = Volta(make_settings(pg_target), db_schema=pg_target.schema)
    volta.worker = 2
    try:
        with pytest.raises(SchemaBehind, match=r"at revision 0010.*volta migrate"):
            await volta.start()
    finally:
        await volta.db.close()


def serve(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volta", "serve", *args],
        env={**os.environ, "VOLTA_LOG_FORMAT": "text", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_workers_refused_on_sqlite(tmp_path: Path):
    """SQLite is one process's database: --workers 2 is refused, nothing starts."""
    done = serve(
        "--workers",
        "2",
        "--nats-url",
        "nats://127.0.0.1:4222",
        VOLTA_DATABASE_URL=f"sqlite:///{tmp_path}/one.db",
    )
    assert done.returncode == 2
    assert "needs PostgreSQL" in done.stderr
    assert not (tmp_path / "one.db").exists()


def test_workers_refused_without_nats():
    """Workers are nodes: without a NATS server they are refused."""
    done = serve("--workers", "3", VOLTA_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert done.returncode == 2
    assert "needs a NATS server" in done.stderr


def test_settings_reach_a_worker_unchanged():
    """The JSON line a worker reads gives back every setting, the secret
    ones and the enums too."""
    settings = Settings(
        database_url="postgresql://volta@db/volta",
        nats_url="nats://127.0.0.1:4222",
        api_token="t0ken",
        secret_key="k" * 40,
        validation=Validation.RELAXED,
        workers=3,
        drain_pause=0.5,
        compression=False,
    )
    assert read_settings_line(settings_line(settings).decode()) == settings


CLUSTER = {"database_url": "postgresql://x@y/z", "nats_url": "nats://n"}


def test_worker_node_ids_are_valid_node_names(monkeypatch: pytest.MonkeyPatch):
    """<host>-w<i>-<random>, new at every start, a valid node id even for a
    long dotted host name; <node_id>-w<i> when node_id is set; a node_id
    that cannot name the workers is refused before any starts."""
    monkeypatch.setattr(socket, "gethostname", lambda: "charging.example.com" * 3)
    settings = Settings(**CLUSTER, workers=2)
    ids = [worker_node_id(settings, 2) for _ in range(2)]
    assert ids[0] != ids[1] and all("-w2-" in i for i in ids)
    assert [make_node_id(i) for i in ids] == ids  # valid: letters, digits, '-'
    named = Settings(**CLUSTER, node_id="edge", workers=2)
    assert worker_node_id(named, 1) == "edge-w1"
    check(named)
    with pytest.raises(ValueError, match="node_id"):
        check(Settings(**CLUSTER, node_id="a.b", workers=2))
    with pytest.raises(WorkersRefused, match="1 or more"):
        check(Settings(workers=0))
