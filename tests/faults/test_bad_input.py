"""Bad input over a live connection: each gets the CALLERROR the version
names and the connection lives on (OCPP-J 1.6 §4.2.3, 2.0.1 §4.2.3 / §4.3)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import TRANSPORTS
from tests.helpers import RawStation, connect, register

V16, V201 = "ocpp1.6", "ocpp2.0.1"


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every test here runs on both WebSocket stacks."""
    return str(request.param)


@pytest.fixture
async def raw(volta, request):
    protocol = request.param
    await register(volta, "BAD")
    async with connect(volta, "BAD", protocol) as ws:
        yield RawStation(ws), protocol


async def still_alive(raw: RawStation) -> None:
    r = await raw.call("Heartbeat", {})
    assert r[0] == 3 and "currentTime" in r[2]


# (frame, expected message id, 1.6 code, 2.0.1 code)
FRAMEWORK_CASES = [
    pytest.param(
        "this is not json", "-1", "FormationViolation", "RpcFrameworkError", id="not-json"
    ),
    pytest.param(
        '{"a": 1}', "-1", "FormationViolation", "RpcFrameworkError", id="object-not-array"
    ),
    pytest.param("[]", "-1", "FormationViolation", "RpcFrameworkError", id="empty-array"),
    pytest.param(
        '[2, "m1", "Heartbeat"]',
        "m1",
        "FormationViolation",
        "RpcFrameworkError",
        id="call-3-elements",
    ),
    pytest.param(
        '[2, "m1", "Heartbeat", {}, 5]',
        "m1",
        "FormationViolation",
        "RpcFrameworkError",
        id="call-5-elements",
    ),
    pytest.param(
        '[2, "' + "x" * 37 + '", "Heartbeat", {}]',
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
        id="id-too-long",
    ),
    pytest.param(
        '[2, 17, "Heartbeat", {}]',
        "-1",
        "FormationViolation",
        "RpcFrameworkError",
        id="id-not-string",
    ),
    pytest.param(
        '[2, "m1", "Heartbeat", []]',
        "m1",
        "FormationViolation",
        "FormatViolation",
        id="payload-not-object",
    ),
    pytest.param(
        '[2, "m1", 5, {}]', "m1", "FormationViolation", "RpcFrameworkError", id="action-not-string"
    ),
]


@pytest.mark.parametrize("raw", [V16, V201], indirect=True)
@pytest.mark.parametrize(("frame", "mid", "code16", "code201"), FRAMEWORK_CASES)
async def test_malformed_frames(raw, frame, mid, code16, code201):
    station, protocol = raw
    await station.send(frame)
    reply = await station.recv()
    assert reply[0] == 4
    assert reply[1] == mid
    assert reply[2] == (code16 if protocol == V16 else code201)
    assert isinstance(reply[3], str) and reply[3]
    await still_alive(station)


@pytest.mark.parametrize("raw", [V16, V201], indirect=True)
async def test_unknown_message_type(raw):
    """1.6 §4.1.3 ignores an unknown message type; 2.0.1 §4.1.3 answers
    MessageTypeNotSupported. The type number given as a string is unknown too."""
    station, protocol = raw
    for frame in ('[7, "m7", "Heartbeat", {}]', '["2", "m8", "Heartbeat", {}]'):
        await station.send(frame)
        if protocol == V16:
            assert await station.no_message(0.3)
        else:
            reply = await station.recv()
            assert reply[:3] == [4, reply[1], "MessageTypeNotSupported"]
            assert reply[1] in ("m7", "m8")
    await still_alive(station)


@pytest.mark.parametrize("raw", [V16, V201], indirect=True)
async def test_unknown_action_is_not_implemented(raw):
    station, _ = raw
    r = await station.call("MakeCoffee", {"sugar": 2})
    assert r[0] == 4 and r[2] == "NotImplemented"
    await still_alive(station)


@pytest.mark.parametrize("raw", [V16, V201], indirect=True)
async def test_action_a_station_does_not_send_is_not_supported(raw):
    station, _ = raw
    r = await station.call("Reset", {"type": "Hard"})
    assert r[0] == 4 and r[2] == "NotSupported"
    await still_alive(station)


