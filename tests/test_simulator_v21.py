"""The simulator speaks OCPP 2.1 (issue 16): against a real Volta (SQLite and
PostgreSQL) it boots with ocpp2.1, authorises and charges; it honours a
transactionLimit, prices its sessions locally with a tariff it was sent,
settles a payment-terminal session with NotifySettlement and reports a
discharging profile as export. Against a raw CSMS stub (a websockets server
in this file, since Volta's 2.1 blocks are built beside this work) it
answers every CSMS-initiated 2.1 action, each answer valid against the 2.1
response schema, and streams its power values (OpenPeriodicEventStream,
NotifyPeriodicEventStream SENDs).

Every wait is bounded; checks go through Volta's HTTP API (its frame log
shows what the station sent) or the stub's record of the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.typing import Subprotocol

from tests.helpers import add_token, register, wait_until
from volta.app import Volta
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario, load_scenario
from volta.simulator.station import SimulatedStation

PASSWORD = "sim21-secret-42"
CARD = "SIM21-CARD-1"
TARIFF = {
    "tariffId": "T-DEMO-1",
    "currency": "EUR",
    "energy": {"prices": [{"priceKwh": 0.40}], "taxRates": [{"type": "VAT", "tax": 20.0}]},
    "chargingTime": {"prices": [{"priceMinute": 0.60}]},
    "fixedFee": {"prices": [{"priceFixed": 1.00}]},
}


def scenario(url: str, **overrides: Any) -> Scenario:
    values: dict[str, Any] = {
        "url": url,
        "stations": 1,
        "connectors": 1,
        "protocol": "2.1",
        "password": PASSWORD,
        "id_tokens": [CARD],
        "meter_interval": 0.25,
        "session_seconds": (1.5, 2.0),
        "idle_seconds": (0.05, 0.2),
        "sessions": 1,
        "seed": 21,
        "reconnect_min": 0.1,
        "reconnect_max": 1.0,
        "power_kw": (11.0, 11.0),
    }
    values.update(overrides)
    return Scenario(**values)


@contextlib.asynccontextmanager
async def fleet(sc: Scenario) -> AsyncIterator[list[SimulatedStation]]:
    stations = build_fleet(sc)
    stop = asyncio.Event()
    task = asyncio.create_task(run_fleet(stations, stop))
    try:
        assert await wait_until(lambda: all(s.accepted.is_set() for s in stations), 15)
        yield stations
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def at_volta(volta: Volta, **overrides: Any) -> AsyncIterator[SimulatedStation]:
    sc = scenario(f"ws://127.0.0.1:{volta.ocpp_port}", **overrides)
    for sid in sc.station_ids():
        await register(volta, sid, password=PASSWORD)
    for card in sc.cards():
        await add_token(volta, card)
    async with fleet(sc) as stations:
        yield stations[0]


async def frames(api: httpx.AsyncClient, sid: str, action: str) -> list[dict[str, Any]]:
    """What the station sent Volta for `action`, oldest first (the frame log)."""
    resp = await api.get(
        f"/api/v1/stations/{sid}/messages",
        params={"action": action, "direction": "in", "limit": 500},
    )
    assert resp.status_code == 200, resp.text
    out = []
    for item in reversed(resp.json()["items"]):
        frame = item.get("payload", item.get("frame"))
        if isinstance(frame, str):
            frame = json.loads(frame)
        if isinstance(frame, list):
            frame = frame[3] if len(frame) > 3 else None
        if frame is not None:
            out.append(frame)
    return out


async def ended_events(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return [f for f in await frames(api, sid, "TransactionEvent") if f["eventType"] == "Ended"]


async def command(
    api: httpx.AsyncClient, sid: str, action: str, payload: dict[str, Any]
) -> dict[str, Any]:
    resp = await api.post(f"/api/v1/stations/{sid}/commands/{action}", json=payload)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def exports(event: dict[str, Any]) -> dict[str, float]:
    return {
        sv["measurand"]: sv["value"]
        for mv in event.get("meterValue", [])
        for sv in mv["sampledValue"]
        if sv.get("measurand", "").endswith(("Export", "Export.Register"))
    }


# -- against a real Volta ---------------------------------------------------------------


async def test_a_21_station_boots_authorises_and_charges(volta, api):
    """B01 / C01 / E01-E06 on 2.1: the simulator connects with the ocpp2.1
    subprotocol, Volta records it as a 2.1 station, and a driver's session
    (Authorize, TransactionEvent Started/Updated/Ended) ends with energy."""
    async with at_volta(volta, id_prefix="S21-") as st:
        station = (await api.get(f"/api/v1/stations/{st.id}")).json()
        assert station["protocol"] == "ocpp2.1"
        assert await wait_until(lambda: st.stats.sessions == 1, 15)
        assert await wait_until(lambda: ended_events(api, st.id), 10)
        [auth] = await frames(api, st.id, "Authorize")
        assert auth["idToken"] == {"idToken": CARD, "type": "ISO14443"}
        resp = await api.get("/api/v1/transactions", params={"station_id": st.id})
        [tx] = resp.json()
        assert tx["status"] == "Ended" and tx["id_token"] == CARD
        assert st.stats.errors == 0


async def test_a_transaction_limit_is_honoured_by_the_station(volta, api):
    """2.1 transactionLimit: Volta's TransactionEventResponse carries a
    maxEnergy limit (the amender below stands in for the limits block, which
    does this on its own branch); the station confirms it (triggerReason
    LimitSet, transactionInfo.transactionLimit) and stops itself when the
    energy is reached: triggerReason EnergyLimitReached, stoppedReason
    EnergyLimitReached - well before its 60 s session would have ended."""

    async def limit(ctx: Any, request: dict[str, Any], response: dict[str, Any]) -> None:
        if request["eventType"] == "Started":
            response["transactionLimit"] = {"maxEnergy": 5.0}

    volta.services.handlers.amend(Version.V21, "TransactionEvent")(limit)
    async with at_volta(volta, id_prefix="LIM-", session_seconds=(60.0, 60.0)) as st:
        assert await wait_until(lambda: ended_events(api, st.id), 20)
        events = await frames(api, st.id, "TransactionEvent")
        set_ = [e for e in events if e["triggerReason"] == "LimitSet"]
        assert set_ and set_[0]["transactionInfo"]["transactionLimit"] == {"maxEnergy": 5.0}
        [end] = await ended_events(api, st.id)
        assert end["triggerReason"] == "EnergyLimitReached"
        assert end["transactionInfo"]["stoppedReason"] == "EnergyLimitReached"
        assert end["transactionInfo"]["transactionLimit"] == {"maxEnergy": 5.0}


async def test_a_default_tariff_prices_the_session_locally(volta, api):
    """I07 local cost: a tariff sent with SetDefaultTariff (through
    Volta's command API) prices the session at the station: the running cost
    in Updated events (triggerReason RunningCost) and the final cost in the
    Ended event's costDetails, fixed fee + energy + charging time, with VAT
    on the energy."""
    async with at_volta(volta, id_prefix="COST-", id_tokens=[]) as st:
        sent = await command(api, st.id, "SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})
        assert sent["response"] == {"status": "Accepted"}
        got = await command(api, st.id, "GetTariffs", {"evseId": 1})
        assert got["response"]["tariffAssignments"] == [
            {"tariffId": "T-DEMO-1", "tariffKind": "DefaultTariff"}
        ]
        await add_token(volta, CARD)
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 7}
        await command(api, st.id, "RequestStartTransaction", start | {"evseId": 1})
        assert await wait_until(lambda: st.connectors[0].transaction_id is not None, 10)

        async def running_cost() -> bool:
            events = await frames(api, st.id, "TransactionEvent")
            return any(e["triggerReason"] == "RunningCost" and e.get("costDetails") for e in events)

        assert await wait_until(running_cost, 10)
        tx = st.connectors[0].transaction_id
        await command(api, st.id, "RequestStopTransaction", {"transactionId": tx})
        assert await wait_until(lambda: ended_events(api, st.id), 10)
        [end] = await ended_events(api, st.id)
        details = end["costDetails"]
        cost = details["totalCost"]
        assert cost["currency"] == "EUR" and cost["fixed"] == {"exclTax": 1.0, "inclTax": 1.0}
        energy_kwh = details["totalUsage"]["energy"] / 1000.0
        assert energy_kwh > 0
        assert cost["energy"]["exclTax"] == pytest.approx(energy_kwh * 0.40, abs=0.011)
        assert cost["energy"]["inclTax"] == pytest.approx(energy_kwh * 0.48, abs=0.011)
        parts = sum(cost[k]["exclTax"] for k in ("fixed", "energy", "chargingTime"))
        assert cost["total"]["exclTax"] == pytest.approx(parts, abs=0.011)
        assert end["transactionInfo"]["tariffId"] == "T-DEMO-1"


async def test_a_payment_terminal_session_is_settled(volta, api):
    """C18 (2.1 ad hoc payment at a payment terminal): the driver pays by
    card; the transaction starts with the PSP reference as idToken, type
    DirectPayment, without Authorize; once it ends the station sends
    NotifySettlement with the amount (the local cost of its tariff)."""
    # The driver comes once the tariff is set (idle 5 s), and pays by card.
    async with at_volta(
        volta, id_prefix="PAY-", payment_terminal=True, idle_seconds=(5.0, 5.0)
    ) as st:
        await command(api, st.id, "SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})
        assert await wait_until(lambda: frames(api, st.id, "NotifySettlement"), 20)
        [started] = [
            e for e in await frames(api, st.id, "TransactionEvent") if e["eventType"] == "Started"
        ]
        token = started["idToken"]
        assert token["type"] == "DirectPayment" and token["idToken"].startswith("PSP-")
        assert await frames(api, st.id, "Authorize") == []
        [settlement] = await frames(api, st.id, "NotifySettlement")
        [end] = await ended_events(api, st.id)
        assert settlement["pspRef"] == token["idToken"]
        assert settlement["status"] == "Settled"
        assert settlement["transactionId"] == end["transactionInfo"]["transactionId"]
        total = end["costDetails"]["totalCost"]["total"]["inclTax"]
        assert settlement["settlementAmount"] == pytest.approx(total) and total >= 1.0


async def test_a_discharging_profile_is_reported_as_export(volta, api):
    """V2X on 2.1: a TxDefaultProfile whose period is CentralSetpoint with a
    negative setpoint (sent through Volta's command API) makes the V2X car
    feed back; the meter values report Power.Active.Export (what the setpoint
    asks) and a rising Energy.Active.Export.Register; the car told its V2X
    needs (NotifyEVChargingNeeds with v2xChargingParameters)."""
    profile = {
        "id": 21,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": [
            {
                "id": 1,
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -3000.0}
                ],
            }
        ],
    }
    # The driver comes 5 s after the station connects and stays 8 s: the
    # profile takes effect whenever it arrives in those 13 s (under load the
    # command took longer than 2 s to arrive, and once longer than 9 s).
    async with at_volta(
        volta, id_prefix="V2X-", v2x=True, idle_seconds=(5.0, 5.0), session_seconds=(8.0, 8.0)
    ) as st:
        sent = await command(
            api, st.id, "SetChargingProfile", {"evseId": 0, "chargingProfile": profile}
        )
        assert sent["response"]["status"] == "Accepted", sent
        assert await wait_until(lambda: ended_events(api, st.id), 30)
        events = await frames(api, st.id, "TransactionEvent")
        updated = [exports(e) for e in events if e["eventType"] == "Updated"]
        assert any(x.get("Power.Active.Export") == 3000.0 for x in updated), updated
        [end] = await ended_events(api, st.id)
        assert exports(end)["Energy.Active.Export.Register"] > 0
        needs = await frames(api, st.id, "NotifyEVChargingNeeds")
        assert needs and needs[0]["chargingNeeds"]["v2xChargingParameters"]["maxDischargePower"]


# -- against a raw CSMS stub: 2.1's own commands ----------------------------------------------


@dataclass
class Stub:
    """A CSMS on a websockets server: answers what the station sends (and
    checks it against the 2.1 request schemas), sends CALLs and checks the
    answers against the 2.1 response schemas."""

    answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = field(default_factory=dict)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sends: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    ws: ServerConnection | None = None
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    ids: Any = field(default_factory=lambda: itertools.count(1))
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def answer(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        if action in self.answers:
            return self.answers[action](payload)
        now = "2026-01-01T00:00:00Z"
        return {
            "BootNotification": {"currentTime": now, "interval": 300, "status": "Accepted"},
            "Heartbeat": {"currentTime": now},
            "Authorize": {"idTokenInfo": {"status": "Accepted"}},
            "NotifyEVChargingNeeds": {"status": "Accepted"},
            "OpenPeriodicEventStream": {"status": "Accepted"},
        }.get(action, {})

    async def serve(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.connected.set()
        async for text in ws:
            msg = json.loads(text)
            if msg[0] == 2:
                _, mid, action, payload = msg
                registry().validate(Version.V21, action, payload)
                self.received.append((action, payload))
                result = self.answer(action, payload)
                registry().validate(Version.V21, action, result, response=True)
                await ws.send(json.dumps([3, mid, result]))
            elif msg[0] == 6:
                _, mid, action, payload = msg
                registry().validate(Version.V21, action, payload)
                self.sends.append((action, payload))
            elif msg[0] in (3, 4) and msg[1] in self.pending:
                self.pending.pop(msg[1]).set_result({"frame": msg})

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL; the station's CALLRESULT, valid for 2.1."""
        registry().validate(Version.V21, action, payload)
        assert self.ws is not None
        mid = f"stub-{next(self.ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[mid] = fut
        await self.ws.send(json.dumps([2, mid, action, payload]))
        frame = (await asyncio.wait_for(fut, 10))["frame"]
        assert frame[0] == 3, frame
        registry().validate(Version.V21, action, frame[2], response=True)
        return dict(frame[2])

    def of(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.received if a == action]


@contextlib.asynccontextmanager
async def stubbed(**overrides: Any) -> AsyncIterator[tuple[Stub, SimulatedStation]]:
    stub = Stub()
    async with websockets.serve(
        stub.serve, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp2.1")]
    ) as server:
        port = server.sockets[0].getsockname()[1]
        sc = scenario(f"ws://127.0.0.1:{port}", password="", id_prefix="STUB-", **overrides)
        async with fleet(sc) as stations:
            assert await wait_until(lambda: stub.connected.is_set(), 10)
            yield stub, stations[0]


async def started(stub: Stub, st: SimulatedStation) -> str:
    assert await wait_until(lambda: st.connectors[0].transaction_id is not None, 10)
    return str(st.connectors[0].transaction_id)


async def test_the_station_boots_with_ocpp21_and_its_messages_validate():
    """OCPP-J 2.1: the subprotocol is ocpp2.1; every message the station
    sends validates against the 2.1 request schemas (checked by the stub)."""
    async with stubbed(session_seconds=(1.0, 1.0)) as (stub, st):
        assert stub.ws is not None and stub.ws.subprotocol == "ocpp2.1"
        assert await wait_until(lambda: st.stats.sessions == 1, 10)
        kinds = [p["eventType"] for p in stub.of("TransactionEvent")]
        assert kinds[0] == "Started" and kinds[-1] == "Ended"


async def test_tariff_commands_are_answered_as_the_spec_says():
    """I07 SetDefaultTariff, I10 GetTariffs, I11 ClearTariffs, I12
    ChangeTransactionTariff (TxNotFound, NoCurrencyChange, Accepted then a
    TariffChanged event): answers valid for 2.1."""
    async with stubbed(id_tokens=[], session_seconds=(30.0, 30.0)) as (stub, st):
        assert await stub.call("GetTariffs", {"evseId": 0}) == {"status": "NoTariff"}
        assert (await stub.call("SetDefaultTariff", {"evseId": 9, "tariff": TARIFF}))[
            "status"
        ] == "Rejected"
        conditional = TARIFF | {
            "energy": {"prices": [{"priceKwh": 0.3, "conditions": {"startTimeOfDay": "22:00"}}]}
        }
        assert (await stub.call("SetDefaultTariff", {"evseId": 1, "tariff": conditional}))[
            "status"
        ] == "ConditionNotSupported"
        assert await stub.call("SetDefaultTariff", {"evseId": 1, "tariff": TARIFF}) == {
            "status": "Accepted"
        }
        got = await stub.call("GetTariffs", {"evseId": 0})
        assert got["tariffAssignments"] == [
            {"tariffId": "T-DEMO-1", "tariffKind": "DefaultTariff", "evseIds": [1]}
        ]
        change = {"transactionId": "nope", "tariff": TARIFF}
        assert (await stub.call("ChangeTransactionTariff", change))["status"] == "TxNotFound"
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 1}
        assert (await stub.call("RequestStartTransaction", start | {"evseId": 1}))[
            "status"
        ] == "Accepted"
        tx = await started(stub, st)
        usd = TARIFF | {"tariffId": "T-USD", "currency": "USD"}
        assert (await stub.call("ChangeTransactionTariff", {"transactionId": tx, "tariff": usd}))[
            "status"
        ] == "NoCurrencyChange"
        cheaper = TARIFF | {"tariffId": "T-NIGHT", "energy": {"prices": [{"priceKwh": 0.1}]}}
        assert await stub.call(
            "ChangeTransactionTariff", {"transactionId": tx, "tariff": cheaper}
        ) == {"status": "Accepted"}
        assert await wait_until(
            lambda: any(p["triggerReason"] == "TariffChanged" for p in stub.of("TransactionEvent")),
            5,
        )
        changed = [p for p in stub.of("TransactionEvent") if p["triggerReason"] == "TariffChanged"]
        assert changed[0]["transactionInfo"]["tariffId"] == "T-NIGHT"
        cleared = await stub.call("ClearTariffs", {"tariffIds": ["T-DEMO-1", "T-OTHER"]})
        assert cleared["clearTariffsResult"] == [
            {"tariffId": "T-DEMO-1", "status": "Accepted"},
            {"tariffId": "T-OTHER", "status": "NoTariff"},
        ]


async def test_a_limit_held_stops_the_session_while_the_csms_is_silent():
    """2.1: the limit is the station's to enforce: after the Started
    answer carried maxTime 1 s, the CSMS answers nothing new and the station
    stops on its own (TimeLimitReached / TimeLimitReached)."""
    async with stubbed(session_seconds=(30.0, 30.0)) as (stub, _st):
        stub.answers["TransactionEvent"] = lambda p: (
            {"transactionLimit": {"maxTime": 1}} if p["eventType"] == "Started" else {}
        )
        assert await wait_until(
            lambda: any(p["eventType"] == "Ended" for p in stub.of("TransactionEvent")), 10
        )
        [end] = [p for p in stub.of("TransactionEvent") if p["eventType"] == "Ended"]
        assert (end["triggerReason"], end["transactionInfo"]["stoppedReason"]) == (
            "TimeLimitReached",
            "TimeLimitReached",
        )


async def test_a_cost_limit_stops_the_session():
    """2.1 maxCost with local cost: the station stops when its own cost
    reaches the limit (CostLimitReached; stoppedReason LocalOutOfCredit, as
    ReasonEnumType has no cost reason)."""
    async with stubbed(session_seconds=(30.0, 30.0), id_tokens=[]) as (stub, _st):
        await stub.call("SetDefaultTariff", {"evseId": 0, "tariff": TARIFF})
        stub.answers["TransactionEvent"] = lambda p: (
            {"transactionLimit": {"maxCost": 1.05}} if p["eventType"] == "Started" else {}
        )
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 2}
        await stub.call("RequestStartTransaction", start | {"evseId": 1})
        assert await wait_until(
            lambda: any(p["eventType"] == "Ended" for p in stub.of("TransactionEvent")), 20
        )
        [end] = [p for p in stub.of("TransactionEvent") if p["eventType"] == "Ended"]
        assert end["triggerReason"] == "CostLimitReached"
        assert end["transactionInfo"]["stoppedReason"] == "LocalOutOfCredit"
        assert end["costDetails"]["totalCost"]["total"]["inclTax"] >= 1.05


