"""OCPP 2.0.1 CSMS test cases (Part 6), block K: Smart Charging.

Each test is named by its test case id; the charging station is played over
a real WebSocket, the operator's part through the HTTP API. Where the OCA
case only asks that the CSMS answers, the test also checks what Volta made
of the message, as an operator would see it (events, charging profiles)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import orjson
import pytest

from tests.conformance.conftest import VALID, Station
from tests.conformance.test_v201 import EVSE, TOKEN, energy_transfer_started, event, status

PROFILES = "/api/v1/stations/CS201/charging-profiles"
ACCEPTED = {"status": "Accepted"}

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


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def profile(
    profile_id: int = 1,
    purpose: str = "TxDefaultProfile",
    *,
    limit: float = 6.0,
    level: int = 0,
    kind: str = "Absolute",
    tx: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A 2.0.1 ChargingProfileType; Absolute ones valid and scheduled from now
    for an hour (the OCA cases' validFrom now, validTo now + duration)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    schedule: dict[str, Any] = {
        "id": 1,
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
    }
    body: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
    }
    if kind != "Relative":
        schedule |= {"startSchedule": iso(now), "duration": 3600}
    if kind == "Absolute":
        body |= {"validFrom": iso(now), "validTo": iso(now + dt.timedelta(hours=1))}
    if tx is not None:
        body["transactionId"] = tx
    return {**body, **extra, "chargingSchedule": [schedule]}


async def install(
    api: Any, cs: Station, evse_id: int, body: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The operator installs a profile; returns the API's answer and the
    SetChargingProfileRequest the station received."""
    task = asyncio.create_task(api.post(PROFILES, json={"evse_id": evse_id, "profile": body}))
    sent = asyncio.create_task(cs.expect("SetChargingProfile"))
    await asyncio.wait({task, sent}, return_when=asyncio.FIRST_COMPLETED)
    assert sent.done() or task.result().status_code < 400, task.result().text
    return await task, await sent


async def installed(api: Any, evse_id: int | None = None) -> list[tuple[int, int, str]]:
    """(EVSE, profile id, purpose) of what Volta believes installed."""
    params = {} if evse_id is None else {"evse_id": evse_id}
    r = await api.get(PROFILES, params=params)
    assert r.status_code == 200, r.text
    return [
        (e["evse_id"], p["profile_id"], p["purpose"])
        for e in r.json()["evses"]
        for p in e["profiles"]
    ]


def check_schedule(sent: dict[str, Any], purpose: str, limit: float = 6.0) -> dict[str, Any]:
    """The OCA tool validations every SetChargingProfile case shares (K01.FR.31:
    the first period starts at 0; numberPhases 3 or omitted)."""
    p = sent["chargingProfile"]
    assert p["chargingProfilePurpose"] == purpose
    period = p["chargingSchedule"][0]["chargingSchedulePeriod"][0]
    assert period["startPeriod"] == 0 and period["limit"] == limit
    assert period.get("numberPhases", 3) == 3
    return p


# -- K01 / K05 / K10: setting and clearing profiles ---------------------------------------


async def test_TC_K_01_CSMS(cs, api, answers):
    """K01: a TxDefaultProfile for a specific EVSE, Absolute, valid from now."""
    answers["SetChargingProfile"] = ACCEPTED
    r, sent = await install(api, cs, 1, profile())
    assert r.status_code == 201, r.text
    assert sent["evseId"] == 1
    p = check_schedule(sent, "TxDefaultProfile")
    assert p["chargingProfileKind"] == "Absolute"
    assert {"validFrom", "validTo"} <= set(p)
    assert {"startSchedule", "duration"} <= set(p["chargingSchedule"][0])
    assert await installed(api) == [(1, 1, "TxDefaultProfile")]


async def test_TC_K_03_CSMS(cs, api, answers):
    """K01: a ChargingStationMaxProfile on EVSE 0 (the grid connection)."""
    answers["SetChargingProfile"] = ACCEPTED
    r, sent = await install(api, cs, 0, profile(2, "ChargingStationMaxProfile", limit=32.0))
    assert r.status_code == 201, r.text
    assert sent["evseId"] == 0
    check_schedule(sent, "ChargingStationMaxProfile", 32.0)
    assert await installed(api) == [(0, 2, "ChargingStationMaxProfile")]


