"""Composite schedules against hand-computed cases (1.6 §3.13.2-3.13.4;
2.0.1 K08 and the "Stacking" / "Combining Charging Profile Purposes" rules)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from volta.ocpp.charging import (
    EXTERNAL,
    STATION_MAX,
    TX,
    TX_DEFAULT,
    Period,
    Profile,
    Schedule,
    from_v16,
    from_v201,
)
from volta.ocpp.composite import composite_schedule, limit_at

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)  # a Monday


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def profile(
    pid: int,
    purpose: str,
    periods: Sequence[tuple[float, ...]],
    *,
    level: int = 0,
    kind: str = "Absolute",
    start: dt.datetime | None = T0,
    duration: int | None = None,
    unit: str = "A",
    recurrency: str | None = None,
    valid_from: dt.datetime | None = None,
    valid_to: dt.datetime | None = None,
    tx: str | None = None,
) -> Profile:
    return Profile(
        id=pid,
        stack_level=level,
        purpose=purpose,
        kind=kind,
        schedules=(
            Schedule(
                unit=unit,
                periods=tuple(
                    Period(int(p[0]), p[1], int(p[2]) if len(p) > 2 else None) for p in periods
                ),
                start=start,
                duration_s=duration,
            ),
        ),
        recurrency=recurrency,
        valid_from=valid_from,
        valid_to=valid_to,
        transaction_id=tx,
    )


def limits(schedule: Schedule) -> list[tuple[int, float]]:
    return [(p.start_s, p.limit) for p in schedule.periods]


def test_single_absolute_profile_periods_are_its_own() -> None:
    p = profile(1, TX_DEFAULT, [(0, 32), (600, 16), (1200, 32)])
    s = composite_schedule([(1, p)], 1, T0, 1800)
    assert s.unit == "A" and s.start == T0 and s.duration_s == 1800
    assert limits(s) == [(0, 32), (600, 16), (1200, 32)]


def test_window_starting_inside_a_schedule_shifts_the_periods() -> None:
    p = profile(1, TX_DEFAULT, [(0, 32), (600, 16), (1200, 32)])
    s = composite_schedule([(1, p)], 1, at(300), 600)
    assert limits(s) == [(0, 32), (300, 16)]


def test_higher_stack_level_wins_within_a_purpose() -> None:
    """1.6 §3.13.2: the highest stackLevel valid at that moment prevails."""
    low = profile(1, TX_DEFAULT, [(0, 32)], level=0)
    high = profile(2, TX_DEFAULT, [(0, 10)], level=5, start=at(600), duration=600)
    s = composite_schedule([(1, low), (1, high)], 1, T0, 1800)
    # Its duration ends the high profile: the low one shows through again.
    assert limits(s) == [(0, 32), (600, 10), (1200, 32)]


def test_validity_edges_valid_from_inclusive_valid_to_exclusive() -> None:
    base = profile(1, TX_DEFAULT, [(0, 20)], level=0)
    window = profile(2, TX_DEFAULT, [(0, 8)], level=1, valid_from=at(100), valid_to=at(200))
    assert limit_at([(1, base), (1, window)], 1, at(99)) == Period(0, 20)
    assert limit_at([(1, base), (1, window)], 1, at(100)) == Period(0, 8)
    assert limit_at([(1, base), (1, window)], 1, at(199)) == Period(0, 8)
    assert limit_at([(1, base), (1, window)], 1, at(200)) == Period(0, 20)


def test_gap_without_any_profile_has_no_limit() -> None:
    p = profile(1, TX_DEFAULT, [(0, 16)], start=at(600), duration=300)
    s = composite_schedule([(1, p)], 1, T0, 1200)
    assert limits(s) == [(0, math.inf), (600, 16), (900, math.inf)]
    rated = composite_schedule([(1, p)], 1, T0, 1200, default_limit=32)
    assert limits(rated) == [(0, 32), (600, 16), (900, 32)]
    assert limit_at([(1, p)], 1, at(100)) is None


def test_tx_profile_overrides_tx_default_only_for_its_transaction() -> None:
    """1.6 §3.13.3: TxProfile overrules TxDefaultProfile for its transaction."""
    default = profile(1, TX_DEFAULT, [(0, 32)], level=3)
    tx = profile(2, TX, [(0, 12)], level=0, tx="42")
    both = [(1, default), (1, tx)]
    assert limit_at(both, 1, T0, transaction_id="42") == Period(0, 12)
    assert limit_at(both, 1, T0, transaction_id="43") == Period(0, 32)
    assert limit_at(both, 1, T0) == Period(0, 32)  # no transaction: TxDefault


def test_tx_profile_without_transaction_id_applies_to_the_running_one() -> None:
    tx = profile(2, TX, [(0, 12)], tx=None)
    assert limit_at([(1, tx)], 1, T0, transaction_id="7") == Period(0, 12)
    assert limit_at([(1, tx)], 1, T0) is None


def test_tx_default_on_evse_0_applies_to_every_evse_and_specific_overrides() -> None:
    all_evses = profile(1, TX_DEFAULT, [(0, 20)], level=9)
    on_two = profile(2, TX_DEFAULT, [(0, 25)], level=0)
    installed = [(0, all_evses), (2, on_two)]
    assert limit_at(installed, 1, T0) == Period(0, 20)
    assert limit_at(installed, 2, T0) == Period(0, 25)


def test_result_is_minimum_over_station_max_external_and_tx() -> None:
    """2.0.1 "Combining Charging Profile Purposes": the lowest limit wins."""
    tx_default = profile(1, TX_DEFAULT, [(0, 32), (600, 10)])
    station_max = profile(2, STATION_MAX, [(0, 20)])
    external = profile(3, EXTERNAL, [(0, 40), (300, 16), (900, 40)])
    installed = [(1, tx_default), (0, station_max), (0, external)]
    s = composite_schedule(installed, 1, T0, 1200)
    assert limits(s) == [(0, 20), (300, 16), (600, 10)]


def test_external_constraints_on_the_evse_itself() -> None:
    external = profile(3, EXTERNAL, [(0, 6)])
    assert limit_at([(1, external)], 1, T0) == Period(0, 6)
    assert limit_at([(1, external)], 2, T0) is None


def test_evse_0_composite_is_the_grid_connection() -> None:
    station_max = profile(2, STATION_MAX, [(0, 63)])
    tx = profile(3, TX, [(0, 10)])
    s = composite_schedule([(0, station_max), (1, tx)], 0, T0, 60, transaction_id="1")
    assert limits(s) == [(0, 63)]


def test_daily_recurring_across_midnight() -> None:
    """1.6 §3.13.4: a Daily schedule restarts every 24 h from startSchedule."""
    # From 22:00: 8 A for 4 h (across midnight), then 32 A.
    night = profile(
        1,
        TX_DEFAULT,
        [(0, 8), (4 * 3600, 32)],
        kind="Recurring",
        recurrency="Daily",
        start=dt.datetime(2026, 1, 1, 22, 0, tzinfo=dt.UTC),
    )
    start = dt.datetime(2026, 12, 7, 21, 0, tzinfo=dt.UTC)
    s = composite_schedule([(1, night)], 1, start, 6 * 3600)
    assert limits(s) == [(0, 32), (3600, 8), (5 * 3600, 32)]


def test_weekly_recurring_across_the_week_boundary() -> None:
    # Sundays 12:00 for 24 h: 0 A (the site is closed), else 16 A.
    sunday = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    weekly = profile(
        1,
        STATION_MAX,
        [(0, 0), (86_400, 16)],
        kind="Recurring",
        recurrency="Weekly",
        start=sunday - dt.timedelta(weeks=10),
    )
    start = sunday - dt.timedelta(hours=1)
    s = composite_schedule([(0, weekly)], 1, start, 26 * 3600)
    assert limits(s) == [(0, 16), (3600, 0), (25 * 3600, 16)]


def test_relative_profile_counts_from_the_transaction_start() -> None:
    rel = profile(1, TX, [(0, 32), (1800, 16)], kind="Relative", start=None)
    started = at(-1200)
    s = composite_schedule([(1, rel)], 1, T0, 1200, transaction_id="9", transaction_start=started)
    assert limits(s) == [(0, 32), (600, 16)]


def test_relative_without_transaction_counts_from_start() -> None:
    rel = profile(1, TX_DEFAULT, [(0, 10), (60, 20)], kind="Relative", start=None)
    s = composite_schedule([(1, rel)], 1, at(5000), 120)
    assert limits(s) == [(0, 10), (60, 20)]


def test_unit_conversion_amps_to_watts_and_back() -> None:
    amps = profile(1, TX_DEFAULT, [(0, 16)])  # 3 phases assumed
    watts = profile(2, STATION_MAX, [(0, 7360)], unit="W")  # 10.67 A on 3 phases
    assert limit_at([(1, amps)], 1, T0, unit="W") == Period(0, 16 * 230 * 3)
    both = [(1, amps), (0, watts)]
    got = limit_at(both, 1, T0, unit="A")
    assert got is not None and got.limit == round(7360 / 690, 3)
    s = composite_schedule(both, 1, T0, 60)  # mixed units: A
    assert s.unit == "A"


def test_number_phases_converts_and_is_carried() -> None:
    one_phase = profile(1, TX_DEFAULT, [(0, 32, 1)])
    s = composite_schedule([(1, one_phase)], 1, T0, 60, unit="W")
    assert s.periods == (Period(0, 32 * 230, 1),)
    limit = limit_at([(1, one_phase), (0, profile(2, STATION_MAX, [(0, 20, 3)]))], 1, T0)
    assert limit == Period(0, 20, 1)  # lowest current, fewest phases


def test_equal_consecutive_periods_are_merged() -> None:
    a = profile(1, TX_DEFAULT, [(0, 16), (300, 16), (600, 20)])
    b = profile(2, STATION_MAX, [(0, 16)], start=at(600))
    s = composite_schedule([(1, a), (0, b)], 1, T0, 900)
    assert limits(s) == [(0, 16)]


def test_wire_profiles_of_both_versions_compose() -> None:
    v16 = from_v16(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "startSchedule": "2026-12-07T10:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 24}],
            },
        }
    )
    v201 = from_v201(
        {
            "id": 2,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": [
                {
                    "id": 1,
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [
                        {"startPeriod": 0, "limit": 32},
                        {"startPeriod": 60, "limit": 8},
                    ],
                }
            ],
        }
    )
    s = composite_schedule([(0, v16), (1, v201)], 1, T0, 120)
    assert limits(s) == [(0, 24), (60, 8)]
