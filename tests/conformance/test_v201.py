"""OCPP 2.0.1 CSMS test cases (Part 6), blocks A, B, E, F, G, J, P.

Each test is named by its test case id; the charging station is played over
a real WebSocket, the operator's part through the HTTP API."""

from __future__ import annotations

import asyncio
import ssl
import string
import warnings
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
import websockets
from websockets.exceptions import InvalidMessage, InvalidStatus

from tests.conformance.conftest import (
    BLOCKED,
    INVALID,
    PASSWORD,
    VALID,
    Answer,
    Station,
    station,
)
from tests.helpers import basic_auth, now_iso, register, ws_url
from tests.security.tls_pki import Authority, CsmsPki
from volta.store.models import DeviceVariable, MeterValue

V201 = "ocpp2.0.1"
EVSE = {"id": 1, "connectorId": 1}
TOKEN = {"idToken": VALID, "type": "Central"}
BOOT = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}


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


async def notify_event(cs: Station, component: str, variable: str, value: str) -> None:
    """A NotifyEvent (Delta) about one variable of an EVSE 1 component."""
    event_data = {
        "eventId": 1,
        "timestamp": now_iso(),
        "trigger": "Delta",
        "actualValue": value,
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": component, "evse": EVSE},
        "variable": {"name": variable},
    }
    r = await cs.call(
        "NotifyEvent", {"generatedAt": now_iso(), "seqNo": 0, "eventData": [event_data]}
    )
    assert r == {}


async def notify_availability(cs: Station, state: str) -> None:
    """The NotifyEvent that accompanies a connector status change."""
    await notify_event(cs, "Connector", "AvailabilityState", state)


async def authorize_valid(cs: Station) -> None:
    r = await cs.call("Authorize", {"idToken": TOKEN})
    assert r["idTokenInfo"]["status"] == "Accepted"


