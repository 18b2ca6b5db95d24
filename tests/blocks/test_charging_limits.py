"""What 2.0.1 stations tell Volta in block K, over a real WebSocket, on
SQLite and PostgreSQL: external limits (K11-K13), reports (K09), an EV's
needs (K15/K17) and its schedule checked against the limit in force
(K16.FR.06/07)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import sqlalchemy as sa
from ocpp.v201 import call as call201

from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from volta.app import Volta
from volta.blocks.smart_charging.ev import _in_force, exceeds
from volta.ocpp.charging import Period, Profile, Schedule, from_v201, to_v201
from volta.store.models import ChargingProfile, EvseAllocation, Site, Station, utcnow


async def boot(cp: Any, evses: tuple[int, ...] = (1, 2)) -> None:
    await cp.call(
        call201.BootNotification(
            charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
        )
    )
    for evse in evses:
        await cp.call(
            "StatusNotification",
            {
                "timestamp": now_iso(),
                "connectorStatus": "Available",
                "evseId": evse,
                "connectorId": 1,
            },
        )


def schedule(limit: float, unit: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        **extra,
    }


async def rows(volta: Volta, station_id: str) -> list[Any]:
    async with volta.db.read() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(ChargingProfile)
                    .where(ChargingProfile.station_id == station_id)
                    .order_by(ChargingProfile.id)
                )
            ).all()
        )


async def events_of(api: Any, type_: str) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/events", params={"type": type_})
    assert r.status_code == 200, r.text
    return [e["data"] for e in r.json()]


async def start_tx(cp: Any, tx: str = "TX-1", evse: int = 1) -> None:
    r = await cp.call(
        "TransactionEvent",
        {
            "eventType": "Started",
            "timestamp": now_iso(),
            "triggerReason": "Authorized",
            "seqNo": 0,
            "transactionInfo": {"transactionId": tx, "chargingState": "EVConnected"},
            "idToken": {"idToken": "EV-1", "type": "Central"},
            "evse": {"id": evse, "connectorId": 1},
        },
    )
    assert r["idTokenInfo"]["status"] == "Accepted"


async def end_tx(cp: Any, tx: str = "TX-1") -> None:
    await cp.call(
        "TransactionEvent",
        {
            "eventType": "Ended",
            "timestamp": now_iso(),
            "triggerReason": "EVCommunicationLost",
            "seqNo": 1,
            "transactionInfo": {"transactionId": tx, "stoppedReason": "EVDisconnected"},
        },
    )


async def on_site(volta: Volta, station_id: str) -> int:
    async with volta.db.write() as conn:
        site_id = (
            await conn.execute(
                sa.insert(Site)
                .values(
                    name="depot",
                    max_current_a=32.0,
                    phases=3,
                    voltage_v=230.0,
                    strategy="equal",
                    min_current_a=6.0,
                )
                .returning(Site.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.update(Station).where(Station.id == station_id).values(site_id=site_id)
        )
    return int(site_id)


async def believe_installed(volta: Volta, station_id: str, evse: int, profile: Profile) -> None:
    """What install_profile leaves after an Accepted answer."""
    now = utcnow()
    async with volta.db.write(station_id) as conn:
        await conn.execute(
            sa.insert(ChargingProfile).values(
                station_id=station_id,
                evse_id=evse,
                profile_id=profile.id,
                stack_level=profile.stack_level,
                purpose=profile.purpose,
                transaction_id=profile.transaction_id,
                profile=to_v201(profile),
                source="api",
                status="Accepted",
                created_at=now,
                updated_at=now,
            )
        )


def tx_profile(
    limits: list[tuple[int, float]],
    *,
    tx: str = "TX-1",
    unit: str = "A",
    start: dt.datetime | None = None,
) -> Profile:
    return Profile(
        id=7,
        stack_level=1,
        purpose="TxProfile",
        kind="Absolute" if start else "Relative",
        schedules=(Schedule(unit, tuple(Period(s, v) for s, v in limits), start=start),),
        transaction_id=tx,
    )


# -- K11/K12/K13: external limits ----------------------------------------------------


async def test_notify_charging_limit_is_stored_as_external_constraint_k12(volta, api):
    await register(volta, "K12")
    async with station(volta, "K12", "2.0.1") as cp:
        await boot(cp)
        r = await cp.call(
            "NotifyChargingLimit",
            {
                "evseId": 1,
                "chargingLimit": {"chargingLimitSource": "EMS", "isGridCritical": True},
                "chargingSchedule": [schedule(16.0)],
            },
        )
        assert r == {}
        await cp.call(
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "SO"}, "chargingSchedule": [schedule(40.0)]},
        )
        # A newer notice from the same source for the same EVSE replaces it.
        await cp.call(
            "NotifyChargingLimit",
            {
                "evseId": 1,
                "chargingLimit": {"chargingLimitSource": "EMS"},
                "chargingSchedule": [schedule(10.0)],
            },
        )
    got = await rows(volta, "K12")
    assert [(r.evse_id, r.limit_source, r.status) for r in got] == [
        (1, "EMS", "Replaced"),
        (0, "SO", "Accepted"),
        (1, "EMS", "Accepted"),
    ]
    assert {r.source for r in got} == {"station"}
    assert {r.purpose for r in got} == {"ChargingStationExternalConstraints"}
    current = from_v201(got[2].profile)
    assert current.schedules[0].periods[0].limit == 10.0
    # No startSchedule on the wire: the limit holds from when it was told.
    assert current.kind == "Absolute" and current.schedules[0].start is not None
    notified = await events_of(api, "charging_limit.notified")
    assert [(e["evse_id"], e["source"], e["limit"]) for e in notified] == [
        (1, "EMS", 16.0),
        (0, "SO", 40.0),
        (1, "EMS", 10.0),
    ]
    assert notified[0]["grid_critical"] is True


async def test_notify_charging_limit_without_schedule_or_for_unknown_evse(volta, api):
    await register(volta, "K12B")
    async with station(volta, "K12B", "2.0.1") as cp:
        await boot(cp, evses=(1,))
        await cp.call(
            "NotifyChargingLimit",
            {
                "evseId": 1,
                "chargingLimit": {"chargingLimitSource": "EMS"},
                "chargingSchedule": [schedule(16.0)],
            },
        )
        # K12.FR.03: without EnableNotifyChargingLimitWithSchedules no schedule
        # comes; the older limit no longer holds, and none can replace it.
        assert (
            await cp.call(
                "NotifyChargingLimit",
                {"evseId": 1, "chargingLimit": {"chargingLimitSource": "EMS"}},
            )
            == {}
        )
        # EVSE 9 was never reported: answered, not stored.
        assert (
            await cp.call(
                "NotifyChargingLimit",
                {
                    "evseId": 9,
                    "chargingLimit": {"chargingLimitSource": "EMS"},
                    "chargingSchedule": [schedule(6.0)],
                },
            )
            == {}
        )
    assert [(r.evse_id, r.status) for r in await rows(volta, "K12B")] == [(1, "Replaced")]
    notified = await events_of(api, "charging_limit.notified")
    assert [(e["evse_id"], e["limit"]) for e in notified] == [(1, 16.0), (1, None)]


async def test_cleared_charging_limit_clears_that_source_only_k13(volta, api):
    await register(volta, "K13")
    async with station(volta, "K13", "2.0.1") as cp:
        await boot(cp)
        for evse, source in ((1, "EMS"), (2, "EMS"), (1, "SO")):
            await cp.call(
                "NotifyChargingLimit",
                {
                    "evseId": evse,
                    "chargingLimit": {"chargingLimitSource": source},
                    "chargingSchedule": [schedule(12.0)],
                },
            )
        assert (
            await cp.call("ClearedChargingLimit", {"chargingLimitSource": "EMS", "evseId": 1}) == {}
        )
        state = [(r.evse_id, r.limit_source, r.status) for r in await rows(volta, "K13")]
        assert state == [(1, "EMS", "Cleared"), (2, "EMS", "Accepted"), (1, "SO", "Accepted")]
        # Without evseId: that source's limits on every EVSE.
        await cp.call("ClearedChargingLimit", {"chargingLimitSource": "EMS"})
        # Nothing of "Other" to clear: answered all the same.
        assert await cp.call("ClearedChargingLimit", {"chargingLimitSource": "Other"}) == {}
    state = [(r.evse_id, r.limit_source, r.status) for r in await rows(volta, "K13")]
    assert state == [(1, "EMS", "Cleared"), (2, "EMS", "Cleared"), (1, "SO", "Accepted")]
    cleared = await events_of(api, "charging_limit.cleared")
    assert [(e["source"], e["evse_id"], e["cleared"]) for e in cleared] == [
        ("EMS", 1, 1),
        ("EMS", None, 1),
        ("Other", None, 0),
    ]


# -- K09: reports ----------------------------------------------------------------------


def reported(profile_id: int, purpose: str = "TxDefaultProfile", level: int = 0) -> dict[str, Any]:
    return {
        "id": profile_id,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",
        "chargingSchedule": [schedule(16.0)],
    }


async def test_report_charging_profiles_tbc_sequence_and_replacement_k09(volta):
    await register(volta, "K09")
    async with station(volta, "K09", "2.0.1") as cp:
        await boot(cp)

        async def report(request_id: int, evse: int, profiles: list[dict], **extra: Any) -> None:
            payload = {
                "requestId": request_id,
                "chargingLimitSource": extra.pop("source", "CSO"),
                "evseId": evse,
                "chargingProfile": profiles,
                **extra,
            }
            assert await cp.call("ReportChargingProfiles", payload) == {}

        await report(7, 1, [reported(1), reported(2, level=1)], tbc=True)
        await report(7, 1, [reported(3, "ChargingStationExternalConstraints")], source="EMS")
        await report(7, 0, [reported(4, "ChargingStationMaxProfile")])
        first = await rows(volta, "K09")
        assert [
            (r.profile_id, r.evse_id, r.status, r.limit_source, r.report_id) for r in first
        ] == [
            (1, 1, "Reported", "CSO", 7),
            (2, 1, "Reported", "CSO", 7),
            (3, 1, "Reported", "EMS", 7),
            (4, 0, "Reported", "CSO", 7),
        ]
        # The next report for EVSE 1 replaces EVSE 1's rows; EVSE 0 keeps its own.
        await report(8, 1, [reported(5)])
    latest = {(r.profile_id, r.evse_id): r.status for r in await rows(volta, "K09")}
    assert latest == {
        (1, 1): "Replaced",
        (2, 1): "Replaced",
        (3, 1): "Replaced",
        (4, 0): "Reported",
        (5, 1): "Reported",
    }
    # Reported rows are what the station says, not what Volta believes installed.
    assert all(r.status != "Accepted" for r in await rows(volta, "K09"))


# -- K15/K17: an EV's needs ---------------------------------------------------------------


def needs(evse: int = 1, mode: str = "AC_three_phase", **params: Any) -> dict[str, Any]:
    ac = {"energyAmount": 20000, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400}
    body: dict[str, Any] = {"requestedEnergyTransfer": mode, "departureTime": now_iso(7200)}
    if mode == "DC":
        body["dcChargingParameters"] = {"evMaxCurrent": 125, "evMaxVoltage": 500, **params}
    else:
        body["acChargingParameters"] = {**ac, **params}
    return {"evseId": evse, "chargingNeeds": body}


async def allocation(volta: Volta, station_id: str, evse: int) -> Any:
    async with volta.db.read() as conn:
        return (
            await conn.execute(
                sa.select(EvseAllocation).where(
                    EvseAllocation.station_id == station_id, EvseAllocation.evse_id == evse
                )
            )
        ).first()


async def test_ev_charging_needs_answer_and_storage_k15(volta):
    await register(volta, "K15")
    await add_token(volta, "EV-1", token_type="Central")
    async with station(volta, "K15", "2.0.1") as cp:
        await boot(cp)
        # On no site: Volta plans no schedule (K15.FR.04), the needs are kept.
        r = await cp.call("NotifyEVChargingNeeds", needs())
        assert r["status"] == "Rejected"
        assert r["statusInfo"]["reasonCode"] == "NoSchedule"
        row = await allocation(volta, "K15", 1)
        assert (row.status, row.limit_a, row.energy_needed_wh) == ("Needs", 0.0, 20000.0)
        assert (row.ev_min_current_a, row.ev_max_current_a, row.phases) == (6.0, 16.0, 3)
        assert abs((row.departure_at - utcnow()).total_seconds() - 7200) < 60
        site_id = await on_site(volta, "K15")
        # On a site, before the transaction: Processing (K15.FR.05).
        r = await cp.call("NotifyEVChargingNeeds", needs(mode="AC_single_phase", energyAmount=9000))
        assert r["status"] == "Processing"
        await start_tx(cp)
        r = await cp.call("NotifyEVChargingNeeds", needs(mode="AC_single_phase"))
        assert r == {"status": "Accepted"}  # K15.FR.03 / K17.FR.03
        row = await allocation(volta, "K15", 1)
        assert (row.phases, row.transaction_id) == (1, "TX-1")
        # DC: the EV's DC maximum.
        r = await cp.call("NotifyEVChargingNeeds", needs(evse=2, mode="DC", energyAmount=30000))
        assert r["status"] == "Processing"
        dc = await allocation(volta, "K15", 2)
        assert (dc.ev_max_current_a, dc.ev_min_current_a, dc.site_id) == (125.0, None, site_id)
        # The session ends: its needs no longer hold.
        await end_tx(cp)

        async def forgotten() -> bool:
            row = await allocation(volta, "K15", 1)
            return (row.departure_at, row.energy_needed_wh, row.ev_max_current_a) == (None,) * 3

        assert await wait_until(forgotten)


async def test_ev_charging_needs_bad_cases(volta):
    await register(volta, "K15B")
    async with station(volta, "K15B", "2.0.1") as cp:
        await boot(cp, evses=(1,))
        await on_site(volta, "K15B")
        for evse in (0, 4):  # evseId may not be 0; EVSE 4 was never reported
            r = await cp.call("NotifyEVChargingNeeds", needs(evse=evse))
            assert r["status"] == "Rejected"
            assert r["statusInfo"]["reasonCode"] == "UnknownEvse"
            assert await allocation(volta, "K15B", evse) is None
        # K15.FR.06: AC or DC parameters SHALL be there.
        bare = {"evseId": 1, "chargingNeeds": {"requestedEnergyTransfer": "DC"}}
        assert await cp.call("NotifyEVChargingNeeds", bare) is None
        assert await allocation(volta, "K15B", 1) is None


async def test_ev_charging_needs_of_a_relaxed_station_are_kept(volta):
    """A station in relaxed validation that leaves out both parameter sets
    (K15.FR.06) gets an answer, and its departure time is kept."""
    await register(volta, "K15R", validation="relaxed")
    async with station(volta, "K15R", "2.0.1") as cp:
        await boot(cp, evses=(1,))
        await on_site(volta, "K15R")
        bare = {
            "evseId": 1,
            "chargingNeeds": {"requestedEnergyTransfer": "DC", "departureTime": now_iso(3600)},
        }
        assert (await cp.call("NotifyEVChargingNeeds", bare))["status"] == "Processing"
    row = await allocation(volta, "K15R", 1)
    assert row.departure_at is not None and row.ev_max_current_a is None


# -- K15-K17: an EV's schedule against the limit in force ----------------------------------


# The time base of the EV schedules below, and the start of the TxProfile.
T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1)


async def ev_schedule(
    cp: Any, periods: list[tuple[int, float]], unit: str = "A", evse: int = 1, duration: int = 7200
) -> dict[str, Any]:
    r: dict[str, Any] = await cp.call(
        "NotifyEVChargingSchedule",
        {
            "timeBase": T0.isoformat().replace("+00:00", "Z"),
            "evseId": evse,
            "chargingSchedule": {
                "id": 1,
                "duration": duration,
                "chargingRateUnit": unit,
                "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
            },
        },
    )
    return r


async def test_ev_charging_schedule_checked_against_limit_k16(volta, api):
    await register(volta, "K16")
    await add_token(volta, "EV-1", token_type="Central")
    async with station(volta, "K16", "2.0.1") as cp:
        cp.handlers["SetChargingProfile"] = answer({"status": "Accepted"})
        await boot(cp)
        await start_tx(cp)
        # No limit in force: nothing to exceed.
        assert await ev_schedule(cp, [(0, 32.0)]) == {"status": "Accepted"}
        # The TxProfile: 16 A for an hour from T0, then 10 A.
        await believe_installed(volta, "K16", 1, tx_profile([(0, 16.0), (3600, 10.0)], start=T0))
        assert await ev_schedule(cp, [(0, 16.0), (3600, 10.0)]) == {"status": "Accepted"}
        # K16.FR.07: above it in the second hour.
        r = await ev_schedule(cp, [(0, 16.0)])
        assert r["status"] == "Rejected"
        assert r["statusInfo"]["reasonCode"] == "ExceedsLimit"
        assert "10.0 A" in r["statusInfo"]["additionalInfo"]
        # K16.FR.08: Volta renegotiates, sending the TxProfile in force again.
        assert await wait_until(lambda: any(a == "SetChargingProfile" for a, _ in cp.received))
        sent = next(p for a, p in cp.received if a == "SetChargingProfile")
        assert sent["evse_id"] == 1
        assert sent["charging_profile"]["id"] == 7
        assert sent["charging_profile"]["transaction_id"] == "TX-1"

        async def resent_accepted() -> bool:
            return [(r.source, r.status) for r in await rows(volta, "K16")] == [
                ("api", "Replaced"),
                ("api", "Accepted"),
            ]

        assert await wait_until(resent_accepted)
        # In W: 3 x 230 V x 16 A = 11040 W is within, 12000 W is not.
        assert (await ev_schedule(cp, [(0, 11000.0)], "W", duration=1800))["status"] == "Accepted"
        assert (await ev_schedule(cp, [(0, 12000.0)], "W", duration=1800))["status"] == "Rejected"
        # An external limit on the whole station counts too (lowest wins).
        await cp.call(
            "NotifyChargingLimit",
            {"chargingLimit": {"chargingLimitSource": "SO"}, "chargingSchedule": [schedule(8.0)]},
        )
        r = await ev_schedule(cp, [(0, 10.0)], duration=600)
        assert r["status"] == "Rejected" and "8.0 A" in r["statusInfo"]["additionalInfo"]
        # EVSE 3 was never reported.
        r = await ev_schedule(cp, [(0, 6.0)], evse=3)
        assert (r["status"], r["statusInfo"]["reasonCode"]) == ("Rejected", "UnknownEvse")
    exceeded = await events_of(api, "ev_schedule.exceeded")
    assert [(e["evse_id"], e["requested"], e["allowed"], e["unit"]) for e in exceeded] == [
        (1, 16.0, 10.0, "A"),
        (1, 12000.0, 11040.0, "W"),
        (1, 10.0, 8.0, "A"),
    ]


def test_exceeds_compares_at_every_step_of_either_schedule():
    """Hand-computed: an absolute TxProfile 16 A from t0, 6 A from t0+30 min;
    the EV asks 10 A from t0+10 min. It exceeds exactly at t0+30 min."""
    t0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    installed = [(1, tx_profile([(0, 16.0), (1800, 6.0)], start=t0))]
    running = {"transaction_id": "TX-1", "transaction_start": t0}
    ev = Schedule("A", (Period(0, 10.0),), duration_s=3600)
    check = exceeds(ev, t0 + dt.timedelta(minutes=10), installed, 1, **running)
    assert (check.within, check.at, check.requested, check.allowed) == (
        False,
        t0 + dt.timedelta(minutes=30),
        10.0,
        6.0,
    )
    # Ending before the drop: within.
    short = Schedule("A", (Period(0, 10.0),), duration_s=1200)
    assert exceeds(short, t0 + dt.timedelta(minutes=10), installed, 1, **running).within
    # Another transaction's TxProfile does not hold here: nothing limits.
    assert exceeds(ev, t0, installed, 1, transaction_id="TX-2", transaction_start=t0).within
    # A 1-phase period in W: 230 V x 1 x 16 A = 3680 W; a station-wide max counts too.
    one_phase = Profile(
        1,
        0,
        "ChargingStationMaxProfile",
        "Absolute",
        (Schedule("A", (Period(0, 16.0, phases=1),), start=t0),),
    )
    assert exceeds(Schedule("W", (Period(0, 3680.0),)), t0, [(0, one_phase)], 1).within
    assert not exceeds(Schedule("W", (Period(0, 3700.0),)), t0, [(0, one_phase)], 1).within


def test_a_profile_sent_but_not_answered_counts_in_place_of_the_one_it_replaces():
    """An ISO 15118 EV may answer with its schedule before the station's
    SetChargingProfileResponse reached Volta: the newest profile counts."""
    old = tx_profile([(0, 16.0)])
    new = tx_profile([(0, 8.0)])  # the same id: it replaces the old (K01.FR.05)
    other = Profile(
        9, 0, "ChargingStationMaxProfile", "Relative", (Schedule("A", (Period(0, 32.0),)),)
    )
    assert _in_force([(1, old), (0, other), (1, new)]) == [(0, other), (1, new)]


async def test_ended_transaction_unknown_to_volta_leaves_needs_alone(volta):
    """The follow-up that forgets an EV's needs looks the EVSE up by the
    transaction when the Ended event names none; an unknown one is no-op."""
    await register(volta, "K15E")
    await add_token(volta, "EV-1", token_type="Central")
    async with station(volta, "K15E", "2.0.1") as cp:
        await boot(cp, evses=(1,))
        await start_tx(cp, "TX-9")
        await cp.call("NotifyEVChargingNeeds", needs())
        r = await cp.call(
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": now_iso(),
                "triggerReason": "EVCommunicationLost",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "NEVER-STARTED"},
            },
        )
        assert r == {}
        await asyncio.sleep(0.3)  # its follow-up has run
        assert (await allocation(volta, "K15E", 1)).energy_needed_wh == 20000.0
        await end_tx(cp, "TX-9")  # names no EVSE: found through the transaction

        async def forgotten() -> bool:
            return (await allocation(volta, "K15E", 1)).energy_needed_wh is None

        assert await wait_until(forgotten)
