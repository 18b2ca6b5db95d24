"""Run many simulated stations: `volta simulate`, and the demo in `volta serve --demo`."""

from __future__ import annotations

import asyncio
import logging
import random

from volta.ocpp.versions import Version
from volta.simulator.scenario import Scenario
from volta.simulator.station import SimulatedStation, wait_set

log = logging.getLogger(__name__)


def build_fleet(scenario: Scenario) -> list[SimulatedStation]:
    seed = scenario.seed or random.SystemRandom().randrange(1 << 30)
    cards, connectors = len(scenario.cards()), scenario.stations * scenario.connectors
    if 0 < cards < connectors:
        log.warning(
            "%d driver card(s) for %d connectors: at most %d session(s) at a time "
            "(a card charges one car at a time); leave --token out for one card per connector",
            cards,
            connectors,
            cards,
        )
    cards_in_use: set[str] = set()
    return [
        SimulatedStation(
            station_id,
            Version(scenario.protocol_of(i)),
            scenario,
            rng=random.Random(seed + i),
            cards_in_use=cards_in_use,
        )
        for i, station_id in enumerate(scenario.station_ids())
    ]


async def run_fleet(
    stations: list[SimulatedStation],
    stop: asyncio.Event,
    *,
    report_every: float = 0.0,
    duration: float = 0.0,
) -> None:
    """Run until `stop` is set (or `duration` seconds passed), staggering the
    first connections so a fleet does not arrive in one burst."""

    async def one(station: SimulatedStation, delay: float) -> None:
        await wait_set(stop, delay)
        if not stop.is_set():
            await station.run(stop)

    spread = min(5.0, 0.01 * len(stations))
    tasks = [
        asyncio.create_task(one(s, spread * i / max(1, len(stations))))
        for i, s in enumerate(stations)
    ]
    reporter = asyncio.create_task(_report(stations, report_every)) if report_every else None
    try:
        if duration:
            await wait_set(stop, duration)
            stop.set()
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        if reporter is not None:
            reporter.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def summary(stations: list[SimulatedStation]) -> str:
    online = sum(1 for s in stations if s.accepted.is_set())
    calls = sum(s.stats.calls for s in stations)
    errors = sum(s.stats.errors for s in stations)
    sessions = sum(s.stats.sessions for s in stations)
    charging = sum(1 for s in stations for c in s.connectors if c.transaction_id)
    energy = sum(s.stats.energy_wh for s in stations) / 1000.0
    commands = sum(s.stats.commands for s in stations)
    return (
        f"{online}/{len(stations)} stations accepted, {charging} charging, "
        f"{sessions} sessions done, {energy:.1f} kWh, {calls} calls ({errors} failed), "
        f"{commands} commands answered"
    )


async def _report(stations: list[SimulatedStation], every: float) -> None:
    while True:
        await asyncio.sleep(every)
        print(summary(stations), flush=True)
