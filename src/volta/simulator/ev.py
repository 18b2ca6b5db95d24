"""A plausible electric vehicle on a connector: energy, power, current,
voltage and state of charge as a session goes on."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Car:
    capacity_wh: float
    soc: float  # percent
    target_soc: float
    max_power_w: float

    @classmethod
    def arrive(cls, rng: random.Random, power_kw: tuple[float, float]) -> Car:
        return cls(
            capacity_wh=rng.choice((40_000.0, 58_000.0, 77_000.0, 100_000.0)),
            soc=rng.uniform(10.0, 60.0),
            target_soc=rng.choice((80.0, 90.0, 100.0)),
            max_power_w=rng.uniform(*power_kw) * 1000.0,
        )

    def power_w(self) -> float:
        """Constant power, tapering linearly above 80 % as real batteries do."""
        if self.soc >= self.target_soc:
            return 0.0
        if self.soc <= 80.0:
            return self.max_power_w
        return self.max_power_w * max(0.05, (100.0 - self.soc) / 20.0)

    def charge(self, seconds: float) -> float:
        """Charge for `seconds`; returns the energy delivered in Wh."""
        energy = self.power_w() * seconds / 3600.0
        energy = min(energy, (self.target_soc - self.soc) / 100.0 * self.capacity_wh)
        energy = max(energy, 0.0)
        self.soc = min(100.0, self.soc + energy / self.capacity_wh * 100.0)
        return energy

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 0.01


def electrical(power_w: float, rng: random.Random) -> tuple[float, float]:
    """Voltage and per-phase current for a power (three phases above 7.4 kW)."""
    voltage = rng.gauss(230.0, 1.5)
    phases = 3 if power_w > 7_400 else 1
    return voltage, power_w / (voltage * phases) if power_w else 0.0
