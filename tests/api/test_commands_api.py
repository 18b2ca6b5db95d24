"""Commands through the HTTP API, answered by real stations.

POST /api/v1/stations/{id}/commands/{Action} sends the CALL, waits for the
answer and returns the stored command; GET /api/v1/commands/{id} reads it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from tests.helpers import RawStation, connect, register, station


@pytest.fixture
def volta_settings() -> dict[str, object]:
    # Short, so that a station that never answers times out quickly; the
    # helper stations answer within milliseconds.
    return {"call_timeout": 1.0}


async def wait_online(volta, station_id: str, online: bool = True, timeout: float = 3.0) -> None:
    """Nothing orders the client's end of the handshake before the gateway
    attaching the connection (nor its detaching before the client's close
    returns): wait, bounded, for the router to agree."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (volta.router.version_of(station_id) is not None) != online:
        assert loop.time() < deadline, f"{station_id} never became online={online}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def online_station(volta, station_id: str, version: str) -> AsyncIterator[Any]:
    await register(volta, station_id)
    async with station(volta, station_id, version) as cp:
        await wait_online(volta, station_id)
        yield cp


async def send(
    api: httpx.AsyncClient, station_id: str, action: str, payload: Any = None
) -> httpx.Response:
    url = f"/api/v1/stations/{station_id}/commands/{action}"
    if payload is None:
        return await api.post(url)
    return await api.post(url, json=payload)


# (action, payload sent, what the station's handler got, status, the station's answer)
CASES_16: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any]]] = [
    (
        "RemoteStartTransaction",
        {"idTag": "TAG1", "connectorId": 1},
        {"id_tag": "TAG1", "connector_id": 1},
        "accepted",
        {"status": "Accepted"},
    ),
    (
        "RemoteStopTransaction",
        {"transactionId": 42},
        {"transaction_id": 42},
        "accepted",
        {"status": "Accepted"},
    ),
    ("Reset", {"type": "Soft"}, {"type": "Soft"}, "accepted", {"status": "Accepted"}),
    (
        "UnlockConnector",
        {"connectorId": 1},
        {"connector_id": 1},
        "accepted",
        {"status": "Unlocked"},
    ),
    (
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
        {"connector_id": 0, "type": "Inoperative"},
        "accepted",
        {"status": "Scheduled"},
    ),
    (
        "GetConfiguration",
        {"key": ["HeartbeatInterval"]},
        {"key": ["HeartbeatInterval"]},
        "accepted",
        {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]},
    ),
    (
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "60"},
        {"key": "HeartbeatInterval", "value": "60"},
        "accepted",
        {"status": "Accepted"},
    ),
    (
        "ChangeConfiguration",
        {"key": "NoSuchKey", "value": "1"},
        {"key": "NoSuchKey", "value": "1"},
        "rejected",
        {"status": "NotSupported"},
    ),
    (
        "TriggerMessage",
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        {"requested_message": "StatusNotification", "connector_id": 1},
        "accepted",
        {"status": "Accepted"},
    ),
    ("ClearCache", {}, {}, "rejected", {"status": "Rejected"}),
    (
        "DataTransfer",
        {"vendorId": "com.acme", "messageId": "ping", "data": "hi"},
        {"vendor_id": "com.acme", "message_id": "ping", "data": "hi"},
        "accepted",
        {"status": "Accepted", "data": "pong"},
    ),
]

_COMPONENT = {"name": "OCPPCommCtrlr"}
_VARIABLE = {"name": "HeartbeatInterval"}

