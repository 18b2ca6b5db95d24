"""OCPP 2.0.1 CSMS test cases of block N, monitoring (N02-N08): the station
is played over a real WebSocket; the operator acts through Volta's
monitoring API (never a raw command), and what Volta kept is read back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.conftest import Answer, Station
from tests.helpers import now_iso

API = "/api/v1/stations/CS201"


def _ids_result(p: dict[str, Any], status: str) -> dict[str, Any]:
    return {"clearMonitoringResult": [{"status": status, "id": i} for i in p["id"]]}


def _set_result(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "setMonitoringResult": [
            {
                "id": 10 + n,
                "status": "Accepted",
                "type": d["type"],
                "severity": d["severity"],
                "component": d["component"],
                "variable": d["variable"],
            }
            for n, d in enumerate(p["setMonitoringData"])
        ]
    }


@pytest.fixture
def monitoring_answers(answers: dict[str, Answer]) -> dict[str, Answer]:
    # A station without MonitoringCtrlr limits in its device model unless a
    # test says otherwise.
    answers.update(
        {
            "GetVariables": lambda p: {
                "getVariableResult": [
                    {
                        "attributeStatus": "UnknownVariable",
                        "component": d["component"],
                        "variable": d["variable"],
                    }
                    for d in p["getVariableData"]
                ]
            },
            "SetVariableMonitoring": _set_result,
            "ClearVariableMonitoring": lambda p: _ids_result(p, "Accepted"),
            "SetMonitoringBase": {"status": "Accepted"},
            "SetMonitoringLevel": {"status": "Accepted"},
            "GetMonitoringReport": {"status": "Accepted"},
        }
    )
    return answers


def _sent(cs: Station, action: str) -> list[dict[str, Any]]:
    """Every CALL of `action` the station got so far (the others dropped)."""
    found = []
    while not cs.received.empty():
        got, payload = cs.received.get_nowait()
        if got == action:
            found.append(payload)
    return found


async def _report(
    cs: Station, api: Any, answers: dict[str, Answer], status: str, body: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    answers["GetMonitoringReport"] = {"status": status}
    r = await api.post(f"{API}/monitoring-reports", json=body)
    assert r.status_code == 200, r.text
    (request,) = _sent(cs, "GetMonitoringReport")
    return r.json(), request


def _monitor(component: dict[str, Any], variable: str, monitor_id: int) -> dict[str, Any]:
    return {
        "component": component,
        "variable": {"name": variable},
        "variableMonitoring": [
            {"id": monitor_id, "transaction": False, "value": 100.0, "type": "UpperThreshold",
             "severity": 5},
        ],
    }  # fmt: skip


async def _notify(cs: Station, request_id: int, monitors: list[dict[str, Any]]) -> None:
    part = {"requestId": request_id, "seqNo": 0, "generatedAt": now_iso(), "monitor": monitors}
    assert await cs.call("NotifyMonitoringReport", part) == {}


async def _complete(api: Any, report: dict[str, Any]) -> dict[str, Any]:
    reports = (await api.get(f"{API}/monitoring-reports")).json()
    return next(r for r in reports if r["id"] == report["id"])


EVSE_1 = {"component": "EVSE", "evse_id": 1, "variable": "AvailabilityState"}
CS_POWER = {"component": "ChargingStation", "variable": "Power"}
CS_AVAILABILITY = {"component": "ChargingStation", "variable": "AvailabilityState"}


async def test_TC_N_01_CSMS(monitoring_answers, cs, api) -> None:
    """N02.FR.05: a report by monitoringCriteria only; EmptyResultSet is
    kept as the report's outcome, an accepted one completes with its part."""
    empty, request = await _report(
        cs, api, monitoring_answers, "EmptyResultSet", {"criteria": ["DeltaMonitoring"]}
    )
    assert request == {"requestId": empty["request_id"], "monitoringCriteria": ["DeltaMonitoring"]}
    assert empty["status"] == "EmptyResultSet"
    report, request = await _report(
        cs, api, monitoring_answers, "Accepted", {"criteria": ["ThresholdMonitoring"]}
    )
    assert request["monitoringCriteria"] == ["ThresholdMonitoring"]
    assert "componentVariable" not in request
    await _notify(cs, report["request_id"], [_monitor({"name": "ChargingStation"}, "Power", 1)])
    assert (await _complete(api, report))["status"] == "Complete"
    (monitor,) = (await api.get(f"{API}/monitors")).json()
    assert (monitor["component"], monitor["variable"], monitor["monitor_id"]) == (
        "ChargingStation",
        "Power",
        1,
    )


