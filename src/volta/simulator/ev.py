"""A plausible electric vehicle on a connector: energy, power, current,
voltage and state of charge as a session goes on, within what the EVSE
offers it (the limit of the charging profiles in force)."""

from __future__ import annotations

import random
from dataclasses import dataclass

NOMINAL_V = 230.0


@dataclass
class Car:
    capacity_wh: float
    soc: float  # percent
    target_soc: float
    max_power_w: float
    phases: int = 3  # 1 or 3: what the car's on-board charger uses
    max_current_a: float = 32.0  # per phase: the car's own, capped by the EVSE's rating
    # IEC 61851-1: below 6 A a car cannot charge; the EVSE pauses it instead.
    min_current_a: float = 6.0
    offered_a: float | None = None  # per phase, what the EVSE offers; None: its rating

    @classmethod
    def arrive(
        cls,
        rng: random.Random,
        power_kw: tuple[float, float],
        *,
        max_current: float = 32.0,
        one_phase_share: float = 0.0,
    ) -> Car:
        """A car of the mix: power in `power_kw`; 1-phase when its power is at
        most 7.4 kW or, with `one_phase_share` odds, a 1-phase car of any
        power (whose current the EVSE's `max_current` then caps)."""
        capacity = rng.choice((40_000.0, 58_000.0, 77_000.0, 100_000.0))
        soc = rng.uniform(10.0, 60.0)
        target = rng.choice((80.0, 90.0, 100.0))
        power = rng.uniform(*power_kw) * 1000.0
        phases = 1 if power <= 7_400 or rng.random() < one_phase_share else 3
        current = min(max_current, power / (NOMINAL_V * phases))
        return cls(capacity, soc, target, power, phases, current)

    def wanted_a(self) -> float:
        """The current per phase the battery asks for: its maximum, tapering
        linearly above 80 % as real batteries do."""
        if self.soc >= self.target_soc:
            return 0.0
        top = min(self.max_current_a, self.max_power_w / (NOMINAL_V * self.phases))
        if self.soc <= 80.0:
            return top
        return top * max(0.05, (100.0 - self.soc) / 20.0)

    def current_a(self) -> float:
        """What the car draws per phase: what it wants within the offer; 0
        when the offer is below its minimum (suspended by the EVSE)."""
        wanted = self.wanted_a()
        if self.offered_a is None:
            return wanted
        if self.offered_a < self.min_current_a:
            return 0.0
        return min(wanted, self.offered_a)

    @property
    def suspended(self) -> bool:
        """Paused by the EVSE (SuspendedEVSE): it wants, it may not."""
        return self.wanted_a() > 0 and self.current_a() == 0.0

    def power_w(self) -> float:
        return self.current_a() * NOMINAL_V * self.phases

    def charge(self, seconds: float) -> float:
        """Charge for `seconds` at the present draw; the energy in Wh."""
        energy = self.power_w() * seconds / 3600.0
        energy = min(energy, (self.target_soc - self.soc) / 100.0 * self.capacity_wh)
        energy = max(energy, 0.0)
        self.soc = min(100.0, self.soc + energy / self.capacity_wh * 100.0)
        return energy

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 0.01


def electrical(car: Car, rng: random.Random) -> tuple[float, float, float]:
    """Voltage, current per phase and power as a meter reads them: the
    current is the car's draw (never above the offer), the power follows
    from it and the measured voltage."""
    voltage = rng.gauss(NOMINAL_V, 1.5)
    current = car.current_a()
    return voltage, current, current * voltage * car.phases