async def test_der_and_v2x_commands_are_answered_as_the_spec_says():
    """SetDERControl (superseding one of its type), GetDERControl then
    ReportDERControl, ClearDERControl; UpdateDynamicSchedule, AFRRSignal,
    NotifyAllowedEnergyTransfer: answers valid for 2.1."""
    async with stubbed(v2x=True, id_tokens=[], session_seconds=(30.0, 30.0)) as (stub, st):
        volt_var = {
            "priority": 1,
            "yUnit": "PctMaxVar",
            "curveData": [{"x": 90.0, "y": 30.0}, {"x": 110.0, "y": -30.0}],
        }
        base = {"isDefault": True, "controlType": "VoltVar", "curve": volt_var}
        assert await stub.call("SetDERControl", base | {"controlId": "vv-1"}) == {
            "status": "Accepted"
        }
        second = await stub.call("SetDERControl", base | {"controlId": "vv-2"})
        assert second == {"status": "Accepted", "supersededIds": ["vv-1"]}
        missing = {"isDefault": False, "controlType": "FixedVar", "controlId": "fv"}
        assert (await stub.call("SetDERControl", missing))["status"] == "Rejected"
        got = await stub.call("GetDERControl", {"requestId": 5, "controlType": "VoltVar"})
        assert got == {"status": "Accepted"}
        assert await wait_until(lambda: stub.of("ReportDERControl"), 5)
        [report] = stub.of("ReportDERControl")
        assert report["requestId"] == 5
        assert {c["id"]: c["isSuperseded"] for c in report["curve"]} == {
            "vv-1": True,
            "vv-2": False,
        }
        assert (await stub.call("GetDERControl", {"requestId": 6, "controlId": "x"}))[
            "status"
        ] == "NotFound"
        assert await stub.call("ClearDERControl", {"isDefault": True, "controlId": "vv-1"}) == {
            "status": "Accepted"
        }
        assert (await stub.call("ClearDERControl", {"isDefault": True, "controlId": "vv-1"}))[
            "status"
        ] == "NotFound"
        dynamic = {
            "id": 30,
            "stackLevel": 2,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Dynamic",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": 5000.0}
                    ],
                }
            ],
        }
        assert (await stub.call("SetChargingProfile", {"evseId": 1, "chargingProfile": dynamic}))[
            "status"
        ] == "Accepted"
        update = {"chargingProfileId": 30, "scheduleUpdate": {"setpoint": -2000.0}}
        assert await stub.call("UpdateDynamicSchedule", update) == {"status": "Accepted"}
        unknown = {"chargingProfileId": 99, "scheduleUpdate": {"setpoint": 1.0}}
        assert (await stub.call("UpdateDynamicSchedule", unknown))["status"] == "Rejected"
        afrr = {"timestamp": "2026-01-01T00:00:00Z", "signal": -1}
        assert await stub.call("AFRRSignal", afrr) == {"status": "Accepted"}
        allowed = {"transactionId": "none", "allowedEnergyTransfer": ["AC_BPT"]}
        assert (await stub.call("NotifyAllowedEnergyTransfer", allowed))["status"] == "Rejected"
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 3}
        await stub.call("RequestStartTransaction", start | {"evseId": 1})
        tx = await started(stub, st)
        allowed["transactionId"] = tx
        assert await stub.call("NotifyAllowedEnergyTransfer", allowed) == {"status": "Accepted"}
        # The dynamic profile now asks 2 kW back: the meter values show export.
        assert await wait_until(
            lambda: any(
                exports(p).get("Power.Active.Export") == 2000.0 for p in stub.of("TransactionEvent")
            ),
            5,
        )
        [needs] = stub.of("NotifyEVChargingNeeds")
        assert needs["chargingNeeds"]["requestedEnergyTransfer"] == "AC_BPT"


