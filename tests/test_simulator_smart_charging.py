"""The simulator obeys the charging profiles it receives, 1.6 and 2.0.1,
against a real Volta over real WebSockets: the car draws at most the limit
(per phase), pauses below 6 A, tells the CSMS at once in MeterValues, and
the station answers SetChargingProfile / ClearChargingProfile /
GetCompositeSchedule / GetChargingProfiles as a charger would (1.6
§5.5, §5.7, §5.16; 2.0.1 K01, K08-K10)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers import add_token, wait_until
from tests.test_simulator import (
    REMOTE_CARD,
    command,
    frames,
    quiet,
    remote_start,
    running,
    statuses,
)
from volta.app import Volta
from volta.simulator.station import SimulatedStation

VERSIONS = ["1.6", "2.0.1"]


def car_scenario(volta: Volta, version: str, **overrides: Any) -> Any:
    """A quiet station whose cars take 22 kW on three phases (31.9 A),
    long sessions, a slow meter: any quick sample is the limit's."""
    values: dict[str, Any] = {
        "power_kw": (22.0, 22.0),
        "one_phase_share": 0.0,
        "session_seconds": (60.0, 60.0),
        "meter_interval": 30.0,
    }
    values.update(overrides)
    return quiet(volta, version, **values)


def profile(
    version: str,
    pid: int,
    purpose: str,
    limit: float,
    *,
    level: int = 0,
    tx: str | int | None = None,
    periods: list[tuple[int, float]] | None = None,
    unit: str = "A",
) -> dict[str, Any]:
    """A Relative profile in `version`'s wire shape (purposes in 2.0.1 names)."""
    spans = [{"startPeriod": s, "limit": v} for s, v in periods or [(0, limit)]]
    if version == "1.6":
        p: dict[str, Any] = {
            "chargingProfileId": pid,
            "stackLevel": level,
            "chargingProfilePurpose": "ChargePointMaxProfile"
            if purpose == "ChargingStationMaxProfile"
            else purpose,
            "chargingProfileKind": "Relative",
            "chargingSchedule": {"chargingRateUnit": unit, "chargingSchedulePeriod": spans},
        }
        if tx is not None:
            p["transactionId"] = int(tx)
        return p
    p = {
        "id": pid,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [{"id": 1, "chargingRateUnit": unit, "chargingSchedulePeriod": spans}],
    }
    if tx is not None:
        p["transactionId"] = str(tx)
    return p


async def start(volta: Volta, api: httpx.AsyncClient, st: SimulatedStation) -> dict[str, Any]:
    """A session started from the API (the driver's card known to Volta)."""
    await add_token(volta, REMOTE_CARD)
    return await remote_start(api, st, REMOTE_CARD)


async def set_profile(
    api: httpx.AsyncClient, st: SimulatedStation, version: str, evse: int, body: dict[str, Any]
) -> str:
    if version == "1.6":
        payload = {"connectorId": evse, "csChargingProfiles": body}
    else:
        payload = {"evseId": evse, "chargingProfile": body}
    sent = await command(api, st.id, "SetChargingProfile", payload)
    assert sent["status"] in ("accepted", "rejected"), sent
    return str(sent["response"]["status"])


def tx_id(version: str, tx: dict[str, Any]) -> str:
    return str(tx["id"]) if version == "1.6" else str(tx["station_transaction_id"])


def sampled(frame: dict[str, Any], version: str) -> list[dict[str, Any]]:
    payload = frame["frame"][3]
    return [sv for mv in payload.get("meterValue", []) for sv in mv["sampledValue"]]


async def currents_seen(api: httpx.AsyncClient, st: SimulatedStation, version: str) -> list[float]:
    """The Current.Import values of the latest meter sample Volta received."""
    action = "MeterValues" if version == "1.6" else "TransactionEvent"
    for frame in reversed(await frames(api, st.id, action)):
        values = [sv for sv in sampled(frame, version) if sv.get("measurand") == "Current.Import"]
        if values:
            return [float(v["value"]) for v in values]
    return []


