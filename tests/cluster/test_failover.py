"""A node killed with SIGKILL (docs/scale-out.md, "When a node dies"): two
`volta serve` processes on one PostgreSQL database and a real NATS server.

Stations on node B charge (StartTransaction and MeterValues acknowledged);
node B is killed; the stations reconnect to node A after a back-off, as
chargers do, send again what was never answered, and carry on. Then:
every station is online in node A's API, nothing acknowledged is lost (each
transaction with every sample it was told was stored), no session exists
twice, and node B's lease and presence are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from typing import Any

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.cluster.processes import NodeProcess, pg_database
from tests.helpers import now_iso

STATIONS = 24
CHARGING = 8
SAMPLES = 3


class Charger:
    """A 1.6 charger that goes to the next node when its connection drops and
    sends again the CALL it never saw answered (OCPP-J 1.6 §4.1.1)."""

    _ids = itertools.count(1)

    def __init__(self, station_id: str, urls: list[str]) -> None:
        self.id = station_id
        self.urls = urls  # the node it tries first, then the others
        self.ws: Any = None
        self.acknowledged: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.reconnected_at: float | None = None
        self.tx: int | None = None

    async def connect(self, url: str) -> None:
        self.ws = await websockets.connect(f"{url}/ocpp/{self.id}", subprotocols=["ocpp1.6"])  # type: ignore[list-item]

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        while True:
            mid = f"m{next(self._ids)}"
            try:
                await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
                while True:
                    frame = orjson.loads(await asyncio.wait_for(self.ws.recv(), 15))
                    if frame[0] == 2:  # a CALL of the CSMS: answer it
                        await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]))
                        continue
                    if frame[1] == mid:
                        break
            except (ConnectionClosed, OSError, TimeoutError):
                await self.fail_over()
                continue
            assert frame[0] == 3, frame
            self.acknowledged.append((action, payload, frame[2]))
            return dict(frame[2])

    async def fail_over(self) -> None:
        """Back off (1-3 s, as chargers do), then connect to the next node."""
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.urls = self.urls[1:] + self.urls[:1]
        for _ in range(60):
            await asyncio.sleep(random.uniform(1.0, 3.0))
            with contextlib.suppress(OSError, websockets.InvalidStatus, TimeoutError):
                await self.connect(self.urls[0])
                self.reconnected_at = time.monotonic()
                return
        raise RuntimeError(f"{self.id} could not reconnect")


@pytest.mark.slow
async def test_sigkill_of_a_node_loses_nothing_acknowledged(nats_server, tmp_path) -> None:
    async with pg_database() as url:
        a = NodeProcess(url, nats_server.url, "node-a", tmp_path)
        b = NodeProcess(url, nats_server.url, "node-b", tmp_path)
        try:
            await a.start()
            await b.start()
            async with a.client() as api:
                for i in range(STATIONS):
                    r = await api.post("/api/v1/stations", json={"id": f"FO-{i}"})
                    assert r.status_code == 201, r.text
                for i in range(CHARGING):
                    r = await api.post("/api/v1/id-tokens", json={"token": f"CARD-{i}"})
                    assert r.status_code == 201, r.text
            chargers = [
                Charger(
                    f"FO-{i}", [f"ws://127.0.0.1:{b.ocpp_port}", f"ws://127.0.0.1:{a.ocpp_port}"]
                )
                for i in range(STATIONS)
            ]
            for cp in chargers:
                await cp.connect(cp.urls[0])
                await cp.call(
                    "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}
                )
            for i, cp in enumerate(chargers[:CHARGING]):
                start = {
                    "connectorId": 1,
                    "idTag": f"CARD-{i}",
                    "meterStart": 0,
                    "timestamp": now_iso(-60),
                }
                answer = await cp.call("StartTransaction", start)
                assert answer["idTagInfo"]["status"] == "Accepted"
                cp.tx = answer["transactionId"]
            async with a.client() as api:
                online = {
                    s["id"] for s in (await api.get("/api/v1/stations")).json() if s["online"]
                }
            assert online == {cp.id for cp in chargers}  # node B's stations, seen from node A

            async def charge(cp: Charger, rounds: range) -> None:
                for k in rounds:
                    await cp.call(
                        "MeterValues",
                        {
                            "connectorId": 1,
                            "transactionId": cp.tx,
                            "meterValue": [
                                {
                                    "timestamp": now_iso(-50 + k),
                                    "sampledValue": [{"value": str(1000 * (k + 1))}],
                                }
                            ],
                        },
                    )

            await asyncio.gather(*(charge(cp, range(SAMPLES)) for cp in chargers[:CHARGING]))

            # Kill node B with work in flight: heartbeats and samples keep coming.
            killed_at = time.monotonic()
            busy = asyncio.gather(
                *(charge(cp, range(SAMPLES, SAMPLES + 2)) for cp in chargers[:CHARGING]),
                *(cp.call("Heartbeat", {}) for cp in chargers[CHARGING:]),
            )
            b.kill()
            await asyncio.wait_for(busy, 60)

            async def all_online() -> bool:
                async with a.client() as api:
                    rows = (await api.get("/api/v1/stations")).json()
                return {s["id"] for s in rows if s["online"]} == {cp.id for cp in chargers}

            deadline = time.monotonic() + 30
            while not await all_online():
                assert time.monotonic() < deadline, "not all stations online within 30 s"
                await asyncio.sleep(0.2)
            took = time.monotonic() - killed_at
            assert took < 30, took

            for cp in chargers[:CHARGING]:
                await cp.call(
                    "StopTransaction",
                    {
                        "transactionId": cp.tx,
                        "meterStop": 9000,
                        "timestamp": now_iso(),
                        "reason": "Local",
                    },
                )
            async with a.client() as api:
                for cp in chargers[:CHARGING]:
                    tx = (await api.get(f"/api/v1/transactions/{cp.tx}")).json()
                    assert tx["status"] == "Ended"
                    told = [
                        int(p["meterValue"][0]["sampledValue"][0]["value"])
                        for action, p, _ in cp.acknowledged
                        if action == "MeterValues"
                    ]
                    stored = [m["value"] for m in tx["meter_values"]]
                    # Every acknowledged sample is stored, each once.
                    assert sorted(stored) == sorted(told), (cp.id, stored, told)
                    same = (await api.get(f"/api/v1/transactions?station_id={cp.id}")).json()
                    assert len(same) == 1, same  # no duplicate session
                nodes = (await api.get("/api/v1/nodes")).json()
            # Node B's lease is gone; node A leads.
            assert [n["id"] for n in nodes] == ["node-a"]
            assert nodes[0]["leader"] is True
            for cp in chargers:
                await cp.ws.close()
        finally:
            b.stop()
            a.stop()