async def test_a_station_without_v2x_refuses_der_and_discharging():
    """A station whose cars cannot feed back: DER control NotSupported, a
    discharging profile Rejected, AFRR Rejected."""
    async with stubbed(id_tokens=[]) as (stub, _st):
        control = {
            "isDefault": False,
            "controlId": "lm",
            "controlType": "LimitMaxDischarge",
            "limitMaxDischarge": {"priority": 1, "pctMaxDischargePower": 50.0},
        }
        assert (await stub.call("SetDERControl", control))["status"] == "NotSupported"
        profile = {
            "id": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": [
                {
                    "id": 1,
                    "startSchedule": "2026-01-01T00:00:00Z",
                    "chargingRateUnit": "W",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "operationMode": "CentralSetpoint", "setpoint": -1.0}
                    ],
                }
            ],
        }
        answer = await stub.call("SetChargingProfile", {"evseId": 0, "chargingProfile": profile})
        assert answer["status"] == "Rejected"
        afrr = {"timestamp": "2026-01-01T00:00:00Z", "signal": 1}
        assert (await stub.call("AFRRSignal", afrr))["status"] == "Rejected"


async def test_priority_battery_swap_and_web_payment_are_answered():
    """UsePriorityCharging (NoProfile without a PriorityCharging profile,
    Accepted with one), RequestBatterySwap (Rejected: no battery to swap),
    NotifyWebPaymentStarted (an empty answer)."""
    async with stubbed(id_tokens=[], session_seconds=(30.0, 30.0)) as (stub, st):
        assert await stub.call("NotifyWebPaymentStarted", {"evseId": 1, "timeout": 60}) == {}
        swap = {"requestId": 1, "idToken": {"idToken": CARD, "type": "ISO14443"}}
        assert (await stub.call("RequestBatterySwap", swap))["status"] == "Rejected"
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 4}
        await stub.call("RequestStartTransaction", start | {"evseId": 1})
        tx = await started(stub, st)
        use = {"transactionId": tx, "activate": True}
        assert await stub.call("UsePriorityCharging", use) == {"status": "NoProfile"}
        priority = {
            "id": 40,
            "stackLevel": 0,
            "chargingProfilePurpose": "PriorityCharging",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}],
                }
            ],
        }
        assert (await stub.call("SetChargingProfile", {"evseId": 1, "chargingProfile": priority}))[
            "status"
        ] == "Accepted"
        assert await stub.call("UsePriorityCharging", use) == {"status": "Accepted"}
        gone = {"transactionId": "gone", "activate": True}
        assert (await stub.call("UsePriorityCharging", gone))["status"] == "Rejected"