async def test_TC_N_02_CSMS(monitoring_answers, cs, api) -> None:
    """N02.FR.05: a report by component and variable only."""
    _, request = await _report(
        cs, api, monitoring_answers, "EmptyResultSet", {"component_variables": [CS_POWER]}
    )
    assert "monitoringCriteria" not in request
    assert request["componentVariable"] == [
        {"component": {"name": "ChargingStation"}, "variable": {"name": "Power"}}
    ]
    report, request = await _report(
        cs, api, monitoring_answers, "Accepted", {"component_variables": [EVSE_1]}
    )
    assert request["componentVariable"] == [
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "AvailabilityState"},
        }
    ]
    await _notify(
        cs,
        report["request_id"],
        [_monitor({"name": "EVSE", "evse": {"id": 1}}, "AvailabilityState", 1)],
    )
    assert (await _complete(api, report))["monitors"] == 1


async def test_TC_N_03_CSMS(monitoring_answers, cs, api) -> None:
    """N02.FR.05: criteria and component/variable together."""
    _, request = await _report(
        cs,
        api,
        monitoring_answers,
        "EmptyResultSet",
        {"criteria": ["DeltaMonitoring"], "component_variables": [EVSE_1]},
    )
    assert request["monitoringCriteria"] == ["DeltaMonitoring"]
    assert request["componentVariable"][0]["component"] == {"name": "EVSE", "evse": {"id": 1}}
    report, request = await _report(
        cs,
        api,
        monitoring_answers,
        "Accepted",
        {"criteria": ["ThresholdMonitoring"], "component_variables": [CS_POWER]},
    )
    assert request["monitoringCriteria"] == ["ThresholdMonitoring"]
    assert request["componentVariable"][0]["variable"] == {"name": "Power"}
    await _notify(cs, report["request_id"], [_monitor({"name": "ChargingStation"}, "Power", 1)])
    assert (await _complete(api, report))["status"] == "Complete"


async def test_TC_N_05_CSMS(monitoring_answers, cs, api) -> None:
    """N03.FR.03-05: All, FactoryDefault, HardWiredOnly in turn."""
    for base in ("All", "FactoryDefault", "HardWiredOnly"):
        r = await api.post(f"{API}/monitoring-base", json={"monitoring_base": base})
        assert r.json()["status"] == "Accepted"
        assert _sent(cs, "SetMonitoringBase") == [{"monitoringBase": base}]


async def test_TC_N_08_CSMS(monitoring_answers, cs, api) -> None:
    """N04.FR.01/02/17: one Delta monitor of a non-numeric variable, value 1;
    the id the station gave is kept."""
    body = {"monitors": [{**EVSE_1, "type": "Delta", "value": 1, "severity": 8}]}
    r = await api.post(f"{API}/monitors", json=body)
    assert r.status_code == 200, r.text
    (sent,) = _sent(cs, "SetVariableMonitoring")
    assert sent["setMonitoringData"] == [
        {
            "value": 1,
            "type": "Delta",
            "severity": 8,
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "AvailabilityState"},
        }
    ]
    (monitor,) = r.json()
    assert (monitor["status"], monitor["monitor_id"]) == ("Accepted", 10)


