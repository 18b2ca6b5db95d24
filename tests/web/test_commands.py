"""The dashboard's command forms over plain HTTP: they take the API's paths.

A remote start from the dashboard is the API's remote start (the same
authorization checks, a remote-start record, its id as the 2.0.1
remoteStartId), and a remote stop names the session by Volta's number
whatever the station's version.
"""

from __future__ import annotations

import pytest

from tests.helpers import add_token, register
from tests.identification.stations import id_station
from tests.identification.test_start_checks import event201
from tests.web.conftest import ADMIN, csrf_of, sign_in
from volta.blocks.remote_control import sessions
from volta.blocks.transactions import service as transactions


async def _signed_in(web, station_id: str) -> dict[str, str]:
    await sign_in(web, *ADMIN)
    return {"X-CSRF-Token": csrf_of((await web.get(f"/stations/{station_id}")).text)}


async def test_dashboard_remote_start_is_the_api_remote_start(volta, web):
    await add_token(volta, "DRIVER-1", token_type="Central")
    await register(volta, "CP-201")
    async with id_station(volta, "CP-201", "2.0.1") as cp:
        headers = await _signed_in(web, "CP-201")
        resp = await web.post(
            "/stations/CP-201/commands",
            data={"kind": "start", "connector": "1", "id_token": "DRIVER-1"},
            headers=headers,
        )
        assert resp.status_code == 200
        assert "RequestStartTransaction" in resp.text and "accepted" in resp.text

        [record] = await sessions.list_remote_starts(volta.db, station_id="CP-201")
        sent = cp.last("RequestStartTransaction")
        assert sent["remote_start_id"] == record["id"]
        assert sent["id_token"] == {"id_token": "DRIVER-1", "type": "Central"}
        assert sent["evse_id"] == 1
        assert record["status"] == "Accepted" and record["command_id"]

        # The station starts the session it was asked for: it is linked to
        # the record, and the dashboard stops it by Volta's session number.
        await cp.call(
            event201(
                "Started",
                "TX-9",
                0,
                "DRIVER-1",
                token_type="Central",
                info={"remote_start_id": record["id"]},
            )
        )
        found = await sessions.get_remote_start(volta.db, record["id"])
        assert found is not None and found["status"] == "Started"
        tx = await transactions.get_transaction(volta.db, found["transaction_id"])
        assert tx is not None and tx["station_transaction_id"] == "TX-9"
        resp = await web.post(
            "/stations/CP-201/commands",
            data={"kind": "stop", "transaction": str(tx["id"])},
            headers=headers,
        )
        assert "RequestStopTransaction" in resp.text and "accepted" in resp.text
        assert cp.last("RequestStopTransaction") == {"transaction_id": "TX-9"}


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_dashboard_remote_start_gets_the_api_refusals(volta, web):
    await add_token(volta, "BLOCKED-1", status="Blocked")
    await register(volta, "CP-16")
    await register(volta, "CP-OTHER")
    async with id_station(volta, "CP-16", "1.6") as cp:
        headers = await _signed_in(web, "CP-16")
        resp = await web.post(
            "/stations/CP-16/commands",
            data={"kind": "start", "connector": "1", "id_token": "BLOCKED-1"},
            headers=headers,
        )
        assert "BLOCKED-1" in resp.text and "Blocked" in resp.text
        # Refused before anything was stored or sent, as the API refuses it.
        assert await sessions.list_remote_starts(volta.db, station_id="CP-16") == []
        assert cp.count("RemoteStartTransaction") == 0

        resp = await web.post(
            "/stations/CP-16/commands", data={"kind": "stop", "transaction": "999"}, headers=headers
        )
        assert "transaction 999 not found" in resp.text

    # Offline: no remote start is recorded for a station that cannot hear it.
    resp = await web.post(
        "/stations/CP-OTHER/commands",
        data={"kind": "start", "connector": "1", "id_token": "BLOCKED-1"},
        headers=headers,
    )
    assert "not connected" in resp.text
