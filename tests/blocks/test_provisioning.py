"""Provisioning for both versions over a real WebSocket: boot, heartbeat,
status, 2.0.1 NotifyReport; the registration policy (Accepted / Pending /
Rejected) and SecurityError before acceptance."""

from __future__ import annotations

import sqlalchemy as sa
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import RawStation, connect, now_iso, register, station
from volta.blocks.provisioning import service
from volta.store.models import DeviceVariable


async def test_boot_v16_stores_identity_and_answers_interval(volta, api):
    await register(volta, "CP16")
    async with station(volta, "CP16", "1.6") as cp:
        r = await cp.call(
            call16.BootNotification(
                charge_point_vendor="Acme",
                charge_point_model="Wall-22",
                charge_point_serial_number="SN-1",
                firmware_version="1.2.3",
                iccid="8931",
                imsi="2040",
                meter_type="MID",
                meter_serial_number="M-9",
            )
        )
        assert r.status == "Accepted"
        assert r.interval == volta.settings.heartbeat_interval
        assert r.current_time.endswith("Z")
        body = (await api.get("/api/v1/stations/CP16")).json()
        assert body["online"] is True
        assert body["protocol"] == "ocpp1.6"
    assert (body["vendor"], body["model"], body["serial_number"]) == ("Acme", "Wall-22", "SN-1")
    assert (body["firmware_version"], body["iccid"], body["imsi"]) == ("1.2.3", "8931", "2040")
    assert (body["meter_type"], body["meter_serial_number"]) == ("MID", "M-9")
    assert body["last_boot_at"] is not None


async def test_boot_v201_stores_identity(volta, api):
    await register(volta, "CP201")
    async with station(volta, "CP201", "2.0.1") as cp:
        r = await cp.call(
            call201.BootNotification(
                charging_station={
                    "model": "DC-150",
                    "vendor_name": "Volt",
                    "serial_number": "S-2",
                    "firmware_version": "4.0",
                    "modem": {"iccid": "89", "imsi": "20"},
                },
                reason="PowerUp",
            )
        )
        assert r.status == "Accepted"
        assert r.interval == volta.settings.heartbeat_interval
        body = (await api.get("/api/v1/stations/CP201")).json()
    assert body["protocol"] == "ocpp2.0.1"
    assert (body["vendor"], body["model"], body["serial_number"]) == ("Volt", "DC-150", "S-2")
    assert (body["firmware_version"], body["iccid"], body["imsi"]) == ("4.0", "89", "20")


async def test_heartbeat_both_versions(volta, api):
    await register(volta, "H16")
    await register(volta, "H201")
    async with station(volta, "H16", "1.6") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))
        r = await cp.call(call16.Heartbeat())
        assert r.current_time.endswith("Z")
    async with station(volta, "H201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        r = await cp.call(call201.Heartbeat())
        assert r.current_time.endswith("Z")
    for sid in ("H16", "H201"):
        assert (await api.get(f"/api/v1/stations/{sid}")).json()["last_heartbeat_at"]


async def test_status_notification_v16_and_v201(volta, api):
    await register(volta, "S16")
    await register(volta, "S201")
    async with station(volta, "S16", "1.6") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="a", charge_point_model="b"))
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        await cp.call(
            call16.StatusNotification(
                connector_id=2,
                error_code="GroundFailure",
                status="Faulted",
                timestamp=now_iso(),
                info="RCD tripped",
                vendor_error_code="E42",
            )
        )
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
    connectors = (await api.get("/api/v1/stations/S16")).json()["connectors"]
    assert [(c["connector_id"], c["status"]) for c in connectors] == [
        (1, "Charging"),
        (2, "Faulted"),
    ]
    assert connectors[1]["error_code"] == "GroundFailure"
    assert connectors[1]["vendor_error_code"] == "E42"
    assert connectors[1]["info"] == "RCD tripped"

    async with station(volta, "S201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        for evse, conn, status in ((1, 1, "Available"), (2, 1, "Occupied"), (1, 1, "Reserved")):
            await cp.call(
                call201.StatusNotification(
                    timestamp=now_iso(), connector_status=status, evse_id=evse, connector_id=conn
                )
            )
    connectors = (await api.get("/api/v1/stations/S201")).json()["connectors"]
    assert [(c["evse_id"], c["connector_id"], c["status"]) for c in connectors] == [
        (1, 1, "Reserved"),
        (2, 1, "Occupied"),
    ]


async def test_notify_report_is_stored(volta):
    """B07/B08: the device model a station reports (GetBaseReport -> NotifyReport)."""
    await register(volta, "R1")
    report = [
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"type": "Actual", "value": "300", "mutability": "ReadWrite"}],
            "variableCharacteristics": {"dataType": "integer", "supportsMonitoring": False},
        },
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variableAttribute": [
                {"type": "Actual", "value": "0", "mutability": "ReadOnly"},
                {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"},
            ],
        },
    ]
    async with station(volta, "R1", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        await cp.call(
            call201.NotifyReport(
                request_id=1, generated_at=now_iso(), seq_no=0, report_data=report, tbc=False
            )
        )
        # A later report updates values rather than duplicating them.
        report[0]["variableAttribute"][0]["value"] = "60"
        await cp.call(
            call201.NotifyReport(
                request_id=2, generated_at=now_iso(), seq_no=0, report_data=report[:1]
            )
        )
    async with volta.db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(DeviceVariable)
                    .where(DeviceVariable.station_id == "R1")
                    .order_by(DeviceVariable.key)
                )
            )
            .mappings()
            .all()
        )
    by_key = {r["key"]: r for r in rows}
    assert set(by_key) == {
        "EVSE@1/Power#Actual",
        "EVSE@1/Power#MaxSet",
        "OCPPCommCtrlr/HeartbeatInterval#Actual",
    }
    assert by_key["OCPPCommCtrlr/HeartbeatInterval#Actual"]["value"] == "60"
    assert by_key["EVSE@1/Power#MaxSet"]["value"] == "22000"
    assert by_key["OCPPCommCtrlr/HeartbeatInterval#Actual"]["data_type"] == "integer"


