"""Id tokens through the HTTP API: the cards and accounts that may charge."""

from __future__ import annotations

import datetime as dt

import pytest
from ocpp.v16 import call

from tests.helpers import register, station


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_create_with_defaults(api):
    resp = await api.post("/api/v1/id-tokens", json={"token": "04A1B2C3"})
    assert resp.status_code == 201
    body = resp.json()
    assert body["token"] == "04A1B2C3"
    assert body["type"] == "ISO14443"
    assert body["status"] == "Accepted"
    assert body["expires_at"] is None
    assert body["group_id"] is None
    assert body["created_at"] and body["updated_at"]


async def test_create_with_everything(api):
    resp = await api.post(
        "/api/v1/id-tokens",
        json={
            "token": "EMAID-1",
            "type": "eMAID",
            "status": "Blocked",
            "expires_at": "2031-03-04T05:06:07+02:00",
            "group_id": "FLEET-A",
        },
    )
    assert resp.status_code == 201
    body = resp.json()
    assert (body["type"], body["status"], body["group_id"]) == ("eMAID", "Blocked", "FLEET-A")
    expected = dt.datetime(2031, 3, 4, 3, 6, 7, tzinfo=dt.UTC)
    assert parse(body["expires_at"]) == expected
    # Stored, not just echoed.
    stored = (await api.get("/api/v1/id-tokens/EMAID-1")).json()
    assert parse(stored["expires_at"]) == expected
    assert parse(stored["expires_at"]).utcoffset() == dt.timedelta(0)
    assert stored == body


async def test_expiry_without_zone_is_utc(api):
    resp = await api.post(
        "/api/v1/id-tokens", json={"token": "T1", "expires_at": "2030-01-01T00:00:00"}
    )
    assert resp.status_code == 201
    stored = (await api.get("/api/v1/id-tokens/T1")).json()
    assert parse(stored["expires_at"]) == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


async def test_duplicate_is_409(api):
    assert (await api.post("/api/v1/id-tokens", json={"token": "T1"})).status_code == 201
    resp = await api.post("/api/v1/id-tokens", json={"token": "T1", "status": "Blocked"})
    assert resp.status_code == 409
    assert "T1" in resp.json()["detail"]
    assert (await api.get("/api/v1/id-tokens/T1")).json()["status"] == "Accepted"


@pytest.mark.parametrize(
    "body",
    [
        {"token": "T1", "status": "Stolen"},
        {"token": "T1", "type": "Barcode"},
        {"token": "T1", "expires_at": "next tuesday"},
        {"token": ""},
        {"token": "x" * 37},
        {"token": "T1", "group_id": "g" * 37},
        {"status": "Accepted"},
    ],
    ids=["status", "type", "expiry", "empty", "too-long", "group-too-long", "no-token"],
)
async def test_create_invalid_is_422(api, body):
    resp = await api.post("/api/v1/id-tokens", json=body)
    assert resp.status_code == 422
    assert isinstance(resp.json()["detail"], str) and resp.json()["detail"]
    assert (await api.get("/api/v1/id-tokens")).json() == []


async def test_bad_status_message_names_the_field(api):
    resp = await api.post("/api/v1/id-tokens", json={"token": "T1", "status": "Stolen"})
    assert resp.status_code == 422
    assert "status" in resp.json()["detail"]


async def test_list_is_sorted_and_paged(api):
    for token in ("C", "A", "B", "D"):
        assert (await api.post("/api/v1/id-tokens", json={"token": token})).status_code == 201
    resp = await api.get("/api/v1/id-tokens")
    assert [t["token"] for t in resp.json()] == ["A", "B", "C", "D"]
    page = await api.get("/api/v1/id-tokens", params={"limit": 2, "offset": 1})
    assert [t["token"] for t in page.json()] == ["B", "C"]
    assert (await api.get("/api/v1/id-tokens", params={"offset": -1})).status_code == 422


async def test_unknown_is_404(api):
    resp = await api.get("/api/v1/id-tokens/NOPE")
    assert resp.status_code == 404
    assert "NOPE" in resp.json()["detail"]
    assert (
        await api.patch("/api/v1/id-tokens/NOPE", json={"status": "Blocked"})
    ).status_code == 404
    assert (await api.delete("/api/v1/id-tokens/NOPE")).status_code == 404
    # A PATCH of an unknown token creates nothing.
    assert (await api.get("/api/v1/id-tokens/NOPE")).status_code == 404


