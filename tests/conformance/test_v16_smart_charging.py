"""OCPP 1.6 Central System test cases (Compliancy Testing Tool), Smart
Charging. Each test is named by its test case id; the charge point is played
over a real WebSocket, the operator's part through the HTTP API (the profile
in 1.6's own wire shape, as an operator of 1.6 chargers writes it)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from tests.conformance.conftest import VALID, Station
from tests.conformance.test_v16 import charging
from tests.helpers import now_iso

PROFILES = "/api/v1/stations/CP16/charging-profiles"
ACCEPTED = {"status": "Accepted"}


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def cs_profile(
    profile_id: int,
    purpose: str,
    *,
    level: int = 0,
    limit: float = 16.0,
    kind: str = "Absolute",
    tx: int | None = None,
) -> dict[str, Any]:
    """A 1.6 csChargingProfiles object; Absolute ones valid and scheduled
    from now for an hour."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
    }
    body: dict[str, Any] = {
        "chargingProfileId": profile_id,
        "stackLevel": level,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
    }
    if tx is not None:
        body["transactionId"] = tx
    if kind == "Absolute":
        body |= {"validFrom": iso(now), "validTo": iso(now + dt.timedelta(hours=1))}
        schedule |= {"startSchedule": iso(now), "duration": 3600}
    return {**body, "chargingSchedule": schedule}


async def install(
    api: Any, cp: Station, connector: int, body: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    task = asyncio.create_task(api.post(PROFILES, json={"evse_id": connector, "profile": body}))
    sent = asyncio.create_task(cp.expect("SetChargingProfile"))
    await asyncio.wait({task, sent}, return_when=asyncio.FIRST_COMPLETED)
    assert sent.done() or task.result().status_code < 400, task.result().text
    return await task, await sent


async def installed(api: Any) -> list[tuple[int, int, str]]:
    r = await api.get(PROFILES)
    assert r.status_code == 200, r.text
    return sorted(
        (e["evse_id"], p["profile_id"], p["purpose"])
        for e in r.json()["evses"]
        for p in e["profiles"]
    )


async def test_TC_056_CSMS(cp, api, answers):
    """A default schedule for new transactions: TxDefaultProfile."""
    answers["SetChargingProfile"] = ACCEPTED
    r, sent = await install(api, cp, 0, cs_profile(1, "TxDefaultProfile"))
    assert r.status_code == 201, r.text
    assert sent["connectorId"] == 0
    p = sent["csChargingProfiles"]
    assert (p["chargingProfilePurpose"], p["chargingProfileId"]) == ("TxDefaultProfile", 1)
    assert "transactionId" not in p
    assert await installed(api) == [(0, 1, "TxDefaultProfile")]


async def test_TC_057_CSMS(cp, api, answers):
    """A schedule for the running transaction: TxProfile on its connector with
    its transactionId, no recurrencyKind; Absolute with validFrom, validTo,
    startSchedule and duration."""
    answers["SetChargingProfile"] = ACCEPTED
    tx = await charging(cp)
    r, sent = await install(api, cp, 1, cs_profile(2, "TxProfile", tx=tx))
    assert r.status_code == 201, r.text
    assert sent["connectorId"] == 1
    p = sent["csChargingProfiles"]
    assert (p["chargingProfilePurpose"], p["transactionId"]) == ("TxProfile", tx)
    assert "recurrencyKind" not in p and {"validFrom", "validTo"} <= set(p)
    assert {"startSchedule", "duration"} <= set(p["chargingSchedule"])
    assert await installed(api) == [(1, 2, "TxProfile")]


async def test_TC_066_CSMS(cp, api, answers):
    """GetCompositeSchedule for a connector, with duration and
    chargingRateUnit; the station's answer beside Volta's own."""
    answers["SetChargingProfile"] = ACCEPTED
    await install(api, cp, 0, cs_profile(3, "ChargePointMaxProfile", limit=32.0))
    answers["GetCompositeSchedule"] = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": iso(dt.datetime.now(dt.UTC)),
        "chargingSchedule": {
            "duration": 600,
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 32.0}],
        },
    }
    url = "/api/v1/stations/CP16/evses/1/composite-schedule"
    task = asyncio.create_task(api.get(url, params={"duration": 600, "unit": "A"}))
    assert await cp.expect("GetCompositeSchedule") == {
        "connectorId": 1,
        "duration": 600,
        "chargingRateUnit": "A",
    }
    r = await task
    assert r.status_code == 200, r.text
    assert r.json()["station"]["schedule"]["periods"][0]["limit"] == 32.0
    assert r.json()["volta"]["periods"][0]["limit"] == 32.0


async def test_TC_067_CSMS(cp, api, answers):
    """Three profiles (the first a ChargePointMaxProfile on connector 0
    without transactionId), then ClearChargingProfile by id, by criteria,
    and for all that remain."""
    answers["SetChargingProfile"] = ACCEPTED
    answers["ClearChargingProfile"] = ACCEPTED
    tx = await charging(cp)
    _, first = await install(api, cp, 0, cs_profile(4, "ChargePointMaxProfile", level=1))
    assert first["connectorId"] == 0 and "transactionId" not in first["csChargingProfiles"]
    await install(api, cp, 1, cs_profile(5, "TxDefaultProfile", level=1))
    await install(api, cp, 1, cs_profile(6, "TxProfile", level=2, tx=tx))
    assert len(await installed(api)) == 3

    async def clear(url: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        task = asyncio.create_task(api.delete(url, params=params))
        sent = await cp.expect("ClearChargingProfile")
        r = await task
        assert r.status_code == 200 and r.json()["station_status"] == "Accepted", r.text
        return sent

    assert await clear(f"{PROFILES}/4") == {"id": 4}
    by_criteria = await clear(PROFILES, {"evse_id": 1, "purpose": "TxDefaultProfile"})
    assert by_criteria == {"connectorId": 1, "chargingProfilePurpose": "TxDefaultProfile"}
    assert await installed(api) == [(1, 6, "TxProfile")]
    assert await clear(PROFILES) == {}
    assert await installed(api) == []


async def test_TC_059_CSMS(cp, api, answers):
    """1.6 §5.11: RemoteStartTransaction with a TxProfile (no transactionId);
    the profile is installed for the transaction that starts."""
    answers["RemoteStartTransaction"] = ACCEPTED
    body = cs_profile(21, "TxProfile", kind="Relative", limit=16.0)
    task = asyncio.create_task(
        api.post(
            "/api/v1/remote-starts",
            json={"station_id": "CP16", "id_token": VALID, "evse_id": 1, "charging_profile": body},
        )
    )
    sent = await cp.expect("RemoteStartTransaction")
    r = await task
    assert r.status_code == 201, r.text
    p = sent["chargingProfile"]
    assert p["chargingProfileId"] == 21 and p["chargingProfilePurpose"] == "TxProfile"
    assert "transactionId" not in p
    assert sent["connectorId"] == 1 and sent["idTag"] == VALID
    started = await cp.call(
        "StartTransaction",
        {"connectorId": 1, "idTag": VALID, "meterStart": 0, "timestamp": now_iso()},
    )
    assert started["idTagInfo"]["status"] == "Accepted"
    assert [(e, i) for e, i, _ in await installed(api)] == [(1, 21)]
