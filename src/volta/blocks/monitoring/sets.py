"""Monitor sets: a few named, sensible sets of monitors an operator applies
to chosen stations or to every 2.0.1 station, each station's answers kept
on its monitors (`variable_monitors.set_name`).

The components and variables are the standardized ones of OCPP 2.0.1
Part 2, Appendices ("Standardized Components" / "Standardized Variables").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.monitoring import service
from volta.blocks.monitoring.service import MonitorSpec, Target
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.versions import MODERN
from volta.services import Services
from volta.store.models import Station

# Connectors of a station as (evse_id, connector_id), EVSE 0 left out.
Connectors = Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class MonitorSet:
    name: str
    title: str
    description: str
    monitors: Callable[[Connectors], list[MonitorSpec]]


def _connector_faults(connectors: Connectors) -> list[MonitorSpec]:
    # N04.FR.17: a Delta monitor of a non-numeric variable has value 1.
    return [
        MonitorSpec(
            Target("Connector", "AvailabilityState", evse_id=e, connector_id=c), "Delta", 1, 4
        )
        for e, c in connectors
    ]


def _over_temperature(connectors: Connectors) -> list[MonitorSpec]:
    return [MonitorSpec(Target("TemperatureSensor", "Temperature"), "UpperThreshold", 80, 2)]


def _power_meter(connectors: Connectors) -> list[MonitorSpec]:
    return [MonitorSpec(Target("FiscalMetering", "Problem"), "Delta", 1, 3)]


def _station_problems(connectors: Connectors) -> list[MonitorSpec]:
    return [
        MonitorSpec(Target("ChargingStation", "Problem"), "Delta", 1, 3),
        MonitorSpec(Target("ChargingStation", "AvailabilityState"), "Delta", 1, 5),
    ]


def _hourly_power(connectors: Connectors) -> list[MonitorSpec]:
    evses = sorted({e for e, _ in connectors})
    return [
        MonitorSpec(Target("EVSE", "Power", evse_id=e), "PeriodicClockAligned", 3600, 8)
        for e in evses
    ]


SETS: dict[str, MonitorSet] = {
    s.name: s
    for s in (
        MonitorSet(
            "connector-faults",
            "Connector faults",
            "every change of each connector's AvailabilityState (Faulted, Unavailable, ...), "
            "severity 4 (Error)",
            _connector_faults,
        ),
        MonitorSet(
            "over-temperature",
            "Over temperature",
            "TemperatureSensor.Temperature above 80 °C, severity 2 (System Failure)",
            _over_temperature,
        ),
        MonitorSet(
            "offline-power-meter",
            "Offline power meter",
            "a problem of the fiscal meter (FiscalMetering.Problem changes), severity 3 "
            "(Critical): no billing without it",
            _power_meter,
        ),
        MonitorSet(
            "station-problems",
            "Station problems",
            "ChargingStation.Problem changes (severity 3) and the station's "
            "AvailabilityState changes (severity 5)",
            _station_problems,
        ),
        MonitorSet(
            "hourly-power",
            "Hourly power",
            "each EVSE's Power on the hour (PeriodicClockAligned 3600 s), severity 8 "
            "(Informational)",
            _hourly_power,
        ),
    )
}

# Stations asked at once when a set is applied to a fleet.
CONCURRENCY = 8
MAX_STATIONS = 10_000


class UnknownSet(LookupError):
    pass


def describe(monitor_set: MonitorSet) -> dict[str, Any]:
    return {
        "name": monitor_set.name,
        "title": monitor_set.title,
        "description": monitor_set.description,
        "monitors": [service.monitoring_data(m) for m in monitor_set.monitors([(1, 1)])],
    }


async def _connectors(services: Services, station_id: str) -> list[tuple[int, int]]:
    found = await provisioning.connectors_of(services.db, [station_id])
    pairs = sorted(
        {(c["evse_id"], c["connector_id"]) for c in found.get(station_id, []) if c["evse_id"]}
    )
    return pairs or [(1, 1)]


async def v201_stations(services: Services) -> list[str]:
    """Every station whose last protocol is 2.0.1 or 2.1."""
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(Station.id)
            .where(Station.protocol.in_(MODERN))
            .order_by(Station.id)
            .limit(MAX_STATIONS)
        )
        return [r[0] for r in rows]


async def apply(
    services: Services, name: str, station_ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Set the monitors of set `name` on `station_ids` (None: every 2.0.1
    station). Per station: `applied` with its monitors as stored (each with
    the station's answer), or `skipped` with the reason (not connected, not
    2.0.1, unknown)."""
    monitor_set = SETS.get(name)
    if monitor_set is None:
        raise UnknownSet(f"no monitor set {name!r}; there are {', '.join(SETS)}")
    targets = list(dict.fromkeys(station_ids)) if station_ids is not None else None
    if targets is None:
        targets = await v201_stations(services)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(station_id: str) -> dict[str, Any]:
        async with gate:
            try:
                specs = monitor_set.monitors(await _connectors(services, station_id))
                monitors = await service.set_monitors(
                    services, station_id, specs, set_name=monitor_set.name
                )
            except (service.StationNotFound, service.NotConnected) as exc:
                return {"station_id": station_id, "result": "skipped", "detail": str(exc)}
            accepted = sum(1 for m in monitors if m["status"] == "Accepted")
            return {
                "station_id": station_id,
                "result": "applied",
                "detail": f"{accepted} of {len(monitors)} accepted",
                "monitors": monitors,
            }

    return list(await asyncio.gather(*(one(s) for s in targets)))
