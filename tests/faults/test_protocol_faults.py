"""Protocol faults over a live connection that tests/faults/test_bad_input.py
does not cover: invalid UTF-8, CALLs crossing in both directions.

Covered elsewhere (not repeated here): a station that never answers and the
next command going out (tests/api/test_commands_api.py
test_silent_station_times_out_then_next_command_works); non-Boot CALLs while
Pending or Rejected (tests/blocks/test_provisioning.py); 401 before the
upgrade, newest connection wins, dead peer dropped within the ping timeout
(tests/test_gateway.py); StartTransaction repeated after a lost answer
(tests/blocks/test_transactions.py)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import TRANSPORTS
from tests.helpers import RawStation, connect, register, wait_until


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both WebSocket stacks."""
    return str(request.param)


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_invalid_utf8_text_frame_closes_1007_and_server_lives(volta, protocol):
    """RFC 6455 §8.1: a text frame that is not UTF-8 fails the connection with
    1007. The station's registry entry goes, and it can connect again."""
    await register(volta, "UTF")
    async with connect(volta, "UTF", protocol) as ws:
        await ws.send(b'[2, "m1", "Heartbeat", {"x": "\xff\xfe"}]', text=True)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1007
    assert await wait_until(lambda: volta.router.version_of("UTF") is None)
    async with connect(volta, "UTF", protocol) as ws:
        assert (await RawStation(ws).call("Heartbeat", {}))[0] == 3


@pytest.mark.parametrize(
    ("protocol", "code"), [("ocpp1.6", "FormationViolation"), ("ocpp2.0.1", "RpcFrameworkError")]
)
async def test_invalid_utf8_in_binary_frame_is_refused_and_connection_lives(volta, protocol, code):
    """The same bytes in a binary frame are unreadable text: CALLERROR, id -1."""
    await register(volta, "UTF")
    async with connect(volta, "UTF", protocol) as ws:
        station = RawStation(ws)
        await station.send(b'[2, "m1", "Heartbeat", {"x": "\xff\xfe"}]')
        reply = await station.recv()
        assert reply[:3] == [4, "-1", code]
        assert (await station.call("Heartbeat", {}))[0] == 3


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
async def test_calls_crossing_in_both_directions(volta, api, protocol):
    """OCPP-J §4.1.1 limits each side to one outstanding CALL of its own, not
    the two directions together: the station sends a CALL while the CSMS's
    CALL to it is unanswered. Both are answered; nothing deadlocks."""
    await register(volta, "X")
    async with connect(volta, "X", protocol) as ws:
        command = asyncio.create_task(api.post("/api/v1/stations/X/commands/ClearCache", json={}))
        csms_call = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert csms_call[0] == 2 and csms_call[2] == "ClearCache"
        # Our own CALL while theirs waits for us.
        await ws.send(orjson.dumps([2, "mine", "Heartbeat", {}]).decode())
        answer = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert answer[:2] == [3, "mine"] and "currentTime" in answer[2]
        await ws.send(orjson.dumps([3, csms_call[1], {"status": "Accepted"}]).decode())
        record = (await asyncio.wait_for(command, 10)).json()
        assert record["status"] == "accepted"
