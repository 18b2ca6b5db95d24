"""What a simulated car draws within the limit in force: the charging
loop of a session, and how a new charging profile reaches the car (as it is
accepted, before the station answers). `profiles.py` says what the limit is;
`station.py` runs the session around this."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from volta.simulator.ev import Car
from volta.simulator.profiles import offer

if TYPE_CHECKING:
    from volta.simulator.station import Connector, SimulatedStation


async def wait_any(seconds: float, *events: asyncio.Event) -> None:
    """Wait at most `seconds` for any of `events`."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def charge(st: SimulatedStation, connector: Connector, car: Car, valid_s: float) -> None:
    """Charge until the session ends, within the limit in force: a new
    profile changes the draw as it is accepted (`limits_changed`), the
    next period of a schedule when it starts, and a MeterValues tells the
    CSMS right away what the car draws now."""
    sc = st.scenario
    duration = st.rng.uniform(*sc.session_seconds)
    started = time.monotonic()
    next_sample = started + sc.meter_interval
    reported = car.current_a()
    reason = "Local"
    while True:
        now = time.monotonic()
        remaining = duration - (now - started)
        if remaining <= 0:
            reason = "Local"
            break
        wait = min(next_sample - now, remaining, valid_s)
        await wait_any(max(0.0, wait), connector.stop_requested, connector.limit_changed)
        accrue(st, connector, car)
        if connector.stop_requested.is_set():
            reason = connector.stop_reason
            break
        told = connector.limit_changed.is_set()
        connector.limit_changed.clear()
        valid_s = apply_limit(st, connector, car)
        state = "SuspendedEVSE" if car.suspended else "Charging"
        if connector.status != state:
            await st.status(connector, state)
        now = time.monotonic()
        if now >= next_sample or (told and car.current_a() != reported):
            next_sample = now + sc.meter_interval
            reported = car.current_a()
            await st.dialect.meter(st, connector, car, "Sample.Periodic", rate_changed=told)
    await st.dialect.stop(st, connector, car, reason)


def accrue(st: SimulatedStation, connector: Connector, car: Car) -> None:
    """Energy up to now, at the draw in force since the last accrual."""
    now = time.monotonic()
    energy = car.charge(max(0.0, now - connector.metered_at))
    connector.metered_at = now
    connector.register_wh += energy
    st.stats.energy_wh += energy


def apply_limit(st: SimulatedStation, connector: Connector, car: Car) -> float:
    """Offer the car the limit in force (never above it, on the phases
    it allows); seconds until a schedule may change it."""
    o = offer(st, connector, car.phases)
    car.offered_a = o.amps
    car.phases = min(car.phases, o.phases)
    return o.valid_s


def limits_changed(st: SimulatedStation, evse_ids: set[int]) -> None:
    """Profiles changed on `evse_ids` (0: every EVSE). The cars adapt
    before the station answers, as a charger applies a limit it accepts
    (so a CSMS that lowers one EVSE, waits for Accepted, then raises
    another never sees both high); the charging loop then reports it."""
    for c in st.connectors:
        if 0 in evse_ids or c.id in evse_ids:
            if c.car is not None and c.transaction_id is not None:
                accrue(st, c, c.car)
                apply_limit(st, c, c.car)
            c.limit_changed.set()