async def energy_transfer_started(cs: Station, tx: str = "TX-1") -> int:
    """Reusable states Authorized + EnergyTransferStarted; returns seqNo next."""
    await authorize_valid(cs)
    r = await cs.call(
        "TransactionEvent",
        event(
            "Started",
            0,
            "Authorized",
            tx,
            idToken=TOKEN,
            evse=EVSE,
            meter=energy(1000, "Transaction.Begin"),
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    await status(cs, "Occupied")
    r = await cs.call(
        "TransactionEvent",
        event("Updated", 1, "ChargingStateChanged", tx, chargingState="Charging"),
    )
    return 2


async def end(
    cs: Station, seq: int, trigger: str, reason: str, tx: str = "TX-1", **kw: Any
) -> dict:
    return await cs.call(
        "TransactionEvent",
        event(
            "Ended",
            seq,
            trigger,
            tx,
            stoppedReason=reason,
            meter=energy(5000, "Transaction.End"),
            **kw,
        ),
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
        r = await st.call(
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}},
        )
        assert r["status"] == "Accepted"


async def test_TC_A_02_CSMS(volta):
    """A username that is not the station id is refused before the upgrade (HTTP 401)."""
    await register(volta, "SP1", password=PASSWORD)
    assert (
        await refused(ws_url(volta, "SP1"), additional_headers=basic_auth("OTHER", PASSWORD)) == 401
    )


async def test_TC_A_03_CSMS(volta):
    """An invalid password is refused before the upgrade."""
    await register(volta, "SP1", password=PASSWORD)
    assert (
        await refused(
            ws_url(volta, "SP1"), additional_headers=basic_auth("SP1", "wrong-password-1")
        )
        == 401
    )


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
        """A00.FR.314/315: security profile 2 requires TLS 1.2 or later: a
        station offering only TLS 1.1 is refused; the same client allowed TLS
        1.2 gets in (so the refusal is the version's)."""
        await register(volta, "SP2", password=PASSWORD)

        def client(max_version: ssl.TLSVersion) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=str(certificate[0]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
                context.maximum_version = max_version
            context.set_ciphers("ALL:@SECLEVEL=0")
            return context

        def connect_with(context: ssl.SSLContext) -> Any:
            return websockets.connect(
                f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/SP2",
                ssl=context,
                subprotocols=[V201],
                additional_headers=basic_auth("SP2", PASSWORD),
                open_timeout=5,
            )

        with pytest.raises((ssl.SSLError, ConnectionResetError)):
            async with connect_with(client(ssl.TLSVersion.TLSv1_1)):
                pass
        async with connect_with(client(ssl.TLSVersion.TLSv1_2)) as ws:
            assert ws.transport.get_extra_info("ssl_object").version() == "TLSv1.2"


# -- A01: password rotation -------------------------------------------------------------

PASSWORD_CHARS = set(string.ascii_letters + string.digits + "*-_=:+|@.")


def _set_variables_result(status: str) -> Answer:
    def answer(p: dict[str, Any]) -> dict[str, Any]:
        return {
            "setVariableResult": [
                {
                    "attributeStatus": status,
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in p["setVariableData"]
            ]
        }

    return answer


async def _rotate(cs: Station, api: Any) -> tuple[str, dict[str, Any]]:
    """The operator rotates CS201's password; the station gets SetVariables."""
    started = asyncio.create_task(api.post("/api/v1/stations/CS201/password-rotation"))
    request = await cs.expect("SetVariables")
    r = await started
    assert r.status_code == 200, r.text
    (data,) = request["setVariableData"]
    assert data["component"] == {"name": "SecurityCtrlr"}
    assert data["variable"] == {"name": "BasicAuthPassword"}
    return data["attributeValue"], r.json()


async def test_TC_A_09_CSMS(volta, cs, api, answers):
    """A01.FR.02: SetVariablesRequest SecurityCtrlr.BasicAuthPassword with a
    new passwordString of 16-40 characters; the station accepts and reconnects
    with it (A01.FR.03; TC_A_09 steps 3-6: upgrade, BootNotification Accepted),
    after which only the new one is valid."""
    answers["SetVariables"] = _set_variables_result("Accepted")
    new, rotation = await _rotate(cs, api)
    assert 16 <= len(new) <= 40 and set(new) <= PASSWORD_CHARS
    assert rotation["state"] == "pending"
    # Until the station signs in with the new password, the old one works too.
    async with station(volta, "CS201", V201) as st:
        assert (await st.call("Heartbeat", {}))["currentTime"]
    headers = basic_auth("CS201", new)
    async with websockets.connect(
        ws_url(volta, "CS201"), subprotocols=[V201], additional_headers=headers, open_timeout=5
    ) as ws:
        st = Station(ws, {})
        boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
        assert (await st.call("BootNotification", boot))["status"] == "Accepted"
        await status(st, "Available")
        await st.close()
    state = (await api.get("/api/v1/stations/CS201/password-rotation")).json()
    assert state["state"] == "rotated" and state["rotated_at"]
    assert (
        await refused(ws_url(volta, "CS201"), additional_headers=basic_auth("CS201", PASSWORD))
        == 401
    )
    # The command is on record, without the password.
    command = (await api.get(f"/api/v1/commands/{rotation['command_id']}")).json()
    assert command["status"] == "accepted"
    assert new not in orjson.dumps(command).decode()


async def test_TC_A_10_CSMS(volta, cs, api, answers):
    """A01: the station answers the SetVariablesRequest for BasicAuthPassword with
    Rejected: the new password is forgotten, the old one stays valid."""
    answers["SetVariables"] = _set_variables_result("Rejected")
    new, rotation = await _rotate(cs, api)
    assert rotation["state"] == "failed" and rotation["detail"] == "Rejected"
    assert await refused(ws_url(volta, "CS201"), additional_headers=basic_auth("CS201", new)) == 401
    async with station(volta, "CS201", V201) as st:
        assert (await st.call("Heartbeat", {}))["currentTime"]


@pytest.fixture(scope="module")
def pki() -> CsmsPki:
    return CsmsPki.create()


class TestMutualTls:
    """Security profile 3: TLS with client certificates (2.0.1 A00, A05)."""

    @pytest.fixture
    def volta_settings(self, pki, tmp_path):
        return pki.settings(tmp_path)

    def url(self, volta: Any, station_id: str) -> str:
        return f"wss://127.0.0.1:{volta.ocpp_port}/ocpp/{station_id}"

    async def test_TC_A_07_CSMS(self, volta, pki, tmp_path):
        """A00.FR.409/410/415/416/421: a station presents a certificate of a
        configured CA with CN = its identity; the CSMS upgrades the secured
        connection without Basic credentials and the station boots."""
        await register(volta, "SP3", password=PASSWORD)
        async with websockets.connect(
            self.url(volta, "SP3"), ssl=pki.station(tmp_path, "SP3"), subprotocols=[V201]
        ) as ws:
            assert ws.transport.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
            st = Station(ws, {})
            try:
                r = await st.call("BootNotification", BOOT)
                assert r["status"] == "Accepted"
                await status(st, "Available")
            finally:
                await st.close()

    async def test_TC_A_08_CSMS(self, volta, pki, tmp_path):
        """A00.FR.412/413 (invalid client certificate): a certificate signed
        by a CA the CSMS does not trust, or issued to another identity, does
        not get the station connected (the first ends in the TLS handshake,
        the second is refused 401 before the upgrade)."""
        await register(volta, "SP3", password=PASSWORD)
        stranger = Authority.create("Untrusted CA").issue_client("SP3")
        with pytest.raises((ssl.SSLError, ConnectionError, EOFError, InvalidMessage)):
            async with websockets.connect(
                self.url(volta, "SP3"),
                ssl=pki.station(tmp_path, stranger),
                subprotocols=[V201],
                open_timeout=5,
            ) as ws:
                await ws.recv()
        assert await refused(self.url(volta, "SP3"), ssl=pki.station(tmp_path, "OTHER")) == 401

    async def test_TC_A_19_CSMS(self, volta, pki, tmp_path, api):
        """A05.FR.04/07: the operator moves a profile 2 station to profile 3:
        SetNetworkProfile (the new connection data in a free slot),
        SetVariables OCPPCommCtrlr.NetworkConfigurationPriority (that slot
        first), Reset; the station reconnects with its client certificate,
        its stored profile becomes 3 and a profile 2 connection is refused."""
        await register(volta, "SP2", password=PASSWORD)
        answers: dict[str, Any] = {
            "SetNetworkProfile": {"status": "Accepted"},
            "SetVariables": lambda p: {
                "setVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "component": p["setVariableData"][0]["component"],
                        "variable": p["setVariableData"][0]["variable"],
                    }
                ]
            },
            "Reset": {"status": "Accepted"},
        }
        async with websockets.connect(
            self.url(volta, "SP2"),
            ssl=pki.station(tmp_path),
            subprotocols=[V201],
            additional_headers=basic_auth("SP2", PASSWORD),
        ) as ws:
            st = Station(ws, answers)
            try:
                assert (await st.call("BootNotification", BOOT))["status"] == "Accepted"
                assert (await api.get("/api/v1/stations/SP2")).json()["security_profile"] == 2
                r = await api.post(
                    "/api/v1/stations/SP2/security-profile",
                    json={
                        "security_profile": 3,
                        "csms_url": f"wss://127.0.0.1:{volta.ocpp_port}/ocpp",
                        "configuration_slot": 2,
                        "fallback_slots": [1],
                    },
                )
                assert r.status_code == 200, r.text
                assert r.json()["accepted"] is True
                assert [s["action"] for s in r.json()["steps"]] == [
                    "SetNetworkProfile",
                    "SetVariables",
                    "Reset",
                ]
                network = await st.expect("SetNetworkProfile")
                assert network["configurationSlot"] == 2
                assert network["connectionData"]["securityProfile"] == 3
                assert network["connectionData"]["ocppVersion"] == "OCPP20"
                variables = await st.expect("SetVariables")
                data = variables["setVariableData"][0]
                assert data["component"]["name"] == "OCPPCommCtrlr"
                assert data["variable"]["name"] == "NetworkConfigurationPriority"
                assert data["attributeValue"] == "2,1"
                await st.expect("Reset")
            finally:
                await st.close()
        # Not raised yet: only the reconnection on profile 3 raises it.
        assert (await api.get("/api/v1/stations/SP2")).json()["security_profile"] == 2
        async with websockets.connect(
            self.url(volta, "SP2"), ssl=pki.station(tmp_path, "SP2"), subprotocols=[V201]
        ) as ws:
            st = Station(ws, {})
            try:
                assert (await st.call("BootNotification", BOOT))["status"] == "Accepted"
                await status(st, "Available")
            finally:
                await st.close()
        assert (await api.get("/api/v1/stations/SP2")).json()["security_profile"] == 3
        assert (
            await refused(
                self.url(volta, "SP2"),
                ssl=pki.station(tmp_path),
                additional_headers=basic_auth("SP2", PASSWORD),
            )
            == 401
        )


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
    answers = {
        "GetVariables": lambda p: {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": d["component"],
                    "variable": d["variable"],
                    "attributeValue": "60",
                }
                for d in p["getVariableData"]
            ]
        }
    }
    async with station(volta, "CS201", V201, answers) as cs:
        r = await cs.call("BootNotification", boot)
        assert r["status"] == "Pending" and r["interval"] > 0
        # B02.FR.06: while Pending the CSMS may send messages to retrieve information.
        cmd = op201.send(
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "OfflineThreshold"},
                    }
                ]
            },
        )
        await cs.expect("GetVariables")
        assert (await cmd)["status"] == "accepted"
        await op201.set_registration("Accepted")
        assert (await cs.call("BootNotification", boot))["status"] == "Accepted"


