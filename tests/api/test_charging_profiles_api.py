"""Charging profiles through the HTTP API, answered by real 1.6 and 2.0.1
test stations over WebSockets, on SQLite and PostgreSQL.

POST installs (SetChargingProfile, 1.6 §5.16 / 2.0.1 K01), GET shows what
Volta believes installed per EVSE, DELETE clears (1.6 §5.5 / K10), the
composite endpoint puts the station's GetCompositeSchedule answer (1.6 §5.7
/ K08) beside Volta's own, and /report asks a 2.0.1 station for its
profiles (K09). The rules checked before sending are in
test_charging_profiles_rules.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.helpers import add_token, answer, now_iso, register, station


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"call_timeout": 1.0}


async def wait_online(volta: Any, station_id: str, online: bool = True) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while (volta.router.version_of(station_id) is not None) != online:
        assert loop.time() < deadline, f"{station_id} never became online={online}"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def online(volta: Any, station_id: str, version: str, **answers: Any) -> AsyncIterator[Any]:
    """A registered station of `version` whose smart-charging answers are
    `answers` by action (Accepted unless told)."""
    await register(volta, station_id)
    async with station(volta, station_id, version) as cp:
        cp.handlers["SetChargingProfile"] = answer({"status": "Accepted"})
        cp.handlers["ClearChargingProfile"] = answer({"status": "Accepted"})
        for action, handler in answers.items():
            cp.handlers[action] = handler
        await wait_online(volta, station_id)
        yield cp


def v201_profile(pid: int = 7, **over: Any) -> dict[str, Any]:
    schedule = {
        "id": 1,
        "startSchedule": "2026-01-01T00:00:00Z",
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        **over.pop("schedule", {}),
    }
    return {
        "id": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
        **over,
    }


def v16_profile(pid: int = 7, **over: Any) -> dict[str, Any]:
    return {
        "chargingProfileId": pid,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
        },
        **over,
    }


def sent(cp: Any, action: str) -> list[dict[str, Any]]:
    return [p for a, p in cp.received if a == action]


async def installed(api: Any, station_id: str, **query: Any) -> dict[int, list[int]]:
    """The installed profile ids per EVSE, as GET shows them."""
    r = await api.get(f"/api/v1/stations/{station_id}/charging-profiles", params=query)
    assert r.status_code == 200, r.text
    return {e["evse_id"]: [p["profile_id"] for p in e["profiles"]] for e in r.json()["evses"]}


async def post(api: Any, station_id: str, evse_id: int, profile: dict[str, Any]) -> Any:
    return await api.post(
        f"/api/v1/stations/{station_id}/charging-profiles",
        json={"evse_id": evse_id, "profile": profile},
    )


# -- install ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["v201", "v16"])
async def test_install_accepted_v16(volta, api, shape):
    """1.6 §5.16: either wire shape is accepted by the API and reaches a 1.6
    station as csChargingProfiles on its connector; the station's Accepted
    makes it installed."""
    async with online(volta, "P16", "1.6") as cp:
        profile = v201_profile() if shape == "v201" else v16_profile()
        if shape == "v201":
            del profile["chargingSchedule"][0]["startSchedule"]  # 1.6 allows none
        r = await post(api, "P16", 1, profile)
        assert r.status_code == 201, r.text
        body = r.json()
        assert (body["status"], body["source"], body["profile_id"]) == ("Accepted", "api", 7)
        assert body["command"]["status"] == "accepted"
        (got,) = sent(cp, "SetChargingProfile")
        assert got["connector_id"] == 1
        assert got["cs_charging_profiles"]["charging_profile_id"] == 7
        assert got["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        assert got["cs_charging_profiles"]["charging_schedule"]["charging_rate_unit"] == "A"
    assert await installed(api, "P16") == {1: [7]}


async def test_install_station_max_v16_uses_its_name(volta, api):
    """1.6 calls the station-wide maximum ChargePointMaxProfile (§3.13.1)."""
    async with online(volta, "PM16", "1.6") as cp:
        profile = v16_profile(3, chargingProfilePurpose="ChargePointMaxProfile")
        r = await post(api, "PM16", 0, profile)
        assert r.status_code == 201, r.text
        assert r.json()["purpose"] == "ChargingStationMaxProfile"
        (got,) = sent(cp, "SetChargingProfile")
        assert got["cs_charging_profiles"]["charging_profile_purpose"] == "ChargePointMaxProfile"
    assert await installed(api, "PM16", purpose="ChargePointMaxProfile") == {0: [3]}


async def test_install_accepted_v201(volta, api):
    """K01: a 2.0.1 station gets evseId and the ChargingProfileType."""
    async with online(volta, "P201", "2.0.1") as cp:
        r = await post(api, "P201", 2, v201_profile(9))
        assert r.status_code == 201, r.text
        (got,) = sent(cp, "SetChargingProfile")
        assert got["evse_id"] == 2
        assert got["charging_profile"]["id"] == 9
        assert got["charging_profile"]["charging_schedule"][0]["charging_schedule_period"] == [
            {"start_period": 0, "limit": 16.0}
        ]
    assert await installed(api, "P201") == {2: [9]}
    assert await installed(api, "P201", evse_id=1) == {}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_rejected_is_409_and_not_installed(volta, api, version):
    async with online(
        volta, "PR", version, SetChargingProfile=answer({"status": "Rejected"})
    ) as cp:
        r = await post(api, "PR", 1, v201_profile())
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["station_status"] == "Rejected"
        assert "answered SetChargingProfile Rejected" in body["detail"]
        assert body["profile"]["status"] == "Rejected"
        assert len(sent(cp, "SetChargingProfile")) == 1
    assert await installed(api, "PR") == {}
    history = (await api.get("/api/v1/stations/PR/charging-profiles?all=true")).json()
    assert [p["status"] for p in history["evses"][0]["profiles"]] == ["Rejected"]


async def test_offline_station_is_409_failed(volta, api):
    """A station that connected once but is offline now: the command is
    recorded `offline`, the profile `Failed`, nothing installed."""
    async with online(volta, "POFF", "2.0.1"):
        pass
    await wait_online(volta, "POFF", online=False)
    r = await post(api, "POFF", 1, v201_profile())
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["station_status"] is None
    assert body["profile"]["status"] == "Failed"
    assert body["profile"]["command"]["status"] == "offline"
    assert await installed(api, "POFF") == {}


async def test_no_answer_is_409_failed(volta, api):
    """A station that does not answer within the call timeout: Failed."""

    async def silent(request: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(3)
        return {"status": "Accepted"}

    async with online(volta, "PSIL", "1.6", SetChargingProfile=silent):
        r = await post(api, "PSIL", 1, v16_profile())
        assert r.status_code == 409, r.text
        body = r.json()
        assert (body["station_status"], body["profile"]["status"]) == (None, "Failed")
        assert body["profile"]["command"]["status"] == "timeout"
        assert "did not answer SetChargingProfile (timeout)" in body["detail"]
    assert await installed(api, "PSIL") == {}


async def test_never_connected_and_unknown(volta, api):
    await register(volta, "PNEW")
    r = await post(api, "PNEW", 1, v201_profile())
    assert r.status_code == 409
    assert "never connected" in r.json()["detail"]
    r = await post(api, "NOPE", 1, v201_profile())
    assert r.status_code == 404
    assert r.json()["detail"] == "station NOPE not found"
    assert (await api.get("/api/v1/stations/NOPE/charging-profiles")).status_code == 404


# -- the replace rule -------------------------------------------------------------


async def test_replace_same_id_and_same_slot_v16(volta, api):
    """1.6 §5.16: the same chargingProfileId, or the same stackLevel and
    purpose on the connector, replaces the installed profile."""
    async with online(volta, "PREP", "1.6"):
        assert (await post(api, "PREP", 1, v16_profile(1))).status_code == 201
        same_id = v16_profile(1)
        same_id["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = 10.0
        assert (await post(api, "PREP", 1, same_id)).status_code == 201
        assert (await post(api, "PREP", 1, v16_profile(2))).status_code == 201
        # Another stack level sits beside it.
        assert (await post(api, "PREP", 1, v16_profile(3, stackLevel=2))).status_code == 201
    assert await installed(api, "PREP") == {1: [2, 3]}
    history = (await api.get("/api/v1/stations/PREP/charging-profiles?all=true")).json()
    statuses = [(p["profile_id"], p["status"]) for p in history["evses"][0]["profiles"]]
    assert statuses == [(3, "Accepted"), (2, "Accepted"), (1, "Replaced"), (1, "Replaced")]


async def test_same_slot_other_id_refused_v201(volta, api):
    """2.0.1 K01.FR.06: the CSMS must not send another id into the same EVSE,
    purpose and stack level with overlapping validity; the same id replaces
    (K01.FR.05)."""
    async with online(volta, "PSLOT", "2.0.1") as cp:
        first = v201_profile(1, validTo="2098-01-01T00:00:00Z")
        assert (await post(api, "PSLOT", 1, first)).status_code == 201
        r = await post(api, "PSLOT", 1, v201_profile(2))
        assert r.status_code == 422
        assert "K01.FR.06" in r.json()["detail"]
        # Not overlapping in validity: allowed.
        later = v201_profile(3, validFrom="2099-01-01T00:00:00Z", validTo="2099-02-01T00:00:00Z")
        assert (await post(api, "PSLOT", 1, later)).status_code == 201
        again = v201_profile(
            1,
            validTo="2098-01-01T00:00:00Z",
            schedule={"chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8}]},
        )
        assert (await post(api, "PSLOT", 1, again)).status_code == 201
        assert len(sent(cp, "SetChargingProfile")) == 3
    assert await installed(api, "PSLOT") == {1: [3, 1]}


# -- clear ------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_clear_by_id(volta, api, version):
    async with online(volta, "PCL", version) as cp:
        await post(api, "PCL", 1, v201_profile(1) if version == "2.0.1" else v16_profile(1))
        await post(api, "PCL", 2, v201_profile(2) if version == "2.0.1" else v16_profile(2))
        r = await api.delete("/api/v1/stations/PCL/charging-profiles/1")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["station_status"] == "Accepted"
        assert [p["profile_id"] for p in body["cleared"]] == [1]
        (got,) = sent(cp, "ClearChargingProfile")
        assert got == ({"id": 1} if version == "1.6" else {"charging_profile_id": 1})
    assert await installed(api, "PCL") == {2: [2]}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_clear_by_criteria(volta, api, version):
    """Only the profiles matching every criterion given are cleared."""
    shape = v201_profile if version == "2.0.1" else v16_profile
    async with online(volta, "PCC", version) as cp:
        await post(api, "PCC", 1, shape(1))
        await post(api, "PCC", 1, shape(2, stackLevel=2))
        await post(api, "PCC", 2, shape(3))
        r = await api.delete(
            "/api/v1/stations/PCC/charging-profiles",
            params={"evse_id": 1, "purpose": "TxDefaultProfile", "stack_level": 2},
        )
        assert r.status_code == 200, r.text
        assert [p["profile_id"] for p in r.json()["cleared"]] == [2]
        (got,) = sent(cp, "ClearChargingProfile")
        if version == "1.6":
            assert got == {
                "connector_id": 1,
                "charging_profile_purpose": "TxDefaultProfile",
                "stack_level": 2,
            }
        else:
            assert got == {
                "charging_profile_criteria": {
                    "evse_id": 1,
                    "charging_profile_purpose": "TxDefaultProfile",
                    "stack_level": 2,
                }
            }
    assert await installed(api, "PCC") == {1: [1], 2: [3]}


async def test_clear_unknown_forgets_and_offline_is_409(volta, api):
    """K10: Unknown means the station holds none that match: Volta's belief
    was stale and is corrected. No answer at all clears nothing."""
    async with online(volta, "PCU", "2.0.1") as cp:
        await post(api, "PCU", 1, v201_profile(1))
        cp.handlers["ClearChargingProfile"] = answer({"status": "Unknown"})
        r = await api.delete("/api/v1/stations/PCU/charging-profiles/1")
        assert r.status_code == 200
        assert r.json()["station_status"] == "Unknown"
        assert await installed(api, "PCU") == {}
        await post(api, "PCU", 1, v201_profile(1))
    await wait_online(volta, "PCU", online=False)
    r = await api.delete("/api/v1/stations/PCU/charging-profiles/1")
    assert r.status_code == 409
    assert "did not answer" in r.json()["detail"]
    assert await installed(api, "PCU") == {1: [1]}


async def test_clear_bad_purpose_is_422(volta, api):
    await register(volta, "PBQ")
    r = await api.delete("/api/v1/stations/PBQ/charging-profiles", params={"purpose": "Max"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "purpose"]


# -- composite schedule and report -------------------------------------------------


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_composite_schedule_beside_voltas(volta, api, version):
    """The station's GetCompositeSchedule answer, parsed, beside Volta's own
    computation: a 16 A default on EVSE 1 under a 10 A station maximum is
    10 A (1.6 §3.13.3: the lowest of the purposes)."""
    if version == "1.6":
        station_answer = {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": now_iso(),
            "chargingSchedule": {
                "duration": 600,
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        }
    else:
        station_answer = {
            "status": "Accepted",
            "schedule": {
                "evseId": 1,
                "duration": 600,
                "scheduleStart": now_iso(),
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        }
    async with online(volta, "PCS", version, GetCompositeSchedule=answer(station_answer)) as cp:
        default = v201_profile(1, schedule={"startSchedule": "2020-01-01T00:00:00Z"})
        assert (await post(api, "PCS", 1, default)).status_code == 201
        cap = v201_profile(
            2,
            chargingProfilePurpose="ChargingStationMaxProfile",
            schedule={
                "startSchedule": "2020-01-01T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
            },
        )
        assert (await post(api, "PCS", 0, cap)).status_code == 201
        r = await api.get(
            "/api/v1/stations/PCS/evses/1/composite-schedule",
            params={"duration": 600, "unit": "A"},
        )
        assert r.status_code == 200, r.text
        body = r.json()
        (asked,) = sent(cp, "GetCompositeSchedule")
        assert asked["duration"] == 600 and asked["charging_rate_unit"] == "A"
    assert body["station"]["command"]["status"] == "accepted"
    assert body["station"]["schedule"]["periods"] == [
        {"start_s": 0, "limit": 10.0, "number_phases": None, "phase_to_use": None}
    ]
    assert body["volta"]["unit"] == "A"
    assert body["volta"]["duration_s"] == 600
    assert [(p["start_s"], p["limit"]) for p in body["volta"]["periods"]] == [(0, 10.0)]


async def test_composite_unlimited_is_null_and_station_rejects(volta, api):
    """Nothing installed: Volta's composite has no limit (null); a station
    that rejects the request has no schedule."""
    async with online(volta, "PCN", "2.0.1", GetCompositeSchedule=answer({"status": "Rejected"})):
        r = await api.get("/api/v1/stations/PCN/evses/1/composite-schedule?duration=60")
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["station"]["schedule"] is None
    assert body["station"]["command"]["status"] == "rejected"
    assert [p["limit"] for p in body["volta"]["periods"]] == [None]
    bad = await api.get("/api/v1/stations/PCN/evses/1/composite-schedule?duration=0")
    assert bad.status_code == 422


async def test_report_request_v201_and_not_in_v16(volta, api):
    """K09: GetChargingProfiles with a requestId; without criteria every
    source is asked for (K09.FR.03 wants one). 1.6 has no such message."""
    async with online(
        volta, "PRP", "2.0.1", GetChargingProfiles=answer({"status": "NoProfiles"})
    ) as cp:
        r = await api.post("/api/v1/stations/PRP/charging-profiles/report")
        assert r.status_code == 202, r.text
        body = r.json()
        (got,) = sent(cp, "GetChargingProfiles")
        assert got["request_id"] == body["request_id"]
        assert got["charging_profile"] == {"charging_limit_source": ["CSO", "EMS", "SO", "Other"]}
        assert body["command"]["response"] == {"status": "NoProfiles"}
        both = await api.post(
            "/api/v1/stations/PRP/charging-profiles/report",
            json={"profile_ids": [1], "purpose": "TxProfile"},
        )
        assert both.status_code == 422
        assert "K09.FR.03" in both.json()["detail"]
    async with online(volta, "PRP16", "1.6"):
        r = await api.post("/api/v1/stations/PRP16/charging-profiles/report")
        assert r.status_code == 409
        assert "GetChargingProfiles" in r.json()["detail"]


# -- a remote start with a profile ----------------------------------------------------


def start_profile(version: str, pid: int = 40) -> dict[str, Any]:
    if version == "1.6":
        return v16_profile(pid, chargingProfilePurpose="TxProfile", chargingProfileKind="Relative")
    body = v201_profile(pid, chargingProfilePurpose="TxProfile", chargingProfileKind="Relative")
    del body["chargingSchedule"][0]["startSchedule"]
    return body


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_with_profile(volta, api, version):
    """1.6 §5.11 / 2.0.1 F01.FR.08: the TxProfile goes with the start
    request; accepted, it is installed for the transaction to come, follows
    that transaction, and is gone when it ends."""
    await add_token(volta, "APP-P", token_type="Central")
    async with online(volta, "PRS", version) as cp:
        r = await api.post(
            "/api/v1/remote-starts",
            json={
                "station_id": "PRS",
                "id_token": "APP-P",
                "evse_id": 1,
                "charging_profile": start_profile(version),
            },
        )
        assert r.status_code == 201, r.text
        remote = r.json()
        if version == "1.6":
            (got,) = sent(cp, "RemoteStartTransaction")
            assert got["charging_profile"]["charging_profile_purpose"] == "TxProfile"
            assert got["charging_profile"]["charging_profile_id"] == 40
        else:
            (got,) = sent(cp, "RequestStartTransaction")
            assert got["charging_profile"]["id"] == 40
            assert "transaction_id" not in got["charging_profile"]  # F01.FR.11
        assert await installed(api, "PRS") == {1: [40]}
        # The transaction starts, linked to the request; then it ends.
        if version == "1.6":
            start = await cp.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": "APP-P", "meterStart": 0, "timestamp": now_iso()},
            )
            tx = start["transactionId"]
        else:
            event = {
                "timestamp": now_iso(),
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-RS", "remoteStartId": remote["id"]},
                "evse": {"id": 1, "connectorId": 1},
            }
            await cp.call(
                "TransactionEvent",
                {**event, "eventType": "Started", "triggerReason": "RemoteStart"},
            )
        got_start = (await api.get(f"/api/v1/remote-starts/{remote['id']}")).json()
        assert got_start["status"] == "Started"
        assert await installed(api, "PRS") == {1: [40]}
        if version == "1.6":
            await cp.call(
                "StopTransaction",
                {"transactionId": tx, "meterStop": 10, "timestamp": now_iso()},
            )
        else:
            await cp.call(
                "TransactionEvent",
                {**event, "seqNo": 1, "eventType": "Ended", "triggerReason": "StopAuthorized"},
            )
    assert await installed(api, "PRS") == {}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_profile_rules(volta, api, version):
    """A remote start's profile is a TxProfile (1.6 §5.11, F01.FR.09), for an
    EVSE, without a transactionId (F01.FR.11): else 422 and nothing sent."""
    await add_token(volta, "APP-R", token_type="Central")
    default = start_profile(version)
    default["chargingProfilePurpose"] = "TxDefaultProfile"
    with_tx = start_profile(version)
    with_tx["transactionId"] = 5 if version == "1.6" else "T5"
    async with online(volta, "PRR", version) as cp:
        for evse, body, expect in (
            (1, default, "§5.11" if version == "1.6" else "F01.FR.09"),
            (1, with_tx, "F01.FR.11"),
            (None, start_profile(version), "needs an evse_id"),
        ):
            r = await api.post(
                "/api/v1/remote-starts",
                json={
                    "station_id": "PRR",
                    "id_token": "APP-R",
                    "evse_id": evse,
                    "charging_profile": body,
                },
            )
            assert r.status_code == 422, r.text
            assert expect in r.json()["detail"]
            assert r.json()["errors"][0]["loc"] == ["body", "charging_profile"]
        assert cp.received == []
