"""OCPP 1.6 Central System test cases (Compliancy Testing Tool): Core,
Firmware Management and Remote Trigger. Each test is named by its test case
id; the charge point is played over a real WebSocket, the operator's part
through the HTTP API."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.conformance.conftest import BLOCKED, EXPIRED, INVALID, PASSWORD, VALID, Station, station
from tests.helpers import basic_auth, connect, now_iso, register
from tests.security.tls_pki import CsmsPki

V16 = "ocpp1.6"


async def status(cp: Station, status_: str, connector: int = 1, error: str = "NoError") -> None:
    r = await cp.call(
        "StatusNotification",
        {"connectorId": connector, "errorCode": error, "status": status_, "timestamp": now_iso()},
    )
    assert r == {}


async def authorize(cp: Station, tag: str = VALID) -> str:
    return (await cp.call("Authorize", {"idTag": tag}))["idTagInfo"]["status"]


async def start(cp: Station, tag: str = VALID, meter: int = 1000, **kw: Any) -> dict[str, Any]:
    payload = {"connectorId": 1, "idTag": tag, "meterStart": meter, "timestamp": now_iso(), **kw}
    return await cp.call("StartTransaction", payload)


async def stop(cp: Station, tx: int, reason: str, meter: int = 5000, **kw: Any) -> dict[str, Any]:
    payload = {
        "transactionId": tx,
        "meterStop": meter,
        "timestamp": now_iso(),
        "reason": reason,
        **kw,
    }
    return await cp.call("StopTransaction", payload)


async def charging(cp: Station, tag: str = VALID) -> int:
    """Reusable state Charging: authorized, started, Charging."""
    assert await authorize(cp, tag) == "Accepted"
    await status(cp, "Preparing")
    r = await start(cp, tag)
    assert r["idTagInfo"]["status"] == "Accepted"
    await status(cp, "Charging")
    return r["transactionId"]


async def ended(op16, tx: int, reason: str) -> dict[str, Any]:
    body = await op16.transaction(tx)
    assert (body["status"], body["stop_reason"], body["energy_wh"]) == ("Ended", reason, 4000)
    return body


async def test_TC_001_CSMS(cp):
    """The boot is Accepted (fixture); status per connector and connector 0, heartbeat."""
    for connector in (0, 1, 2):
        await status(cp, "Available", connector)
    assert (await cp.call("Heartbeat", {}))["currentTime"].endswith("Z")


async def test_TC_003_CSMS(cp, op16):
    """Plugin first: Preparing, Authorize Accepted, StartTransaction Accepted."""
    await status(cp, "Preparing")
    tx = await charging(cp)
    assert (await op16.transaction(tx))["status"] == "Active"


async def test_TC_004_1_CSMS(cp, op16):
    """Identification first, then plug in and start."""
    assert await authorize(cp) == "Accepted"
    await status(cp, "Preparing")
    r = await start(cp)
    assert r["idTagInfo"]["status"] == "Accepted"
    await status(cp, "Charging")


async def test_TC_004_2_CSMS(cp, op16):
    """Identification first, the cable never comes (ConnectionTimeOut): no transaction."""
    assert await authorize(cp) == "Accepted"
    await status(cp, "Preparing")
    await status(cp, "Available")
    assert await op16.transactions() == []


async def test_TC_005_1_CSMS(cp, op16):
    """EV side disconnected: StopTransaction reason EVDisconnected is answered."""
    tx = await charging(cp)
    await status(cp, "Finishing")
    r = await stop(cp, tx, "EVDisconnected", idTag=VALID)
    assert r["idTagInfo"]["status"] == "Accepted"
    await status(cp, "Available")
    await ended(op16, tx, "EVDisconnected")


async def test_TC_007_CSMS(cp, op16):
    """Cached id: StartTransaction without a preceding Authorize is Accepted."""
    await status(cp, "Preparing")
    r = await start(cp)
    assert r["idTagInfo"]["status"] == "Accepted"
    assert (await op16.transaction(r["transactionId"]))["status"] == "Active"


async def remote_start(cp: Station, op16, answers, answer: str = "Accepted") -> dict[str, Any]:
    answers["RemoteStartTransaction"] = {"status": answer}
    cmd = op16.send("RemoteStartTransaction", {"connectorId": 1, "idTag": VALID})
    assert (await cp.expect("RemoteStartTransaction"))["idTag"] == VALID
    return await cmd


async def test_TC_010_CSMS(cp, op16, answers):
    """Cable plugged in first, then the operator's RemoteStartTransaction."""
    await status(cp, "Preparing")
    assert (await remote_start(cp, op16, answers))["status"] == "accepted"
    assert await authorize(cp) == "Accepted"
    assert (await start(cp))["idTagInfo"]["status"] == "Accepted"
    await status(cp, "Charging")


