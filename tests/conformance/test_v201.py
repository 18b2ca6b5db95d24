"""OCPP 2.0.1 CSMS test cases (Part 6), blocks A, B, E, F, G, J, P.

Each test is named by its test case id; the charging station is played over
a real WebSocket, the operator's part through the HTTP API."""

from __future__ import annotations

import ssl
import subprocess
import warnings
from typing import Any

import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidStatus

from tests.conformance.conftest import (
    BLOCKED,
    INVALID,
    PASSWORD,
    VALID,
    Station,
    station,
)
from tests.helpers import basic_auth, now_iso, register, wait_until, ws_url
from volta.store.models import DeviceVariable

V201 = "ocpp2.0.1"
EVSE = {"id": 1, "connectorId": 1}
TOKEN = {"idToken": VALID, "type": "Central"}


def event(
    event_type: str,
    seq: int,
    trigger: str,
    tx: str = "TX-1",
    *,
    meter: list[dict[str, Any]] | None = None,
    **info: Any,
) -> dict[str, Any]:
    """A TransactionEventRequest; `info` goes into transactionInfo, except
    idToken / evse / offline / customData which go on the message."""
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": now_iso(),
        "triggerReason": trigger,
        "seqNo": seq,
        "transactionInfo": {"transactionId": tx},
    }
    for key in ("idToken", "evse", "offline", "customData", "reservationId"):
        if key in info:
            payload[key] = info.pop(key)
    payload["transactionInfo"].update(info)
    if meter is not None:
        payload["meterValue"] = meter
    return payload


def energy(wh: float, context: str, *, signed: bool = False) -> list[dict[str, Any]]:
    sampled: dict[str, Any] = {
        "value": wh,
        "context": context,
        "measurand": "Energy.Active.Import.Register",
    }
    if signed:
        sampled["signedMeterValue"] = {
            "signedMeterData": "c2lnbmVkLWRhdGE=",
            "signingMethod": "ECDSA-secp256r1-SHA256",
            "encodingMethod": "OCMF",
            "publicKey": "cHVibGljLWtleQ==",
        }
    return [{"timestamp": now_iso(), "sampledValue": [sampled]}]


async def status(cs: Station, connector_status: str, evse: int = 1, connector: int = 1) -> None:
    await cs.call(
        "StatusNotification",
        {
            "timestamp": now_iso(),
            "connectorStatus": connector_status,
            "evseId": evse,
            "connectorId": connector,
        },
    )


async def notify_availability(cs: Station, state: str) -> None:
    """The NotifyEvent that accompanies a connector status change."""
    r = await cs.call(
        "NotifyEvent",
        {
            "generatedAt": now_iso(),
            "seqNo": 0,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": now_iso(),
                    "trigger": "Delta",
                    "actualValue": state,
                    "eventNotificationType": "HardWiredNotification",
                    "component": {"name": "Connector", "evse": EVSE},
                    "variable": {"name": "AvailabilityState"},
                }
            ],
        },
    )
    assert r == {}


async def authorize_valid(cs: Station) -> None:
    r = await cs.call("Authorize", {"idToken": TOKEN})
    assert r["idTokenInfo"]["status"] == "Accepted"


async def energy_transfer_started(cs: Station, tx: str = "TX-1") -> int:
    """Reusable states Authorized + EnergyTransferStarted; returns seqNo next."""
    await authorize_valid(cs)
    r = await cs.call(
        "TransactionEvent",
        event(
            "Started", 0, "Authorized", tx, idToken=TOKEN, evse=EVSE, meter=energy(1000, "Transaction.Begin")
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    await status(cs, "Occupied")
    r = await cs.call(
        "TransactionEvent", event("Updated", 1, "ChargingStateChanged", tx, chargingState="Charging")
    )
    return 2


async def end(cs: Station, seq: int, trigger: str, reason: str, tx: str = "TX-1", **kw: Any) -> dict:
    return await cs.call(
        "TransactionEvent",
        event("Ended", seq, trigger, tx, stoppedReason=reason, meter=energy(5000, "Transaction.End"), **kw),
    )


async def only_transaction(op) -> dict[str, Any]:
    txs = await op.transactions()
    assert len(txs) == 1, txs
    return await op.transaction(txs[0]["id"])


# -- A. Security ------------------------------------------------------------------


async def refused(url: str, **kw: Any) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, subprotocols=[V201], open_timeout=5, **kw):
            pass
    return info.value.response.status_code


async def test_TC_A_01_CSMS(volta):
    """A01: valid Basic credentials (username = station id) are accepted."""
    await register(volta, "SP1", password=PASSWORD)
    async with station(volta, "SP1", V201) as st:
        r = await st.call("BootNotification", {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}})
        assert r["status"] == "Accepted"


