"""The rules a charging profile must keep before Volta sends it, each a 422
naming its requirement (2.0.1 K01.FR.xx, 1.6 §3.13 / §5.16), with nothing
sent to the station; and TxProfiles of running transactions, which pass.
Real 1.6 and 2.0.1 stations over WebSockets, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_charging_profiles_api import (
    installed,
    online,
    post,
    sent,
    v16_profile,
    v201_profile,
)
from tests.helpers import add_token, now_iso


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"call_timeout": 1.0}


CASES_201: list[tuple[str, int, dict[str, Any], str]] = [
    ("tx without transactionId", 1, v201_profile(chargingProfilePurpose="TxProfile"), "K01.FR.03"),
    (
        "tx on evse 0",
        0,
        v201_profile(chargingProfilePurpose="TxProfile", transactionId="T1"),
        "K01.FR.16",
    ),
    (
        "tx of no active transaction",
        1,
        v201_profile(chargingProfilePurpose="TxProfile", transactionId="T1"),
        "K01.FR.09",
    ),
    (
        "external constraints",
        0,
        v201_profile(chargingProfilePurpose="ChargingStationExternalConstraints"),
        "K01.FR.22",
    ),
    (
        "station max on an evse",
        1,
        v201_profile(chargingProfilePurpose="ChargingStationMaxProfile"),
        "evseId 0 only",
    ),
    (
        "station max relative",
        0,
        v201_profile(
            chargingProfilePurpose="ChargingStationMaxProfile",
            chargingProfileKind="Relative",
            schedule={"startSchedule": None},
        ),
        "K01.FR.38",
    ),
    (
        "first period not 0",
        1,
        v201_profile(schedule={"chargingSchedulePeriod": [{"startPeriod": 5, "limit": 1}]}),
        "K01.FR.31",
    ),
    (
        "periods not increasing",
        1,
        v201_profile(
            schedule={
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 1},
                    {"startPeriod": 60, "limit": 2},
                    {"startPeriod": 60, "limit": 3},
                ]
            }
        ),
        "K01.FR.35",
    ),
    (
        "recurring without recurrencyKind",
        1,
        v201_profile(chargingProfileKind="Recurring"),
        "recurrencyKind Daily or Weekly",
    ),
    (
        "absolute without startSchedule",
        1,
        v201_profile(schedule={"startSchedule": None}),
        "K01.FR.40",
    ),
    ("relative with startSchedule", 1, v201_profile(chargingProfileKind="Relative"), "K01.FR.41"),
    (
        "phaseToUse with 3 phases",
        1,
        v201_profile(
            schedule={
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16, "numberPhases": 3, "phaseToUse": 1}
                ]
            }
        ),
        "K01.FR.19",
    ),
    (
        "validTo before validFrom",
        1,
        v201_profile(validFrom="2026-02-01T00:00:00Z", validTo="2026-01-01T00:00:00Z"),
        "validTo must be after validFrom",
    ),
    (
        "negative limit",
        1,
        v201_profile(schedule={"chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1}]}),
        "limit must be 0 or more",
    ),
    ("unit", 1, v201_profile(schedule={"chargingRateUnit": "kW"}), "not a valid 2.0.1"),
    (
        "two schedules on a default",
        1,
        {**v201_profile(), "chargingSchedule": [v201_profile()["chargingSchedule"][0]] * 2},
        "only for a TxProfile",
    ),
    ("allocator's id range", 1, v201_profile(1_000_001), "reserved for the site allocator"),
]


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


@pytest.mark.parametrize(
    ("evse_id", "profile", "expect"),
    [c[1:] for c in CASES_201],
    ids=[c[0] for c in CASES_201],
)
async def test_invalid_profiles_v201_are_422(volta, api, evse_id, profile, expect):
    """Each rule is a 422 naming it, and nothing reaches the station."""
    async with online(volta, "PV", "2.0.1") as cp:
        r = await post(api, "PV", evse_id, _strip_none(profile))
        assert r.status_code == 422, r.text
        body = r.json()
        assert expect in body["detail"], body
        assert body["errors"][0]["loc"] == ["body", "profile"]
        assert sent(cp, "SetChargingProfile") == []
    assert await installed(api, "PV", all="true") == {}


CASES_16: list[tuple[str, int, dict[str, Any], str]] = [
    (
        "max on a connector",
        1,
        v16_profile(chargingProfilePurpose="ChargePointMaxProfile"),
        "connectorId 0 only",
    ),
    (
        "external constraints",
        0,
        v201_profile(chargingProfilePurpose="ChargingStationExternalConstraints"),
        "OCPP 1.6 has no ChargingStationExternalConstraints",
    ),
    ("tx on connector 0", 0, v16_profile(chargingProfilePurpose="TxProfile"), "not connectorId 0"),
    ("tx without transaction", 1, v16_profile(chargingProfilePurpose="TxProfile"), "§5.16"),
    (
        "tx of another transaction",
        1,
        v16_profile(chargingProfilePurpose="TxProfile", transactionId=999),
        "transaction 999 is not active on connector 1",
    ),
    (
        "phaseToUse",
        1,
        v201_profile(
            schedule={
                "startSchedule": None,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16, "numberPhases": 1, "phaseToUse": 1}
                ],
            }
        ),
        "OCPP 1.6 has no phaseToUse",
    ),
    ("bad 1.6 shape", 1, {**v16_profile(), "stackLevel": "high"}, "not a valid 1.6"),
]


@pytest.mark.parametrize(
    ("evse_id", "profile", "expect"),
    [c[1:] for c in CASES_16],
    ids=[c[0] for c in CASES_16],
)
async def test_invalid_profiles_v16_are_422(volta, api, evse_id, profile, expect):
    async with online(volta, "PV16", "1.6") as cp:
        r = await post(api, "PV16", evse_id, _strip_none(profile))
        assert r.status_code == 422, r.text
        assert expect in r.json()["detail"]
        assert sent(cp, "SetChargingProfile") == []


async def test_tx_profile_of_running_transaction_v16(volta, api):
    """1.6 §5.16: a TxProfile for the transaction running on the connector
    is sent; one naming no transaction is told which one runs. It is no
    longer installed once its transaction ends (§3.13.1)."""
    await add_token(volta, "CARD-P")
    async with online(volta, "PTX", "1.6") as cp:
        start = await cp.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "CARD-P", "meterStart": 0, "timestamp": now_iso()},
        )
        tx = start["transactionId"]
        r = await post(api, "PTX", 1, v16_profile(5, chargingProfilePurpose="TxProfile"))
        assert r.status_code == 422
        assert f"the active one on EVSE 1 is {tx}" in r.json()["detail"]
        tx_profile = v16_profile(5, chargingProfilePurpose="TxProfile", transactionId=tx)
        r = await post(api, "PTX", 1, tx_profile)
        assert r.status_code == 201, r.text
        assert r.json()["transaction_id"] == str(tx)
        (got,) = sent(cp, "SetChargingProfile")
        assert got["cs_charging_profiles"]["transaction_id"] == tx
        assert await installed(api, "PTX") == {1: [5]}
        # §3.13.1: a TxProfile ends with its transaction.
        await cp.call(
            "StopTransaction", {"transactionId": tx, "meterStop": 100, "timestamp": now_iso()}
        )
    assert await installed(api, "PTX") == {}
    assert await installed(api, "PTX", all="true") == {1: [5]}


async def test_tx_profile_of_running_transaction_v201(volta, api):
    """K01.FR.03 / K01.FR.09: the station's own transactionId, on its EVSE."""
    await add_token(volta, "CARD-Q")
    async with online(volta, "PTX2", "2.0.1") as cp:
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now_iso(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": "TX-Q", "chargingState": "Charging"},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "CARD-Q", "type": "ISO14443"},
            },
        )
        profile = v201_profile(
            5,
            chargingProfilePurpose="TxProfile",
            chargingProfileKind="Relative",
            transactionId="TX-Q",
        )
        del profile["chargingSchedule"][0]["startSchedule"]
        r = await post(api, "PTX2", 2, profile)
        assert r.status_code == 422
        assert "not active on EVSE 2 (K01.FR.09)" in r.json()["detail"]
        r = await post(api, "PTX2", 1, profile)
        assert r.status_code == 201, r.text
        (got,) = sent(cp, "SetChargingProfile")
        assert got["charging_profile"]["transaction_id"] == "TX-Q"
