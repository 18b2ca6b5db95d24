"""Session costs under tariffs, against hand-computed expectations (OCPP 2.0.1
block I: the cost the CSMS computes for I02 running and I03 final totals).

No database: the cost is a pure function of a tariff and a timeline. Times are
UTC; the tariff's periods are read in Europe/Berlin (UTC+1 in November).
2026-11-20 is a Friday, 2026-11-21 a Saturday.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from tests.tariffs.tariffs import CITY as CITY_DOC
from volta.blocks.tariffs.cost import Reading, Timeline, compute, round_half_up
from volta.blocks.tariffs.model import Tariff, TariffError

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def readings(*points: tuple[dt.datetime, int]) -> tuple[Reading, ...]:
    return tuple(Reading(t, D(wh)) for t, wh in points)


CITY = Tariff.from_dict(CITY_DOC)


def test_i03_final_cost_crossing_into_peak_with_idle_fee_after_grace():
    """Friday 16:30-19:00 local. 5 kWh off-peak in 30 min; 13 kWh in peak over
    90 min; charging ends 18:30 local, plugged in 30 more minutes (15 billed)."""
    b = compute(
        CITY,
        Timeline(
            start=at(20, 15, 30),
            end=at(20, 18, 0),
            readings=readings(
                (at(20, 15, 30), 0),
                (at(20, 16, 0), 5000),
                (at(20, 17, 0), 15000),
                (at(20, 17, 30), 18000),
                (at(20, 18, 0), 18000),
            ),
        ),
    )
    assert [(line.period, line.energy_wh, line.charging_minutes) for line in b.lines] == [
        ("base", D("5000.000"), D("30.0000")),
        ("peak", D("13000.000"), D("90.0000")),
    ]
    # base: 5 kWh x 0.30 = 1.50; 30 min x 0.02 = 0.60
    # peak: 13 kWh x 0.45 = 5.85; 90 min x 0.05 = 4.50
    assert [(line.energy_amount, line.time_amount) for line in b.lines] == [
        (D("1.50"), D("0.60")),
        (D("5.85"), D("4.50")),
    ]
    assert b.charging_end == at(20, 17, 30)
    assert b.idle_minutes == D("30.0000")
    assert b.billed_idle_minutes == D("15.0000")
    assert b.idle_amount == D("1.50")  # 15 min x 0.10
    assert b.session_fee == D("1.00")
    assert b.energy_amount == D("7.35")
    assert b.time_amount == D("5.10")
    assert b.subtotal == D("14.95")
    assert b.tax == D("2.84")  # 14.95 x 19% = 2.8405
    assert b.total == D("17.79")
    assert b.energy_wh == D("18000.000")


def test_reading_interval_across_a_period_boundary_is_split_by_time():
    """6 kWh between 16:45 and 17:15 local: half before 17:00, half after."""
    b = compute(
        CITY,
        Timeline(
            start=at(20, 15, 45),
            end=at(20, 16, 15),
            readings=readings((at(20, 15, 45), 1000), (at(20, 16, 15), 7000)),
        ),
    )
    assert [(line.period, line.energy_wh) for line in b.lines] == [
        ("base", D("3000.000")),
        ("peak", D("3000.000")),
    ]
    # 3 x 0.30 + 15 x 0.02 + 3 x 0.45 + 15 x 0.05 + fee 1.00, no idle
    assert b.subtotal == D("0.90") + D("0.30") + D("1.35") + D("0.75") + D("1.00")
    assert b.idle_amount == D("0.00")
    assert b.total == D("5.12")  # 4.30 + tax 0.817 -> 0.82


def test_weekend_price_all_day():
    """Saturday 11:00-12:00 local, 20 kWh, charging to the end."""
    b = compute(
        CITY,
        Timeline(
            start=at(21, 10),
            end=at(21, 11),
            readings=readings((at(21, 10), 0), (at(21, 11), 20000)),
        ),
    )
    assert [line.period for line in b.lines] == ["weekend"]
    assert b.energy_amount == D("5.00")  # 20 x 0.25
    assert b.time_amount == D("1.20")  # weekend keeps the base price per minute
    assert b.subtotal == D("7.20")
    assert b.tax == D("1.37")  # 1.368
    assert b.total == D("8.57")


def test_friday_evening_into_saturday_crosses_three_periods():
    """Friday 20:00 local to Saturday 01:00 local at a steady 6 kW."""
    b = compute(
        CITY,
        Timeline(
            start=at(20, 19),
            end=at(21, 0),
            readings=readings((at(20, 19), 0), (at(21, 0), 30000)),
        ),
    )
    assert [(line.period, line.energy_wh, line.charging_minutes) for line in b.lines] == [
        ("peak", D("6000.000"), D("60.0000")),
        ("base", D("18000.000"), D("180.0000")),
        ("weekend", D("6000.000"), D("60.0000")),
    ]
    assert [(line.energy_amount, line.time_amount) for line in b.lines] == [
        (D("2.70"), D("3.00")),
        (D("5.40"), D("3.60")),
        (D("1.50"), D("1.20")),
    ]
    assert b.subtotal == D("18.40")  # 17.40 + fee 1.00


def test_idle_within_grace_is_free_and_grace_is_per_session():
    tariff = Tariff.from_dict(
        {
            "name": "idle",
            "currency": "EUR",
            "price_idle_minute": "0.20",
            "idle_grace_minutes": "10",
        }
    )
    points = readings((at(20, 10), 0), (at(20, 10, 20), 4000), (at(20, 10, 30), 4000))
    within = compute(tariff, Timeline(at(20, 10), at(20, 10, 30), points))
    assert within.idle_minutes == D("10.0000")
    assert within.idle_amount == D("0.00")
    after = compute(tariff, Timeline(at(20, 10), at(20, 10, 45, 30), points))
    assert after.idle_minutes == D("25.5000")
    assert after.billed_idle_minutes == D("15.5000")
    assert after.idle_amount == D("3.10")
    assert after.total == D("3.10")


def test_i02_running_cost_while_still_charging_has_no_idle():
    tariff = Tariff.from_dict(
        {"name": "t", "currency": "EUR", "price_minute": "0.10", "price_idle_minute": "1"}
    )
    points = readings((at(20, 10), 0), (at(20, 10, 10), 2000))
    running = compute(tariff, Timeline(at(20, 10), at(20, 10, 30), points, still_charging=True))
    assert running.charging_minutes == D("30.0000")
    assert running.idle_minutes == D("0.0000")
    assert running.total == D("3.00")
    # The same readings once the station no longer charges: 20 min idle.
    stopped = compute(tariff, Timeline(at(20, 10), at(20, 10, 30), points))
    assert stopped.charging_minutes == D("10.0000")
    assert stopped.idle_amount == D("20.00")


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (D("0.005"), 2, D("0.01")),
        (D("0.0049999"), 2, D("0.00")),
        (D("0.015"), 2, D("0.02")),
        (D("0.025"), 2, D("0.03")),  # half-up, not half-even
        (D("2.5"), 0, D("3")),
        (D("1.0005"), 3, D("1.001")),
        (D("0"), 2, D("0.00")),
    ],
)
def test_round_half_up(value, digits, expected):
    result = round_half_up(value, digits)
    assert result == expected
    assert result.as_tuple().exponent == -digits


def test_rounding_edges_each_line_then_tax_on_rounded_subtotal():
    """0.5 kWh x 0.01 = 0.005 -> 0.01; 90 s x 0.01/min = 0.015 -> 0.02;
    tax 10% of 0.03 = 0.003 -> 0.00 (on the rounded subtotal)."""
    tariff = Tariff.from_dict(
        {
            "name": "tiny",
            "currency": "EUR",
            "price_kwh": "0.01",
            "price_minute": "0.01",
            "tax_percent": "10",
        }
    )
    b = compute(
        tariff,
        Timeline(
            at(20, 10), at(20, 10, 1, 30), readings((at(20, 10), 0), (at(20, 10, 1, 30), 500))
        ),
    )
    assert b.energy_amount == D("0.01")
    assert b.time_amount == D("0.02")
    assert b.subtotal == D("0.03")
    assert b.tax == D("0.00")
    assert b.total == D("0.03")
    # 50% tax of 0.01 = 0.005 -> 0.01
    half = Tariff.from_dict(
        {"name": "h", "currency": "EUR", "session_fee": "0.01", "tax_percent": "50"}
    )
    assert compute(half, Timeline(at(20, 10), at(20, 10), ())).total == D("0.02")


def test_currency_without_minor_unit_rounds_to_whole_yen():
    tariff = Tariff.from_dict(
        {"name": "jp", "currency": "JPY", "price_kwh": "33.5", "tax_percent": "10"}
    )
    b = compute(
        tariff, Timeline(at(20, 10), at(20, 11), readings((at(20, 10), 0), (at(20, 11), 1000)))
    )
    assert b.energy_amount == D("34")  # 33.5 half-up
    assert b.tax == D("3")  # 3.4
    assert b.total == D("37")


def test_register_going_back_is_not_billed():
    tariff = Tariff.from_dict({"name": "t", "currency": "EUR", "price_kwh": "1"})
    b = compute(
        tariff,
        Timeline(
            at(20, 10),
            at(20, 11),
            readings((at(20, 10), 1000), (at(20, 10, 30), 500), (at(20, 11), 1500)),
        ),
    )
    assert b.energy_wh == D("1000.000")
    assert b.total == D("1.00")


def test_period_past_midnight_belongs_to_its_start_day():
    tariff = Tariff.from_dict(
        {
            "name": "night",
            "currency": "EUR",
            "price_kwh": "0.40",
            "timezone": "Europe/Berlin",
            "periods": [
                {"days": ["FRIDAY"], "start": "22:00", "end": "06:00", "price_kwh": "0.10"}
            ],
        }
    )
    assert tariff.period_at(at(21, 2)) == 0  # Saturday 03:00 local
    assert tariff.period_at(at(20, 2)) is None  # Friday 03:00 local: Thursday has none
    assert tariff.period_at(at(20, 21)) == 0  # Friday 22:00 local
    assert tariff.period_at(at(21, 5)) is None  # Saturday 06:00 local


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "euro"}, "currency"),
        ({"price_kwh": "-1"}, "price_kwh"),
        ({"price_kwh": 0.3}, "not floats"),
        ({"price_kwh": "abc"}, "price_kwh"),
        ({"tax_percent": "101"}, "tax_percent"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"periods": [{"days": ["FUNDAY"], "price_kwh": "1"}]}, "periods[0].days"),
        ({"periods": [{"start": "25:00", "price_kwh": "1"}]}, "periods[0].start"),
        ({"periods": [{"start": "10:00", "end": "10:00", "price_kwh": "1"}]}, "periods[0]"),
        ({"periods": [{"start": "10:00"}]}, "price_kwh, price_minute"),
        ({"colour": "red"}, "unknown fields"),
    ],
)
def test_bad_tariffs_are_refused_with_the_field_named(change, message):
    data = {"name": "x", "currency": "EUR"} | change
    with pytest.raises(TariffError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Tariff.from_dict(data)


def test_tariff_document_round_trips():
    assert Tariff.from_dict(CITY.to_dict()) == CITY


NIGHT_HOUR = Tariff.from_dict(
    {
        "name": "02:00 hour",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "periods": [{"name": "two", "start": "02:00", "end": "03:00", "price_kwh": "1.00"}],
    }
)


def steady(start: dt.datetime, hours: int) -> Timeline:
    """1 kWh an hour from `start` for `hours` hours."""
    end = start + dt.timedelta(hours=hours)
    return Timeline(start, end, readings((start, 0), (end, hours * 1000)))


def test_period_on_the_night_clocks_go_back_is_two_hours_long():
    """2026-10-25: local 02:00-03:00 happens twice (CEST, then CET), i.e.
    00:00-02:00 UTC."""
    b = compute(NIGHT_HOUR, steady(dt.datetime(2026, 10, 24, 23, tzinfo=UTC), 4))
    assert [(line.period, line.energy_wh) for line in b.lines] == [
        ("base", D("1000.000")),
        ("two", D("2000.000")),
        ("base", D("1000.000")),
    ]
    assert b.total == D("2.00")


def test_period_on_the_night_clocks_go_forward_does_not_happen():
    """2026-03-29: local 02:00-03:00 does not exist."""
    b = compute(NIGHT_HOUR, steady(dt.datetime(2026, 3, 28, 23, tzinfo=UTC), 4))
    assert [line.period for line in b.lines] == ["base"]
    assert b.total == D("0.00")
