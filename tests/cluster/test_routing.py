"""Stations on several nodes (docs/scale-out.md): two or three Volta nodes on
one PostgreSQL schema and a real NATS server, real WebSocket stations.

- a station connected to node A is online in node B's API, and a command sent
  through B reaches it and comes back with the station's answer;
- a station that reconnects to another node takes over at once: the old
  connection is closed by its node, and that close never records the station
  offline (the row names the new connection, no station.offline after the
  new station.online);
- a node that leaves (stopped) loses its stations from the others' view at
  once, and a command to one of them is answered `offline`;
- a node that stops answering (NATS cut, as a SIGKILL looks to the others)
  has its stations offline within the lease, and a command in flight to it is
  answered `offline` within seconds, not after the call timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import api_client
from tests.helpers import Station16, connect, register, station, wait_until
from volta.app import Volta
from volta.store.models import Command, Event, Station


def api(volta: Volta) -> httpx.AsyncClient:
    return api_client(volta, timeout=20)


@contextlib.asynccontextmanager
async def charger(volta: Volta, station_id: str) -> AsyncIterator[Station16]:
    """A 1.6 charger connected to `volta`; `.ws` is its WebSocket."""
    async with connect(volta, station_id) as ws:
        cp = Station16(station_id, ws)
        cp.ws = ws  # type: ignore[attr-defined]
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def online_ids(volta: Volta) -> set[str]:
    async with api(volta) as client:
        rows = (await client.get("/api/v1/stations")).json()
    return {r["id"] for r in rows if r["online"]}


async def test_command_through_another_node_reaches_the_station(nodes) -> None:
    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "CS-1")
    async with station(a, "CS-1") as cp:
        assert await wait_until(lambda: "CS-1" in b.router.online())
        assert "CS-1" in await online_ids(b)
        assert not b.router.holds("CS-1") and a.router.holds("CS-1")
        async with api(b) as client:
            r = await client.post(
                "/api/v1/stations/CS-1/commands/ChangeConfiguration",
                json={"key": "HeartbeatInterval", "value": "120"},
            )
        assert r.status_code == 200, r.text
        command = r.json()
        assert command["status"] == "accepted"
        assert command["response"] == {"status": "Accepted"}
        # The station got it: it was sent once, by node A.
        assert [c for c in cp.received if c[0] == "ChangeConfiguration"] == [
            ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"})
        ]


async def test_a_station_reconnecting_to_another_node_takes_over(nodes) -> None:
    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "CS-2")
    async with charger(a, "CS-2") as old:
        assert await wait_until(lambda: b.router.node_of("CS-2") == "node-a")
        async with charger(b, "CS-2") as new:
            # The old connection is closed by node A at once.
            await asyncio.wait_for(old.ws.wait_closed(), 5)  # type: ignore[attr-defined]
            assert old.ws.close_code == 1000  # type: ignore[attr-defined]
            assert await wait_until(lambda: a.router.node_of("CS-2") == "node-b")
            assert not a.router.holds("CS-2") and b.router.holds("CS-2")
            # Commands from either node reach the new connection.
            async with api(a) as client:
                r = await client.post(
                    "/api/v1/stations/CS-2/commands/ChangeConfiguration",
                    json={"key": "HeartbeatInterval", "value": "60"},
                )
            assert r.json()["status"] == "accepted"
            assert any(c[0] == "ChangeConfiguration" for c in new.received)
            await asyncio.sleep(0.3)  # node A's close has run its course
            async with b.db.read() as conn:
                row = (
                    await conn.execute(sa.select(Station.connection_id).where(Station.id == "CS-2"))
                ).one()
                kinds = (
                    await conn.execute(
                        sa.select(Event.type)
                        .where(Event.station_id == "CS-2")
                        .where(Event.type.in_(["station.online", "station.offline"]))
                        .order_by(Event.id)
                    )
                ).scalars()
                kinds = list(kinds)
            # The old node's close recorded nothing: the row names node B's connection.
            assert row.connection_id is not None and row.connection_id.startswith("node-b/")
            assert kinds[-1] == "station.online" and "station.offline" not in kinds
            assert "CS-2" in await online_ids(a)


async def test_a_node_that_leaves_takes_its_stations_offline_everywhere(nodes) -> None:
    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "CS-3")
    async with station(b, "CS-3"):
        assert await wait_until(lambda: "CS-3" in a.router.online())
        await b.stop()
        assert await wait_until(lambda: "CS-3" not in a.router.online())
        async with api(a) as client:
            r = await client.post("/api/v1/stations/CS-3/commands/Reset", json={"type": "Soft"})
        assert r.json()["status"] == "offline"


@pytest.mark.parametrize("call_timeout", [30.0])
async def test_a_command_in_flight_to_a_node_that_dies_is_answered_offline(
    nodes, call_timeout: float
) -> None:
    a = await nodes("node-a", call_timeout=call_timeout)
    b = await nodes("node-b", call_timeout=call_timeout)
    await register(a, "CS-4")
    async with station(b, "CS-4") as cp:
        assert await wait_until(lambda: "CS-4" in a.router.online())
        # The station never answers this one: the command waits on node B.
        stall = asyncio.Event()

        async def never(request: dict) -> dict:
            await stall.wait()
            return {"status": "Accepted"}

        cp.handlers["Reset"] = never
        async with api(a) as client:
            sent = asyncio.create_task(
                client.post("/api/v1/stations/CS-4/commands/Reset", json={"type": "Soft"})
            )
            await asyncio.sleep(0.5)
            # Node B falls silent as a killed process would: its NATS
            # connection is gone, its lease is not renewed.
            started = time.monotonic()
            assert b.cluster is not None
            b.cluster._loop_task.cancel()  # type: ignore[union-attr]
            await b.cluster.nc.close()  # type: ignore[union-attr]
            r = await sent
            waited = time.monotonic() - started
        assert r.json()["status"] == "offline", r.json()
        # Within the lease (3 s in these tests) and a heartbeat, not the 30 s call timeout.
        assert waited < 8, waited
        # Node B is dead to node A once its lease passed: its station is offline.
        assert await wait_until(lambda: "CS-4" not in a.router.online(), timeout=5)
        # The leader records the dead node's station offline once the lease passed.

        async def recorded_offline() -> bool:
            async with a.db.read() as conn:
                row = (
                    await conn.execute(sa.select(Station.connection_id).where(Station.id == "CS-4"))
                ).one()
            return row.connection_id is None

        assert await wait_until(recorded_offline)
        stall.set()


async def test_after_nats_restarts_the_nodes_learn_again_where_stations_are(
    nodes, nats_server
) -> None:
    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "CS-5")
    async with station(a, "CS-5"):
        assert await wait_until(lambda: "CS-5" in b.router.online())
        nats_server.stop()
        # Longer than the lease: each node takes the other for dead.
        assert await wait_until(lambda: "CS-5" not in b.router.online())
        # The station stays connected to node A all along.
        assert a.router.holds("CS-5")
        await nats_server.start()
        assert await wait_until(lambda: "CS-5" in b.router.online())
        async with api(b) as client:
            r = await client.post(
                "/api/v1/stations/CS-5/commands/ChangeConfiguration",
                json={"key": "HeartbeatInterval", "value": "90"},
            )
        assert r.json()["status"] == "accepted", r.json()


async def test_a_node_starting_leaves_another_nodes_command_in_flight_alone(nodes) -> None:
    a = await nodes("node-a")
    await register(a, "CS-6")
    async with station(a, "CS-6") as cp:
        release = asyncio.Event()

        async def slow_reset(request: dict) -> dict:
            await release.wait()
            return {"status": "Accepted"}

        cp.handlers["Reset"] = slow_reset
        async with api(a) as client:
            sent = asyncio.create_task(
                client.post("/api/v1/stations/CS-6/commands/Reset", json={"type": "Soft"})
            )
            await asyncio.sleep(0.3)
            # A node joins while the command waits for the station's answer:
            # the command is still pending, not marked as left by a crash.
            await nodes("node-c")
            async with a.db.read() as conn:
                statuses = (
                    await conn.execute(
                        sa.select(Command.status).where(Command.station_id == "CS-6")
                    )
                ).scalars()
                assert list(statuses) == ["pending"]
            release.set()
            r = await sent
        assert r.json()["status"] == "accepted", r.json()
        async with api(a) as client:
            stored = (await client.get(f"/api/v1/commands/{r.json()['id']}")).json()
        assert stored["status"] == "accepted"


async def test_the_dashboard_of_another_node_shows_the_station_and_commands_it(nodes) -> None:
    from tests.web.conftest import ADMIN, add_users, csrf_of, sign_in

    a = await nodes("node-a")
    b = await nodes("node-b")
    await add_users(a)
    await register(a, "CS-7")
    async with station(a, "CS-7") as cp:
        assert await wait_until(lambda: "CS-7" in b.router.online())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{b.api_port}", timeout=20) as web:
            await sign_in(web, *ADMIN)
            fleet = await web.get("/ui/stations")
            assert fleet.status_code == 200
            assert 'data-testid="online-count">1<' in fleet.text
            page = await web.get("/stations/CS-7")
            r = await web.post(
                "/stations/CS-7/commands",
                data={"kind": "reset", "type": "Soft"},
                headers={"X-CSRF-Token": csrf_of(page.text)},
            )
            assert r.status_code == 200 and "accepted" in r.text, r.text
        assert [c[0] for c in cp.received] == ["Reset"]


async def test_a_database_stall_longer_than_the_lease_does_not_make_a_node_dead(
    nodes, pg_target
) -> None:
    """Heartbeats go on NATS apart from the database: a node whose lease
    renewal waits on a locked `nodes` table stays alive to the others, its
    stations stay online and recorded, and its row is there afterwards."""
    import asyncpg

    from tests.conftest import PG_URL

    a = await nodes("node-a")
    b = await nodes("node-b")
    await register(a, "CS-8")
    async with station(b, "CS-8"):
        assert await wait_until(lambda: "CS-8" in a.router.online())
        conn = await asyncpg.connect(PG_URL, server_settings={"search_path": pg_target.schema})
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")
                await asyncio.sleep(5)  # the lease is 3 s
                assert "CS-8" in a.router.online()
        finally:
            await conn.close()
        await asyncio.sleep(1.5)  # renewals and the leader's look at the leases ran
        assert "CS-8" in a.router.online() and "CS-8" in b.router.online()
        async with a.db.read() as db:
            row = (
                await db.execute(sa.select(Station.connection_id).where(Station.id == "CS-8"))
            ).one()
        assert row.connection_id is not None and row.connection_id.startswith("node-b/")
        async with api(a) as client:
            listed = {n["id"] for n in (await client.get("/api/v1/nodes")).json()}
        assert listed == {"node-a", "node-b"}