async def test_a_periodic_monitor_streams_power_values():
    """2.1 periodic event streams: a Periodic monitor on EVSE Power set with
    periodicEventStream opens a stream (OpenPeriodicEventStream); its values
    go out as NotifyPeriodicEventStream SENDs of at most `values` points;
    GetPeriodicEventStream lists it, AdjustPeriodicEventStream changes it,
    clearing the monitor closes it (ClosePeriodicEventStream)."""
    async with stubbed(id_tokens=[]) as (stub, _st):
        assert await stub.call("GetPeriodicEventStream", {}) == {}
        monitor = {
            "value": 1,
            "type": "Periodic",
            "severity": 8,
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "periodicEventStream": {"interval": 2, "values": 2},
        }
        set_ = await stub.call("SetVariableMonitoring", {"setMonitoringData": [monitor]})
        [result] = set_["setMonitoringResult"]
        assert result["status"] == "Accepted"
        assert await wait_until(lambda: stub.of("OpenPeriodicEventStream"), 5)
        [opened] = stub.of("OpenPeriodicEventStream")
        data = opened["constantStreamData"]
        assert data["variableMonitoringId"] == result["id"]
        assert data["params"] == {"interval": 2, "values": 2}
        assert await wait_until(lambda: len(stub.sends) >= 2, 8)
        for action, payload in stub.sends:
            assert action == "NotifyPeriodicEventStream" and payload["id"] == data["id"]
            assert 1 <= len(payload["data"]) <= 2
            assert all(float(p["v"]) == 0.0 for p in payload["data"])  # no car: 0 W
        listed = await stub.call("GetPeriodicEventStream", {})
        assert listed["constantStreamData"] == [data]
        adjust = {"id": data["id"], "params": {"interval": 5, "values": 3}}
        assert await stub.call("AdjustPeriodicEventStream", adjust) == {"status": "Accepted"}
        unknown = {"id": 999, "params": {"interval": 5}}
        assert (await stub.call("AdjustPeriodicEventStream", unknown))["status"] == "Rejected"
        await stub.call("ClearVariableMonitoring", {"id": [result["id"]]})
        assert await wait_until(lambda: stub.of("ClosePeriodicEventStream"), 5)
        assert await stub.call("GetPeriodicEventStream", {}) == {}