async def test_TC_A_02_CSMS(volta):
    """A00.FR.2xx: a username that is not the station id is refused before the upgrade."""
    await register(volta, "SP1", password=PASSWORD)
    assert await refused(ws_url(volta, "SP1"), additional_headers=basic_auth("OTHER", PASSWORD)) == 401


async def test_TC_A_03_CSMS(volta):
    """An invalid password is refused before the upgrade."""
    await register(volta, "SP1", password=PASSWORD)
    assert await refused(ws_url(volta, "SP1"), additional_headers=basic_auth("SP1", "wrong-password-1")) == 401


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class TestTls:
    @pytest.fixture
    def volta_settings(self, certificate):
        return {"tls_cert": str(certificate[0]), "tls_key": str(certificate[1])}

    async def test_TC_A_04_CSMS(self, volta, certificate):
        """Security profile 2: TLS 1.2+ with a server certificate the station trusts."""
        await register(volta, "SP2", password=PASSWORD)
        context = ssl.create_default_context(cafile=str(certificate[0]))
        async with websockets.connect(
            f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/SP2",
            ssl=context,
            subprotocols=[V201],
            additional_headers=basic_auth("SP2", PASSWORD),
        ) as ws:
            assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")

    async def test_TC_A_06_CSMS(self, volta, certificate):
        """A00.FR.3xx: a station offering only TLS 1.1 is refused."""
        await register(volta, "SP2", password=PASSWORD)
        context = ssl.create_default_context(cafile=str(certificate[0]))
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
        with pytest.raises(ssl.SSLError, match="(?i)version|protocol"):
            async with websockets.connect(
                f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/SP2",
                ssl=context,
                subprotocols=[V201],
                additional_headers=basic_auth("SP2", PASSWORD),
                open_timeout=5,
            ):
                pass


# -- B. Provisioning -------------------------------------------------------------------


async def test_TC_B_01_CSMS(cs, op201):
    """B01.FR.02: a registered station's BootNotification is Accepted (checked
    in the fixture) and its status notifications and heartbeats answered."""
    await status(cs, "Available")
    r = await cs.call("Heartbeat", {})
    assert r["currentTime"].endswith("Z")


async def test_TC_B_02_CSMS(volta, tokens, op201):
    """B02.FR.01: Pending first; the CSMS may configure the station, then Accepts."""
    await register(volta, "CS201", password=PASSWORD, registration_status="Pending")
    boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
    answers = {"GetVariables": lambda p: {"getVariableResult": [
        {"attributeStatus": "Accepted", "component": d["component"], "variable": d["variable"], "attributeValue": "60"}
        for d in p["getVariableData"]]}}  # fmt: skip
    async with station(volta, "CS201", V201, answers) as cs:
        r = await cs.call("BootNotification", boot)
        assert r["status"] == "Pending" and r["interval"] > 0
        # B02.FR.06: while Pending the CSMS may send messages to retrieve information.
        cmd = op201.send("GetVariables", {"getVariableData": [
            {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}]})  # fmt: skip
        await cs.expect("GetVariables")
        assert (await cmd)["status"] == "accepted"
        await op201.set_registration("Accepted")
        assert (await cs.call("BootNotification", boot))["status"] == "Accepted"


def _variables_answer(p: dict[str, Any]) -> dict[str, Any]:
    return {"getVariableResult": [
        {"attributeStatus": "Accepted", "component": d["component"], "variable": d["variable"], "attributeValue": "1"}
        for d in p["getVariableData"]]}  # fmt: skip


def _set_answer(p: dict[str, Any]) -> dict[str, Any]:
    return {"setVariableResult": [
        {"attributeStatus": "Accepted", "component": d["component"], "variable": d["variable"]}
        for d in p["setVariableData"]]}  # fmt: skip


OFFLINE = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "OfflineThreshold"}}
REMOTE_START = {"component": {"name": "AuthCtrlr"}, "variable": {"name": "AuthorizeRemoteStart"}}


@pytest.mark.parametrize(
    ("data", "tc"),
    [([OFFLINE], "TC_B_06_CSMS"), ([OFFLINE, REMOTE_START], "TC_B_07_CSMS")],
    ids=["TC_B_06_CSMS", "TC_B_07_CSMS"],
)
async def test_get_variables(cs, op201, answers, data, tc):
    """B06.FR.01: the CSMS sends GetVariablesRequest for the asked variables
    and keeps the station's answer."""
    answers["GetVariables"] = _variables_answer
    cmd = op201.send("GetVariables", {"getVariableData": data})
    sent = await cs.expect("GetVariables")
    assert [(d["component"]["name"], d["variable"]["name"]) for d in sent["getVariableData"]] == [
        (d["component"]["name"], d["variable"]["name"]) for d in data
    ]
    record = await cmd
    assert record["status"] == "accepted"
    assert len(record["response"]["getVariableResult"]) == len(data)