async def test_TC_K_04_CSMS(cs, api, answers):
    """Replace a profile by sending one with the same chargingProfileId
    (K01.FR.05): both accepted, only the second is installed."""
    answers["SetChargingProfile"] = ACCEPTED
    first, _ = await install(api, cs, 1, profile(3, limit=6.0))
    second, sent = await install(api, cs, 1, profile(3, limit=10.0))
    assert (first.status_code, second.status_code) == (201, 201)
    assert sent["chargingProfile"]["id"] == 3
    r = await api.get(PROFILES)
    (only,) = [p for e in r.json()["evses"] for p in e["profiles"]]
    assert only["profile_id"] == 3
    assert only["profile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"] == 10.0


async def test_TC_K_05_CSMS(cs, api, answers):
    """K10: ClearChargingProfileRequest with chargingProfileId only."""
    answers["SetChargingProfile"] = ACCEPTED
    answers["ClearChargingProfile"] = ACCEPTED
    await install(api, cs, 1, profile(4))
    task = asyncio.create_task(api.delete(f"{PROFILES}/4"))
    assert await cs.expect("ClearChargingProfile") == {"chargingProfileId": 4}  # K10.FR.02
    r = await task
    assert r.status_code == 200 and r.json()["station_status"] == "Accepted", r.text
    assert await installed(api) == []


async def test_TC_K_06_CSMS(cs, api, answers):
    """K10: ClearChargingProfileRequest by purpose, evseId and stackLevel."""
    answers["SetChargingProfile"] = ACCEPTED
    answers["ClearChargingProfile"] = ACCEPTED
    await install(api, cs, 1, profile(5, level=2))
    await install(api, cs, 1, profile(6, level=3))
    params = {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 2}
    task = asyncio.create_task(api.delete(PROFILES, params=params))
    sent = await cs.expect("ClearChargingProfile")
    assert "chargingProfileId" not in sent  # K10.FR.02: criteria, no id
    assert sent["chargingProfileCriteria"] == {
        "evseId": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "stackLevel": 2,
    }
    assert (await task).json()["station_status"] == "Accepted"
    assert await installed(api) == [(1, 6, "TxDefaultProfile")]


async def test_TC_K_08_CSMS(cs, api, answers):
    """K10 without a previous profile: the station answers Unknown, which the
    operator sees; nothing was installed, nothing is cleared."""
    answers["ClearChargingProfile"] = {"status": "Unknown"}
    params = {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 0}
    task = asyncio.create_task(api.delete(PROFILES, params=params))
    await cs.expect("ClearChargingProfile")
    r = await task
    assert r.status_code == 200, r.text
    assert (r.json()["station_status"], r.json()["cleared"]) == ("Unknown", [])


async def test_TC_K_10_CSMS(cs, api, answers):
    """K01: a TxDefaultProfile for every EVSE (evseId 0)."""
    answers["SetChargingProfile"] = ACCEPTED
    r, sent = await install(api, cs, 0, profile(7))
    assert r.status_code == 201 and sent["evseId"] == 0
    check_schedule(sent, "TxDefaultProfile")
    assert await installed(api) == [(0, 7, "TxDefaultProfile")]


async def test_TC_K_15_CSMS(cs, api, answers):
    """K01 at a station without smart charging: it answers CALLERROR
    NotSupported; the operator gets a 409, and nothing counts as installed."""

    # The harness answers every CALL with a CALLRESULT: this one is answered by hand.
    await cs.close()
    task = asyncio.create_task(api.post(PROFILES, json={"evse_id": 1, "profile": profile(8)}))
    frame = orjson.loads(await asyncio.wait_for(cs.ws.recv(), 10))
    assert frame[:3] == [2, frame[1], "SetChargingProfile"]
    await cs.ws.send(orjson.dumps([4, frame[1], "NotSupported", "no smart charging", {}]).decode())
    r = await task
    assert r.status_code == 409, r.text
    assert await installed(api) == []