async def test_TC_011_1_CSMS(cp, op16, answers):
    """Remote start first, then plug in."""
    assert (await remote_start(cp, op16, answers))["status"] == "accepted"
    assert await authorize(cp) == "Accepted"
    await status(cp, "Preparing")
    assert (await start(cp))["idTagInfo"]["status"] == "Accepted"
    await status(cp, "Charging")


async def test_TC_011_2_CSMS(cp, op16, answers):
    """Remote start, the cable never comes: back to Available, no transaction."""
    assert (await remote_start(cp, op16, answers))["status"] == "accepted"
    await status(cp, "Preparing")
    await status(cp, "Available")
    assert await op16.transactions() == []


async def test_TC_012_CSMS(cp, op16, answers):
    """RemoteStopTransaction for the running transaction; stop reason Remote."""
    tx = await charging(cp)
    answers["RemoteStopTransaction"] = {"status": "Accepted"}
    cmd = op16.send("RemoteStopTransaction", {"transactionId": tx})
    assert (await cp.expect("RemoteStopTransaction")) == {"transactionId": tx}
    assert (await cmd)["status"] == "accepted"
    await stop(cp, tx, "Remote")
    await status(cp, "Finishing")
    await status(cp, "Available")
    await ended(op16, tx, "Remote")


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("Unlocked", "accepted"), ("NotSupported", "rejected")],
    ids=["TC_017_1_CSMS", "TC_017_2_CSMS"],
)
async def test_unlock_connector(cp, op16, answers, answer, outcome):
    """UnlockConnector: Unlocked, or NotSupported for a fixed cable, recorded as such."""
    answers["UnlockConnector"] = {"status": answer}
    cmd = op16.send("UnlockConnector", {"connectorId": 1})
    assert await cp.expect("UnlockConnector") == {"connectorId": 1}
    record = await cmd
    assert record["status"] == outcome and record["response"]["status"] == answer


async def test_TC_019_1_CSMS(cp, op16, answers):
    """GetConfiguration without keys retrieves all keys."""
    keys = [
        {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
    ]
    answers["GetConfiguration"] = {"configurationKey": keys}
    cmd = op16.send("GetConfiguration", {})
    assert await cp.expect("GetConfiguration") == {}
    assert (await cmd)["response"]["configurationKey"] == keys


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("Accepted", "accepted"), ("NotSupported", "rejected")],
    ids=["TC_021_CSMS", "TC_040_1_CSMS"],
)
async def test_change_configuration(cp, op16, answers, answer, outcome):
    """ChangeConfiguration MeterValueSampleInterval=60; NotSupported is handled."""
    answers["ChangeConfiguration"] = {"status": answer}
    payload = {"key": "MeterValueSampleInterval", "value": "60"}
    cmd = op16.send("ChangeConfiguration", payload)
    assert await cp.expect("ChangeConfiguration") == payload
    assert (await cmd)["status"] == outcome


