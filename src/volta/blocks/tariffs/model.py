"""Tariffs as values: prices, periods, currency and tax. Pure, no I/O.

Prices are `Decimal` (never float). A tariff is stored and snapshotted as a
JSON document with every amount a string ("0.35"); `Tariff.from_dict` checks
such a document and raises `TariffError` with a message fit for an operator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
WEEKDAYS = DAYS[:5]
WEEKEND = DAYS[5:]

# ISO 4217 minor units that are not 2. Every other three-letter code has 2.
_MINOR_UNITS = {
    "BHD": 3,
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "IQD": 3,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "PYG": 0,
    "RWF": 0,
    "TND": 3,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
}

# ISO 4217 currency codes in use (2025), funds and national currencies;
# precious metals, SDR and the test and "no currency" codes (XAU, XDR, XTS,
# XXX, ...) are not money a session is paid in.
_ISO_4217 = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV
    BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE
    CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD
    HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
    KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP
    SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED
    VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
CURRENCIES = frozenset(_ISO_4217.split())
NO_CURRENCY = "XXX"

# Every amount of a tariff (a price, a fee, the idle grace in minutes) is a
# finite decimal from 0 to MAX_AMOUNT with at most MAX_DECIMALS decimals:
# "1e400" is a Decimal, but its float is infinity.
MAX_AMOUNT = Decimal(1_000_000)
MAX_DECIMALS = 6
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class TariffError(ValueError):
    """A tariff that cannot be used; the message says which field and why."""


def minor_unit(currency: str) -> int:
    """Digits after the decimal point of `currency` (ISO 4217): EUR 2, JPY 0."""
    return _MINOR_UNITS.get(currency, 2)


def _price(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise TariffError(f"{name}: give amounts as strings or integers, not floats")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise TariffError(f"{name}: {value!r} is not a decimal number") from None
    if not price.is_finite() or price < 0 or price > MAX_AMOUNT:
        raise TariffError(f"{name}: must be an amount from 0 to {MAX_AMOUNT}, not {value!r}")
    if int(price.as_tuple().exponent) < -MAX_DECIMALS and price != price.quantize(
        Decimal(1).scaleb(-MAX_DECIMALS)
    ):
        raise TariffError(f"{name}: at most {MAX_DECIMALS} decimals, not {value!r}")
    return price


def _seconds(text: Any, name: str) -> int:
    if not isinstance(text, str) or not _TIME.match(text):
        raise TariffError(f"{name}: {text!r} is not a time HH:MM (00:00 to 24:00)")
    hours, minutes = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@dataclass(frozen=True, slots=True)
class Period:
    """A time-of-day / day-of-week window whose prices replace the tariff's.

    `start` and `end` are seconds after local midnight; an end of 86400 is
    24:00. A window whose end is not after its start runs past midnight and
    belongs to the day it starts on (FRIDAY 22:00-06:00 covers Saturday
    morning). Only `price_kwh` and `price_minute` can be replaced; None keeps
    the tariff's own price."""

    days: tuple[str, ...]
    start: int
    end: int
    price_kwh: Decimal | None = None
    price_minute: Decimal | None = None
    name: str | None = None

    def covers(self, local: dt.datetime) -> bool:
        second = local.hour * 3600 + local.minute * 60 + local.second
        day = DAYS[local.weekday()]
        if self.start < self.end:
            return day in self.days and self.start <= second < self.end
        yesterday = DAYS[(local.weekday() - 1) % 7]
        return (day in self.days and second >= self.start) or (
            yesterday in self.days and second < self.end
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "days": list(self.days),
            "start": _clock(self.start),
            "end": _clock(self.end),
            "price_kwh": None if self.price_kwh is None else str(self.price_kwh),
            "price_minute": None if self.price_minute is None else str(self.price_minute),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Period:
        if not isinstance(data, dict):
            raise TariffError(f"{where}: must be an object")
        unknown = set(data) - {"name", "days", "start", "end", "price_kwh", "price_minute"}
        if unknown:
            raise TariffError(f"{where}: unknown fields {sorted(unknown)}")
        days = data.get("days") or list(DAYS)
        if not isinstance(days, list) or not all(isinstance(d, str) for d in days):
            raise TariffError(f"{where}.days: must be a list of day names")
        upper = [d.upper() for d in days]
        bad = [d for d in upper if d not in DAYS]
        if bad:
            raise TariffError(f"{where}.days: {bad} are not days ({', '.join(DAYS)})")
        start = _seconds(data.get("start", "00:00"), f"{where}.start")
        end = _seconds(data.get("end", "24:00"), f"{where}.end")
        if start == end or start == 86400:
            raise TariffError(f"{where}: start and end must differ and start must be before 24:00")
        prices = {
            key: None if data.get(key) is None else _price(data[key], f"{where}.{key}")
            for key in ("price_kwh", "price_minute")
        }
        if prices["price_kwh"] is None and prices["price_minute"] is None:
            raise TariffError(f"{where}: give price_kwh, price_minute or both")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise TariffError(f"{where}.name: must be a string")
        return cls(
            days=tuple(d for d in DAYS if d in upper),
            start=start,
            end=end,
            price_kwh=prices["price_kwh"],
            price_minute=prices["price_minute"],
            name=name,
        )


ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Tariff:
    """Prices of a session. `price_minute` is per minute of charging time,
    `price_idle_minute` per minute the session stays open after charging
    ended beyond `idle_grace_minutes`; `tax_percent` is added on top (prices
    are excluding tax). Periods are read in `timezone`; the first period that
    covers an instant sets its prices."""

    name: str
    currency: str
    price_kwh: Decimal = ZERO
    price_minute: Decimal = ZERO
    price_idle_minute: Decimal = ZERO
    idle_grace_minutes: Decimal = ZERO
    session_fee: Decimal = ZERO
    tax_percent: Decimal = ZERO
    timezone: str = "UTC"
    periods: tuple[Period, ...] = ()
    id: int | None = None
    # What a 2.0.1 station shows at a session's start (display messages,
    # O02; the display_tariff_at_start setting), at most 512 characters.
    display_text: str | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def period_at(self, instant: dt.datetime) -> int | None:
        """Index of the period in force at `instant`, or None for base prices."""
        local = instant.astimezone(self.zone)
        for index, period in enumerate(self.periods):
            if period.covers(local):
                return index
        return None

    def prices_at(self, index: int | None) -> tuple[Decimal, Decimal]:
        """(price_kwh, price_minute) under period `index` (None: base)."""
        if index is None:
            return self.price_kwh, self.price_minute
        period = self.periods[index]
        return (
            self.price_kwh if period.price_kwh is None else period.price_kwh,
            self.price_minute if period.price_minute is None else period.price_minute,
        )

    def period_name(self, index: int | None) -> str:
        if index is None:
            return "base"
        return self.periods[index].name or f"period {index + 1}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (amounts as strings) stored and snapshotted."""
        return {
            "id": self.id,
            "name": self.name,
            "currency": self.currency,
            "price_kwh": str(self.price_kwh),
            "price_minute": str(self.price_minute),
            "price_idle_minute": str(self.price_idle_minute),
            "idle_grace_minutes": str(self.idle_grace_minutes),
            "session_fee": str(self.session_fee),
            "tax_percent": str(self.tax_percent),
            "timezone": self.timezone,
            "periods": [p.to_dict() for p in self.periods],
        } | ({} if self.display_text is None else {"display_text": self.display_text})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tariff:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TariffError(f"unknown fields {sorted(unknown)}")
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise TariffError("name: 1 to 100 characters")
        currency = data.get("currency")
        # XXX ("no currency") is what a session no tariff covers is priced in.
        if not isinstance(currency, str) or currency not in CURRENCIES | {NO_CURRENCY}:
            raise TariffError(f"currency: {currency!r} is not an ISO 4217 code such as EUR")
        timezone = data.get("timezone") or "UTC"
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise TariffError(f"timezone: {timezone!r} is not an IANA zone name") from None
        amounts = {
            key: _price(data.get(key) or 0, key)
            for key in (
                "price_kwh",
                "price_minute",
                "price_idle_minute",
                "idle_grace_minutes",
                "session_fee",
                "tax_percent",
            )
        }
        tax = amounts["tax_percent"]
        if tax > 100 or int(tax.as_tuple().exponent) < -4:
            raise TariffError("tax_percent: between 0 and 100, at most 4 decimals")
        periods = data.get("periods") or []
        if not isinstance(periods, list):
            raise TariffError("periods: must be a list")
        display_text = data.get("display_text")
        if display_text is not None and (
            not isinstance(display_text, str) or not 0 < len(display_text) <= 512
        ):
            raise TariffError("display_text: 1 to 512 characters")
        return cls(
            name=name,
            currency=currency,
            timezone=str(timezone),
            periods=tuple(Period.from_dict(p, f"periods[{i}]") for i, p in enumerate(periods)),
            id=data.get("id"),
            display_text=display_text,
            **amounts,
        )
