"""OCPP 2.1 priority charging: UsePriorityCharging for a running session
through the API, NotifyPriorityCharging kept with the session and evented."""

from __future__ import annotations

import pytest

from tests.helpers import add_token, answer, register, station, wait_until
from tests.v21.payment_flows import BOOT, end, start
from volta.app import outgoing_tables
from volta.blocks.priority_charging.service import UsePriorityCharging
from volta.blocks.transactions import queries as tx_queries
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message

OUTGOING_CASES: list[tuple[object, Message]] = [
    (
        UsePriorityCharging("tx-9", True),
        Message("UsePriorityCharging", {"transactionId": "tx-9", "activate": True}),
    ),
]


@pytest.mark.parametrize(("command", "message"), OUTGOING_CASES)
def test_the_v21_table_builds_priority_commands(command, message):
    built = outgoing_tables()[Version.V21].build(command)
    assert built == message
    registry().validate(Version.V21, built.action, built.payload)


async def _tx_id(volta, station_id: str) -> int:
    [tx] = await tx_queries.list_transactions(volta.services.db, station_id=station_id)
    return int(tx["id"])


async def test_priority_charging_asked_and_notified(volta, api):
    """UsePriorityCharging (2.1): sent for the running session, the answer
    kept; NotifyPriorityCharging: kept and evented; the session's priority
    follows the last word on it."""
    await register(volta, "PRIO-1")
    await add_token(volta, "TAG-PRIO")
    async with station(volta, "PRIO-1", "2.1") as cp:
        cp.handlers["UsePriorityCharging"] = answer({"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        await start(cp, "prio-tx", "TAG-PRIO")
        tx_id = await _tx_id(volta, "PRIO-1")
        empty = (await api.get(f"/api/v1/transactions/{tx_id}/priority-charging")).json()
        assert empty["active"] is None
        resp = await api.post(
            f"/api/v1/transactions/{tx_id}/priority-charging", json={"activate": True}
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "Accepted"
        assert cp.received[-1] == (
            "UsePriorityCharging",
            {"transaction_id": "prio-tx", "activate": True},
        )
        # The driver switches it off at the station.
        assert (
            await cp.call(
                "NotifyPriorityCharging", {"transactionId": "prio-tx", "activated": False}
            )
            == {}
        )
        state = (await api.get(f"/api/v1/transactions/{tx_id}/priority-charging")).json()
        assert state["active"] is False
        assert [(h["source"], h["status"]) for h in state["history"]] == [
            ("api", "Accepted"),
            ("station", "Notified"),
        ]
        cp.handlers["UsePriorityCharging"] = answer({"status": "NoProfile"})
        no_profile = await api.post(
            f"/api/v1/transactions/{tx_id}/priority-charging", json={"activate": True}
        )
        assert no_profile.json()["status"] == "NoProfile"
        await end(cp, "prio-tx")

        async def ended() -> bool:
            rows = await tx_queries.list_transactions(volta.services.db, station_id="PRIO-1")
            return rows[0]["stopped_at"] is not None

        assert await wait_until(ended)
        late = await api.post(
            f"/api/v1/transactions/{tx_id}/priority-charging", json={"activate": True}
        )
        assert late.status_code == 409
    events = (await api.get("/api/v1/events", params={"type": "priority_charging.changed"})).json()
    assert any(e["data"]["activated"] is False for e in events)
    assert (
        await api.post("/api/v1/transactions/999999/priority-charging", json={"activate": True})
    ).status_code == 404


async def test_priority_charging_is_refused_to_a_2_0_1_station(volta, api):
    await register(volta, "PRIO-2")
    await add_token(volta, "TAG-PRIO2")
    async with station(volta, "PRIO-2", "2.0.1") as cp:
        await cp.call("BootNotification", BOOT)
        await start(cp, "prio-201", "TAG-PRIO2")
        tx_id = await _tx_id(volta, "PRIO-2")
        resp = await api.post(
            f"/api/v1/transactions/{tx_id}/priority-charging", json={"activate": True}
        )
        assert resp.status_code == 409
        assert "OCPP 2.1" in resp.json()["detail"]