@pytest.mark.parametrize("version", VERSIONS)
async def test_tx_profile_limits_the_draw_and_volta_sees_it_at_once(volta, api, version):
    async with running(volta, car_scenario(volta, version)) as [st]:
        tx = await start(volta, api, st)
        car = st.connectors[0].car
        assert car is not None and car.phases == 3
        assert car.current_a() == pytest.approx(22_000 / 690, abs=0.01)

        body = profile(version, 7, "TxProfile", 10.0, tx=tx_id(version, tx))
        assert await set_profile(api, st, version, 1, body) == "Accepted"
        # The car follows at once, and a sample tells Volta within 2 s,
        # long before the 30 s meter interval.
        assert await wait_until(lambda: car.current_a() == 10.0, 15)

        async def volta_sees_10() -> bool:
            seen = await currents_seen(api, st, version)
            return len(seen) == 3 and all(9.9 <= a <= 10.0 for a in seen)

        assert await wait_until(volta_sees_10, 15)

        # Below the car's 6 A minimum: paused, not starved (SuspendedEVSE, 0 A).
        body = profile(version, 7, "TxProfile", 4.0, tx=tx_id(version, tx))
        assert await set_profile(api, st, version, 1, body) == "Accepted"
        assert await wait_until(lambda: car.suspended, 15)
        assert car.current_a() == 0.0
        if version == "1.6":

            async def suspended() -> bool:
                return await statuses(api, st.id) == ["SuspendedEVSE"]

            assert await wait_until(suspended, 15)
        else:

            async def state_suspended() -> bool:
                events = await frames(api, st.id, "TransactionEvent")
                info = events[-1]["frame"][3]["transactionInfo"]
                return bool(info.get("chargingState") == "SuspendedEVSE")

            assert await wait_until(state_suspended, 15)

        # Cleared: the EVSE's rating again, the car its own maximum.
        cleared = await command(api, st.id, "ClearChargingProfile", clear_by_id(version, 7))
        assert cleared["response"] == {"status": "Accepted"}
        assert await wait_until(lambda: car.current_a() > 31, 15)


def clear_by_id(version: str, pid: int) -> dict[str, Any]:
    return {"id": pid} if version == "1.6" else {"chargingProfileId": pid}


@pytest.mark.parametrize("version", VERSIONS)
async def test_station_max_on_evse_0_caps_every_evse_and_w_limits_read_per_phase(
    volta, api, version
):
    async with running(volta, car_scenario(volta, version)) as [st]:
        await start(volta, api, st)
        car = st.connectors[0].car
        assert car is not None
        # 6900 W on three phases at 230 V: 10 A per phase.
        body = profile(version, 3, "ChargingStationMaxProfile", 6900.0, unit="W")
        assert await set_profile(api, st, version, 0, body) == "Accepted"
        assert await wait_until(lambda: car.current_a() == pytest.approx(10.0), 15)
        assert car.power_w() <= 6900.0 + 1e-6


@pytest.mark.parametrize("version", VERSIONS)
async def test_what_a_charger_rejects_and_the_replace_rule(volta, api, version):
    async with running(volta, car_scenario(volta, version)) as [st]:
        # No transaction: a TxProfile is Rejected (1.6 §5.16, K01.FR.09).
        assert await set_profile(api, st, version, 1, profile(version, 1, "TxProfile", 16)) == (
            "Rejected"
        )
        # A station maximum on an EVSE, and an EVSE that does not exist.
        assert (
            await set_profile(
                api, st, version, 1, profile(version, 2, "ChargingStationMaxProfile", 16)
            )
            == "Rejected"
        )
        assert await set_profile(api, st, version, 9, profile(version, 3, "TxDefaultProfile", 16))
        assert st.profiles.items == []
        # The same EVSE, purpose and stack level: the newer replaces the older.
        for pid, limit in ((4, 16.0), (5, 12.0)):
            body = profile(version, pid, "TxDefaultProfile", limit)
            assert await set_profile(api, st, version, 1, body) == "Accepted"
        assert [(e, p.id) for e, p in st.profiles.items] == [(1, 5)]
        gone = await command(api, st.id, "ClearChargingProfile", clear_by_id(version, 4))
        assert gone["response"] == {"status": "Unknown"}
        # A TxProfile lives as long as its transaction.
        tx = await start(volta, api, st)
        body = profile(version, 6, "TxProfile", 8, tx=tx_id(version, tx))
        assert await set_profile(api, st, version, 1, body) == "Accepted"
        car = st.connectors[0].car
        assert car is not None
        assert await wait_until(lambda: car.current_a() == 8.0, 15)
        stop = (
            ("RemoteStopTransaction", {"transactionId": tx["id"]})
            if version == "1.6"
            else ("RequestStopTransaction", {"transactionId": tx["station_transaction_id"]})
        )
        await command(api, st.id, *stop)
        assert await wait_until(lambda: st.connectors[0].transaction_id is None, 15)
        assert [p.id for _e, p in st.profiles.items] == [5]


