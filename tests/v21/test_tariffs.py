"""OCPP 2.1 tariffs and cost calculated in the station (block I), over real
WebSockets on SQLite and PostgreSQL: Volta's tariff reaches the station in
SetDefaultTariff (I07), the AuthorizeResponse (I08) and
ChangeTransactionTariff (I10; also after a remote start); GetTariffs is
stored and ClearTariffs clears it (I12); the station's costDetails (I11)
are compared with Volta's own calculation on the CDR."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import add_token, answer, now_iso, register, station, wait_until
from volta.blocks.tariffs import service as tariff_service
from volta.blocks.transactions import queries as tx_queries

pytestmark = pytest.mark.asyncio

BOOT = {"reason": "PowerUp", "chargingStation": {"model": "Volta-21", "vendorName": "Volta"}}
TOKEN = {"idToken": "TAG-T21", "type": "ISO14443"}


async def make_tariff(api: Any, **kw: Any) -> dict[str, Any]:
    body = {"name": "Standard", "currency": "EUR", "price_kwh": "0.30", **kw}
    created = await api.post("/api/v1/tariffs", json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def capture(calls: list[dict[str, Any]], payload: dict[str, Any]) -> Any:
    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        calls.append(request)
        return payload

    return handler


def energy(wh: int) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": now_iso(),
            "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register"}],
        }
    ]


async def start(cp: Any, tx_id: str, **info: Any) -> dict[str, Any]:
    return dict(
        await cp.call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": now_iso(),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": tx_id, "chargingState": "Charging", **info},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": TOKEN,
                "meterValue": energy(1000),
            },
        )
    )


async def end(cp: Any, tx_id: str, cost: dict[str, Any] | None = None) -> None:
    payload: dict[str, Any] = {
        "eventType": "Ended",
        "timestamp": now_iso(),
        "triggerReason": "StopAuthorized",
        "seqNo": 1,
        "transactionInfo": {"transactionId": tx_id, "stoppedReason": "Local"},
        "meterValue": energy(4000),
    }
    if cost is not None:
        payload["costDetails"] = cost
    await cp.call("TransactionEvent", payload)


def cost_details(incl: float, excl: float, currency: str = "EUR") -> dict[str, Any]:
    return {
        "totalCost": {
            "currency": currency,
            "typeOfCost": "NormalCost",
            "energy": {"exclTax": excl},
            "total": {"exclTax": excl, "inclTax": incl},
        },
        "totalUsage": {"energy": 3000, "chargingTime": 60, "idleTime": 0},
    }


async def test_I07_set_default_tariff_reaches_the_station(volta, api):
    """I07: SetDefaultTariff carries Volta's tariff as TariffType, the one
    GET /tariffs/{id}/ocpp21 shows; the answer comes back."""
    await register(volta, "TF-1")
    tariff = await make_tariff(api, tax_percent="19", session_fee="1.00")
    calls: list[dict[str, Any]] = []
    async with station(volta, "TF-1", "2.1") as cp:
        cp.handlers["SetDefaultTariff"] = capture(calls, {"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        sent = await api.post(
            "/api/v1/stations/TF-1/default-tariff", json={"tariff_id": tariff["id"], "evse_id": 1}
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "Accepted"
    expected = (await api.get(f"/api/v1/tariffs/{tariff['id']}/ocpp21")).json()
    assert calls == [{"evseId": 1, "tariff": expected}]
    assert expected["energy"]["prices"] == [{"priceKwh": 0.3}]
    assert expected["fixedFee"]["prices"] == [{"priceFixed": 1}]
    events = (await api.get("/api/v1/events", params={"type": "tariff.station_answered"})).json()
    assert [(e["data"]["action"], e["data"]["status"]) for e in events] == [
        ("SetDefaultTariff", "Accepted")
    ]


async def test_I07_a_refusal_is_answered_as_the_station_gave_it(volta, api):
    await register(volta, "TF-2")
    tariff = await make_tariff(api)
    async with station(volta, "TF-2", "2.1") as cp:
        cp.handlers["SetDefaultTariff"] = answer(
            {"status": "TooManyElements", "statusInfo": {"reasonCode": "MaxElements"}}
        )
        sent = await api.post(
            "/api/v1/stations/TF-2/default-tariff", json={"tariff_id": tariff["id"]}
        )
    assert sent.status_code == 200
    assert sent.json()["status"] == "TooManyElements"
    assert sent.json()["status_info"] == {"reasonCode": "MaxElements"}


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_tariff_commands_are_refused_for_older_stations(volta, api, version):
    """SetDefaultTariff, GetTariffs, ClearTariffs are 2.1: 409 for a 1.6 or
    2.0.1 station (and an offline one); nothing is sent."""
    await register(volta, "TF-OLD")
    tariff = await make_tariff(api)
    for path, body in (
        ("/api/v1/stations/TF-OLD/default-tariff", {"tariff_id": tariff["id"]}),
        ("/api/v1/stations/TF-OLD/tariffs/refresh", {}),
        ("/api/v1/stations/TF-OLD/tariffs/clear", {}),
    ):
        offline = await api.post(path, json=body)
        assert offline.status_code == 409, offline.text
        assert "not connected" in offline.json()["detail"]
    async with station(volta, "TF-OLD", version) as cp:
        answered = await api.post(
            "/api/v1/stations/TF-OLD/default-tariff", json={"tariff_id": tariff["id"]}
        )
        assert answered.status_code == 409
        assert "OCPP 2.1" in answered.json()["detail"]
        assert cp.received == []


async def test_unknown_station_and_tariff_are_404(volta, api):
    assert (
        await api.post("/api/v1/stations/NOPE/default-tariff", json={"tariff_id": 1})
    ).status_code == 404
    await register(volta, "TF-3")
    async with station(volta, "TF-3", "2.1"):
        missing = await api.post("/api/v1/stations/TF-3/default-tariff", json={"tariff_id": 999})
    assert missing.status_code == 404


async def test_a_tariff_2_1_cannot_say_is_422(volta, api):
    """Refused with the reason instead of sending a different tariff."""
    await register(volta, "TF-4")
    tariff = await make_tariff(api, price_idle_minute="0.1", idle_grace_minutes="0.0001")
    shown = await api.get(f"/api/v1/tariffs/{tariff['id']}/ocpp21")
    assert shown.status_code == 422
    assert "whole number of seconds" in shown.json()["detail"]
    async with station(volta, "TF-4", "2.1") as cp:
        sent = await api.post(
            "/api/v1/stations/TF-4/default-tariff", json={"tariff_id": tariff["id"]}
        )
        assert sent.status_code == 422
        assert cp.received == []


async def test_I08_the_authorize_response_carries_the_drivers_tariff(volta, api):
    """I08: an accepted driver gets the tariff Volta prices the session with
    at this station; the answer keeps to the 2.1 schema (Station21 checks)."""
    await register(volta, "TF-5")
    await add_token(volta, "TAG-T21")
    await make_tariff(api, name="Default", is_default=True)
    own = await make_tariff(api, name="Station", price_kwh="0.25")
    assigned = await api.post(
        f"/api/v1/tariffs/{own['id']}/assignments", json={"station_id": "TF-5"}
    )
    assert assigned.status_code == 201
    expected = (await api.get(f"/api/v1/tariffs/{own['id']}/ocpp21")).json()
    async with station(volta, "TF-5", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        auth = await cp.call("Authorize", {"idToken": TOKEN})
        refused = await cp.call("Authorize", {"idToken": {"idToken": "NOBODY", "type": "ISO14443"}})
    assert auth["idTokenInfo"]["status"] == "Accepted"
    assert auth["tariff"] == expected
    assert refused["idTokenInfo"]["status"] != "Accepted"
    assert "tariff" not in refused


async def test_I10_change_transaction_tariff_for_a_running_session(volta, api):
    """I10: ChangeTransactionTariff with the station's transactionId."""
    await register(volta, "TF-6")
    await add_token(volta, "TAG-T21")
    tariff = await make_tariff(api, price_kwh="0.45")
    calls: list[dict[str, Any]] = []
    async with station(volta, "TF-6", "2.1") as cp:
        cp.handlers["ChangeTransactionTariff"] = capture(calls, {"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        await start(cp, "tx-tf6")
        [row] = await tx_queries.list_transactions(volta.services.db, station_id="TF-6")
        changed = await api.post(
            f"/api/v1/transactions/{row['id']}/tariff", json={"tariff_id": tariff["id"]}
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["status"] == "Accepted"
        await end(cp, "tx-tf6")
        late = await api.post(
            f"/api/v1/transactions/{row['id']}/tariff", json={"tariff_id": tariff["id"]}
        )
    assert late.status_code == 409
    assert calls[0]["transactionId"] == "tx-tf6"
    assert calls[0]["tariff"]["tariffId"] == changed.json()["ocpp_tariff_id"]
    assert calls[0]["tariff"]["energy"]["prices"] == [{"priceKwh": 0.45}]


async def test_I08_a_remote_start_gets_the_drivers_tariff(volta, api):
    """RequestStartTransaction has no tariff in 2.1: a remotely started
    transaction running under another tariff gets the driver's by
    ChangeTransactionTariff; one already under it gets nothing."""
    await register(volta, "TF-7")
    await add_token(volta, "TAG-T21")
    tariff = await make_tariff(api, is_default=True)
    expected = (await api.get(f"/api/v1/tariffs/{tariff['id']}/ocpp21")).json()
    calls: list[dict[str, Any]] = []
    async with station(volta, "TF-7", "2.1") as cp:
        cp.handlers["ChangeTransactionTariff"] = capture(calls, {"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        await start(cp, "tx-tf7", remoteStartId=11, tariffId="station-default")
        assert await wait_until(lambda: len(calls) == 1)
        await start(cp, "tx-tf7b", remoteStartId=12, tariffId=expected["tariffId"])
        await end(cp, "tx-tf7")
    assert calls == [{"transactionId": "tx-tf7", "tariff": expected}]


async def test_I12_get_tariffs_is_stored_and_clear_tariffs_clears(volta, api):
    """I12: what the station reports is kept (Volta's ids read back to its
    tariffs); ClearTariffs' accepted results leave the stored report."""
    await register(volta, "TF-8")
    tariff = await make_tariff(api)
    ocpp_id = (await api.get(f"/api/v1/tariffs/{tariff['id']}/ocpp21")).json()["tariffId"]
    cleared: list[dict[str, Any]] = []
    async with station(volta, "TF-8", "2.1") as cp:
        cp.handlers["GetTariffs"] = answer(
            {
                "status": "Accepted",
                "tariffAssignments": [
                    {"tariffId": ocpp_id, "tariffKind": "DefaultTariff", "evseIds": [1, 2]},
                    {"tariffId": "other-cso", "tariffKind": "DriverTariff", "idTokens": ["A"]},
                ],
            }
        )
        cp.handlers["ClearTariffs"] = capture(
            cleared, {"clearTariffsResult": [{"tariffId": ocpp_id, "status": "Accepted"}]}
        )
        got = await api.post("/api/v1/stations/TF-8/tariffs/refresh", json={"evse_id": 0})
        assert got.status_code == 200, got.text
        assert got.json()["status"] == "Accepted"
        listed = (await api.get("/api/v1/stations/TF-8/tariffs")).json()
        assert [(t["tariff_id"], t["tariff_kind"], t["volta_tariff_id"]) for t in listed] == [
            (ocpp_id, "DefaultTariff", tariff["id"]),
            ("other-cso", "DriverTariff", None),
        ]
        assert listed[0]["evse_ids"] == [1, 2]
        assert listed[1]["id_tokens"] == ["A"]
        clear = await api.post(
            "/api/v1/stations/TF-8/tariffs/clear", json={"tariff_ids": [ocpp_id]}
        )
        assert clear.status_code == 200, clear.text
    assert cleared == [{"tariffIds": [ocpp_id]}]
    assert clear.json()["results"] == [
        {"tariff_id": ocpp_id, "status": "Accepted", "status_info": None}
    ]
    assert [t["tariff_id"] for t in clear.json()["tariffs"]] == ["other-cso"]


async def _session_with_station_cost(
    volta, api, station_id: str, cost: dict[str, Any]
) -> dict[str, Any]:
    await register(volta, station_id)
    await add_token(volta, "TAG-T21")
    await make_tariff(api, price_kwh="0.30", tax_percent="20", is_default=True)
    async with station(volta, station_id, "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await start(cp, f"tx-{station_id}")
        await end(cp, f"tx-{station_id}", cost)
    [row] = await tx_queries.list_transactions(volta.services.db, station_id=station_id)
    cdr_id = tariff_service.cdr_id(row["id"])

    async def written() -> bool:
        return (await api.get(f"/api/v1/cdrs/{cdr_id}")).status_code == 200

    assert await wait_until(written)
    return dict((await api.get(f"/api/v1/cdrs/{cdr_id}")).json())


async def test_I11_a_station_cost_equal_to_voltas_is_not_flagged(volta, api):
    """3 kWh at 0.30 + 20 % tax: 0.90 + 0.18 = 1.08 EUR by both."""
    found = await _session_with_station_cost(volta, api, "TF-9", cost_details(1.08, 0.90))
    assert found["total_incl_tax"] == "1.08"
    assert found["flags"] == []
    assert found["station_cost"]["differs"] is False
    assert found["station_cost"]["difference"] == "0"
    assert found["station_cost"]["station_total_incl_tax"] == "1.08"


async def test_I11_a_rounding_difference_is_not_flagged(volta, api):
    found = await _session_with_station_cost(volta, api, "TF-10", cost_details(1.09, 0.91))
    assert found["flags"] == []
    assert found["station_cost"]["difference"] == "0.01"


async def test_I11_a_station_cost_that_differs_is_flagged(volta, api):
    """Beyond rounding: the CDR carries station_cost_differs, the OCPI
    export says so, and an event tells the operator."""
    found = await _session_with_station_cost(volta, api, "TF-11", cost_details(1.50, 1.25))
    assert found["flags"] == ["station_cost_differs"]
    assert found["station_cost"]["differs"] is True
    assert found["station_cost"]["difference"] == "0.42"
    assert "0.42" in found["station_cost"]["reason"]
    ocpi = (await api.get(f"/api/v1/cdrs/{found['id']}", params={"format": "ocpi"})).json()
    assert "station" in ocpi["remark"]
    events = (await api.get("/api/v1/events", params={"type": "cdr.station_cost_differs"})).json()
    assert [e["data"]["transaction_id"] for e in events] == [found["transaction_id"]]


async def test_I11_another_currency_is_flagged(volta, api):
    found = await _session_with_station_cost(volta, api, "TF-12", cost_details(1.08, 0.90, "USD"))
    assert found["flags"] == ["station_cost_differs"]
    assert "USD" in found["station_cost"]["reason"]


async def test_a_session_without_cost_details_has_no_station_cost(volta, api):
    await register(volta, "TF-13")
    await add_token(volta, "TAG-T21")
    async with station(volta, "TF-13", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await start(cp, "tx-tf13")
        await end(cp, "tx-tf13")
    [row] = await tx_queries.list_transactions(volta.services.db, station_id="TF-13")
    cdr_id = tariff_service.cdr_id(row["id"])

    async def written() -> bool:
        return (await api.get(f"/api/v1/cdrs/{cdr_id}")).status_code == 200

    assert await wait_until(written)
    found = (await api.get(f"/api/v1/cdrs/{cdr_id}")).json()
    assert found["station_cost"] is None and found["flags"] == []


@pytest.mark.parametrize("volta_settings", [{"v21_driver_tariff": False}])
async def test_the_driver_tariff_can_be_turned_off(volta_settings, volta, api):
    """v21_driver_tariff false: no tariff in the AuthorizeResponse, no
    ChangeTransactionTariff after a remote start."""
    await register(volta, "TF-14")
    await add_token(volta, "TAG-T21")
    await make_tariff(api, is_default=True)
    calls: list[dict[str, Any]] = []
    async with station(volta, "TF-14", "2.1") as cp:
        cp.handlers["ChangeTransactionTariff"] = capture(calls, {"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        auth = await cp.call("Authorize", {"idToken": TOKEN})
        await start(cp, "tx-tf14", remoteStartId=3, tariffId="station-default")
        await end(cp, "tx-tf14")
    assert auth["idTokenInfo"]["status"] == "Accepted"
    assert "tariff" not in auth
    assert calls == []


async def test_I10_without_a_tariff_the_sessions_own_is_sent(volta, api):
    """ChangeTransactionTariff with no tariff_id sends the tariff Volta
    resolves for the session (here its EVSE's); 409 when none applies."""
    await register(volta, "TF-15")
    await add_token(volta, "TAG-T21")
    calls: list[dict[str, Any]] = []
    async with station(volta, "TF-15", "2.1") as cp:
        cp.handlers["ChangeTransactionTariff"] = capture(calls, {"status": "Accepted"})
        await cp.call("BootNotification", BOOT)
        await start(cp, "tx-tf15")
        [row] = await tx_queries.list_transactions(volta.services.db, station_id="TF-15")
        none = await api.post(f"/api/v1/transactions/{row['id']}/tariff")
        assert none.status_code == 409
        assert "no tariff applies" in none.json()["detail"]
        evse = await make_tariff(api, name="EVSE 1", price_kwh="0.55")
        await api.post(
            f"/api/v1/tariffs/{evse['id']}/assignments", json={"station_id": "TF-15", "evse_id": 1}
        )
        changed = await api.post(f"/api/v1/transactions/{row['id']}/tariff")
        assert changed.status_code == 200, changed.text
    assert changed.json()["tariff_id"] == evse["id"]
    assert calls[0]["tariff"]["energy"]["prices"] == [{"priceKwh": 0.55}]


async def test_I12_get_tariffs_for_one_evse_replaces_only_its_tariffs(volta, api):
    await register(volta, "TF-16")
    reports = iter(
        [
            {
                "status": "Accepted",
                "tariffAssignments": [
                    {"tariffId": "a", "tariffKind": "DefaultTariff", "evseIds": [1]},
                    {"tariffId": "b", "tariffKind": "DefaultTariff", "evseIds": [2]},
                ],
            },
            {"status": "NoTariff"},
        ]
    )

    async def get_tariffs(request: dict[str, Any]) -> dict[str, Any]:
        return next(reports)

    async with station(volta, "TF-16", "2.1") as cp:
        cp.handlers["GetTariffs"] = get_tariffs
        await api.post("/api/v1/stations/TF-16/tariffs/refresh", json={})
        second = await api.post("/api/v1/stations/TF-16/tariffs/refresh", json={"evse_id": 2})
    assert second.json()["status"] == "NoTariff"
    assert [t["tariff_id"] for t in second.json()["tariffs"]] == ["a"]
