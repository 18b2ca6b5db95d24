"""Availability reporting on both databases: what is recorded (a row per
change of up / down and of connectivity, nothing for a heartbeat, a meter
value or a repeated status), uptime over a period with an outage and a
maintenance window (23 CFR 680.116(b) arithmetic), per site, the CSV, and
the maintenance windows' API refusing what it cannot keep."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from tests.helpers import now_iso, register, station, wait_until
from volta.blocks.availability import service as availability
from volta.blocks.smart_charging import sites
from volta.store.models import AvailabilityChange, Connector, Station

UTC = dt.UTC
DAY_START = dt.datetime(2026, 1, 1, tzinfo=UTC)
DAY_END = dt.datetime(2026, 1, 2, tzinfo=UTC)


def at(hour: float) -> dt.datetime:
    return DAY_START + dt.timedelta(hours=hour)


async def changes(volta, station_id: str) -> list[tuple]:
    async with volta.db.read() as conn:
        rows = await conn.execute(
            sa.select(
                AvailabilityChange.evse_id,
                AvailabilityChange.connector_id,
                AvailabilityChange.down,
                AvailabilityChange.status,
            )
            .where(AvailabilityChange.station_id == station_id)
            .order_by(AvailabilityChange.id)
        )
        return [tuple(r) for r in rows]


def status16(connector: int, status: str, error: str = "NoError") -> dict:
    return {"connectorId": connector, "status": status, "errorCode": error, "timestamp": now_iso()}


async def test_changes_are_written_only_when_up_or_down_changes(volta, api):
    await register(volta, "AV-1")
    async with station(volta, "AV-1", "1.6") as cp:
        await cp.call("BootNotification", {"chargePointVendor": "a", "chargePointModel": "b"})
        await cp.call("StatusNotification", status16(1, "Available"))
        await cp.call("StatusNotification", status16(1, "Available"))
        await cp.call("StatusNotification", status16(1, "Preparing"))  # still up
        await cp.call("Heartbeat", {})
        await cp.call("StatusNotification", status16(1, "Faulted", "GroundFailure"))
        await cp.call("StatusNotification", status16(1, "Faulted", "OverVoltage"))
        await cp.call("StatusNotification", status16(1, "Available"))
    assert await wait_until(lambda: _has_offline(volta, "AV-1"))
    assert await changes(volta, "AV-1") == [
        (None, None, False, "online"),
        (1, 1, False, "Available"),
        (1, 1, True, "Faulted"),
        (1, 1, False, "Available"),
        (None, None, True, "offline"),
    ]
    # Over the station's life so far: the outage is the Faulted spell plus
    # the time since it went offline, as recorded.
    report = (await api.get("/api/v1/availability", params={"station_id": "AV-1"})).json()
    (evse,) = report["evses"]
    assert evse["evse_id"] == 1
    times = await _times(volta, "AV-1")
    end = dt.datetime.fromisoformat(evse["period_end"])
    expected = (times[3] - times[2]).total_seconds() + (end - times[4]).total_seconds()
    assert evse["outage_seconds"] == pytest.approx(expected, abs=0.01)
    assert evse["excluded_seconds"] == 0
    assert 0 <= evse["uptime_percent"] < 100


async def _has_offline(volta, station_id: str) -> bool:
    return any(c[3] == "offline" for c in await changes(volta, station_id))


async def _times(volta, station_id: str) -> list[dt.datetime]:
    async with volta.db.read() as conn:
        rows = await conn.execute(
            sa.select(AvailabilityChange.at)
            .where(AvailabilityChange.station_id == station_id)
            .order_by(AvailabilityChange.id)
        )
        return [r.at for r in rows]


async def _history(volta, station_id: str, site_id: int | None = None) -> None:
    """A station registered before the day, two EVSEs, and on the day: EVSE 1
    faulted 02:00-04:00, the station offline 03:00-05:00."""
    await register(volta, station_id)
    rows = [
        (1, 1, False, "Available", DAY_START - dt.timedelta(days=2)),
        (2, 2, False, "Available", DAY_START - dt.timedelta(days=2)),
        (1, 1, True, "Faulted", at(2)),
        (None, None, True, "offline", at(3)),
        (1, 1, False, "Available", at(4)),
        (None, None, False, "online", at(5)),
    ]
    async with volta.db.write(station_id) as conn:
        await conn.execute(
            sa.update(Station)
            .where(Station.id == station_id)
            .values(created_at=DAY_START - dt.timedelta(days=30), site_id=site_id)
        )
        for evse in (1, 2):
            await conn.execute(
                sa.insert(Connector).values(
                    station_id=station_id, evse_id=evse, connector_id=evse, status="Available"
                )
            )
        for evse, connector, down, status, when in rows:
            await conn.execute(
                sa.insert(AvailabilityChange).values(
                    station_id=station_id,
                    evse_id=evse,
                    connector_id=connector,
                    down=down,
                    status=status,
                    at=when,
                )
            )


DAY = {"from": DAY_START.isoformat(), "to": DAY_END.isoformat()}


async def test_uptime_over_a_day_with_an_outage_and_a_maintenance_window(volta, api):
    await _history(volta, "AV-DAY")
    window = {
        "station_id": "AV-DAY",
        "starts_at": at(4).isoformat(),
        "ends_at": at(6).isoformat(),
        "reason": "contactor replaced",
    }
    made = await api.post("/api/v1/maintenance-windows", json=window)
    assert made.status_code == 201, made.text
    body = (await api.get("/api/v1/availability", params={**DAY, "station_id": "AV-DAY"})).json()
    one, two = body["evses"]
    # EVSE 1: down 02:00-05:00 (fault, then offline), 04:00-05:00 excused.
    assert (one["outage_seconds"], one["excluded_seconds"]) == (3 * 3600, 3600)
    assert one["uptime_percent"] == pytest.approx(100 * (1 - 7200 / 86400), abs=0.001)
    # EVSE 2: only the station's offline spell, half of it excused.
    assert (two["outage_seconds"], two["excluded_seconds"]) == (7200, 3600)
    assert two["uptime_percent"] == pytest.approx(100 * (1 - 3600 / 86400), abs=0.001)
    assert body["uptime_percent"] == pytest.approx(100 * (1 - 10800 / 172800), abs=0.001)
    # Without the window the outage counts whole.
    await api.delete(f"/api/v1/maintenance-windows/{made.json()['id']}")
    body = (await api.get("/api/v1/availability", params={**DAY, "station_id": "AV-DAY"})).json()
    assert body["evses"][0]["uptime_percent"] == pytest.approx(87.5, abs=0.001)


async def test_per_site_and_csv(volta, api):
    site = await sites.create_site(volta.db, name="Depot", max_current_a=63)
    await _history(volta, "AV-SITE", site_id=site.id)
    await _history(volta, "AV-ELSEWHERE")
    made = await api.post(
        "/api/v1/maintenance-windows",
        json={"site_id": site.id, "starts_at": at(0).isoformat(), "ends_at": at(12).isoformat()},
    )
    assert made.status_code == 201
    body = (await api.get("/api/v1/availability", params={**DAY, "site_id": site.id})).json()
    assert {e["station_id"] for e in body["evses"]} == {"AV-SITE"}
    assert body["sites"] == [{"site_id": site.id, "uptime_percent": 100.0}]
    response = await api.get("/api/v1/availability.csv", params=DAY)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    by_key = {(r["station_id"], r["evse_id"]): r for r in rows}
    assert by_key[("AV-SITE", "1")]["uptime_percent"] == "100.000"
    assert by_key[("AV-ELSEWHERE", "1")]["uptime_percent"] == "87.500"
    assert by_key[("AV-ELSEWHERE", "1")]["outage_seconds"] == "10800"
    assert by_key[("AV-SITE", "2")]["site_id"] == str(site.id)


async def test_maintenance_windows_refuse_what_they_cannot_keep(volta, api):
    await register(volta, "AV-W")
    url = "/api/v1/maintenance-windows"
    start, end = at(1).isoformat(), at(2).isoformat()
    bad = [
        {"starts_at": end, "ends_at": start},
        {"starts_at": start, "ends_at": end, "evse_id": 1},
        {"starts_at": start, "ends_at": end, "station_id": "NOPE"},
        {"starts_at": start, "ends_at": end, "site_id": 999},
        {"starts_at": start, "ends_at": end, "station_id": "AV-W", "site_id": 1},
        {"starts_at": "2026-01-01T01:00:00", "ends_at": end},
        {"starts_at": start, "ends_at": "2028-01-01T00:00:00Z"},
    ]
    for body in bad:
        response = await api.post(url, json=body)
        assert response.status_code == 422, body
        assert "detail" in response.json()
    assert (await api.get(url)).json() == []
    ok = await api.post(url, json={"starts_at": start, "ends_at": end, "station_id": "AV-W"})
    listed = (await api.get(url, params={"from": at(0).isoformat()})).json()
    assert [w["id"] for w in listed] == [ok.json()["id"]]
    assert (await api.delete(f"{url}/{ok.json()['id']}")).status_code == 204
    assert (await api.delete(f"{url}/{ok.json()['id']}")).status_code == 404
    for params in (
        {"from": DAY_END.isoformat(), "to": DAY_START.isoformat()},
        {"from": "2024-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"site_id": 12345},
    ):
        assert (await api.get("/api/v1/availability", params=params)).status_code == 422


def test_intervals():
    assert availability.union([(5, 6), (1, 3), (2, 4)]) == [(1, 4), (5, 6)]
    assert availability.overlap([(0, 10)], [(2, 3), (9, 12)]) == 2
    assert availability.down_intervals(True, [(5, False), (7, True)], 0, 10) == [(0, 5), (7, 10)]
    assert availability.down_intervals(None, [], 0, 10) == []


async def test_connectivity_is_recorded_when_a_webhook_wants_the_events_too(volta, api):
    # With a webhook for station.online/offline the connection is recorded
    # inside a transaction (not as raw rows): the availability row comes along.
    made = await api.post(
        "/api/v1/webhooks",
        json={"url": "https://93.184.216.34/hook", "event_types": ["station.online"]},
    )
    assert made.status_code == 201, made.text
    await register(volta, "AV-HOOK")
    async with station(volta, "AV-HOOK", "2.0.1") as cp:
        await cp.call(
            "BootNotification",
            {"chargingStation": {"vendorName": "v", "model": "m"}, "reason": "PowerUp"},
        )
        status = {"timestamp": now_iso(), "evseId": 1, "connectorId": 1}
        await cp.call("StatusNotification", {**status, "connectorStatus": "Unavailable"})
        await cp.call("StatusNotification", {**status, "connectorStatus": "Unavailable"})
        await cp.call("StatusNotification", {**status, "connectorStatus": "Occupied"})
    assert await wait_until(lambda: _has_offline(volta, "AV-HOOK"))
    assert await changes(volta, "AV-HOOK") == [
        (None, None, False, "online"),
        (1, 1, True, "Unavailable"),
        (1, 1, False, "Occupied"),
        (None, None, True, "offline"),
    ]