@pytest.mark.parametrize("version", VERSIONS)
async def test_get_composite_schedule_merges_as_the_specification_says(volta, api, version):
    async with running(volta, car_scenario(volta, version)) as [st]:
        station_max = profile(version, 1, "ChargingStationMaxProfile", 20.0)
        default = profile(version, 2, "TxDefaultProfile", 0, periods=[(0, 16.0), (60, 24.0)])
        assert await set_profile(api, st, version, 0, station_max) == "Accepted"
        assert await set_profile(api, st, version, 1, default) == "Accepted"
        if version == "1.6":
            request = {"connectorId": 1, "duration": 120, "chargingRateUnit": "A"}
        else:
            request = {"evseId": 1, "duration": 120, "chargingRateUnit": "A"}
        sent = await command(api, st.id, "GetCompositeSchedule", request)
        answer = sent["response"]
        assert answer["status"] == "Accepted"
        schedule = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
        assert schedule["chargingRateUnit"] == "A" and schedule["duration"] == 120
        # min(TxDefault, StationMax): 16 A, then 20 A once the default allows 24.
        assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
            (0, 16.0),
            (60, 20.0),
        ]
        # Without the station maximum: the EVSE's 32 A rating caps a 40 A
        # default (what the station can really give).
        await command(api, st.id, "ClearChargingProfile", clear_by_id(version, 1))
        default = profile(version, 2, "TxDefaultProfile", 0, periods=[(0, 16.0), (60, 40.0)])
        assert await set_profile(api, st, version, 1, default) == "Accepted"
        sent = await command(api, st.id, "GetCompositeSchedule", request)
        answer = sent["response"]
        schedule = answer["chargingSchedule"] if version == "1.6" else answer["schedule"]
        assert [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]] == [
            (0, 16.0),
            (60, 32.0),
        ]
        request["connectorId" if version == "1.6" else "evseId"] = 5
        sent = await command(api, st.id, "GetCompositeSchedule", request)
        assert sent["response"]["status"] == "Rejected"


async def test_get_charging_profiles_reports_per_evse_201(volta, api):
    async with running(volta, car_scenario(volta, "2.0.1", connectors=2)) as [st]:
        assert await set_profile(api, st, "2.0.1", 0, profile("2.0.1", 1, "TxDefaultProfile", 16))
        assert await set_profile(api, st, "2.0.1", 2, profile("2.0.1", 2, "TxDefaultProfile", 10))
        sent = await command(
            api, st.id, "GetChargingProfiles", {"requestId": 77, "chargingProfile": {}}
        )
        assert sent["response"]["status"] == "Accepted"

        async def reports() -> list[dict[str, Any]]:
            return [f["frame"][3] for f in await frames(api, st.id, "ReportChargingProfiles")]

        assert await wait_until(lambda: _count(reports, 2), 15)
        got = await reports()
        assert [(r["requestId"], r["evseId"], r.get("tbc", False)) for r in got] == [
            (77, 0, True),
            (77, 2, False),
        ]
        assert [p["id"] for p in got[1]["chargingProfile"]] == [2]
        none = await command(
            api,
            st.id,
            "GetChargingProfiles",
            {"requestId": 78, "chargingProfile": {"stackLevel": 9}},
        )
        assert none["response"]["status"] == "NoProfiles"


async def _count(get: Any, n: int) -> bool:
    return len(await get()) >= n


