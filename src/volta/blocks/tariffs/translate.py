"""Volta's tariffs as OCPP 2.1 TariffType (block I, local cost calculation).
Pure, no I/O.

What maps, and how:

- `price_kwh` -> `energy.prices[].priceKwh`; `price_minute` ->
  `chargingTime.prices[].priceMinute`; `price_idle_minute` ->
  `idleTime.prices[].priceMinute`, with `conditions.minIdleTime` (seconds) =
  the idle grace (2.1: a price becomes active once its condition holds, so
  only the idle time beyond the grace is billed, as Volta does);
  `session_fee` -> `fixedFee.prices[].priceFixed`; `tax_percent` -> one
  `taxRates` entry (type "Tax") on every component sent.
- A period -> a price with `conditions` (startTimeOfDay, endTimeOfDay,
  dayOfWeek) before the unconditional base price: the first price whose
  conditions hold applies, as Volta's first covering period does. A period
  that leaves one of the two prices to the tariff gets the base price in
  that list, so a later period cannot take its place. A window past
  midnight belongs to the day it starts on in Volta; unless it runs every
  day it is sent as two windows (start to midnight on its days, midnight
  to its end on the following days), which 2.1 cannot read two ways.
- `tariffId` is "<Volta id>-<8 hex digits of the tariff's content>": a
  tariff edited in Volta gets a new id, never a DuplicateTariffId.

What is refused (`Untranslatable`, nothing is sent): a tariff without an id
or in no currency (XXX); an idle grace that is not a whole number of
seconds; an amount a JSON number does not carry digit for digit. Volta has
no minCost/maxCost, reservation prices or power/current/energy conditions,
so none are sent; the periods are read in the tariff's own time zone and a
2.1 station reads them in its local time (see docs/tariffs.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from typing import Any

from volta.blocks.tariffs.model import DAYS, NO_CURRENCY, Period, Tariff

TAX_TYPE = "Tax"
_OCPP_DAYS = {d: d.capitalize() for d in DAYS}
_ID = re.compile(r"^(\d{1,18})-[0-9a-f]{8}$")


class Untranslatable(ValueError):
    """A Volta tariff that OCPP 2.1's TariffType cannot say as it is."""


def ocpp_tariff_id(tariff: Tariff) -> str:
    """The tariffId a station is sent: Volta's id and a digest of the prices."""
    if tariff.id is None:
        raise Untranslatable("the tariff has no id (store it first)")
    doc = tariff.to_dict()
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:8]
    return f"{tariff.id}-{digest}"


def volta_tariff_id(ocpp_id: str) -> int | None:
    """Volta's tariff id in a tariffId Volta made, None for any other."""
    match = _ID.match(ocpp_id)
    return int(match.group(1)) if match else None


def _number(value: Decimal, where: str) -> float | int:
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if Decimal(repr(number)) != value:
        raise Untranslatable(f"{where}: {value} does not fit a JSON number exactly")
    return number


def _clock(seconds: int) -> str:
    return f"{seconds // 3600 % 24:02d}:{seconds % 3600 // 60:02d}"


def _windows(period: Period) -> list[dict[str, Any]]:
    """The 2.1 conditions that cover exactly what `period` covers."""
    all_days = len(period.days) == len(DAYS)
    if period.start < period.end or all_days:
        out: dict[str, Any] = {}
        if not (period.start == 0 and period.end == 86400):
            out = {"startTimeOfDay": _clock(period.start), "endTimeOfDay": _clock(period.end)}
        if not all_days:
            out["dayOfWeek"] = [_OCPP_DAYS[d] for d in period.days]
        return [out]
    following = [DAYS[(DAYS.index(d) + 1) % 7] for d in period.days]
    return [
        {
            "startTimeOfDay": _clock(period.start),
            "endTimeOfDay": "00:00",
            "dayOfWeek": [_OCPP_DAYS[d] for d in period.days],
        },
        {
            "startTimeOfDay": "00:00",
            "endTimeOfDay": _clock(period.end),
            "dayOfWeek": [_OCPP_DAYS[d] for d in DAYS if d in following],
        },
    ]


def _tax(tariff: Tariff) -> dict[str, Any]:
    if not tariff.tax_percent:
        return {}
    return {
        "taxRates": [
            {"type": TAX_TYPE, "tax": _number(tariff.tax_percent, "tax_percent"), "stack": 0}
        ]
    }


def _timed(tariff: Tariff, which: int, key: str, name: str) -> dict[str, Any] | None:
    """The energy (which=0, priceKwh) or charging time (which=1, priceMinute)
    prices: one per period window, then the base price."""
    prices: list[dict[str, Any]] = []
    for index, period in enumerate(tariff.periods):
        price = tariff.prices_at(index)[which]
        for conditions in _windows(period):
            entry: dict[str, Any] = {key: _number(price, f"periods[{index}].{name}")}
            if conditions:
                entry["conditions"] = conditions
            prices.append(entry)
    base = tariff.prices_at(None)[which]
    prices.append({key: _number(base, name)})
    if not any(p[key] for p in prices):
        return None
    return {"prices": prices} | _tax(tariff)


def to_ocpp(tariff: Tariff, *, language: str = "en") -> dict[str, Any]:
    """`tariff` as a 2.1 TariffType, or `Untranslatable` saying why not."""
    if tariff.currency == NO_CURRENCY:
        raise Untranslatable("currency: XXX (no currency) cannot be sent to a station")
    out: dict[str, Any] = {
        "tariffId": ocpp_tariff_id(tariff),
        "currency": tariff.currency,
        "description": [
            {
                "format": "UTF8",
                "language": language,
                "content": (tariff.display_text or tariff.name)[:1024],
            }
        ],
    }
    energy = _timed(tariff, 0, "priceKwh", "price_kwh")
    if energy:
        out["energy"] = energy
    charging = _timed(tariff, 1, "priceMinute", "price_minute")
    if charging:
        out["chargingTime"] = charging
    if tariff.price_idle_minute:
        grace = tariff.idle_grace_minutes * 60
        if grace != grace.to_integral_value():
            raise Untranslatable(
                f"idle_grace_minutes: {tariff.idle_grace_minutes} minutes is not a whole "
                "number of seconds (2.1 minIdleTime is in seconds)"
            )
        idle: dict[str, Any] = {
            "priceMinute": _number(tariff.price_idle_minute, "price_idle_minute")
        }
        if grace:
            idle["conditions"] = {"minIdleTime": int(grace)}
        out["idleTime"] = {"prices": [idle]} | _tax(tariff)
    if tariff.session_fee:
        out["fixedFee"] = {
            "prices": [{"priceFixed": _number(tariff.session_fee, "session_fee")}]
        } | _tax(tariff)
    return out