def _variables_answer(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": d["component"],
                "variable": d["variable"],
                "attributeValue": "1",
            }
            for d in p["getVariableData"]
        ]
    }


def _set_answer(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "setVariableResult": [
            {"attributeStatus": "Accepted", "component": d["component"], "variable": d["variable"]}
            for d in p["setVariableData"]
        ]
    }


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
        (
            [{**OFFLINE, "attributeValue": "123"}, {**REMOTE_START, "attributeValue": "false"}],
            "TC_B_10_CSMS",
        ),
    ],
    ids=["TC_B_09_CSMS", "TC_B_10_CSMS"],
)
async def test_set_variables(cs, op201, answers, data, tc):
    """B05: SetVariablesRequest with the values the operator set."""
    answers["SetVariables"] = _set_answer
    cmd = op201.send("SetVariables", {"setVariableData": data})
    sent = await cs.expect("SetVariables")
    assert [d["attributeValue"] for d in sent["setVariableData"]] == [
        d["attributeValue"] for d in data
    ]
    assert (await cmd)["status"] == "accepted"


@pytest.mark.parametrize(
    "base",
    ["ConfigurationInventory", "FullInventory", "SummaryInventory"],
    ids=["TC_B_12_CSMS", "TC_B_13_CSMS", "TC_B_14_CSMS"],
)
async def test_get_base_report(cs, op201, answers, volta, base):
    """B07.FR.01: GetBaseReportRequest; the NotifyReportRequests that follow are
    answered and stored (B07.FR.07 / B08)."""
    answers["GetBaseReport"] = {"status": "Accepted"}
    cmd = op201.send("GetBaseReport", {"requestId": 7, "reportBase": base})
    sent = await cs.expect("GetBaseReport")
    assert sent["reportBase"] == base
    assert (await cmd)["status"] == "accepted"
    for seq, tbc in ((0, True), (1, False)):
        r = await cs.call(
            "NotifyReport",
            {
                "requestId": sent["requestId"],
                "generatedAt": now_iso(),
                "seqNo": seq,
                "tbc": tbc,
                "reportData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {
                            "name": "OfflineThreshold" if seq == 0 else "HeartbeatInterval"
                        },
                        "variableAttribute": [{"value": str(60 + seq), "mutability": "ReadWrite"}],
                    }
                ],
            },
        )
        assert r == {}
    async with volta.db.read() as conn:
        stored = await conn.execute(
            sa.select(DeviceVariable.variable).where(DeviceVariable.station_id == "CS201")
        )
        assert set(stored.scalars()) >= {"OfflineThreshold", "HeartbeatInterval"}


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
    r = await cs.call(
        "TransactionEvent",
        event("Updated", seq, "StopAuthorized", idToken=TOKEN, chargingState="EVConnected"),
    )
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
            (
                "StatusNotification",
                {
                    "timestamp": now_iso(),
                    "connectorStatus": "Available",
                    "evseId": 1,
                    "connectorId": 1,
                },
            ),
        ):
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
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": "wss://csms.example.com/ocpp",
        "messageTimeout": 30,
        "securityProfile": 2,
        "ocppInterface": "Wired0",
    },
}


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [("Accepted", "accepted"), ("Failed", "rejected")],
    ids=["TC_B_42_CSMS", "TC_B_44_CSMS"],
)
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
        async with websockets.connect(
            ws_url(volta, "CS201"), subprotocols=["ocpp1.2"], additional_headers=headers
        ):
            pass
    async with websockets.connect(
        ws_url(volta, "CS201"), subprotocols=["ocpp1.2", "ocpp2.0.1"], additional_headers=headers
    ) as ws:
        assert ws.subprotocol == "ocpp2.0.1"


