"""OCPP 2.1 charging profiles with bidirectional power (V2X, block Q), pure:
what makes a profile a 2.1 one, the rules Volta checks on its V2X fields
before it is sent, and the discharge a profile asks of an EVSE (for the
site allocator).

A 2.1 ChargingProfileType is a superset of 2.0.1's: Volta keeps it as sent
(in `charging_profiles.profile`, and in `Profile.extra["v21"]` on its way
to the station's V21 SetChargingProfile builder). Its periods may carry an
`operationMode` (ChargingOnly when absent), a `dischargeLimit` (<= 0), a
`setpoint` (negative: discharge), `setpointReactive`, per-phase values
(`_L2`, `_L3`) and the frequency / aFRR curves. Where a period has no
`limit` (allowed in the setpoint modes), nothing limits the EVSE's import
in Volta's own composite schedule (`volta.ocpp.charging`: inf).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from volta.ocpp.times import parse_timestamp

# EnergyTransferModeEnumType (2.1).
ENERGY_TRANSFER_MODES = (
    "AC_single_phase",
    "AC_two_phase",
    "AC_three_phase",
    "DC",
    "AC_BPT",
    "AC_BPT_DER",
    "AC_DER",
    "DC_BPT",
    "DC_ACDP",
    "DC_ACDP_BPT",
    "WPT",
)
# The modes with bidirectional power transfer (BPT): what a contract must allow.
BIDIRECTIONAL = frozenset({"AC_BPT", "AC_BPT_DER", "DC_BPT", "DC_ACDP_BPT"})

# OperationModeEnumType (2.1).
CHARGING_ONLY = "ChargingOnly"
CENTRAL_SETPOINT = "CentralSetpoint"
OPERATION_MODES = (
    "Idle",
    CHARGING_ONLY,
    CENTRAL_SETPOINT,
    "ExternalSetpoint",
    "ExternalLimits",
    "CentralFrequency",
    "LocalFrequency",
    "LocalLoadBalancing",
)
# ChargingSchedulePeriodType.limit: "Optional only when not required by the
# operationMode, as in CentralSetpoint, ExternalSetpoint, ExternalLimits,
# LocalFrequency, LocalLoadBalancing".
LIMIT_OPTIONAL = frozenset(
    {CENTRAL_SETPOINT, "ExternalSetpoint", "ExternalLimits", "LocalFrequency", "LocalLoadBalancing"}
)
# The modes in which an EV may feed power back: all but charging only and idle.
DISCHARGING_MODES = frozenset(OPERATION_MODES) - {CHARGING_ONLY, "Idle"}

_PROFILE_21 = (
    "maxOfflineDuration",
    "invalidAfterOfflineDuration",
    "dynUpdateInterval",
    "dynUpdateTime",
    "priceScheduleSignature",
)
_SCHEDULE_21 = (
    "limitAtSoC",
    "powerTolerance",
    "signatureId",
    "digestValue",
    "useLocalTime",
    "randomizedDelay",
    "absolutePriceSchedule",
    "priceLevelSchedule",
)
_PERIOD_21 = (
    "limit_L2",
    "limit_L3",
    "dischargeLimit",
    "dischargeLimit_L2",
    "dischargeLimit_L3",
    "setpoint",
    "setpoint_L2",
    "setpoint_L3",
    "setpointReactive",
    "setpointReactive_L2",
    "setpointReactive_L3",
    "preconditioningRequest",
    "evseSleep",
    "v2xBaseline",
    "operationMode",
    "v2xFreqWattCurve",
    "v2xSignalWattCurve",
)
# The fields of ChargingScheduleUpdateType (UpdateDynamicSchedule,
# PullDynamicScheduleUpdate).
UPDATE_FIELDS = (
    "limit",
    "limit_L2",
    "limit_L3",
    "dischargeLimit",
    "dischargeLimit_L2",
    "dischargeLimit_L3",
    "setpoint",
    "setpoint_L2",
    "setpoint_L3",
    "setpointReactive",
    "setpointReactive_L2",
    "setpointReactive_L3",
)


def uses_v21(body: Mapping[str, Any]) -> bool:
    """Whether a ChargingProfileType says something only 2.1 can: a V2X
    period, a Dynamic kind, a period without a limit, a 2.1 field."""
    if body.get("chargingProfileKind") == "Dynamic":
        return True
    if body.get("chargingProfilePurpose") in ("PriorityCharging", "LocalGeneration"):
        return True
    if any(k in body for k in _PROFILE_21):
        return True
    for schedule in body.get("chargingSchedule") or []:
        if any(k in schedule for k in _SCHEDULE_21):
            return True
        for period in schedule.get("chargingSchedulePeriod") or []:
            if "limit" not in period or any(k in period for k in _PERIOD_21):
                return True
    return False


def mode_of(period: Mapping[str, Any]) -> str:
    return str(period.get("operationMode", CHARGING_ONLY))


def discharges(values: Mapping[str, Any]) -> bool:
    """Whether a period (or a dynamic update) asks for or allows discharge."""
    return any(
        float(values[k]) < 0
        for k in (
            "dischargeLimit",
            "dischargeLimit_L2",
            "dischargeLimit_L3",
            "setpoint",
            "setpoint_L2",
            "setpoint_L3",
        )
        if k in values
    )


def value_problems(
    where: str, mode: str, values: Mapping[str, Any], *, limits: bool = True
) -> list[str]:
    """The rules on one period's values (or an update's, against the mode of
    the profile's period it updates)."""
    out: list[str] = []
    if discharges(values) and mode not in DISCHARGING_MODES:
        out.append(
            f"{where}: discharging (a negative setpoint or a dischargeLimit below 0) "
            f"needs an operationMode that allows it, not {mode} (2.1 OperationModeEnumType)"
        )
    for suffix in ("", "_L2", "_L3"):
        limit = values.get("limit" + suffix)
        setpoint = values.get("setpoint" + suffix)
        discharge = values.get("dischargeLimit" + suffix)
        if limits and limit is not None and float(limit) < 0:
            out.append(
                f"{where}: limit{suffix} must be 0 or more; a discharge limit goes in "
                f"dischargeLimit{suffix} (2.1 ChargingSchedulePeriodType.limit)"
            )
        if setpoint is None:
            continue
        if limit is not None and float(setpoint) > float(limit):
            out.append(
                f"{where}: setpoint{suffix} {setpoint} is above limit{suffix} {limit}: the "
                "overshoot when following a setpoint must remain within the limits"
            )
        if discharge is not None and float(setpoint) < float(discharge):
            out.append(
                f"{where}: setpoint{suffix} {setpoint} is below dischargeLimit{suffix} "
                f"{discharge}: the overshoot must remain within the limits"
            )
    if mode == "Idle" and any(float(values.get(k, 0)) != 0 for k in ("setpoint",)):
        out.append(f"{where}: an Idle period transfers no energy (setpoint 0 or none)")
    return out


