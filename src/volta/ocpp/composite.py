"""Composite schedules: what limit holds on an EVSE, merged from every
installed charging profile exactly as a charging station merges them
(1.6 §3.13.2 "Stacking charging profiles", §3.13.3 "Combining charge point
max profile / tx default / tx profile", §3.13.4 "Charging profile
recurrence"; 2.0.1 K08 "Get Composite Schedule" and the Smart Charging
"Stacking" and "Combining Charging Profile Purposes" sections).

Sans-I/O and pure: the CSMS (to compare with the station's own answer), the
simulator (to decide what to draw and to answer GetCompositeSchedule) and
the allocator share this one reading.

The rules, as implemented:
- Within one purpose the profile with the highest stackLevel that is valid
  at that moment wins (validFrom <= t < validTo). A schedule stops applying
  outside [startSchedule, startSchedule + duration): there the next lower
  stack level shows through (1.6 §3.13.2; 2.0.1 "Stacking").
- TxProfile overrides TxDefaultProfile. A TxProfile applies only while a
  transaction runs on the EVSE and its transactionId (when it has one)
  matches; otherwise TxDefaultProfile holds (1.6 §3.13.3).
- Profiles on EVSE 0 apply to every EVSE: a TxDefaultProfile on the EVSE
  itself overrides one on EVSE 0 (whatever their stack levels: the
  specific EVSE's default is the operator's more precise wish), a
  ChargingStationMax / ExternalConstraints profile on EVSE 0 limits every
  EVSE. The composite is the minimum of Tx(Default), ChargingStationMax and
  ChargingStationExternalConstraints (2.0.1 "Combining Charging Profile
  Purposes"; 1.6 §3.13.3).
- Absolute schedules start at startSchedule (missing: the transaction start,
  else `start`); Recurring ones repeat every day / week from startSchedule
  (missing: `start`); Relative ones start at the transaction start, or at
  `start` when no transaction runs (1.6 §3.13.4, 2.0.1 ChargingProfileKind).
- A 2.0.1 profile with several schedules (ISO 15118 SAScheduleTuples): the
  first one is used (the one a station applies before an EV picks one).

Unit conversion (assumed, as most stations do): W = A x voltage_v x phases,
with phases the period's numberPhases, or `phases` (3 by default, K01.FR.42 /
1.6 §7.9) when the period does not say. A limit in A is per phase.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

from volta.ocpp.charging import EXTERNAL, STATION_MAX, TX, TX_DEFAULT, Period, Profile, Schedule

_CYCLE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass(frozen=True, slots=True)
class _Context:
    evse_id: int
    start: dt.datetime
    transaction_id: str | None
    transaction_start: dt.datetime | None
    voltage_v: float
    phases: int


def _anchor(profile: Profile, schedule: Schedule, ctx: _Context) -> dt.datetime:
    """When the schedule's second 0 is (before any recurrence)."""
    if profile.kind == "Relative":
        return ctx.transaction_start or ctx.start
    if schedule.start is not None:
        return schedule.start
    if profile.kind == "Absolute" and ctx.transaction_start is not None:
        return ctx.transaction_start
    return ctx.start


def _offset_s(profile: Profile, schedule: Schedule, at: dt.datetime, ctx: _Context) -> float:
    """Seconds since the schedule's start at `at` (in the current cycle for
    Recurring profiles; negative before an Absolute/Relative schedule starts)."""
    offset = (at - _anchor(profile, schedule, ctx)).total_seconds()
    cycle = _CYCLE_S.get(profile.recurrency or "") if profile.kind == "Recurring" else None
    if cycle is not None:
        offset %= cycle
    return offset


def _valid(profile: Profile, at: dt.datetime) -> bool:
    if profile.valid_from is not None and at < profile.valid_from:
        return False
    return profile.valid_to is None or at < profile.valid_to


