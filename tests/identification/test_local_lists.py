"""Local authorization lists for both versions: full and differential
updates with growing versions, removals without info (D01.FR.17), an empty
Full list (TC_D_04), GetLocalListVersion (D02, TC_D_08/09), token changes
reaching a station that was offline when they happened, VersionMismatch
answered with a Full update.

CSMS side of TC_D_01 (Full), TC_D_02 (Differential), TC_D_03 (Differential
remove), TC_D_04 (Full empty), TC_D_08 / TC_D_09 (version); 1.6
LocalAuthListManagement (SendLocalList Full/Differential, GetLocalListVersion)."""

from __future__ import annotations

import pytest

from tests.helpers import add_token, register, wait_until
from tests.identification.stations import id_station


@pytest.fixture
def volta_settings():
    return {"housekeeping_interval": 0.2}


@pytest.fixture
async def cards(volta):
    await add_token(volta, "FAMILY", token_type="Central")
    await add_token(volta, "MUM", group_id="FAMILY", language1="de")
    await add_token(volta, "DAD", group_id="FAMILY")
    await add_token(volta, "KID", token_type="KeyCode")
    for sid in ("L16", "L201"):
        await register(volta, sid)


def tags16(sent: dict) -> dict:
    return {e["id_tag"]: e.get("id_tag_info") for e in sent.get("local_authorization_list", [])}


def tokens201(sent: dict) -> dict:
    return {
        e["id_token"]["id_token"]: e.get("id_token_info")
        for e in sent.get("local_authorization_list", [])
    }


async def test_full_differential_and_empty_v16(volta, api, cards):
    async with id_station(volta, "L16") as cp:
        resp = await api.put("/api/v1/stations/L16/local-list", json={"tokens": ["MUM", "DAD"]})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert (body["sent"], body["update_type"], body["version"]) == (True, "Full", 1)
        sent = cp.last("SendLocalList")
        assert (sent["update_type"], sent["list_version"]) == ("Full", 1)
        assert tags16(sent) == {
            "DAD": {"status": "Accepted", "parent_id_tag": "FAMILY"},
            "MUM": {"status": "Accepted", "parent_id_tag": "FAMILY"},
        }
        assert not any(e["pending"] for e in body["entries"])

        resp = await api.patch(
            "/api/v1/stations/L16/local-list", json={"add": ["KID"], "remove": ["DAD"]}
        )
        body = resp.json()
        assert (body["update_type"], body["version"]) == ("Differential", 2)
        sent = cp.last("SendLocalList")
        assert (sent["update_type"], sent["list_version"]) == ("Differential", 2)
        # D01.FR.17 / 1.6 §5.15: a removal carries the tag without idTagInfo.
        assert tags16(sent) == {"DAD": None, "KID": {"status": "Accepted"}}
        assert [e["token"] for e in body["entries"]] == ["KID", "MUM"]

        resp = await api.get("/api/v1/stations/L16/local-list/version")
        assert resp.status_code == 405
        resp = await api.post("/api/v1/stations/L16/local-list/version")
        assert resp.json()["version"] == 2

        body = (await api.delete("/api/v1/stations/L16/local-list")).json()
        sent = cp.last("SendLocalList")
        assert (sent["update_type"], sent["list_version"]) == ("Full", 3)
        assert "local_authorization_list" not in sent
        assert (body["version"], body["entries"]) == (3, [])
        assert cp.list_version == 3


async def test_token_change_reaches_station_back_online_v201(volta, api, cards):
    async with id_station(volta, "L201", "2.0.1") as cp:
        resp = await api.put("/api/v1/stations/L201/local-list", json={"tokens": ["MUM", "KID"]})
        assert resp.json()["version"] == 1
        sent = cp.last("SendLocalList")
        assert (sent["update_type"], sent["version_number"]) == ("Full", 1)
        assert tokens201(sent)["MUM"] == {
            "status": "Accepted",
            "group_id_token": {"id_token": "FAMILY", "type": "Central"},
            "language1": "de",
        }
        assert cp.last("SendLocalList")["local_authorization_list"][0]["id_token"]["type"] in (
            "KeyCode",
            "ISO14443",
        )
    # Offline: the operator blocks MUM and deletes KID.
    assert (await api.patch("/api/v1/id-tokens/MUM", json={"status": "Blocked"})).status_code == 200
    assert (await api.delete("/api/v1/id-tokens/KID")).status_code == 204
    listed = (await api.get("/api/v1/stations/L201/local-list")).json()
    assert {e["token"]: (e["pending"], e["removed"]) for e in listed["entries"]} == {
        "KID": (True, True),
        "MUM": (True, False),
    }
    async with id_station(volta, "L201", "2.0.1") as cp:
        assert await wait_until(lambda: cp.count("SendLocalList") == 1)
        sent = cp.last("SendLocalList")
        assert (sent["update_type"], sent["version_number"]) == ("Differential", 2)
        got = tokens201(sent)
        assert got["KID"] is None
        assert got["MUM"]["status"] == "Blocked"

        async def in_step() -> bool:
            lst = (await api.get("/api/v1/stations/L201/local-list")).json()
            return bool(lst["version"] == 2 and [e["token"] for e in lst["entries"]] == ["MUM"])

        assert await wait_until(in_step)
        assert not (await api.get("/api/v1/stations/L201/local-list")).json()["entries"][0][
            "pending"
        ]


async def test_version_mismatch_and_lost_list_get_full_update(volta, api, cards):
    async with id_station(volta, "L16") as cp:
        await api.put("/api/v1/stations/L16/local-list", json={"tokens": ["MUM"]})
        cp.answers["SendLocalList"] = "VersionMismatch"
        body = (await api.patch("/api/v1/stations/L16/local-list", json={"add": ["DAD"]})).json()
        assert (body["last_status"], body["full_pending"]) == ("VersionMismatch", True)
        cp.answers["SendLocalList"] = "Accepted"
        body = (await api.post("/api/v1/stations/L16/local-list/sync")).json()
        assert (body["update_type"], body["version"]) == ("Full", 2), (cp.received, body)
        assert set(tags16(cp.last("SendLocalList"))) == {"DAD", "MUM"}

        # TC_D_09-style: the station reports no list (a factory reset):
        # Volta records it and owes a Full update, which housekeeping sends.
        cp.list_version = 0
        sends = cp.count("SendLocalList")
        assert (await api.post("/api/v1/stations/L16/local-list/version")).json()["version"] == 0
        assert await wait_until(lambda: cp.count("SendLocalList") == sends + 1)
        assert cp.last("SendLocalList")["update_type"] == "Full"
        assert cp.list_version == 1


async def test_local_list_errors(volta, api, cards):
    resp = await api.put("/api/v1/stations/NOPE/local-list", json={"tokens": []})
    assert resp.status_code == 404
    resp = await api.put("/api/v1/stations/L16/local-list", json={"tokens": ["MUM", "GHOST"]})
    assert (resp.status_code, resp.json()["detail"]) == (422, "unknown id tokens: GHOST")
    assert (await api.get("/api/v1/stations/L16/local-list")).status_code == 404
    # Offline: recorded, sent later.
    body = (await api.put("/api/v1/stations/L16/local-list", json={"tokens": None})).json()
    assert body["sent"] is False
    assert {e["token"] for e in body["entries"]} == {"FAMILY", "MUM", "DAD", "KID"}
    assert all(e["pending"] for e in body["entries"])
    async with id_station(volta, "L16") as cp:
        assert await wait_until(lambda: cp.count("SendLocalList") == 1)
        assert cp.last("SendLocalList")["update_type"] == "Full"