async def test_2_0_1_commands_are_answered_on_2_1_schemas():
    """The 2.0.1 behaviour on 2.1's schemas: device model, reports, smart
    charging, reservations, triggers and central cost, each answer (and
    each follow-up message) valid for 2.1."""
    async with stubbed(id_tokens=[], session_seconds=(30.0, 30.0)) as (stub, st):
        variable = {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
        }
        got = await stub.call("GetVariables", {"getVariableData": [variable]})
        assert got["getVariableResult"][0]["attributeStatus"] == "Accepted"
        assert (await stub.call("GetBaseReport", {"requestId": 1, "reportBase": "FullInventory"}))[
            "status"
        ] == "Accepted"
        assert await wait_until(lambda: stub.of("NotifyReport"), 5)
        assert (await stub.call("GetCompositeSchedule", {"evseId": 1, "duration": 60}))[
            "status"
        ] == "Accepted"
        profile = {
            "id": 8,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
                }
            ],
        }
        await stub.call("SetChargingProfile", {"evseId": 1, "chargingProfile": profile})
        request = {
            "requestId": 2,
            "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"},
        }
        assert (await stub.call("GetChargingProfiles", request))["status"] == "Accepted"
        assert await wait_until(lambda: stub.of("ReportChargingProfiles"), 5)
        trigger = {"requestedMessage": "StatusNotification", "evse": {"id": 1}}
        assert (await stub.call("TriggerMessage", trigger))["status"] == "Accepted"
        reserve = {
            "id": 3,
            "expiryDateTime": "2099-01-01T00:00:00Z",
            "idToken": {"idToken": CARD, "type": "ISO14443"},
            "evseId": 1,
        }
        assert (await stub.call("ReserveNow", reserve))["status"] == "Accepted"
        assert (await stub.call("CancelReservation", {"reservationId": 3}))["status"] == "Accepted"
        start = {"idToken": {"idToken": CARD, "type": "ISO14443"}, "remoteStartId": 9}
        await stub.call("RequestStartTransaction", start | {"evseId": 1})
        tx = await started(stub, st)
        assert await stub.call("CostUpdated", {"totalCost": 1.25, "transactionId": tx}) == {}
        status = await stub.call("GetTransactionStatus", {"transactionId": tx})
        assert status == {"messagesInQueue": False, "ongoingIndicator": True}
        assert (await stub.call("RequestStopTransaction", {"transactionId": tx}))[
            "status"
        ] == "Accepted"


