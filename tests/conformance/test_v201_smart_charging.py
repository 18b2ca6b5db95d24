"""OCPP 2.0.1 CSMS test cases (Part 6), block K: Smart Charging.

Each test is named by its test case id; the charging station is played over
a real WebSocket, the operator's part through the HTTP API. Where the OCA
case only asks that the CSMS answers, the test also checks what Volta made
of the message, as an operator would see it (events, charging profiles)."""

from __future__ import annotations

from typing import Any

from tests.conformance.conftest import Station
from tests.conformance.test_v201 import EVSE, energy_transfer_started, event, status

SCHEDULE = {
    "id": 1,
    "chargingRateUnit": "A",
    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
}


async def events_of(api: Any, type_: str) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/events", params={"type": type_, "station_id": "CS201"})
    assert r.status_code == 200, r.text
    return [e["data"] for e in r.json()]


async def notify_limit(cs: Station, source: str = "EMS", **extra: Any) -> None:
    r = await cs.call(
        "NotifyChargingLimit", {"chargingLimit": {"chargingLimitSource": source}, **extra}
    )
    assert r == {}


# -- K12 / K13: external limits ------------------------------------------------------


async def test_TC_K_48_CSMS(cs, api):
    """K12: NotifyChargingLimitRequest with chargingLimitSource EMS is answered;
    Volta records the limit (here with its schedule, K12.FR.03)."""
    await status(cs, "Available")
    await notify_limit(cs, evseId=1, chargingSchedule=[SCHEDULE])
    await notify_limit(cs)  # as the OCA case sends it: no EVSE, no schedule
    notified = await events_of(api, "charging_limit.notified")
    assert [(e["source"], e["evse_id"], e["limit"]) for e in notified] == [
        ("EMS", 1, 16.0),
        ("EMS", 0, None),
    ]


async def test_TC_K_50_CSMS(cs, api):
    """K13 without a transaction: ClearedChargingLimitRequest (EMS) is answered
    and the EMS limit Volta knew of ends."""
    await status(cs, "Available")
    await notify_limit(cs, evseId=1, chargingSchedule=[SCHEDULE])
    assert await cs.call("ClearedChargingLimit", {"chargingLimitSource": "EMS"}) == {}
    cleared = await events_of(api, "charging_limit.cleared")
    assert [(e["source"], e["cleared"]) for e in cleared] == [("EMS", 1)]


async def test_TC_K_51_CSMS(cs, api):
    """K13 during a transaction: ClearedChargingLimitRequest, then the
    TransactionEventRequest (Updated, ChargingRateChanged) it causes."""
    seq = await energy_transfer_started(cs)
    await notify_limit(cs, evseId=1, chargingSchedule=[SCHEDULE])
    assert await cs.call("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}) == {}
    r = await cs.call(
        "TransactionEvent",
        event("Updated", seq, "ChargingRateChanged", evse=EVSE, chargingState="Charging"),
    )
    assert r == {}
    cleared = await events_of(api, "charging_limit.cleared")
    assert [(e["source"], e["evse_id"], e["cleared"]) for e in cleared] == [("EMS", 1, 1)]
