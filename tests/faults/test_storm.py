"""A reconnection storm: hundreds of stations lose their connections at once
(no close frame, as when a load balancer or the network drops them) and come
back with random jitter. All end online, each with exactly one live session;
no task, registry entry or closing connection is left behind."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import orjson
import pytest
import websockets

from tests.helpers import wait_until, ws_url
from volta.blocks.provisioning import service as provisioning
from volta.store.models import Station, utcnow

STATIONS = 300
BOOT = orjson.dumps(
    [2, "b", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}]
).decode()


async def online_station(volta: Any, station_id: str, jitter: float = 0.0) -> Any:
    await asyncio.sleep(random.uniform(0, jitter))
    for _ in range(20):  # a real charger retries a refused or failed connect
        try:
            ws = await websockets.connect(
                ws_url(volta, station_id), subprotocols=["ocpp1.6"], open_timeout=10
            )  # type: ignore[list-item]
            break
        except (OSError, websockets.InvalidHandshake, TimeoutError):
            await asyncio.sleep(random.uniform(0.05, 0.3))
    else:
        raise AssertionError(f"{station_id} could not reconnect")
    await ws.send(BOOT)
    assert orjson.loads(await asyncio.wait_for(ws.recv(), 20))[2]["status"] == "Accepted"
    return ws


@pytest.mark.slow
async def test_reconnection_storm(volta):
    ids = [f"STORM-{i:03d}" for i in range(STATIONS)]
    async with volta.db.write() as conn:
        await conn.execute(
            Station.__table__.insert(),
            [
                {
                    "id": i,
                    "registration_status": "Accepted",
                    "validation": "strict",
                    "created_at": utcnow(),
                }
                for i in ids
            ],
        )
    clients = await asyncio.gather(*(online_station(volta, i, 0.5) for i in ids))
    assert await wait_until(lambda: len(volta.router.online()) == STATIONS, timeout=20)
    await asyncio.sleep(0.5)
    baseline = len(asyncio.all_tasks())

    # Every connection drops at once, without a close handshake.
    for ws in clients:
        ws.transport.abort()
    clients = await asyncio.gather(*(online_station(volta, i, 2.0) for i in ids))

    links = volta.router._links  # the registry itself: one entry per station
    assert await wait_until(lambda: len(volta.router.online()) == STATIONS, timeout=20)
    assert sorted(links) == ids
    # Each entry is the station's newest connection, and it is open (no close
    # code yet, on either transport).
    assert all(link.websocket.close_code is None for link in links.values())
    for ws in random.sample(clients, 10):
        await ws.send(orjson.dumps([2, "hb", "Heartbeat", {}]).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 10))[0] == 3
    # The old sessions' handlers are gone: as many tasks as before the storm.
    assert await wait_until(lambda: len(asyncio.all_tasks()) <= baseline + 5, timeout=20), (
        len(asyncio.all_tasks()),
        baseline,
    )
    assert await wait_until(lambda: not volta.gateway._closing)
    rows = await provisioning.list_stations(volta.db, limit=1000)
    assert all(r["last_connected_at"] is not None for r in rows if r["id"].startswith("STORM"))

    await asyncio.gather(*(ws.close() for ws in clients))
    assert await wait_until(lambda: not volta.router.online(), timeout=20)
    assert await wait_until(lambda: len(asyncio.all_tasks()) <= baseline - STATIONS + 5, timeout=20)
