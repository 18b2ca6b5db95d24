"""Who may start and stop a transaction, for both versions: token types,
groups (a group member stops another's transaction), ConcurrentTx, master
pass (2.0.1 C16), languages (C01 IdTokenInfo.language1/2).

Covers the CSMS side of TC_C_02 / TC_C_06 / TC_C_07 (refused starts),
TC_C_39 (authorization by GroupId), TC_C_47..49 (master pass: Volta's part is
the groupIdToken and refusing a master-pass start), 1.6 TC_023/TC_024-style
ConcurrentTx and parentIdTag checks."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import add_token, now_iso, register
from tests.identification.stations import id_station

ALL_TYPES = [
    "Central",
    "eMAID",
    "ISO14443",
    "ISO15693",
    "KeyCode",
    "Local",
    "MacAddress",
    "NoAuthorization",
]


@pytest.fixture
def volta_settings():
    return {"master_pass_group_id": "MASTER"}


@pytest.fixture
async def cards(volta):
    await add_token(volta, "FAMILY", token_type="Central")
    await add_token(volta, "MUM", group_id="FAMILY")
    await add_token(volta, "DAD", group_id="FAMILY")
    await add_token(volta, "STRANGER")
    await add_token(volta, "MASTER", token_type="Central")
    await add_token(volta, "SERVICE-KEY", group_id="MASTER")
    await add_token(volta, "BLOCKED", status="Blocked")
    for sid in ("S16-A", "S16-B", "S201-A", "S201-B"):
        await register(volta, sid)


def start16(connector: int, tag: str, meter: int = 1000, **kw):
    return call16.StartTransaction(
        connector_id=connector, id_tag=tag, meter_start=meter, timestamp=now_iso(), **kw
    )


async def test_group_member_stops_anothers_transaction_v16(volta, api, cards):
    """1.6 §3.5.2 / TC_C_39-style: DAD's tag stops MUM's session; both carry
    parentIdTag FAMILY so the charger can match them."""
    async with id_station(volta, "S16-A") as cp:
        started = await cp.call(start16(1, "MUM"))
        assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": "FAMILY"}
        dad = await cp.call(call16.Authorize(id_tag="DAD"))
        assert dad.id_tag_info["parent_id_tag"] == started.id_tag_info["parent_id_tag"]
        stopped = await cp.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id,
                meter_stop=4000,
                timestamp=now_iso(),
                id_tag="DAD",
                reason="Local",
            )
        )
        assert stopped.id_tag_info["status"] == "Accepted"
    tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
    assert (tx["id_token"], tx["stop_id_token"], tx["status"]) == ("MUM", "DAD", "Ended")
    assert tx["energy_wh"] == 3000


async def test_concurrent_tx_v16(volta, api, cards):
    """A tag charging at one station is answered ConcurrentTx elsewhere; the
    same station repeating its StartTransaction is not (lost answer)."""
    async with id_station(volta, "S16-A") as a, id_station(volta, "S16-B") as b:
        first = start16(1, "MUM")
        started = await a.call(first)
        assert started.id_tag_info["status"] == "Accepted"
        again = await a.call(first)
        assert again.transaction_id == started.transaction_id
        assert again.id_tag_info["status"] == "Accepted"
        elsewhere = await b.call(start16(1, "MUM"))
        assert elsewhere.id_tag_info["status"] == "ConcurrentTx"
        # Another connector of the same station is "elsewhere" too.
        assert (await a.call(start16(2, "MUM"))).id_tag_info["status"] == "ConcurrentTx"
        # Once the first session ends the tag may start again.
        await a.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=1500, timestamp=now_iso()
            )
        )
        assert (await b.call(start16(2, "MUM"))).id_tag_info["status"] == "Accepted"
    txs = (await api.get("/api/v1/transactions", params={"station_id": "S16-B"})).json()
    assert sorted(t["authorization_status"] for t in txs) == ["Accepted", "ConcurrentTx"]


async def test_refused_starts_v16(volta, cards):
    """TC_C_06/TC_C_02 in 1.6 terms: a blocked or unknown tag's start is
    answered and refused."""
    async with id_station(volta, "S16-A") as cp:
        assert (await cp.call(start16(1, "BLOCKED"))).id_tag_info["status"] == "Blocked"
        assert (await cp.call(start16(2, "NOBODY"))).id_tag_info["status"] == "Invalid"
        # A master pass never starts a transaction (C16 applied to 1.6 too).
        assert (await cp.call(start16(2, "SERVICE-KEY"))).id_tag_info["status"] == "Invalid"
    async with id_station(volta, "S16-B") as cp:
        assert (await cp.call(start16(1, "NOBODY"))).id_tag_info["status"] == "Invalid"


def event201(
    event: str,
    tx: str,
    seq: int,
    token: str | None,
    evse: int = 1,
    token_type: str = "ISO14443",
    **kw,
):
    payload = {
        "event_type": event,
        "timestamp": now_iso(),
        "trigger_reason": "Authorized" if token else "CablePluggedIn",
        "seq_no": seq,
        "transaction_info": {"transaction_id": tx, **kw.pop("info", {})},
        **kw,
    }
    if seq == 0:
        payload["evse"] = {"id": evse, "connector_id": 1}
    if token:
        payload["id_token"] = {"id_token": token, "type": token_type}
    return call201.TransactionEvent(**payload)


async def test_concurrent_tx_and_group_stop_v201(volta, api, cards):
    async with id_station(volta, "S201-A", "2.0.1") as a, id_station(volta, "S201-B", "2.0.1") as b:
        r = await a.call(event201("Started", "T-1", 0, "MUM"))
        assert r.id_token_info["status"] == "Accepted"
        assert r.id_token_info["group_id_token"] == {"id_token": "FAMILY", "type": "Central"}
        # The retried Started event (same seqNo) is not ConcurrentTx.
        r = await a.call(event201("Started", "T-1", 0, "MUM"))
        assert r.id_token_info["status"] == "Accepted"
        r = await b.call(event201("Started", "T-2", 0, "MUM"))
        assert r.id_token_info["status"] == "ConcurrentTx"
        # TC_C_39: DAD (same group) ends MUM's transaction.
        r = await a.call(event201("Ended", "T-1", 1, "DAD", info={"stopped_reason": "Local"}))
        assert r.id_token_info["status"] == "Accepted"
        assert r.id_token_info["group_id_token"]["id_token"] == "FAMILY"
    txs = (await api.get("/api/v1/transactions", params={"station_id": "S201-A"})).json()
    assert (txs[0]["id_token"], txs[0]["stop_id_token"], txs[0]["status"]) == (
        "MUM",
        "DAD",
        "Ended",
    )


async def test_token_known_later_in_transaction_v201(volta, cards):
    """TC_C_08-style: a transaction started by plugging in gets its token in
    an Updated event; that token is checked as a start (ConcurrentTx, blocked)."""
    async with id_station(volta, "S201-A", "2.0.1") as a:
        assert (await a.call(event201("Started", "T-9", 0, "STRANGER"))).id_token_info[
            "status"
        ] == "Accepted"
        await a.call(event201("Started", "T-10", 0, None, evse=2))
        r = await a.call(event201("Updated", "T-10", 1, "STRANGER"))
        assert r.id_token_info["status"] == "ConcurrentTx"
        await a.call(event201("Started", "T-11", 0, None, evse=3))
        r = await a.call(event201("Updated", "T-11", 1, "BLOCKED"))
        assert r.id_token_info["status"] == "Blocked"


async def test_master_pass_v201(volta, cards):
    """C16 / TC_C_47-49: the master pass is Accepted with its group (the
    station knows AuthCtrlr.MasterPassGroupId) and may not start charging."""
    async with id_station(volta, "S201-A", "2.0.1") as cp:
        r = await cp.call(
            call201.Authorize(id_token={"id_token": "SERVICE-KEY", "type": "ISO14443"})
        )
        assert r.id_token_info["status"] == "Accepted"
        assert r.id_token_info["group_id_token"]["id_token"] == "MASTER"
        r = await cp.call(event201("Started", "T-M", 0, "SERVICE-KEY"))
        assert r.id_token_info["status"] == "Invalid"
        # It stops another driver's transaction: answered Accepted.
        await cp.call(event201("Started", "T-S", 0, "STRANGER", evse=2))
        r = await cp.call(
            event201("Ended", "T-S", 1, "SERVICE-KEY", info={"stopped_reason": "Local"})
        )
        assert r.id_token_info["status"] == "Accepted"


@pytest.mark.parametrize("kind", ALL_TYPES)
async def test_every_token_type_v201(volta, api, kind, database):
    """The operator manages tokens of every IdTokenEnumType, with language
    and note; Authorize answers with the token's languages (C01)."""
    if database.kind == "postgresql" and kind not in ("eMAID", "NoAuthorization"):
        pytest.skip("one PostgreSQL run per family of types is enough")
    await register(volta, "TYPES")
    value = "" if kind == "NoAuthorization" else f"TOK-{kind}"
    if kind != "NoAuthorization":
        resp = await api.post(
            "/api/v1/id-tokens",
            json={"token": value, "type": kind, "language1": "nl", "language2": "en-GB"},
        )
        assert resp.status_code == 201, resp.text
        assert resp.json()["language1"] == "nl"
    async with id_station(volta, "TYPES", "2.0.1") as cp:
        r = await cp.call(call201.Authorize(id_token={"id_token": value, "type": kind}))
    assert r.id_token_info["status"] == "Accepted"
    if kind != "NoAuthorization":
        assert (r.id_token_info["language1"], r.id_token_info["language2"]) == ("nl", "en-GB")


async def test_token_api_refuses_bad_language(api):
    resp = await api.post("/api/v1/id-tokens", json={"token": "X", "language1": "not a tag!"})
    assert resp.status_code == 422
    assert "language1" in resp.json()["detail"]
