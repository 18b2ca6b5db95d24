"""Charging profiles, one model for both versions (1.6 Smart Charging profile
§3.13 / §7.7-7.10, 2.0.1 block K, ChargingProfileType §2.10).

Sans-I/O: parsed from and written back to each version's wire shape, so the
CSMS, the composite-schedule computation and the simulator share one
reading of a profile. Purposes carry their 2.0.1 names; 1.6's
`ChargePointMaxProfile` is `ChargingStationMaxProfile` here (1.6 has no
`ChargingStationExternalConstraints`). A 2.0.1 profile holds 1-3 schedules
(one per ISO 15118 SAScheduleTuple); 1.6 has exactly one.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from volta.ocpp.times import format_timestamp, parse_timestamp

STATION_MAX = "ChargingStationMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
EXTERNAL = "ChargingStationExternalConstraints"
PURPOSES = (STATION_MAX, TX_DEFAULT, TX, EXTERNAL)
KINDS = ("Absolute", "Recurring", "Relative")
RECURRENCIES = ("Daily", "Weekly")
UNITS = ("A", "W")

_V16_PURPOSE = {"ChargePointMaxProfile": STATION_MAX, TX_DEFAULT: TX_DEFAULT, TX: TX}
_TO_V16_PURPOSE = {v: k for k, v in _V16_PURPOSE.items()}


class NotExpressible(ValueError):
    """The profile uses something the target version cannot say (e.g. an
    external-constraints purpose or three schedules in 1.6)."""


def purpose_from_v16(name: str) -> str:
    """The 2.0.1 name of a 1.6 purpose (the names both share pass unchanged)."""
    return _V16_PURPOSE.get(name, name)


def purpose_to_v16(purpose: str) -> str:
    """The 1.6 name of a purpose; NotExpressible when 1.6 has none."""
    name = _TO_V16_PURPOSE.get(purpose)
    if name is None:
        raise NotExpressible(f"OCPP 1.6 has no {purpose}")
    return name


@dataclass(frozen=True, slots=True)
class Period:
    """From `start_s` seconds after the schedule's start: at most `limit`
    (in the schedule's unit), on `phases` phases (3 when not said, K01.FR.42
    / 1.6 §7.9), `phase_to_use` for a 1-phase period on a 3-phase EVSE (2.0.1)."""

    start_s: int
    limit: float
    phases: int | None = None
    phase_to_use: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    unit: str  # "A" or "W"
    periods: tuple[Period, ...]
    id: int = 0  # 2.0.1 only; 1.6 has none
    start: dt.datetime | None = None  # startSchedule
    duration_s: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    stack_level: int
    purpose: str
    kind: str
    schedules: tuple[Schedule, ...]
    recurrency: str | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    # A TxProfile's transaction: 1.6's integer transactionId as a string,
    # 2.0.1's transactionId as it is.
    transaction_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _period(p: dict[str, Any]) -> Period:
    # 2.1 lets a V2X period go without a limit (a setpoint mode): nothing
    # limits the EVSE then (inf, written back without a limit).
    return Period(
        int(p["startPeriod"]),
        float(p["limit"]) if "limit" in p else math.inf,
        p.get("numberPhases"),
        p.get("phaseToUse"),
    )


def _schedule(s: dict[str, Any]) -> Schedule:
    return Schedule(
        unit=s["chargingRateUnit"],
        periods=tuple(_period(p) for p in s["chargingSchedulePeriod"]),
        id=int(s.get("id", 0)),
        start=parse_timestamp(s.get("startSchedule")),
        duration_s=s.get("duration"),
        min_rate=s.get("minChargingRate"),
    )


def from_v16(profile: dict[str, Any]) -> Profile:
    """A 1.6 `csChargingProfiles` / `chargingProfile` object (schema-valid)."""
    tx = profile.get("transactionId")
    return Profile(
        id=int(profile["chargingProfileId"]),
        stack_level=int(profile["stackLevel"]),
        purpose=purpose_from_v16(profile["chargingProfilePurpose"]),
        kind=profile["chargingProfileKind"],
        schedules=(_schedule(profile["chargingSchedule"]),),
        recurrency=profile.get("recurrencyKind"),
        valid_from=parse_timestamp(profile.get("validFrom")),
        valid_to=parse_timestamp(profile.get("validTo")),
        transaction_id=None if tx is None else str(tx),
    )


def from_v201(profile: dict[str, Any]) -> Profile:
    """A 2.0.1 ChargingProfileType (schema-valid)."""
    return Profile(
        id=int(profile["id"]),
        stack_level=int(profile["stackLevel"]),
        purpose=profile["chargingProfilePurpose"],
        kind=profile["chargingProfileKind"],
        schedules=tuple(_schedule(s) for s in profile["chargingSchedule"]),
        recurrency=profile.get("recurrencyKind"),
        valid_from=parse_timestamp(profile.get("validFrom")),
        valid_to=parse_timestamp(profile.get("validTo")),
        transaction_id=profile.get("transactionId"),
    )


def _periods(schedule: Schedule, *, v201: bool) -> list[dict[str, Any]]:
    out = []
    for p in schedule.periods:
        item: dict[str, Any] = {"startPeriod": p.start_s}
        if not math.isinf(p.limit):
            item["limit"] = round(p.limit, 1)
        if p.phases is not None:
            item["numberPhases"] = p.phases
        if v201 and p.phase_to_use is not None:
            item["phaseToUse"] = p.phase_to_use
        out.append(item)
    return out


def _schedule_dict(schedule: Schedule, *, v201: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if v201:
        out["id"] = schedule.id
    if schedule.start is not None:
        out["startSchedule"] = format_timestamp(schedule.start)
    if schedule.duration_s is not None:
        out["duration"] = schedule.duration_s
    out["chargingRateUnit"] = schedule.unit
    out["chargingSchedulePeriod"] = _periods(schedule, v201=v201)
    if schedule.min_rate is not None:
        out["minChargingRate"] = round(schedule.min_rate, 1)
    return out


def _common(profile: Profile, out: dict[str, Any]) -> dict[str, Any]:
    out["stackLevel"] = profile.stack_level
    out["chargingProfileKind"] = profile.kind
    if profile.recurrency is not None:
        out["recurrencyKind"] = profile.recurrency
    if profile.valid_from is not None:
        out["validFrom"] = format_timestamp(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = format_timestamp(profile.valid_to)
    return out


def to_v16(profile: Profile) -> dict[str, Any]:
    """The 1.6 `csChargingProfiles` object; NotExpressible when 1.6 cannot say it."""
    purpose = purpose_to_v16(profile.purpose)
    if len(profile.schedules) != 1:
        raise NotExpressible("an OCPP 1.6 profile has exactly one schedule")
    if any(p.phase_to_use is not None for p in profile.schedules[0].periods):
        raise NotExpressible("OCPP 1.6 has no phaseToUse")
    out: dict[str, Any] = {"chargingProfileId": profile.id}
    if profile.transaction_id is not None:
        if not profile.transaction_id.lstrip("-").isdigit():
            raise NotExpressible("an OCPP 1.6 transactionId is an integer")
        out["transactionId"] = int(profile.transaction_id)
    out["chargingProfilePurpose"] = purpose
    _common(profile, out)
    out["chargingSchedule"] = _schedule_dict(profile.schedules[0], v201=False)
    return out


def to_v201(profile: Profile) -> dict[str, Any]:
    """The 2.0.1 ChargingProfileType."""
    out: dict[str, Any] = {"id": profile.id, "chargingProfilePurpose": profile.purpose}
    _common(profile, out)
    if profile.transaction_id is not None:
        out["transactionId"] = profile.transaction_id
    out["chargingSchedule"] = [_schedule_dict(s, v201=True) for s in profile.schedules]
    return out