PAYLOAD_CASES_16 = [
    ("BootNotification", {"chargePointVendor": "v"}, "OccurenceConstraintViolation"),
    (
        "BootNotification",
        {"chargePointVendor": "v", "chargePointModel": 5},
        "TypeConstraintViolation",
    ),
    (
        "BootNotification",
        {"chargePointVendor": "v" * 21, "chargePointModel": "m"},
        "TypeConstraintViolation",
    ),
    (
        "BootNotification",
        {"chargePointVendor": "v", "chargePointModel": "m", "colour": "red"},
        "FormationViolation",
    ),
    (
        "StatusNotification",
        {"connectorId": 1, "errorCode": "NoError", "status": "Sleeping"},
        "PropertyConstraintViolation",
    ),
    (
        "StartTransaction",
        {"connectorId": 1, "idTag": "A", "meterStart": "lots", "timestamp": "2024-01-01T00:00:00Z"},
        "TypeConstraintViolation",
    ),
]
PAYLOAD_CASES_201 = [
    ("BootNotification", {"reason": "PowerUp"}, "OccurrenceConstraintViolation"),
    (
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": 1, "vendorName": "v"}},
        "TypeConstraintViolation",
    ),
    (
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}, "x": 1},
        "FormatViolation",
    ),
    (
        "BootNotification",
        {"reason": "Bored", "chargingStation": {"model": "m", "vendorName": "v"}},
        "PropertyConstraintViolation",
    ),
    (
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": "2024-01-01T00:00:00Z",
            "triggerReason": "Authorized",
            "seqNo": "0",
            "transactionInfo": {"transactionId": "t"},
        },
        "TypeConstraintViolation",
    ),
]


@pytest.mark.parametrize("raw", [V16], indirect=True)
@pytest.mark.parametrize(("action", "payload", "code"), PAYLOAD_CASES_16)
async def test_invalid_payloads_v16(raw, action, payload, code):
    station, _ = raw
    r = await station.call(action, payload)
    assert r[0] == 4 and r[2] == code, r
    await still_alive(station)


@pytest.mark.parametrize("raw", [V201], indirect=True)
@pytest.mark.parametrize(("action", "payload", "code"), PAYLOAD_CASES_201)
async def test_invalid_payloads_v201(raw, action, payload, code):
    station, _ = raw
    r = await station.call(action, payload)
    assert r[0] == 4 and r[2] == code, r
    await still_alive(station)


@pytest.mark.parametrize("raw", [V16], indirect=True)
async def test_answer_to_unknown_message_id_is_dropped(raw):
    station, _ = raw
    await station.send(orjson.dumps([3, "never-sent", {"status": "Accepted"}]).decode())
    await station.send(orjson.dumps([4, "never-sent-2", "GenericError", "", {}]).decode())
    assert await station.no_message(0.3)
    await still_alive(station)


@pytest.mark.parametrize("raw", [V201], indirect=True)
async def test_binary_frame_is_refused_and_connection_lives(raw):
    station, _ = raw
    await station.send(b"\x00\x01\x02")
    reply = await station.recv()
    assert reply[0] == 4 and reply[1] == "-1" and reply[2] == "RpcFrameworkError"
    await still_alive(station)


@pytest.mark.parametrize("raw", [V16], indirect=True)
async def test_two_calls_without_waiting_are_both_answered(raw):
    station, _ = raw
    await station.send(orjson.dumps([2, "a", "Heartbeat", {}]).decode())
    await station.send(orjson.dumps([2, "b", "Heartbeat", {}]).decode())
    ids = {(await station.recv())[1], (await station.recv())[1]}
    assert ids == {"a", "b"}


async def test_oversized_frame_closes_with_1009(volta):
    """Frames over 1 MiB are refused with close code 1009 (message too big)."""
    await register(volta, "BIG")
    async with connect(volta, "BIG", V16, max_size=None) as ws:
        big = orjson.dumps(
            [2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * (2 * 1024 * 1024)}]
        ).decode()
        await ws.send(big)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1009


async def test_relaxed_station_gets_through_extra_fields(volta):
    """Validation relaxed per station: unknown properties and enum values pass,
    missing fields still do not."""
    await register(volta, "LAX", validation="relaxed")
    async with connect(volta, "LAX", V16) as ws:
        station = RawStation(ws)
        r = await station.call(
            "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m", "colour": "red"}
        )
        assert r[0] == 3 and r[2]["status"] == "Accepted"
        r = await station.call("BootNotification", {"chargePointVendor": "v"})
        assert r[0] == 4 and r[2] == "OccurenceConstraintViolation"