async def test_TC_K_19_CSMS(cs, api, answers):
    """K01: a Recurring (Daily) TxDefaultProfile."""
    answers["SetChargingProfile"] = ACCEPTED
    body = profile(9, kind="Recurring", recurrencyKind="Daily")
    r, sent = await install(api, cs, 1, body)
    assert r.status_code == 201, r.text
    p = check_schedule(sent, "TxDefaultProfile")
    assert (p["chargingProfileKind"], p["recurrencyKind"]) == ("Recurring", "Daily")
    assert "startSchedule" in p["chargingSchedule"][0]


async def test_TC_K_60_CSMS(cs, api, answers):
    """K01: a TxProfile for the transaction running on the EVSE (K01.FR.03)."""
    answers["SetChargingProfile"] = ACCEPTED
    await energy_transfer_started(cs)
    r, sent = await install(api, cs, 1, profile(10, "TxProfile", kind="Relative", tx="TX-1"))
    assert r.status_code == 201, r.text
    p = check_schedule(sent, "TxProfile")
    assert p["transactionId"] == "TX-1" and "startSchedule" not in p["chargingSchedule"][0]
    assert await installed(api, 1) == [(1, 10, "TxProfile")]


async def test_TC_K_70_CSMS(cs, api, answers):
    """Several profiles: a TxDefaultProfile, then a ChargingStationMaxProfile."""
    answers["SetChargingProfile"] = ACCEPTED
    await energy_transfer_started(cs)
    first, a = await install(api, cs, 1, profile(11))
    second, b = await install(api, cs, 0, profile(12, "ChargingStationMaxProfile", limit=32.0))
    assert (first.status_code, second.status_code) == (201, 201)
    assert (a["chargingProfile"]["chargingProfilePurpose"], b["evseId"]) == ("TxDefaultProfile", 0)
    assert sorted(await installed(api)) == [
        (0, 12, "ChargingStationMaxProfile"),
        (1, 11, "TxDefaultProfile"),
    ]


# -- K08: composite schedules ----------------------------------------------------------------


@pytest.mark.parametrize("case, evse_id", [("TC_K_43_CSMS", 1), ("TC_K_44_CSMS", 0)])
async def test_composite_schedule(cs, api, answers, case, evse_id):
    """K08.FR.01: GetCompositeScheduleRequest with duration and
    chargingRateUnit for an EVSE (TC_K_43) or the station (TC_K_44); the
    operator sees the station's answer beside Volta's own computation."""
    answers["SetChargingProfile"] = ACCEPTED
    await install(api, cs, 0, profile(13, "ChargingStationMaxProfile", limit=32.0))
    now = iso(dt.datetime.now(dt.UTC))
    answers["GetCompositeSchedule"] = {
        "status": "Accepted",
        "schedule": {
            "evseId": evse_id,
            "duration": 600,
            "scheduleStart": now,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}],
        },
    }
    url = f"/api/v1/stations/CS201/evses/{evse_id}/composite-schedule"
    task = asyncio.create_task(api.get(url, params={"duration": 600, "unit": "A"}))
    assert await cs.expect("GetCompositeSchedule") == {
        "evseId": evse_id,
        "duration": 600,
        "chargingRateUnit": "A",
    }
    r = await task
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["station"]["schedule"]["periods"][0]["limit"] == 32.0
    assert body["volta"]["periods"][0]["limit"] == 32.0


# -- K09: reports -------------------------------------------------------------------------------


