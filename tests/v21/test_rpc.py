"""The OCPP-J 2.1 RPC framework over real WebSockets: SEND is never
answered, a station's CALLRESULTERROR is logged and the connection lives,
Volta answers a CALLRESULT that breaks the schema with a CALLRESULTERROR,
retried message ids are answered once, and older versions meet types 5 and
6 as their own specifications say.

Section numbers are OCPP-J 2.1's (Part 4): §4.1.3 message types, §4.2.1 CALL
and its message id, §4.2.4 CALLRESULTERROR, §4.2.5 SEND; FR.06 is OCPP 2.1
Part 2's generic requirement for invalid responses."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from tests.api.test_stations_api import frames_until
from tests.helpers import RawStation, connect, now_iso, register
from tests.web.conftest import VIEWER, add_users, base_url, sign_in
from volta import metrics

pytestmark = pytest.mark.asyncio

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Volta-21", "vendorName": "Volta"}}
STREAM = {"id": 1, "pending": 0, "basetime": "2026-01-01T00:00:00Z", "data": [{"t": 0, "v": "7"}]}


def send(mid: str, action: str, payload: Any) -> str:
    return orjson.dumps([6, mid, action, payload]).decode()


def handled(action: str) -> float:
    """How many CALLs of `action` Volta's handlers have run (this process:
    the handler-time histogram's count)."""
    histogram = metrics.child(metrics.HANDLER_SECONDS, action)
    return float(sum(bucket.get() for bucket in histogram._buckets))


async def booted(cp: RawStation) -> None:
    answer = await cp.call("BootNotification", BOOT)
    assert answer[0] == 3 and answer[2]["status"] == "Accepted", answer