async def test_TC_N_09_CSMS(monitoring_answers, cs, api) -> None:
    """N04.FR.01/02: two monitors on different components in one request."""
    body = {
        "monitors": [
            {**EVSE_1, "type": "Delta", "value": 1, "severity": 8},
            {**CS_AVAILABILITY, "type": "Delta", "value": 1, "severity": 8},
        ]
    }
    r = await api.post(f"{API}/monitors", json=body)
    (sent,) = _sent(cs, "SetVariableMonitoring")
    assert [d["component"]["name"] for d in sent["setMonitoringData"]] == [
        "EVSE",
        "ChargingStation",
    ]
    assert sorted(m["monitor_id"] for m in r.json()) == [10, 11]


async def test_TC_N_16_CSMS(monitoring_answers, cs, api) -> None:
    """N05.FR.01: SetMonitoringLevel accepted; the level is kept."""
    r = await api.post(f"{API}/monitoring-level", json={"severity": 4})
    assert r.json()["status"] == "Accepted"
    assert _sent(cs, "SetMonitoringLevel") == [{"severity": 4}]


async def test_TC_N_17_CSMS(monitoring_answers, cs, api) -> None:
    """N05.FR.02: the station rejects the level; Volta reports it as such."""
    monitoring_answers["SetMonitoringLevel"] = {"status": "Rejected"}
    r = await api.post(f"{API}/monitoring-level", json={"severity": 4})
    assert r.json()["status"] == "Rejected"
    assert _sent(cs, "SetMonitoringLevel") == [{"severity": 4}]


async def test_TC_N_18_CSMS(monitoring_answers, cs, api) -> None:
    """N06.FR.04: Volta asks MonitoringCtrlr.ItemsPerMessage[ClearVariableMonitoring]
    and never puts more ids in one request."""
    monitoring_answers["GetVariables"] = lambda p: {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "attributeValue": "3" if d["variable"]["name"] == "ItemsPerMessage" else "4096",
                "component": d["component"],
                "variable": d["variable"],
            }
            for d in p["getVariableData"]
        ]
    }
    r = await api.post(f"{API}/monitors/clear", json={"ids": list(range(1, 8))})
    assert r.status_code == 200, r.text
    got: list[tuple[str, dict[str, Any]]] = []
    while not cs.received.empty():
        got.append(cs.received.get_nowait())
    assert got[0][0] == "GetVariables"
    assert {(d["component"]["name"], d["variable"]["name"], d["variable"]["instance"])
            for d in got[0][1]["getVariableData"]} == {
        ("MonitoringCtrlr", "ItemsPerMessage", "ClearVariableMonitoring"),
        ("MonitoringCtrlr", "BytesPerMessage", "ClearVariableMonitoring"),
    }  # fmt: skip
    clears = [p["id"] for a, p in got if a == "ClearVariableMonitoring"]
    assert len(clears) >= 2 and all(len(ids) <= 3 for ids in clears)
    assert sorted(i for ids in clears for i in ids) == list(range(1, 8))
    assert {c["status"] for c in r.json()} == {"Accepted"}


def _event(**extra: Any) -> dict[str, Any]:
    data = {
        "eventId": 1,
        "timestamp": now_iso(),
        "trigger": "Alerting",
        "actualValue": "1",
        "eventNotificationType": "HardWiredMonitor",
        "component": {"name": "EVSE", "evse": {"id": 1}},
        "variable": {"name": "AvailabilityState"},
    } | extra
    return {"generatedAt": now_iso(), "seqNo": 0, "eventData": [data]}


async def _events(api: Any) -> list[dict[str, Any]]:
    return (await api.get("/api/v1/monitoring-events", params={"station_id": "CS201"})).json()


async def test_TC_N_21_CSMS(cs, api) -> None:
    """N07.FR.03: an empty NotifyEventResponse; the event is stored."""
    assert await cs.call("NotifyEvent", _event()) == {}
    (stored,) = await _events(api)
    assert stored["event_notification_type"] == "HardWiredMonitor"
    assert (stored["component"], stored["evse_id"]) == ("EVSE", 1)