# -- E. Transactions ----------------------------------------------------------------


async def started(cs: Station, trigger: str, **kw: Any) -> dict[str, Any]:
    return await cs.call("TransactionEvent", event("Started", 0, trigger, evse=EVSE, **kw))


async def test_TC_E_01_CSMS(cs, op201):
    """E01.FR.05 (PowerPathClosed): Authorized start, then charging."""
    await authorize_valid(cs)
    r = await started(cs, "Authorized", idToken=TOKEN, chargingState="SuspendedEVSE")
    assert r["idTokenInfo"]["status"] == "Accepted"
    await cs.call(
        "TransactionEvent", event("Updated", 1, "ChargingStateChanged", chargingState="Charging")
    )
    tx = await only_transaction(op201)
    assert tx["status"] == "Active" and tx["charging_state"] == "Charging"


async def test_TC_E_02_CSMS(cs, op201):
    """E01.FR.06 (EnergyTransfer): the start carries idToken; idTokenInfo Accepted."""
    await authorize_valid(cs)
    await status(cs, "Occupied")
    await notify_availability(cs, "Occupied")
    r = await started(cs, "ChargingStateChanged", idToken=TOKEN, chargingState="Charging")
    assert r["idTokenInfo"]["status"] == "Accepted"
    assert (await only_transaction(op201))["id_token"] == VALID


async def test_TC_E_03_CSMS(cs, op201):
    """E02: cable first (EVConnected), then authorization in an Updated event."""
    await status(cs, "Occupied")
    assert await started(cs, "CablePluggedIn", chargingState="EVConnected") == {}
    await authorize_valid(cs)
    r = await cs.call(
        "TransactionEvent",
        event("Updated", 1, "Authorized", idToken=TOKEN, chargingState="Charging"),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    tx = await only_transaction(op201)
    assert tx["id_token"] == VALID and tx["charging_state"] == "Charging"


async def test_TC_E_04_CSMS(cs, op201):
    """E03: authorization first, then the cable."""
    await authorize_valid(cs)
    r = await cs.call("TransactionEvent", event("Started", 0, "Authorized", idToken=TOKEN))
    assert r["idTokenInfo"]["status"] == "Accepted"
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Updated", 1, "CablePluggedIn", evse=EVSE, chargingState="Charging"),
    )
    tx = await only_transaction(op201)
    assert tx["evse_id"] == 1 and tx["charging_state"] == "Charging"


STOPS = [
    # (test case, stop trigger, stoppedReason, idToken in the stop, chargingState)
    ("TC_E_07_CSMS", "StopAuthorized", "Local", True, "EVConnected"),
    ("TC_E_08_CSMS", "ChargingStateChanged", "Local", False, "EVConnected"),
    ("TC_E_14_CSMS", "EVCommunicationLost", "EVDisconnected", False, "Idle"),
    ("TC_E_15_CSMS", "StopAuthorized", "Local", True, "EVConnected"),
    ("TC_E_19_CSMS", "EVDeparted", "Local", False, "Idle"),
    ("TC_E_20_CSMS", "EVCommunicationLost", "EVDisconnected", False, "Idle"),
    ("TC_E_22_CSMS", "ChargingStateChanged", "StoppedByEV", False, "SuspendedEV"),
]


