"""OCPP 2.0.1 CSMS test cases (Part 6), block O (display messages) and N09/N10
(customer information).

Each test is named by its test case id; the charging station is played over
a real WebSocket, the operator's part through Volta's own API (display
messages, customer information, the erasure), never a raw command."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from tests.conformance.conftest import VALID, Station
from tests.conformance.test_v201 import energy_transfer_started
from tests.helpers import now_iso, wait_until

DISPLAY = "/api/v1/stations/CS201/display-messages"
CUSTOMER = "/api/v1/stations/CS201/customer-information"
START = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
END = dt.datetime(2030, 1, 2, 12, 0, tzinfo=dt.UTC)


async def operator(cs: Station, request: Any, action: str) -> tuple[dict[str, Any], Any]:
    """Run an API request that makes Volta send `action`; return what the
    station received and the API's answer."""
    task = asyncio.ensure_future(request)
    sent = await cs.expect(action)
    return sent, await task


async def set_message(cs: Station, api: Any, **body: Any) -> tuple[dict[str, Any], Any]:
    body.setdefault("content", "Welcome to OCA")
    sent, resp = await operator(cs, api.post(DISPLAY, json=body), "SetDisplayMessage")
    assert resp.status_code == 201, resp.text
    return sent["message"], resp.json()


# -- O. DisplayMessage --------------------------------------------------------------


async def test_TC_O_01_CSMS(cs, api, answers):
    """O01.FR.01: SetDisplayMessageRequest; the answer is kept with the message."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, stored = await set_message(cs, api, priority="NormalCycle", language="en")
    assert sent["priority"] == "NormalCycle"
    assert sent["message"] == {"format": "UTF8", "language": "en", "content": "Welcome to OCA"}
    assert (stored["message_id"], stored["status"]) == (sent["id"], "Accepted")


async def _notify(cs: Station, request_id: int, infos: list[dict[str, Any]]) -> None:
    """The station's report in parts of one message (tbc on all but the last)."""
    for i, info in enumerate(infos):
        tbc = i < len(infos) - 1
        assert (
            await cs.call(
                "NotifyDisplayMessages",
                {"requestId": request_id, "tbc": tbc, "messageInfo": [info]},
            )
            == {}
        )


def info(message_id: int, content: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": message_id,
        "priority": extra.pop("priority", "NormalCycle"),
        "message": {"format": "UTF8", "content": content},
        **extra,
    }


async def _refresh(cs: Station, api: Any, body: dict[str, Any] | None = None) -> Any:
    request = api.post(f"{DISPLAY}/refresh", json=body) if body else api.post(f"{DISPLAY}/refresh")
    sent, resp = await operator(cs, request, "GetDisplayMessages")
    assert resp.status_code == 202, resp.text
    assert resp.json()["request_id"] == sent["requestId"]
    return sent, resp.json()


async def test_TC_O_02_CSMS(cs, api, answers):
    """O03.FR.01-05: GetDisplayMessages without criteria; the messages of the
    NotifyDisplayMessages parts are stored."""
    answers["GetDisplayMessages"] = {"status": "Accepted"}
    sent, report = await _refresh(cs, api)
    assert sent == {"requestId": sent["requestId"]}
    assert report["status"] == "Accepted"
    await _notify(cs, sent["requestId"], [info(1, "one"), info(2, "two", state="Charging")])
    rows = (await api.get(DISPLAY)).json()
    assert [(m["message_id"], m["content"], m["status"]) for m in rows] == [
        (1, "one", "Reported"),
        (2, "two", "Reported"),
    ]
    assert rows[1]["state"] == "Charging"


async def test_TC_O_03_CSMS(cs, api, answers):
    """O03.FR.06: nothing configured, the station answers Unknown (no report follows)."""
    answers["GetDisplayMessages"] = {"status": "Unknown"}
    _, report = await _refresh(cs, api)
    assert (report["status"], report["messages"]) == ("Unknown", [])
    assert (await api.get(DISPLAY)).json() == []


