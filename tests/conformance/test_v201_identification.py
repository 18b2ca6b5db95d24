"""OCPP 2.0.1 CSMS test cases (Part 6), blocks C (Authorization), D (Local
Authorization List Management) and H (Reservation).

The charging station is played over a real WebSocket; the operator's part
(local lists, reservations, ClearCache) goes through the HTTP API."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conformance.conftest import BLOCKED, EXPIRED, INVALID, VALID, Station
from tests.conformance.test_v201 import TOKEN, event, status
from tests.helpers import add_token, wait_until
from tests.pnc_pki import Pki, pnc_settings, running_pki

GROUP, MUM, DAD, MASTER_GROUP, MASTER = "GROUP001", "100000C21", "100000C22", "MPG001", "100000C99"


@pytest.fixture
async def pki(tmp_path) -> AsyncIterator[Pki]:
    """A V2G / MO test PKI and its OCSP responder on loopback (Plug & Charge)."""
    async with running_pki(tmp_path) as p:
        yield p


@pytest.fixture
def volta_settings(pki) -> dict[str, Any]:
    return pnc_settings(pki, master_pass_group_id=MASTER_GROUP, housekeeping_interval=0.2)


@pytest.fixture
async def family(volta, tokens) -> None:
    await add_token(volta, GROUP, token_type="Central")
    await add_token(volta, MUM, token_type="Central", group_id=GROUP)
    await add_token(volta, DAD, token_type="Central", group_id=GROUP)
    await add_token(volta, MASTER_GROUP, token_type="Central")
    await add_token(volta, MASTER, token_type="Central", group_id=MASTER_GROUP)


def tok(value: str) -> dict[str, str]:
    return {"idToken": value, "type": "Central"}


async def operator(cs: Station, request: Any, action: str) -> tuple[dict[str, Any], Any]:
    """Run an API request that makes the CSMS send `action`; return what the
    station received and the API's answer."""
    task = asyncio.ensure_future(request)
    sent = await cs.expect(action)
    return sent, await task


# -- C. Authorization --------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected", "tc"),
    [
        (INVALID, ("Invalid", "Unknown"), "TC_C_02_CSMS"),
        (BLOCKED, ("Blocked",), "TC_C_06_CSMS"),
        (EXPIRED, ("Expired",), "TC_C_07_CSMS"),
    ],
    ids=["TC_C_02_CSMS", "TC_C_06_CSMS", "TC_C_07_CSMS"],
)
async def test_local_start_refused(cs, token, expected, tc):
    """C01.FR.02 / E05: Authorize and the transaction's idTokenInfo refuse it."""
    r = await cs.call("Authorize", {"idToken": {"idToken": token, "type": "ISO14443"}})
    assert r["idTokenInfo"]["status"] in expected
    await cs.call("TransactionEvent", event("Started", 0, "CablePluggedIn", evse={"id": 1}))
    r = await cs.call(
        "TransactionEvent",
        event("Updated", 1, "Authorized", idToken={"idToken": token, "type": "ISO14443"}),
    )
    assert r["idTokenInfo"]["status"] in expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [(VALID, "Accepted"), (INVALID, "Unknown")],
    ids=["TC_C_08_CSMS", "TC_C_20_CSMS"],
)
async def test_authorization_cache(cs, token, expected):
    """C12.FR.03 / C10: a token from the station's cache, seen first in a
    TransactionEvent (no AuthorizeRequest), gets its real status back."""
    await status(cs, "Occupied")
    await cs.call(
        "TransactionEvent",
        event("Started", 0, "CablePluggedIn", evse={"id": 1, "connectorId": 1}),
    )
    r = await cs.call("TransactionEvent", event("Updated", 1, "Authorized", idToken=tok(token)))
    assert r["idTokenInfo"]["status"] == expected


