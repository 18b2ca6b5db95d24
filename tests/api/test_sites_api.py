"""Sites through the HTTP API: every route, and the 4xx answers in the
documented shape (never a 500)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def create(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    resp = await api.post("/api/v1/sites", json={"name": "grid", "max_current_a": 63, **body})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def assert_error(resp: httpx.Response, code: int, words: str) -> None:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert words in body["detail"], body
    if code == 422:
        assert isinstance(body["errors"], list) and body["errors"]


async def test_create_and_read_a_tree(api):
    grid = await create(api)
    assert grid["phases"] == 3
    assert grid["strategy"] == "equal"
    assert grid["min_current_a"] == 6.0
    assert grid["voltage_v"] == 230.0
    assert grid["limit_a"] == [63.0, 63.0, 63.0]
    assert grid["children"] == [] and grid["stations"] == [] and grid["allocations"] == []
    panel = await create(
        api,
        name="panel A",
        max_current_a=None,
        max_power_w=7360,
        phases=1,
        parent_id=grid["id"],
        strategy="first_come",
        min_current_a=8,
        group_priorities={"FLEET": 10},
    )
    # 7,360 W on one phase at 230 V: 32 A on L1.
    assert panel["limit_a"] == [32.0, 0.0, 0.0]
    assert panel["group_priorities"] == {"FLEET": 10}
    one = (await api.get(f"/api/v1/sites/{grid['id']}")).json()
    assert one["children"] == [panel["id"]]
    listed = (await api.get("/api/v1/sites")).json()
    assert [s["name"] for s in listed] == ["grid", "panel A"]


async def test_create_refusals(api):
    assert_error(
        await api.post("/api/v1/sites", json={"name": "x"}), 422, "max_current_a or max_power_w"
    )
    assert_error(
        await api.post("/api/v1/sites", json={"name": "x", "max_current_a": 10, "parent_id": 99}),
        422,
        "parent site 99 not found",
    )
    assert_error(
        await api.post("/api/v1/sites", json={"name": "x", "max_current_a": -1}), 422, "greater"
    )
    assert_error(
        await api.post("/api/v1/sites", json={"name": "x", "max_current_a": 10, "phases": 2}),
        422,
        "phases",
    )
    assert_error(
        await api.post(
            "/api/v1/sites", json={"name": "x", "max_current_a": 10, "strategy": "random"}
        ),
        422,
        "strategy",
    )
    assert_error(await api.post("/api/v1/sites", content=b"{"), 422, "")
    assert_error(await api.get("/api/v1/sites/12345"), 404, "site 12345 not found")
    assert_error(await api.get("/api/v1/sites/0"), 422, "")


async def test_patch_and_cycles(api):
    grid = await create(api)
    panel = await create(api, name="panel", parent_id=grid["id"])
    circuit = await create(api, name="circuit", parent_id=panel["id"])
    resp = await api.patch(f"/api/v1/sites/{panel['id']}", json={"name": "panel B", "phases": 1})
    assert resp.status_code == 200
    assert resp.json()["name"] == "panel B" and resp.json()["phases"] == 1
    # The grid under its own grandchild: a cycle, 422.
    assert_error(
        await api.patch(f"/api/v1/sites/{grid['id']}", json={"parent_id": circuit["id"]}),
        422,
        "cycle",
    )
    assert_error(
        await api.patch(f"/api/v1/sites/{grid['id']}", json={"parent_id": grid["id"]}),
        422,
        "cycle",
    )
    # Removing the only limit: 422.
    assert_error(
        await api.patch(f"/api/v1/sites/{grid['id']}", json={"max_current_a": None}),
        422,
        "max_current_a or max_power_w",
    )
    assert_error(await api.patch(f"/api/v1/sites/{grid['id']}", json={"name": None}), 422, "null")
    assert_error(await api.patch("/api/v1/sites/999", json={"name": "x"}), 404, "not found")
    # Moving the circuit to the root: allowed.
    resp = await api.patch(f"/api/v1/sites/{circuit['id']}", json={"parent_id": grid["id"]})
    assert resp.json()["parent_id"] == grid["id"]


async def test_delete_refused_while_in_use(api):
    grid = await create(api)
    panel = await create(api, name="panel", parent_id=grid["id"])
    assert_error(await api.delete(f"/api/v1/sites/{grid['id']}"), 409, "circuit")
    assert (await api.post("/api/v1/stations", json={"id": "DEL1"})).status_code == 201
    resp = await api.put("/api/v1/stations/DEL1", json={"site_id": panel["id"]})
    assert resp.status_code == 200 and resp.json()["site_id"] == panel["id"]
    assert_error(await api.delete(f"/api/v1/sites/{panel['id']}"), 409, "station DEL1")
    # Off the site (PATCH does the same as PUT), then both go.
    resp = await api.patch("/api/v1/stations/DEL1", json={"site_id": None})
    assert resp.status_code == 200 and resp.json()["site_id"] is None
    assert (await api.delete(f"/api/v1/sites/{panel['id']}")).status_code == 204
    assert (await api.delete(f"/api/v1/sites/{grid['id']}")).status_code == 204
    assert_error(await api.delete(f"/api/v1/sites/{grid['id']}"), 404, "not found")


async def test_place_station_refusals(api):
    assert (await api.post("/api/v1/stations", json={"id": "PL1"})).status_code == 201
    assert_error(await api.put("/api/v1/stations/PL1", json={"site_id": 77}), 422, "site 77")
    assert_error(await api.put("/api/v1/stations/NOPE", json={"site_id": None}), 404, "NOPE")
    assert_error(await api.put("/api/v1/stations/PL1", json={"site_id": "x"}), 422, "site_id")
    # Other fields through PUT still work, and leave the site alone.
    grid = await create(api)
    await api.put("/api/v1/stations/PL1", json={"site_id": grid["id"]})
    resp = await api.put("/api/v1/stations/PL1", json={"validation": "relaxed"})
    assert resp.json()["site_id"] == grid["id"] and resp.json()["validation"] == "relaxed"
    assert (await api.get(f"/api/v1/sites/{grid['id']}")).json()["stations"] == ["PL1"]


async def test_limit_and_meter(api):
    grid = await create(api)
    resp = await api.put(f"/api/v1/sites/{grid['id']}/limit", json={"max_current_a": 40})
    assert resp.status_code == 200 and resp.json()["limit_a"] == [40.0, 40.0, 40.0]
    resp = await api.put(
        f"/api/v1/sites/{grid['id']}/limit", json={"max_current_a": 40, "max_power_w": 11040}
    )
    # Both: the lower (11,040 W / 3 / 230 V = 16 A).
    assert resp.json()["limit_a"] == pytest.approx([16.0, 16.0, 16.0])
    assert_error(await api.put(f"/api/v1/sites/{grid['id']}/limit", json={}), 422, "give")
    assert_error(await api.put("/api/v1/sites/999/limit", json={"max_current_a": 1}), 404, "")
    resp = await api.post(f"/api/v1/sites/{grid['id']}/meter", json={"non_ev_load_a": [5, 2, 20]})
    assert resp.status_code == 200
    body = resp.json()
    assert body["non_ev_load_a"] == [5.0, 2.0, 20.0] and body["non_ev_load_at"]
    assert body["limit_a"] == pytest.approx([11.0, 14.0, 0.0])
    assert_error(
        await api.post(f"/api/v1/sites/{grid['id']}/meter", json={"non_ev_load_a": []}), 422, ""
    )
    assert_error(
        await api.post(f"/api/v1/sites/{grid['id']}/meter", json={"non_ev_load_a": [1, 2, 3, 4]}),
        422,
        "",
    )
    assert_error(
        await api.post(f"/api/v1/sites/{grid['id']}/meter", json={"non_ev_load_a": [-1]}), 422, ""
    )
    assert_error(await api.post("/api/v1/sites/999/meter", json={"non_ev_load_a": [1]}), 404, "")


async def test_evse_priority(api):
    grid = await create(api, strategy="priority")
    assert (await api.post("/api/v1/stations", json={"id": "PRI1"})).status_code == 201
    await api.put("/api/v1/stations/PRI1", json={"site_id": grid["id"]})
    resp = await api.put("/api/v1/stations/PRI1/evses/2/priority", json={"priority": 5})
    assert resp.status_code == 204
    again = await api.put("/api/v1/stations/PRI1/evses/2/priority", json={"priority": 7})
    assert again.status_code == 204
    body = (await api.get(f"/api/v1/sites/{grid['id']}")).json()
    [row] = [a for a in body["allocations"] if a["evse_id"] == 2]
    assert row["priority"] == 7 and row["limit_a"] == 0.0
    assert_error(
        await api.put("/api/v1/stations/NOPE/evses/1/priority", json={"priority": 1}), 404, ""
    )
    assert_error(
        await api.put("/api/v1/stations/PRI1/evses/0/priority", json={"priority": 1}), 422, ""
    )
    assert_error(
        await api.put("/api/v1/stations/PRI1/evses/1/priority", json={"priority": 10**9}),
        422,
        "",
    )


async def test_sites_need_the_token(volta):
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{volta.api_port}") as anonymous:
        assert (await anonymous.get("/api/v1/sites")).status_code == 401
        resp = await anonymous.post("/api/v1/sites", json={"name": "x", "max_current_a": 1})
        assert resp.status_code == 401
