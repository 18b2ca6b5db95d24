"""OCPP 2.1 battery swap: BatterySwap steps kept with the batteries and
Volta's verdict on the driver's token; RequestBatterySwap through the API."""

from __future__ import annotations

import pytest

from tests.helpers import add_token, answer, register, station
from tests.v21.payment_flows import BOOT
from volta.app import outgoing_tables
from volta.blocks.battery_swap.service import RequestBatterySwap
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message

OUTGOING_CASES: list[tuple[object, Message]] = [
    (
        RequestBatterySwap(7, "TAG-1", "ISO14443"),
        Message(
            "RequestBatterySwap",
            {"requestId": 7, "idToken": {"idToken": "TAG-1", "type": "ISO14443"}},
        ),
    ),
]


@pytest.mark.parametrize(("command", "message"), OUTGOING_CASES)
def test_the_v21_table_builds_battery_swap_commands(command, message):
    built = outgoing_tables()[Version.V21].build(command)
    assert built == message
    registry().validate(Version.V21, built.action, built.payload)


def battery(serial: str, soc: float) -> dict:
    return {"evseId": 1, "serialNumber": serial, "soC": soc, "soH": 97.5}


async def test_a_requested_swap_and_its_steps(volta, api):
    """RequestBatterySwap (2.1): sent with a requestId the station's
    BatterySwap steps repeat; each step is kept with its batteries and the
    token's verdict (Accepted for a known token, Unknown otherwise)."""
    await register(volta, "SWAP-1")
    await add_token(volta, "TAG-SWAP")
    async with station(volta, "SWAP-1", "2.1") as cp:
        cp.handlers["RequestBatterySwap"] = answer({"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        resp = await api.post(
            "/api/v1/stations/SWAP-1/battery-swaps", json={"id_token": "TAG-SWAP"}
        )
        assert resp.status_code == 201, resp.text
        requested = resp.json()
        assert requested["event_type"] == "Requested"
        assert requested["status"] == "Accepted"
        request_id = requested["request_id"]
        assert cp.received[-1][1]["request_id"] == request_id
        token = {"idToken": "TAG-SWAP", "type": "ISO14443"}
        for event, batteries in (
            ("BatteryIn", [battery("B-OLD-1", 12.0), battery("B-OLD-2", 9.5)]),
            ("BatteryOut", [battery("B-NEW-1", 98.0)]),
        ):
            assert (
                await cp.call(
                    "BatterySwap",
                    {
                        "eventType": event,
                        "requestId": request_id,
                        "idToken": token,
                        "batteryData": batteries,
                    },
                )
                == {}
            )
        await cp.call(
            "BatterySwap",
            {
                "eventType": "BatteryOutTimeout",
                "requestId": 5,
                "idToken": {"idToken": "STRANGER", "type": "ISO14443"},
                "batteryData": [battery("B-NEW-2", 99.0)],
            },
        )
    steps = (await api.get("/api/v1/battery-swaps", params={"request_id": request_id})).json()
    assert [(s["event_type"], s["status"]) for s in steps] == [
        ("Requested", "Accepted"),
        ("BatteryIn", "Accepted"),
        ("BatteryOut", "Accepted"),
    ]
    assert [b["serialNumber"] for b in steps[1]["batteries"]] == ["B-OLD-1", "B-OLD-2"]
    [stranger] = (await api.get("/api/v1/battery-swaps", params={"request_id": 5})).json()
    assert stranger["status"] == "Unknown"
    events = (await api.get("/api/v1/events", params={"type": "battery_swap.reported"})).json()
    assert {e["data"]["authorization_status"] for e in events} == {"Accepted", "Unknown"}


async def test_battery_swap_is_refused_to_a_2_0_1_station(volta, api):
    await register(volta, "SWAP-2")
    async with station(volta, "SWAP-2", "2.0.1") as cp:
        await cp.call("BootNotification", BOOT)
        resp = await api.post("/api/v1/stations/SWAP-2/battery-swaps", json={"id_token": "T"})
        assert resp.status_code == 409
