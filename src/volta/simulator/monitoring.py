"""Monitoring in a simulated station: variable monitors kept and NotifyEvent
sent when a monitored value crosses them.

A 2.0.1 station has a few monitorable variables: each connector's and EVSE's
AvailabilityState (from its status), the station's AvailabilityState, a
TemperatureSensor.Temperature that drifts (and now and then spikes), each
EVSE's Power, and ChargingStation / FiscalMetering Problem. It comes with a
hard-wired Delta monitor on each connector's AvailabilityState and a
preconfigured temperature threshold, so `make run` shows events at once;
SetVariableMonitoring adds custom ones. `watch()` (started by the station's
life, station.py) samples every TICK seconds and sends what fired in one
NotifyEvent, honouring the monitoring level (N05) and base (N03).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import math
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from volta.simulator.dialect import AnswerTable, Payload

if TYPE_CHECKING:
    from volta.simulator.station import SimulatedStation

log = logging.getLogger(__name__)

# Answers of a 1.6 and of a 2.0.1 station (v16.py / v201.py include them).
v16 = AnswerTable()
v201 = AnswerTable()

TICK = 1.0
REPORT_PART = 10  # monitors per NotifyMonitoringReport
EVENTS_PER_MESSAGE = 50
MAX_CUSTOM = 200  # monitors a station takes (more: Rejected)
THRESHOLDS = ("UpperThreshold", "LowerThreshold")
PERIODIC = ("Periodic", "PeriodicClockAligned")
NUMERIC = frozenset({"Temperature", "Power"})
_CONNECTOR_STATUS = {"Preparing": "Occupied", "Charging": "Occupied", "SuspendedEV": "Occupied",
                     "SuspendedEVSE": "Occupied", "Finishing": "Occupied"}  # fmt: skip

# (component, evse id, connector id, variable)
Key = tuple[str, int | None, int | None, str]


@dataclass
class Monitor:
    id: int
    key: Key
    type: str
    value: float
    severity: int
    transaction: bool = False
    kind: str = "CustomMonitor"  # HardWiredMonitor, PreconfiguredMonitor, CustomMonitor
    # What it last saw: the value a Delta compares with, whether a threshold
    # is exceeded now, when a periodic one last fired.
    seen: str | None = None
    exceeded: bool = False
    fired_at: float = 0.0


@dataclass
class Monitoring:
    monitors: dict[int, Monitor] = field(default_factory=dict)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    base: str = "All"
    level: int = 9
    temperature: float = 35.0
    event_ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))


_states: weakref.WeakKeyDictionary[SimulatedStation, Monitoring] = weakref.WeakKeyDictionary()


def state(st: SimulatedStation) -> Monitoring:
    found = _states.get(st)
    if found is None:
        found = _states[st] = Monitoring()
        for c in st.connectors:
            _add(found, ("Connector", c.id, 1, "AvailabilityState"), "Delta", 1, 7,
                 kind="HardWiredMonitor")  # fmt: skip
        _add(found, ("TemperatureSensor", None, None, "Temperature"), "UpperThreshold", 45, 5,
             kind="PreconfiguredMonitor")  # fmt: skip
    return found


def _add(m: Monitoring, key: Key, type_: str, value: float, severity: int, **kw: Any) -> Monitor:
    monitor = Monitor(next(m.ids), key, type_, value, severity, **kw)
    m.monitors[monitor.id] = monitor
    return monitor


def _custom(m: Monitoring) -> int:
    return sum(1 for x in m.monitors.values() if x.kind == "CustomMonitor")


def _active(m: Monitoring, monitor: Monitor) -> bool:
    # HardWiredOnly: only hard-wired monitors (custom ones were cleared, N03).
    return m.base != "HardWiredOnly" or monitor.kind == "HardWiredMonitor"


# -- what the station has -----------------------------------------------------------


def values(st: SimulatedStation) -> dict[Key, str]:
    m = state(st)
    out: dict[Key, str] = {
        ("ChargingStation", None, None, "AvailabilityState"): (
            "Available" if any(c.available for c in st.connectors) else "Unavailable"
        ),
        ("ChargingStation", None, None, "Problem"): "false",
        ("FiscalMetering", None, None, "Problem"): "false",
        ("TemperatureSensor", None, None, "Temperature"): f"{m.temperature:.1f}",
    }
    for c in st.connectors:
        status = _CONNECTOR_STATUS.get(c.status, c.status)
        out[("Connector", c.id, 1, "AvailabilityState")] = status
        out[("EVSE", c.id, None, "AvailabilityState")] = status
        out[("EVSE", c.id, None, "Power")] = "7400" if c.transaction_id is not None else "0"
    return out


def _key(component: Payload, variable: Payload) -> Key:
    evse = component.get("evse") or {}
    connector = evse.get("connectorId")
    if component["name"] == "Connector" and connector is None and evse.get("id") is not None:
        connector = 1
    return (component["name"], evse.get("id"), connector, variable["name"])


def _component(key: Key) -> Payload:
    out: Payload = {"name": key[0]}
    if key[1] is not None:
        out["evse"] = {"id": key[1]} | ({"connectorId": key[2]} if key[2] is not None else {})
    return out


# -- answers to the CSMS ----------------------------------------------------------------


@v201.on("SetVariableMonitoring")
def set_variable_monitoring(st: SimulatedStation, p: Payload) -> Payload:
    """N04: one result per element, in order, with the id given (N04.FR.01/02)."""
    m = state(st)
    have = values(st)
    components = {k[0] for k in have}
    results = []
    for d in p["setMonitoringData"]:
        key = _key(d["component"], d["variable"])
        result: Payload = {
            "type": d["type"],
            "severity": d["severity"],
            "component": d["component"],
            "variable": d["variable"],
        }
        replaced = m.monitors.get(d["id"]) if "id" in d else None
        duplicate = any(
            x.key == key and x.type == d["type"] and x.severity == d["severity"]
            for x in m.monitors.values()
            if x is not replaced
        )
        if key[0] not in components:
            result["status"] = "UnknownComponent"
        elif key not in have:
            result["status"] = "UnknownVariable"
        elif d["type"] != "Delta" and key[3] not in NUMERIC:
            result["status"] = "UnsupportedMonitorType"
        elif "id" in d and (replaced is None or replaced.kind == "HardWiredMonitor"):
            result["status"] = "Rejected"
        elif duplicate:
            result["status"] = "Duplicate"
        elif replaced is None and _custom(m) >= MAX_CUSTOM:
            result["status"] = "Rejected"
        else:
            monitor = Monitor(
                replaced.id if replaced else next(m.ids),
                key,
                d["type"],
                float(d["value"]),
                int(d["severity"]),
                bool(d.get("transaction", False)),
                kind=replaced.kind if replaced else "CustomMonitor",
            )
            m.monitors[monitor.id] = monitor
            result["status"] = "Accepted"
            result["id"] = monitor.id
        results.append(result)
    return {"setMonitoringResult": results}


@v201.on("ClearVariableMonitoring")
def clear_variable_monitoring(st: SimulatedStation, p: Payload) -> Payload:
    """N06: hard-wired monitors cannot be cleared."""
    m = state(st)
    results = []
    for i in p["id"]:
        monitor = m.monitors.get(i)
        if monitor is None:
            status = "NotFound"
        elif monitor.kind == "HardWiredMonitor":
            status = "Rejected"
        else:
            del m.monitors[i]
            status = "Accepted"
        results.append({"status": status, "id": i})
    return {"clearMonitoringResult": results}


@v201.on("SetMonitoringBase")
def set_monitoring_base(st: SimulatedStation, p: Payload) -> Payload:
    m = state(st)
    m.base = p["monitoringBase"]
    if m.base == "HardWiredOnly":
        for i in [i for i, x in m.monitors.items() if x.kind == "CustomMonitor"]:
            del m.monitors[i]
    return {"status": "Accepted"}


@v201.on("SetMonitoringLevel")
def set_monitoring_level(st: SimulatedStation, p: Payload) -> Payload:
    severity = p["severity"]
    if not 0 <= severity <= 9:
        return {"status": "Rejected"}  # N05.FR.02
    state(st).level = severity
    return {"status": "Accepted"}


def _reported(st: SimulatedStation, p: Payload) -> list[Monitor]:
    m = state(st)
    criteria = set(p.get("monitoringCriteria") or [])
    types = set()
    if "ThresholdMonitoring" in criteria:
        types |= set(THRESHOLDS)
    if "DeltaMonitoring" in criteria:
        types.add("Delta")
    if "PeriodicMonitoring" in criteria:
        types |= set(PERIODIC)
    wanted = [
        _key(cv["component"], cv.get("variable") or {"name": ""})
        for cv in p.get("componentVariable") or []
    ]

    def matches(monitor: Monitor) -> bool:
        if types and monitor.type not in types:
            return False
        if not wanted:
            return True
        return any(
            w[0] == monitor.key[0]
            and (w[1] is None or w[1] == monitor.key[1])
            and (not w[3] or w[3] == monitor.key[3])
            for w in wanted
        )

    return [x for x in m.monitors.values() if _active(m, x) and matches(x)]


@v201.on("GetMonitoringReport")
def get_monitoring_report(st: SimulatedStation, p: Payload) -> Payload:
    return {"status": "Accepted" if _reported(st, p) else "EmptyResultSet"}


@v201.after("GetMonitoringReport")
async def send_monitoring_report(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """N02: the monitors in NotifyMonitoringReport parts (tbc until the last)."""
    if answer["status"] != "Accepted":
        return
    found = _reported(st, p)
    parts = [found[i : i + REPORT_PART] for i in range(0, len(found), REPORT_PART)]
    for seq, part in enumerate(parts):
        monitor = [
            {
                "component": _component(x.key),
                "variable": {"name": x.key[3]},
                "variableMonitoring": [
                    {
                        "id": x.id,
                        "transaction": x.transaction,
                        "value": x.value,
                        "type": x.type,
                        "severity": x.severity,
                    }
                ],
            }
            for x in part
        ]
        await st.call(
            "NotifyMonitoringReport",
            {
                "requestId": p["requestId"],
                "seqNo": seq,
                "tbc": seq < len(parts) - 1,
                "generatedAt": st.now(),
                "monitor": monitor,
            },
        )


# -- events ---------------------------------------------------------------------------


def _drift(st: SimulatedStation, m: Monitoring) -> None:
    """The temperature wanders around 35 °C; now and then it spikes."""
    if st.rng.random() < 0.002:
        m.temperature += st.rng.uniform(10, 20)
    m.temperature += (35.0 - m.temperature) * 0.02 + st.rng.gauss(0, 0.3)


def fired(st: SimulatedStation, now: float) -> list[Payload]:
    """The eventData of every monitor that fires now (and updates what they saw)."""
    m = state(st)
    have = values(st)
    charging = any(c.transaction_id is not None for c in st.connectors)
    out = []
    for monitor in m.monitors.values():
        actual = have.get(monitor.key)
        if actual is None or not _active(m, monitor) or monitor.severity > m.level:
            continue
        if monitor.transaction and not charging:
            continue
        trigger, cleared = None, False
        if monitor.type == "Delta":
            if monitor.seen is None:
                monitor.seen = actual
            elif monitor.key[3] in NUMERIC:
                if abs(float(actual) - float(monitor.seen)) >= monitor.value:
                    trigger, monitor.seen = "Delta", actual
            elif actual != monitor.seen:
                trigger, monitor.seen = "Delta", actual
        elif monitor.type in THRESHOLDS:
            number = float(actual)
            beyond = (
                number > monitor.value
                if monitor.type == "UpperThreshold"
                else number < monitor.value
            )
            if beyond != monitor.exceeded:
                monitor.exceeded = beyond
                trigger, cleared = "Alerting", not beyond
        else:
            interval = max(1.0, monitor.value)
            if monitor.type == "PeriodicClockAligned":
                due = math.floor(now / interval) > math.floor(monitor.fired_at / interval)
            else:
                due = now - monitor.fired_at >= interval
            if due and monitor.fired_at:
                trigger = "Periodic"
            if due or not monitor.fired_at:
                monitor.fired_at = now
        if trigger is None:
            continue
        data: Payload = {
            "eventId": next(m.event_ids),
            "timestamp": st.now(),
            "trigger": trigger,
            "actualValue": actual,
            "component": _component(monitor.key),
            "variable": {"name": monitor.key[3]},
            "variableMonitoringId": monitor.id,
            "eventNotificationType": monitor.kind,
        }
        if cleared:
            data["cleared"] = True
        if monitor.key[1] is not None:
            tx = next((c.transaction_id for c in st.connectors if c.id == monitor.key[1]), None)
            if tx is not None:
                data["transactionId"] = tx
        out.append(data)
    return out


async def watch(st: SimulatedStation) -> None:
    """Sample the monitored values every TICK seconds while connected; what
    fired goes out in NotifyEvent (N07 alerts, N08 periodic)."""
    if not st.version.modern:
        return
    m = state(st)
    while True:
        _drift(st, m)
        data = fired(st, dt.datetime.now(dt.UTC).timestamp())
        for seq, i in enumerate(range(0, len(data), EVENTS_PER_MESSAGE)):
            part = data[i : i + EVENTS_PER_MESSAGE]
            # A series of messages (tbc) numbers its parts from 0.
            payload: Payload = {"generatedAt": st.now(), "seqNo": seq, "eventData": part}
            if i + EVENTS_PER_MESSAGE < len(data):
                payload["tbc"] = True
            try:
                await st.call("NotifyEvent", payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Not answered: the events are dropped, the station goes on
                # (a lost connection cancels this task anyway).
                log.info("%s: NotifyEvent not answered (%s)", st.id, exc)
        await asyncio.sleep(TICK)
