"""Monitoring (2.0.1 N02-N08) end to end: a station over a real WebSocket
answering as a charger would, an operator on the real HTTP API, on SQLite
and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tests.conformance.conftest import Station
from tests.helpers import connect, now_iso, register
from volta.blocks.device_model import service as device_model
from volta.blocks.monitoring import events, service
from volta.store.models import MonitoringEvent

PASSWORD = "monitoring-station-pass"


class Charger:
    """What a 2.0.1 station keeps of monitors: ids it gives, components it
    has, the limits it reports."""

    def __init__(self, items: int | None = None, known: tuple[str, ...] = ()) -> None:
        self.items = items
        self.known = set(known) or {"EVSE", "Connector", "ChargingStation", "TemperatureSensor"}
        self.ids = itertools.count(101)
        self.monitors: dict[int, dict[str, Any]] = {}
        self.set_requests: list[list[dict[str, Any]]] = []
        self.clear_requests: list[list[int]] = []
        self.refuse_clear: set[int] = set()
        self.limit_asks = 0

    def get_variables(self, p: dict[str, Any]) -> dict[str, Any]:
        self.limit_asks += 1
        results = []
        for d in p["getVariableData"]:
            value = (
                str(self.items)
                if self.items is not None and d["variable"]["name"] == "ItemsPerMessage"
                else None
            )
            result = {
                "attributeStatus": "Accepted" if value else "UnknownVariable",
                "component": d["component"],
                "variable": d["variable"],
            }
            if value:
                result["attributeValue"] = value
            results.append(result)
        return {"getVariableResult": results}

    def set_monitoring(self, p: dict[str, Any]) -> dict[str, Any]:
        self.set_requests.append(p["setMonitoringData"])
        results = []
        for d in p["setMonitoringData"]:
            result = {
                "type": d["type"],
                "severity": d["severity"],
                "component": d["component"],
                "variable": d["variable"],
            }
            if d["component"]["name"] not in self.known:
                result["status"] = "UnknownComponent"
            else:
                result["status"] = "Accepted"
                result["id"] = d.get("id") or next(self.ids)
                self.monitors[result["id"]] = d
            results.append(result)
        # In reverse: Volta matches results by component and variable (N04.FR.02).
        return {"setMonitoringResult": results[::-1]}

    def clear_monitoring(self, p: dict[str, Any]) -> dict[str, Any]:
        self.clear_requests.append(p["id"])
        results = []
        for i in p["id"]:
            if i in self.refuse_clear:
                status = "Rejected"
            elif self.monitors.pop(i, None) is not None:
                status = "Accepted"
            else:
                status = "NotFound"
            results.append({"status": status, "id": i})
        return {"clearMonitoringResult": results}

    def answers(self) -> dict[str, Any]:
        return {
            "GetVariables": self.get_variables,
            "SetVariableMonitoring": self.set_monitoring,
            "ClearVariableMonitoring": self.clear_monitoring,
            "SetMonitoringBase": {"status": "Accepted"},
            "SetMonitoringLevel": {"status": "Accepted"},
            "GetMonitoringReport": {"status": "Accepted"},
        }


@contextlib.asynccontextmanager
async def booted(
    volta: Any, station_id: str, charger: Charger, *, new: bool = True
) -> AsyncIterator[Station]:
    if new:
        await register(volta, station_id, password=PASSWORD)
    async with connect(volta, station_id, "ocpp2.0.1", PASSWORD) as ws:
        st = Station(ws, charger.answers())
        try:
            boot = {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}}
            assert (await st.call("BootNotification", boot))["status"] == "Accepted"
            yield st
        finally:
            await st.close()


def monitor(component: str, variable: str, **kw: Any) -> dict[str, Any]:
    return {"component": component, "variable": variable, "type": "Delta", "value": 1} | {
        "severity": 5,
        **kw,
    }


async def test_monitors_are_split_by_items_per_message_and_kept_with_answers(volta, api):
    charger = Charger(items=2)
    async with booted(volta, "MON-1", charger):
        body = {
            "monitors": [
                monitor("EVSE", "AvailabilityState", evse_id=1, severity=8),
                monitor("Connector", "AvailabilityState", evse_id=1, connector_id=1),
                monitor("TemperatureSensor", "Temperature", type="UpperThreshold", value=80.5),
                monitor("Bogus", "Thing"),
                monitor("EVSE", "Power", evse_id=1, type="Periodic", value=60, transaction=True),
            ]
        }
        r = await api.post("/api/v1/stations/MON-1/monitors", json=body)
        assert r.status_code == 200, r.text
        # ItemsPerMessage[SetVariableMonitoring] = 2, asked once: 5 monitors in 3 messages.
        assert [len(m) for m in charger.set_requests] == [2, 2, 1]
        first = charger.set_requests[0][0]
        assert first == {
            "value": 1,
            "type": "Delta",
            "severity": 8,
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "AvailabilityState"},
        }
        assert charger.set_requests[2][0]["transaction"] is True
        rows = r.json()
        by_component = {m["component"]: m for m in rows}
        assert by_component["Bogus"]["status"] == "UnknownComponent"
        assert by_component["Bogus"]["monitor_id"] is None
        assert by_component["TemperatureSensor"]["status"] == "Accepted"
        assert by_component["TemperatureSensor"]["value"] == 80.5
        assert by_component["EVSE"]["severity_name"] in ("Informational", "Alert")
        accepted = {m["monitor_id"] for m in rows if m["status"] == "Accepted"}
        assert accepted == set(charger.monitors)
        listed = (await api.get("/api/v1/stations/MON-1/monitors")).json()
        assert {m["id"] for m in listed} == {m["id"] for m in rows}
        # The limit is now part of the station's device model: not asked again.
        r = await api.post(
            "/api/v1/stations/MON-1/monitors", json={"monitors": [monitor("Bogus", "Thing")]}
        )
        assert r.status_code == 200
        assert charger.limit_asks == 1
        listed = (await api.get("/api/v1/stations/MON-1/monitors")).json()
        # The refused attempt was replaced by the new one, not piled up.
        assert sum(1 for m in listed if m["component"] == "Bogus") == 1


async def test_malformed_event_data_is_left_out(volta):
    await register(volta, "MON-12")
    good = {
        "eventId": 1,
        "timestamp": now_iso(),
        "trigger": "Alerting",
        "actualValue": "x" * 3000,
        "component": {"name": "EVSE"},
        "variable": {"name": "Problem"},
        "eventNotificationType": "HardWiredNotification",
    }
    bad = [{"eventId": "1"}, good | {"component": "EVSE"}, "junk"]
    stored = await events.store_events(volta.services, "MON-12", {"eventData": [*bad, good]})
    assert stored == 1
    (event,) = await events.list_events(volta.db, station_id="MON-12")
    assert len(event["actual_value"]) == 2500


async def test_notify_event_is_stored_with_the_monitor_severity_and_raised(volta, api):
    charger = Charger()
    async with booted(volta, "MON-2", charger) as st:
        r = await api.post(
            "/api/v1/stations/MON-2/monitors",
            json={"monitors": [monitor("Connector", "AvailabilityState", evse_id=1,
                                       connector_id=1, severity=2)]},
        )  # fmt: skip
        (row,) = r.json()
        event = {
            "generatedAt": now_iso(),
            "seqNo": 0,
            "tbc": True,
            "eventData": [
                {
                    "eventId": 7,
                    "timestamp": now_iso(),
                    "trigger": "Delta",
                    "actualValue": "Faulted",
                    "techCode": "E42",
                    "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                    "variable": {"name": "AvailabilityState"},
                    "variableMonitoringId": row["monitor_id"],
                    "eventNotificationType": "CustomMonitor",
                    "transactionId": "tx-1",
                }
            ],
        }
        # N07.FR.03: an empty answer.
        assert await st.call("NotifyEvent", event) == {}
        second = {
            "generatedAt": now_iso(),
            "seqNo": 1,
            "eventData": [
                {
                    "eventId": 8,
                    "timestamp": now_iso(),
                    "trigger": "Alerting",
                    "actualValue": "",
                    "cleared": True,
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Problem"},
                    "eventNotificationType": "HardWiredMonitor",
                }
            ],
        }
        assert await st.call("NotifyEvent", second) == {}
    found = (await api.get("/api/v1/monitoring-events", params={"station_id": "MON-2"})).json()
    assert [e["event_id"] for e in found] == [8, 7]  # newest first
    assert found[1]["severity"] == 2 and found[1]["severity_name"] == "System Failure"
    assert found[1]["actual_value"] == "Faulted" and found[1]["tech_code"] == "E42"
    assert found[1]["connector_id"] == 1 and found[1]["transaction_id"] == "tx-1"
    assert found[0]["severity"] is None and found[0]["cleared"] is True
    severe = (await api.get("/api/v1/monitoring-events", params={"severity_max": 3})).json()
    assert [e["event_id"] for e in severe] == [7]
    by_component = await api.get("/api/v1/monitoring-events", params={"component": "EVSE"})
    assert [e["event_id"] for e in by_component.json()] == [8]
    raised = (await api.get("/api/v1/events", params={"type": "monitoring.event"})).json()
    assert [e["data"]["event_id"] for e in raised] == [7, 8]
    assert raised[0]["data"]["severity"] == 2
    assert raised[0]["data"]["component"] == {
        "name": "Connector",
        "evse": {"id": 1, "connectorId": 1},
    }


async def test_monitoring_report_in_parts_updates_the_monitors(volta, api):
    charger = Charger()
    async with booted(volta, "MON-3", charger) as st:
        await api.post(
            "/api/v1/stations/MON-3/monitors",
            json={"monitors": [monitor("EVSE", "AvailabilityState", evse_id=1)]},
        )
        stale = next(iter(charger.monitors))
        r = await api.post("/api/v1/stations/MON-3/monitoring-reports", json={})
        assert r.status_code == 200, r.text
        report = r.json()
        assert report["status"] == "Accepted"
        request = await _sent(st, "GetMonitoringReport")
        # TC_N_47: neither criteria nor componentVariable: every monitor.
        assert request == {"requestId": report["request_id"]}
        part = {
            "requestId": report["request_id"],
            "seqNo": 0,
            "tbc": True,
            "generatedAt": now_iso(),
            "monitor": [
                {
                    "component": {"name": "ChargingStation"},
                    "variable": {"name": "Power"},
                    "variableMonitoring": [
                        {"id": 1, "transaction": False, "value": 22000, "type": "UpperThreshold",
                         "severity": 1},
                    ],
                }
            ],
        }  # fmt: skip
        assert await st.call("NotifyMonitoringReport", part) == {}
        mid = (await api.get("/api/v1/stations/MON-3/monitoring-reports")).json()[0]
        assert mid["status"] == "Accepted" and mid["parts"] == 1
        last = part | {"seqNo": 1, "tbc": False}
        last["monitor"] = [
            {
                "component": {"name": "Connector", "evse": {"id": 1, "connectorId": 1}},
                "variable": {"name": "AvailabilityState"},
                "variableMonitoring": [
                    {"id": 2, "transaction": False, "value": 1, "type": "Delta", "severity": 4}
                ],
            }
        ]
        assert await st.call("NotifyMonitoringReport", last) == {}
    done = (await api.get("/api/v1/stations/MON-3/monitoring-reports")).json()[0]
    assert done["status"] == "Complete" and done["parts"] == 2 and done["monitors"] == 2
    monitors = (await api.get("/api/v1/stations/MON-3/monitors")).json()
    # The station did not list the monitor Volta set earlier: it no longer has it.
    assert {m["monitor_id"] for m in monitors} == {1, 2}
    assert stale not in {m["monitor_id"] for m in monitors}
    assert all(m["status"] == "Reported" and m["origin"] == "station" for m in monitors)
    power = next(m for m in monitors if m["monitor_id"] == 1)
    assert power["value"] == 22000 and power["severity_name"] == "Hardware Failure"

    # A filtered report (TC_N_03) is sent as asked and drops nothing.
    async with booted(volta, "MON-3", charger, new=False) as st:
        r = await api.post(
            "/api/v1/stations/MON-3/monitoring-reports",
            json={
                "criteria": ["DeltaMonitoring"],
                "component_variables": [
                    {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}
                ],
            },
        )
        request = await _sent(st, "GetMonitoringReport")
        assert request["monitoringCriteria"] == ["DeltaMonitoring"]
        assert request["componentVariable"] == [
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "AvailabilityState"},
            }
        ]
        await st.call(
            "NotifyMonitoringReport",
            {"requestId": r.json()["request_id"], "seqNo": 0, "generatedAt": now_iso()},
        )
    assert len((await api.get("/api/v1/stations/MON-3/monitors")).json()) == 2


async def _sent(st: Station, action: str) -> dict[str, Any]:
    """The next CALL of `action` the station got (others before it skipped)."""
    while True:
        got, payload = await asyncio.wait_for(st.received.get(), 10)
        if got == action:
            return payload


async def test_clear_monitors_split_and_rejections_kept(volta, api):
    charger = Charger(items=3)
    async with booted(volta, "MON-4", charger):
        body = {"monitors": [monitor("EVSE", f"V{i}", evse_id=1) for i in range(7)]}
        rows = (await api.post("/api/v1/stations/MON-4/monitors", json=body)).json()
        ids = sorted(m["monitor_id"] for m in rows)
        charger.refuse_clear.add(ids[0])
        r = await api.post("/api/v1/stations/MON-4/monitors/clear", json={"ids": [*ids, 999]})
        assert r.status_code == 200, r.text
        # N06.FR.04: at most ItemsPerMessage ids per request.
        assert [len(c) for c in charger.clear_requests] == [3, 3, 2]
        statuses = {c["id"]: c["status"] for c in r.json()}
        assert statuses[ids[0]] == "Rejected" and statuses[999] == "NotFound"
        assert all(statuses[i] == "Accepted" for i in ids[1:])
        left = (await api.get("/api/v1/stations/MON-4/monitors")).json()
        assert [(m["monitor_id"], m["clear_status"]) for m in left] == [(ids[0], "Rejected")]
        charger.refuse_clear.clear()
        r = await api.delete(f"/api/v1/stations/MON-4/monitors/{ids[0]}")
        assert r.json() == {"id": ids[0], "status": "Accepted", "info": None}
        assert (await api.get("/api/v1/stations/MON-4/monitors")).json() == []


async def test_base_and_level_and_hard_wired_only_clears_custom_monitors(volta, api):
    charger = Charger()
    async with booted(volta, "MON-5", charger) as st:
        await api.post(
            "/api/v1/stations/MON-5/monitors",
            json={"monitors": [monitor("EVSE", "AvailabilityState", evse_id=1)]},
        )
        r = await api.post("/api/v1/stations/MON-5/monitoring-level", json={"severity": 4})
        assert r.json() == {"severity": 4, "status": "Accepted", "info": None}
        assert await _sent(st, "SetMonitoringLevel") == {"severity": 4}
        st.answers["SetMonitoringBase"] = {
            "status": "Rejected",
            "statusInfo": {"reasonCode": "NotSupported", "additionalInfo": "no presets"},
        }
        r = await api.post(
            "/api/v1/stations/MON-5/monitoring-base", json={"monitoring_base": "All"}
        )
        assert r.json() == {
            "monitoring_base": "All",
            "status": "Rejected",
            "info": "NotSupported: no presets",
        }
        assert len((await api.get("/api/v1/stations/MON-5/monitors")).json()) == 1
        st.answers["SetMonitoringBase"] = {"status": "Accepted"}
        r = await api.post(
            "/api/v1/stations/MON-5/monitoring-base", json={"monitoring_base": "HardWiredOnly"}
        )
        assert r.json()["status"] == "Accepted"
        assert (await api.get("/api/v1/stations/MON-5/monitors")).json() == []
    kept = await service.station_settings(volta.db, "MON-5")
    assert kept is not None
    assert (kept["monitoring_base"], kept["base_status"]) == ("HardWiredOnly", "Accepted")
    assert (kept["monitoring_level"], kept["level_status"]) == (4, "Accepted")


async def test_monitor_set_applied_to_the_fleet_keeps_each_answer(volta, api):
    sets_listed = (await api.get("/api/v1/monitor-sets")).json()
    assert {"connector-faults", "over-temperature", "offline-power-meter"} <= {
        s["name"] for s in sets_listed
    }
    await register(volta, "MON-OFF", password=PASSWORD)
    async with (
        booted(volta, "MON-6", Charger()),
        booted(volta, "MON-7", Charger(known=("EVSE",))),
    ):
        r = await api.post(
            "/api/v1/monitor-sets/connector-faults/apply",
            json={"station_ids": ["MON-6", "MON-7", "MON-OFF"]},
        )
        assert r.status_code == 200, r.text
        results = {x["station_id"]: x for x in r.json()}
        assert results["MON-6"]["result"] == "applied"
        assert results["MON-6"]["detail"] == "1 of 1 accepted"
        (mon,) = results["MON-6"]["monitors"]
        assert (mon["component"], mon["evse_id"], mon["connector_id"]) == ("Connector", 1, 1)
        assert mon["set_name"] == "connector-faults"
        assert results["MON-7"]["monitors"][0]["status"] == "UnknownComponent"
        assert results["MON-OFF"]["result"] == "skipped"
        assert "not connected" in results["MON-OFF"]["detail"]
        # No list: every 2.0.1 station (MON-OFF never connected, so its protocol is unknown).
        r = await api.post("/api/v1/monitor-sets/over-temperature/apply")
        assert {x["station_id"] for x in r.json()} == {"MON-6", "MON-7"}
    assert (await api.post("/api/v1/monitor-sets/nope/apply")).status_code == 404


async def test_bad_requests_are_refused_and_lose_nothing(volta, api):
    one = {"monitors": [monitor("EVSE", "AvailabilityState")]}
    assert (await api.post("/api/v1/stations/NOPE/monitors", json=one)).status_code == 404
    assert (await api.get("/api/v1/stations/NOPE/monitors")).status_code == 404
    await register(volta, "MON-8", password=PASSWORD)
    r = await api.post("/api/v1/stations/MON-8/monitors", json=one)
    assert r.status_code == 409 and "not connected" in r.json()["detail"]
    bad = [
        {"monitors": []},
        {"monitors": [monitor("EVSE", "X", severity=10)]},
        {"monitors": [monitor("EVSE", "X", type="Sometimes")]},
        {"monitors": [monitor("EVSE", "X", connector_id=1)]},
        {"monitors": [monitor("E" * 51, "X")]},
        {"monitors": [monitor("EVSE", "X")] * (service.MAX_MONITORS + 1)},
    ]
    for body in bad:
        assert (await api.post("/api/v1/stations/MON-8/monitors", json=body)).status_code == 422
    r = await api.post(
        "/api/v1/stations/MON-8/monitors",
        content=b'{"monitors": [{"component": "EVSE", "variable": "X", "type": "Delta", '
        b'"value": NaN, "severity": 1}]}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert (
        await api.post("/api/v1/stations/MON-8/monitoring-level", json={"severity": -1})
    ).status_code == 422
    assert (
        await api.post("/api/v1/stations/MON-8/monitoring-base", json={"monitoring_base": "x"})
    ).status_code == 422
    charger = Charger()
    async with booted(volta, "MON-8", charger, new=False):
        periodic = {"monitors": [monitor("EVSE", "Power", type="Periodic", value=0)]}
        r = await api.post("/api/v1/stations/MON-8/monitors", json=periodic)
        assert r.status_code == 422 and "interval" in r.json()["detail"]
        assert charger.set_requests == []
    # A 1.6 station has no monitoring.
    await register(volta, "MON-16", password=PASSWORD)
    async with connect(volta, "MON-16", "ocpp1.6", PASSWORD) as ws:
        st = Station(ws, {})
        try:
            await st.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
            r = await api.post("/api/v1/stations/MON-16/monitoring-level", json={"severity": 3})
            assert r.status_code == 409 and "2.0.1" in r.json()["detail"]
        finally:
            await st.close()
    assert (await api.get("/api/v1/stations/MON-8/monitors")).json() == []


async def _events(volta: Any, station_id: str, count: int, received: dt.datetime) -> None:
    async with volta.db.write() as conn:
        await conn.execute(
            sa.insert(MonitoringEvent),
            [
                {
                    "station_id": station_id,
                    "event_id": i,
                    "timestamp": received,
                    "trigger": "Periodic",
                    "actual_value": str(i),
                    "cleared": False,
                    "component": "EVSE",
                    "variable": "Power",
                    "event_notification_type": "HardWiredMonitor",
                    "received_at": received,
                }
                for i in range(count)
            ],
        )


async def test_events_bounded_per_station_and_pruned_by_age(volta):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    await register(volta, "MON-9")
    await register(volta, "MON-10")
    await _events(volta, "MON-9", 5, old)
    await _events(volta, "MON-9", 30, dt.datetime.now(dt.UTC))
    await _events(volta, "MON-10", 3, dt.datetime.now(dt.UTC))
    # Housekeeping's share: monitoring_events_days (30 by default), at most once a minute.
    assert await events.housekeeping(volta.services) == 5
    assert await events.housekeeping(volta.services) == 0
    assert await events.trim_station(volta.db, "MON-9", 10) == 20
    left = await events.list_events(volta.db, station_id="MON-9", limit=100)
    assert [e["event_id"] for e in left] == list(range(29, 19, -1))
    assert len(await events.list_events(volta.db, station_id="MON-10")) == 3


@pytest.mark.parametrize("volta_settings", [{"monitoring_events_per_station": 100}])
async def test_notify_event_keeps_a_station_within_its_bound(volta_settings, volta, api):
    charger = Charger()
    async with booted(volta, "MON-11", charger) as st:
        for batch in range(3):
            data = [
                {
                    "eventId": batch * 100 + i,
                    "timestamp": now_iso(),
                    "trigger": "Periodic",
                    "actualValue": str(i),
                    "component": {"name": "EVSE", "evse": {"id": 1}},
                    "variable": {"name": "Power"},
                    "eventNotificationType": "PreconfiguredMonitor",
                }
                for i in range(60)
            ]
            await st.call(
                "NotifyEvent", {"generatedAt": now_iso(), "seqNo": batch, "eventData": data}
            )
    kept = await events.list_events(volta.db, station_id="MON-11", limit=1000)
    assert len(kept) == 100
    assert kept[0]["event_id"] == 259


def test_split_respects_bytes_per_message():
    items = [{"n": "x" * 40} for _ in range(10)]

    def payload(chunk: list[Any]) -> dict[str, Any]:
        return {"data": chunk}

    limit = 200
    chunks = device_model.chunks(items, payload, action="A", max_items=None, max_bytes=limit)
    assert sum(len(c) for c in chunks) == 10 and len(chunks) > 1
    for chunk in chunks:
        frame = f'[2,"{"x" * 36}","A",{orjson.dumps(payload(chunk)).decode()}]'
        assert len(frame) <= limit
    # One that alone exceeds the limit goes alone.
    assert device_model.chunks(
        [{"n": "y" * 500}], payload, action="A", max_items=None, max_bytes=50
    ) == [[{"n": "y" * 500}]]
    assert device_model.chunks(
        list(range(5)), payload, action="A", max_items=2, max_bytes=None
    ) == [
        [0, 1],
        [2, 3],
        [4],
    ]