async def test_TC_O_04_CSMS(cs, api, answers):
    """O05.FR.01: ClearDisplayMessageRequest for a message set before."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    answers["ClearDisplayMessage"] = {"status": "Accepted"}
    sent, _ = await set_message(cs, api)
    cleared, resp = await operator(cs, api.delete(f"{DISPLAY}/{sent['id']}"), "ClearDisplayMessage")
    assert cleared == {"id": sent["id"]}
    assert (resp.json()["status"], resp.json()["message"]["status"]) == ("Accepted", "Cleared")
    assert (await api.get(DISPLAY)).json() == []


async def test_TC_O_05_CSMS(cs, api, answers):
    """O05.FR.02: an id the station does not know is answered Unknown."""
    answers["ClearDisplayMessage"] = {"status": "Unknown"}
    cleared, resp = await operator(cs, api.delete(f"{DISPLAY}/77"), "ClearDisplayMessage")
    assert cleared == {"id": 77}
    assert (resp.status_code, resp.json()["status"]) == (200, "Unknown")


async def test_TC_O_06_CSMS(cs, api, answers):
    """O02.FR.01: a message for a running transaction carries its transactionId."""
    await energy_transfer_started(cs)
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, stored = await set_message(cs, api, transaction_id="TX-1")
    assert sent["transactionId"] == "TX-1"
    assert (stored["transaction_id"], stored["status"]) == ("TX-1", "Accepted")


@pytest.mark.parametrize(
    ("criteria", "tc"),
    [
        ({"ids": [2]}, "TC_O_07_CSMS"),
        ({"priority": "InFront"}, "TC_O_08_CSMS"),
        ({"state": "Charging"}, "TC_O_09_CSMS"),
    ],
    ids=["TC_O_07_CSMS", "TC_O_08_CSMS", "TC_O_09_CSMS"],
)
async def test_get_specific(cs, api, answers, criteria, tc):
    """O04.FR.01-03: GetDisplayMessages by id, priority or state; the report is stored."""
    answers["GetDisplayMessages"] = {"status": "Accepted"}
    sent, report = await _refresh(cs, api, criteria)
    assert report["criteria"] == {"ids": [], "priority": None, "state": None} | criteria
    wire = {"ids": "id"}
    for key, value in criteria.items():
        assert sent[wire.get(key, key)] == value
    await _notify(cs, sent["requestId"], [info(2, "two", priority="InFront", state="Charging")])

    async def complete() -> bool:
        rows = (await api.get(DISPLAY)).json()
        return [m["message_id"] for m in rows] == [2]

    assert await wait_until(complete, 10)


async def test_TC_O_10_CSMS(cs, api, answers):
    """O02.FR.02: the station knows no such transaction: UnknownTransaction is kept."""
    answers["SetDisplayMessage"] = {"status": "UnknownTransaction"}
    sent, stored = await set_message(cs, api, transaction_id="TX-NOPE")
    assert sent["transactionId"] == "TX-NOPE"
    assert stored["status"] == "UnknownTransaction"


async def test_TC_O_11_CSMS(cs, api, answers):
    """O04.FR.04: criteria no message matches: the station answers Unknown."""
    answers["GetDisplayMessages"] = {"status": "Unknown"}
    sent, report = await _refresh(cs, api, {"ids": [99], "priority": "AlwaysFront"})
    assert (sent["id"], sent["priority"]) == ([99], "AlwaysFront")
    assert report["status"] == "Unknown"


async def test_TC_O_12_CSMS(cs, api, answers):
    """O06.FR.01: a message replaced by a SetDisplayMessage with the same id."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    first, _ = await set_message(cs, api, content="old")
    again, stored = await set_message(cs, api, content="new", message_id=first["id"])
    assert again["id"] == first["id"] and again["message"]["content"] == "new"
    assert (stored["message_id"], stored["status"]) == (first["id"], "Accepted")
    rows = (await api.get(DISPLAY)).json()
    assert [(m["message_id"], m["content"]) for m in rows] == [(first["id"], "new")]