@pytest.mark.parametrize(
    ("tag", "expected"),
    [(INVALID, "Invalid"), (EXPIRED, "Expired"), (BLOCKED, "Blocked")],
    ids=["TC_023_1_CSMS", "TC_023_2_CSMS", "TC_023_3_CSMS"],
)
async def test_start_not_authorized(cp, tag, expected):
    """Authorize answers the tag's status (Invalid, Expired, Blocked)."""
    await status(cp, "Preparing")
    assert await authorize(cp, tag) == expected
    await status(cp, "Available")


async def test_TC_024_CSMS(cp, op16):
    """Lock failure: a Faulted ConnectorLockFailure status is answered and kept."""
    assert await authorize(cp) == "Accepted"
    await status(cp, "Faulted", error="ConnectorLockFailure")
    station_out = (await op16.api.get("/api/v1/stations/CP16")).json()
    [connector] = [c for c in station_out["connectors"] if c["connector_id"] == 1]
    assert (connector["status"], connector["error_code"]) == ("Faulted", "ConnectorLockFailure")


async def test_TC_026_CSMS(cp, op16, answers):
    """A Rejected RemoteStartTransaction is recorded as rejected."""
    record = await remote_start(cp, op16, answers, "Rejected")
    assert record["status"] == "rejected"


async def test_TC_028_CSMS(cp, op16, answers):
    """A Rejected RemoteStopTransaction is recorded as rejected."""
    await charging(cp)
    answers["RemoteStopTransaction"] = {"status": "Rejected"}
    cmd = op16.send("RemoteStopTransaction", {"transactionId": 999_999})
    await cp.expect("RemoteStopTransaction")
    assert (await cmd)["status"] == "rejected"


@pytest.mark.parametrize(
    ("connector", "answer"),
    [(1, "UnlockFailed"), (9, "NotSupported")],
    ids=["TC_030_CSMS", "TC_031_CSMS"],
)
async def test_unlock_failure(cp, op16, answers, connector, answer):
    answers["UnlockConnector"] = {"status": answer}
    cmd = op16.send("UnlockConnector", {"connectorId": connector})
    assert await cp.expect("UnlockConnector") == {"connectorId": connector}
    record = await cmd
    assert record["status"] == "rejected" and record["response"]["status"] == answer


async def test_TC_032_1_CSMS(cp, op16):
    """Power failure: after the reboot the charge point stops the transaction
    (reason PowerLoss) with a new BootNotification."""
    tx = await charging(cp)
    boot = {"chargePointVendor": "V", "chargePointModel": "M1"}
    assert (await cp.call("BootNotification", boot))["status"] == "Accepted"
    await stop(cp, tx, "PowerLoss")
    await status(cp, "Available")
    await ended(op16, tx, "PowerLoss")


async def test_TC_037_1_CSMS(volta, tokens, op16):
    """Offline start: the queued StartTransaction (old timestamp) arrives after
    reconnecting and is Accepted with the station's time kept."""
    await register(volta, "CP16", password=PASSWORD)
    async with station(volta, "CP16", V16) as cp:
        await cp.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M1"})
        r = await start(cp, timestamp=now_iso(-600))
        assert r["idTagInfo"]["status"] == "Accepted"
    body = await op16.transaction(r["transactionId"])
    assert body["started_at"] < body["created_at"]


async def test_TC_037_3_CSMS(cp, op16):
    """Offline start with an invalid tag: the CSMS answers Invalid; the charge
    point stops the transaction (DeAuthorized)."""
    r = await start(cp, tag=INVALID, timestamp=now_iso(-600))
    assert r["idTagInfo"]["status"] == "Invalid"
    await stop(cp, r["transactionId"], "DeAuthorized")
    await ended(op16, r["transactionId"], "DeAuthorized")