async def test_every_csms_initiated_21_action_has_an_answer():
    """Every CSMS-initiated 2.1 action has an answer in the 2.1 station's
    table (none left to NotSupported)."""
    from volta.ocpp.actions import CSMS_INITIATED
    from volta.simulator import v21

    missing = set(CSMS_INITIATED[Version.V21]) - set(v21.table.answers)
    # 2.0.1's own gaps stay gaps (the 2.0.1 station does not answer them either).
    from volta.simulator import v201

    assert missing <= set(CSMS_INITIATED[Version.V201]) - set(v201.table.answers)


def test_scenarios_name_21_and_mixed_takes_turns(tmp_path):
    """`volta simulate --protocol 2.1` and scenario files: 2.1 is a protocol;
    mixed takes turns 1.6, 2.0.1, 2.1."""
    path = tmp_path / "sc.toml"
    path.write_text('[simulate]\nprotocol = "2.1"\npayment_terminal = true\nv2x = true\n')
    sc = load_scenario(str(path))
    assert (sc.protocol_of(0), sc.payment_terminal, sc.v2x) == ("ocpp2.1", True, True)
    mixed = Scenario(stations=4)
    assert [mixed.protocol_of(i) for i in range(4)] == [
        "ocpp1.6",
        "ocpp2.0.1",
        "ocpp2.1",
        "ocpp1.6",
    ]
    with pytest.raises(ValueError, match=r"2\.1"):
        load_scenario(None, protocol="3.0")


