"""OCPP 2.1 transaction limits held by the station (E16): a session's limit,
from its token or set through the API, goes to a 2.1 station in the
TransactionEventResponse (`transactionLimit`) at the start and when it
changes; the station holds it while offline and reports reaching it
(triggerReason / stoppedReason *LimitReached), recorded with `by: station`.
1.6 and 2.0.1 sessions keep Volta's own enforcement (and so does a 2.1
station that never reports holding the limit)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import add_token, now_iso, register, station, wait_until
from volta.ocpp.versions import Version
from volta.outgoing import Message

pytestmark = pytest.mark.asyncio

# No V21 builder of this part: the limit travels in an answer, and the prompt
# path is the 2.0.1 TriggerMessage builder (tests/blocks/test_outgoing.py).
OUTGOING_CASES: list[tuple[object, Message]] = []

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Volta-21", "vendorName": "Volta"}}


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"housekeeping_interval": 0.2}


def meter(wh: float) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": now_iso(),
            "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
        }
    ]


def event(
    event_type: str,
    tx_id: str,
    seq_no: int,
    trigger: str,
    *,
    wh: float | None = None,
    info: dict[str, Any] | None = None,
    token: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": now_iso(),
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx_id, **(info or {})},
        **extra,
    }
    if event_type == "Started":
        payload["evse"] = {"id": 1, "connectorId": 1}
    if token is not None:
        payload["idToken"] = {"idToken": token, "type": "ISO14443"}
    if wh is not None:
        payload["meterValue"] = meter(wh)
    return payload


async def session_of(api: Any, station_id: str) -> dict[str, Any]:
    [tx] = (await api.get("/api/v1/transactions", params={"station_id": station_id})).json()
    return dict(tx)


async def limit_events(api: Any, station_id: str) -> list[dict[str, Any]]:
    got = await api.get(
        "/api/v1/events", params={"type": "limit.reached", "station_id": station_id}
    )
    return [e["data"] for e in got.json()]


def stops(cp: Any) -> list[str]:
    return [a for a, _ in cp.received if a == "RequestStopTransaction"]


async def test_E16_token_limit_goes_to_the_station_at_started(volta, api):
    """E16: the token's limits (5 kWh, 1 h) are in the Started event's answer
    as transactionLimit; the station's LimitSet report is kept as the limit it
    holds (`station_limit`), and from then on the station enforces it: meter
    values past 5 kWh make Volta ask for no stop. Its EnergyLimitReached is
    recorded once, `by: station`, on the session and as an event."""
    await register(volta, "LIM21-1")
    await add_token(volta, "LIM21-TAG", limits={"limit_energy_wh": 5000, "limit_seconds": 3600})
    async with station(volta, "LIM21-1", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent",
            event("Started", "t1", 0, "Authorized", wh=0, token="LIM21-TAG"),
        )
        assert started["idTokenInfo"]["status"] == "Accepted"
        assert started["transactionLimit"] == {"maxEnergy": 5000, "maxTime": 3600}
        held = {"maxEnergy": 5000, "maxTime": 3600}
        confirmed = await cp.call(
            "TransactionEvent",
            event("Updated", "t1", 1, "LimitSet", info={"transactionLimit": held}),
        )
        assert "transactionLimit" not in confirmed  # held as sent: not sent again
        tx = await session_of(api, "LIM21-1")
        assert tx["station_limit"] == held
        assert tx["limit_sent"] == {"maxEnergy": 5000, "maxTime": 3600}
        assert tx["station_limit_at"] is not None

        # Past the limit: the station's to act on, not Volta's.
        await cp.call("TransactionEvent", event("Updated", "t1", 2, "MeterValuePeriodic", wh=5200))
        await asyncio.sleep(0.6)  # housekeeping runs: still no stop asked
        assert stops(cp) == []
        assert (await session_of(api, "LIM21-1"))["limit_reached"] is None

        await cp.call(
            "TransactionEvent",
            event(
                "Ended",
                "t1",
                3,
                "EnergyLimitReached",
                wh=5200,
                info={"stoppedReason": "EnergyLimitReached", "transactionLimit": held},
            ),
        )
    tx = await session_of(api, "LIM21-1")
    assert (tx["status"], tx["stop_reason"]) == ("Ended", "EnergyLimitReached")
    assert (tx["limit_reached"], tx["limit_reached_by"]) == ("energy", "station")
    [reached] = await limit_events(api, "LIM21-1")
    assert reached["kind"] == "energy"
    assert reached["by"] == "station"
    assert reached["trigger"] == "EnergyLimitReached"
    assert reached["limit"] == 5000
    assert reached["value"] == 5200
    assert stops(cp) == []


async def test_E16_limit_set_through_the_api_reaches_the_station_at_once(volta, api):
    """A limit set while the session runs (PUT /transactions/{id}/limits) does
    not wait for the station's next event: Volta sends TriggerMessage
    TransactionEvent for the EVSE (F06) and answers that event with the new
    transactionLimit. Clearing the limits sends an empty one."""
    await register(volta, "LIM21-2")
    await add_token(volta, "LIM21-FREE")
    answers: list[dict[str, Any]] = []
    seq = iter(range(1, 100))
    async with station(volta, "LIM21-2", "2.1") as cp:

        async def triggered(request: dict[str, Any]) -> dict[str, Any]:
            async def send_event() -> None:
                payload = event("Updated", "t2", next(seq), "Trigger", wh=100)
                answers.append(await cp.call("TransactionEvent", payload))

            asyncio.get_running_loop().create_task(send_event())
            return {"status": "Accepted"}

        cp.handlers["TriggerMessage"] = triggered
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent",
            event("Started", "t2", 0, "Authorized", wh=0, token="LIM21-FREE"),
        )
        assert "transactionLimit" not in started  # no limit, nothing sent
        tx = await session_of(api, "LIM21-2")
        url = f"/api/v1/transactions/{tx['id']}/limits"
        resp = await api.put(url, json={"energy_wh": 2000, "cost": "7.50"})
        assert resp.status_code == 200, resp.text
        assert await wait_until(lambda: bool(answers))
        triggers = [kw for a, kw in cp.received if a == "TriggerMessage"]
        assert triggers == [{"requested_message": "TransactionEvent", "evse": {"id": 1}}]
        assert answers[0]["transactionLimit"] == {"maxEnergy": 2000, "maxCost": 7.5}

        # Cleared: the station is told so once.
        assert (await api.put(url, json={})).status_code == 200
        assert await wait_until(lambda: len(answers) == 2)
        assert answers[1]["transactionLimit"] == {}
        later = await cp.call("TransactionEvent", event("Updated", "t2", 50, "MeterValuePeriodic"))
        assert "transactionLimit" not in later


async def test_E16_offline_station_reports_it_stopped_at_its_limit(volta, api):
    """The station holds the limit while it is offline: it stops the session
    by itself and, back online, sends the queued events (offline: true);
    Volta records the stop by EnergyLimitReached, `by: station`, and asks
    for no stop of its own."""
    await register(volta, "LIM21-3")
    await add_token(volta, "LIM21-OFF", limits={"limit_energy_wh": 3000})
    async with station(volta, "LIM21-3", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent", event("Started", "t3", 0, "Authorized", wh=0, token="LIM21-OFF")
        )
        assert started["transactionLimit"] == {"maxEnergy": 3000}
        await cp.call(
            "TransactionEvent",
            event("Updated", "t3", 1, "LimitSet", info={"transactionLimit": {"maxEnergy": 3000}}),
        )
    # Offline: Volta sees nothing while the station charges on to the limit.
    async with station(volta, "LIM21-3", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await cp.call(
            "TransactionEvent",
            event("Updated", "t3", 2, "EnergyLimitReached", wh=3000, offline=True),
        )
        await cp.call(
            "TransactionEvent",
            event(
                "Ended",
                "t3",
                3,
                "EnergyLimitReached",
                wh=3000,
                offline=True,
                info={"stoppedReason": "EnergyLimitReached"},
            ),
        )
        await asyncio.sleep(0.5)
        assert stops(cp) == []
    tx = await session_of(api, "LIM21-3")
    assert (tx["status"], tx["stop_reason"], tx["energy_wh"]) == (
        "Ended",
        "EnergyLimitReached",
        3000,
    )
    assert (tx["limit_reached"], tx["limit_reached_by"]) == ("energy", "station")
    assert [(e["kind"], e["by"]) for e in await limit_events(api, "LIM21-3")] == [
        ("energy", "station")
    ]


@pytest.mark.parametrize(
    ("trigger", "kind"),
    [("CostLimitReached", "cost"), ("SoCLimitReached", "soc"), ("TimeLimitReached", "time")],
)
async def test_E16_limit_reached_triggers_are_recorded(volta, api, trigger, kind):
    """2.1's limit-reached trigger reasons on an Updated event (a cost limit
    suspends charging, SuspendedEVSE): recorded with their kind, by the
    station; Volta asks for no stop."""
    await register(volta, "LIM21-4")
    await add_token(volta, "LIM21-TR", limits={"limit_cost": "5.00", "limit_seconds": 600})
    async with station(volta, "LIM21-4", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent", event("Started", "t4", 0, "Authorized", wh=0, token="LIM21-TR")
        )
        assert started["transactionLimit"] == {"maxTime": 600, "maxCost": 5.0}
        await cp.call(
            "TransactionEvent",
            event(
                "Updated",
                "t4",
                1,
                trigger,
                info={
                    "chargingState": "SuspendedEVSE",
                    "transactionLimit": {"maxTime": 600, "maxCost": 5.0, "maxSoC": 80},
                },
                meterValue=[
                    {
                        "timestamp": now_iso(),
                        "sampledValue": [
                            {"value": 80, "measurand": "SoC", "unitOfMeasure": {"unit": "Percent"}}
                        ],
                    }
                ],
            ),
        )
        await asyncio.sleep(0.5)
        assert stops(cp) == []
    tx = await session_of(api, "LIM21-4")
    assert (tx["limit_reached"], tx["limit_reached_by"], tx["status"]) == (
        kind,
        "station",
        "Active",
    )
    [reached] = await limit_events(api, "LIM21-4")
    assert (reached["kind"], reached["by"], reached["trigger"]) == (kind, "station", trigger)
    assert reached["limit"] == {"cost": 5.0, "soc": 80, "time": 600}[kind]


async def test_E16_volta_enforces_a_limit_the_station_does_not_report_holding(volta, api):
    """Fallback: a 2.1 station that was sent the limit but never reports
    holding it (no transactionInfo.transactionLimit) is watched as a 2.0.1
    one: past the limit Volta records it (`by: volta`) and asks for the stop."""
    await register(volta, "LIM21-5")
    await add_token(volta, "LIM21-FB", limits={"limit_energy_wh": 1000})
    async with station(volta, "LIM21-5", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent", event("Started", "t5", 0, "Authorized", wh=0, token="LIM21-FB")
        )
        assert started["transactionLimit"] == {"maxEnergy": 1000}
        # Not reported as held: sent again with the next answer.
        again = await cp.call(
            "TransactionEvent", event("Updated", "t5", 1, "MeterValuePeriodic", wh=500)
        )
        assert again["transactionLimit"] == {"maxEnergy": 1000}
        await cp.call("TransactionEvent", event("Updated", "t5", 2, "MeterValuePeriodic", wh=1200))
        assert await wait_until(lambda: bool(stops(cp)))
    tx = await session_of(api, "LIM21-5")
    assert (tx["limit_reached"], tx["limit_reached_by"]) == ("energy", "volta")
    [reached] = await limit_events(api, "LIM21-5")
    assert reached["by"] == "volta"


@pytest.mark.parametrize("version", ["2.0.1", "1.6"])
async def test_E16_2_0_1_and_1_6_sessions_keep_volta_enforcement(volta, api, version):
    """Volta's own enforcement stays for 2.0.1 (no transactionLimit in its
    schema) and 1.6: past the limit Volta asks for the stop."""
    await register(volta, "LIM-OLD")
    await add_token(volta, "LIM-OLD-TAG", limits={"limit_energy_wh": 1000})
    async with station(volta, "LIM-OLD", version) as cp:
        if version == "2.0.1":
            await cp.call("BootNotification", BOOT)
            started = await cp.call(
                "TransactionEvent",
                event("Started", "t6", 0, "Authorized", wh=0, token="LIM-OLD-TAG"),
            )
            assert "transactionLimit" not in started
            await cp.call(
                "TransactionEvent", event("Updated", "t6", 1, "MeterValuePeriodic", wh=1500)
            )
            action = "RequestStopTransaction"
        else:
            await cp.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})
            started = await cp.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "LIM-OLD-TAG", "meterStart": 0, "timestamp": now_iso()},
            )
            await cp.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": started["transactionId"],
                    "meterValue": [{"timestamp": now_iso(), "sampledValue": [{"value": "1500"}]}],
                },
            )
            action = "RemoteStopTransaction"
        assert await wait_until(lambda: any(a == action for a, _ in cp.received))
    tx = await session_of(api, "LIM-OLD")
    assert (tx["limit_reached"], tx["limit_reached_by"]) == ("energy", "volta")
    assert tx["limit_sent"] is None and tx["station_limit"] is None


@pytest.mark.parametrize("volta_settings", [{"limits_in_station": False}])
async def test_E16_limits_in_station_off_keeps_them_in_volta(volta, api):
    """With `limits_in_station` off no transactionLimit is sent and Volta
    enforces the limit itself, as for 2.0.1."""
    await register(volta, "LIM21-7")
    await add_token(volta, "LIM21-OFFSET", limits={"limit_energy_wh": 1000})
    async with station(volta, "LIM21-7", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        started = await cp.call(
            "TransactionEvent",
            event("Started", "t7", 0, "Authorized", wh=0, token="LIM21-OFFSET"),
        )
        assert "transactionLimit" not in started
        await cp.call("TransactionEvent", event("Updated", "t7", 1, "MeterValuePeriodic", wh=1500))
        assert await wait_until(lambda: bool(stops(cp)))
    assert (await session_of(api, "LIM21-7"))["limit_reached_by"] == "volta"


async def test_schema_knows_the_limit_fields():
    """The answer Volta builds validates against the 2.1 response schema."""
    from volta.ocpp.schemas import registry

    registry().validate(
        Version.V21,
        "TransactionEvent",
        {"transactionLimit": {"maxEnergy": 5000.0, "maxTime": 3600, "maxCost": 7.5}},
        response=True,
    )


async def test_a_limit_changed_through_the_api_is_watched_at_its_new_value_2_0_1(volta, api):
    """A 2.0.1 session whose limit is lowered through the API is stopped at
    the new value: the change is not hidden by the session Volta keeps in
    memory (it is read again), and no TriggerMessage goes to a 2.0.1 station."""
    await register(volta, "LIM-CHG")
    await add_token(volta, "LIM-CHG-TAG", limits={"limit_energy_wh": 10_000})
    async with station(volta, "LIM-CHG", "2.0.1") as cp:
        await cp.call("BootNotification", BOOT)
        await cp.call(
            "TransactionEvent",
            event("Started", "t8", 0, "Authorized", wh=0, token="LIM-CHG-TAG"),
        )
        await cp.call("TransactionEvent", event("Updated", "t8", 1, "MeterValuePeriodic", wh=500))
        tx = await session_of(api, "LIM-CHG")
        resp = await api.put(f"/api/v1/transactions/{tx['id']}/limits", json={"energy_wh": 800})
        assert resp.status_code == 200, resp.text
        await cp.call("TransactionEvent", event("Updated", "t8", 2, "MeterValuePeriodic", wh=900))
        assert await wait_until(lambda: bool(stops(cp)))
        assert [a for a, _ in cp.received if a == "TriggerMessage"] == []
    tx = await session_of(api, "LIM-CHG")
    assert (tx["limit_energy_wh"], tx["limit_reached"], tx["limit_reached_by"]) == (
        800,
        "energy",
        "volta",
    )


async def test_E16_the_first_event_volta_sees_carries_the_limit(volta, api):
    """A transaction Volta first hears of through an Updated event (its
    Started was lost): that event's answer carries the limit, as a Started
    one would."""
    await register(volta, "LIM21-9")
    await add_token(volta, "LIM21-LATE", limits={"limit_seconds": 900})
    async with station(volta, "LIM21-9", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        first = await cp.call(
            "TransactionEvent",
            event(
                "Updated",
                "t9",
                3,
                "Authorized",
                wh=200,
                token="LIM21-LATE",
                evse={"id": 1, "connectorId": 1},
            ),
        )
        assert first["transactionLimit"] == {"maxTime": 900}
