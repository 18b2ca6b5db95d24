"""The charging profiles a simulated station holds, in either version: what
it accepts, clears and reports, the composite schedule it answers, and the
current it offers the car (1.6 Smart Charging §3.13, §5.5, §5.7, §5.16;
2.0.1 K01, K08-K10). `v16.py` / `v201.py` read their version's wire shape
and call these; the merging itself is `volta.ocpp.composite`, the same code
the CSMS uses, so a simulated station follows the specification's rules.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from volta.ocpp.charging import STATION_MAX, TX, Period, Profile, Schedule
from volta.ocpp.composite import composite_schedule

if TYPE_CHECKING:
    from volta.simulator.station import Connector, SimulatedStation

NOMINAL_V = 230.0


@dataclass
class ProfileStore:
    """(evse_id, profile) pairs, evse 0 the whole station, oldest first."""

    items: list[tuple[int, Profile]] = field(default_factory=list)

    def install(self, st: SimulatedStation, evse_id: int, profile: Profile) -> str:
        """Accepted or Rejected, as a charger decides (the replace rule:
        K01.FR.05 / 1.6 §3.13.2, the same id or the same EVSE, purpose and
        stack level is replaced)."""
        if evse_id != 0 and st.connector(evse_id) is None:
            return "Rejected"
        if profile.purpose == STATION_MAX and evse_id != 0:
            # 1.6 §3.13.1 / 2.0.1 K01.FR.03: only on the whole station.
            return "Rejected"
        if profile.kind == "Recurring" and profile.recurrency is None:
            return "Rejected"
        if profile.purpose == TX:
            # 1.6 §5.16 / 2.0.1 K01.FR.09: a TxProfile needs a running
            # transaction on its EVSE (and, when it names one, that one).
            c = st.connector(evse_id)
            if c is None or c.transaction_id is None:
                return "Rejected"
            if profile.transaction_id not in (None, c.transaction_id):
                return "Rejected"
        self.items = [
            (e, p)
            for e, p in self.items
            if p.id != profile.id
            and (e, p.purpose, p.stack_level) != (evse_id, profile.purpose, profile.stack_level)
        ]
        self.items.append((evse_id, profile))
        return "Accepted"

    def clear(
        self,
        profile_id: int | None,
        evse_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> tuple[str, set[int]]:
        """Accepted and the EVSEs touched, or Unknown when nothing matched
        (1.6 §5.5; 2.0.1 K10: an id, when given, is the only criterion)."""

        def matches(e: int, p: Profile) -> bool:
            if profile_id is not None:
                return p.id == profile_id
            return (
                (evse_id is None or e == evse_id)
                and (purpose is None or p.purpose == purpose)
                and (stack_level is None or p.stack_level == stack_level)
            )

        gone = {e for e, p in self.items if matches(e, p)}
        if not gone:
            return "Unknown", set()
        self.items = [(e, p) for e, p in self.items if not matches(e, p)]
        return "Accepted", gone

    def transaction_ended(self, evse_id: int) -> None:
        """A TxProfile lives as long as its transaction (1.6 §3.13.1, 2.0.1 K01)."""
        self.items = [(e, p) for e, p in self.items if not (e == evse_id and p.purpose == TX)]

    def report(
        self,
        evse_id: int | None,
        purpose: str | None,
        stack_level: int | None,
        ids: list[int] | None,
    ) -> dict[int, list[Profile]]:
        """2.0.1 K09 GetChargingProfiles: the matching profiles by EVSE."""
        out: dict[int, list[Profile]] = {}
        for e, p in self.items:
            if evse_id is not None and e != evse_id:
                continue
            if ids and p.id not in ids:
                continue
            if purpose is not None and p.purpose != purpose:
                continue
            if stack_level is not None and p.stack_level != stack_level:
                continue
            out.setdefault(e, []).append(p)
        return out


def _rating(st: SimulatedStation, evse_id: int, unit: str, phases: int) -> float:
    """What an EVSE (0: the station) may draw with no profile, in `unit`."""
    amps = st.scenario.max_current * (len(st.connectors) if evse_id == 0 else 1)
    return amps if unit == "A" else amps * NOMINAL_V * phases


def _transaction(c: Connector | None) -> tuple[str | None, dt.datetime | None]:
    if c is None or c.transaction_id is None:
        return None, None
    return c.transaction_id, c.started_at


def composite(
    st: SimulatedStation, evse_id: int, duration_s: int, unit: str | None
) -> Schedule | None:
    """The composite schedule from now (1.6 §5.7, 2.0.1 K08), None for an
    EVSE the station does not have. Stretches no profile limits carry the
    EVSE's rating (`--max-current`)."""
    c = st.connector(evse_id)
    if evse_id != 0 and c is None:
        return None
    tx, started = _transaction(c)
    phases = c.car.phases if c is not None and c.car is not None else 3
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    schedule = composite_schedule(
        st.profiles.items,
        evse_id,
        now,
        duration_s,
        unit=unit,
        transaction_id=tx,
        transaction_start=started,
        voltage_v=NOMINAL_V,
        phases=phases,
    )
    rating = _rating(st, evse_id, schedule.unit, phases)
    periods: list[Period] = []
    for p in schedule.periods:
        capped = Period(p.start_s, min(p.limit, rating), p.phases, p.phase_to_use)
        last = periods[-1] if periods else None
        if last is not None and (last.limit, last.phases, last.phase_to_use) == (
            capped.limit,
            capped.phases,
            capped.phase_to_use,
        ):
            continue  # equal once capped: one period
        periods.append(capped)
    return Schedule(schedule.unit, tuple(periods), start=now, duration_s=duration_s)


def wire_periods(schedule: Schedule, *, v201: bool) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for p in schedule.periods:
        # limit: multipleOf 0.1 in both schemas; rounded down, never above.
        item: dict[str, object] = {
            "startPeriod": p.start_s,
            "limit": math.floor(p.limit * 10) / 10,
        }
        if p.phases is not None:
            item["numberPhases"] = p.phases
        if v201 and p.phase_to_use is not None:
            item["phaseToUse"] = p.phase_to_use
        out.append(item)
    return out


@dataclass(frozen=True, slots=True)
class Offer:
    """What the EVSE offers the car now: amps per phase on `phases`
    phases, and for how long at most before a schedule may change it."""

    amps: float
    phases: int
    valid_s: float


def offer(st: SimulatedStation, c: Connector, car_phases: int) -> Offer:
    """The limit in force on `c` now, in A per phase, capped by the EVSE's
    rating; a W limit is read with the car's phases at 230 V."""
    tx, started = _transaction(c)
    now = dt.datetime.now(dt.UTC)
    # Whole seconds, as schedules and transaction starts are: the periods'
    # starts are then exact and the car changes its draw on time.
    base = now.replace(microsecond=0)
    elapsed = (now - base).total_seconds()
    horizon = max(2, math.ceil(st.scenario.meter_interval) + 1)
    schedule = composite_schedule(
        st.profiles.items,
        c.id,
        base,
        horizon,
        unit="A",
        transaction_id=tx,
        transaction_start=started,
        voltage_v=NOMINAL_V,
        phases=car_phases,
    )
    current = schedule.periods[0]
    valid_s = float(horizon) - elapsed
    for p in schedule.periods[1:]:
        if p.start_s <= elapsed:
            current = p
        else:
            valid_s = p.start_s - elapsed
            break
    amps = min(current.limit, st.scenario.max_current)
    phases = car_phases if current.phases is None else min(car_phases, current.phases)
    return Offer(amps, phases, max(0.01, valid_s))