def problems(body: Mapping[str, Any]) -> list[str]:
    """Every V2X rule a 2.1 ChargingProfileType (schema-valid) breaks."""
    out: list[str] = []
    schedules = body.get("chargingSchedule") or []
    for n, schedule in enumerate(schedules):
        at = f"chargingSchedule[{n}]" if len(schedules) > 1 else "chargingSchedule"
        for i, period in enumerate(schedule.get("chargingSchedulePeriod") or []):
            where = f"{at}.chargingSchedulePeriod[{i}]"
            mode = mode_of(period)
            if "limit" not in period and mode not in LIMIT_OPTIONAL:
                out.append(
                    f"{where}: needs a limit in operationMode {mode} (only "
                    f"{', '.join(sorted(LIMIT_OPTIONAL))} may leave it out)"
                )
            if mode == CENTRAL_SETPOINT and "setpoint" not in period:
                out.append(f"{where}: operationMode CentralSetpoint needs a setpoint")
            if mode == "LocalFrequency" and "v2xFreqWattCurve" not in period:
                out.append(f"{where}: operationMode LocalFrequency needs a v2xFreqWattCurve")
            if mode == "CentralFrequency" and "v2xSignalWattCurve" not in period:
                out.append(
                    f"{where}: operationMode CentralFrequency needs a v2xSignalWattCurve "
                    "(the power for each AFRRSignal value)"
                )
            # (a negative limit is refused with the 2.0.1 rules already)
            out.extend(value_problems(where, mode, period, limits=False))
    kind = body.get("chargingProfileKind")
    if kind != "Dynamic" and ("dynUpdateInterval" in body or "dynUpdateTime" in body):
        out.append("dynUpdateInterval and dynUpdateTime are only for a Dynamic profile")
    if kind == "Dynamic":
        if body.get("chargingProfilePurpose") not in ("TxProfile", "TxDefaultProfile"):
            # Volta's decision: a dynamic schedule steers a session.
            out.append("a Dynamic profile is a TxProfile or a TxDefaultProfile")
        for n, schedule in enumerate(schedules):
            if len(schedule.get("chargingSchedulePeriod") or []) != 1:
                out.append(
                    f"chargingSchedule[{n}]: a Dynamic profile has one period, whose values "
                    "UpdateDynamicSchedule replaces"
                )
    return out