@pytest.mark.parametrize("answer", ["Accepted", "Rejected"], ids=["TC_C_37_CSMS", "TC_C_38_CSMS"])
async def test_clear_cache(cs, op201, answers, answer):
    """C11.FR.01: the operator clears the station's authorization cache; the
    station's answer is the command's outcome."""
    answers["ClearCache"] = {"status": answer}
    sent, record = await operator(cs, op201.send("ClearCache", {}), "ClearCache")
    assert sent == {}
    assert record["status"] == ("accepted" if answer == "Accepted" else "rejected")


async def test_TC_C_39_CSMS(cs, family):
    """C09.FR.03: both tokens of a group carry the same groupIdToken; the second
    stops the first's transaction and is Accepted."""
    r = await cs.call(
        "TransactionEvent", event("Started", 0, "Authorized", idToken=tok(MUM), evse={"id": 1})
    )
    assert r["idTokenInfo"]["groupIdToken"] == tok(GROUP)
    r = await cs.call("Authorize", {"idToken": tok(DAD)})
    assert r["idTokenInfo"] == {"status": "Accepted", "groupIdToken": tok(GROUP)}
    r = await cs.call(
        "TransactionEvent",
        event("Ended", 1, "StopAuthorized", idToken=tok(DAD), stoppedReason="Local"),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"


async def _list_with_group(cs: Station, api: Any) -> dict[str, Any]:
    sent, resp = await operator(
        cs,
        api.put("/api/v1/stations/CS201/local-list", json={"tokens": [MUM, DAD]}),
        "SendLocalList",
    )
    assert resp.status_code == 200
    return sent


async def test_TC_C_40_CSMS(cs, api, answers, family):
    """C09 with C13/C14: the group's tokens are in the local list with their
    groupIdToken, so the station can match them offline."""
    answers["SendLocalList"] = {"status": "Accepted"}
    sent = await _list_with_group(cs, api)
    infos = {e["idToken"]["idToken"]: e["idTokenInfo"] for e in sent["localAuthorizationList"]}
    assert infos[MUM]["groupIdToken"] == infos[DAD]["groupIdToken"] == tok(GROUP)
    r = await cs.call(
        "TransactionEvent", event("Started", 0, "Authorized", idToken=tok(MUM), evse={"id": 1})
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    r = await cs.call(
        "TransactionEvent",
        event("Ended", 1, "StopAuthorized", idToken=tok(DAD), stoppedReason="Local"),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"


async def test_TC_C_43_CSMS(cs, api, answers, family):
    """C09 / C14.FR.03: a group member blocked after the list was sent is
    sent again (Differential) with its new status, and Authorize says Blocked."""
    answers["SendLocalList"] = {"status": "Accepted"}
    await _list_with_group(cs, api)
    sent, resp = await operator(
        cs, api.patch(f"/api/v1/id-tokens/{DAD}", json={"status": "Blocked"}), "SendLocalList"
    )
    assert resp.status_code == 200
    assert sent["updateType"] == "Differential"
    assert sent["localAuthorizationList"][0]["idTokenInfo"]["status"] == "Blocked"
    r = await cs.call("Authorize", {"idToken": tok(DAD)})
    assert r["idTokenInfo"]["status"] == "Blocked"


@pytest.mark.parametrize("evses", [2, 1, 2], ids=["TC_C_47_CSMS", "TC_C_48_CSMS", "TC_C_49_CSMS"])
async def test_master_pass(cs, family, evses):
    """C16: the master pass is Accepted with the MasterPassGroupId as its
    groupIdToken, so the station lets it stop transactions; it stops each
    of them (all of them, or the one chosen on the station's UI)."""
    for n in range(1, evses + 1):
        r = await cs.call(
            "TransactionEvent",
            event(
                "Started",
                0,
                "Authorized",
                tx=f"TX-{n}",
                idToken=tok(VALID if n == 1 else MUM),
                evse={"id": n},
            ),
        )
        assert r["idTokenInfo"]["status"] == "Accepted"
    r = await cs.call("Authorize", {"idToken": tok(MASTER)})
    assert r["idTokenInfo"] == {"status": "Accepted", "groupIdToken": tok(MASTER_GROUP)}
    for n in range(1, evses + 1):
        r = await cs.call(
            "TransactionEvent",
            event(
                "Ended",
                1,
                "StopAuthorized",
                tx=f"TX-{n}",
                idToken=tok(MASTER),
                stoppedReason="MasterPass",
            ),
        )
        assert r["idTokenInfo"]["status"] == "Accepted"
    # C16: a master pass never starts one.
    r = await cs.call(
        "TransactionEvent",
        event("Started", 0, "Authorized", tx="TX-M", idToken=tok(MASTER), evse={"id": 3}),
    )
    assert r["idTokenInfo"]["status"] == "Invalid"


EMAID = "DEVOLC1234567X"


def emaid(value: str = EMAID) -> dict[str, str]:
    return {"idToken": value, "type": "eMAID"}


async def contract_transaction(cs: Station, tx: str) -> None:
    """Steps 5-6: the transaction the contract authorized is Accepted too."""
    r = await cs.call(
        "TransactionEvent",
        event("Started", 0, "Authorized", tx=tx, idToken=emaid(), evse={"id": 1}),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"


async def test_TC_C_50_CSMS(volta, cs, pki):
    """C07.FR.04, C07.FR.05 (local validation): the station sends
    iso15118CertificateHashData; Volta asks the OCSP responder it names
    (a real one, over HTTP), the certificate is good and the eMAID known:
    idTokenInfo Accepted, certificateStatus Accepted."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    await status(cs, "Occupied")
    r = await cs.call(
        "Authorize", {"idToken": emaid(), "iso15118CertificateHashData": pki.hash_data(contract)}
    )
    assert r == {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
    assert pki.responder.requests == 2  # the contract and its sub-CA, no cached answer before
    await contract_transaction(cs, "TX-PNC-50")


async def test_TC_C_51_CSMS(volta, cs, pki):
    """C07.FR.16: the responder says the contract certificate is revoked:
    certificateStatus CertificateRevoked and idTokenInfo Invalid, although
    the eMAID itself is a valid token."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID, revoked=True)
    r = await cs.call(
        "Authorize", {"idToken": emaid(), "iso15118CertificateHashData": pki.hash_data(contract)}
    )
    assert r == {"idTokenInfo": {"status": "Invalid"}, "certificateStatus": "CertificateRevoked"}
    assert pki.responder.requests >= 1


async def test_TC_C_52_CSMS(volta, cs, pki):
    """C07.FR.04, C07.FR.05, C07.FR.06 (central validation): the station
    sends the chain in PEM (contract + sub-CA) and no hash data; Volta checks
    it against its V2G root, computes the OCSP request itself for the
    responder in the certificate's AIA, and maps the eMAID to its token."""
    await add_token(volta, EMAID, token_type="eMAID")
    contract = pki.contract(EMAID)
    await status(cs, "Occupied")
    r = await cs.call("Authorize", {"idToken": emaid(), "certificate": pki.chain_pem(contract)})
    assert r == {"idTokenInfo": {"status": "Accepted"}, "certificateStatus": "Accepted"}
    assert pki.responder.requests == 2  # the contract's and the sub-CA's AIA responders
    await contract_transaction(cs, "TX-PNC-52")


# -- D. Local Authorization List Management ----------------------------------------


async def test_TC_D_01_CSMS(cs, api, answers, family):
    """D01.FR.01/06/18: Full, versionNumber > 0, unique tokens, each with idTokenInfo."""
    answers["SendLocalList"] = {"status": "Accepted"}
    sent, resp = await operator(
        cs,
        api.put("/api/v1/stations/CS201/local-list", json={"tokens": [VALID, MUM]}),
        "SendLocalList",
    )
    assert (sent["updateType"], sent["versionNumber"]) == ("Full", 1)
    tokens = [e["idToken"]["idToken"] for e in sent["localAuthorizationList"]]
    assert sorted(tokens) == sorted({VALID, MUM})
    assert all("idTokenInfo" in e for e in sent["localAuthorizationList"])
    assert resp.json()["version"] == 1


async def test_TC_D_02_CSMS(cs, api, answers, family):
    """D01.FR.01/18: Differential, versionNumber above the station's."""
    answers["SendLocalList"] = {"status": "Accepted"}
    await operator(
        cs, api.put("/api/v1/stations/CS201/local-list", json={"tokens": [VALID]}), "SendLocalList"
    )
    sent, _ = await operator(
        cs, api.patch("/api/v1/stations/CS201/local-list", json={"add": [MUM]}), "SendLocalList"
    )
    assert (sent["updateType"], sent["versionNumber"]) == ("Differential", 2)
    assert sent["localAuthorizationList"][0]["idTokenInfo"]["status"] == "Accepted"


async def test_TC_D_03_CSMS(cs, api, answers, family):
    """D01.FR.17: a Differential removal carries the idToken without idTokenInfo."""
    answers["SendLocalList"] = {"status": "Accepted"}
    await operator(
        cs,
        api.put("/api/v1/stations/CS201/local-list", json={"tokens": [VALID, MUM]}),
        "SendLocalList",
    )
    sent, _ = await operator(
        cs, api.patch("/api/v1/stations/CS201/local-list", json={"remove": [MUM]}), "SendLocalList"
    )
    assert sent["updateType"] == "Differential" and sent["versionNumber"] == 2
    assert sent["localAuthorizationList"] == [{"idToken": tok(MUM)}]


async def test_TC_D_04_CSMS(cs, api, answers, family):
    """D01: a Full update without entries empties the station's list."""
    answers["SendLocalList"] = {"status": "Accepted"}
    sent, resp = await operator(
        cs, api.delete("/api/v1/stations/CS201/local-list"), "SendLocalList"
    )
    assert sent["updateType"] == "Full" and sent["versionNumber"] > 0
    assert not sent.get("localAuthorizationList")
    assert resp.json()["entries"] == []


@pytest.mark.parametrize("version", [1, 0], ids=["TC_D_08_CSMS", "TC_D_09_CSMS"])
async def test_get_local_list_version(cs, api, answers, version):
    """D02.FR.01: the CSMS asks; 0 means no list installed."""
    answers["GetLocalListVersion"] = {"versionNumber": version}
    sent, resp = await operator(
        cs, api.post("/api/v1/stations/CS201/local-list/version"), "GetLocalListVersion"
    )
    assert sent == {}
    assert resp.json()["version"] == version


# -- H. Reservation ----------------------------------------------------------------


def later(seconds: float = 3600) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def reserve(
    cs: Station, api: Any, expect: int = 201, **body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    body.setdefault("expires_at", later())
    sent, resp = await operator(
        cs,
        api.post(
            "/api/v1/reservations", json={"station_id": "CS201", "id_token_type": "Central", **body}
        ),
        "ReserveNow",
    )
    assert resp.status_code == expect, resp.text
    return sent, resp.json()


async def test_TC_H_01_CSMS(cs, api, answers):
    """H01 (S2) then H03: a specific EVSE; the driver's transaction carries the
    reservationId and consumes it."""
    answers["ReserveNow"] = {"status": "Accepted"}
    sent, res = await reserve(cs, api, id_token=VALID, evse_id=1)
    assert (sent["id"], sent["evseId"], sent["idToken"]) == (res["id"], 1, TOKEN)
    assert res["status"] == "Accepted"
    await status(cs, "Reserved")
    r = await cs.call(
        "TransactionEvent",
        event(
            "Started",
            0,
            "Authorized",
            idToken=TOKEN,
            evse={"id": 1, "connectorId": 1},
            reservationId=res["id"],
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    assert (await api.get(f"/api/v1/reservations/{res['id']}")).json()["status"] == "Used"


async def test_TC_H_07_CSMS(cs, api, answers):
    """H01 then H04: not used before its expiry, the station reports Expired;
    the CSMS ends it (and would on its own at the expiry time)."""
    answers["ReserveNow"] = {"status": "Accepted"}
    # Expiring soon (not within the second: on a loaded CI machine the
    # reservation itself may take that long); the station reports it first.
    _, res = await reserve(cs, api, id_token=VALID, evse_id=1, expires_at=later(20))
    await cs.call(
        "ReservationStatusUpdate",
        {"reservationId": res["id"], "reservationUpdateStatus": "Expired"},
    )
    await status(cs, "Available")
    assert (await api.get(f"/api/v1/reservations/{res['id']}")).json()["status"] == "Expired"


async def test_TC_H_08_CSMS(cs, api, answers):
    """H01 (S1): an unspecified EVSE: no evseId in the request."""
    answers["ReserveNow"] = {"status": "Accepted"}
    sent, res = await reserve(cs, api, id_token=VALID)
    assert "evseId" not in sent and "connectorType" not in sent
    assert res["status"] == "Accepted"


async def test_TC_H_14_CSMS(cs, api, answers, family):
    """H01: as many unspecified reservations as EVSEs, each Accepted."""
    answers["ReserveNow"] = {"status": "Accepted"}
    ids = []
    for token in (VALID, MUM):
        sent, res = await reserve(cs, api, id_token=token)
        ids.append(sent["id"])
        assert res["status"] == "Accepted"
    assert len(set(ids)) == 2


async def test_TC_H_15_CSMS(cs, api, answers):
    """H01 (S3): a connector type instead of an EVSE."""
    answers["ReserveNow"] = {"status": "Accepted"}
    sent, res = await reserve(cs, api, id_token=VALID, connector_type="cType2")
    assert sent["connectorType"] == "cType2" and "evseId" not in sent
    assert res["status"] == "Accepted"


async def test_TC_H_17_CSMS(cs, api, answers):
    """H02: CancelReservation with the id of the ReserveNow."""
    answers["ReserveNow"] = {"status": "Accepted"}
    answers["CancelReservation"] = {"status": "Accepted"}
    _, res = await reserve(cs, api, id_token=VALID, evse_id=1)
    sent, resp = await operator(
        cs, api.delete(f"/api/v1/reservations/{res['id']}"), "CancelReservation"
    )
    assert sent == {"reservationId": res["id"]}
    assert resp.json()["status"] == "Cancelled"


async def test_TC_H_19_CSMS(cs, api, answers, family):
    """H01 with groupIdToken, then H03: another token of the group uses it."""
    answers["ReserveNow"] = {"status": "Accepted"}
    sent, res = await reserve(cs, api, id_token=MUM, evse_id=1)
    assert sent["groupIdToken"] == tok(GROUP)
    r = await cs.call(
        "TransactionEvent",
        event(
            "Started",
            0,
            "Authorized",
            idToken=tok(DAD),
            evse={"id": 1, "connectorId": 1},
            reservationId=res["id"],
        ),
    )
    assert r["idTokenInfo"]["status"] == "Accepted"
    assert (await api.get(f"/api/v1/reservations/{res['id']}")).json()["status"] == "Used"


async def test_TC_H_20_CSMS(cs, api, answers):
    """H01: the EVSE goes Faulted; the station removes the reservation."""
    answers["ReserveNow"] = {"status": "Accepted"}
    _, res = await reserve(cs, api, id_token=VALID, evse_id=1)
    await status(cs, "Faulted")
    await cs.call(
        "ReservationStatusUpdate",
        {"reservationId": res["id"], "reservationUpdateStatus": "Removed"},
    )

    async def removed() -> bool:
        got = (await api.get(f"/api/v1/reservations/{res['id']}")).json()
        return bool(got["status"] == "Removed")

    assert await wait_until(removed)


async def test_TC_H_22_CSMS(cs, api, answers):
    """H01: the station rejects; the CSMS keeps the answer, and the operator
    is told (409 with the station's answer; the reservation holds nothing)."""
    answers["ReserveNow"] = {"status": "Rejected"}
    _, refused = await reserve(cs, api, expect=409, id_token=VALID, evse_id=1)
    assert refused["station_status"] == "Rejected"
    res = refused["reservation"]
    assert res["status"] == "Rejected"