async def test_update(api):
    created = (
        await api.post(
            "/api/v1/id-tokens",
            json={"token": "T1", "group_id": "G1", "expires_at": "2030-01-01T00:00:00Z"},
        )
    ).json()
    resp = await api.patch("/api/v1/id-tokens/T1", json={"status": "Blocked"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "Blocked"
    # Fields not sent are kept.
    assert body["group_id"] == "G1"
    assert body["type"] == "ISO14443"
    assert parse(body["expires_at"]) == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert parse(body["updated_at"]) >= parse(created["updated_at"])
    assert body["created_at"] == created["created_at"]

    resp = await api.patch(
        "/api/v1/id-tokens/T1",
        json={"expires_at": "2032-02-02T02:02:02Z", "type": "KeyCode", "group_id": "G2"},
    )
    body = resp.json()
    assert parse(body["expires_at"]) == dt.datetime(2032, 2, 2, 2, 2, 2, tzinfo=dt.UTC)
    assert (body["type"], body["group_id"], body["status"]) == ("KeyCode", "G2", "Blocked")

    # An explicit null clears what may be empty.
    resp = await api.patch("/api/v1/id-tokens/T1", json={"expires_at": None, "group_id": None})
    body = resp.json()
    assert (body["expires_at"], body["group_id"]) == (None, None)
    assert (await api.get("/api/v1/id-tokens/T1")).json() == body


async def test_update_invalid_is_422(api):
    await api.post("/api/v1/id-tokens", json={"token": "T1"})
    for body in ({"status": "Stolen"}, {"type": "Barcode"}, {"expires_at": "soon"}):
        resp = await api.patch("/api/v1/id-tokens/T1", json=body)
        assert resp.status_code == 422, body
    assert (await api.get("/api/v1/id-tokens/T1")).json()["status"] == "Accepted"


@pytest.mark.parametrize("field", ["status", "type"])
async def test_update_null_for_required_field_is_422(api, field):
    """A token always has a status and a type: null cannot clear them."""
    await api.post("/api/v1/id-tokens", json={"token": "T1"})
    resp = await api.patch("/api/v1/id-tokens/T1", json={field: None})
    assert resp.status_code == 422
    assert field in resp.json()["detail"]
    stored = (await api.get("/api/v1/id-tokens/T1")).json()
    assert (stored["status"], stored["type"]) == ("Accepted", "ISO14443")


async def test_delete(api):
    await api.post("/api/v1/id-tokens", json={"token": "T1"})
    await api.post("/api/v1/id-tokens", json={"token": "T2"})
    resp = await api.delete("/api/v1/id-tokens/T1")
    assert resp.status_code == 204
    assert resp.content == b""
    assert (await api.get("/api/v1/id-tokens/T1")).status_code == 404
    assert (await api.delete("/api/v1/id-tokens/T1")).status_code == 404
    assert [t["token"] for t in (await api.get("/api/v1/id-tokens")).json()] == ["T2"]


async def test_station_sees_what_the_api_stored(volta, api):
    """Status and expiry set through the API decide a station's Authorize."""
    await register(volta, "CP1")
    await api.post("/api/v1/id-tokens", json={"token": "GOOD", "group_id": "FLEET"})
    await api.post("/api/v1/id-tokens", json={"token": "OLD", "expires_at": "2020-01-01T00:00:00Z"})
    await api.post("/api/v1/id-tokens", json={"token": "LOST", "status": "Blocked"})
    async with station(volta, "CP1") as cp:
        good = await cp.call(call.Authorize(id_tag="GOOD"))
        assert good.id_tag_info["status"] == "Accepted"
        assert good.id_tag_info["parent_id_tag"] == "FLEET"
        assert (await cp.call(call.Authorize(id_tag="OLD"))).id_tag_info["status"] == "Expired"
        assert (await cp.call(call.Authorize(id_tag="LOST"))).id_tag_info["status"] == "Blocked"
        await api.patch("/api/v1/id-tokens/LOST", json={"status": "Accepted"})
        assert (await cp.call(call.Authorize(id_tag="LOST"))).id_tag_info["status"] == "Accepted"
        await api.delete("/api/v1/id-tokens/GOOD")
        assert (await cp.call(call.Authorize(id_tag="GOOD"))).id_tag_info["status"] == "Invalid"
