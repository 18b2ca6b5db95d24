"""The graceful drain: on SIGTERM (or `Volta.drain()`), a node stops taking
stations, closes those it holds with 1012 (service restart) in batches of
`drain_batch`, `drain_pause` seconds apart, answers what they sent before
their close, commits it, and only then stops; a second signal stops it at
once. Checked on `volta serve` subprocesses over real sockets (SQLite and
PostgreSQL) and in-process on both WebSocket stacks."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from tests.conftest import TRANSPORTS
from tests.helpers import RawStation, connect, now_iso, register, ws_url
from tests.volta_process import (
    PASSWORD,
    ServeProcess,
    close_of,
    groups,
    postgres_database,
)
from volta.app import Volta
from volta.blocks.authorization import service as auth_service
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.versions import Version
from volta.store import migrate
from volta.store.db import Database
from volta.store.models import Transaction

BOOT16 = {"chargePointVendor": "v", "chargePointModel": "m"}
BOOT201 = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}


def started_event(tx: str) -> dict:
    return {
        "eventType": "Started",
        "timestamp": now_iso(),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": tx},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": now_iso(),
                "sampledValue": [{"value": 100, "context": "Transaction.Begin"}],
            }
        ],
    }


async def transactions_of(database_url: str, station_id: str) -> list[str]:
    """The station's transactions in the database: 2.0.1 ids, or 1.6 ids."""
    db = Database(database_url)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                sa.select(Transaction.id, Transaction.station_transaction_id).where(
                    Transaction.station_id == station_id
                )
            )
            return [str(r.station_transaction_id or r.id) for r in rows]
    finally:
        await db.close()


# -- `volta serve` subprocesses ------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/drain.db"
        return
    async with postgres_database("volta_drain") as url:
        yield url


STATIONS16 = [f"DR16-{i}" for i in range(1, 5)]
STATION201 = "DR201"


async def provision(database_url: str) -> None:
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        for station_id in [*STATIONS16, STATION201]:
            await provisioning.create_station(db, station_id, password=PASSWORD)
        await auth_service.add_token(db, "CARD-D")
    finally:
        await db.close()


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[ServeProcess]:
    await provision(database_url)
    server = ServeProcess(database_url, tmp_path / "serve", drain_batch=2, drain_pause=0.6)
    try:
        yield server
    finally:
        server.stop()


# A `volta serve` whose handler for $VOLTA_TEST_SLOW_ACTION takes a second
# before it starts: a CALL still being handled when the signal comes.
SLOW_LAUNCHER = """
import asyncio, os, sys
from volta.gateway import connection
action = os.environ["VOLTA_TEST_SLOW_ACTION"]
answer = connection.StationConnection._answer
async def _answer(self, call):
    if call.action == action:
        await asyncio.sleep(1.0)
    return await answer(self, call)
connection.StationConnection._answer = _answer
from volta.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
async def test_sigterm_drains_in_batches_then_exits(served: ServeProcess, database_url: str):
    """SIGTERM: every station gets 1012, two at a time 0.6 s apart; a
    transaction answered just before the signal is in the database; the
    stations still connected answer their CALLs; no station can connect once
    the drain began; the API answers until the end; exit status 0."""
    await served.start()
    stations = [await served.connect(sid) for sid in STATIONS16]
    v201 = await served.connect(STATION201, "ocpp2.0.1")
    try:
        for ws in stations:
            assert (await RawStation(ws).call("BootNotification", BOOT16))[2][
                "status"
            ] == "Accepted"
        await RawStation(v201).call("BootNotification", BOOT201)
        answered = await RawStation(v201).call("TransactionEvent", started_event("DR-TX-1"))
        assert answered[0] == 3  # acknowledged ...
        closes = [asyncio.create_task(close_of(ws)) for ws in [*stations, v201]]
        served.signal(signal.SIGTERM)

        await asyncio.wait(closes, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.sleep(0.15)
        # The first batch is closed; the next ones are still served ...
        still_open = [
            ws for ws, task in zip([*stations, v201], closes, strict=True) if not task.done()
        ]
        assert len(still_open) == 3
        for ws in still_open:
            assert (await RawStation(ws).call("Heartbeat", {}, timeout=2))[0] == 3
        # ... no new station gets in ...
        with pytest.raises((OSError, InvalidStatus)):
            ws = await served.connect(STATIONS16[0])
            await ws.close()
        # ... and the API still answers.
        assert (await served.api("/healthz")).status_code == 200

        results = await asyncio.gather(*closes)
        assert [code for code, _ in results] == [1012] * 5
        assert groups([t for _, t in results], gap=0.3) == [2, 2, 1]
        assert await served.wait(20) == 0
    finally:
        for ws in [*stations, v201]:
            await ws.close()
    # ... and what was acknowledged is in the database.
    assert await transactions_of(database_url, STATION201) == ["DR-TX-1"]


@pytest.mark.slow
async def test_call_under_way_at_sigterm_is_answered_and_committed(
    served: ServeProcess, database_url: str
):
    """A StartTransaction whose handler is still running when SIGTERM comes
    is answered before the station's 1012, and its transaction is stored."""
    served.env["VOLTA_TEST_SLOW_ACTION"] = "StartTransaction"
    await served.start(program=["-c", SLOW_LAUNCHER])
    ws = await served.connect(STATIONS16[0])
    try:
        await RawStation(ws).call("BootNotification", BOOT16)
        start = {"connectorId": 1, "idTag": "CARD-D", "meterStart": 0, "timestamp": now_iso()}
        await ws.send(orjson.dumps([2, "start-1", "StartTransaction", start]).decode())
        await asyncio.sleep(0.3)  # received, its handler sleeping
        served.signal(signal.SIGTERM)
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame[:2] == [3, "start-1"]
        tx = frame[2]["transactionId"]
        code, _ = await close_of(ws)
        assert code == 1012
    finally:
        await ws.close()
    assert await served.wait(20) == 0
    assert await transactions_of(database_url, STATIONS16[0]) == [str(tx)]