@pytest.mark.parametrize(
    ("data", "tc"),
    [
        ([{**OFFLINE, "attributeValue": "123"}], "TC_B_09_CSMS"),
        ([{**OFFLINE, "attributeValue": "123"}, {**REMOTE_START, "attributeValue": "false"}], "TC_B_10_CSMS"),
    ],
    ids=["TC_B_09_CSMS", "TC_B_10_CSMS"],
)
async def test_set_variables(cs, op201, answers, data, tc):
    """B05: SetVariablesRequest with the values the operator set."""
    answers["SetVariables"] = _set_answer
    cmd = op201.send("SetVariables", {"setVariableData": data})
    sent = await cs.expect("SetVariables")
    assert [d["attributeValue"] for d in sent["setVariableData"]] == [d["attributeValue"] for d in data]
    assert (await cmd)["status"] == "accepted"


@pytest.mark.parametrize(
    "base", ["ConfigurationInventory", "FullInventory", "SummaryInventory"],
    ids=["TC_B_12_CSMS", "TC_B_13_CSMS", "TC_B_14_CSMS"],
)  # fmt: skip
async def test_get_base_report(cs, op201, answers, volta, base):
    """B07.FR.01: GetBaseReportRequest; the NotifyReportRequests that follow are
    answered and stored (B07.FR.07 / B08)."""
    answers["GetBaseReport"] = {"status": "Accepted"}
    cmd = op201.send("GetBaseReport", {"requestId": 7, "reportBase": base})
    sent = await cs.expect("GetBaseReport")
    assert sent["reportBase"] == base
    assert (await cmd)["status"] == "accepted"
    for seq, tbc in ((0, True), (1, False)):
        r = await cs.call("NotifyReport", {
            "requestId": sent["requestId"], "generatedAt": now_iso(), "seqNo": seq, "tbc": tbc,
            "reportData": [{"component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "OfflineThreshold" if seq == 0 else "HeartbeatInterval"},
                            "variableAttribute": [{"value": str(60 + seq), "mutability": "ReadWrite"}]}]})  # fmt: skip
        assert r == {}
    async with volta.db.read() as conn:
        stored = await conn.execute(
            sa.select(DeviceVariable.variable).where(DeviceVariable.station_id == "CS201")
        )
        assert set(stored.scalars()) >= {"OfflineThreshold", "HeartbeatInterval"}


async def test_TC_B_18_CSMS(cs, op201, answers):
    """B08: GetReportRequest with componentCriteria; EmptyResultSet is handled."""
    answers["GetReport"] = lambda p: {
        "status": "EmptyResultSet" if "Problem" in p["componentCriteria"] else "Accepted"
    }
    cmd = op201.send("GetReport", {"requestId": 1, "componentCriteria": ["Problem"]})
    assert (await cs.expect("GetReport"))["componentCriteria"] == ["Problem"]
    assert (await cmd)["status"] == "rejected"  # stored as the station's non-positive answer
    cmd = op201.send("GetReport", {"requestId": 2, "componentCriteria": ["Available"]})
    await cs.expect("GetReport")
    assert (await cmd)["status"] == "accepted"


async def _reboot(cs: Station, reason: str = "RemoteReset") -> None:
    boot = {"reason": reason, "chargingStation": {"model": "M1", "vendorName": "V"}}
    assert (await cs.call("BootNotification", boot))["status"] == "Accepted"
    await status(cs, "Available")


@pytest.mark.parametrize("evse", [None, 1], ids=["TC_B_20_CSMS", "TC_B_25_CSMS"])
async def test_reset_without_transaction(cs, op201, answers, evse):
    """B11.FR.04: ResetRequest OnIdle (for the station or one EVSE)."""
    answers["Reset"] = {"status": "Accepted"}
    payload: dict[str, Any] = {"type": "OnIdle"}
    if evse:
        payload["evseId"] = evse
    cmd = op201.send("Reset", payload)
    assert await cs.expect("Reset") == payload
    assert (await cmd)["status"] == "accepted"
    if evse is None:
        await _reboot(cs)


@pytest.mark.parametrize("evse", [None, 1], ids=["TC_B_21_CSMS", "TC_B_26_CSMS"])
async def test_reset_on_idle_with_transaction(cs, op201, answers, evse):
    """B12.FR.07: OnIdle during a transaction is Scheduled; the transaction ends
    normally and the CSMS answers its events."""
    seq = await energy_transfer_started(cs)
    answers["Reset"] = {"status": "Scheduled"}
    payload: dict[str, Any] = {"type": "OnIdle", **({"evseId": evse} if evse else {})}
    cmd = op201.send("Reset", payload)
    await cs.expect("Reset")
    assert (await cmd)["status"] == "accepted"
    r = await cs.call("TransactionEvent", event("Updated", seq, "StopAuthorized", idToken=TOKEN, chargingState="EVConnected"))
    assert r["idTokenInfo"]["status"] == "Accepted"
    await end(cs, seq + 1, "EVCommunicationLost", "EVDisconnected", chargingState="Idle")
    tx = await only_transaction(op201)
    assert tx["status"] == "Ended" and tx["stop_reason"] == "EVDisconnected"
    if evse is None:
        await _reboot(cs)


