"""OCPP 2.1 periodic event streams: OpenPeriodicEventStream accepted up to a
bound per station, NotifyPeriodicEventStream (a SEND, never answered) stored
packed and read back through the API, ClosePeriodicEventStream, and
Get/AdjustPeriodicEventStream sent through the API."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from tests.helpers import answer, register, station, wait_until
from tests.v21.payment_flows import BOOT
from volta.app import outgoing_tables
from volta.blocks.event_streams.service import AdjustPeriodicEventStream, GetPeriodicEventStream
from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.outgoing import Message
from volta.store.models import EventStreamData

OUTGOING_CASES: list[tuple[object, Message]] = [
    (GetPeriodicEventStream(), Message("GetPeriodicEventStream", {})),
    (
        AdjustPeriodicEventStream(3, interval=5, values=20),
        Message("AdjustPeriodicEventStream", {"id": 3, "params": {"interval": 5, "values": 20}}),
    ),
    (
        AdjustPeriodicEventStream(3, values=10),
        Message("AdjustPeriodicEventStream", {"id": 3, "params": {"values": 10}}),
    ),
]


@pytest.mark.parametrize(("command", "message"), OUTGOING_CASES)
def test_the_v21_table_builds_event_stream_commands(command, message):
    built = outgoing_tables()[Version.V21].build(command)
    assert built == message
    registry().validate(Version.V21, built.action, built.payload)


def opening(stream_id: int, monitor: int = 10, interval: int = 1, values: int = 3) -> dict:
    return {
        "constantStreamData": {
            "id": stream_id,
            "variableMonitoringId": monitor,
            "params": {"interval": interval, "values": values},
        }
    }


BASETIME = "2026-12-07T10:00:00.000Z"


@pytest.mark.parametrize("volta_settings", [{"event_streams_per_station": 2}])
async def test_streams_opened_fed_read_and_closed(volta, api):
    """A station opens streams (Accepted up to event_streams_per_station, then
    Rejected), sends its values as SENDs that Volta stores one row per
    message, and closes a stream; the API reads the values back."""
    await register(volta, "STR-1")
    async with station(volta, "STR-1", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        assert (await cp.call("OpenPeriodicEventStream", opening(1)))["status"] == "Accepted"
        assert (await cp.call("OpenPeriodicEventStream", opening(2)))["status"] == "Accepted"
        third = await cp.call("OpenPeriodicEventStream", opening(3))
        assert third["status"] == "Rejected"
        assert third["statusInfo"]["reasonCode"] == "TooManyStreams"
        # Re-opening an open stream replaces its parameters.
        again = await cp.call("OpenPeriodicEventStream", opening(1, interval=2))
        assert again["status"] == "Accepted"
        for n in range(3):
            sent = await cp.send(
                "NotifyPeriodicEventStream",
                {
                    "id": 1,
                    "pending": 2 - n,
                    "basetime": BASETIME,
                    "data": [{"t": n + 0.25 * k, "v": str(230 + n + k)} for k in range(4)],
                },
            )
            assert sent
        # Data of a stream never opened is dropped.
        await cp.send(
            "NotifyPeriodicEventStream",
            {"id": 9, "pending": 0, "basetime": BASETIME, "data": [{"t": 0, "v": "1"}]},
        )

        async def fed() -> bool:
            got = (await api.get("/api/v1/stations/STR-1/event-streams/1")).json()
            return got["messages"] == 3

        assert await wait_until(fed)
        stream = (await api.get("/api/v1/stations/STR-1/event-streams/1")).json()
        assert stream["points"] == 12
        assert stream["interval"] == 2
        assert stream["status"] == "Open"
        messages = (await api.get("/api/v1/stations/STR-1/event-streams/1/data")).json()
        assert [m["pending"] for m in messages] == [2, 1, 0]
        first = messages[0]["points"][1]
        assert first["t"] == 0.25
        assert first["v"] == "231"
        assert dt.datetime.fromisoformat(first["at"]) == dt.datetime(
            2026, 12, 7, 10, 0, 0, 250000, tzinfo=dt.UTC
        )
        page = (
            await api.get(
                "/api/v1/stations/STR-1/event-streams/1/data",
                params={"after": messages[0]["id"], "limit": 1},
            )
        ).json()
        assert [m["pending"] for m in page] == [1]
        assert await cp.call("ClosePeriodicEventStream", {"id": 2}) == {}
        assert (await cp.call("OpenPeriodicEventStream", opening(3)))["status"] == "Accepted"
    # Packed: one row per message, not per value.
    async with volta.services.db.read() as conn:
        rows = (
            await conn.execute(sa.select(sa.func.count()).select_from(EventStreamData))
        ).scalar()
    assert rows == 3
    streams = (await api.get("/api/v1/stations/STR-1/event-streams")).json()
    assert [(s["stream_id"], s["status"]) for s in streams] == [
        (1, "Open"),
        (2, "Closed"),
        (3, "Open"),
    ]
    events = (
        await api.get(
            "/api/v1/events", params={"type": ["event_stream.opened", "event_stream.closed"]}
        )
    ).json()
    assert [e["type"] for e in events].count("event_stream.closed") == 1
    assert (await api.get("/api/v1/stations/STR-1/event-streams/7")).status_code == 404


@pytest.mark.parametrize("volta_settings", [{"event_stream_max_messages": 50}])
async def test_a_stream_keeps_at_most_its_bound_of_messages(volta, api, monkeypatch):
    """High-rate data is bounded: older messages go once the stream holds
    more than event_stream_max_messages."""
    from volta.blocks.event_streams import service

    monkeypatch.setattr(service, "PRUNE_EVERY", 10)
    await register(volta, "STR-2")
    async with station(volta, "STR-2", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await cp.call("OpenPeriodicEventStream", opening(1))
        for n in range(120):
            await cp.send(
                "NotifyPeriodicEventStream",
                {"id": 1, "pending": 0, "basetime": BASETIME, "data": [{"t": n, "v": str(n)}]},
            )

        async def fed() -> bool:
            got = (await api.get("/api/v1/stations/STR-2/event-streams/1")).json()
            return got["messages"] == 120

        assert await wait_until(fed, timeout=60)
    kept = (
        await api.get("/api/v1/stations/STR-2/event-streams/1/data", params={"limit": 1000})
    ).json()
    assert len(kept) == 50
    assert kept[-1]["points"][0]["v"] == "119"


async def test_get_and_adjust_streams_through_the_api(volta, api):
    """GetPeriodicEventStream: Volta's list follows the station's answer;
    AdjustPeriodicEventStream: an accepted change is kept."""
    await register(volta, "STR-3")
    async with station(volta, "STR-3", "2.1") as cp:
        await cp.call("BootNotification", BOOT)
        await cp.call("OpenPeriodicEventStream", opening(1))
        await cp.call("OpenPeriodicEventStream", opening(2))
        cp.handlers["GetPeriodicEventStream"] = answer(
            {
                "constantStreamData": [
                    {"id": 2, "variableMonitoringId": 11, "params": {"interval": 4}},
                    {"id": 5, "variableMonitoringId": 12, "params": {"values": 8}},
                ]
            }
        )
        got = await api.post("/api/v1/stations/STR-3/event-streams/refresh")
        assert got.status_code == 202, got.text
        assert [(s["stream_id"], s["status"]) for s in got.json()["streams"]] == [
            (1, "Closed"),
            (2, "Open"),
            (5, "Open"),
        ]
        cp.handlers["AdjustPeriodicEventStream"] = answer({"status": "Accepted"})
        adjusted = await api.post(
            "/api/v1/stations/STR-3/event-streams/2/adjust", json={"interval": 9, "values": 3}
        )
        assert adjusted.status_code == 200, adjusted.text
        assert adjusted.json()["status"] == "Accepted"
        assert (adjusted.json()["stream"]["interval"], adjusted.json()["stream"]["values"]) == (
            9,
            3,
        )
        assert cp.received[-1] == (
            "AdjustPeriodicEventStream",
            {"id": 2, "params": {"interval": 9, "values": 3}},
        )
        cp.handlers["AdjustPeriodicEventStream"] = answer({"status": "Rejected"})
        refused = await api.post(
            "/api/v1/stations/STR-3/event-streams/2/adjust", json={"interval": 1}
        )
        assert refused.json()["status"] == "Rejected"
        assert refused.json()["stream"]["interval"] == 9
        empty = await api.post("/api/v1/stations/STR-3/event-streams/2/adjust", json={})
        assert empty.status_code == 422


async def test_stream_commands_are_refused_to_a_2_0_1_station(volta, api):
    await register(volta, "STR-4")
    async with station(volta, "STR-4", "2.0.1") as cp:
        await cp.call("BootNotification", BOOT)
        assert (await api.post("/api/v1/stations/STR-4/event-streams/refresh")).status_code == 409