async def test_TC_039_CSMS(cp, op16):
    """Offline transaction: start, meter values and stop queued, delivered at once."""
    r = await start(cp, timestamp=now_iso(-900))
    tx = r["transactionId"]
    mv = [
        {
            "timestamp": now_iso(-600),
            "sampledValue": [{"value": "3000", "context": "Sample.Periodic"}],
        }
    ]
    assert (
        await cp.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": mv})
        == {}
    )
    await stop(cp, tx, "Local", timestamp=now_iso(-300), idTag=VALID)
    body = await ended(op16, tx, "Local")
    # Both clocks: the station's times as sent, Volta's receipt after them.
    assert body["started_at"] < body["stopped_at"] < body["created_at"]
    assert body["flags"] == []


async def test_TC_064_CSMS(cp):
    """DataTransfer for an unknown vendor is not Accepted."""
    r = await cp.call("DataTransfer", {"vendorId": "com.example.unknown", "messageId": "x"})
    assert r["status"] in ("Rejected", "UnknownMessageId", "UnknownVendorId")


# -- Firmware Management (TC_044: tests/conformance/test_firmware.py) -----------


# -- Remote Trigger ------------------------------------------------------------------

TRIGGERED = [
    (
        "MeterValues",
        {
            "connectorId": 1,
            "meterValue": [
                {"timestamp": now_iso(), "sampledValue": [{"value": "10", "context": "Trigger"}]}
            ],
        },
    ),
    ("Heartbeat", {}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"}),
    ("DiagnosticsStatusNotification", {"status": "Idle"}),
    ("FirmwareStatusNotification", {"status": "Idle"}),
]


async def test_TC_054_CSMS(cp, op16, answers):
    """TriggerMessage for each message; each triggered message is answered."""
    answers["TriggerMessage"] = {"status": "Accepted"}
    for message, payload in TRIGGERED:
        cmd = op16.send("TriggerMessage", {"requestedMessage": message, "connectorId": 1})
        assert (await cp.expect("TriggerMessage"))["requestedMessage"] == message
        assert (await cmd)["status"] == "accepted"
        frame = await cp.call_frame(message, payload)
        assert frame[0] == 3, frame


async def test_TC_055_CSMS(cp, op16, answers):
    """A Rejected TriggerMessage (MeterValues) is recorded as rejected."""
    answers["TriggerMessage"] = {"status": "Rejected"}
    cmd = op16.send("TriggerMessage", {"requestedMessage": "MeterValues"})
    await cp.expect("TriggerMessage")
    assert (await cmd)["status"] == "rejected"


async def test_TC_073_CSMS(volta, cp, api, answers):
    """Security whitepaper A01: ChangeConfiguration AuthorizationKey carries the
    hex-encoded new password (at most 40 hex digits, 16-20 bytes); the station
    accepts and reconnects with it (step 3), after which the old one is refused."""
    answers["ChangeConfiguration"] = {"status": "Accepted"}
    started = asyncio.create_task(api.post("/api/v1/stations/CP16/password-rotation"))
    request = await cp.expect("ChangeConfiguration")
    assert (await started).json()["state"] == "pending"
    assert request["key"] == "AuthorizationKey" and len(request["value"]) <= 40
    new = bytes.fromhex(request["value"])
    assert 16 <= len(new) <= 20
    async with connect(volta, "CP16", "ocpp1.6", new.decode()) as ws:
        again = Station(ws, {})
        boot = {"chargePointVendor": "V", "chargePointModel": "M1"}
        assert (await again.call("BootNotification", boot))["status"] == "Accepted"
        await again.close()
    with pytest.raises(InvalidStatus) as refused:
        async with connect(volta, "CP16", "ocpp1.6", PASSWORD):
            pass
    assert refused.value.response.status_code == 401


# -- Security (1.6 security whitepaper) ---------------------------------------------


@pytest.fixture(scope="module")
def pki() -> CsmsPki:
    return CsmsPki.create()


class TestSecurity:
    """Security profiles 2 and 3 for 1.6 charge points (security whitepaper
    §2: TLS 1.2+, the four cipher suites, client certificates whose CN is the
    charge point's identity, profiles never lowered)."""

    BOOT = {"chargePointVendor": "V", "chargePointModel": "M1"}

    @pytest.fixture
    def volta_settings(self, pki, tmp_path):
        return pki.settings(tmp_path)

    def url(self, volta: Any, station_id: str) -> str:
        return f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/{station_id}"

    async def test_TC_086_CSMS(self, volta, pki, tmp_path):
        """Profile 2: TLS 1.2 or above with the server certificate, each of
        the four suites the whitepaper requires (two with the ECDSA
        certificate, two with the RSA one), Basic credentials."""
        await register(volta, "CP2", password=PASSWORD)
        for suite in (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "AES128-GCM-SHA256",
            "AES256-GCM-SHA384",
        ):
            context = pki.station(tmp_path)
            context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(suite)
            async with websockets.connect(
                self.url(volta, "CP2"),
                ssl=context,
                subprotocols=[V16],  # type: ignore[list-item]
                additional_headers=basic_auth("CP2", PASSWORD),
            ) as ws:
                assert ws.transport.get_extra_info("ssl_object").cipher()[0] == suite
                cp = Station(ws, {})
                try:
                    assert (await cp.call("BootNotification", self.BOOT))["status"] == "Accepted"
                finally:
                    await cp.close()

    async def test_TC_087_CSMS(self, volta, pki, tmp_path):
        """Profile 3: the charge point's certificate (CN = its identity, from a
        configured CA) admits it without Basic credentials."""
        await register(volta, "CP3", password=PASSWORD)
        async with websockets.connect(
            self.url(volta, "CP3"),
            ssl=pki.station(tmp_path, "CP3"),
            subprotocols=[V16],  # type: ignore[list-item]
        ) as ws:
            cp = Station(ws, {})
            try:
                assert (await cp.call("BootNotification", self.BOOT))["status"] == "Accepted"
                await status(cp, "Available")
            finally:
                await cp.close()

    async def test_TC_083_CSMS(self, volta, pki, tmp_path, api):
        """The Central System raises the charge point's profile:
        ChangeConfiguration SecurityProfile = one higher, Reset Hard; the
        charge point reconnects on profile 3 and the Central System no longer
        accepts it on profile 2."""
        await register(volta, "CP2", password=PASSWORD)
        answers: dict[str, Any] = {
            "ChangeConfiguration": {"status": "Accepted"},
            "Reset": {"status": "Accepted"},
        }
        async with websockets.connect(
            self.url(volta, "CP2"),
            ssl=pki.station(tmp_path),
            subprotocols=[V16],  # type: ignore[list-item]
            additional_headers=basic_auth("CP2", PASSWORD),
        ) as ws:
            cp = Station(ws, answers)
            try:
                assert (await cp.call("BootNotification", self.BOOT))["status"] == "Accepted"
                r = await api.post(
                    "/api/v1/stations/CP2/security-profile", json={"security_profile": 3}
                )
                assert r.status_code == 200, r.text
                assert r.json()["accepted"] is True
                change = await cp.expect("ChangeConfiguration")
                assert change == {"key": "SecurityProfile", "value": "3"}
                assert (await cp.expect("Reset"))["type"] == "Hard"
            finally:
                await cp.close()
        async with websockets.connect(
            self.url(volta, "CP2"),
            ssl=pki.station(tmp_path, "CP2"),
            subprotocols=[V16],  # type: ignore[list-item]
        ) as ws:
            cp = Station(ws, {})
            try:
                assert (await cp.call("BootNotification", self.BOOT))["status"] == "Accepted"
                await status(cp, "Available")
            finally:
                await cp.close()
        assert (await api.get("/api/v1/stations/CP2")).json()["security_profile"] == 3
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(
                self.url(volta, "CP2"),
                ssl=pki.station(tmp_path),
                subprotocols=[V16],  # type: ignore[list-item]
                additional_headers=basic_auth("CP2", PASSWORD),
            ):
                pass
        assert refused.value.response.status_code == 401