@pytest.mark.parametrize("evse", [None, 1], ids=["TC_B_22_CSMS", "TC_B_27_CSMS"])
async def test_reset_immediate_with_transaction(cs, op201, answers, evse):
    """B12: Immediate reset ends the transaction with ImmediateReset."""
    seq = await energy_transfer_started(cs)
    answers["Reset"] = {"status": "Accepted"}
    cmd = op201.send("Reset", {"type": "Immediate", **({"evseId": evse} if evse else {})})
    await cs.expect("Reset")
    assert (await cmd)["status"] == "accepted"
    await end(cs, seq, "ResetCommand", "ImmediateReset", chargingState="EVConnected")
    tx = await only_transaction(op201)
    assert tx["status"] == "Ended" and tx["stop_reason"] == "ImmediateReset"
    assert tx["energy_wh"] == 4000
    if evse is None:
        await _reboot(cs)


@pytest.mark.parametrize("registration", ["Pending", "Rejected"])
async def test_TC_B_30_CSMS(volta, registration):
    """B02.FR.09 / B03.FR.08: while Pending or Rejected, any CALL but
    BootNotification is answered with CALLERROR SecurityError."""
    await register(volta, "CS201", password=PASSWORD, registration_status=registration)
    async with station(volta, "CS201", V201) as cs:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
        assert (await cs.call("BootNotification", boot))["status"] == registration
        for action, payload in (
            ("Heartbeat", {}),
            ("StatusNotification", {"timestamp": now_iso(), "connectorStatus": "Available", "evseId": 1, "connectorId": 1}),
        ):  # fmt: skip
            frame = await cs.call_frame(action, payload)
            assert frame[0] == 4 and frame[2] == "SecurityError", frame


async def test_TC_B_31_CSMS(volta, op201):
    """B02.FR.05: while Pending the CSMS may trigger a BootNotification."""
    await register(volta, "CS201", password=PASSWORD, registration_status="Pending")
    async with station(volta, "CS201", V201, {"TriggerMessage": {"status": "Accepted"}}) as cs:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
        assert (await cs.call("BootNotification", boot))["status"] == "Pending"
        await op201.set_registration("Accepted")
        cmd = op201.send("TriggerMessage", {"requestedMessage": "BootNotification"})
        assert (await cs.expect("TriggerMessage"))["requestedMessage"] == "BootNotification"
        assert (await cmd)["status"] == "accepted"
        boot["reason"] = "Triggered"
        assert (await cs.call("BootNotification", boot))["status"] == "Accepted"


NETWORK_PROFILE = {
    "configurationSlot": 1,
    "connectionData": {
        "ocppVersion": "OCPP20", "ocppTransport": "JSON", "ocppCsmsUrl": "wss://csms.example.com/ocpp",
        "messageTimeout": 30, "securityProfile": 2, "ocppInterface": "Wired0",
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "outcome"), [("Accepted", "accepted"), ("Failed", "rejected")],
    ids=["TC_B_42_CSMS", "TC_B_44_CSMS"],
)  # fmt: skip
async def test_set_network_profile(cs, op201, answers, answer, outcome):
    """B09.FR.01: SetNetworkProfileRequest with the operator's connectionData;
    a Failed answer is recorded as such."""
    answers["SetNetworkProfile"] = {"status": answer}
    cmd = op201.send("SetNetworkProfile", NETWORK_PROFILE)
    assert await cs.expect("SetNetworkProfile") == NETWORK_PROFILE
    record = await cmd
    assert record["status"] == outcome and record["response"]["status"] == answer


async def test_TC_B_58_CSMS(volta):
    """OCPP-J 2.0.1 §3.1.2: an unsupported subprotocol is refused; from a list
    the CSMS selects ocpp2.0.1."""
    await register(volta, "CS201", password=PASSWORD)
    headers = basic_auth("CS201", PASSWORD)
    with pytest.raises(InvalidStatus):
        async with websockets.connect(ws_url(volta, "CS201"), subprotocols=["ocpp1.2"], additional_headers=headers):
            pass
    async with websockets.connect(
        ws_url(volta, "CS201"), subprotocols=["ocpp1.2", "ocpp2.0.1"], additional_headers=headers
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