@pytest.mark.parametrize(
    ("tc", "trigger", "reason", "with_token", "state"), STOPS, ids=[s[0] for s in STOPS]
)
async def test_stop_options(cs, op201, tc, trigger, reason, with_token, state):
    """E06: the Ended event closes the transaction with its stoppedReason and
    the energy between Transaction.Begin and Transaction.End."""
    seq = await energy_transfer_started(cs)
    extra: dict[str, Any] = {"idToken": TOKEN} if with_token else {}
    r = await end(cs, seq, trigger, reason, chargingState=state, **extra)
    if with_token:
        assert r["idTokenInfo"]["status"] == "Accepted"
    await status(cs, "Available")
    tx = await only_transaction(op201)
    assert (tx["status"], tx["stop_reason"], tx["energy_wh"]) == ("Ended", reason, 4000)


async def test_TC_E_09_CSMS(cs, op201):
    """E01.FR.02 (EVConnected): a start without idToken is answered without idTokenInfo."""
    await status(cs, "Occupied")
    await notify_availability(cs, "Occupied")
    assert await started(cs, "CablePluggedIn", chargingState="EVConnected") == {}
    assert (await only_transaction(op201))["status"] == "Active"


async def test_TC_E_10_CSMS(cs):
    """E01.FR.03 (Authorized): AuthorizeResponse and TransactionEventResponse Accepted."""
    await authorize_valid(cs)
    r = await cs.call("TransactionEvent", event("Started", 0, "Authorized", idToken=TOKEN))
    assert r["idTokenInfo"]["status"] == "Accepted"


async def test_TC_E_11_CSMS(cs, op201):
    """E01.FR.04 (DataSigned): a signed Transaction.Begin meter value is accepted and kept."""
    await authorize_valid(cs)
    r = await started(
        cs,
        "SignedDataReceived",
        idToken=TOKEN,
        meter=energy(1000, "Transaction.Begin", signed=True),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    tx = await only_transaction(op201)
    assert tx["meter_start_wh"] == 1000


async def test_TC_E_12_CSMS(cs, op201):
    """E01.FR.01 (ParkingBayOccupied): EVDetected start."""
    assert await cs.call("TransactionEvent", event("Started", 0, "EVDetected", evse=EVSE)) == {}
    assert (await only_transaction(op201))["status"] == "Active"


async def test_TC_E_16_CSMS(cs, op201):
    """E01.FR.11/12, E06.FR.04: an invalid idToken in the start gets a non-Accepted
    idTokenInfo; the station deauthorizes and ends the transaction."""
    bad = {"idToken": INVALID, "type": "ISO14443"}
    r = await started(cs, "Authorized", idToken=bad)
    assert r["idTokenInfo"]["status"] != "Accepted"
    await end(cs, 1, "Deauthorized", "DeAuthorized")
    tx = await only_transaction(op201)
    assert tx["status"] == "Ended" and tx["stop_reason"] == "DeAuthorized"


@pytest.mark.parametrize(
    "tc", ["TC_E_17_CSMS", "TC_E_39_CSMS"], ids=["TC_E_17_CSMS", "TC_E_39_CSMS"]
)
async def test_deauthorized(cs, op201, tc):
    """E06.FR.04 / E03.FR.05: a blocked token is answered Blocked; the station
    ends the transaction (EV side disconnect, or connection timeout)."""
    blocked = {"idToken": BLOCKED, "type": "ISO14443"}
    r = await cs.call("TransactionEvent", event("Started", 0, "Authorized", idToken=blocked))
    assert r["idTokenInfo"]["status"] == "Blocked"
    trigger, reason = (
        ("Deauthorized", "DeAuthorized")
        if tc == "TC_E_17_CSMS"
        else ("EVConnectTimeout", "Timeout")
    )
    await end(cs, 1, trigger, reason)
    assert (await only_transaction(op201))["stop_reason"] == reason


async def test_TC_E_21_CSMS(cs, op201, answers):
    """F03.FR.01/09/10: RequestStopTransaction for the running transaction;
    its Ended event carries stoppedReason Remote."""
    seq = await energy_transfer_started(cs)
    answers["RequestStopTransaction"] = {"status": "Accepted"}
    cmd = op201.send("RequestStopTransaction", {"transactionId": "TX-1"})
    assert (await cs.expect("RequestStopTransaction"))["transactionId"] == "TX-1"
    assert (await cmd)["status"] == "accepted"
    await cs.call(
        "TransactionEvent", event("Updated", seq, "RemoteStop", chargingState="EVConnected")
    )
    await end(cs, seq + 1, "RemoteStop", "Remote")
    assert (await only_transaction(op201))["stop_reason"] == "Remote"


async def test_TC_E_26_CSMS(cs, op201):
    """E10.FR.01: suspended on EV-side disconnect, resumed on reconnect."""
    seq = await energy_transfer_started(cs)
    await cs.call(
        "TransactionEvent", event("Updated", seq, "EVCommunicationLost", chargingState="Idle")
    )
    await status(cs, "Available")
    await notify_availability(cs, "Available")
    await cs.call(
        "TransactionEvent", event("Updated", seq + 1, "CablePluggedIn", chargingState="EVConnected")
    )
    await cs.call(
        "TransactionEvent",
        event("Updated", seq + 2, "ChargingStateChanged", chargingState="Charging"),
    )
    tx = await only_transaction(op201)
    assert tx["status"] == "Active" and tx["charging_state"] == "Charging"


TX_STATUS = [
    ("TC_E_29_CSMS", "TX-1", True, True),
    ("TC_E_30_CSMS", "TX-1", True, False),
    ("TC_E_31_CSMS", "TX-1", False, True),
    ("TC_E_33_CSMS", None, True, True),
    ("TC_E_34_CSMS", None, False, False),
]


@pytest.mark.parametrize(
    ("tc", "tx_id", "ongoing", "queued"), TX_STATUS, ids=[t[0] for t in TX_STATUS]
)
async def test_get_transaction_status(cs, op201, answers, tc, tx_id, ongoing, queued):
    """E14: GetTransactionStatusRequest (with or without transactionId); queued
    offline events that follow are answered and applied once."""
    seq = 0
    if tx_id is not None or ongoing:
        seq = await energy_transfer_started(cs)
    answers["GetTransactionStatus"] = {
        "messagesInQueue": queued,
        **({"ongoingIndicator": ongoing} if tx_id else {}),
    }
    cmd = op201.send("GetTransactionStatus", {"transactionId": tx_id} if tx_id else {})
    sent = await cs.expect("GetTransactionStatus")
    assert sent.get("transactionId") == tx_id
    record = await cmd
    assert record["status"] == "accepted" and record["response"]["messagesInQueue"] is queued
    if queued:
        await cs.call(
            "TransactionEvent",
            event(
                "Updated",
                seq,
                "MeterValuePeriodic",
                offline=True,
                meter=energy(3000, "Sample.Periodic"),
            ),
        )
        if not ongoing:
            await end(cs, seq + 1, "StopAuthorized", "Local", offline=True)
        tx = await only_transaction(op201)
        assert tx["status"] == ("Active" if ongoing else "Ended")


async def test_TC_E_38_CSMS(cs, op201):
    """E03: the EV is not ready: the transaction is SuspendedEV."""
    await authorize_valid(cs)
    await cs.call("TransactionEvent", event("Started", 0, "Authorized", idToken=TOKEN))
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Updated", 1, "CablePluggedIn", evse=EVSE, chargingState="SuspendedEV"),
    )
    assert (await only_transaction(op201))["charging_state"] == "SuspendedEV"