def _period_at(profile: Profile, at: dt.datetime, ctx: _Context) -> Period | None:
    """The profile's period in force at `at`, None when it does not apply
    then (outside validity, before its schedule or after its duration)."""
    if not profile.schedules or not _valid(profile, at):
        return None
    schedule = profile.schedules[0]
    offset = _offset_s(profile, schedule, at, ctx)
    if offset < 0 or (schedule.duration_s is not None and offset >= schedule.duration_s):
        return None
    found: Period | None = None
    for period in sorted(schedule.periods, key=lambda p: p.start_s):
        if period.start_s <= offset:
            found = period
    return found


def _top(
    candidates: list[tuple[int, Profile]], at: dt.datetime, ctx: _Context
) -> tuple[Profile, Period] | None:
    """The highest stack level among `candidates` that applies at `at`."""
    best: tuple[Profile, Period] | None = None
    for _evse, profile in candidates:
        period = _period_at(profile, at, ctx)
        if period is not None and (best is None or profile.stack_level > best[0].stack_level):
            best = (profile, period)
    return best


def _tx_applies(profile: Profile, ctx: _Context) -> bool:
    if ctx.transaction_id is None:
        return False
    return profile.transaction_id is None or profile.transaction_id == ctx.transaction_id


def _convert(period: Period, unit_from: str, unit_to: str, ctx: _Context) -> float:
    if unit_from == unit_to:
        return period.limit
    factor = ctx.voltage_v * (period.phases or ctx.phases)
    return period.limit * factor if unit_to == "W" else period.limit / factor


def _at(
    profiles: list[tuple[int, Profile]], at: dt.datetime, unit: str, ctx: _Context
) -> Period | None:
    """The composite limit at one moment (start_s 0), None when no profile limits it."""
    here = [(e, p) for e, p in profiles if e == ctx.evse_id]
    station = [(e, p) for e, p in profiles if e == 0]
    chosen: list[tuple[Profile, Period] | None] = []
    if ctx.evse_id != 0:
        tx = _top([(e, p) for e, p in here if p.purpose == TX and _tx_applies(p, ctx)], at, ctx)
        if tx is None:
            tx = _top([(e, p) for e, p in here if p.purpose == TX_DEFAULT], at, ctx)
        if tx is None:
            tx = _top([(e, p) for e, p in station if p.purpose == TX_DEFAULT], at, ctx)
        chosen.append(tx)
        chosen.append(_top([(e, p) for e, p in here if p.purpose == EXTERNAL], at, ctx))
    else:
        # The grid connection (2.0.1 K08: evseId 0): defaults on EVSE 0 still
        # describe what any EVSE may draw.
        chosen.append(_top([(e, p) for e, p in station if p.purpose == TX_DEFAULT], at, ctx))
    chosen.append(_top([(e, p) for e, p in station if p.purpose == STATION_MAX], at, ctx))
    chosen.append(_top([(e, p) for e, p in station if p.purpose == EXTERNAL], at, ctx))
    limit = math.inf
    phases: int | None = None
    phase_to_use: int | None = None
    found = False
    for item in chosen:
        if item is None:
            continue
        profile, period = item
        found = True
        value = _convert(period, profile.schedules[0].unit, unit, ctx)
        if value < limit:
            limit = value
            phase_to_use = period.phase_to_use
        if period.phases is not None:
            # Fewest phases: the conservative reading of two limits at once.
            phases = period.phases if phases is None else min(phases, period.phases)
    if not found:
        return None
    return Period(0, round(limit, 3), phases, phase_to_use)


def _unit_of(profiles: list[tuple[int, Profile]], unit: str | None) -> str:
    if unit is not None:
        return unit
    units = {p.schedules[0].unit for _e, p in profiles if p.schedules}
    return units.pop() if len(units) == 1 else "A"