@pytest.mark.parametrize("version", VERSIONS)
async def test_one_phase_car_draws_on_l1_only(volta, api, version):
    sc = car_scenario(volta, version, power_kw=(7.4, 7.4))
    async with running(volta, sc) as [st]:
        await start(volta, api, st)
        car = st.connectors[0].car
        assert car is not None and car.phases == 1
        body = profile(version, 1, "TxDefaultProfile", 13.0)
        assert await set_profile(api, st, version, 1, body) == "Accepted"

        async def l1_only() -> bool:
            action = "MeterValues" if version == "1.6" else "TransactionEvent"
            for frame in reversed(await frames(api, st.id, action)):
                values = [
                    sv for sv in sampled(frame, version) if sv.get("measurand") == "Current.Import"
                ]
                if values:
                    return [(v.get("phase"), float(v["value"])) for v in values] == [("L1", 13.0)]
            return False

        assert await wait_until(l1_only, 15)


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_simulated_hour_never_draws_over_the_site_limit(volta, api):
    """The issue's check, shorter: 20 stations (1.6 and 2.0.1) on a 100 A
    site for a compressed hour of 35 s; what the simulated cars draw, summed
    per phase every 0.1 s, never exceeds 100 A, while the site is used."""
    from bench.smart_charging_hour import run_hour

    report = await run_hour(api, f"ws://127.0.0.1:{volta.ocpp_port}", stations=20, seconds=35.0)
    assert report.samples > 200
    # Load management happened: many cars at once, the site well used, and
    # profiles sent to hold them.
    assert report.max_charging >= 10
    assert report.mean_draw_a >= 50.0
    assert report.set_charging_profile >= 20
    assert report.sessions >= 20
    # Never over, not even as a car plugs in: it draws its station's fallback
    # until its TxProfile comes, and the fallbacks share only what the
    # TxProfiles leave.
    assert report.over_limit_samples == 0, report
    assert report.peak_a <= 100.0


async def test_demo_puts_its_stations_on_one_site_with_a_limit(volta, api):
    """`make run` (volta serve --demo 3): the demo's stations hang from one
    32 A site, and each holds the fallback profile the allocator sends."""
    import asyncio

    from volta.app import DEMO_SITE, run_demo

    stop = asyncio.Event()
    demo = asyncio.create_task(run_demo(volta, 3, stop))
    try:

        async def site() -> dict[str, Any] | None:
            listed = (await api.get("/api/v1/sites")).json()
            return next((s for s in listed if s["name"] == DEMO_SITE), None)

        assert await wait_until(site, 15)
        found = await site()
        assert found is not None and found["max_current_a"] == 32.0

        async def fallbacks() -> set[str]:
            held = set()
            for sid in ("DEMO-001", "DEMO-002", "DEMO-003"):
                station = (await api.get(f"/api/v1/stations/{sid}")).json()
                assert station["site_id"] == found["id"]
                got = (await api.get(f"/api/v1/stations/{sid}/charging-profiles")).json()
                rows = [p for evse in got["evses"] for p in evse["profiles"]]
                if any(r["source"] == "fallback" for r in rows):
                    held.add(sid)
            return held

        assert await wait_until(lambda: _all_three(fallbacks), 10)
    finally:
        stop.set()
        await asyncio.wait_for(demo, 20)


async def _all_three(get: Any) -> bool:
    return len(await get()) == 3


def test_scenario_car_mix_and_rating():
    import random

    from volta.simulator.ev import Car
    from volta.simulator.scenario import load_scenario

    sc = load_scenario(None, max_current=16.0, one_phase_share=1.0, power_kw=[22, 22])
    car = Car.arrive(random.Random(1), sc.power_kw, max_current=sc.max_current, one_phase_share=1.0)
    # A 22 kW car on one phase would take 95 A: the EVSE's 16 A caps it.
    assert (car.phases, car.max_current_a, car.current_a()) == (1, 16.0, 16.0)
    car.offered_a = 5.9  # below IEC 61851's 6 A: paused
    assert (car.current_a(), car.suspended, car.power_w()) == (0.0, True, 0.0)
    for bad in ({"one_phase_share": 1.5}, {"max_current": 0}):
        with pytest.raises(ValueError):
            load_scenario(None, **bad)