async def test_TC_E_53_CSMS(cs, op201):
    """E01.FR.07 (seqNo): each transaction counts seqNo from 0; the CSMS
    accepts a second transaction starting at 0 again."""
    seq = await energy_transfer_started(cs, "TX-A")
    await end(cs, seq, "EVCommunicationLost", "EVDisconnected", "TX-A")
    seq = await energy_transfer_started(cs, "TX-B")
    await end(cs, seq, "EVCommunicationLost", "EVDisconnected", "TX-B")
    txs = await op201.transactions()
    assert sorted(t["station_transaction_id"] for t in txs) == ["TX-A", "TX-B"]
    assert all(t["status"] == "Ended" and t["energy_wh"] == 4000 for t in txs)


# -- F. Remote control ------------------------------------------------------------------


async def remote_start(cs: Station, op201, answers) -> int:
    answers["RequestStartTransaction"] = {"status": "Accepted", "transactionId": "TX-1"}
    cmd = op201.send(
        "RequestStartTransaction", {"idToken": TOKEN, "remoteStartId": 42, "evseId": 1}
    )
    sent = await cs.expect("RequestStartTransaction")
    assert sent["idToken"] == TOKEN and sent["remoteStartId"] == 42
    assert (await cmd)["status"] == "accepted"
    return 42


