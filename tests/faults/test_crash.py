"""Crash safety: the server process is killed with SIGKILL in the middle of
a transaction and restarted; the stop closes the same transaction with the
right energy, because everything acknowledged was committed first."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.helpers import RawStation, basic_auth, now_iso
from tests.volta_process import free_port, postgres_database
from volta.blocks.authorization import service as auth_service
from volta.blocks.provisioning import service as provisioning
from volta.store import migrate
from volta.store.db import Database

TOKEN = "crash-test-token"
PASSWORD = "crash-station-password"


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/crash.db"
        return
    async with postgres_database("volta_crash") as url:
        yield url


# `volta serve` with one change: the process kills itself (SIGKILL) when it is
# about to send the CALLRESULT for VOLTA_TEST_KILL_BEFORE_ANSWER, that is after
# the handler committed and before the station could see the answer.
LAUNCHER = """
import os, signal, sys
from volta.ocpp import link
from volta.ocpp.frames import CALLRESULT
action = os.environ["VOLTA_TEST_KILL_BEFORE_ANSWER"]
send = link.OcppLink._send
async def _send(self, text, mtype, message_id, act, error_code):
    if mtype == CALLRESULT and act == action:
        os.kill(os.getpid(), signal.SIGKILL)
    return await send(self, text, mtype, message_id, act, error_code)