CASES_201: list[tuple[str, dict[str, Any], dict[str, Any], str, dict[str, Any]]] = [
    (
        "RequestStartTransaction",
        {"idToken": {"idToken": "TAG1", "type": "ISO14443"}, "remoteStartId": 7, "evseId": 1},
        {"id_token": {"id_token": "TAG1", "type": "ISO14443"}, "remote_start_id": 7, "evse_id": 1},
        "accepted",
        {"status": "Accepted", "transactionId": "tx-remote"},
    ),
    (
        "RequestStopTransaction",
        {"transactionId": "tx-remote"},
        {"transaction_id": "tx-remote"},
        "accepted",
        {"status": "Accepted"},
    ),
    ("Reset", {"type": "Immediate"}, {"type": "Immediate"}, "accepted", {"status": "Accepted"}),
    (
        "UnlockConnector",
        {"evseId": 1, "connectorId": 1},
        {"evse_id": 1, "connector_id": 1},
        "accepted",
        {"status": "Unlocked"},
    ),
    (
        "ChangeAvailability",
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
        {"operational_status": "Inoperative", "evse": {"id": 1}},
        "accepted",
        {"status": "Accepted"},
    ),
    (
        "GetVariables",
        {"getVariableData": [{"component": _COMPONENT, "variable": _VARIABLE}]},
        {"get_variable_data": [{"component": _COMPONENT, "variable": _VARIABLE}]},
        "accepted",
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": _COMPONENT,
                    "variable": _VARIABLE,
                    "attributeValue": "300",
                }
            ]
        },
    ),
    (
        "SetVariables",
        {
            "setVariableData": [
                {"attributeValue": "60", "component": _COMPONENT, "variable": _VARIABLE}
            ]
        },
        {
            "set_variable_data": [
                {"attribute_value": "60", "component": _COMPONENT, "variable": _VARIABLE}
            ]
        },
        "accepted",
        {
            "setVariableResult": [
                {"attributeStatus": "Accepted", "component": _COMPONENT, "variable": _VARIABLE}
            ]
        },
    ),
    (
        "GetBaseReport",
        {"requestId": 3, "reportBase": "FullInventory"},
        {"request_id": 3, "report_base": "FullInventory"},
        "accepted",
        {"status": "Accepted"},
    ),
    (
        "TriggerMessage",
        {"requestedMessage": "Heartbeat"},
        {"requested_message": "Heartbeat"},
        "accepted",
        {"status": "Accepted"},
    ),
    ("ClearCache", {}, {}, "accepted", {"status": "Accepted"}),
    (
        "DataTransfer",
        {"vendorId": "com.acme", "messageId": "ping", "data": "hi"},
        {"vendor_id": "com.acme", "message_id": "ping", "data": "hi"},
        "accepted",
        {"status": "Accepted", "data": "pong"},
    ),
]


def _case_id(case: tuple[Any, ...]) -> str:
    action, _, _, status, _ = case
    return f"{action}-{status}"


@pytest.mark.parametrize(
    ("version", "case"),
    [("1.6", c) for c in CASES_16] + [("2.0.1", c) for c in CASES_201],
    ids=[f"1.6-{_case_id(c)}" for c in CASES_16] + [f"2.0.1-{_case_id(c)}" for c in CASES_201],
)
async def test_command_is_answered(volta, api, version, case):
    action, payload, received, status, answer = case
    async with online_station(volta, "CP1", version) as cp:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        resp = await send(api, "CP1", action, payload)
        assert resp.status_code == 200, resp.text
        command = resp.json()
        assert cp.received == [(action, received)]

    assert command["status"] == status
    assert command["response"] == answer
    assert command["station_id"] == "CP1"
    assert command["action"] == action
    assert command["payload"] == payload
    assert command["message_id"]
    assert command["error_code"] is None
    created = dt.datetime.fromisoformat(command["created_at"])
    completed = dt.datetime.fromisoformat(command["completed_at"])
    assert before <= created <= completed

    stored = await api.get(f"/api/v1/commands/{command['id']}")
    assert stored.status_code == 200
    assert stored.json() == command


async def test_command_without_body_sends_empty_payload(volta, api):
    async with online_station(volta, "CP1", "1.6") as cp:
        resp = await send(api, "CP1", "ClearCache")
        assert resp.status_code == 200
        assert cp.received == [("ClearCache", {})]
    assert resp.json()["payload"] == {}
    assert resp.json()["status"] == "rejected"


