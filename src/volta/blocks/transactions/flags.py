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
# Register readings (Energy.Active.Import.Register, Wh) of a transaction:
REGISTER_BACKWARDS = "register_backwards"  # lower than an earlier reading
REGISTER_JUMP = "register_jump"  # more energy than MAX_POWER_W could deliver in between
OUT_OF_ORDER = "out_of_order"  # arrived after a reading with a later timestamp

# No charger delivers more: 1 MW (megawatt charging is 3.75 MW; raise if needed).
MAX_POWER_W = 1_000_000.0
# A reading may jump this much whatever the time between (rounding, meter resolution).
JUMP_SLACK_WH = 1_000.0


def _implausible(station_time: dt.datetime | None, received_at: dt.datetime | None) -> bool:
    if station_time is None:
        return False
    if station_time < EARLIEST_PLAUSIBLE:
        return True
    return received_at is not None and station_time > received_at + MAX_CLOCK_AHEAD


def meter_value_flags(values: list[Mapping[str, Any]]) -> dict[int, list[str]]:
    """Flags of a transaction's register readings, by meter value id. They
    are stored as sent; the energy of the session uses the highest reading
    (a reading that goes back does not take energy away) and tariffs bill
    none of a backwards step."""
    registers = [
        v
        for v in values
        if v.get("measurand") == "Energy.Active.Import.Register"
        and v.get("unit") == "Wh"
        and v.get("phase") is None
    ]
    flags: dict[int, list[str]] = {}
    # Out of order: by arrival (id), a timestamp earlier than one seen before.
    latest: dt.datetime | None = None
    for v in sorted(registers, key=lambda v: v["id"]):
        if latest is not None and v["timestamp"] < latest:
            flags.setdefault(v["id"], []).append(OUT_OF_ORDER)
        latest = v["timestamp"] if latest is None else max(latest, v["timestamp"])
    # Backwards and jumps: in time order.
    previous: Mapping[str, Any] | None = None
    for v in sorted(registers, key=lambda v: (v["timestamp"], v["id"])):
        if previous is not None:
            step = v["value"] - previous["value"]
            seconds = (v["timestamp"] - previous["timestamp"]).total_seconds()
            if step < 0:
                flags.setdefault(v["id"], []).append(REGISTER_BACKWARDS)
            elif step > JUMP_SLACK_WH + MAX_POWER_W * max(seconds, 0.0) / 3600.0:
                flags.setdefault(v["id"], []).append(REGISTER_JUMP)
        previous = v
    return flags


def transaction_flags(tx: Mapping[str, Any]) -> list[str]:
    """What is wrong with a transaction row, as stable flag names (with its
    meter values when the row carries them)."""
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
    values = tx.get("meter_values")
    if values:
        seen = {f for per_value in meter_value_flags(values).values() for f in per_value}
        flags.extend(f for f in (REGISTER_BACKWARDS, REGISTER_JUMP, OUT_OF_ORDER) if f in seen)
    return flags