def _breakpoints(profile: Profile, ctx: _Context, end: dt.datetime) -> set[dt.datetime]:
    """Moments in (start, end) where this profile's contribution may change."""
    out: set[dt.datetime] = set()
    for moment in (profile.valid_from, profile.valid_to):
        if moment is not None:
            out.add(moment)
    if not profile.schedules:
        return out
    schedule = profile.schedules[0]
    anchor = _anchor(profile, schedule, ctx)
    offsets = [p.start_s for p in schedule.periods]
    if schedule.duration_s is not None:
        offsets.append(schedule.duration_s)
    cycle = _CYCLE_S.get(profile.recurrency or "") if profile.kind == "Recurring" else None
    if cycle is None:
        out.update(anchor + dt.timedelta(seconds=s) for s in offsets)
    else:
        first = math.floor((ctx.start - anchor).total_seconds() / cycle) - 1
        last = math.ceil((end - anchor).total_seconds() / cycle) + 1
        for k in range(first, last + 1):
            base = anchor + dt.timedelta(seconds=k * cycle)
            out.update(base + dt.timedelta(seconds=s) for s in [0, *offsets])
    return {t for t in out if ctx.start < t < end}


def _context(
    evse_id: int,
    start: dt.datetime,
    transaction_id: str | None,
    transaction_start: dt.datetime | None,
    voltage_v: float,
    phases: int,
) -> _Context:
    return _Context(evse_id, start, transaction_id, transaction_start, voltage_v, phases)


def composite_schedule(
    profiles: Iterable[tuple[int, Profile]],
    evse_id: int,
    start: dt.datetime,
    duration_s: int,
    *,
    unit: str | None = None,
    transaction_id: str | None = None,
    transaction_start: dt.datetime | None = None,
    voltage_v: float = 230.0,
    phases: int = 3,
    default_limit: float | None = None,
) -> Schedule:
    """The composite schedule of `evse_id` over [start, start + duration_s).

    `profiles` are the installed (evse_id, profile) pairs of the station;
    `unit` forces A or W (None: the profiles' unit, A when they mix).
    Where no profile limits the EVSE the period's limit is `default_limit`
    (the EVSE's own rating, in `unit`) or `math.inf` when not given: pass
    the rating before writing the schedule to the wire. Consecutive equal
    periods are merged; numberPhases is carried (K08: the composite says
    what the station will do, in its own periods).
    """
    items = list(profiles)
    chosen_unit = _unit_of(items, unit)
    ctx = _context(evse_id, start, transaction_id, transaction_start, voltage_v, phases)
    end = start + dt.timedelta(seconds=duration_s)
    moments = {start}
    for _e, profile in items:
        moments |= _breakpoints(profile, ctx, end)
    periods: list[Period] = []
    for moment in sorted(moments):
        period = _at(items, moment, chosen_unit, ctx)
        limit = (
            period.limit
            if period is not None
            else (math.inf if default_limit is None else default_limit)
        )
        start_s = math.floor((moment - start).total_seconds())
        current = Period(
            start_s,
            limit,
            None if period is None else period.phases,
            None if period is None else period.phase_to_use,
        )
        last = periods[-1] if periods else None
        if last is not None and (last.limit, last.phases, last.phase_to_use) == (
            current.limit,
            current.phases,
            current.phase_to_use,
        ):
            continue
        if last is not None and last.start_s == start_s:
            periods[-1] = current
        else:
            periods.append(current)
    return Schedule(unit=chosen_unit, periods=tuple(periods), start=start, duration_s=duration_s)


def limit_at(
    profiles: Iterable[tuple[int, Profile]],
    evse_id: int,
    at: dt.datetime,
    *,
    unit: str | None = None,
    transaction_id: str | None = None,
    transaction_start: dt.datetime | None = None,
    voltage_v: float = 230.0,
    phases: int = 3,
) -> Period | None:
    """The composite limit in force on `evse_id` at `at` (start_s 0, in
    `unit` or the profiles' unit), None when no profile limits it."""
    items = list(profiles)
    ctx = _context(evse_id, at, transaction_id, transaction_start, voltage_v, phases)
    return _at(items, at, _unit_of(items, unit), ctx)