async def test_TC_O_13_CSMS(cs, api, answers):
    """O01.FR.06: a message shown from startDateTime."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, stored = await set_message(cs, api, start_at=START.isoformat())
    assert sent["startDateTime"].startswith("2030-01-01T12:00:00")
    assert "endDateTime" not in sent and stored["status"] == "Accepted"


async def test_TC_O_14_CSMS(cs, api, answers):
    """O01.FR.07: a message removed after endDateTime."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, _ = await set_message(cs, api, end_at=END.isoformat())
    assert sent["endDateTime"].startswith("2030-01-02T12:00:00")
    assert "startDateTime" not in sent


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({"priority": "AlwaysFront"}, "NotSupportedPriority"),
        ({"state": "Faulted"}, "NotSupportedState"),
        ({"format": "HTML", "content": "<b>OCA</b>"}, "NotSupportedMessageFormat"),
        ({}, "Rejected"),
    ],
    ids=["TC_O_17_CSMS", "TC_O_18_CSMS", "TC_O_19_CSMS", "TC_O_26_CSMS"],
)
async def test_not_accepted(cs, api, answers, body, answer):
    """O01.FR.02-05: a message the station does not take is kept with its answer."""
    answers["SetDisplayMessage"] = {"status": answer}
    sent, stored = await set_message(cs, api, **body)
    for key, value in body.items():
        wire = sent["message"][key] if key in ("format", "content") else sent[key]
        assert wire == value
    assert stored["status"] == answer
    [row] = (await api.get(DISPLAY)).json()
    assert row["status"] == answer


async def test_TC_O_25_CSMS(cs, api, answers):
    """O01.FR.11: a message shown only in a given state of the station."""
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, stored = await set_message(cs, api, state="Idle", priority="InFront")
    assert (sent["state"], sent["priority"]) == ("Idle", "InFront")
    assert stored["state"] == "Idle"


async def test_TC_O_27_CSMS(cs, api, answers):
    """O02 with O01.FR.06 (errata 2025-02): transactionId and startDateTime;
    state and endDateTime omitted."""
    await energy_transfer_started(cs)
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, _ = await set_message(cs, api, transaction_id="TX-1", start_at=START.isoformat())
    assert sent["transactionId"] == "TX-1" and "startDateTime" in sent
    assert "state" not in sent and "endDateTime" not in sent


async def test_TC_O_28_CSMS(cs, api, answers):
    """O02 with O01.FR.07 (errata 2025-02): transactionId and endDateTime;
    state and startDateTime omitted."""
    await energy_transfer_started(cs)
    answers["SetDisplayMessage"] = {"status": "Accepted"}
    sent, _ = await set_message(
        cs, api, transaction_id="TX-1", end_at=END.isoformat(), priority="InFront"
    )
    assert sent["transactionId"] == "TX-1" and "endDateTime" in sent
    assert "state" not in sent and "startDateTime" not in sent


# -- N. Diagnostics: customer information (N09, N10) ------------------------------


async def _customer(cs: Station, api: Any, **body: Any) -> tuple[dict[str, Any], Any]:
    sent, resp = await operator(cs, api.post(CUSTOMER, json=body), "CustomerInformation")
    assert resp.status_code == 201, resp.text
    assert resp.json()["id"] == sent["requestId"]
    return sent, resp.json()


async def _report(cs: Station, request_id: int, parts: list[str]) -> None:
    for seq, data in enumerate(parts):
        assert (
            await cs.call(
                "NotifyCustomerInformation",
                {
                    "data": data,
                    "tbc": seq < len(parts) - 1,
                    "seqNo": seq,
                    "generatedAt": now_iso(),
                    "requestId": request_id,
                },
            )
            == {}
        )


async def _stored(api: Any, request_id: int) -> dict[str, Any]:
    return dict((await api.get(f"/api/v1/customer-information-requests/{request_id}")).json())


@pytest.mark.parametrize(
    ("clear", "parts", "tc"),
    [
        (False, ["Token used 3 times", "; last 2030-01-01"], "TC_N_27_CSMS"),
        (False, ["No data"], "TC_N_28_CSMS"),
        (True, ["Cleared: token in cache"], "TC_N_30_CSMS"),
        (True, ["No data"], "TC_N_31_CSMS"),
    ],
    ids=["TC_N_27_CSMS", "TC_N_28_CSMS", "TC_N_30_CSMS", "TC_N_31_CSMS"],
)
async def test_customer_report(cs, api, answers, clear, parts, tc):
    """N09.FR.01-04 / N10.FR.01-03: CustomerInformation by idToken (report,
    and clear where asked); the NotifyCustomerInformation parts are joined."""
    answers["CustomerInformation"] = {"status": "Accepted"}
    sent, asked = await _customer(cs, api, id_token=VALID, id_token_type="Central", clear=clear)
    assert (sent["report"], sent["clear"]) == (True, clear)
    assert sent["idToken"] == {"idToken": VALID, "type": "Central"}
    assert "customerCertificate" not in sent and "customerIdentifier" not in sent
    assert (asked["status"], asked["complete"]) == ("Accepted", False)
    await _report(cs, sent["requestId"], parts)
    found = await _stored(api, sent["requestId"])
    assert (found["data"], found["parts"], found["complete"]) == ("".join(parts), len(parts), True)


