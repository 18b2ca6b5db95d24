"""Reservations for both versions through the API, against stations over a
real WebSocket: ReserveNow / CancelReservation, the station's answers,
2.0.1 ReservationStatusUpdate, consumption by the reserved token or its
group, refusal of another driver, expiry by Volta.

CSMS side of TC_H_01 (reserve a specific EVSE, then use it, H03), TC_H_07
(expired), TC_H_08 (unspecified EVSE), TC_H_15 (connector type), TC_H_17
(cancel), TC_H_19 (groupIdToken), TC_H_20 (Removed on fault), TC_H_22
(Rejected); 1.6 Reservation profile (ReserveNow on a connector and on
connector 0, CancelReservation, StartTransaction with reservationId)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from tests.helpers import add_token, register, wait_until
from tests.identification.stations import id_station
from tests.identification.test_start_checks import event201, start16


@pytest.fixture
def volta_settings():
    return {"housekeeping_interval": 0.2}


@pytest.fixture
async def people(volta):
    await add_token(volta, "FAMILY", token_type="Central")
    await add_token(volta, "MUM", group_id="FAMILY")
    await add_token(volta, "DAD", group_id="FAMILY")
    await add_token(volta, "STRANGER")
    await add_token(volta, "BLOCKED", status="Blocked")
    for sid in ("R16", "R201"):
        await register(volta, sid)


def later(seconds: float = 3600) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def reserve(api, **body):
    return await api.post("/api/v1/reservations", json={"expires_at": later(), **body})


async def test_reserve_use_by_group_and_refuse_stranger_v16(volta, api, people):
    async with id_station(volta, "R16") as cp:
        resp = await reserve(api, station_id="R16", id_token="MUM", evse_id=1)
        assert resp.status_code == 201, resp.text
        res = resp.json()
        assert res["status"] == "Accepted"
        sent = cp.last("ReserveNow")
        assert sent["connector_id"] == 1
        assert sent["id_tag"] == "MUM"
        assert sent["parent_id_tag"] == "FAMILY"
        assert sent["reservation_id"] == res["id"]

        # Another driver on the reserved connector is refused...
        assert (await cp.call(start16(1, "STRANGER"))).id_tag_info["status"] == "Invalid"
        # ...but not on the connector next to it.
        other = await cp.call(start16(2, "STRANGER"))
        assert other.id_tag_info["status"] == "Accepted"
        # The reserved driver's group starts with the reservation id (1.6 §5.13).
        started = await cp.call(start16(1, "DAD", reservation_id=res["id"]))
        assert started.id_tag_info["status"] == "Accepted"
    res = (await api.get(f"/api/v1/reservations/{res['id']}")).json()
    assert res["status"] == "Used"
    assert res["transaction_id"] == started.transaction_id
    tx = (await api.get(f"/api/v1/transactions/{started.transaction_id}")).json()
    assert tx["reservation_id"] == res["id"]


async def test_reservation_consumed_without_its_id_v16(volta, api, people):
    """A charger that omits reservationId still consumes the reservation of
    the driver who starts on the reserved connector."""
    async with id_station(volta, "R16") as cp:
        res = (await reserve(api, station_id="R16", id_token="MUM", evse_id=0)).json()
        assert cp.last("ReserveNow")["connector_id"] == 0
        started = await cp.call(start16(2, "MUM"))
    res = (await api.get(f"/api/v1/reservations/{res['id']}")).json()
    assert (res["status"], res["transaction_id"]) == ("Used", started.transaction_id)


async def test_station_answers_and_cancel_v16(volta, api, people):
    async with id_station(volta, "R16") as cp:
        cp.answers["ReserveNow"] = "Occupied"
        resp = await reserve(api, station_id="R16", id_token="MUM", evse_id=1)
        assert (resp.status_code, resp.json()["station_status"]) == (409, "Occupied")
        assert resp.json()["reservation"]["status"] == "Occupied"
        # Not held: another driver may start there.
        assert (await cp.call(start16(1, "STRANGER"))).id_tag_info["status"] == "Accepted"

        cp.answers["ReserveNow"] = "Accepted"
        res = (await reserve(api, station_id="R16", id_token="MUM", evse_id=2)).json()
        resp = await api.delete(f"/api/v1/reservations/{res['id']}")
        assert resp.status_code == 200
        assert resp.json()["status"] == "Cancelled"
        assert cp.last("CancelReservation") == {"reservation_id": res["id"]}
        # An ended reservation cannot be cancelled again.
        resp = await api.delete(f"/api/v1/reservations/{res['id']}")
        assert resp.status_code == 409
        # A cancelled reservation holds nothing.
        assert (await cp.call(start16(2, "DAD"))).id_tag_info["status"] == "Accepted"

        cp.answers["CancelReservation"] = "Rejected"
        res = (await reserve(api, station_id="R16", id_token="STRANGER", evse_id=3)).json()
        resp = await api.delete(f"/api/v1/reservations/{res['id']}")
        body = resp.json()
        assert (body["status"], body["command"]["status"]) == ("Accepted", "rejected")


async def test_refusals(volta, api, people):
    resp = await reserve(api, station_id="R16", id_token="MUM", evse_id=1)
    assert resp.status_code == 409
    assert "not connected" in resp.json()["detail"]
    async with id_station(volta, "R16") as cp:
        resp = await reserve(api, station_id="R16", id_token="BLOCKED", evse_id=1)
        assert (resp.status_code, resp.json()["detail"]) == (409, "id token BLOCKED is Blocked")
        resp = await reserve(api, station_id="R16", id_token="NOBODY", evse_id=1)
        assert resp.status_code == 409
        resp = await api.post(
            "/api/v1/reservations",
            json={"station_id": "R16", "id_token": "MUM", "evse_id": 1, "expires_at": later(-5)},
        )
        assert (resp.status_code, resp.json()["detail"]) == (409, "expires_at is in the past")
        resp = await reserve(api, station_id="R16", id_token="MUM", connector_type="cType2")
        assert resp.status_code == 409
        assert (await reserve(api, station_id="R16", id_token="MUM", evse_id=1)).status_code == 201
        resp = await reserve(api, station_id="R16", id_token="DAD", evse_id=1)
        assert resp.status_code == 409
        assert "already reserved" in resp.json()["detail"]
        # A remote start for another driver on the held connector is refused too.
        resp = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": "R16", "id_token": "STRANGER", "evse_id": 1},
        )
        assert resp.status_code == 409
        assert "reserved" in resp.json()["detail"]
        assert cp.count("ReserveNow") == 1
        assert cp.count("RemoteStartTransaction") == 0
    resp = await api.post("/api/v1/reservations", json={"station_id": "R16"})
    assert resp.status_code == 422


async def test_expired_by_volta(volta, api, people):
    """TC_H_07, CSMS side: the reservation ends at its expiry even if the
    station says nothing; the connector is free again."""
    async with id_station(volta, "R16") as cp:
        res = (await reserve(api, station_id="R16", id_token="MUM", evse_id=1)).json()
        resp = await api.post(
            "/api/v1/reservations",
            json={"station_id": "R16", "id_token": "DAD", "evse_id": 2, "expires_at": later(1)},
        )
        short = resp.json()

        async def expired() -> bool:
            got = (await api.get(f"/api/v1/reservations/{short['id']}")).json()
            return bool(got["status"] == "Expired")

        assert await wait_until(expired)
        assert (await cp.call(start16(2, "STRANGER"))).id_tag_info["status"] == "Accepted"
    active = (await api.get("/api/v1/reservations", params={"active": "true"})).json()
    assert [r["id"] for r in active] == [res["id"]]
    listed = (await api.get("/api/v1/reservations", params={"status": "Expired"})).json()
    assert [r["id"] for r in listed] == [short["id"]]


async def test_reservations_v201(volta, api, people):
    async with id_station(volta, "R201", "2.0.1") as cp:
        # TC_H_19 / TC_H_01: a specific EVSE with the driver's group.
        res = (await reserve(api, station_id="R201", id_token="MUM", evse_id=1)).json()
        assert res["status"] == "Accepted"
        sent = cp.last("ReserveNow")
        assert sent["id"] == res["id"]
        assert sent["evse_id"] == 1
        assert sent["id_token"] == {"id_token": "MUM", "type": "ISO14443"}
        assert sent["group_id_token"] == {"id_token": "FAMILY", "type": "Central"}
        # TC_H_08: no EVSE; TC_H_15: by connector type.
        any_evse = (await reserve(api, station_id="R201", id_token="DAD")).json()
        assert "evse_id" not in cp.last("ReserveNow")
        by_type = (
            await reserve(api, station_id="R201", id_token="STRANGER", connector_type="cType2")
        ).json()
        assert cp.last("ReserveNow")["connector_type"] == "cType2"

        # Another driver is refused on EVSE 1 (H03).
        r = await cp.call(event201("Started", "X-1", 0, "STRANGER", evse=1))
        assert r.id_token_info["status"] == "Invalid"
        # TC_H_01 / H03: the driver starts with the reservation id.
        r = await cp.call(event201("Started", "M-1", 0, "MUM", evse=1, reservation_id=res["id"]))
        assert r.id_token_info["status"] == "Accepted"

        # TC_H_20: the station removes a reservation (EVSE faulted).
        await cp.call(
            call201.ReservationStatusUpdate(
                reservation_id=any_evse["id"], reservation_update_status="Removed"
            )
        )
        # TC_H_07: the station reports expiry.
        await cp.call(
            call201.ReservationStatusUpdate(
                reservation_id=by_type["id"], reservation_update_status="Expired"
            )
        )
        # TC_H_22: the station rejects.
        cp.answers["ReserveNow"] = "Rejected"
        resp = await reserve(api, station_id="R201", id_token="DAD", evse_id=2)
        assert (resp.status_code, resp.json()["station_status"]) == (409, "Rejected")
        rejected = resp.json()["reservation"]
    statuses = {
        r["id"]: r["status"]
        for r in (await api.get("/api/v1/reservations", params={"station_id": "R201"})).json()
    }
    assert statuses == {
        res["id"]: "Used",
        any_evse["id"]: "Removed",
        by_type["id"]: "Expired",
        rejected["id"]: "Rejected",
    }
    txs = (await api.get("/api/v1/transactions", params={"station_id": "R201"})).json()
    used = next(t for t in txs if t["station_transaction_id"] == "M-1")
    assert used["reservation_id"] == res["id"]


async def test_station_that_never_answers_leaves_failed(volta, api, people, database):
    if database.kind == "postgresql":
        pytest.skip("timing only; covered on SQLite")
    volta.services.settings.call_timeout = 0.5
    async with id_station(volta, "R16") as cp:

        async def silent(request):  # answers after Volta gave up
            await asyncio.sleep(1.0)
            return {"status": "Accepted"}

        cp.handlers["ReserveNow"] = silent
        resp = await reserve(api, station_id="R16", id_token="MUM", evse_id=1)
        assert resp.status_code == 409
        assert resp.json()["station_status"] is None
        assert "did not answer" in resp.json()["detail"]
        res = resp.json()["reservation"]
        assert res["status"] == "Failed"
        assert res["command"]["status"] == "timeout"
        # The late answer is dropped; the connection goes on.
        assert (await cp.call(call16.Heartbeat())).current_time
    assert (await api.get(f"/api/v1/reservations/{res['id']}")).json()["status"] == "Failed"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_simulated_station_holds_and_releases(volta, api, version, database):
    """Against a simulated charger: the reserved connector shows Reserved,
    the reserved driver's app start uses the reservation, and a short
    reservation expires on both sides (2.0.1: ReservationStatusUpdate)."""
    if database.kind == "postgresql" and version == "1.6":
        pytest.skip("one PostgreSQL run is enough")
    from tests.identification.test_app_starts import simulated

    await add_token(volta, "SIM-MUM", token_type="Central")
    await add_token(volta, "SIM-OTHER", token_type="Central")
    async with simulated(volta, version) as st:

        async def connector_status(evse: int) -> str:
            got = (await api.get(f"/api/v1/stations/{st.id}")).json()
            return next(c["status"] for c in got["connectors"] if c["evse_id"] == evse)

        res = (
            await reserve(
                api, station_id=st.id, id_token="SIM-MUM", id_token_type="Central", evse_id=1
            )
        ).json()
        assert res["status"] == "Accepted"
        assert await wait_until(lambda: _equals(connector_status(1), "Reserved"))
        other = await api.post(
            "/api/v1/remote-starts",
            json={"station_id": st.id, "id_token": "SIM-OTHER", "evse_id": 1},
        )
        assert other.status_code == 409
        mine = (
            await api.post(
                "/api/v1/remote-starts",
                json={"station_id": st.id, "id_token": "SIM-MUM", "evse_id": 1},
            )
        ).json()
        assert mine["status"] in ("Accepted", "Started")

        async def used() -> bool:
            got = (await api.get(f"/api/v1/reservations/{res['id']}")).json()
            return bool(got["status"] == "Used")

        assert await wait_until(used)

        short = (
            await api.post(
                "/api/v1/reservations",
                json={
                    "station_id": st.id,
                    "id_token": "SIM-OTHER",
                    "id_token_type": "Central",
                    "evse_id": 2,
                    "expires_at": later(1.0),
                },
            )
        ).json()
        assert short["status"] == "Accepted"

        async def expired() -> bool:
            got = (await api.get(f"/api/v1/reservations/{short['id']}")).json()
            return bool(got["status"] == "Expired")

        assert await wait_until(expired)
        assert await wait_until(lambda: _equals(connector_status(2), "Available"))


async def _equals(value, expected) -> bool:
    return bool(await value == expected)
