"""The simulator's monitoring against a real Volta: monitors set through the
API are kept by the simulated 2.0.1 station, which notifies events when its
values cross them; reports, clearing and the monitoring level as a charger
would answer them."""

from __future__ import annotations

from typing import Any

from tests.helpers import wait_until
from tests.test_simulator import all_available, command, quiet, running


async def _events(api: Any, station_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await api.get("/api/v1/monitoring-events", params={"station_id": station_id, **params})
    return r.json()


async def test_simulated_station_keeps_monitors_and_notifies_events(volta, api):
    async with running(volta, quiet(volta, "2.0.1")) as [station]:
        sid = station.id
        assert await wait_until(lambda: all_available(api, sid), 15)
        r = await api.post(
            "/api/v1/monitor-sets/connector-faults/apply", json={"station_ids": [sid]}
        )
        (applied,) = r.json()
        (faults,) = applied["monitors"]
        assert (faults["status"], faults["component"], faults["connector_id"]) == (
            "Accepted",
            "Connector",
            1,
        )
        body = {
            "monitors": [
                # Always below 100 °C: fires at the next sample.
                {"component": "TemperatureSensor", "variable": "Temperature",
                 "type": "LowerThreshold", "value": 100, "severity": 1},
                {"component": "Lighting", "variable": "Brightness", "type": "Delta",
                 "value": 1, "severity": 8},
                {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState",
                 "type": "UpperThreshold", "value": 1, "severity": 8},
            ]
        }  # fmt: skip
        rows = (await api.post(f"/api/v1/stations/{sid}/monitors", json=body)).json()
        assert [m["status"] for m in rows] == [
            "Accepted",
            "UnknownComponent",
            "UnsupportedMonitorType",
        ]
        cold = rows[0]["monitor_id"]

        async def alerted() -> bool:
            return any(
                e["variable_monitoring_id"] == cold and e["trigger"] == "Alerting"
                for e in await _events(api, sid)
            )

        assert await wait_until(alerted, 15)
        (event,) = await _events(api, sid, severity_max=1)
        assert event["severity_name"] == "Hardware Failure"
        assert float(event["actual_value"]) < 100

        # A status change fires the connector-faults monitor (Delta).
        off = await command(
            api, sid, "ChangeAvailability", {"operationalStatus": "Inoperative", "evse": {"id": 1}}
        )
        assert off["status"] == "accepted"

        async def unavailable_event() -> list[dict[str, Any]]:
            return [
                e
                for e in await _events(api, sid)
                if e["variable_monitoring_id"] == faults["monitor_id"]
                and e["actual_value"] == "Unavailable"
            ]

        assert await wait_until(unavailable_event, 15)
        (changed,) = await unavailable_event()
        assert (changed["trigger"], changed["severity"]) == ("Delta", 4)
        assert changed["event_notification_type"] == "CustomMonitor"

        # The full report lists the hard-wired and preconfigured monitors too.
        report = (await api.post(f"/api/v1/stations/{sid}/monitoring-reports", json={})).json()

        async def complete() -> bool:
            reports = (await api.get(f"/api/v1/stations/{sid}/monitoring-reports")).json()
            return reports[0]["id"] == report["id"] and reports[0]["status"] == "Complete"

        assert await wait_until(complete, 15)
        monitors = (await api.get(f"/api/v1/stations/{sid}/monitors")).json()
        kinds = {(m["component"], m["type"], m["origin"]) for m in monitors}
        assert ("TemperatureSensor", "UpperThreshold", "station") in kinds
        assert ("Connector", "Delta", "volta") in kinds
        hard_wired = next(
            m for m in monitors if m["origin"] == "station" and m["component"] == "Connector"
        )
        r = await api.delete(f"/api/v1/stations/{sid}/monitors/{hard_wired['monitor_id']}")
        assert r.json()["status"] == "Rejected"
        r = await api.delete(f"/api/v1/stations/{sid}/monitors/{cold}")
        assert r.json()["status"] == "Accepted"

        # Level 0: only Danger from now on; a status change notifies nothing.
        level = await api.post(f"/api/v1/stations/{sid}/monitoring-level", json={"severity": 0})
        assert level.json()["status"] == "Accepted"
        before = len(await _events(api, sid))
        on = await command(
            api, sid, "ChangeAvailability", {"operationalStatus": "Operative", "evse": {"id": 1}}
        )
        assert on["status"] == "accepted"
        assert await wait_until(lambda: all_available(api, sid), 15)
        assert not await wait_until(lambda: _more(api, sid, before), timeout=2.5), (
            "an event above the monitoring level was notified"
        )


async def _more(api: Any, sid: str, count: int) -> bool:
    return len(await _events(api, sid)) > count