link.OcppLink._send = _send
from volta.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Server:
    def __init__(self, database_url: str) -> None:
        self.env = {
            **os.environ,
            "VOLTA_DATABASE_URL": database_url,
            "VOLTA_API_TOKEN": TOKEN,
            "VOLTA_LOG_FORMAT": "text",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ocpp_port = self.api_port = 0

    async def start(self, kill_before_answer: str | None = None) -> None:
        """Run `volta serve`; with `kill_before_answer`, the process SIGKILLs
        itself when about to send the answer to that action (see LAUNCHER)."""
        self.ocpp_port, self.api_port = free_port(), free_port()
        env = dict(self.env)
        program = ["-m", "volta"]
        if kill_before_answer:
            env["VOLTA_TEST_KILL_BEFORE_ANSWER"] = kill_before_answer
            program = ["-c", LAUNCHER]
        self.proc = subprocess.Popen(  # noqa: ASYNC220 - started once, not awaited on
            [
                sys.executable,
                *program,
                "serve",
                "--host",
                "127.0.0.1",
                "--ocpp-port",
                str(self.ocpp_port),
                "--api-port",
                str(self.api_port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        await client.get(f"http://127.0.0.1:{self.api_port}/healthz")
                    ).status_code == 200:
                        return
                if self.proc.poll() is not None:
                    raise RuntimeError(f"volta serve exited with {self.proc.returncode}")
                await asyncio.sleep(0.05)
        raise RuntimeError("volta serve did not start within 15 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @contextlib.asynccontextmanager
    async def station(self, station_id: str, protocol: str) -> AsyncIterator[RawStation]:
        async with websockets.connect(
            f"ws://127.0.0.1:{self.ocpp_port}/ocpp/{station_id}",
            subprotocols=[protocol],
            additional_headers=basic_auth(station_id, PASSWORD),
        ) as ws:
            yield RawStation(ws)

    async def api(self, path: str) -> dict:
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"http://127.0.0.1:{self.api_port}{path}",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            r.raise_for_status()
            return r.json()


@pytest.fixture
async def server(database_url) -> AsyncIterator[Server]:
    # Set up in-process (a `volta` CLI run per step cost ~1.5 s each).
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        for station_id in ("CRASH16", "CRASH201"):
            await provisioning.create_station(db, station_id, password=PASSWORD)
        await auth_service.add_token(db, "CARD-K")
    finally:
        await db.close()
    srv = Server(database_url)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.mark.slow
async def test_sigkill_mid_transaction_v16(server):
    await server.start()
    started_at = now_iso(-120)
    start = {"connectorId": 1, "idTag": "CARD-K", "meterStart": 1_000, "timestamp": started_at}
    async with server.station("CRASH16", "ocpp1.6") as st:
        await st.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
        tx = (await st.call("StartTransaction", start))[2]["transactionId"]
        mv = {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": now_iso(-60), "sampledValue": [{"value": "2500"}]}],
        }
        assert (await st.call("MeterValues", mv))[0] == 3
        server.kill()
    await server.start()
    async with server.station("CRASH16", "ocpp1.6") as st:
        # The station never saw an answer to a retry it sent: same id again.
        assert (await st.call("StartTransaction", start))[2]["transactionId"] == tx
        stop = {"transactionId": tx, "meterStop": 5_000, "timestamp": now_iso(), "reason": "Local"}
        assert (await st.call("StopTransaction", stop))[0] == 3
    body = await server.api(f"/api/v1/transactions/{tx}")
    assert body["status"] == "Ended"
    assert body["energy_wh"] == 4_000
    assert [m["value"] for m in body["meter_values"]] == [2_500]
    assert len(await server.api("/api/v1/transactions?station_id=CRASH16")) == 1


@pytest.mark.slow
async def test_sigkill_mid_transaction_v201(server):
    await server.start()

    def event(kind: str, seq: int, wh: float, context: str, **extra) -> dict:
        return {
            "eventType": kind,
            "timestamp": now_iso(),
            "triggerReason": "MeterValuePeriodic",
            "seqNo": seq,
            "transactionInfo": {"transactionId": "K-1", **extra},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {"timestamp": now_iso(), "sampledValue": [{"value": wh, "context": context}]}
            ],
        }

    async with server.station("CRASH201", "ocpp2.0.1") as st:
        boot = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}
        await st.call("BootNotification", boot)
        assert (
            await st.call("TransactionEvent", event("Started", 0, 10_000, "Transaction.Begin"))
        )[0] == 3
        assert (await st.call("TransactionEvent", event("Updated", 1, 11_000, "Sample.Periodic")))[
            0
        ] == 3
        server.kill()
    await server.start()
    async with server.station("CRASH201", "ocpp2.0.1") as st:
        # seqNo 1 again (its answer was lost in the crash): acknowledged, not counted twice.
        assert (await st.call("TransactionEvent", event("Updated", 1, 11_000, "Sample.Periodic")))[
            0
        ] == 3
        ended = event("Ended", 2, 13_500, "Transaction.End", stoppedReason="Local")
        assert (await st.call("TransactionEvent", ended))[0] == 3
    txs = await server.api("/api/v1/transactions?station_id=CRASH201")
    assert len(txs) == 1
    body = await server.api(f"/api/v1/transactions/{txs[0]['id']}")
    assert body["status"] == "Ended"
    assert body["energy_wh"] == 3_500
    assert len(body["meter_values"]) == 3


async def lost_answer(st: RawStation, action: str, payload: dict) -> None:
    """The server dies between committing `action` and answering it."""
    with pytest.raises((ConnectionClosed, TimeoutError)):
        await st.call(action, payload, timeout=10)


@pytest.mark.slow
async def test_sigkill_after_commit_before_answer_v16(server):
    """The start and then the stop are committed but their answers never leave;
    the charger retries each after the restart: the same transactionId, one
    transaction, one stop, the right energy."""
    boot = {"chargePointVendor": "v", "chargePointModel": "m"}
    start = {"connectorId": 1, "idTag": "CARD-K", "meterStart": 2_000, "timestamp": now_iso(-60)}
    await server.start(kill_before_answer="StartTransaction")
    async with server.station("CRASH16", "ocpp1.6") as st:
        await st.call("BootNotification", boot)
        await lost_answer(st, "StartTransaction", start)
    assert server.proc is not None and server.proc.wait(10) == -signal.SIGKILL
    await server.start(kill_before_answer="StopTransaction")
    async with server.station("CRASH16", "ocpp1.6") as st:
        tx = (await st.call("StartTransaction", start))[2]["transactionId"]
        stop = {"transactionId": tx, "meterStop": 9_000, "timestamp": now_iso(), "reason": "Local"}
        await lost_answer(st, "StopTransaction", stop)
    await server.start()
    async with server.station("CRASH16", "ocpp1.6") as st:
        assert (await st.call("StopTransaction", stop))[0] == 3
    [row] = await server.api("/api/v1/transactions?station_id=CRASH16")
    assert (row["id"], row["status"], row["energy_wh"]) == (tx, "Ended", 7_000)


@pytest.mark.slow
async def test_sigkill_after_commit_before_answer_v201(server):
    """A TransactionEvent committed but not answered is sent again after the
    restart: acknowledged, applied once."""
    started = {
        "eventType": "Started",
        "timestamp": now_iso(-60),
        "triggerReason": "Authorized",
        "seqNo": 0,
        "transactionInfo": {"transactionId": "K-2"},
        "evse": {"id": 1, "connectorId": 1},
        "meterValue": [
            {
                "timestamp": now_iso(-60),
                "sampledValue": [{"value": 500, "context": "Transaction.Begin"}],
            }
        ],
    }
    await server.start(kill_before_answer="TransactionEvent")
    async with server.station("CRASH201", "ocpp2.0.1") as st:
        boot = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}
        await st.call("BootNotification", boot)
        await lost_answer(st, "TransactionEvent", started)
    await server.start()
    async with server.station("CRASH201", "ocpp2.0.1") as st:
        assert (await st.call("TransactionEvent", started))[0] == 3
        ended = {
            **started,
            "eventType": "Ended",
            "seqNo": 1,
            "timestamp": now_iso(),
            "transactionInfo": {"transactionId": "K-2", "stoppedReason": "Local"},
            "meterValue": [
                {
                    "timestamp": now_iso(),
                    "sampledValue": [{"value": 1_700, "context": "Transaction.End"}],
                }
            ],
        }
        assert (await st.call("TransactionEvent", ended))[0] == 3
    [row] = await server.api("/api/v1/transactions?station_id=CRASH201")
    body = await server.api(f"/api/v1/transactions/{row['id']}")
    assert (body["status"], body["energy_wh"], len(body["meter_values"])) == ("Ended", 1_200, 2)