@pytest.mark.slow
async def test_second_signal_stops_at_once(served: ServeProcess):
    """With a drain that would take 10 s (one station per batch, 5 s apart),
    a second SIGTERM stops the server within a couple of seconds."""
    served.env["VOLTA_DRAIN_BATCH"] = "1"
    served.env["VOLTA_DRAIN_PAUSE"] = "5"
    await served.start()
    stations = [await served.connect(sid) for sid in STATIONS16[:3]]
    try:
        closes = [asyncio.create_task(close_of(ws)) for ws in stations]
        served.signal(signal.SIGTERM)
        await asyncio.wait(closes, return_when=asyncio.FIRST_COMPLETED)
        assert sum(task.done() for task in closes) == 1
        second = time.monotonic()
        served.signal(signal.SIGTERM)
        assert await served.wait(10) == 0
        assert time.monotonic() - second < 3
        await asyncio.gather(*closes)  # every connection ended
    finally:
        for ws in stations:
            await ws.close()


# -- in-process, both WebSocket stacks ------------------------------------------------------


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"drain_batch": 2, "drain_pause": 0.5}


async def test_drain_closes_with_1012_in_batches(volta: Volta):
    """Volta.drain(): 5 stations closed with 1012 in batches of 2, 0.5 s
    apart; the port refuses new stations from the start; the node's router
    ends empty."""
    ids = [f"DI-{i}" for i in range(5)]
    for sid in ids:
        await register(volta, sid)
    url = ws_url(volta, ids[0])
    stations = [
        await websockets.connect(ws_url(volta, sid), subprotocols=["ocpp1.6"], open_timeout=5)  # type: ignore[list-item]
        for sid in ids
    ]
    try:
        for ws in stations:
            await RawStation(ws).call("BootNotification", BOOT16)
        closes = [asyncio.create_task(close_of(ws)) for ws in stations]
        drain = asyncio.create_task(volta.drain())
        await asyncio.wait(closes, return_when=asyncio.FIRST_COMPLETED)
        assert volta.draining
        with pytest.raises((OSError, InvalidStatus)):
            await (await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=2)).close()  # type: ignore[list-item]
        results = await asyncio.gather(*closes)
        await drain
        assert [code for code, _ in results] == [1012] * 5
        assert groups([t for _, t in results], gap=0.25) == [2, 2, 1]
        assert volta.router.online() == {}
    finally:
        for ws in stations:
            await ws.close()


async def test_drain_answers_calls_under_way(volta: Volta, monkeypatch: pytest.MonkeyPatch):
    """A CALL whose handler is running when the drain begins is answered,
    then the station is closed with 1012."""
    await register(volta, "DW")
    key = (Version.V16, "DataTransfer")
    handler = volta.services.handlers.handlers[key]

    async def slow(ctx, payload):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.5)
        return await handler(ctx, payload)

    monkeypatch.setitem(volta.services.handlers.handlers, key, slow)
    async with connect(volta, "DW", "ocpp1.6") as ws:
        await RawStation(ws).call("BootNotification", BOOT16)
        await ws.send(orjson.dumps([2, "dt-1", "DataTransfer", {"vendorId": "x"}]).decode())
        await asyncio.sleep(0.1)
        drain = asyncio.create_task(volta.drain())
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[:2] == [3, "dt-1"]
        code, _ = await close_of(ws)
        assert code == 1012
        await drain


async def test_drain_waits_for_a_command_under_way(volta: Volta, api):
    """A command sent to the station just before the drain gets the
    station's answer (accepted), then the station is closed with 1012."""
    await register(volta, "DC")
    async with connect(volta, "DC", "ocpp1.6") as ws:
        await RawStation(ws).call("BootNotification", BOOT16)
        command = asyncio.create_task(api.post("/api/v1/stations/DC/commands/ClearCache", json={}))
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame[2] == "ClearCache"
        drain = asyncio.create_task(volta.drain())
        await asyncio.sleep(0.5)  # the station takes its time
        assert not drain.done()
        await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        assert (await command).json()["status"] == "accepted"
        code, _ = await close_of(ws)
        assert code == 1012
        await drain


async def test_upgrade_under_way_when_the_drain_begins_gets_503(
    volta: Volta, monkeypatch: pytest.MonkeyPatch
):
    """A station whose upgrade was being checked when the drain began is
    answered 503 with Retry-After (it connects again, elsewhere)."""
    await register(volta, "DU")
    admit = volta.gateway.admitter.admit
    checking = asyncio.Event()

    async def slow_admit(*args):  # type: ignore[no-untyped-def]
        checking.set()
        await asyncio.sleep(0.5)
        return await admit(*args)

    monkeypatch.setattr(volta.gateway.admitter, "admit", slow_admit)
    url = ws_url(volta, "DU")

    async def open_station() -> None:
        ws = await websockets.connect(url, subprotocols=["ocpp1.6"], open_timeout=5)  # type: ignore[list-item]
        await ws.close()

    opening = asyncio.create_task(open_station())
    await asyncio.wait_for(checking.wait(), 5)
    await volta.drain()
    with pytest.raises(InvalidStatus) as refused:
        await opening
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "1"
