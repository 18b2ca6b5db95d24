"""The live event stream (Server-Sent Events, with Last-Event-ID replay),
2.0.1 events from chargingState, and session limits by energy and time
stopping the session at the right point."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.conftest import API_TOKEN
from tests.helpers import add_token, now_iso, register, station, wait_until
from tests.identification.test_app_starts import simulated
from tests.identification.test_start_checks import event201


@pytest.fixture
def volta_settings():
    return {"housekeeping_interval": 0.2}


async def read_sse(volta, params: dict[str, Any], count: int, headers: dict | None = None):
    """Open the stream, read `count` events (bounded), close it."""
    got: list[dict[str, Any]] = []
    async with (
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{volta.api_port}",
            headers={"Authorization": f"Bearer {API_TOKEN}", **(headers or {})},
            timeout=10,
        ) as client,
        client.stream("GET", "/api/v1/events/stream", params=params) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}

        async def consume() -> None:
            async for line in resp.aiter_lines():
                if line == "":
                    if "data" in fields:
                        got.append(
                            {
                                "id": int(fields["id"]),
                                "event": fields["event"],
                                "data": orjson.loads(fields["data"]),
                            }
                        )
                        if len(got) >= count:
                            return
                    fields.clear()
                elif not line.startswith(":") and ":" in line:
                    key, value = line.split(":", 1)
                    fields[key] = value.strip()

        await asyncio.wait_for(consume(), 10)
    return got


async def test_stream_live_and_replay(volta, api):
    await register(volta, "SSE-1")
    reader = asyncio.create_task(read_sse(volta, {"station_id": "SSE-1"}, 2))
    await asyncio.sleep(0.5)  # the stream is open and starts from now
    async with station(volta, "SSE-1") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
    live = await reader
    assert [e["event"] for e in live] == ["station.online", "station.offline"]
    assert live[0]["data"]["data"]["protocol"] == "ocpp1.6"

    # A client that reconnects with Last-Event-ID gets only what followed.
    async with station(volta, "SSE-1") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
    replay = await read_sse(
        volta, {"station_id": "SSE-1"}, 2, headers={"Last-Event-ID": str(live[-1]["id"])}
    )
    assert [e["event"] for e in replay] == ["station.online", "station.offline"]
    assert replay[0]["id"] > live[-1]["id"]
    listed = (await api.get("/api/v1/events", params={"station_id": "SSE-1"})).json()
    assert [e["id"] for e in listed] == [e["id"] for e in live + replay]
    only = (await api.get("/api/v1/events", params={"type": "station.offline"})).json()
    assert {e["type"] for e in only} == {"station.offline"}
    assert (await api.get("/api/v1/events", params={"type": "nope"})).status_code == 422


async def test_charging_state_events_v201(volta, api):
    await register(volta, "EV-201")
    await add_token(volta, "EV-CARD")
    async with station(volta, "EV-201", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
        )
        await cp.call(
            event201(
                "Started",
                "T-E",
                0,
                None,
                info={"charging_state": "EVConnected"},
                trigger_reason="CablePluggedIn",
            )
        )
        await cp.call(event201("Updated", "T-E", 1, "EV-CARD", trigger_reason="Authorized"))
        soc = [
            {
                "timestamp": now_iso(),
                "sampled_value": [
                    {"value": 91.0, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}}
                ],
            }
        ]
        await cp.call(
            event201(
                "Updated",
                "T-E",
                2,
                None,
                info={"charging_state": "Charging"},
                meter_value=soc,
                trigger_reason="ChargingStateChanged",
            )
        )
        await cp.call(
            event201(
                "Updated",
                "T-E",
                3,
                None,
                info={"charging_state": "SuspendedEV"},
                trigger_reason="ChargingStateChanged",
            )
        )
        await cp.call(
            event201(
                "Ended",
                "T-E",
                4,
                None,
                info={"charging_state": "Idle", "stopped_reason": "EVDisconnected"},
                trigger_reason="EVCommunicationLost",
            )
        )

    async def event_types() -> list[str]:
        r = await api.get("/api/v1/events", params={"station_id": "EV-201"})
        return [e["type"] for e in r.json()]

    # The disconnection is recorded once the server has seen the close.
    async def offline() -> bool:
        return "station.offline" in await event_types()

    assert await wait_until(offline)
    types = await event_types()
    assert types == [
        "station.online",
        "ev.connected",
        "session.started",
        "charging.started",
        "soc.reached",
        "soc.reached",
        "charging.suspended_ev",
        "session.ended",
        "station.offline",
    ]
    tx = (await api.get("/api/v1/transactions", params={"station_id": "EV-201"})).json()[0]
    assert tx["soc_percent"] == 91.0


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_energy_limit_stops_the_session(volta, api, version):
    """A session started from the app with a 150 Wh limit is stopped by Volta
    once the meter values reach it; the reason is recorded. (A 150 kW car
    charges ~8 Wh per 0.2 s meter value: the limit comes in ~4 s.)"""
    await add_token(volta, "LIM-CARD", token_type="Central")
    # (rated 250 A per phase, as a DC charger, so that the car takes 150 kW)
    async with simulated(volta, version, power_kw=(150.0, 150.0), max_current=250.0) as st:
        start = (
            await api.post(
                "/api/v1/remote-starts",
                json={
                    "station_id": st.id,
                    "id_token": "LIM-CARD",
                    "evse_id": 1,
                    "limits": {"energy_wh": 150},
                },
            )
        ).json()

        async def ended() -> dict[str, Any] | None:
            got = (await api.get(f"/api/v1/remote-starts/{start['id']}")).json()
            if got["transaction_id"] is None:
                return None
            tx = (await api.get(f"/api/v1/transactions/{got['transaction_id']}")).json()
            return tx if tx["status"] == "Ended" else None

        assert await wait_until(ended, timeout=20, interval=0.2)
        tx = await ended()
        assert tx is not None
        assert (tx["limit_energy_wh"], tx["limit_reached"]) == (150, "energy")
        assert tx["energy_wh"] >= 150
        assert tx["stop_reason"] == "Remote"
        types = [
            e["type"]
            for e in (
                await api.get("/api/v1/events", params={"station_id": st.id, "limit": 1000})
            ).json()
            if e["data"].get("transaction_id") == tx["id"]
        ]
        assert types.count("limit.reached") == 1
        assert types[-1] == "session.ended"


async def test_time_limit_without_meter_values_v16(volta, api):
    """A token with a 1 s limit: the charger sends no meter values, Volta
    stops the session all the same (RemoteStopTransaction) and asks once."""
    await register(volta, "LIM-T")
    resp = await api.post("/api/v1/id-tokens", json={"token": "LIM-TIME", "limits": {"seconds": 1}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["limit_seconds"] == 1
    async with station(volta, "LIM-T") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="LIM-TIME", meter_start=0, timestamp=now_iso()
            )
        )
        assert await wait_until(
            lambda: any(a == "RemoteStopTransaction" for a, _ in cp.received), timeout=5
        )
        stops = [kw for a, kw in cp.received if a == "RemoteStopTransaction"]
        assert stops == [{"transaction_id": started.transaction_id}]

        async def stop_recorded() -> dict[str, Any] | None:
            tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
            return tx if tx["stop_requested_at"] is not None else None

        # Recorded once the station has answered the stop.
        assert await wait_until(stop_recorded)
        tx = await stop_recorded()
        assert tx is not None
        assert tx["limit_reached"] == "time"
        await asyncio.sleep(0.6)  # housekeeping runs again: no second stop yet
        assert [a for a, _ in cp.received].count("RemoteStopTransaction") == 1


async def test_set_limits_api(volta, api):
    await register(volta, "LIM-API")
    await add_token(volta, "LIM-A")
    async with station(volta, "LIM-API") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="LIM-A", meter_start=0, timestamp=now_iso()
            )
        )
        url = f"/api/v1/transactions/{started.transaction_id}/limits"
        resp = await api.put(url, json={"energy_wh": 1000, "cost": "12.50"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["limit_energy_wh"], body["limit_cost"], body["limit_seconds"]) == (
            1000,
            "12.50",
            None,
        )
        assert (await api.put(url, json={"energy_wh": -5})).status_code == 422
        assert (await api.put("/api/v1/transactions/999999/limits", json={})).status_code == 404
        await cp.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=10, timestamp=now_iso()
            )
        )
        assert (await api.put(url, json={"seconds": 60})).status_code == 409


async def test_cost_limit_stops_the_session_v16(volta, api):
    """A 2.00 EUR limit under a tariff of 1.00 per session + 0.30/kWh + 19 %
    tax: 5 kWh make 2.98 EUR, so Volta stops the session (housekeeping works
    out the running cost) and records the cost it saw."""
    from tests.tariffs.tariffs import CITY

    tariff = {**CITY, "periods": [], "timezone": "UTC", "is_default": True}
    assert (await api.post("/api/v1/tariffs", json=tariff)).status_code == 201
    await register(volta, "LIM-C")
    await add_token(volta, "LIM-COST")
    async with station(volta, "LIM-C") as cp:
        await cp.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="LIM-COST", meter_start=0, timestamp=now_iso(-60)
            )
        )
        url = f"/api/v1/transactions/{started.transaction_id}"
        assert (await api.put(f"{url}/limits", json={"cost": "2.00"})).status_code == 200
        await asyncio.sleep(0.6)  # under the limit: 1.19 EUR so far
        assert not any(a == "RemoteStopTransaction" for a, _ in cp.received)
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": now_iso(),
                        "sampled_value": [
                            {"value": "5000", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )
        )
        assert await wait_until(
            lambda: any(a == "RemoteStopTransaction" for a, _ in cp.received), timeout=5
        )
        tx = (await api.get(url)).json()
        assert tx["limit_reached"] == "cost"
    limit_events = (
        await api.get("/api/v1/events", params={"type": "limit.reached", "station_id": "LIM-C"})
    ).json()
    assert [e["data"]["kind"] for e in limit_events] == ["cost"]
    assert limit_events[0]["data"]["limit"] == "2.00"
    assert float(limit_events[0]["data"]["value"]) >= 2.0
