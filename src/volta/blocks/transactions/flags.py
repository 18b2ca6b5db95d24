"""Plausibility flags on a stored transaction.

Volta answers every transaction message a station sends (refusing one only
makes the station retry it forever, OCPP 1.6 §4.10 / 2.0.1 E01), so values
that cannot be right are stored as sent and flagged for the operator rather
than refused. A transaction keeps both clocks: the station's (`started_at`,
`stopped_at`) and Volta's (`created_at` when the start arrived, `updated_at`
when the stop arrived), so a station whose clock is wrong shows as such.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

# Before OCPP existed: a station whose clock was never set (1970) or reset.
EARLIEST_PLAUSIBLE = dt.datetime(2010, 1, 1, tzinfo=dt.UTC)
# A station clock may run ahead of Volta's; more than this is not drift.
MAX_CLOCK_AHEAD = dt.timedelta(minutes=15)

METER_STOP_BELOW_START = "meter_stop_below_start"
START_TIME_IMPLAUSIBLE = "start_time_implausible"
STOP_TIME_IMPLAUSIBLE = "stop_time_implausible"
STOPPED_BEFORE_STARTED = "stopped_before_started"


def _implausible(station_time: dt.datetime | None, received_at: dt.datetime | None) -> bool:
    if station_time is None:
        return False
    if station_time < EARLIEST_PLAUSIBLE:
        return True
    return received_at is not None and station_time > received_at + MAX_CLOCK_AHEAD


def transaction_flags(tx: Mapping[str, Any]) -> list[str]:
    """What is wrong with a transaction row, as stable flag names."""
    flags = []
    start, stop = tx.get("meter_start_wh"), tx.get("meter_stop_wh")
    if start is not None and stop is not None and stop < start:
        flags.append(METER_STOP_BELOW_START)
    if _implausible(tx.get("started_at"), tx.get("created_at")):
        flags.append(START_TIME_IMPLAUSIBLE)
    stopped = tx.get("stopped_at")
    if tx.get("status") == "Ended" and _implausible(stopped, tx.get("updated_at")):
        flags.append(STOP_TIME_IMPLAUSIBLE)
    started = tx.get("started_at")
    if started is not None and stopped is not None and stopped < started:
        flags.append(STOPPED_BEFORE_STARTED)
    return flags
