"""The issue's acceptance path, as a new user would try it: a charger built
with the PyPI `ocpp` library's ChargePoint, with a password, connects, boots,
authorises, runs a full transaction and is shown by the API; a command sent
from the API reaches it and its answer comes back. 1.6 and 2.0.1; and a 2.1
charger that is sent a limit and a tariff and reports its own cost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v21 import ChargePoint as ChargePoint21
from ocpp.v21 import call as call21
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.helpers import add_token, connect, now_iso
from volta.app import Volta

# The other tests' stations are built on Volta's own OcppLink; these two are
# built on a third-party implementation, so Volta is checked against it too.


class AcmeCharger16(ChargePoint16):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kw: Any) -> Any:
        self.received.append(("RemoteStopTransaction", kw))
        return result16.RemoteStopTransaction(status="Accepted")


class AcmeCharger201(ChargePoint201):
    @on("GetVariables")
    async def on_get_variables(self, **kw: Any) -> Any:
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                    "attributeValue": "300",
                }
                for item in kw["get_variable_data"]
            ]
        )


@contextlib.asynccontextmanager
async def station(volta: Volta, station_id: str, version: str, password: str) -> AsyncIterator[Any]:
    """A library ChargePoint connected to Volta, as in the README."""
    protocol, cls = {
        "1.6": ("ocpp1.6", AcmeCharger16),
        "2.0.1": ("ocpp2.0.1", AcmeCharger201),
        "2.1": ("ocpp2.1", ChargePoint21),
    }[version]
    async with connect(volta, station_id, protocol, password) as ws:
        cp = cls(station_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def test_ocpp16_charger_end_to_end(volta, api):
    assert (
        await api.post("/api/v1/stations", json={"id": "ACME-16", "password": "acme-16-password"})
    ).status_code == 201
    assert (await api.post("/api/v1/id-tokens", json={"token": "RFID-16"})).status_code == 201
    async with station(volta, "ACME-16", "1.6", password="acme-16-password") as cp:
        boot = await cp.call(
            call16.BootNotification(charge_point_vendor="Acme", charge_point_model="AC22")
        )
        assert boot.status == "Accepted"
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        assert (await cp.call(call16.Authorize(id_tag="RFID-16"))).id_tag_info[
            "status"
        ] == "Accepted"
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="RFID-16", meter_start=100, timestamp=now_iso()
            )
        )
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )

        view = (await api.get("/api/v1/stations/ACME-16")).json()
        assert view["online"] and view["protocol"] == "ocpp1.6" and view["vendor"] == "Acme"
        assert view["connectors"][0]["status"] == "Charging"

        command = await api.post(
            "/api/v1/stations/ACME-16/commands/RemoteStopTransaction",
            json={"transactionId": start.transaction_id},
        )
        assert command.status_code == 200
        assert command.json()["status"] == "accepted"
        assert command.json()["response"] == {"status": "Accepted"}
        assert cp.received[-1] == (
            "RemoteStopTransaction",
            {"transaction_id": start.transaction_id},
        )

        await cp.call(
            call16.StopTransaction(
                meter_stop=7_100,
                timestamp=now_iso(),
                transaction_id=start.transaction_id,
                reason="Remote",
            )
        )
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
    tx = (await api.get(f"/api/v1/transactions/{start.transaction_id}")).json()
    assert (tx["status"], tx["energy_wh"], tx["stop_reason"], tx["id_token"]) == (
        "Ended",
        7_000,
        "Remote",
        "RFID-16",
    )
    assert (await api.get("/api/v1/stations/ACME-16")).json()["connectors"][0][
        "status"
    ] == "Available"


async def test_ocpp201_charger_end_to_end(volta, api):
    assert (
        await api.post("/api/v1/stations", json={"id": "ACME-201", "password": "acme-201-password"})
    ).status_code == 201
    await add_token(volta, "RFID-201")
    async with station(volta, "ACME-201", "2.0.1", password="acme-201-password") as cp:
        boot = await cp.call(
            call201.BootNotification(
                charging_station={"model": "DC50", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        auth = await cp.call(
            call201.Authorize(id_token={"id_token": "RFID-201", "type": "ISO14443"})
        )
        assert auth.id_token_info["status"] == "Accepted"
        token = {"id_token": "RFID-201", "type": "ISO14443"}
        for seq, (kind, wh, ctx) in enumerate(
            [
                ("Started", 0, "Transaction.Begin"),
                ("Updated", 4_000, "Sample.Periodic"),
                ("Ended", 9_000, "Transaction.End"),
            ]
        ):
            await cp.call(
                call201.TransactionEvent(
                    event_type=kind,
                    timestamp=now_iso(),
                    trigger_reason="Authorized" if seq == 0 else "MeterValuePeriodic",
                    seq_no=seq,
                    transaction_info={"transaction_id": "ACME-TX-1"},
                    id_token=token if seq == 0 else None,
                    evse={"id": 1, "connector_id": 1},
                    meter_value=[
                        {"timestamp": now_iso(), "sampled_value": [{"value": wh, "context": ctx}]}
                    ],
                )
            )
        command = await api.post(
            "/api/v1/stations/ACME-201/commands/GetVariables",
            json={
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        )
        assert command.json()["status"] == "accepted"
        assert command.json()["response"]["getVariableResult"][0]["attributeValue"] == "300"
        stored = (await api.get(f"/api/v1/commands/{command.json()['id']}")).json()
        assert stored == command.json()
    txs = (await api.get("/api/v1/transactions", params={"station_id": "ACME-201"})).json()
    assert [(t["station_transaction_id"], t["status"], t["energy_wh"]) for t in txs] == [
        ("ACME-TX-1", "Ended", 9_000)
    ]
    # The frame log holds the whole conversation, both directions.
    for _ in range(50):
        frames = (
            await api.get("/api/v1/stations/ACME-201/messages", params={"limit": 100})
        ).json()["items"]
        if len(frames) >= 14:
            break
        await asyncio.sleep(0.05)
    actions = {(f["direction"], f["action"]) for f in frames}
    assert {
        ("in", "BootNotification"),
        ("out", "BootNotification"),
        ("out", "GetVariables"),
        ("in", "GetVariables"),
    } <= actions


async def test_ocpp21_charger_charges_with_the_limit_and_tariff_it_was_sent(volta, api):
    """Issue 16's acceptance path: a charger on the library's v21 ChargePoint
    boots, authorises and is given the driver's tariff (I08), starts and is
    sent the driver's energy limit (E16 transactionLimit), stops itself when
    the limit is reached and reports the cost it calculated (I11), which
    Volta finds equal to its own: the CDR carries no difference."""
    assert (
        await api.post("/api/v1/stations", json={"id": "ACME-21", "password": "acme-21-password"})
    ).status_code == 201
    await add_token(volta, "RFID-21", limits={"limit_energy_wh": 5000})
    tariff = await api.post(
        "/api/v1/tariffs",
        json={"name": "Std", "currency": "EUR", "price_kwh": "0.40", "is_default": True},
    )
    assert tariff.status_code == 201, tariff.text
    token = {"id_token": "RFID-21", "type": "ISO14443"}
    async with station(volta, "ACME-21", "2.1", password="acme-21-password") as cp:
        boot = await cp.call(
            call21.BootNotification(
                charging_station={"model": "AC22", "vendor_name": "Acme"}, reason="PowerUp"
            )
        )
        assert boot.status == "Accepted"
        auth = await cp.call(call21.Authorize(id_token=token))
        assert auth.id_token_info["status"] == "Accepted"
        tariff_sent = auth.tariff
        assert tariff_sent["currency"] == "EUR"
        assert tariff_sent["energy"]["prices"] == [{"price_kwh": 0.4}]

        def event(kind: str, seq: int, wh: int, trigger: str, **info: Any) -> Any:
            return call21.TransactionEvent(
                event_type=kind,
                timestamp=now_iso(),
                trigger_reason=trigger,
                seq_no=seq,
                transaction_info={"transaction_id": "ACME-21-TX", **info},
                id_token=token if seq == 0 else None,
                evse={"id": 1, "connector_id": 1} if seq == 0 else None,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampled_value": [
                            {"value": wh, "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )

        started = await cp.call(
            event("Started", 0, 10_000, "Authorized", charging_state="Charging")
        )
        limit = started.transaction_limit
        assert limit == {"max_energy": 5000}
        # The charger holds the limit (it says so), charges up to it and
        # stops by itself: Volta sends no stop of its own.
        await cp.call(
            event(
                "Updated",
                1,
                12_000,
                "LimitSet",
                transaction_limit={"max_energy": limit["max_energy"]},
            )
        )
        # 5 kWh at 0.40 EUR (no tax): 2.00 EUR, by the station's reckoning.
        ended = event("Ended", 2, 15_000, "EnergyLimitReached", stopped_reason="EnergyLimitReached")
        ended.cost_details = {
            "total_cost": {
                "currency": "EUR",
                "type_of_cost": "NormalCost",
                "energy": {"excl_tax": 2.0},
                "total": {"excl_tax": 2.0},
            },
            "total_usage": {"energy": 5000, "charging_time": 60, "idle_time": 0},
        }
        await cp.call(ended)
    [tx] = (await api.get("/api/v1/transactions", params={"station_id": "ACME-21"})).json()
    assert (tx["status"], tx["energy_wh"], tx["limit_reached"]) == ("Ended", 5000, "energy")
    assert tx["limit_reached_by"] == "station"

    async def cdr() -> Any:
        listed = (await api.get("/api/v1/cdrs")).json()
        return next((c for c in listed if c["transaction_id"] == tx["id"]), None)

    for _ in range(100):
        found = await cdr()
        if found is not None:
            break
        await asyncio.sleep(0.05)
    assert found is not None
    detail = (await api.get(f"/api/v1/cdrs/{found['id']}")).json()
    assert detail["total_incl_tax"] == "2.00"
    assert detail["station_cost"]["differs"] is False
    assert "station_cost_differs" not in detail["flags"]
