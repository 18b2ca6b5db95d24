"""The simulated station's monitors without a network: what fires when
(thresholds and their clearing, numeric and text deltas, periodic and
clock-aligned, the monitoring level and base), and its answers per item."""

from __future__ import annotations

from volta.ocpp.schemas import registry
from volta.ocpp.versions import Version
from volta.simulator import monitoring
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation


def station() -> SimulatedStation:
    return SimulatedStation(
        "SIM-UNIT", Version.V201, Scenario(protocol="2.0.1", stations=1, connectors=2)
    )


def custom(st: SimulatedStation, **d: object) -> dict[str, object]:
    answer = monitoring.set_variable_monitoring(st, {"setMonitoringData": [d]})
    registry().validate(Version.V201, "SetVariableMonitoring", answer, response=True)
    return answer["setMonitoringResult"][0]  # type: ignore[no-any-return]


TEMPERATURE = {"component": {"name": "TemperatureSensor"}, "variable": {"name": "Temperature"}}


def test_threshold_fires_once_and_clears():
    st = station()
    state = monitoring.state(st)
    hot = custom(st, type="UpperThreshold", value=40, severity=2, **TEMPERATURE)
    assert hot["status"] == "Accepted"
    state.temperature = 41.0
    fired = monitoring.fired(st, 1000.0)
    assert [(e["variableMonitoringId"], e["trigger"]) for e in fired] == [(hot["id"], "Alerting")]
    assert monitoring.fired(st, 1001.0) == []  # still above: nothing new
    state.temperature = 30.0
    (cleared,) = monitoring.fired(st, 1002.0)
    assert cleared["cleared"] is True and cleared["actualValue"] == "30.0"
    # The preconfigured 45 °C monitor did not fire at 41 °C.
    state.temperature = 50.0
    kinds = {e["eventNotificationType"] for e in monitoring.fired(st, 1003.0)}
    assert kinds == {"CustomMonitor", "PreconfiguredMonitor"}


def test_delta_periodic_level_and_base():
    st = station()
    state = monitoring.state(st)
    delta = custom(st, type="Delta", value=5, severity=6, **TEMPERATURE)
    periodic = custom(
        st, type="Periodic", value=10, severity=8,
        component={"name": "EVSE", "evse": {"id": 2}}, variable={"name": "Power"},
    )  # fmt: skip
    assert monitoring.fired(st, 100.0) == []  # first sample: the baseline
    state.temperature += 4.9
    assert monitoring.fired(st, 105.0) == []
    state.temperature += 0.2
    (moved,) = monitoring.fired(st, 106.0)
    assert (moved["variableMonitoringId"], moved["trigger"]) == (delta["id"], "Delta")
    (tick,) = monitoring.fired(st, 110.5)
    assert (tick["variableMonitoringId"], tick["trigger"]) == (periodic["id"], "Periodic")
    assert tick["component"] == {"name": "EVSE", "evse": {"id": 2}}
    # Status change: the hard-wired connector monitor (severity 7).
    st.connectors[0].status = "Faulted"
    (fault,) = monitoring.fired(st, 111.0)
    assert fault["eventNotificationType"] == "HardWiredMonitor"
    assert fault["component"] == {"name": "Connector", "evse": {"id": 1, "connectorId": 1}}
    # N05: level 6 leaves severity 7 and 8 out.
    assert monitoring.set_monitoring_level(st, {"severity": 6}) == {"status": "Accepted"}
    assert monitoring.set_monitoring_level(st, {"severity": 10}) == {"status": "Rejected"}
    st.connectors[0].status = "Available"
    assert monitoring.fired(st, 125.0) == []
    # HardWiredOnly: custom monitors gone, preconfigured off, hard-wired kept.
    monitoring.set_monitoring_base(st, {"monitoringBase": "HardWiredOnly"})
    assert {m.kind for m in state.monitors.values()} == {"HardWiredMonitor", "PreconfiguredMonitor"}
    report = monitoring.get_monitoring_report(st, {"requestId": 1})
    assert report == {"status": "Accepted"}
    assert {m.kind for m in monitoring._reported(st, {"requestId": 1})} == {"HardWiredMonitor"}


def test_answers_per_item():
    st = station()
    assert custom(st, type="Delta", value=1, severity=1, component={"name": "Lamp"},
                  variable={"name": "On"})["status"] == "UnknownComponent"  # fmt: skip
    assert custom(st, type="Delta", value=1, severity=1, component={"name": "TemperatureSensor"},
                  variable={"name": "Humidity"})["status"] == "UnknownVariable"  # fmt: skip
    threshold = custom(st, type="UpperThreshold", value=1, severity=1,
                       component={"name": "ChargingStation"},
                       variable={"name": "AvailabilityState"})  # fmt: skip
    assert threshold["status"] == "UnsupportedMonitorType"
    first = custom(st, type="Delta", value=1, severity=3, **TEMPERATURE)
    assert custom(st, type="Delta", value=2, severity=3, **TEMPERATURE)["status"] == "Duplicate"
    replaced = custom(st, id=first["id"], type="Delta", value=2, severity=3, **TEMPERATURE)
    assert (replaced["status"], replaced["id"]) == ("Accepted", first["id"])
    hard_wired = next(
        m.id for m in monitoring.state(st).monitors.values() if m.kind == "HardWiredMonitor"
    )
    cleared = monitoring.clear_variable_monitoring(st, {"id": [first["id"], hard_wired, 999]})
    assert [r["status"] for r in cleared["clearMonitoringResult"]] == [
        "Accepted",
        "Rejected",
        "NotFound",
    ]
