"""The running cost kept reading by reading (I02/I03 totalCost in every
TransactionEventResponse) equals the cost computed from every reading: the
readings it drops cannot change the Breakdown."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tariffs.tariffs import CITY as CITY_DOC
from volta.blocks.tariffs.cost import Reading, RunningCost, Timeline, compute
from volta.blocks.tariffs.model import Tariff

CITY = Tariff.from_dict(CITY_DOC)
# A Friday afternoon: the 17:00 Europe/Berlin peak starts within the session.
START = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.UTC)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[list[Reading], dt.datetime, bool]:
    steps = draw(
        st.lists(
            st.tuples(st.integers(1, 1800), st.sampled_from([0, 0, 5, 40, 300])),
            min_size=0,
            max_size=60,
        )
    )
    t, wh = START, D("1000.000")
    readings = [Reading(t, wh)]
    for seconds, energy in steps:
        t += dt.timedelta(seconds=seconds)
        wh += energy
        readings.append(Reading(t, wh))
    now = t + dt.timedelta(seconds=draw(st.integers(0, 3600)))
    return readings, now, draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(sessions())
def test_running_cost_equals_the_cost_of_every_reading(session) -> None:
    readings, now, charging = session
    running = RunningCost(CITY, START, readings[:1])
    for reading in readings[1:]:
        running.add(reading)
    assert running.exact
    whole = compute(CITY, Timeline(START, now, tuple(readings), charging))
    assert running.breakdown(now, still_charging=charging) == whole
    # The readings kept do not grow with a steady session under one price.
    assert len(running.readings) <= len(readings)


def test_a_steady_session_keeps_a_few_readings() -> None:
    """10,000 periodic readings of a session under one price keep O(1)."""
    flat = Tariff.from_dict({**CITY_DOC, "periods": []})
    running = RunningCost(flat, START, [Reading(START, D("0.000"))])
    for n in range(1, 10_001):
        running.add(Reading(START + dt.timedelta(seconds=10 * n), D(30 * n)))
    assert len(running.readings) <= 3
    end = START + dt.timedelta(seconds=100_000)
    every = [Reading(START + dt.timedelta(seconds=10 * n), D(30 * n)) for n in range(10_001)]
    assert running.breakdown(end, still_charging=True) == compute(
        flat, Timeline(START, end, tuple(every), True)
    )


def test_a_reading_going_back_makes_it_inexact() -> None:
    running = RunningCost(CITY, START, [Reading(START, D(100))])
    running.add(Reading(START + dt.timedelta(minutes=1), D(90)))
    assert not running.exact
