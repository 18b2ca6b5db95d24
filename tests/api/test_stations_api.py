"""Stations through the HTTP API: register, inspect, change, remove."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from websockets.exceptions import InvalidStatus

from tests.helpers import add_token, connect, now_iso, station


async def get_until(
    api: httpx.AsyncClient, path: str, check: Any, timeout: float = 3.0
) -> dict[str, Any]:
    """GET `path` until `check(body)` holds (bounded); return the last body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        resp = await api.get(path)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        if check(body) or loop.time() > deadline:
            return body
        await asyncio.sleep(0.05)


async def test_create_station(api):
    resp = await api.post("/api/v1/stations", json={"id": "CP1"})
    assert resp.status_code == 201
    body = resp.json()
    assert body["id"] == "CP1"
    assert body["online"] is False
    assert body["protocol"] is None
    assert body["registration_status"] == "Accepted"
    assert body["validation"] == "strict"
    assert body["has_password"] is False
    assert body["connectors"] == []
    assert body["created_at"]
    assert "password_hash" not in body


async def test_create_station_with_options(api):
    resp = await api.post(
        "/api/v1/stations",
        json={
            "id": "CP-OPT",
            "password": "s3cret-pass",
            "registration_status": "Pending",
            "validation": "relaxed",
        },
    )
    assert resp.status_code == 201
    body = resp.json()
    assert body["has_password"] is True
    assert body["registration_status"] == "Pending"
    assert body["validation"] == "relaxed"
    assert "password" not in body


async def test_create_duplicate_is_409(api):
    assert (await api.post("/api/v1/stations", json={"id": "CP1"})).status_code == 201
    resp = await api.post("/api/v1/stations", json={"id": "CP1", "registration_status": "Pending"})
    assert resp.status_code == 409
    assert "CP1" in resp.json()["detail"]
    # The first registration is untouched.
    assert (await api.get("/api/v1/stations/CP1")).json()["registration_status"] == "Accepted"


@pytest.mark.parametrize("station_id", ["a/b", "x" * 49, "", "with space", "colon:id"], ids=repr)
async def test_create_invalid_id_is_422(api, station_id):
    resp = await api.post("/api/v1/stations", json={"id": station_id})
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert isinstance(detail, str)
    assert "id" in detail
    assert (await api.get("/api/v1/stations")).json() == []


async def test_longest_id_is_accepted(api):
    station_id = "x" * 48  # 2.0.1 identifierString[48]
    assert (await api.post("/api/v1/stations", json={"id": station_id})).status_code == 201
    assert (await api.get(f"/api/v1/stations/{station_id}")).json()["id"] == station_id


@pytest.mark.parametrize(
    "body",
    [
        {"id": "CP1", "registration_status": "Maybe"},
        {"id": "CP1", "validation": "lenient"},
        {"id": "CP1", "password": "short"},
        {},
    ],
    ids=["status", "validation", "password", "no-id"],
)
async def test_create_invalid_body_is_422(api, body):
    resp = await api.post("/api/v1/stations", json=body)
    assert resp.status_code == 422
    assert resp.json()["detail"]
    assert (await api.get("/api/v1/stations")).json() == []


async def test_list_and_get(api):
    for sid in ("CP-C", "CP-A", "CP-B"):
        assert (await api.post("/api/v1/stations", json={"id": sid})).status_code == 201
    resp = await api.get("/api/v1/stations")
    assert resp.status_code == 200
    assert [s["id"] for s in resp.json()] == ["CP-A", "CP-B", "CP-C"]
    page = (await api.get("/api/v1/stations", params={"limit": 2, "offset": 1})).json()
    assert [s["id"] for s in page] == ["CP-B", "CP-C"]
    assert (await api.get("/api/v1/stations", params={"limit": 0})).status_code == 422

    resp = await api.get("/api/v1/stations/CP-B")
    assert resp.status_code == 200
    assert resp.json()["id"] == "CP-B"


async def test_unknown_station_is_404(api):
    resp = await api.get("/api/v1/stations/NOPE")
    assert resp.status_code == 404
    assert "NOPE" in resp.json()["detail"]
    assert (await api.patch("/api/v1/stations/NOPE", json={})).status_code == 404
    assert (await api.delete("/api/v1/stations/NOPE")).status_code == 404
    assert (await api.get("/api/v1/stations/NOPE/messages")).status_code == 404


