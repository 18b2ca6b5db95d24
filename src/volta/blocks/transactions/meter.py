"""Sampled values of both versions, read into one shape with units normalised.

1.6 sends `value` as a string and `unit` from UnitOfMeasure (Wh, kWh, W, kW,
...); 2.0.1 sends a number and `unitOfMeasure {unit, multiplier}` where the
value is `value * 10^multiplier`. Both default to
Energy.Active.Import.Register in Wh.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from volta.ocpp.times import parse_timestamp

log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"

# Prefixed units and their base unit. 1.6 spells the kilo units with a lower
# 'k'; some firmwares send 'KWh' - accept any case for the prefix.
_KILO = {"kwh": "Wh", "kw": "W", "kvarh": "varh", "kvar": "var", "kva": "VA"}
_CANONICAL = {
    "wh": "Wh",
    "w": "W",
    "varh": "varh",
    "var": "var",
    "va": "VA",
    "a": "A",
    "v": "V",
    "k": "K",
    "celsius": "Celsius",
    "celcius": "Celsius",
    "fahrenheit": "Fahrenheit",
    "percent": "Percent",
    "hz": "Hz",
    "asu": "ASU",
    "b": "B",
    "db": "dB",
    "dbm": "dBm",
    "deg": "Deg",
    "lx": "lx",
    "m": "m",
    "ms2": "ms2",
    "n": "N",
    "ohm": "Ohm",
    "kpa": "kPa",
    "rh": "RH",
    "s": "s",
}


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp: dt.datetime
    measurand: str
    value: float
    unit: str | None
    raw_value: str
    raw_unit: str | None
    phase: str | None = None
    context: str | None = None
    location: str | None = None

    @property
    def is_energy_register(self) -> bool:
        # A per-phase register is a part, not the total the session bills.
        return self.measurand == ENERGY_REGISTER and self.phase is None and self.unit == "Wh"


def normalise(value: float, unit: str | None, multiplier: int = 0) -> tuple[float, str | None]:
    value = value * (10**multiplier) if multiplier else value
    if unit is None:
        return value, None
    key = unit.lower()
    if key in _KILO:
        return value * 1000.0, _KILO[key]
    return value, _CANONICAL.get(key, unit)


def _row(
    timestamp: dt.datetime, sv: dict[str, Any], value: float, raw_unit: str | None, multiplier: int
) -> Sample | None:
    if not math.isfinite(value):
        return None
    measurand = sv.get("measurand", ENERGY_REGISTER)
    unit_in = (
        raw_unit if raw_unit is not None else ("Wh" if measurand.startswith("Energy") else None)
    )
    normalised, unit = normalise(value, unit_in, multiplier)
    return Sample(
        timestamp=timestamp,
        measurand=measurand,
        value=normalised,
        unit=unit,
        raw_value=str(sv["value"])[:50],
        raw_unit=raw_unit,
        phase=sv.get("phase"),
        context=sv.get("context"),
        location=sv.get("location"),
    )


def samples_v16(meter_values: list[dict[str, Any]]) -> list[Sample]:
    out = []
    for mv in meter_values:
        ts = parse_timestamp(mv.get("timestamp"))
        if ts is None:
            continue
        for sv in mv.get("sampledValue", []):
            if sv.get("format") == "SignedData":
                continue  # kept in the frame log; not a number
            try:
                value = float(sv["value"])
            except (TypeError, ValueError):
                log.warning("sampled value %r is not a number", sv.get("value"))
                continue
            sample = _row(ts, sv, value, sv.get("unit"), 0)
            if sample is not None:
                out.append(sample)
    return out


def samples_v201(meter_values: list[dict[str, Any]]) -> list[Sample]:
    out = []
    for mv in meter_values:
        ts = parse_timestamp(mv.get("timestamp"))
        if ts is None:
            continue
        for sv in mv.get("sampledValue", []):
            uom = sv.get("unitOfMeasure") or {}
            sample = _row(
                ts, sv, float(sv["value"]), uom.get("unit"), int(uom.get("multiplier", 0))
            )
            if sample is not None:
                out.append(sample)
    return out


def energy_readings(samples: list[Sample]) -> list[Sample]:
    return [s for s in samples if s.is_energy_register]
