"""The cost of a session under a tariff. Pure, no I/O, no floats.

Timeline. A session runs from `start` to `end` (its stop, or "now" while it
is active). Charging time runs from `start` until charging ended; parking
(idle) time from then until `end`. Charging ended:

- while the session is active and the station says it is charging
  (`still_charging`): not yet, charging time runs until `end`;
- otherwise at the first register reading that shows the session's final
  register value, i.e. when energy last flowed as far as the meter values
  show (the same rule for OCPP 1.6 and 2.0.1, auditable from the readings).

Energy. The register readings (Wh) are taken in time order; the energy between
two readings (never negative: a register that goes back is not billed) is
spread evenly over the time between them, so a reading interval that crosses
a period boundary is split in proportion to the time on either side.

Arithmetic is exact (fractions) until an amount is rounded, and every amount
is rounded once: each period line's energy amount and time amount, the idle
amount and the session fee are rounded half-up to the currency's minor unit
(2 digits for EUR, 0 for JPY); the subtotal is the sum of those rounded
amounts; the tax is the subtotal times tax_percent / 100, rounded half-up; the
total is subtotal + tax. So the lines always add up to the total. Quantities
shown (kWh, minutes) are rounded for display only (3 and 4 digits); amounts
are computed from the exact quantities.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from volta.blocks.tariffs.model import Tariff, minor_unit

ROUNDING_RULE = (
    "each period line's energy and time amount, the idle amount and the session fee are "
    "rounded half-up to the currency's minor unit; subtotal = sum of the rounded amounts; "
    "tax = subtotal * tax_percent / 100 rounded half-up; total = subtotal + tax"
)

_US_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True)
class Reading:
    """An energy register reading: `wh` Wh at `timestamp`."""

    timestamp: dt.datetime
    wh: Decimal


@dataclass(frozen=True, slots=True)
class Timeline:
    start: dt.datetime
    end: dt.datetime
    readings: tuple[Reading, ...]
    still_charging: bool = False


@dataclass(frozen=True, slots=True)
class Line:
    """One stretch of the session under one set of prices."""

    period: str
    start: dt.datetime
    end: dt.datetime
    energy_wh: Decimal
    price_kwh: Decimal
    energy_amount: Decimal
    charging_minutes: Decimal
    price_minute: Decimal
    time_amount: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "energy_wh": str(self.energy_wh),
            "price_kwh": str(self.price_kwh),
            "energy_amount": str(self.energy_amount),
            "charging_minutes": str(self.charging_minutes),
            "price_minute": str(self.price_minute),
            "time_amount": str(self.time_amount),
        }


@dataclass(frozen=True, slots=True)
class Breakdown:
    currency: str
    start: dt.datetime
    end: dt.datetime
    charging_end: dt.datetime
    energy_wh: Decimal
    charging_minutes: Decimal
    idle_minutes: Decimal
    billed_idle_minutes: Decimal
    lines: tuple[Line, ...]
    energy_amount: Decimal
    time_amount: Decimal
    idle_amount: Decimal
    session_fee: Decimal
    subtotal: Decimal
    tax_percent: Decimal
    tax: Decimal
    total: Decimal

    @property
    def energy_kwh(self) -> Decimal:
        return self.energy_wh / 1000

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, every amount and quantity a string."""
        return {
            "currency": self.currency,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "charging_end": _iso(self.charging_end),
            "energy_wh": str(self.energy_wh),
            "charging_minutes": str(self.charging_minutes),
            "idle_minutes": str(self.idle_minutes),
            "billed_idle_minutes": str(self.billed_idle_minutes),
            "lines": [line.to_dict() for line in self.lines],
            "energy_amount": str(self.energy_amount),
            "time_amount": str(self.time_amount),
            "idle_amount": str(self.idle_amount),
            "session_fee": str(self.session_fee),
            "subtotal": str(self.subtotal),
            "tax_percent": str(self.tax_percent),
            "tax": str(self.tax),
            "total": str(self.total),
            "rounding": ROUNDING_RULE,
        }


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def round_half_up(value: Fraction | Decimal, digits: int) -> Decimal:
    """`value` rounded half-up (away from zero) to `digits` decimals."""
    exact = value if isinstance(value, Fraction) else Fraction(value)
    # floor(|n/d| * 10^digits + 1/2) in integers (Fraction arithmetic is the
    # cost of a running total otherwise: profiled).
    n, d = exact.numerator * 10**digits, exact.denominator
    units = (2 * abs(n) + d) // (2 * d)
    return Decimal(units if n >= 0 else -units).scaleb(-digits)