async def test_callerror_answer_is_error(volta, api):
    """The helper station has no GetLocalListVersion handler: the library
    answers with a CALLERROR, which the command keeps."""
    async with online_station(volta, "CP1", "1.6"):
        resp = await send(api, "CP1", "GetLocalListVersion", {})
    assert resp.status_code == 200
    command = resp.json()
    assert command["status"] == "error"
    assert command["error_code"] == "NotImplemented"
    assert command["response"] is None
    assert (await api.get(f"/api/v1/commands/{command['id']}")).json() == command


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "Reset", {"type": "Sideways"}),
        ("1.6", "Reset", {}),
        ("1.6", "RemoteStartTransaction", {"idTag": "x" * 21}),
        ("1.6", "UnlockConnector", {"connectorId": "one"}),
        ("2.0.1", "Reset", {"type": "Soft"}),
        ("2.0.1", "RequestStartTransaction", {"idToken": {"idToken": "T"}, "remoteStartId": 1}),
        ("2.0.1", "GetVariables", {"getVariableData": []}),
    ],
    ids=lambda v: v if isinstance(v, str) else orjson.dumps(v).decode()[:30],
)
async def test_invalid_payload_is_422_and_not_sent(volta, api, version, action, payload):
    async with online_station(volta, "CP1", version) as cp:
        resp = await send(api, "CP1", action, payload)
        assert resp.status_code == 422
        command = resp.json()
        assert command["status"] == "invalid"
        assert command["error_description"]
        assert command["message_id"] is None
        assert command["response"] is None
        # The next, valid command is the first thing the station ever got.
        ok = await send(api, "CP1", "ClearCache", {})
        assert ok.status_code == 200
        assert cp.received == [("ClearCache", {})]
    stored = await api.get(f"/api/v1/commands/{command['id']}")
    assert stored.json() == command


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "BootNotification", {"chargePointModel": "M", "chargePointVendor": "V"}),
        ("1.6", "Heartbeat", {}),
        (
            "1.6",
            "RequestStartTransaction",
            {
                "idToken": {"idToken": "T", "type": "ISO14443"},
                "remoteStartId": 1,
            },
        ),
        (
            "1.6",
            "GetVariables",
            {
                "getVariableData": [{"component": _COMPONENT, "variable": _VARIABLE}],
            },
        ),
        ("2.0.1", "RemoteStartTransaction", {"idTag": "TAG1"}),
        ("2.0.1", "TransactionEvent", {}),
        ("2.0.1", "NoSuchAction", {}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_action_a_csms_cannot_send_is_422(volta, api, version, action, payload):
    async with online_station(volta, "CP1", version) as cp:
        resp = await send(api, "CP1", action, payload)
        assert resp.status_code == 422
        command = resp.json()
        assert command["status"] == "invalid"
        assert action in command["error_description"]
        assert command["error_code"] == "NotSupported"
        ok = await send(api, "CP1", "ClearCache", {})
        assert ok.status_code == 200
        assert cp.received == [("ClearCache", {})]


async def test_offline_station(volta, api):
    await register(volta, "CP1")
    resp = await send(api, "CP1", "Reset", {"type": "Hard"})
    assert resp.status_code == 200
    command = resp.json()
    assert command["status"] == "offline"
    assert "CP1" in command["error_description"]
    assert command["message_id"] is None
    assert command["response"] is None
    assert command["completed_at"]
    assert (await api.get(f"/api/v1/commands/{command['id']}")).json() == command


async def test_station_that_left_is_offline_and_still_validated(volta, api):
    async with online_station(volta, "CP1", "2.0.1") as cp:
        assert (await send(api, "CP1", "ClearCache", {})).json()["status"] == "accepted"
    await wait_online(volta, "CP1", online=False)
    resp = await send(api, "CP1", "ClearCache", {})
    assert resp.status_code == 200
    assert resp.json()["status"] == "offline"
    # Its last protocol (2.0.1) still decides what is valid.
    resp = await send(api, "CP1", "RemoteStartTransaction", {"idTag": "TAG1"})
    assert resp.status_code == 422
    assert resp.json()["status"] == "invalid"
    assert cp.received == [("ClearCache", {})]


async def test_unknown_station_is_404(api):
    resp = await send(api, "NOPE", "Reset", {"type": "Soft"})
    assert resp.status_code == 404
    assert "NOPE" in resp.json()["detail"]


async def test_unknown_command_is_404(api):
    resp = await api.get("/api/v1/commands/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404
    assert resp.json()["detail"]


async def test_payload_must_be_an_object(volta, api):
    async with online_station(volta, "CP1", "1.6") as cp:
        resp = await send(api, "CP1", "Reset", ["Soft"])
        assert resp.status_code == 422
        assert cp.received == []


async def test_silent_station_times_out_then_next_command_works(volta, api):
    await register(volta, "CP-MUTE")
    async with connect(volta, "CP-MUTE", "ocpp1.6") as ws:
        raw = RawStation(ws)
        await wait_online(volta, "CP-MUTE")

        # It reads the CALL and never answers.
        pending = asyncio.create_task(send(api, "CP-MUTE", "Reset", {"type": "Soft"}))
        first = await raw.recv(timeout=5)
        assert first[0] == 2 and first[2:] == ["Reset", {"type": "Soft"}]
        resp = await asyncio.wait_for(pending, 10)
        assert resp.status_code == 200
        timed_out = resp.json()
        assert timed_out["status"] == "timeout"
        assert timed_out["message_id"] == first[1]
        assert timed_out["response"] is None
        assert "no answer" in timed_out["error_description"]
        assert timed_out["completed_at"]

        # The next command goes out. The late answer to the first arrives
        # while it is outstanding and must not be taken for its answer.
        pending = asyncio.create_task(send(api, "CP-MUTE", "ClearCache", {}))
        second = await raw.recv(timeout=5)
        assert second[0] == 2 and second[2:] == ["ClearCache", {}]
        assert second[1] != first[1]
        await raw.send(orjson.dumps([3, first[1], {"status": "Rejected"}]).decode())
        await raw.send(orjson.dumps([3, second[1], {"status": "Accepted"}]).decode())
        resp = await asyncio.wait_for(pending, 10)
        answered = resp.json()
        assert answered["status"] == "accepted"
        assert answered["response"] == {"status": "Accepted"}
        assert answered["message_id"] == second[1]

    stored = (await api.get(f"/api/v1/commands/{timed_out['id']}")).json()
    assert stored["status"] == "timeout"
    assert stored == timed_out


async def test_callerror_from_raw_station(volta, api):
    await register(volta, "CP-RAW")
    async with connect(volta, "CP-RAW", "ocpp1.6") as ws:
        raw = RawStation(ws)
        await wait_online(volta, "CP-RAW")
        pending = asyncio.create_task(send(api, "CP-RAW", "Reset", {"type": "Hard"}))
        frame = await raw.recv(timeout=5)
        await raw.send(
            orjson.dumps([4, frame[1], "InternalError", "relay stuck", {"relay": 2}]).decode()
        )
        command = (await asyncio.wait_for(pending, 10)).json()
    assert command["status"] == "error"
    assert command["error_code"] == "InternalError"
    assert command["error_description"] == "relay stuck"
    assert command["message_id"] == frame[1]


async def test_station_leaving_mid_command_is_offline(volta, api):
    await register(volta, "CP-GONE")
    async with connect(volta, "CP-GONE", "ocpp1.6") as ws:
        raw = RawStation(ws)
        await wait_online(volta, "CP-GONE")
        pending = asyncio.create_task(send(api, "CP-GONE", "Reset", {"type": "Hard"}))
        frame = await raw.recv(timeout=5)
    command = (await asyncio.wait_for(pending, 10)).json()
    assert command["status"] == "offline"
    assert command["message_id"] == frame[1]
    assert command["completed_at"]


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("GetBaseReport", {"requestId": 7, "reportBase": "ConfigurationInventory"}),
        ("GetReport", {"requestId": 8, "componentCriteria": ["Problem"]}),
    ],
)
async def test_empty_result_set_is_recorded_as_accepted(volta, api, action, payload):
    """B07 / B08 (2.0.1 GetBaseReport, GetReport): a station with nothing to report answers
    EmptyResultSet. It did what was asked, so the command is stored as
    accepted (volta.ocpp.rules.accepted_answer), not as rejected."""
    await register(volta, "CP-EMPTY")
    async with connect(volta, "CP-EMPTY", "ocpp2.0.1") as ws:
        raw = RawStation(ws)
        await wait_online(volta, "CP-EMPTY")
        pending = asyncio.create_task(send(api, "CP-EMPTY", action, payload))
        frame = await raw.recv(timeout=5)
        assert frame[0] == 2 and frame[2:] == [action, payload]
        await raw.send(orjson.dumps([3, frame[1], {"status": "EmptyResultSet"}]).decode())
        resp = await asyncio.wait_for(pending, 10)
    assert resp.status_code == 200, resp.text
    command = resp.json()
    assert command["status"] == "accepted"
    assert command["response"] == {"status": "EmptyResultSet"}
    assert command["message_id"] == frame[1]
    stored = await api.get(f"/api/v1/commands/{command['id']}")
    assert stored.json()["status"] == "accepted"