def test_volta_simulate_takes_protocol_21_and_the_21_options():
    """`volta simulate --protocol 2.1 --payment-terminal --v2x` parses; left
    out, the options keep the scenario file's values (None)."""
    from volta.cli import build_parser

    args = build_parser().parse_args(
        ["simulate", "--protocol", "2.1", "--payment-terminal", "--v2x"]
    )
    assert (args.protocol, args.payment_terminal, args.v2x) == ("2.1", True, True)
    plain = build_parser().parse_args(["simulate"])
    assert (plain.payment_terminal, plain.v2x) == (None, None)


async def test_the_demo_has_a_21_station_beside_16_and_201(volta, api):
    """`make run` (volta serve --demo 3): DEMO-001 speaks 1.6 and DEMO-002
    2.0.1 as before; DEMO-003 speaks 2.1 (with a payment terminal and V2X
    cars: what those do is tested above)."""
    from volta.app import run_demo

    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(volta, 3, stop))
    try:

        async def protocols() -> list[str | None]:
            out = []
            for sid in ("DEMO-001", "DEMO-002", "DEMO-003"):
                resp = await api.get(f"/api/v1/stations/{sid}")
                out.append(resp.json().get("protocol") if resp.status_code == 200 else None)
            return out

        async def all_online() -> bool:
            return None not in await protocols()

        assert await wait_until(all_online, 20)
        assert await protocols() == ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]
        # A default tariff prices the demo's sessions (and what the 2.1
        # station's payment terminal settles).
        tariffs = (await api.get("/api/v1/tariffs")).json()
        assert [(t["name"], t["is_default"]) for t in tariffs] == [("Demo tariff", True)]
    finally:
        stop.set()
        await asyncio.wait_for(demo, 20)