def _micros(delta: dt.timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _boundaries(tariff: Tariff, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """`start`, every instant in between where a period may begin or end, `end`."""
    points = {start, end}
    if tariff.periods:
        zone = tariff.zone
        day = start.astimezone(zone).date() - dt.timedelta(days=1)
        last = end.astimezone(zone).date() + dt.timedelta(days=1)
        seconds = {0} | {p.start for p in tariff.periods} | {p.end % 86400 for p in tariff.periods}
        while day <= last:
            midnight = dt.datetime.combine(day, dt.time())
            for second in seconds:
                local = (midnight + dt.timedelta(seconds=second)).replace(tzinfo=zone)
                instant = local.astimezone(dt.UTC)
                if start < instant < end:
                    points.add(instant)
            day += dt.timedelta(days=1)
    return sorted(points)


def _segments(
    tariff: Tariff, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime, int | None]]:
    """[start, end) cut where the prices in force change; adjacent stretches
    under the same period are merged."""
    out: list[tuple[dt.datetime, dt.datetime, int | None]] = []
    points = _boundaries(tariff, start, end)
    for a, b in itertools.pairwise(points):
        index = tariff.period_at(a + (b - a) / 2)
        if out and out[-1][2] == index and out[-1][1] == a:
            out[-1] = (out[-1][0], b, index)
        else:
            out.append((a, b, index))
    if not out:  # a session of no duration: one empty stretch
        out.append((start, end, tariff.period_at(start)))
    return out


def _overlap(a0: dt.datetime, a1: dt.datetime, b0: dt.datetime, b1: dt.datetime) -> int:
    return max(0, _micros(min(a1, b1) - max(a0, b0)))


def charging_end(timeline: Timeline) -> dt.datetime:
    """When charging ended (see the module's docstring)."""
    if timeline.still_charging or not timeline.readings:
        return timeline.end
    final = max(timeline.readings, key=lambda r: r.timestamp).wh
    reached = min(r.timestamp for r in timeline.readings if r.wh >= final)
    return min(max(reached, timeline.start), timeline.end)


def _energy_in(
    readings: Sequence[Reading], segments: Sequence[tuple[dt.datetime, dt.datetime, int | None]]
) -> list[Fraction]:
    """Wh of each segment from the register readings."""
    energy = [Fraction(0)] * len(segments)
    for r0, r1 in itertools.pairwise(readings):
        delta = Fraction(max(r1.wh - r0.wh, Decimal(0)))
        if not delta:
            continue
        span = _micros(r1.timestamp - r0.timestamp)
        if span == 0:
            # A jump at one instant goes to the stretch that instant falls in.
            index = next(
                (i for i, s in enumerate(segments) if s[0] <= r0.timestamp < s[1]),
                len(segments) - 1,
            )
            energy[index] += delta
            continue
        for i, (s0, s1, _) in enumerate(segments):
            part = _overlap(r0.timestamp, r1.timestamp, s0, s1)
            if part:
                energy[i] += delta * Fraction(part, span)
    return energy


def compute(tariff: Tariff, timeline: Timeline) -> Breakdown:
    """The cost of `timeline` under `tariff`; see the module docstring."""
    start, end = timeline.start, max(timeline.end, timeline.start)
    digits = minor_unit(tariff.currency)
    readings = sorted(
        (Reading(min(max(r.timestamp, start), end), r.wh) for r in timeline.readings),
        key=lambda r: r.timestamp,
    )
    stopped_charging = charging_end(Timeline(start, end, tuple(readings), timeline.still_charging))
    segments = _segments(tariff, start, end)
    energy = _energy_in(readings, segments)
    lines: list[Line] = []
    total_energy = Fraction(0)
    total_charging = 0
    for (s0, s1, index), wh in zip(segments, energy, strict=True):
        charging_us = _overlap(s0, s1, start, stopped_charging)
        if not wh and not charging_us and len(segments) > 1:
            continue
        price_kwh, price_minute = tariff.prices_at(index)
        total_energy += wh
        total_charging += charging_us
        lines.append(
            Line(
                period=tariff.period_name(index),
                start=s0,
                end=s1,
                energy_wh=round_half_up(wh, 3),
                price_kwh=price_kwh,
                energy_amount=round_half_up(Fraction(price_kwh) * wh / 1000, digits),
                charging_minutes=round_half_up(Fraction(charging_us, _US_PER_MINUTE), 4),
                price_minute=price_minute,
                time_amount=round_half_up(
                    Fraction(price_minute) * Fraction(charging_us, _US_PER_MINUTE), digits
                ),
            )
        )
    idle_us = _micros(end - stopped_charging)
    grace_us = Fraction(tariff.idle_grace_minutes) * _US_PER_MINUTE
    billed_idle = max(Fraction(0), idle_us - grace_us)
    idle_amount = round_half_up(
        Fraction(tariff.price_idle_minute) * billed_idle / _US_PER_MINUTE, digits
    )
    fee = round_half_up(tariff.session_fee, digits)
    energy_amount = _sum((line.energy_amount for line in lines), digits)
    time_amount = _sum((line.time_amount for line in lines), digits)
    subtotal = energy_amount + time_amount + idle_amount + fee
    tax = round_half_up(Fraction(subtotal) * Fraction(tariff.tax_percent) / 100, digits)
    return Breakdown(
        currency=tariff.currency,
        start=start,
        end=end,
        charging_end=stopped_charging,
        energy_wh=round_half_up(total_energy, 3),
        charging_minutes=round_half_up(Fraction(total_charging, _US_PER_MINUTE), 4),
        idle_minutes=round_half_up(Fraction(idle_us, _US_PER_MINUTE), 4),
        billed_idle_minutes=round_half_up(billed_idle / _US_PER_MINUTE, 4),
        lines=tuple(lines),
        energy_amount=energy_amount,
        time_amount=time_amount,
        idle_amount=idle_amount,
        session_fee=fee,
        subtotal=subtotal,
        tax_percent=tariff.tax_percent,
        tax=tax,
        total=subtotal + tax,
    )


def _sum(amounts: Iterable[Decimal], digits: int) -> Decimal:
    return sum(amounts, Decimal(0).scaleb(-digits))


def one_price_between(tariff: Tariff, a: dt.datetime, b: dt.datetime) -> bool:
    """Whether the same prices are in force all the way from `a` to `b`."""
    return len(_segments(tariff, a, b)) == 1


class RunningCost:
    """The cost of a session in progress, kept up to date reading by reading
    (I02/I03 totalCost in every TransactionEventResponse) without reading the
    session's history again: the cost of a message does not grow with the
    session.

    `compute()` only needs the readings where something can change: a
    reading between two others under the same prices, on a rising register,
    spreads its energy over the same period either way, so it is dropped
    (likewise a reading in the middle of a plateau, which adds nothing and
    does not move the end of charging, the plateau's first reading). The
    kept readings give the same Breakdown as all of them. A reading out of
    order or going back makes `exact` False and the caller computes from the
    stored readings instead.
    """

    def __init__(self, tariff: Tariff, start: dt.datetime, readings: Sequence[Reading]) -> None:
        self.tariff = tariff
        self.start = start
        self.readings: list[Reading] = []
        self.exact = True
        for reading in sorted(readings, key=lambda r: r.timestamp):
            self.add(reading)

    def add(self, reading: Reading) -> None:
        kept = self.readings
        if kept and (reading.timestamp < kept[-1].timestamp or reading.wh < kept[-1].wh):
            self.exact = False
        if len(kept) >= 2 and self.exact:
            a, b = kept[-2], kept[-1]
            plateau = a.wh == b.wh == reading.wh
            rising = a.wh <= b.wh < reading.wh and one_price_between(
                self.tariff, a.timestamp, reading.timestamp
            )
            if (plateau or rising) and a.timestamp >= self.start:
                kept[-1] = reading
                return
        kept.append(reading)

    def breakdown(self, now: dt.datetime, *, still_charging: bool) -> Breakdown:
        return compute(
            self.tariff,
            Timeline(
                start=self.start,
                end=now,
                readings=tuple(self.readings),
                still_charging=still_charging,
            ),
        )