async def test_patch_registration_and_validation(api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    resp = await api.patch("/api/v1/stations/CP1", json={"registration_status": "Rejected"})
    assert resp.status_code == 200
    assert resp.json()["registration_status"] == "Rejected"
    assert resp.json()["validation"] == "strict"  # not sent, not changed

    resp = await api.patch("/api/v1/stations/CP1", json={"validation": "off"})
    assert resp.json()["validation"] == "off"
    assert resp.json()["registration_status"] == "Rejected"

    stored = (await api.get("/api/v1/stations/CP1")).json()
    assert (stored["registration_status"], stored["validation"]) == ("Rejected", "off")

    resp = await api.patch("/api/v1/stations/CP1", json={"registration_status": "Nope"})
    assert resp.status_code == 422
    assert (await api.get("/api/v1/stations/CP1")).json()["registration_status"] == "Rejected"


@pytest.mark.parametrize("field", ["registration_status", "validation"])
async def test_patch_null_for_required_field_is_422(api, field):
    """A station always has a registration status and a validation mode."""
    await api.post("/api/v1/stations", json={"id": "CP1", "validation": "relaxed"})
    resp = await api.patch("/api/v1/stations/CP1", json={field: None})
    assert resp.status_code == 422
    assert field in resp.json()["detail"]
    stored = (await api.get("/api/v1/stations/CP1")).json()
    assert (stored["registration_status"], stored["validation"]) == ("Accepted", "relaxed")


async def test_registration_status_reaches_the_boot(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    await api.patch("/api/v1/stations/CP1", json={"registration_status": "Pending"})
    async with station(volta, "CP1") as cp:
        r = await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
    assert r.status == "Pending"


async def test_password_set_and_cleared(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    resp = await api.patch("/api/v1/stations/CP1", json={"password": "correct-horse"})
    assert resp.status_code == 200
    assert resp.json()["has_password"] is True

    # The gateway now wants it (security profile 1) ...
    with pytest.raises(InvalidStatus) as refused:
        async with connect(volta, "CP1"):
            pass
    assert refused.value.response.status_code == 401
    async with station(volta, "CP1", password="correct-horse") as cp:
        r = await cp.call(call16.Heartbeat())
        assert r.current_time

    # ... and a new one replaces it.
    await api.patch("/api/v1/stations/CP1", json={"password": "battery-staple"})
    with pytest.raises(InvalidStatus):
        async with connect(volta, "CP1", password="correct-horse"):
            pass

    resp = await api.patch("/api/v1/stations/CP1", json={"clear_password": True})
    assert resp.status_code == 200
    assert resp.json()["has_password"] is False
    async with station(volta, "CP1") as cp:
        assert (await cp.call(call16.Heartbeat())).current_time

    resp = await api.patch("/api/v1/stations/CP1", json={"password": "short"})
    assert resp.status_code == 422
    assert (await api.get("/api/v1/stations/CP1")).json()["has_password"] is False


async def test_delete_station(api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    await api.post("/api/v1/stations", json={"id": "CP2"})
    resp = await api.delete("/api/v1/stations/CP1")
    assert resp.status_code == 204
    assert resp.content == b""
    assert (await api.get("/api/v1/stations/CP1")).status_code == 404
    assert (await api.delete("/api/v1/stations/CP1")).status_code == 404
    assert [s["id"] for s in (await api.get("/api/v1/stations")).json()] == ["CP2"]
    # The id is free again.
    assert (await api.post("/api/v1/stations", json={"id": "CP1"})).status_code == 201


async def test_delete_station_with_connectors(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with station(volta, "CP1") as cp:
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
    await get_until(api, "/api/v1/stations/CP1", lambda b: not b["online"])
    assert (await api.delete("/api/v1/stations/CP1")).status_code == 204
    # A new station of that name starts without the old one's connectors.
    await api.post("/api/v1/stations", json={"id": "CP1"})
    assert (await api.get("/api/v1/stations/CP1")).json()["connectors"] == []


async def test_delete_connected_station_is_409(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with station(volta, "CP1") as cp:
        await get_until(api, "/api/v1/stations/CP1", lambda b: b["online"])
        resp = await api.delete("/api/v1/stations/CP1")
        assert resp.status_code == 409
        assert "connected" in resp.json()["detail"]
        # It is still there and still talking.
        assert (await cp.call(call16.Heartbeat())).current_time
    assert (await api.get("/api/v1/stations/CP1")).status_code == 200


async def test_delete_station_with_transactions_is_409(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    await add_token(volta, "TAG1")
    async with station(volta, "CP1") as cp:
        r = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=0, timestamp=now_iso()
            )
        )
        assert r.id_tag_info["status"] == "Accepted"
    await get_until(api, "/api/v1/stations/CP1", lambda b: not b["online"])
    resp = await api.delete("/api/v1/stations/CP1")
    assert resp.status_code == 409
    assert "transactions" in resp.json()["detail"]
    assert (await api.get("/api/v1/stations/CP1")).status_code == 200


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_online_and_protocol_while_connected(volta, api, version):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    async with station(volta, "CP1", version):
        body = await get_until(api, "/api/v1/stations/CP1", lambda b: b["online"] and b["protocol"])
        assert body["online"] is True
        assert body["protocol"] == protocol
        assert body["last_connected_at"]
        listed = (await api.get("/api/v1/stations")).json()
        assert [(s["id"], s["online"]) for s in listed] == [("CP1", True)]
    # The disconnection is recorded just after the station leaves the router.
    body = await get_until(
        api, "/api/v1/stations/CP1", lambda b: not b["online"] and b["last_disconnected_at"]
    )
    assert body["online"] is False
    assert body["protocol"] == protocol  # the last connection's
    assert body["last_disconnected_at"]


async def test_boot_fills_station_details(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with station(volta, "CP1", "2.0.1") as cp:
        await cp.call(
            call201.BootNotification(
                charging_station={
                    "model": "Wallbox-X",
                    "vendor_name": "Acme",
                    "serial_number": "SN-1",
                    "firmware_version": "1.2.3",
                },
                reason="PowerUp",
            )
        )
    body = (await api.get("/api/v1/stations/CP1")).json()
    assert (body["vendor"], body["model"]) == ("Acme", "Wallbox-X")
    assert (body["serial_number"], body["firmware_version"]) == ("SN-1", "1.2.3")
    assert body["last_boot_at"]


async def test_connectors_after_status_notification_16(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with station(volta, "CP1") as cp:
        await cp.call(
            call16.StatusNotification(connector_id=2, error_code="NoError", status="Available")
        )
        await cp.call(
            call16.StatusNotification(
                connector_id=1,
                error_code="GroundFailure",
                status="Faulted",
                info="RCD tripped",
                vendor_error_code="E42",
                timestamp=now_iso(),
            )
        )
        body = (await api.get("/api/v1/stations/CP1")).json()
    connectors = body["connectors"]
    assert [(c["connector_id"], c["status"]) for c in connectors] == [
        (1, "Faulted"),
        (2, "Available"),
    ]
    faulted = connectors[0]
    assert faulted["error_code"] == "GroundFailure"
    assert faulted["info"] == "RCD tripped"
    assert faulted["vendor_error_code"] == "E42"
    assert faulted["status_at"]
    assert connectors[1]["error_code"] == "NoError"


async def test_connectors_after_status_notification_201(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with station(volta, "CP1", "2.0.1") as cp:
        await cp.call(
            call201.StatusNotification(
                timestamp=now_iso(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        # A later status of the same connector replaces the earlier one.
        await cp.call(
            call201.StatusNotification(
                timestamp=now_iso(), connector_status="Unavailable", evse_id=1, connector_id=1
            )
        )
        body = (await api.get("/api/v1/stations/CP1")).json()
    assert [(c["evse_id"], c["connector_id"], c["status"]) for c in body["connectors"]] == [
        (1, 1, "Unavailable"),
    ]
    assert body["connectors"][0]["status_at"]


async def frames_until(
    api: httpx.AsyncClient, station_id: str, count: int, timeout: float = 3.0, **params: Any
) -> list[dict[str, Any]]:
    """The frame log is written in batches (~100 ms): poll until `count` frames."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        resp = await api.get(f"/api/v1/stations/{station_id}/messages", params=params)
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        if len(items) >= count or loop.time() > deadline:
            return items
        await asyncio.sleep(0.05)


async def test_frame_log(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    await api.post("/api/v1/stations", json={"id": "CP2"})
    async with station(volta, "CP1") as cp:
        await cp.call(call16.BootNotification(charge_point_model="M", charge_point_vendor="V"))
        await cp.call(call16.Heartbeat())
        await get_until(api, "/api/v1/stations/CP1", lambda b: b["online"])
        command = (
            await api.post("/api/v1/stations/CP1/commands/Reset", json={"type": "Soft"})
        ).json()
        assert command["status"] == "accepted"
    async with station(volta, "CP2") as cp2:
        await cp2.call(call16.Heartbeat())

    items = await frames_until(api, "CP1", 6)
    # Newest first: our Reset and its answer, then the Heartbeat, then the boot.
    summary = [(f["direction"], f["message_type"], f["action"]) for f in items]
    assert summary == [
        ("in", 3, "Reset"),
        ("out", 2, "Reset"),
        ("out", 3, "Heartbeat"),
        ("in", 2, "Heartbeat"),
        ("out", 3, "BootNotification"),
        ("in", 2, "BootNotification"),
    ]
    ids = [f["id"] for f in items]
    assert ids == sorted(ids, reverse=True)
    # A CALL and its answer share the message id; the command knows it too.
    assert items[0]["message_id"] == items[1]["message_id"] == command["message_id"]
    assert items[2]["message_id"] == items[3]["message_id"]
    assert items[4]["message_id"] == items[5]["message_id"]
    assert len({items[0]["message_id"], items[2]["message_id"], items[4]["message_id"]}) == 3
    # The frame itself, as it went over the wire.
    assert items[1]["frame"] == [2, command["message_id"], "Reset", {"type": "Soft"}]
    assert items[0]["frame"] == [3, command["message_id"], {"status": "Accepted"}]
    assert items[3]["frame"][2:] == ["Heartbeat", {}]
    assert all(f["error_code"] is None and f["created_at"] for f in items)
    # Only CP1's frames.
    assert len(await frames_until(api, "CP1", 7, timeout=0.3)) == 6

    heartbeat = await frames_until(api, "CP1", 2, action="Heartbeat")
    assert [(f["direction"], f["action"]) for f in heartbeat] == [
        ("out", "Heartbeat"),
        ("in", "Heartbeat"),
    ]
    incoming = await frames_until(api, "CP1", 3, direction="in")
    assert [f["action"] for f in incoming] == ["Reset", "Heartbeat", "BootNotification"]
    outgoing = await frames_until(api, "CP1", 3, direction="out", action="Reset")
    assert [(f["direction"], f["message_type"]) for f in outgoing] == [("out", 2)]
    assert await frames_until(api, "CP1", 1, timeout=0.2, action="Authorize") == []

    resp = await api.get("/api/v1/stations/CP1/messages", params={"limit": 2, "offset": 2})
    assert resp.status_code == 200
    page = resp.json()
    assert (page["limit"], page["offset"]) == (2, 2)
    assert [f["id"] for f in page["items"]] == ids[2:4]
    last = (await api.get("/api/v1/stations/CP1/messages", params={"offset": 5})).json()
    assert [f["id"] for f in last["items"]] == ids[5:]

    assert [f["action"] for f in await frames_until(api, "CP2", 2)] == ["Heartbeat"] * 2


async def test_frame_log_bad_queries(api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    for params in ({"direction": "sideways"}, {"limit": 0}, {"limit": 501}, {"offset": -1}):
        resp = await api.get("/api/v1/stations/CP1/messages", params=params)
        assert resp.status_code == 422, params
        assert resp.json()["detail"]
    resp = await api.get("/api/v1/stations/CP1/messages")
    assert resp.json() == {"limit": 50, "offset": 0, "items": []}


async def test_frame_log_keeps_malformed_frames(volta, api):
    await api.post("/api/v1/stations", json={"id": "CP1"})
    async with connect(volta, "CP1") as ws:
        await ws.send("this is not json")
        answer = await asyncio.wait_for(ws.recv(), 5)
    items = await frames_until(api, "CP1", 2)
    received = [f for f in items if f["direction"] == "in"]
    assert received[0]["frame"] == "this is not json"
    assert received[0]["action"] is None
    sent = [f for f in items if f["direction"] == "out"]
    assert sent and sent[0]["message_type"] == 4
    assert sent[0]["error_code"]
    assert sent[0]["frame"] == orjson.loads(answer)
