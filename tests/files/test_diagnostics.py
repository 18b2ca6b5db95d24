"""Diagnostics and logs end to end: an operator asks through the API, a
simulated station (1.6 and 2.0.1, over a real WebSocket) uploads over real
HTTP or FTP and notifies, and the file is attached to the request and
downloadable through the API; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import register, wait_until
from volta.app import Volta
from volta.simulator import logs as simulator_logs
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation

PASSWORD = "diag-secret-42"


@contextlib.asynccontextmanager
async def simulated(volta: Volta, protocol: str) -> AsyncIterator[SimulatedStation]:
    sc = Scenario(
        url=f"ws://127.0.0.1:{volta.ocpp_port}",
        stations=1,
        connectors=1,
        protocol=protocol,
        password=PASSWORD,
        id_tokens=[],
        id_prefix=f"LOG{protocol.replace('.', '')}-",
        seed=3,
    )
    for station_id in sc.station_ids():
        await register(volta, station_id, password=PASSWORD)
    [station] = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet([station], stop))
    try:
        assert await wait_until(station.accepted.is_set, 15)
        yield station
    finally:
        stop.set()
        await asyncio.wait_for(fleet, 10)


async def finished(api: httpx.AsyncClient, request_id: int) -> dict[str, Any]:
    """The request once its file arrived and the station said Uploaded."""
    found: dict[str, Any] = {}

    async def done() -> bool:
        found.update((await api.get(f"/api/v1/log-requests/{request_id}")).json())
        return found["status"] == "Uploaded" and found["file_id"] is not None

    assert await wait_until(done, 20), found
    return found


async def check_uploaded(api: httpx.AsyncClient, made: dict[str, Any], station_id: str) -> None:
    request = await finished(api, made["id"])
    assert [h["status"] for h in request["history"]] == [
        "Requested",
        "Accepted",
        "Uploading",
        "Uploaded",
    ]
    file = (await api.get(f"/api/v1/files/{request['file_id']}")).json()
    assert file["station_id"] == station_id and file["name"] == made["filename"]
    content = (await api.get(f"/api/v1/files/{request['file_id']}/content")).text
    assert station_id in content
    events = (
        await api.get("/api/v1/events", params={"type": "log.uploaded", "station_id": station_id})
    ).json()
    assert [e["data"]["log_request_id"] for e in events] == [made["id"]]
    assert events[0]["data"]["file_id"] == request["file_id"]


@pytest.mark.parametrize("scheme", ["http", "ftp"])
async def test_a_1_6_diagnostics_upload_arrives_and_is_downloadable(
    volta: Volta, api: httpx.AsyncClient, scheme: str
) -> None:
    async with simulated(volta, "1.6") as station:
        made = await api.post(
            f"/api/v1/stations/{station.id}/diagnostics",
            json={"scheme": scheme, "retries": 1, "retry_interval": 1},
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["action"], body["log_type"], body["scheme"]) == (
            "GetDiagnostics",
            "Diagnostics",
            scheme,
        )
        # The station may be uploading already when the answer is recorded.
        assert body["history"][1]["status"] == "Accepted"
        assert body["filename"].startswith(station.id)
        await check_uploaded(api, body, station.id)
        listed = (
            await api.get("/api/v1/files", params={"kind": "diagnostics", "station_id": station.id})
        ).json()
        assert len(listed) == 1


async def test_a_2_0_1_log_upload_arrives_and_is_downloadable(
    volta: Volta, api: httpx.AsyncClient
) -> None:
    async with simulated(volta, "2.0.1") as station:
        made = await api.post(
            f"/api/v1/stations/{station.id}/logs", json={"log_type": "SecurityLog"}
        )
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["action"], body["log_type"]) == ("GetLog", "SecurityLog")
        await check_uploaded(api, body, station.id)
        # The requestId the station was sent is the request's id.
        listed = (await api.get("/api/v1/log-requests", params={"station_id": station.id})).json()
        assert [r["id"] for r in listed] == [body["id"]]
        # 2.0.1 has no GetDiagnostics.
        refused = await api.post(f"/api/v1/stations/{station.id}/diagnostics", json={})
        assert refused.status_code == 409 and "DiagnosticsLog" in refused.json()["detail"]


async def test_a_1_6_security_extension_log_over_ftp(volta: Volta, api: httpx.AsyncClient) -> None:
    async with simulated(volta, "1.6") as station:
        made = await api.post(
            f"/api/v1/stations/{station.id}/logs",
            json={"log_type": "DiagnosticsLog", "scheme": "ftp"},
        )
        assert made.status_code == 201, made.text
        await check_uploaded(api, made.json(), station.id)


async def test_requests_that_cannot_be_made_are_refused(
    volta: Volta, api: httpx.AsyncClient
) -> None:
    assert (await api.post("/api/v1/stations/NOPE/logs", json={})).status_code == 404
    await register(volta, "OFFLINE-1", password=PASSWORD)
    offline = await api.post("/api/v1/stations/OFFLINE-1/logs", json={})
    assert offline.status_code == 409 and "not connected" in offline.json()["detail"]
    bad = await api.post("/api/v1/stations/OFFLINE-1/logs", json={"log_type": "Everything"})
    assert bad.status_code == 422
    bad = await api.post("/api/v1/stations/OFFLINE-1/logs", json={"scheme": "gopher"})
    assert bad.status_code == 422
    assert (await api.get("/api/v1/log-requests/99999")).status_code == 404
    assert (await api.get("/api/v1/log-requests")).json() == []


async def test_the_simulator_retries_then_gives_up_on_a_refused_upload(volta: Volta) -> None:
    """What a simulated station does when its upload is refused (an expired
    link): it tries `retries` more times, then reports the failure."""
    url = f"http://127.0.0.1:{volta.api_port}/transfers/expired-or-unknown/"
    ok = await simulator_logs._upload_with_retries(
        url, "x.log", b"x", {"retries": 1, "retryInterval": 0}
    )
    assert ok is False
