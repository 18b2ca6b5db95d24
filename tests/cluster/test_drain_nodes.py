"""The drain in a deployment of several nodes: node A drains (Volta.drain,
what SIGTERM does) while node B runs, on one PostgreSQL schema and a real
NATS server. While A drains, every node's API shows it `draining` and B
leads; A's stations get 1012 one batch at a time and, reconnecting to B,
are online there at once; none is left recorded offline by A's closes."""

from __future__ import annotations

import asyncio

import httpx
import websockets

from tests.conftest import API_TOKEN
from tests.helpers import RawStation, register, wait_until, ws_url
from tests.volta_process import close_of, groups
from volta.app import Volta

BOOT16 = {"chargePointVendor": "v", "chargePointModel": "m"}
IDS = [f"DN-{i}" for i in range(1, 5)]


async def nodes_seen_by(volta: Volta) -> dict[str, tuple[str, bool]]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{volta.api_port}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ) as client:
        rows = (await client.get("/api/v1/nodes")).json()
    return {r["id"]: (r["state"], r["leader"]) for r in rows}


async def test_a_draining_node_hands_over_to_the_other(nodes) -> None:
    a = await nodes("node-a", drain_batch=2, drain_pause=0.8)
    assert await wait_until(a.services.node.is_leader)
    b = await nodes("node-b")
    for sid in IDS:
        await register(a, sid)
    stations = [
        await websockets.connect(ws_url(a, sid), subprotocols=["ocpp1.6"], open_timeout=5)  # type: ignore[list-item]
        for sid in IDS
    ]
    try:
        for ws in stations:
            await RawStation(ws).call("BootNotification", BOOT16)
        assert await wait_until(lambda: set(b.router.online()) == set(IDS))

        async def reconnect_to_b(sid: str, ws: websockets.ClientConnection) -> tuple:
            """Wait for A's close; then connect again, to B, as a station does."""
            code, when = await close_of(ws)
            again = await websockets.connect(
                ws_url(b, sid),
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                open_timeout=5,
            )
            await RawStation(again).call("BootNotification", BOOT16)
            return code, when, again

        moving = asyncio.gather(
            *(reconnect_to_b(sid, ws) for sid, ws in zip(IDS, stations, strict=True))
        )
        drain = asyncio.create_task(a.drain())
        # B's API: A is draining, and B took the lead.
        assert await wait_until(
            lambda: _seen(b, {"node-a": ("draining", False), "node-b": ("running", True)}),
            timeout=10,
        ), await nodes_seen_by(b)
        results = await moving
        await drain
        moved = [again for _, _, again in results]
        assert [code for code, _, _ in results] == [1012] * len(IDS)
        assert groups([when for _, when, _ in results], gap=0.4) == [2, 2]
        assert set(b.router.local()) == set(IDS)
        assert await wait_until(lambda: _all_online(b))
        await asyncio.sleep(0.5)  # A's last records would be in by now
        assert await _all_online(b)
        for ws in moved:
            await ws.close()
    finally:
        for ws in stations:
            await ws.close()


async def _seen(volta: Volta, expected: dict[str, tuple[str, bool]]) -> bool:
    return await nodes_seen_by(volta) == expected


async def _all_online(volta: Volta) -> bool:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{volta.api_port}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ) as client:
        rows = (await client.get("/api/v1/stations")).json()
    return sorted(r["id"] for r in rows if r["online"]) == IDS
