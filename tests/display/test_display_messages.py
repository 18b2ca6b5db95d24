"""Display messages (2.0.1 block O) end to end: the simulator as the station
over a real WebSocket, the operator through the HTTP API, both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from tests.helpers import add_token, wait_until
from tests.test_simulator import REMOTE_CARD, command, quiet, remote_start, running, scenario
from volta.simulator import display


@pytest.fixture
def volta_settings() -> dict[str, object]:
    return {"display_tariff_at_start": True}


async def listed(api: httpx.AsyncClient, station_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await api.get(f"/api/v1/stations/{station_id}/display-messages", params=params)
    assert r.status_code == 200, r.text
    return list(r.json())


async def test_set_replace_refresh_and_clear_O01_O03_O05_O06(volta, api):
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        sid = station.id
        url = f"/api/v1/stations/{sid}/display-messages"
        start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        r = await api.post(
            url,
            json={
                "content": "Free parking after 18:00",
                "priority": "InFront",
                "state": "Idle",
                "language": "en",
                "start_at": start.isoformat(),
                "display": {"name": "Display", "evse_id": 1},
            },
        )
        assert r.status_code == 201, r.text
        first = r.json()
        assert (first["message_id"], first["status"], first["source"]) == (1, "Accepted", "api")
        held = display.messages_of(station)[1]
        assert held["priority"] == "InFront" and held["state"] == "Idle"
        assert held["message"] == {
            "format": "UTF8",
            "language": "en",
            "content": "Free parking after 18:00",
        }
        assert held["display"] == {"name": "Display", "evse": {"id": 1}}
        assert "startDateTime" in held

        # O06: the same id replaces the message, in the station and in Volta.
        r = await api.post(url, json={"message_id": 1, "content": "Parking free all day"})
        assert r.status_code == 201 and r.json()["status"] == "Accepted"
        assert display.messages_of(station)[1]["message"]["content"] == "Parking free all day"
        [only] = await listed(api, sid)
        assert (only["message_id"], only["content"], only["state"]) == (
            1,
            "Parking free all day",
            None,
        )

        # A format the station does not support: kept with its answer.
        r = await api.post(url, json={"content": "<b>hi</b>", "format": "HTML"})
        assert r.json()["status"] == "NotSupportedMessageFormat"
        r = await api.post(url, json={"content": "third", "priority": "AlwaysFront"})
        assert (r.json()["message_id"], r.json()["status"]) == (3, "Accepted")

        # O03: the station's report (two messages per part here) is stored.
        r = await api.post(f"{url}/refresh")
        assert r.status_code == 202, r.text
        report = r.json()
        assert report["status"] == "Accepted"

        async def reported() -> bool:
            rows = await listed(api, sid)
            return sum(m["reported_at"] is not None for m in rows) == 2

        assert await wait_until(reported, 15)
        # O04 by priority: only message 3.
        r = await api.post(f"{url}/refresh", json={"priority": "AlwaysFront"})
        assert r.json()["criteria"]["priority"] == "AlwaysFront"
        # Nothing matches: the station answers Unknown.
        r = await api.post(f"{url}/refresh", json={"ids": [99]})
        assert r.json()["status"] == "Unknown"

        # O05: cleared in the station, Cleared in Volta; an unknown id: Unknown.
        r = await api.delete(f"{url}/1")
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["message"]["status"]) == ("Accepted", "Cleared")
        assert 1 not in display.messages_of(station)
        assert [m["message_id"] for m in await listed(api, sid)] == [2, 3]
        assert len(await listed(api, sid, include_cleared="true")) == 3
        r = await api.delete(f"{url}/42")
        assert (r.status_code, r.json()["status"], r.json()["message"]) == (200, "Unknown", None)


async def test_bad_requests_get_a_clear_4xx(volta, api):
    async with running(volta, quiet(volta, "1.6")) as [old]:
        url = f"/api/v1/stations/{old.id}/display-messages"
        r = await api.post(url, json={"content": "hi"})
        assert r.status_code == 409 and "2.0.1" in r.json()["detail"]
    url = "/api/v1/stations/nowhere/display-messages"
    assert (await api.post(url, json={"content": "hi"})).status_code == 404
    assert (await api.get(url)).status_code == 404
    url = f"/api/v1/stations/{old.id}/display-messages"
    for body in (
        {"content": "x" * 513},
        {"content": ""},
        {"content": "hi", "priority": "Loud"},
        {"content": "hi", "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"},
        {"content": "hi", "start_at": "2030-01-02T00:00:00"},
        {"content": "hi", "message_id": 0},
        {"content": "hi", "surprise": 1},
    ):
        r = await api.post(url, json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"]
    too_long = {"name": "T", "currency": "EUR", "display_text": "x" * 513}
    assert (await api.post("/api/v1/tariffs", json=too_long)).status_code == 422
    r = await api.post(f"{url}/refresh", json={"ids": list(range(101))})
    assert r.status_code == 422
    # Offline now: 409, and nothing was stored.
    r = await api.post(url, json={"content": "hi"})
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    assert await listed(api, old.id) == []


async def test_the_tariff_is_shown_bound_to_the_transaction_O02(volta, api):
    r = await api.post(
        "/api/v1/tariffs",
        json={
            "name": "Day",
            "currency": "EUR",
            "price_kwh": "0.39",
            "display_text": "0.39 EUR/kWh incl. VAT",
            "is_default": True,
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["display_text"] == "0.39 EUR/kWh incl. VAT"
    await add_token(volta, REMOTE_CARD, language1="de")
    sc = scenario(volta, protocol="2.0.1", id_tokens=[], session_seconds=(60.0, 60.0))
    async with running(volta, sc) as [station]:
        tx = await remote_start(api, station)

        async def shown() -> list[dict[str, Any]]:
            rows = await listed(api, station.id)
            return [m for m in rows if m["source"] == "tariff" and m["status"] != "Requested"]

        assert await wait_until(shown, 15)
        [message] = await shown()
        assert message["content"] == "0.39 EUR/kWh incl. VAT"
        assert message["transaction_id"] == tx["station_transaction_id"]
        assert (message["status"], message["language"]) == ("Accepted", "de")
        held = display.messages_of(station)[message["message_id"]]
        assert held["transactionId"] == tx["station_transaction_id"]
        stopped = await command(
            api,
            station.id,
            "RequestStopTransaction",
            {"transactionId": tx["station_transaction_id"]},
        )
        assert stopped["status"] == "accepted"


async def test_a_station_cannot_grow_its_messages_without_end(volta, monkeypatch):
    """NotifyDisplayMessages for a request Volta never sent: the messages are
    kept, up to MAX_STORED per station; further new ids are dropped."""
    from tests.helpers import register
    from volta.blocks.display_messages import service

    monkeypatch.setattr(service, "MAX_STORED", 3)
    await register(volta, "DSP-CAP")
    infos = [
        {"id": i, "priority": "NormalCycle", "message": {"format": "UTF8", "content": f"m{i}"}}
        for i in range(1, 6)
    ]
    payload = {"requestId": 4242, "messageInfo": infos}
    assert await service.notify(volta.db, "DSP-CAP", payload) is False
    rows = await service.list_messages(volta.db, "DSP-CAP")
    assert [(m["message_id"], m["status"], m["source"]) for m in rows] == [
        (1, "Reported", "station"),
        (2, "Reported", "station"),
        (3, "Reported", "station"),
    ]
    # A known id is still updated.
    infos[0]["message"]["content"] = "changed"
    await service.notify(volta.db, "DSP-CAP", payload)
    assert (await service.get_message(volta.db, "DSP-CAP", 1))["content"] == "changed"