REPORTS = [
    # (case, GetChargingProfiles criteria through the API, expected request fields)
    ("TC_K_29_CSMS", {"evse_id": 0, "purpose": "ChargingStationMaxProfile"}),
    ("TC_K_30_CSMS", {"evse_id": 1, "purpose": "TxDefaultProfile"}),
    ("TC_K_31_CSMS", {"purpose": "TxDefaultProfile"}),
    ("TC_K_32_CSMS", {"profile_ids": [21]}),
    ("TC_K_33_CSMS", {"evse_id": 1, "stack_level": 0}),
    ("TC_K_34_CSMS", {"evse_id": 1, "sources": ["CSO"]}),
    ("TC_K_35_CSMS", {"evse_id": 1, "purpose": "TxDefaultProfile"}),
    ("TC_K_36_CSMS", {"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 0}),
]
_CRITERIA = {
    "purpose": "chargingProfilePurpose",
    "stack_level": "stackLevel",
    "profile_ids": "chargingProfileId",
    "sources": "chargingLimitSource",
}


@pytest.mark.parametrize("case, criteria", REPORTS)
async def test_get_charging_profiles(cs, api, answers, case, criteria):
    """K09: GetChargingProfilesRequest with the case's criteria (K09.FR.03:
    one at least); the station answers Accepted and reports, in two
    messages (tbc); Volta keeps what it reported."""
    if case == "TC_K_29_CSMS":
        await energy_transfer_started(cs)  # the case's reusable state
    answers["GetChargingProfiles"] = ACCEPTED
    task = asyncio.create_task(api.post(f"{PROFILES}/report", json=criteria))
    sent = await cs.expect("GetChargingProfiles")
    r = await task
    assert r.status_code == 202, r.text
    assert sent["requestId"] == r.json()["request_id"]
    assert sent.get("evseId") == criteria.get("evse_id")
    wanted = {_CRITERIA[k]: v for k, v in criteria.items() if k != "evse_id"}
    assert sent["chargingProfile"] == wanted
    evse = criteria.get("evse_id", 1)
    purpose = criteria.get("purpose", "TxDefaultProfile")
    for n, more in ((21, True), (22, False)):
        report = {
            "requestId": sent["requestId"],
            "chargingLimitSource": "CSO",
            "evseId": evse,
            "tbc": more,
            "chargingProfile": [profile(n, purpose)],
        }
        assert await cs.call("ReportChargingProfiles", report) == {}
    r = await api.get(PROFILES, params={"all": "true"})
    reported = [
        (e["evse_id"], p["profile_id"])
        for e in r.json()["evses"]
        for p in e["profiles"]
        if p["status"] == "Reported"
    ]
    assert sorted(reported) == [(evse, 21), (evse, 22)]


async def test_TC_K_52_CSMS(cs, api, answers):
    """K12: an EMS limit, then GetChargingProfiles; the station reports it as
    a ChargingStationExternalConstraints profile (source EMS)."""
    answers["GetChargingProfiles"] = ACCEPTED
    await notify_limit(cs)
    task = asyncio.create_task(api.post(f"{PROFILES}/report", json={"sources": ["EMS"]}))
    sent = await cs.expect("GetChargingProfiles")
    await task
    report = {
        "requestId": sent["requestId"],
        "chargingLimitSource": "EMS",
        "evseId": 1,
        "chargingProfile": [profile(1, "ChargingStationExternalConstraints", limit=16.0)],
    }
    assert await cs.call("ReportChargingProfiles", report) == {}
    r = await api.get(PROFILES, params={"all": "true", "evse_id": 1})
    (row,) = r.json()["evses"][0]["profiles"]
    assert (row["purpose"], row["status"], row["source"]) == (
        "ChargingStationExternalConstraints",
        "Reported",
        "station",
    )


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
    # The limit with its schedule is part of what Volta believes installed.
    assert await installed(api) == [(1, 0, "ChargingStationExternalConstraints")]


async def test_TC_K_50_CSMS(cs, api):
    """K13 without a transaction: ClearedChargingLimitRequest (EMS) is answered
    and the EMS limit Volta knew of ends."""
    await status(cs, "Available")
    await notify_limit(cs, evseId=1, chargingSchedule=[SCHEDULE])
    assert await cs.call("ClearedChargingLimit", {"chargingLimitSource": "EMS"}) == {}
    cleared = await events_of(api, "charging_limit.cleared")
    assert [(e["source"], e["cleared"]) for e in cleared] == [("EMS", 1)]
    assert await installed(api) == []


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


# -- K15-K17: ISO 15118 --------------------------------------------------------------------


async def on_site(api: Any, limit: float = 32.0) -> int:
    """The operator puts CS201 on a site: Volta plans its EVs' schedules."""
    r = await api.post("/api/v1/sites", json={"name": "depot", "max_current_a": limit})
    assert r.status_code == 201, r.text
    site_id = int(r.json()["id"])
    r = await api.put("/api/v1/stations/CS201", json={"site_id": site_id})
    assert r.status_code == 200, r.text
    return site_id


async def settle(cs: Station, quiet: float = 0.5) -> None:
    """Let the CSMS's CALLs so far pass (answered from `answers`)."""
    while True:
        try:
            await asyncio.wait_for(cs.received.get(), quiet)
        except TimeoutError:
            return


async def tx_profile_sent(cs: Station) -> dict[str, Any]:
    """The next TxProfile the CSMS sends (fallback TxDefaultProfiles pass by)."""
    while True:
        sent = await cs.expect("SetChargingProfile")
        if sent["chargingProfile"]["chargingProfilePurpose"] == "TxProfile":
            return sent


async def iso15118_session(cs: Station, api: Any) -> None:
    """Reusable states Authorized and EVConnectedPreSession, on a site."""
    await on_site(api)
    r = await cs.call(
        "TransactionEvent",
        event(
            "Started", 0, "CablePluggedIn", evse=EVSE, idToken=TOKEN, chargingState="EVConnected"
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    # The session's first TxProfile (the allocator's share, before any EV
    # needs), then quiet: a loaded machine may take longer than `settle`'s
    # pause to send it, and it must not be taken for the answer to the needs.
    await tx_profile_sent(cs)
    await settle(cs)


def needs(max_current: int = 16) -> dict[str, Any]:
    departure = iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    return {
        "evseId": 1,
        "maxScheduleTuples": 10,
        "chargingNeeds": {
            "requestedEnergyTransfer": "AC_three_phase",
            "departureTime": departure,
            "acChargingParameters": {
                "energyAmount": 20000,
                "evMinCurrent": 6,
                "evMaxCurrent": max_current,
                "evMaxVoltage": 400,
            },
        },
    }


async def ev_schedule(cs: Station, sent: dict[str, Any], factor: float = 1.0) -> dict[str, Any]:
    """NotifyEVChargingSchedule: the EV's schedule from the profile it was
    given (its limits times `factor`), from now."""
    given = sent["chargingProfile"]["chargingSchedule"][0]
    periods = [
        {**p, "limit": round(p["limit"] * factor, 1)} for p in given["chargingSchedulePeriod"]
    ]
    schedule = {
        "id": given["id"],
        "chargingRateUnit": given["chargingRateUnit"],
        "chargingSchedulePeriod": periods,
    }
    request = {"timeBase": iso(dt.datetime.now(dt.UTC)), "evseId": 1, "chargingSchedule": schedule}
    r: dict[str, Any] = await cs.call("NotifyEVChargingSchedule", request)
    return r


async def load_levelled(cs: Station, api: Any) -> dict[str, Any]:
    """K15 up to the EV's schedule: needs Accepted (K15.FR.03), then the
    TxProfile for the transaction (K15.FR.07)."""
    await iso15118_session(cs, api)
    assert (await cs.call("NotifyEVChargingNeeds", needs()))["status"] == "Accepted"
    sent = await tx_profile_sent(cs)
    assert sent["evseId"] == 1
    assert sent["chargingProfile"]["transactionId"] == "TX-1"
    return sent


async def test_TC_K_53_CSMS(cs, api, answers):
    """K15: load levelling: needs Accepted, a TxProfile with the
    transactionId, and the EV's schedule within it Accepted (K15.FR.11)."""
    answers["SetChargingProfile"] = ACCEPTED
    sent = await load_levelled(cs, api)
    limit = sent["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
    assert 6.0 <= limit <= 16.0  # the EV's range, within the site's 32 A
    assert await ev_schedule(cs, sent) == ACCEPTED


async def test_TC_K_55_CSMS(cs, api, answers):
    """K15.FR.12/13: an EV schedule above the limit is Rejected and Volta
    renegotiates with a new TxProfile, whose schedule is then Accepted."""
    answers["SetChargingProfile"] = ACCEPTED
    sent = await load_levelled(cs, api)
    r = await ev_schedule(cs, sent, factor=2.0)
    assert r["status"] == "Rejected"
    r = await cs.call(
        "TransactionEvent",
        event("Updated", 1, "ChargingStateChanged", evse=EVSE, chargingState="Charging"),
    )
    again = await tx_profile_sent(cs)
    assert (again["evseId"], again["chargingProfile"]["transactionId"]) == (1, "TX-1")
    assert await ev_schedule(cs, again) == ACCEPTED


async def test_TC_K_57_CSMS(cs, api, answers):
    """K17: the EV renegotiates (new needs, K17.FR.03): a new TxProfile
    follows (K17.FR.07) and the EV's schedule within it is Accepted."""
    answers["SetChargingProfile"] = ACCEPTED
    await load_levelled(cs, api)
    await settle(cs)
    assert (await cs.call("NotifyEVChargingNeeds", needs(max_current=10)))["status"] == "Accepted"
    sent = await tx_profile_sent(cs)
    assert sent["chargingProfile"]["transactionId"] == "TX-1"
    assert await ev_schedule(cs, sent) == ACCEPTED


async def site_limit_changed(api: Any, cs: Station, limit: float) -> dict[str, Any]:
    """K16: the CSMS renegotiates by itself: the site's limit changes (a grid
    operator's signal) and the EVSE gets a new TxProfile."""
    site_id = (await api.get("/api/v1/sites")).json()[0]["id"]
    task = asyncio.create_task(
        api.put(f"/api/v1/sites/{site_id}/limit", json={"max_current_a": limit})
    )
    sent = await tx_profile_sent(cs)
    assert (await task).status_code == 200
    assert sent["chargingProfile"]["transactionId"] == "TX-1"
    return sent


async def test_TC_K_58_CSMS(cs, api, answers):
    """K16: a TxProfile the CSMS sends on its own (the site's limit fell);
    the EV's schedule within it is Accepted (K16.FR.06)."""
    answers["SetChargingProfile"] = ACCEPTED
    await load_levelled(cs, api)
    await settle(cs)
    sent = await site_limit_changed(api, cs, 8.0)
    limit = sent["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"][0]["limit"]
    assert limit <= 8.0
    assert await ev_schedule(cs, sent) == ACCEPTED


async def test_TC_K_59_CSMS(cs, api, answers):
    """K16 then K17: after the CSMS's new TxProfile the EV sends new needs;
    Volta answers Accepted and sends another TxProfile, then accepts the
    EV's schedule."""
    answers["SetChargingProfile"] = ACCEPTED
    await load_levelled(cs, api)
    await settle(cs)
    await site_limit_changed(api, cs, 10.0)
    await settle(cs)
    assert (await cs.call("NotifyEVChargingNeeds", needs()))["status"] == "Accepted"
    sent = await tx_profile_sent(cs)
    assert await ev_schedule(cs, sent) == ACCEPTED


async def test_TC_K_37_CSMS(cs, api, answers):
    """K05 / F01.FR.08-11: RequestStartTransaction carries a TxProfile (no
    transactionId: the station does not know it yet); once the transaction
    starts, Volta holds the profile as installed on that EVSE."""
    answers["RequestStartTransaction"] = {"status": "Accepted"}
    body = profile(20, "TxProfile", kind="Relative", limit=16.0)
    task = asyncio.create_task(
        api.post(
            "/api/v1/remote-starts",
            json={
                "station_id": "CS201",
                "id_token": VALID,
                "evse_id": 1,
                "charging_profile": body,
            },
        )
    )
    expect = asyncio.create_task(cs.expect("RequestStartTransaction"))
    await asyncio.wait({task, expect}, return_when=asyncio.FIRST_COMPLETED)
    assert expect.done() or task.result().status_code < 400, task.result().text
    sent = await expect
    r = await task
    assert r.status_code == 201, r.text
    p = sent["chargingProfile"]
    assert p["id"] == 20 and p["chargingProfilePurpose"] == "TxProfile"
    assert "transactionId" not in p  # F01.FR.11
    assert sent["evseId"] == 1 and sent["remoteStartId"] == r.json()["id"]
    await cs.call(
        "TransactionEvent",
        event(
            "Started",
            0,
            "RemoteStart",
            remoteStartId=sent["remoteStartId"],
            idToken=TOKEN,
            evse=EVSE,
        ),
    )
    assert await installed(api, 1) == [(1, 20, "TxProfile")]