async def test_TC_N_24_CSMS(cs, api) -> None:
    """N08.FR.02: periodic events, answered empty each time."""
    for i in range(3):
        answer = await cs.call(
            "NotifyEvent", _event(eventId=i + 1, trigger="Periodic", actualValue=str(i * 10))
        )
        assert answer == {}
    assert [e["actual_value"] for e in await _events(api)] == ["20", "10", "0"]


async def test_TC_N_44_CSMS(monitoring_answers, cs, api) -> None:
    """N06: the station rejects the clearing; Volta keeps the monitor and says so."""
    r = await api.post(
        f"{API}/monitors",
        json={"monitors": [{**EVSE_1, "type": "Delta", "value": 1, "severity": 8}]},
    )
    (monitor,) = r.json()
    monitoring_answers["ClearVariableMonitoring"] = lambda p: _ids_result(p, "Rejected")
    r = await api.delete(f"{API}/monitors/{monitor['monitor_id']}")
    assert r.json()["status"] == "Rejected"
    assert _sent(cs, "ClearVariableMonitoring")[-1] == {"id": [monitor["monitor_id"]]}
    (kept,) = (await api.get(f"{API}/monitors")).json()
    assert kept["clear_status"] == "Rejected"


async def test_TC_N_47_CSMS(monitoring_answers, cs, api) -> None:
    """N02: neither criteria nor component/variable: a report of every
    monitor, in parts (tbc) until the last."""
    report, request = await _report(cs, api, monitoring_answers, "Accepted", {})
    assert request == {"requestId": report["request_id"]}
    first = {
        "requestId": report["request_id"],
        "seqNo": 0,
        "tbc": True,
        "generatedAt": now_iso(),
        "monitor": [_monitor({"name": "ChargingStation"}, "Power", 1)],
    }
    assert await cs.call("NotifyMonitoringReport", first) == {}
    assert (await _complete(api, report))["status"] == "Accepted"
    last = first | {
        "seqNo": 1,
        "tbc": False,
        "monitor": [_monitor({"name": "EVSE", "evse": {"id": 1}}, "Power", 2)],
    }
    assert await cs.call("NotifyMonitoringReport", last) == {}
    done = await _complete(api, report)
    assert (done["status"], done["parts"], done["monitors"]) == ("Complete", 2, 2)


async def test_TC_N_48_CSMS(cs, api) -> None:
    """An event of a write-only variable: actualValue empty."""
    assert await cs.call("NotifyEvent", _event(actualValue="")) == {}
    assert (await _events(api))[0]["actual_value"] == ""


async def test_TC_N_49_CSMS(cs, api) -> None:
    """A threshold event cleared after a reboot: cleared kept."""
    assert await cs.call("NotifyEvent", _event(actualValue="0", cleared=True)) == {}
    assert (await _events(api))[0]["cleared"] is True


async def test_TC_N_50_CSMS(cs, api) -> None:
    """An event with trigger Periodic."""
    assert await cs.call("NotifyEvent", _event(trigger="Periodic", actualValue="42")) == {}
    assert (await _events(api))[0]["trigger"] == "Periodic"


async def test_TC_N_60_CSMS(monitoring_answers, cs, api) -> None:
    """N02.FR.05: criteria and a list of components and variables."""
    body = {"criteria": ["DeltaMonitoring"], "component_variables": [CS_AVAILABILITY, EVSE_1]}
    _, request = await _report(cs, api, monitoring_answers, "EmptyResultSet", body)
    assert [c["component"]["name"] for c in request["componentVariable"]] == [
        "ChargingStation",
        "EVSE",
    ]
    body["criteria"] = ["ThresholdMonitoring"]
    report, request = await _report(cs, api, monitoring_answers, "Accepted", body)
    assert request["monitoringCriteria"] == ["ThresholdMonitoring"]
    await _notify(
        cs,
        report["request_id"],
        [
            _monitor({"name": "ChargingStation"}, "AvailabilityState", 1),
            _monitor({"name": "EVSE", "evse": {"id": 1}}, "AvailabilityState", 2),
        ],
    )
    assert (await _complete(api, report))["monitors"] == 2