async def test_TC_N_29_CSMS(cs, api, answers):
    """N09.FR.05: the station does not accept: Rejected, nothing to wait for."""
    answers["CustomerInformation"] = {"status": "Rejected"}
    _, asked = await _customer(cs, api, id_token=VALID, id_token_type="Central")
    assert (asked["status"], asked["complete"]) == ("Rejected", True)


async def test_TC_N_32_CSMS(cs, api, answers):
    """N10.FR.01: clear without a report."""
    answers["CustomerInformation"] = {"status": "Accepted"}
    sent, asked = await _customer(
        cs, api, id_token=VALID, id_token_type="Central", report=False, clear=True
    )
    assert (sent["report"], sent["clear"]) == (False, True)
    assert (asked["status"], asked["complete"]) == ("Accepted", True)


async def test_TC_N_46_CSMS(cs, api, answers):
    """N10 with D01.FR.17: the driver's data erased (report and clear by
    idToken), then the local list sent the token alone, Differential."""
    answers["SendLocalList"] = {"status": "Accepted"}
    answers["CustomerInformation"] = {"status": "Accepted"}
    full, resp = await operator(
        cs, api.put("/api/v1/stations/CS201/local-list", json={"tokens": [VALID]}), "SendLocalList"
    )
    assert resp.status_code == 200 and full["updateType"] == "Full"
    erase = asyncio.ensure_future(
        api.post(f"/api/v1/id-tokens/{VALID}/erase", json={"stations": "all"})
    )
    sent = await cs.expect("CustomerInformation")
    assert (sent["report"], sent["clear"]) == (True, True)
    assert sent["idToken"] == {"idToken": VALID, "type": "Central"}
    await _report(cs, sent["requestId"], ["Cleared: local list entry, cache entry"])
    update = await cs.expect("SendLocalList")
    assert update["updateType"] == "Differential"
    assert update["versionNumber"] == full["versionNumber"] + 1
    assert update["localAuthorizationList"] == [{"idToken": {"idToken": VALID, "type": "Central"}}]
    resp = await erase
    assert resp.status_code == 200, resp.text
    assert resp.json()["stations"][0]["status"] == "Accepted"
    assert (await api.get(f"/api/v1/id-tokens/{VALID}")).status_code == 404


async def test_TC_N_62_CSMS(cs, api, answers):
    """N09/N10 by customerIdentifier (errata 2025-04: idToken and
    customerCertificate omitted)."""
    answers["CustomerInformation"] = {"status": "Accepted"}
    sent, _ = await _customer(
        cs, api, customer_identifier="OpenChargeAlliance", report=True, clear=True
    )
    assert sent["customerIdentifier"] == "OpenChargeAlliance"
    assert (sent["report"], sent["clear"]) == (True, True)
    assert "idToken" not in sent and "customerCertificate" not in sent
    await _report(cs, sent["requestId"], ["No data"])
    assert (await _stored(api, sent["requestId"]))["complete"] is True


async def test_TC_N_63_CSMS(cs, api, answers):
    """N09/N10 by customerCertificate (its hash data)."""
    answers["CustomerInformation"] = {"status": "Accepted"}
    cert = {
        "hash_algorithm": "SHA256",
        "issuer_name_hash": "6a" * 32,
        "issuer_key_hash": "5b" * 32,
        "serial_number": "0d1a2b",
    }
    sent, _ = await _customer(cs, api, customer_certificate=cert, report=True, clear=True)
    assert sent["customerCertificate"] == {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": "6a" * 32,
        "issuerKeyHash": "5b" * 32,
        "serialNumber": "0d1a2b",
    }
    assert "idToken" not in sent and "customerIdentifier" not in sent
    await _report(cs, sent["requestId"], ["No data"])
    assert (await _stored(api, sent["requestId"]))["complete"] is True
