"""The 2.0.1 blocks serve 2.1 stations by the same services: a representative
flow of each block, run against a 2.1 station (subprotocol ocpp2.1, 2.1
schemas on both sides; every answer Volta gives is checked against the 2.1
response schema by the test station, every CALL Volta sends by its 2.1
session).

Blocks: B (boot, heartbeat, status), C (authorize, local list), E
(transaction with meter values), F (remote start / stop through the API), H
(reservation), K (charging profile through the API), L (firmware update
through the API), M/A (certificate signing), N (event notification), O
(display message), P (data transfer), and the device model (GetVariables
through the API)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from volta.blocks.transactions import queries as tx_queries

pytestmark = pytest.mark.asyncio

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Volta-21", "vendorName": "Volta"}}
ACCEPTED = answer({"status": "Accepted"})


def later(minutes: int = 30) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def sent(cp: Any, action: str) -> list[dict[str, Any]]:
    return [payload for name, payload in cp.received if name == action]


async def booted(cp: Any) -> None:
    boot = await cp.call("BootNotification", BOOT)
    assert boot["status"] == "Accepted"


def meter(wh: float) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": now_iso(),
            "sampledValue": [
                {"value": wh, "measurand": "Energy.Active.Import.Register"},
                {"value": 7400, "measurand": "Power.Active.Import"},
            ],
        }
    ]


async def test_B_boot_heartbeat_and_status_on_2_1(volta, api):
    """B01 / G01 / B: the station is accepted, heartbeats get the time, its
    connector status is stored, and its protocol is shown as ocpp2.1."""
    await register(volta, "B21-1")
    async with station(volta, "B21-1", "2.1") as cp:
        await booted(cp)
        assert "currentTime" in await cp.call("Heartbeat", {})
        await cp.call(
            "StatusNotification",
            {
                "timestamp": now_iso(),
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": 1,
            },
        )

        async def occupied() -> bool:
            body = (await api.get("/api/v1/stations/B21-1")).json()
            return any(c["status"] == "Occupied" for c in body["connectors"])

        assert await wait_until(occupied)
        body = (await api.get("/api/v1/stations/B21-1")).json()
        assert body["protocol"] == "ocpp2.1" and body["online"]


async def test_C_authorize_and_local_list_on_2_1(volta, api):
    """C01: Authorize answers from the token store; D01 (block C's local
    list): a full list is sent as SendLocalList with the 2.1 shape."""
    await register(volta, "C21-1")
    await add_token(volta, "TAG-C21")
    async with station(volta, "C21-1", "2.1") as cp:
        cp.handlers["SendLocalList"] = ACCEPTED
        await booted(cp)
        ok = await cp.call("Authorize", {"idToken": {"idToken": "TAG-C21", "type": "ISO14443"}})
        assert ok["idTokenInfo"]["status"] == "Accepted"
        unknown = await cp.call("Authorize", {"idToken": {"idToken": "NOPE", "type": "ISO14443"}})
        assert unknown["idTokenInfo"]["status"] != "Accepted"
        resp = await api.put("/api/v1/stations/C21-1/local-list", json={"tokens": ["TAG-C21"]})
        assert resp.status_code == 200, resp.text
        assert resp.json()["sent"] is True
        [local] = sent(cp, "SendLocalList")
        assert (local["update_type"], local["version_number"]) == ("Full", 1)
        assert local["local_authorization_list"][0]["id_token"]["id_token"] == "TAG-C21"


async def test_E_transaction_with_meter_values_on_2_1(volta):
    """E01-E07: Started, Updated with meter values, Ended: one transaction
    with its energy, stored as ocpp2.1 (the version the station speaks)."""
    await register(volta, "E21-1")
    await add_token(volta, "TAG-E21")
    token = {"idToken": "TAG-E21", "type": "ISO14443"}
    async with station(volta, "E21-1", "2.1") as cp:
        await booted(cp)
        common = {"transactionInfo": {"transactionId": "e21-tx", "chargingState": "Charging"}}
        started = await cp.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now_iso(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "evse": {"id": 1, "connectorId": 1},
                "idToken": token,
                "meterValue": meter(1000),
                **common,
            },
        )
        assert started["idTokenInfo"]["status"] == "Accepted"
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Updated",
                "timestamp": now_iso(),
                "triggerReason": "MeterValuePeriodic",
                "seqNo": 1,
                "meterValue": meter(2500),
                **common,
            },
        )
        await cp.call(
            "MeterValues", {"evseId": 1, "meterValue": meter(2600)}
        )  # outside the transaction too
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": now_iso(),
                "triggerReason": "StopAuthorized",
                "seqNo": 2,
                "transactionInfo": {"transactionId": "e21-tx", "stoppedReason": "Local"},
                "meterValue": meter(4000),
            },
        )

    async def ended() -> bool:
        rows = await tx_queries.list_transactions(volta.services.db, station_id="E21-1")
        return bool(rows) and rows[0]["stopped_at"] is not None

    assert await wait_until(ended)
    [row] = await tx_queries.list_transactions(volta.services.db, station_id="E21-1")
    assert row["energy_wh"] == 3000
    assert row["protocol"] == "ocpp2.1"


async def test_F_remote_start_and_stop_through_the_api_on_2_1(volta, api):
    """F01 / F03: the API's remote start reaches a 2.1 station as
    RequestStartTransaction; the transaction it starts is stopped through
    the API with RequestStopTransaction."""
    await register(volta, "F21-1")
    await add_token(volta, "TAG-F21")
    async with station(volta, "F21-1", "2.1") as cp:
        await booted(cp)
        resp = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": "F21-1", "id_token": "TAG-F21", "evse_id": 1},
        )
        assert resp.status_code == 201, resp.text
        [request] = sent(cp, "RequestStartTransaction")
        assert request["id_token"]["id_token"] == "TAG-F21" and request["evse_id"] == 1
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now_iso(),
                "triggerReason": "RemoteStart",
                "seqNo": 0,
                "transactionInfo": {
                    "transactionId": "f21-tx",
                    "remoteStartId": request["remote_start_id"],
                },
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "TAG-F21", "type": "ISO14443"},
            },
        )
        rows = await tx_queries.list_transactions(volta.services.db, station_id="F21-1")
        stop = await api.post(f"/api/v1/transactions/{rows[0]['id']}/stop")
        assert stop.status_code == 200, stop.text
        assert stop.json()["status"] == "accepted"
        [request_stop] = sent(cp, "RequestStopTransaction")
        assert request_stop["transaction_id"] == "f21-tx"


async def test_H_reservation_on_2_1(volta, api):
    """H01: the API's reservation reaches a 2.1 station as ReserveNow with an
    EVSE and the driver's token."""
    await register(volta, "H21-1")
    await add_token(volta, "TAG-H21")
    async with station(volta, "H21-1", "2.1") as cp:
        cp.handlers["ReserveNow"] = ACCEPTED
        await booted(cp)
        resp = await api.post(
            "/api/v1/reservations",
            json={
                "station_id": "H21-1",
                "id_token": "TAG-H21",
                "evse_id": 1,
                "expires_at": later(),
            },
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "Accepted"
        [reserve] = sent(cp, "ReserveNow")
        assert reserve["id"] == resp.json()["id"] and reserve["evse_id"] == 1
        assert reserve["id_token"]["id_token"] == "TAG-H21"


async def test_K_charging_profile_through_the_api_on_2_1(volta, api):
    """K01: a TxDefaultProfile set through the API reaches a 2.1 station as
    SetChargingProfile on its EVSE and is installed on its Accepted."""
    await register(volta, "K21-1")
    async with station(volta, "K21-1", "2.1") as cp:
        cp.handlers["SetChargingProfile"] = ACCEPTED
        await booted(cp)
        profile = {
            "id": 7,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": "2026-01-01T00:00:00Z",
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                }
            ],
        }
        resp = await api.post(
            "/api/v1/stations/K21-1/charging-profiles", json={"evse_id": 1, "profile": profile}
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["status"] == "Accepted"
        [setting] = sent(cp, "SetChargingProfile")
        assert setting["evse_id"] == 1 and setting["charging_profile"]["id"] == 7


async def test_L_firmware_update_through_the_api_on_2_1(volta, api):
    """L01: the API's firmware update reaches a 2.1 station as UpdateFirmware
    and its FirmwareStatusNotification moves the update along."""
    await register(volta, "L21-1")
    async with station(volta, "L21-1", "2.1") as cp:
        cp.handlers["UpdateFirmware"] = ACCEPTED
        await booted(cp)
        resp = await api.post(
            "/api/v1/stations/L21-1/firmware-updates",
            json={"location": "http://127.0.0.1:9/fw-2.1.bin"},
        )
        assert resp.status_code == 201, resp.text
        update = resp.json()
        [request] = sent(cp, "UpdateFirmware")
        assert request["firmware"]["location"] == "http://127.0.0.1:9/fw-2.1.bin"
        await cp.call(
            "FirmwareStatusNotification",
            {"status": "Downloading", "requestId": request["request_id"]},
        )

        async def downloading() -> bool:
            got = (await api.get(f"/api/v1/firmware-updates/{update['id']}")).json()
            return bool(got["status"] == "Downloading")

        assert await wait_until(downloading)


async def test_M_A_sign_certificate_on_2_1(volta, api):
    """A02 / M: a 2.1 station's SignCertificate CSR is answered and kept as a
    certificate request (signed or waiting, as Volta's CA is set up)."""
    await register(volta, "M21-1")
    async with station(volta, "M21-1", "2.1") as cp:
        cp.handlers["CertificateSigned"] = ACCEPTED
        await booted(cp)
        csr = _csr("M21-1")
        result = await cp.call(
            "SignCertificate", {"csr": csr, "certificateType": "ChargingStationCertificate"}
        )
        assert result["status"] in ("Accepted", "Rejected")

        async def recorded() -> bool:
            rows = (await api.get("/api/v1/certificate-requests")).json()
            return any(r["station_id"] == "M21-1" for r in rows)

        assert await wait_until(recorded)


def _csr(station_id: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, station_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Volta"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM).decode()


async def test_N_notify_event_on_2_1(volta, api):
    """N07: a 2.1 station's NotifyEvent is answered and its event stored."""
    await register(volta, "N21-1")
    async with station(volta, "N21-1", "2.1") as cp:
        await booted(cp)
        event = {
            "generatedAt": now_iso(),
            "seqNo": 0,
            "tbc": False,
            "eventData": [
                {
                    "eventId": 1,
                    "timestamp": now_iso(),
                    "trigger": "Alerting",
                    "actualValue": "95",
                    "eventNotificationType": "HardWiredMonitor",
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Temperature"},
                }
            ],
        }
        assert await cp.call("NotifyEvent", event) == {}

        async def stored() -> bool:
            rows = (
                await api.get("/api/v1/monitoring-events", params={"station_id": "N21-1"})
            ).json()
            return bool(rows)

        assert await wait_until(stored)


async def test_O_display_message_through_the_api_on_2_1(volta, api):
    """O01: a message set through the API reaches a 2.1 station as
    SetDisplayMessage."""
    await register(volta, "O21-1")
    async with station(volta, "O21-1", "2.1") as cp:
        cp.handlers["SetDisplayMessage"] = ACCEPTED
        await booted(cp)
        resp = await api.post(
            "/api/v1/stations/O21-1/display-messages",
            json={"content": "Free parking after 18:00", "priority": "InFront"},
        )
        assert resp.status_code in (200, 201), resp.text
        [request] = sent(cp, "SetDisplayMessage")
        assert request["message"]["message"]["content"] == "Free parking after 18:00"


async def test_P_data_transfer_on_2_1(volta, api):
    """P01 / P02: DataTransfer both ways: a station's is answered, and the
    API's generic command reaches the station."""
    await register(volta, "P21-1")
    async with station(volta, "P21-1", "2.1") as cp:
        await booted(cp)
        got = await cp.call("DataTransfer", {"vendorId": "com.example", "messageId": "ping"})
        assert got["status"] in ("Accepted", "Rejected", "UnknownVendorId", "UnknownMessageId")
        resp = await api.post(
            "/api/v1/stations/P21-1/commands/DataTransfer",
            json={"vendorId": "com.example", "data": "ping"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "accepted"
        assert resp.json()["response"] == {"status": "Accepted", "data": "pong"}


async def test_device_model_get_variables_through_the_api_on_2_1(volta, api):
    """B06: GetVariables through the device-model API reaches a 2.1 station
    and its answers are stored."""
    await register(volta, "DM21-1")
    async with station(volta, "DM21-1", "2.1") as cp:
        await booted(cp)
        wanted = [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]
        resp = await api.post(
            "/api/v1/stations/DM21-1/device-model/get-variables", json={"variables": wanted}
        )
        assert resp.status_code == 200, resp.text
        [request] = sent(cp, "GetVariables")
        assert request["get_variable_data"][0]["variable"]["name"] == "HeartbeatInterval"
