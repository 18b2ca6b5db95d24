"""Conformance: diagnostics and logs with Volta's own logic. The operator asks
through /api/v1/stations/{id}/diagnostics or /logs, Volta fills in the upload
location (its file service), the raw station answers, uploads over real HTTP
and notifies; the request's status and file are checked through the API.

2.0.1 N01 (TC_N_34..36_CSMS), 1.6 Get Diagnostics (TC_045_1/2_CSMS) and the
1.6 security extension's GetLog (as TC_N_35 in 1.6 words)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.helpers import wait_until


async def _request(api: httpx.AsyncClient, station_id: str, path: str, **body: Any) -> Any:
    r = await api.post(f"/api/v1/stations/{station_id}/{path}", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _status(api: httpx.AsyncClient, request_id: int, wanted: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def reached() -> bool:
        found.update((await api.get(f"/api/v1/log-requests/{request_id}")).json())
        return found["status"] == wanted

    assert await wait_until(reached), found
    return found


async def _put(location: str, name: str, data: bytes) -> None:
    async with httpx.AsyncClient() as client:
        assert (await client.put(location + name, content=data)).status_code == 201


# -- 2.0.1 N01 -------------------------------------------------------------------


async def test_TC_N_34_CSMS(cs, api, answers):
    """GetLog answered Rejected: the request ends Rejected, log.failed raised."""
    answers["GetLog"] = {"status": "Rejected"}
    made = asyncio.create_task(_request(api, "CS201", "logs", log_type="DiagnosticsLog"))
    sent = await cs.expect("GetLog")
    assert sent["logType"] == "DiagnosticsLog"
    request = await made
    assert request["status"] == "Rejected" and request["id"] == sent["requestId"]
    events = (await api.get("/api/v1/events", params={"type": "log.failed"})).json()
    assert [e["data"]["status"] for e in events] == ["Rejected"]


async def test_TC_N_35_CSMS(cs, api, answers):
    """SecurityLog: Uploading and Uploaded with the requestId; N01.FR.01 the
    location is Volta's upload URL, where the file arrives."""
    answers["GetLog"] = {"status": "Accepted", "filename": "security.log"}
    made = asyncio.create_task(_request(api, "CS201", "logs", log_type="SecurityLog"))
    sent = await cs.expect("GetLog")
    assert sent["logType"] == "SecurityLog"
    location = sent["log"]["remoteLocation"]
    assert "/transfers/" in location
    request = await made
    assert request["filename"] == "security.log"
    rid = sent["requestId"]
    assert await cs.call("LogStatusNotification", {"status": "Uploading", "requestId": rid}) == {}
    await _put(location, "security.log", b"security events\n")
    assert await cs.call("LogStatusNotification", {"status": "Uploaded", "requestId": rid}) == {}
    found = await _status(api, rid, "Uploaded")
    assert [h["status"] for h in found["history"]] == [
        "Requested",
        "Accepted",
        "Uploading",
        "Uploaded",
    ]
    assert (await api.get(f"/api/v1/files/{found['file_id']}/content")).content == (
        b"security events\n"
    )


async def test_TC_N_36_CSMS(cs, api, answers):
    """A second GetLog while the first uploads: AcceptedCanceled; the first
    request ends Canceled (N01.FR.12), the second is uploaded."""
    answers["GetLog"] = {"status": "Accepted"}
    first = asyncio.create_task(_request(api, "CS201", "logs"))
    one = (await cs.expect("GetLog"))["requestId"]
    await first
    assert await cs.call("LogStatusNotification", {"status": "Uploading", "requestId": one}) == {}

    answers["GetLog"] = {"status": "AcceptedCanceled"}
    second = asyncio.create_task(_request(api, "CS201", "logs"))
    sent = await cs.expect("GetLog")
    two = sent["requestId"]
    assert two != one
    assert (await second)["history"][1]["status"] == "AcceptedCanceled"
    canceled = {"status": "AcceptedCanceled", "requestId": one}
    assert await cs.call("LogStatusNotification", canceled) == {}
    assert await cs.call("LogStatusNotification", {"status": "Uploading", "requestId": two}) == {}
    await _put(sent["log"]["remoteLocation"], "diag.log", b"second\n")
    assert await cs.call("LogStatusNotification", {"status": "Uploaded", "requestId": two}) == {}
    assert (await _status(api, one, "Canceled"))["file_id"] is None
    assert (await _status(api, two, "Uploaded"))["file_id"] is not None


# -- 1.6 -------------------------------------------------------------------------


async def test_TC_045_1_CSMS(cp, api, answers):
    """GetDiagnostics to Volta's location; Uploading, Uploaded answered; the
    file arrives and is attached to the request."""
    answers["GetDiagnostics"] = {"fileName": "diag.log"}
    made = asyncio.create_task(_request(api, "CP16", "diagnostics", retries=2, retry_interval=30))
    sent = await cp.expect("GetDiagnostics")
    assert (sent["retries"], sent["retryInterval"]) == (2, 30)
    assert (await made)["filename"] == "diag.log"
    assert await cp.call("DiagnosticsStatusNotification", {"status": "Uploading"}) == {}
    await _put(sent["location"], "diag.log", b"diagnostics\n")
    assert await cp.call("DiagnosticsStatusNotification", {"status": "Uploaded"}) == {}
    found = await _status(api, (await made)["id"], "Uploaded")
    assert (await api.get(f"/api/v1/files/{found['file_id']}/content")).content == b"diagnostics\n"


async def test_TC_045_2_CSMS(cp, api, answers):
    """The upload fails: UploadFailed ends the request, log.failed raised."""
    answers["GetDiagnostics"] = {}
    made = asyncio.create_task(_request(api, "CP16", "diagnostics"))
    await cp.expect("GetDiagnostics")
    request = await made
    assert await cp.call("DiagnosticsStatusNotification", {"status": "Uploading"}) == {}
    assert await cp.call("DiagnosticsStatusNotification", {"status": "UploadFailed"}) == {}
    found = await _status(api, request["id"], "UploadFailed")
    assert found["file_id"] is None
    events = (await api.get("/api/v1/events", params={"type": "log.failed"})).json()
    assert [e["data"]["log_request_id"] for e in events] == [request["id"]]


async def test_1_6_security_extension_get_log(cp, api, answers):
    """The security whitepaper's GetLog (TC_079's scenario, CSMS side): the
    same words as 2.0.1 N01; LogStatusNotification by requestId."""
    answers["GetLog"] = {"status": "Accepted", "filename": "sec.log"}
    made = asyncio.create_task(_request(api, "CP16", "logs", log_type="SecurityLog"))
    sent = await cp.expect("GetLog")
    request = await made
    assert sent["requestId"] == request["id"] and sent["logType"] == "SecurityLog"
    rid = sent["requestId"]
    assert await cp.call("LogStatusNotification", {"status": "Uploading", "requestId": rid}) == {}
    await _put(sent["log"]["remoteLocation"], "sec.log", b"sec\n")
    assert await cp.call("LogStatusNotification", {"status": "Uploaded", "requestId": rid}) == {}
    assert (await _status(api, rid, "Uploaded"))["file_id"] is not None
    # Idle (a triggered notification with nothing uploading) changes no request.
    assert await cp.call("LogStatusNotification", {"status": "Idle"}) == {}
    assert (await _status(api, rid, "Uploaded"))["history"][-1]["status"] == "Uploaded"
    # FTP asked for while the FTP endpoint is off: refused, nothing sent.
    refused = await api.post("/api/v1/stations/CP16/logs", json={"scheme": "ftp"})
    assert refused.status_code == 409 and "files_ftp_port" in refused.json()["detail"]
