"""Tariffs through the API: create, read, replace, delete, assign; which
tariff a session pays (EVSE over station over token group over default);
bad input answered 4xx with the field named. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers import add_token, register
from volta.blocks.tariffs import service


def flat(name: str, price: str, **extra: object) -> dict:
    return {"name": name, "currency": "EUR", "price_kwh": price, **extra}


async def test_tariff_crud_keeps_amounts_exact(volta, api):
    body = flat(
        "Night",
        "0.1234",
        tax_percent="7.7",
        periods=[{"days": ["sunday"], "start": "22:00", "end": "06:00", "price_kwh": "0.05"}],
    )
    created = await api.post("/api/v1/tariffs", json=body)
    assert created.status_code == 201, created.text
    tariff = created.json()
    assert tariff["price_kwh"] == "0.1234"
    assert tariff["tax_percent"] == "7.7"
    assert tariff["periods"] == [
        {
            "name": None,
            "days": ["SUNDAY"],
            "start": "22:00",
            "end": "06:00",
            "price_kwh": "0.05",
            "price_minute": None,
        }
    ]
    assert tariff["is_default"] is False
    tid = tariff["id"]
    assert (await api.get(f"/api/v1/tariffs/{tid}")).json() == tariff
    # A JSON number is read as the decimal it spells, not a binary float.
    replaced = await api.put(f"/api/v1/tariffs/{tid}", json=flat("Night", 0.1, is_default=True))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["price_kwh"] == "0.1"
    assert replaced.json()["is_default"] is True
    other = await api.post("/api/v1/tariffs", json=flat("Other", "1", is_default=True))
    listed = {t["name"]: t["is_default"] for t in (await api.get("/api/v1/tariffs")).json()}
    assert listed == {"Night": False, "Other": True}  # one default at a time
    assert (await api.delete(f"/api/v1/tariffs/{tid}")).status_code == 204
    assert (await api.get(f"/api/v1/tariffs/{tid}")).status_code == 404
    assert (await api.delete(f"/api/v1/tariffs/{tid}")).status_code == 404
    assert (await api.put(f"/api/v1/tariffs/{tid}", json=flat("Night", "1"))).status_code == 404
    assert (await api.get(f"/api/v1/tariffs/{other.json()['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (flat("x", "0.3", currency="eur"), "currency"),
        (flat("x", "-0.30"), "price_kwh"),
        (flat("x", "abc"), "price_kwh"),
        (flat("x", "0.3", tax_percent="120"), "tax_percent"),
        (flat("x", "0.3", timezone="Mars/Olympus"), "timezone"),
        (flat("x", "0.3", periods=[{"days": ["FUNDAY"], "price_kwh": "1"}]), "periods[0].days"),
        (flat("x", "0.3", periods=[{"start": "7:5", "price_kwh": "1"}]), "periods[0].start"),
        (flat("x", "0.3", periods=[{"start": "10:00"}]), "price_kwh, price_minute"),
        (flat("", "0.3"), "name"),
        (flat("x", "0.3", colour="red"), "colour"),
        ({"name": "x"}, "currency"),
    ],
)
async def test_bad_tariffs_are_422_with_the_field_named(volta, api, body, detail):
    resp = await api.post("/api/v1/tariffs", json=body)
    assert resp.status_code == 422, resp.text
    assert detail in resp.json()["detail"]
    assert (await api.get("/api/v1/tariffs")).json() == []


async def test_bad_assignments_and_queries(volta, api):
    tid = (await api.post("/api/v1/tariffs", json=flat("t", "1"))).json()["id"]
    both = await api.post(
        f"/api/v1/tariffs/{tid}/assignments", json={"station_id": "S", "group_id": "G"}
    )
    assert both.status_code == 422 and "not both" in both.json()["detail"]
    neither = await api.post(f"/api/v1/tariffs/{tid}/assignments", json={})
    assert neither.status_code == 422
    evse_only = await api.post(f"/api/v1/tariffs/{tid}/assignments", json={"evse_id": 1})
    assert evse_only.status_code == 422 and "evse_id needs station_id" in evse_only.text
    unknown = await api.post("/api/v1/tariffs/999/assignments", json={"group_id": "G"})
    assert unknown.status_code == 404
    # An unknown station is a 404, not a foreign-key 500 (issue 12).
    nowhere = await api.post(f"/api/v1/tariffs/{tid}/assignments", json={"station_id": "NOPE"})
    assert nowhere.status_code == 404 and "station NOPE" in nowhere.json()["detail"]
    assert (await api.delete("/api/v1/tariff-assignments/999")).status_code == 404
    assert (await api.get("/api/v1/transactions/999/cost")).status_code == 404
    assert (await api.get("/api/v1/cdrs/VOLTA-999")).status_code == 404
    naive = await api.get("/api/v1/cdrs", params={"from": "2026-11-20T00:00:00"})
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
    assert (await api.get("/api/v1/cdrs", params={"to": "yesterday"})).status_code == 422
    assert (await api.get("/api/v1/cdrs", params={"limit": 0})).status_code == 422
    bad_format = await api.get("/api/v1/cdrs/VOLTA-1", params={"format": "xml"})
    assert bad_format.status_code == 422


async def test_assignment_precedence_evse_station_group_default(volta, api):
    await register(volta, "P1")
    await register(volta, "P2")
    await add_token(volta, "FLEET-CARD", group_id="FLEET")
    await add_token(volta, "SOLO-CARD")

    async def tariff(name: str, target: dict | None, default: bool = False) -> int:
        tid = (await api.post("/api/v1/tariffs", json=flat(name, "1", is_default=default))).json()[
            "id"
        ]
        if target is not None:
            resp = await api.post(f"/api/v1/tariffs/{tid}/assignments", json=target)
            assert resp.status_code == 201, resp.text
            assert resp.json()["tariff_id"] == tid
        return tid

    async def paid(station_id: str, evse_id: int | None, token: str | None) -> str | None:
        async with volta.db.read() as conn:
            found = await service.resolve(conn, station_id, evse_id, token)
        return None if found is None else found.name

    assert await paid("P1", 2, "FLEET-CARD") is None
    await tariff("default", None, default=True)
    assert await paid("P1", 2, "FLEET-CARD") == "default"
    await tariff("fleet", {"group_id": "FLEET"})
    assert await paid("P1", 2, "FLEET-CARD") == "fleet"
    assert await paid("P1", 2, "SOLO-CARD") == "default"
    await tariff("station", {"station_id": "P1"})
    assert await paid("P1", 2, "FLEET-CARD") == "station"
    assert await paid("P2", 2, "FLEET-CARD") == "fleet"
    evse = await tariff("evse", {"station_id": "P1", "evse_id": 2})
    assert await paid("P1", 2, "FLEET-CARD") == "evse"
    assert await paid("P1", 1, "FLEET-CARD") == "station"
    assert await paid("P1", None, None) == "station"
    # Assigning another tariff to the same EVSE replaces the first.
    await tariff("evse-2", {"station_id": "P1", "evse_id": 2})
    assert await paid("P1", 2, "SOLO-CARD") == "evse-2"
    assert (await api.get(f"/api/v1/tariffs/{evse}/assignments")).json() == []
    [assignment] = [
        a
        for t in (await api.get("/api/v1/tariffs")).json()
        for a in (await api.get(f"/api/v1/tariffs/{t['id']}/assignments")).json()
        if a["evse_id"] == 2
    ]
    assert (await api.delete(f"/api/v1/tariff-assignments/{assignment['id']}")).status_code == 204
    assert await paid("P1", 2, "SOLO-CARD") == "station"