async def test_a_send_is_never_answered(volta, api):
    """OCPP-J 2.1 §4.2.5: nothing goes back for a SEND: valid, invalid, of an
    action that is no SEND, unknown, malformed, or before the station is
    accepted; the connection lives on and the frame log shows each as it was
    read (valid ones as SEND, type 6, with their action)."""
    await register(volta, "RPC-S1")
    async with connect(volta, "RPC-S1", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await ws.send(send("s-0", "NotifyPeriodicEventStream", STREAM))  # not yet accepted
        assert await cp.no_message(0.3)
        await booted(cp)
        for text in (
            send("s-1", "NotifyPeriodicEventStream", STREAM),
            send("s-2", "NotifyPeriodicEventStream", {"id": 1}),
            send("s-3", "Heartbeat", {}),
            send("s-4", "NoSuchAction", {}),
            '[6, "s-5", "NotifyPeriodicEventStream"]',
        ):
            await ws.send(text)
        assert await cp.no_message(0.5)
        heartbeat = await cp.call("Heartbeat", {})
        assert heartbeat[0] == 3
    rows = await frames_until(api, "RPC-S1", 9, direction="in")
    by_id = {r["message_id"]: r for r in rows}
    assert by_id["s-1"]["message_type"] == 6
    assert by_id["s-1"]["action"] == "NotifyPeriodicEventStream"
    assert by_id["s-0"]["message_type"] == 6  # read as a SEND; dropped by the registration rule
    # Those Volta could not accept are logged as received, unread.
    unread = [r for r in rows if r["message_type"] is None]
    assert len(unread) == 4
    out = await frames_until(api, "RPC-S1", 2, direction="out")
    assert {r["message_type"] for r in out} == {3}


async def test_a_station_callresulterror_is_logged_and_the_connection_lives(volta, api):
    """OCPP-J 2.1 §4.2.4: a station that could not process Volta's answer
    says so with a CALLRESULTERROR; nothing is sent back, the frame log shows
    it (type 5, the action it is about, its code) and the metrics count it."""
    await register(volta, "RPC-E1")
    counter = metrics.child(metrics.RESULT_ERRORS, "in", "FormatViolation")
    before = counter._value.get()
    async with connect(volta, "RPC-E1", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        heartbeat = await cp.call("Heartbeat", {})
        await ws.send(orjson.dumps([5, heartbeat[1], "FormatViolation", "no", {}]).decode())
        assert await cp.no_message(0.5)
        again = await cp.call("Heartbeat", {})
        assert again[0] == 3
    rows = await frames_until(api, "RPC-E1", 4, direction="in")
    [error] = [r for r in rows if r["message_type"] == 5]
    assert error["message_id"] == heartbeat[1]
    assert error["action"] == "Heartbeat"
    assert error["error_code"] == "FormatViolation"
    assert counter._value.get() == before + 1
    text = (await api.get("/metrics")).text
    assert 'volta_ocpp_callresulterrors_total{code="FormatViolation",direction="in"}' in text


async def test_a_callresult_breaking_the_schema_gets_a_callresulterror(volta, api):
    """OCPP 2.1 Part 2 FR.06, OCPP-J 2.1 §4.2.4: the station answers an API
    command with a CALLRESULT its schema refuses: Volta sends a
    CALLRESULTERROR with the CALL's message id and the violation's code; the
    command still reports what the station said and what is wrong with it."""
    await register(volta, "RPC-R1")
    async with connect(volta, "RPC-R1", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        command = asyncio.create_task(
            api.post("/api/v1/stations/RPC-R1/commands/Reset", json={"type": "Immediate"})
        )
        call = await cp.recv()
        assert call[:3] == [2, call[1], "Reset"]
        await ws.send(orjson.dumps([3, call[1], {"status": "Bogus"}]).decode())
        error = await cp.recv()
        assert error[0] == 5 and error[1] == call[1]
        assert error[2] in ("FormatViolation", "PropertyConstraintViolation")
        assert isinstance(error[3], str) and error[4] == {}
        body = (await command).json()
    assert body["status"] == "rejected"  # "Bogus" is no Accepted
    assert body["response"] == {"status": "Bogus"}
    assert body["error_code"] == error[2]
    assert "Reset response schema" in body["error_description"]
    out = await frames_until(api, "RPC-R1", 3, direction="out")
    [sent] = [r for r in out if r["message_type"] == 5]
    assert sent["action"] == "Reset" and sent["error_code"] == error[2]


async def test_the_same_bad_callresult_gets_nothing_back_on_2_0_1(volta, api):
    """OCPP-J 2.0.1 has no CALLRESULTERROR: the violation is only reported
    in the command."""
    await register(volta, "RPC-R2")
    async with connect(volta, "RPC-R2", "ocpp2.0.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        command = asyncio.create_task(
            api.post("/api/v1/stations/RPC-R2/commands/Reset", json={"type": "Immediate"})
        )
        call = await cp.recv()
        await ws.send(orjson.dumps([3, call[1], {"status": "Bogus"}]).decode())
        body = (await command).json()
        assert await cp.no_message(0.3)
    assert body["error_code"] and body["status"] == "rejected"


async def test_a_retried_call_is_answered_again_not_handled_again(volta, api):
    """OCPP-J 2.1 §4.2.1: a station that got no answer (in time) sends its
    CALL again with the same message id: Volta answers it with the same
    answer, byte for byte, and does not handle it a second time."""
    await register(volta, "RPC-T1")
    async with connect(volta, "RPC-T1", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        before = handled("Heartbeat")
        text = '[2, "hb-retried", "Heartbeat", {}]'
        await ws.send(text)
        first = await ws.recv()
        await asyncio.sleep(0.05)  # a second handling would tell another time
        await ws.send(text)
        second = await ws.recv()
        assert second == first
        assert handled("Heartbeat") == before + 1
    rows = await frames_until(api, "RPC-T1", 2, action="Heartbeat", direction="in")
    assert [r["message_type"] for r in rows] == [2, 2]


async def test_a_retry_crossing_the_first_handling_gets_one_answer(volta):
    """OCPP-J 2.1 §4.2.1: the retry arrives while the first is still being
    handled (a transaction event being stored): one handling, one answer."""
    await register(volta, "RPC-T2")
    async with connect(volta, "RPC-T2", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        event = {
            "eventType": "Started",
            "timestamp": now_iso(),
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "rpc-t2"},
            "evse": {"id": 1, "connectorId": 1},
        }
        text = orjson.dumps([2, "te-1", "TransactionEvent", event]).decode()
        before = handled("TransactionEvent")
        await ws.send(text)
        await ws.send(text)
        answer = await cp.recv()
        assert answer[:2] == [3, "te-1"]
        assert await cp.no_message(0.5)
        assert handled("TransactionEvent") == before + 1


async def test_a_reused_id_for_another_action_is_refused(volta):
    """Decision (OCPP-J 2.1 §4.2.1 says a CALL's id is its own and a retry
    keeps it): an id Volta just answered, reused for another action, is no
    retry: CALLERROR RpcFrameworkError, not handled."""
    await register(volta, "RPC-T3")
    async with connect(volta, "RPC-T3", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        await ws.send('[2, "same", "Heartbeat", {}]')
        assert (await cp.recv())[:2] == [3, "same"]
        await ws.send('[2, "same", "Authorize", {"idToken": {"idToken": "T", "type": "Central"}}]')
        error = await cp.recv()
        assert error[:3] == [4, "same", "RpcFrameworkError"]
        assert "Heartbeat" in error[3]


async def test_2_0_1_answers_types_5_and_6_with_message_type_not_supported(volta):
    """OCPP-J 2.0.1 §4.1.3: CALLRESULTERROR and SEND are unknown message
    types there: CALLERROR MessageTypeNotSupported with the frame's id."""
    await register(volta, "RPC-O1")
    async with connect(volta, "RPC-O1", "ocpp2.0.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        await ws.send('[5, "r-1", "FormatViolation", "", {}]')
        assert (await cp.recv())[:3] == [4, "r-1", "MessageTypeNotSupported"]
        await ws.send(send("s-1", "NotifyPeriodicEventStream", STREAM))
        assert (await cp.recv())[:3] == [4, "s-1", "MessageTypeNotSupported"]
        assert (await cp.call("Heartbeat", {}))[0] == 3


async def test_1_6_ignores_types_5_and_6(volta):
    """OCPP-J 1.6 §4.1.3: an unknown message type is ignored."""
    await register(volta, "RPC-O2")
    async with connect(volta, "RPC-O2", "ocpp1.6") as ws:
        cp = RawStation(ws)
        await ws.send('[5, "r-1", "FormatViolation", "", {}]')
        await ws.send(send("s-1", "NotifyPeriodicEventStream", STREAM))
        assert await cp.no_message(0.5)
        boot = await cp.call(
            "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
        assert boot[0] == 3


async def test_the_dashboard_frame_log_names_types_5_and_6(volta, api):
    """The station page's frame log labels 2.1's CALLRESULTERROR (as an
    error) and SEND, not "?"."""
    await add_users(volta)
    await register(volta, "RPC-D1")
    async with connect(volta, "RPC-D1", "ocpp2.1") as ws:
        cp = RawStation(ws)
        await booted(cp)
        await ws.send(send("s-1", "NotifyPeriodicEventStream", STREAM))
        heartbeat = await cp.call("Heartbeat", {})
        await ws.send(orjson.dumps([5, heartbeat[1], "InternalError", "", {}]).decode())
        assert await cp.no_message(0.3)
    await frames_until(api, "RPC-D1", 6)
    async with httpx.AsyncClient(base_url=base_url(volta), timeout=15) as web:
        await sign_in(web, *VIEWER)
        html = (await web.get("/stations/RPC-D1/frames")).text
    assert ">SEND</span>" in html
    assert '<span class="pill bad">RESULT ERROR</span> InternalError' in html
    assert ">?</span>" not in html