async def test_pending_station_gets_security_error_until_accepted(volta):
    """B02.FR.09 (2.0.1) / OCPP 1.6 §4.2: while Pending, any CALL other than
    BootNotification is answered with SecurityError; accepted later, it charges."""
    await register(volta, "P1", registration_status="Pending")
    async with connect(volta, "P1", "ocpp2.0.1") as ws:
        raw = RawStation(ws)
        boot = {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"}
        r = await raw.call("BootNotification", boot)
        assert r[0] == 3 and r[2]["status"] == "Pending"
        assert r[2]["interval"] == volta.settings.boot_retry_interval
        r = await raw.call("Heartbeat", {})
        assert r[0] == 4 and r[2] == "SecurityError"
        await service.update_station(volta.db, "P1", registration_status="Accepted")
        r = await raw.call("BootNotification", boot)
        assert r[2]["status"] == "Accepted"
        r = await raw.call("Heartbeat", {})
        assert r[0] == 3


async def test_rejected_station_v16(volta):
    await register(volta, "X1", registration_status="Rejected")
    async with connect(volta, "X1", "ocpp1.6") as ws:
        raw = RawStation(ws)
        r = await raw.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
        assert r[2]["status"] == "Rejected"
        r = await raw.call(
            "StatusNotification", {"connectorId": 0, "errorCode": "NoError", "status": "Available"}
        )
        assert r[0] == 4 and r[2] == "SecurityError"


async def test_accepted_station_may_skip_boot_after_reconnect(volta):
    """Real chargers do not boot again when only the CSMS restarted: an
    Accepted station's heartbeat is answered without a new BootNotification."""
    await register(volta, "NB1")
    async with connect(volta, "NB1", "ocpp1.6") as ws:
        r = await RawStation(ws).call("Heartbeat", {})
        assert r[0] == 3 and "currentTime" in r[2]


async def test_notifications_without_a_block_are_acknowledged(volta):
    """FirmwareStatusNotification and friends are stored and acknowledged."""
    await register(volta, "N1")
    async with connect(volta, "N1", "ocpp1.6") as ws:
        raw = RawStation(ws)
        r = await raw.call("FirmwareStatusNotification", {"status": "Downloading"})
        assert r[0] == 3 and r[2] == {}
        r = await raw.call("DiagnosticsStatusNotification", {"status": "Idle"})
        assert r[0] == 3 and r[2] == {}
        r = await raw.call("DataTransfer", {"vendorId": "com.acme"})
        assert r[2] == {"status": "UnknownVendorId"}
