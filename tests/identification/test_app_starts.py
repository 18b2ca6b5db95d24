"""Sessions started from an app or a QR code (1.6 RemoteStartTransaction,
2.0.1 RequestStartTransaction with remoteStartId, F01/F02/F03): the API
starts a session for a token on a station / EVSE, links the transaction the
station then starts to that request, and stops it. Driven with simulated
stations (as a real charger answers) and with library stations.

CSMS side of TC_F_01 / TC_F_02 (remote start, cable first / remote first),
TC_F_03 (remote stop); 1.6 TC_010/TC_011-style remote start and stop."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
import segno
from ocpp.v16 import call as call16

from tests.helpers import add_token, now_iso, register, wait_until
from tests.identification.stations import id_station
from tests.identification.test_start_checks import event201, start16
from volta.simulator.fleet import build_fleet, run_fleet
from volta.simulator.scenario import Scenario

VERSIONS = ["1.6", "2.0.1"]


@contextlib.asynccontextmanager
async def simulated(volta: Any, version: str, **overrides: Any) -> AsyncIterator[Any]:
    """One simulated station no driver comes to: it charges when asked."""
    sc = Scenario(
        url=f"ws://127.0.0.1:{volta.ocpp_port}",
        stations=1,
        connectors=2,
        protocol=version,
        id_prefix=f"APP-{version}-",
        id_tokens=[],
        meter_interval=0.2,
        session_seconds=(60.0, 60.0),
        seed=3,
        **overrides,
    )
    for sid in sc.station_ids():
        await register(volta, sid)
    stations = build_fleet(sc)
    stop = asyncio.Event()
    fleet = asyncio.create_task(run_fleet(stations, stop))
    try:
        assert await wait_until(lambda: all(s.accepted.is_set() for s in stations), 15)
        yield stations[0]
    finally:
        stop.set()
        await asyncio.wait_for(fleet, 10)


@pytest.mark.parametrize("version", VERSIONS)
async def test_app_start_follow_and_stop(volta, api, version):
    await add_token(volta, "APP-USER-7", token_type="Central")
    async with simulated(volta, version) as st:
        resp = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": st.id, "id_token": "APP-USER-7", "evse_id": 2},
        )
        assert resp.status_code == 201, resp.text
        start = resp.json()
        assert start["status"] in ("Accepted", "Started")
        sent = start["command"]["payload"]
        if version == "1.6":
            assert sent == {"idTag": "APP-USER-7", "connectorId": 2}
        else:
            assert sent["remoteStartId"] == start["id"]
            assert sent["evseId"] == 2

        async def started() -> dict[str, Any] | None:
            got = (await api.get(f"/api/v1/remote-starts/{start['id']}")).json()
            return got if got["status"] == "Started" else None

        assert await wait_until(started)
        followed = await started()
        assert followed is not None
        tx = (await api.get(f"/api/v1/transactions/{followed['transaction_id']}")).json()
        assert (tx["id_token"], tx["evse_id"], tx["remote_start_id"]) == (
            "APP-USER-7",
            2,
            start["id"],
        )
        assert tx["status"] == "Active"

        resp = await api.post(f"/api/v1/transactions/{tx['id']}/stop")
        assert resp.status_code == 200
        assert resp.json()["status"] == "accepted"

        async def ended() -> bool:
            got = (await api.get(f"/api/v1/transactions/{tx['id']}")).json()
            return bool(got["status"] == "Ended")

        assert await wait_until(ended)
        assert (await api.post(f"/api/v1/transactions/{tx['id']}/stop")).status_code == 409


async def test_app_start_refusals(volta, api):
    await add_token(volta, "APP-BLOCKED", status="Blocked")
    await add_token(volta, "APP-OK")
    await register(volta, "APP-OFF")
    resp = await api.post(
        "/api/v1/remote-starts", json={"station_id": "APP-OFF", "id_token": "APP-OK"}
    )
    assert (resp.status_code, resp.json()["detail"]) == (409, "station APP-OFF is not connected")
    async with id_station(volta, "APP-OFF") as cp:
        resp = await api.post(
            "/api/v1/remote-starts", json={"station_id": "APP-OFF", "id_token": "APP-BLOCKED"}
        )
        assert (resp.status_code, resp.json()["detail"]) == (409, "id token APP-BLOCKED: Blocked")
        resp = await api.post(
            "/api/v1/remote-starts", json={"station_id": "APP-OFF", "id_token": "NOBODY"}
        )
        assert resp.status_code == 409
        # Already charging elsewhere: ConcurrentTx, said before anything is sent.
        await cp.call(start16(1, "APP-OK"))
        resp = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": "APP-OFF", "id_token": "APP-OK", "evse_id": 2},
        )
        assert resp.status_code == 409
        assert "charging at APP-OFF" in resp.json()["detail"]
        assert cp.count("RemoteStartTransaction") == 0
    assert (await api.post("/api/v1/transactions/999999/stop")).status_code == 404


async def test_station_rejects_and_library_links_v16(volta, api):
    """1.6 has no remoteStartId: the start that follows an accepted request
    for the same tag (and connector, if one was named) is linked to it."""
    await add_token(volta, "APP-A")
    await register(volta, "APP-LIB")
    async with id_station(volta, "APP-LIB") as cp:
        start = (
            await api.post(
                "/api/v1/remote-starts", json={"station_id": "APP-LIB", "id_token": "APP-A"}
            )
        ).json()
        assert start["status"] == "Accepted"
        started = await cp.call(start16(1, "APP-A"))
        got = (await api.get(f"/api/v1/remote-starts/{start['id']}")).json()
        assert (got["status"], got["transaction_id"]) == ("Started", started.transaction_id)
        await cp.call(
            call16.StopTransaction(
                transaction_id=started.transaction_id, meter_stop=1200, timestamp=now_iso()
            )
        )
    listed = (await api.get("/api/v1/remote-starts", params={"station_id": "APP-LIB"})).json()
    assert [r["id"] for r in listed] == [start["id"]]


async def test_remote_start_id_links_v201(volta, api):
    """F01 / TC_F_01: the TransactionEvent carrying remoteStartId is linked to
    the request even when it arrives with a cable-first transaction."""
    await add_token(volta, "APP-B", token_type="Central")
    await register(volta, "APP-201")
    async with id_station(volta, "APP-201", "2.0.1") as cp:
        # Cable first: the transaction exists before the app asks.
        await cp.call(event201("Started", "CABLE-1", 0, None, evse=1))
        start = (
            await api.post(
                "/api/v1/remote-starts",
                json={"station_id": "APP-201", "id_token": "APP-B", "evse_id": 1},
            )
        ).json()
        assert cp.last("RequestStartTransaction")["remote_start_id"] == start["id"]
        r = await cp.call(
            event201(
                "Updated",
                "CABLE-1",
                1,
                "APP-B",
                info={"remote_start_id": start["id"]},
                token_type="Central",
            )
        )
        assert r.id_token_info["status"] == "Accepted"
    got = (await api.get(f"/api/v1/remote-starts/{start['id']}")).json()
    assert got["status"] == "Started"
    tx = (await api.get(f"/api/v1/transactions/{got['transaction_id']}")).json()
    assert (tx["station_transaction_id"], tx["remote_start_id"]) == ("CABLE-1", start["id"])


async def test_qr_code_per_evse(volta, api):
    await register(volta, "QR-1")
    resp = await api.get("/api/v1/stations/QR-1/evses/2/qr")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/svg+xml"
    assert resp.text.lstrip().startswith("<?xml") or "<svg" in resp.text
    url = resp.headers["x-start-url"]
    assert url.endswith("/start/QR-1/2")
    png = await api.get("/api/v1/stations/QR-1/evses/2/qr", params={"format": "png", "scale": 4})
    assert png.headers["content-type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # The PNG is the encoding of that URL (no QR decoder is a dependency, so
    # compare with a fresh encoding at the same settings).
    expected = io.BytesIO()
    segno.make(url, error="m").save(expected, kind="png", scale=4, border=4)
    assert png.content == expected.getvalue()
    assert (await api.get("/api/v1/stations/NOPE/evses/1/qr")).status_code == 404
    assert (await api.get("/api/v1/stations/QR-1/evses/0/qr")).status_code == 422