def update_problems(profile: Mapping[str, Any], update: Mapping[str, Any]) -> list[str]:
    """The rules on an UpdateDynamicSchedule's values for an installed
    profile: a Dynamic one, the values fit its period's operationMode."""
    if profile.get("chargingProfileKind") != "Dynamic":
        return ["UpdateDynamicSchedule only updates a Dynamic charging profile"]
    if not any(k in update for k in UPDATE_FIELDS):
        return ["scheduleUpdate needs at least one value"]
    period = _first_period(profile)
    merged = {**period, **update}
    return value_problems("scheduleUpdate", mode_of(period), merged)


def _first_period(profile: Mapping[str, Any]) -> dict[str, Any]:
    schedules = profile.get("chargingSchedule") or [{}]
    periods = schedules[0].get("chargingSchedulePeriod") or [{}]
    return dict(periods[0])


def current_values(profile: Mapping[str, Any], update: Mapping[str, Any] | None) -> dict[str, Any]:
    """The dynamic values in force: the profile's period, updated by the
    last UpdateDynamicSchedule Volta sent (PullDynamicScheduleUpdate's answer)."""
    period = _first_period(profile)
    out = {k: period[k] for k in UPDATE_FIELDS if k in period}
    out.update({k: v for k, v in (update or {}).items() if k in UPDATE_FIELDS})
    return out


def period_in_force(
    profile: Mapping[str, Any], now: dt.datetime, started_at: dt.datetime | None
) -> tuple[str, dict[str, Any]] | None:
    """The unit and the period of a profile's first schedule at `now` (an
    Absolute / Recurring schedule from its startSchedule, a Relative or
    Dynamic one from the session's start); None when none is in force."""
    schedules = profile.get("chargingSchedule") or []
    if not schedules:
        return None
    schedule = schedules[0]
    start = parse_timestamp(schedule.get("startSchedule")) or started_at or now
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    elapsed = (now - start).total_seconds()
    kind = profile.get("chargingProfileKind")
    if kind == "Recurring" and elapsed > 0:
        span = 7 * 86_400 if profile.get("recurrencyKind") == "Weekly" else 86_400
        elapsed %= span
    duration = schedule.get("duration")
    if elapsed < 0 or (duration is not None and elapsed >= duration):
        return None
    found: dict[str, Any] | None = None
    for period in schedule.get("chargingSchedulePeriod") or []:
        if period["startPeriod"] <= elapsed:
            found = period
    if found is None:
        return None
    return str(schedule["chargingRateUnit"]), dict(found)


def discharge_a(
    unit: str, values: Mapping[str, Any], phases: int, voltage_v: float
) -> tuple[float, float | None]:
    """The per-phase current a period (or dynamic values) asks an EVSE to
    feed back (from a negative setpoint; 0 when none), and the most it lets
    it (from dischargeLimit; None when it does not say), in A."""

    def amps(value: float) -> float:
        if unit == "W":
            return value / (voltage_v * max(phases, 1))
        return value

    setpoint = values.get("setpoint")
    asked = amps(-float(setpoint)) if setpoint is not None and float(setpoint) < 0 else 0.0
    limit = values.get("dischargeLimit")
    most = amps(-float(limit)) if limit is not None else None
    if most is not None:
        asked = min(asked, most)
    return asked, most