async def test_TC_F_01_CSMS(cs, op201, answers):
    """F01: cable first, then RequestStartTransaction with the operator's idToken."""
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Started", 0, "CablePluggedIn", evse=EVSE, chargingState="EVConnected"),
    )
    rid = await remote_start(cs, op201, answers)
    r = await cs.call(
        "TransactionEvent",
        event(
            "Updated", 1, "RemoteStart", remoteStartId=rid, idToken=TOKEN, chargingState="Charging"
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"


@pytest.mark.parametrize("authorize", [True, False], ids=["TC_F_02_CSMS", "TC_F_03_CSMS"])
async def test_remote_start_first(cs, op201, answers, authorize):
    """F02.FR.01: RequestStartTransaction first; with AuthorizeRemoteStart the
    station authorizes the token (Accepted), then starts."""
    rid = await remote_start(cs, op201, answers)
    if authorize:
        await authorize_valid(cs)
    r = await cs.call(
        "TransactionEvent",
        event("Started", 0, "RemoteStart", remoteStartId=rid, idToken=TOKEN, evse=EVSE),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent", event("Updated", 1, "CablePluggedIn", chargingState="Charging")
    )
    assert (await only_transaction(op201))["status"] == "Active"


async def test_TC_F_04_CSMS(cs, op201, answers):
    """E03.FR.04/05: remote start, the EV never connects: EVConnectTimeout ends it."""
    rid = await remote_start(cs, op201, answers)
    await cs.call(
        "TransactionEvent",
        event("Started", 0, "RemoteStart", remoteStartId=rid, idToken=TOKEN, evse=EVSE),
    )
    await end(cs, 1, "EVConnectTimeout", "Timeout")
    assert (await only_transaction(op201))["stop_reason"] == "Timeout"


async def test_TC_F_06_CSMS(cs, op201, answers):
    """F05: UnlockConnectorRequest for the EVSE and connector the operator chose."""
    answers["UnlockConnector"] = {"status": "Unlocked"}
    cmd = op201.send("UnlockConnector", {"evseId": 1, "connectorId": 1})
    assert await cs.expect("UnlockConnector") == {"evseId": 1, "connectorId": 1}
    assert (await cmd)["status"] == "accepted"


TRIGGERS = [
    ("TC_F_11_CSMS", "MeterValues", True),
    ("TC_F_12_CSMS", "MeterValues", False),
    ("TC_F_13_CSMS", "TransactionEvent", True),
    ("TC_F_14_CSMS", "TransactionEvent", False),
    ("TC_F_15_CSMS", "LogStatusNotification", False),
    ("TC_F_18_CSMS", "FirmwareStatusNotification", False),
    ("TC_F_20_CSMS", "Heartbeat", False),
    ("TC_F_23_CSMS", "StatusNotification", True),
    ("TC_F_24_CSMS", "StatusNotification", True),
]
TRIGGERED = {
    "MeterValues": {"evseId": 1, "meterValue": energy(2000, "Trigger")},
    "LogStatusNotification": {"status": "Idle"},
    "FirmwareStatusNotification": {"status": "Idle"},
    "Heartbeat": {},
}


@pytest.mark.parametrize(("tc", "message", "with_evse"), TRIGGERS, ids=[t[0] for t in TRIGGERS])
async def test_trigger_message(cs, op201, answers, tc, message, with_evse):
    """F06.FR.01/02: TriggerMessageRequest for the message (and EVSE) asked;
    the triggered message is answered."""
    seq = 0
    if message == "TransactionEvent":
        seq = await energy_transfer_started(cs)
    if tc == "TC_F_24_CSMS":
        await status(cs, "Occupied")
    answers["TriggerMessage"] = {"status": "Accepted"}
    payload: dict[str, Any] = {
        "requestedMessage": message,
        **({"evse": {"id": 1}} if with_evse else {}),
    }
    cmd = op201.send("TriggerMessage", payload)
    assert await cs.expect("TriggerMessage") == payload
    assert (await cmd)["status"] == "accepted"
    if message == "TransactionEvent":
        r = await cs.call(
            "TransactionEvent", event("Updated", seq, "Trigger", meter=energy(2500, "Trigger"))
        )
    elif message == "StatusNotification":
        await status(cs, "Occupied" if tc == "TC_F_24_CSMS" else "Available")
        r = {}
    else:
        r = await cs.call(message, TRIGGERED[message])
    if message == "Heartbeat":
        assert "currentTime" in r
    else:
        assert r == {}


async def test_TC_F_27_CSMS(cs, op201, answers):
    """F06.FR.08: the station answers NotImplemented; the CSMS records it."""
    answers["TriggerMessage"] = {"status": "NotImplemented"}
    cmd = op201.send("TriggerMessage", {"requestedMessage": "SignV2GCertificate"})
    await cs.expect("TriggerMessage")
    record = await cmd
    assert record["status"] == "rejected" and record["response"]["status"] == "NotImplemented"


# -- G. Availability ------------------------------------------------------------------

AVAILABILITY = [
    ("TC_G_03_CSMS", "Inoperative", {"id": 1}, "Accepted"),
    ("TC_G_04_CSMS", "Operative", {"id": 1}, "Accepted"),
    ("TC_G_05_CSMS", "Inoperative", None, "Accepted"),
    ("TC_G_06_CSMS", "Operative", None, "Accepted"),
    ("TC_G_07_CSMS", "Inoperative", EVSE, "Accepted"),
    ("TC_G_08_CSMS", "Operative", EVSE, "Accepted"),
    ("TC_G_11_CSMS", "Inoperative", {"id": 1}, "Scheduled"),
    ("TC_G_14_CSMS", "Inoperative", None, "Scheduled"),
    ("TC_G_17_CSMS", "Inoperative", EVSE, "Scheduled"),
]


@pytest.mark.parametrize(
    ("tc", "op_status", "evse", "answer"), AVAILABILITY, ids=[a[0] for a in AVAILABILITY]
)
async def test_change_availability(cs, op201, answers, volta, tc, op_status, evse, answer):
    """G03/G04: ChangeAvailabilityRequest for the station, an EVSE or a
    connector; the connector status that follows is stored."""
    seq = await energy_transfer_started(cs) if answer == "Scheduled" else 0
    answers["ChangeAvailability"] = {"status": answer}
    payload: dict[str, Any] = {"operationalStatus": op_status, **({"evse": evse} if evse else {})}
    cmd = op201.send("ChangeAvailability", payload)
    assert await cs.expect("ChangeAvailability") == payload
    assert (await cmd)["status"] == "accepted"
    if answer == "Scheduled":
        await end(cs, seq, "EVCommunicationLost", "EVDisconnected", chargingState="Idle")
    new = "Unavailable" if op_status == "Inoperative" else "Available"
    await status(cs, new)
    station_out = (await op201.api.get("/api/v1/stations/CS201")).json()
    assert [c["status"] for c in station_out["connectors"] if c["evse_id"] == 1] == [new]


async def test_TC_G_20_CSMS(cs):
    """G05.FR.03: a connector lock failure reported by NotifyEvent is answered."""
    await notify_event(cs, "ConnectorPlugRetentionLock", "Problem", "true")


# -- J. Meter values ----------------------------------------------------------------


@pytest.mark.parametrize("tc", ["TC_J_01_CSMS"], ids=["TC_J_01_CSMS"])
async def test_clock_aligned_without_transaction(cs, volta, tc):
    """J01.FR.18: MeterValuesRequest (Sample.Clock) for EVSE 0 and 1 is answered and stored."""
    for evse in (0, 1):
        assert (
            await cs.call(
                "MeterValues", {"evseId": evse, "meterValue": energy(100 + evse, "Sample.Clock")}
            )
            == {}
        )
    async with volta.db.read() as conn:
        n = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(MeterValue)
                .where(MeterValue.station_id == "CS201")
            )
        ).scalar_one()
    assert n == 2


@pytest.mark.parametrize(
    ("tc", "context", "signed"),
    [
        ("TC_J_02_CSMS", "Sample.Clock", False),
        ("TC_J_03_CSMS", "Sample.Clock", False),
        ("TC_J_04_CSMS", "Sample.Clock", True),
        ("TC_J_09_CSMS", "Sample.Periodic", False),
        ("TC_J_10_CSMS", "Sample.Periodic", False),
        ("TC_J_11_CSMS", "Sample.Periodic", True),
    ],
    ids=[
        "TC_J_02_CSMS",
        "TC_J_03_CSMS",
        "TC_J_04_CSMS",
        "TC_J_09_CSMS",
        "TC_J_10_CSMS",
        "TC_J_11_CSMS",
    ],
)
async def test_meter_values_in_transaction(cs, op201, tc, context, signed):
    """J01.FR.18 / J02.FR.19 / J0x.FR.21: meter values inside TransactionEvent
    (Updated, and Ended with Transaction.End) are answered and counted."""
    seq = await energy_transfer_started(cs)
    trigger = "MeterValueClock" if context == "Sample.Clock" else "MeterValuePeriodic"
    for i in range(3):
        r = await cs.call(
            "TransactionEvent",
            event(
                "Updated", seq + i, trigger, meter=energy(2000 + i * 500, context, signed=signed)
            ),
        )
        assert r == {}
    tx = await only_transaction(op201)
    assert tx["energy_wh"] == 2000
    if tc in ("TC_J_03_CSMS", "TC_J_04_CSMS", "TC_J_10_CSMS", "TC_J_11_CSMS"):
        meter = energy(4500, context, signed=signed) + energy(
            5000, "Transaction.End", signed=signed
        )
        await cs.call(
            "TransactionEvent",
            event(
                "Ended", seq + 3, "EVCommunicationLost", stoppedReason="EVDisconnected", meter=meter
            ),
        )
        tx = await only_transaction(op201)
        assert tx["status"] == "Ended" and tx["energy_wh"] == 4000


async def test_TC_J_07_CSMS(cs, op201):
    """J02.FR.19: Transaction.Begin in the Started event, EVSE known."""
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Started", 0, "CablePluggedIn", evse=EVSE, meter=energy(1234, "Transaction.Begin")),
    )
    assert (await only_transaction(op201))["meter_start_wh"] == 1234


async def test_TC_J_08_CSMS(cs, op201):
    """J02.FR.19: Transaction.Begin in an Updated event once the EVSE is known."""
    await authorize_valid(cs)
    await cs.call("TransactionEvent", event("Started", 0, "Authorized", idToken=TOKEN))
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Updated", 1, "CablePluggedIn", evse=EVSE, meter=energy(1234, "Transaction.Begin")),
    )
    await cs.call(
        "TransactionEvent", event("Updated", 2, "ChargingStateChanged", chargingState="Charging")
    )
    tx = await only_transaction(op201)
    assert (tx["evse_id"], tx["meter_start_wh"]) == (1, 1234)


# -- P. Data transfer ----------------------------------------------------------------


async def test_TC_P_02_CSMS(cs):
    """P02.FR.06/07: an unknown vendorId is answered UnknownVendorId (not Accepted)."""
    r = await cs.call(
        "DataTransfer", {"vendorId": "tzi.app", "messageId": "TestMessage", "data": "x"}
    )
    assert r["status"] in ("Rejected", "UnknownMessageId", "UnknownVendorId")


async def test_TC_P_03_CSMS(cs, op201):
    """customData on the message and inside transactionInfo is accepted."""
    custom = {"vendorId": "tzi.app", "note": "x"}
    r = await cs.call(
        "StatusNotification",
        {
            "timestamp": now_iso(),
            "connectorStatus": "Occupied",
            "evseId": 1,
            "connectorId": 1,
            "customData": custom,
        },
    )
    assert r == {}
    payload = event("Started", 0, "CablePluggedIn", evse=EVSE, customData=custom)
    payload["transactionInfo"]["customData"] = custom
    assert await cs.call("TransactionEvent", payload) == {}
    assert (await only_transaction(op201))["status"] == "Active"
