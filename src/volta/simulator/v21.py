"""A simulated OCPP 2.1 charging station: the 2.0.1 station's behaviour on
2.1's schemas (it boots with the ocpp2.1 subprotocol), plus what 2.1 adds:

- transaction limits (`transactionLimit` in TransactionEventResponse):
  held and enforced locally, the session stopped with the limit's trigger
  and stopped reasons, the limit held reported in `transactionInfo`;
- local cost calculation (I07-I12): a tariff from SetDefaultTariff,
  AuthorizeResponse.tariff or ChangeTransactionTariff prices the session
  at the station; the running cost goes out in Updated events
  (triggerReason RunningCost) and the final cost in the Ended event's
  `costDetails`;
- discharging (V2X): a 2.1 charging profile whose period has a negative
  setpoint (CentralSetpoint / ExternalSetpoint) makes a V2X car feed
  back: Power.Active.Export and Energy.Active.Export.Register in the meter
  values; a V2X car sends NotifyEVChargingNeeds with v2xChargingParameters;
- a payment terminal (C18): the driver pays by card, the transaction
  starts with an idToken of type DirectPayment (the PSP reference), and
  NotifySettlement reports the amount settled when the session ends;
- periodic event streams (2.1): a Periodic monitor set with
  `periodicEventStream` opens a stream (OpenPeriodicEventStream) whose
  values go out as NotifyPeriodicEventStream SENDs, bounded;
- answers to every CSMS-initiated 2.1 action (tariffs, DER control,
  dynamic schedules, AFRR, priority charging, battery swap, web payment,
  event streams) as a real charger would.

The simulator runs only while connected: a session the connection cuts
short ends at the next boot (as for 1.6 / 2.0.1); the limits are checked at
the station, without asking the CSMS.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from volta.ocpp.charging import TX, from_v201
from volta.ocpp.times import format_timestamp, parse_timestamp
from volta.simulator import drawing, monitoring, v201
from volta.simulator.dialect import AnswerTable, Payload
from volta.simulator.ev import NOMINAL_V, Car

if TYPE_CHECKING:
    from volta.simulator.station import Connector, SimulatedStation

log = logging.getLogger(__name__)

table = AnswerTable()
# Every 2.0.1 answer (and follow-up) holds on 2.1's schemas; 2.1's own and
# the few 2.1 spells differently are registered below (overriding).
table.answers.update(v201.table.answers)
table.follow_ups.update(v201.table.follow_ups)

# How often a session's limits, cost, export and streams are looked at.
TICK = 0.2
# Periodic event streams: at most this many open, points per message, and
# points buffered (older ones dropped) - a stream never grows unbounded.
MAX_STREAMS = 5
MAX_STREAM_VALUES = 100
MAX_STREAM_BUFFER = 500
# A V2X car feeds back down to this state of charge, not below.
MIN_DISCHARGE_SOC = 20.0
# 2.0.1 purposes the profile store (and the composite schedule) knows; 2.1's
# PriorityCharging and LocalGeneration profiles are kept beside them.
STORE_PURPOSES = frozenset(
    {"ChargingStationExternalConstraints", "ChargingStationMaxProfile", "TxDefaultProfile", TX}
)
SETPOINT_MODES = frozenset({"CentralSetpoint", "ExternalSetpoint"})

# The limit reached: (triggerReason, stoppedReason), per TransactionLimitType field.
LIMIT_REASONS = {
    "maxEnergy": ("EnergyLimitReached", "EnergyLimitReached"),
    "maxTime": ("TimeLimitReached", "TimeLimitReached"),
    "maxSoC": ("SoCLimitReached", "SOCLimitReached"),
    # ReasonEnumType has no cost limit: the driver's money ran out.
    "maxCost": ("CostLimitReached", "LocalOutOfCredit"),
}
_STOP_TRIGGERS = {
    "Remote": "RemoteStop",
    "ImmediateReset": "ResetCommand",
    "Reboot": "AbnormalCondition",
    "DeAuthorized": "Deauthorized",
    **{stopped: trigger for trigger, stopped in LIMIT_REASONS.values()},
}
# SetDERControl: the request's field for each control type.
_CURVES = frozenset(
    {
        "FreqWatt", "HFMustTrip", "HFMayTrip", "HVMustTrip", "HVMomCess", "HVMayTrip",
        "LFMustTrip", "LVMustTrip", "LVMomCess", "LVMayTrip", "PowerMonitoringMustTrip",
        "VoltVar", "VoltWatt", "WattPF", "WattVar",
    }
)  # fmt: skip
_DER_FIELD = {
    "EnterService": "enterService",
    "FixedPFAbsorb": "fixedPFAbsorb",
    "FixedPFInject": "fixedPFInject",
    "FixedVar": "fixedVar",
    "FreqDroop": "freqDroop",
    "Gradients": "gradient",
    "LimitMaxDischarge": "limitMaxDischarge",
    **{t: "curve" for t in _CURVES},
}


# -- what a 2.1 station keeps --------------------------------------------------------


@dataclass
class Usage:
    energy_wh: float = 0.0
    charging_s: float = 0.0  # energy flowed
    idle_s: float = 0.0  # plugged in, none flowed

    def minus(self, other: Usage) -> Usage:
        return Usage(
            self.energy_wh - other.energy_wh,
            self.charging_s - other.charging_s,
            self.idle_s - other.idle_s,
        )


@dataclass
class Session:
    transaction_id: str
    start_wh: float
    started: float  # monotonic
    id_token: Payload
    limit: Payload = field(default_factory=dict)  # the transactionLimit held
    tariff: Payload | None = None
    # Cost of the tariffs before a ChangeTransactionTariff, and the usage then.
    banked: dict[str, float] = field(default_factory=dict)
    tariff_from: Usage = field(default_factory=Usage)
    usage: Usage = field(default_factory=Usage)
    stop_trigger: str | None = None
    psp_ref: str | None = None  # paid at the payment terminal
    allowed_transfer: list[str] = field(default_factory=list)
    priority: bool = False
    central_cost: float | None = None  # CostUpdated: the CSMS's running cost


@dataclass
class Stream:
    id: int
    monitor_id: int
    key: monitoring.Key
    interval: int
    values: int
    buffer: list[tuple[float, str]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass
class State:
    default_tariffs: dict[int, Payload] = field(default_factory=dict)  # evse (0: all)
    driver_tariffs: dict[str, Payload] = field(default_factory=dict)  # by id token
    sessions: dict[int, Session] = field(default_factory=dict)  # by EVSE
    export_wh: dict[int, float] = field(default_factory=dict)  # by EVSE
    # 2.1 charging profiles as received: id -> (evse, profile, installed at).
    profiles: dict[int, tuple[int, Payload, dt.datetime]] = field(default_factory=dict)
    der: dict[str, Payload] = field(default_factory=dict)  # controlId -> request
    streams: dict[int, Stream] = field(default_factory=dict)
    afrr_signal: int | None = None
    web_payments: dict[int, float] = field(default_factory=dict)  # evse -> until (monotonic)
    next_stream: int = 1


_states: weakref.WeakKeyDictionary[SimulatedStation, State] = weakref.WeakKeyDictionary()


def state(st: SimulatedStation) -> State:
    found = _states.get(st)
    if found is None:
        found = _states[st] = State()
    return found


def _status(status: str, reason: str | None = None) -> Payload:
    out: Payload = {"status": status}
    if reason:
        out["statusInfo"] = {"reasonCode": reason}
    return out


def _session_of(st: SimulatedStation, tx: str) -> tuple[Connector, Session] | None:
    c = st.by_transaction(tx)
    s = state(st).sessions.get(c.id) if c is not None else None
    if c is None or s is None or s.transaction_id != tx:
        return None
    return c, s


# -- local cost (I07-I12) ------------------------------------------------------------


def _tax(block: Payload | None) -> float:
    return sum(float(t["tax"]) for t in (block or {}).get("taxRates") or [])


def _first_price(block: Payload | None, key: str) -> float:
    prices = (block or {}).get("prices") or []
    return float(prices[0][key]) if prices else 0.0


def _has_conditions(tariff: Payload) -> bool:
    """Conditions this station does not evaluate (it prices flat)."""
    for name in ("energy", "chargingTime", "idleTime", "fixedFee"):
        for price in (tariff.get(name) or {}).get("prices") or []:
            if price.get("conditions"):
                return True
    return False


def _amount(excl: float, tax_pct: float) -> Payload:
    return {"exclTax": round(excl, 2), "inclTax": round(excl * (1 + tax_pct / 100.0), 2)}


def _dimensions(tariff: Payload, usage: Usage, *, fixed: bool) -> dict[str, Payload]:
    out: dict[str, Payload] = {}
    if fixed and tariff.get("fixedFee"):
        out["fixed"] = _amount(
            _first_price(tariff["fixedFee"], "priceFixed"), _tax(tariff["fixedFee"])
        )
    if tariff.get("energy"):
        price = _first_price(tariff["energy"], "priceKwh")
        out["energy"] = _amount(usage.energy_wh / 1000.0 * price, _tax(tariff["energy"]))
    for name, seconds in (("chargingTime", usage.charging_s), ("idleTime", usage.idle_s)):
        if tariff.get(name):
            price = _first_price(tariff[name], "priceMinute")
            out[name] = _amount(seconds / 60.0 * price, _tax(tariff[name]))
    return out


def cost_details(s: Session) -> Payload | None:
    """CostDetailsType of the session so far (None without a tariff)."""
    tariff = s.tariff
    if tariff is None:
        return None
    dims = _dimensions(tariff, s.usage.minus(s.tariff_from), fixed=not s.banked)
    total_excl = sum(d["exclTax"] for d in dims.values()) + s.banked.get("exclTax", 0.0)
    total_incl = sum(d["inclTax"] for d in dims.values()) + s.banked.get("inclTax", 0.0)
    type_of_cost = "NormalCost"
    for bound, kind in (("minCost", "MinCost"), ("maxCost", "MaxCost")):
        limit = tariff.get(bound)
        if not limit or "exclTax" not in limit:
            continue
        value = float(limit["exclTax"])
        if (kind == "MinCost" and total_excl < value) or (kind == "MaxCost" and total_excl > value):
            ratio = total_incl / total_excl if total_excl else 1.0 + _tax(limit) / 100.0
            total_excl, total_incl, type_of_cost = value, value * ratio, kind
    total_cost: Payload = {
        "currency": tariff["currency"],
        "typeOfCost": type_of_cost,
        **dims,
        "total": {"exclTax": round(total_excl, 2), "inclTax": round(total_incl, 2)},
    }
    return {
        "totalCost": total_cost,
        "totalUsage": {
            "energy": round(s.usage.energy_wh, 1),
            "chargingTime": int(s.usage.charging_s + s.usage.idle_s),
            "idleTime": int(s.usage.idle_s),
        },
        "chargingPeriods": [
            {
                "tariffId": tariff["tariffId"],
                "startPeriod": format_timestamp(dt.datetime.now(dt.UTC)),
                "dimensions": [{"type": "Energy", "volume": round(s.usage.energy_wh, 1)}],
            }
        ],
    }


def _total(s: Session) -> float:
    details = cost_details(s)
    return float(details["totalCost"]["total"]["inclTax"]) if details else 0.0


def _tariff_for(st: SimulatedStation, evse: int, token: str) -> Payload | None:
    m = state(st)
    return m.driver_tariffs.get(token) or m.default_tariffs.get(evse) or m.default_tariffs.get(0)


# -- discharging (V2X) ---------------------------------------------------------------


def _active_period(
    st: SimulatedStation, c: Connector, profile: Payload, installed: dt.datetime
) -> Payload | None:
    schedule = profile["chargingSchedule"][0]
    start = parse_timestamp(schedule.get("startSchedule"))
    if start is None:
        start = c.started_at if profile["chargingProfileKind"] == "Relative" else None
    start = start or installed
    elapsed = (dt.datetime.now(dt.UTC) - start).total_seconds()
    if elapsed < 0:
        return None
    if schedule.get("duration") is not None and elapsed >= schedule["duration"]:
        return None
    found = None
    for period in schedule["chargingSchedulePeriod"]:
        if period["startPeriod"] <= elapsed:
            found = period
    return found


def discharge_w(st: SimulatedStation, c: Connector) -> float:
    """The power a V2X car on `c` feeds back now (0: none): the period in force
    of the highest-stacked 2.1 profile on its EVSE or the station, when its
    operation mode is a setpoint and the setpoint negative."""
    car = c.car
    if car is None or c.transaction_id is None or not st.scenario.v2x:
        return 0.0
    if car.soc <= MIN_DISCHARGE_SOC:
        return 0.0
    best: tuple[int, Payload, dt.datetime] | None = None
    for evse, profile, installed in state(st).profiles.values():
        if evse not in (0, c.id) or profile["chargingProfilePurpose"] not in STORE_PURPOSES:
            continue
        if profile.get("transactionId") not in (None, c.transaction_id):
            continue
        if best is None or profile["stackLevel"] > best[0]:
            best = (profile["stackLevel"], profile, installed)
    if best is None:
        return 0.0
    period = _active_period(st, c, best[1], best[2])
    if period is None or period.get("operationMode") not in SETPOINT_MODES:
        return 0.0
    setpoint = float(period.get("setpoint", 0.0))
    if setpoint >= 0:
        return 0.0
    unit = best[1]["chargingSchedule"][0]["chargingRateUnit"]
    watts = -setpoint if unit == "W" else -setpoint * NOMINAL_V * car.phases
    return min(watts, car.max_power_w)


def _as_limits(st: SimulatedStation, profile: Payload) -> Payload:
    """The profile with a `limit` on every period, for the station's limit
    store: a setpoint is the limit, a negative setpoint or Idle none to draw,
    no limit the EVSE's rating."""
    out = copy.deepcopy(profile)
    for schedule in out["chargingSchedule"]:
        rating = st.scenario.max_current * (
            1.0 if schedule["chargingRateUnit"] == "A" else NOMINAL_V * 3
        )
        for period in schedule["chargingSchedulePeriod"]:
            if period.get("operationMode") == "Idle":
                period["limit"] = 0.0
            elif "limit" not in period:
                setpoint = period.get("setpoint")
                period["limit"] = rating if setpoint is None else max(0.0, float(setpoint))
    return out


# -- answers to the CSMS: 2.0.1's, as 2.1 spells them ------------------------------------


@table.on("SetChargingProfile")
def set_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    """K01 on 2.1: the profile may carry discharging periods (operationMode,
    setpoint, dischargeLimit; `limit` is optional); Priority charging and
    local generation profiles are held beside the limits."""
    profile = p["chargingProfile"]
    evse = p["evseId"]
    if evse != 0 and st.connector(evse) is None:
        return _status("Rejected", "UnknownEVSE")
    modes = {
        period.get("operationMode")
        for s in profile["chargingSchedule"]
        for period in s["chargingSchedulePeriod"]
    }
    discharging = any(
        float(period.get("setpoint", 0.0)) < 0 or float(period.get("dischargeLimit", 0.0)) < 0
        for s in profile["chargingSchedule"]
        for period in s["chargingSchedulePeriod"]
    )
    if discharging and not st.scenario.v2x:
        return _status("Rejected", "NoV2X")
    if modes - {None, "ChargingOnly", "Idle", *SETPOINT_MODES, "ExternalLimits"}:
        return _status("Rejected", "UnsupportedOperationMode")
    m = state(st)
    if profile["chargingProfilePurpose"] in STORE_PURPOSES:
        status = st.profiles.install(st, evse, from_v201(_as_limits(st, profile)))
        if status != "Accepted":
            return {"status": status}
        drawing.limits_changed(st, {evse})
    for pid, (e, old, _) in list(m.profiles.items()):
        same_slot = (e, old["chargingProfilePurpose"], old["stackLevel"]) == (
            evse,
            profile["chargingProfilePurpose"],
            profile["stackLevel"],
        )
        if pid == profile["id"] or same_slot:
            del m.profiles[pid]
    m.profiles[profile["id"]] = (evse, profile, dt.datetime.now(dt.UTC))
    return {"status": "Accepted"}


@table.on("ClearChargingProfile")
def clear_charging_profile(st: SimulatedStation, p: Payload) -> Payload:
    m = state(st)
    criteria = p.get("chargingProfileCriteria") or {}
    pid = p.get("chargingProfileId")
    answer = v201.clear_charging_profile(st, p)

    def matches(evse: int, profile: Payload) -> bool:
        if pid is not None:
            return bool(profile["id"] == pid)
        return (
            criteria.get("evseId") in (None, evse)
            and criteria.get("chargingProfilePurpose") in (None, profile["chargingProfilePurpose"])
            and criteria.get("stackLevel") in (None, profile["stackLevel"])
        )

    gone = [k for k, (e, prof, _) in m.profiles.items() if matches(e, prof)]
    for k in gone:
        del m.profiles[k]
    return {"status": "Accepted"} if gone else answer


@table.on("SetVariableMonitoring")
def set_variable_monitoring(st: SimulatedStation, p: Payload) -> Payload:
    return monitoring.set_variable_monitoring(st, p)


@table.after("SetVariableMonitoring")
async def open_streams(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """2.1: a Periodic monitor with `periodicEventStream` streams its values."""
    for item, result in zip(p["setMonitoringData"], answer["setMonitoringResult"], strict=False):
        params = item.get("periodicEventStream")
        if params is None or result["status"] != "Accepted":
            continue
        if item["type"] not in monitoring.PERIODIC:
            continue
        await _open_stream(st, result["id"], params)


@table.on("ClearVariableMonitoring")
def clear_variable_monitoring(st: SimulatedStation, p: Payload) -> Payload:
    return monitoring.clear_variable_monitoring(st, p)


@table.after("ClearVariableMonitoring")
async def close_streams(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    cleared = {r["id"] for r in answer["clearMonitoringResult"] if r["status"] == "Accepted"}
    for stream in list(state(st).streams.values()):
        if stream.monitor_id in cleared:
            await _close_stream(st, stream)


# -- answers to the CSMS: 2.1's own ---------------------------------------------------


def _tariff_problem(tariff: Payload) -> str | None:
    if _has_conditions(tariff):
        return "ConditionNotSupported"
    return None


@table.on("SetDefaultTariff")
def set_default_tariff(st: SimulatedStation, p: Payload) -> Payload:
    """I07: the tariff for sessions without a driver tariff, on an EVSE or
    (0) the whole station; the same id with other content is a duplicate."""
    evse, tariff = p["evseId"], p["tariff"]
    if evse != 0 and st.connector(evse) is None:
        return _status("Rejected", "UnknownEVSE")
    if problem := _tariff_problem(tariff):
        return _status(problem)
    m = state(st)
    for e, held in m.default_tariffs.items():
        if e != evse and held["tariffId"] == tariff["tariffId"] and held != tariff:
            return _status("DuplicateTariffId")
    m.default_tariffs[evse] = tariff
    return {"status": "Accepted"}


@table.on("GetTariffs")
def get_tariffs(st: SimulatedStation, p: Payload) -> Payload:
    """I10: the default tariffs of an EVSE (0: all) and the driver tariffs of
    its running sessions."""
    evse = p["evseId"]
    m = state(st)
    assignments: list[Payload] = []
    for e, tariff in sorted(m.default_tariffs.items()):
        if evse in (0, e) or e == 0:
            item: Payload = {"tariffId": tariff["tariffId"], "tariffKind": "DefaultTariff"}
            if e != 0:
                item["evseIds"] = [e]
            assignments.append(item)
    for e, s in sorted(m.sessions.items()):
        if evse in (0, e) and s.tariff is not None:
            if any(a["tariffId"] == s.tariff["tariffId"] for a in assignments):
                continue
            assignments.append(
                {
                    "tariffId": s.tariff["tariffId"],
                    "tariffKind": "DriverTariff",
                    "evseIds": [e],
                    "idTokens": [s.id_token["idToken"]],
                }
            )
    if not assignments:
        return {"status": "NoTariff"}
    return {"status": "Accepted", "tariffAssignments": assignments}


@table.on("ClearTariffs")
def clear_tariffs(st: SimulatedStation, p: Payload) -> Payload:
    """I11: default tariffs by id and/or EVSE; a running session keeps its own."""
    m = state(st)
    ids, evse = p.get("tariffIds"), p.get("evseId")
    results: list[Payload] = []
    cleared: set[str] = set()
    for e, tariff in list(m.default_tariffs.items()):
        if (ids is None or tariff["tariffId"] in ids) and evse in (None, e):
            del m.default_tariffs[e]
            cleared.add(tariff["tariffId"])
    for tid in ids or sorted(cleared):
        results.append({"tariffId": tid, "status": "Accepted" if tid in cleared else "NoTariff"})
    return {"clearTariffsResult": results or [{"status": "NoTariff"}]}


@table.on("ChangeTransactionTariff")
def change_transaction_tariff(st: SimulatedStation, p: Payload) -> Payload:
    """I12: a new tariff for a running session, from now on; the cost so
    far is kept; the currency may not change."""
    found = _session_of(st, p["transactionId"])
    if found is None:
        return _status("TxNotFound")
    _, s = found
    tariff = p["tariff"]
    if s.tariff is not None and s.tariff["currency"] != tariff["currency"]:
        return _status("NoCurrencyChange")
    if problem := _tariff_problem(tariff):
        return _status(problem)
    details = cost_details(s)
    if details is not None:
        s.banked = {
            "exclTax": details["totalCost"]["total"]["exclTax"],
            "inclTax": details["totalCost"]["total"]["inclTax"],
        }
    else:
        s.banked = {"exclTax": 0.0, "inclTax": 0.0}
    s.tariff_from = copy.copy(s.usage)
    s.tariff = tariff
    return {"status": "Accepted"}


@table.after("ChangeTransactionTariff")
async def report_tariff_change(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    found = _session_of(st, p["transactionId"])
    if answer["status"] == "Accepted" and found is not None:
        c, s = found
        await _updated(st, c, s, "TariffChanged")


@table.on("CostUpdated")
def cost_updated(st: SimulatedStation, p: Payload) -> Payload:
    """I02 central cost: the running cost the CSMS computed, shown to the
    driver (held as the session's last known cost)."""
    found = _session_of(st, p["transactionId"])
    if found is not None:
        found[1].central_cost = float(p["totalCost"])
    return {}


@table.on("NotifyAllowedEnergyTransfer")
def notify_allowed_energy_transfer(st: SimulatedStation, p: Payload) -> Payload:
    """The energy transfer modes the CSMS allows the session (V2X): held."""
    found = _session_of(st, p["transactionId"])
    if found is None:
        return _status("Rejected", "TxNotFound")
    found[1].allowed_transfer = list(p["allowedEnergyTransfer"])
    return {"status": "Accepted"}


@table.on("UpdateDynamicSchedule")
def update_dynamic_schedule(st: SimulatedStation, p: Payload) -> Payload:
    """A Dynamic profile's values replaced (setpoint, limits); others Rejected."""
    m = state(st)
    held = m.profiles.get(p["chargingProfileId"])
    if held is None or held[1]["chargingProfileKind"] != "Dynamic":
        return _status("Rejected", "UnknownProfile")
    evse, profile, installed = held
    profile = copy.deepcopy(profile)
    for schedule in profile["chargingSchedule"]:
        for period in schedule["chargingSchedulePeriod"]:
            period.update(p["scheduleUpdate"])
    m.profiles[profile["id"]] = (evse, profile, installed)
    if profile["chargingProfilePurpose"] in STORE_PURPOSES:
        st.profiles.install(st, evse, from_v201(_as_limits(st, profile)))
        drawing.limits_changed(st, {evse})
    return {"status": "Accepted"}


@table.on("AFRRSignal")
def afrr_signal(st: SimulatedStation, p: Payload) -> Payload:
    """Frequency restoration: a V2X station takes the signal (for its
    v2xSignalWattCurve periods), others cannot."""
    if not st.scenario.v2x:
        return _status("Rejected", "NoV2X")
    state(st).afrr_signal = int(p["signal"])
    return {"status": "Accepted"}


def _der_field(p: Payload) -> str:
    return _DER_FIELD[p["controlType"]]


@table.on("SetDERControl")
def set_der_control(st: SimulatedStation, p: Payload) -> Payload:
    """2.1 DER control: a V2X station holds the control; one of the
    same type and kind (default or scheduled) is superseded."""
    if not st.scenario.v2x:
        return _status("NotSupported")
    if p.get(_der_field(p)) is None:
        return _status("Rejected", "MissingControl")
    m = state(st)
    superseded = [
        cid
        for cid, held in m.der.items()
        if cid != p["controlId"]
        and held["controlType"] == p["controlType"]
        and held["isDefault"] == p["isDefault"]
    ]
    for cid in superseded:
        m.der[cid] = {**m.der[cid], "superseded": True}
    m.der[p["controlId"]] = {**p, "superseded": False}
    answer: Payload = {"status": "Accepted"}
    if superseded:
        answer["supersededIds"] = superseded
    return answer


def _der_matching(st: SimulatedStation, p: Payload) -> list[Payload]:
    return [
        held
        for cid, held in state(st).der.items()
        if p.get("controlId") in (None, cid)
        and p.get("controlType") in (None, held["controlType"])
        and p.get("isDefault") in (None, held["isDefault"])
    ]


@table.on("GetDERControl")
def get_der_control(st: SimulatedStation, p: Payload) -> Payload:
    if not st.scenario.v2x:
        return _status("NotSupported")
    return {"status": "Accepted" if _der_matching(st, p) else "NotFound"}


def _der_report_item(held: Payload) -> tuple[str, Payload]:
    name = _der_field(held)
    item: Payload = {"id": held["controlId"]}
    if name == "curve":
        item |= {"curveType": held["controlType"], "isDefault": held["isDefault"]}
        item |= {"isSuperseded": held["superseded"], "curve": held["curve"]}
        return "curve", item
    if name in ("enterService", "gradient"):
        return name, item | {name: held[name]}
    item |= {"isDefault": held["isDefault"], "isSuperseded": held["superseded"]}
    if name in ("fixedPFAbsorb", "fixedPFInject"):
        return name, item | {"fixedPF": held[name]}
    return name, item | {name: held[name]}


@table.after("GetDERControl")
async def report_der_control(st: SimulatedStation, p: Payload, answer: Payload) -> None:
    """The controls asked for, in ReportDERControl (one message here)."""
    if answer["status"] != "Accepted":
        return
    report: Payload = {"requestId": p["requestId"]}
    for held in _der_matching(st, p):
        name, item = _der_report_item(held)
        report.setdefault(name, []).append(item)
    await _call_tolerant(st, "ReportDERControl", report)


@table.on("ClearDERControl")
def clear_der_control(st: SimulatedStation, p: Payload) -> Payload:
    if not st.scenario.v2x:
        return _status("NotSupported")
    m = state(st)
    gone = [held["controlId"] for held in _der_matching(st, p)]
    for cid in gone:
        del m.der[cid]
    return {"status": "Accepted" if gone else "NotFound"}


@table.on("UsePriorityCharging")
def use_priority_charging(st: SimulatedStation, p: Payload) -> Payload:
    """Priority charging for a session: it needs a PriorityCharging profile
    on the session's EVSE (or the station)."""
    found = _session_of(st, p["transactionId"])
    if found is None:
        return _status("Rejected", "TxNotFound")
    c, s = found
    has_profile = any(
        prof["chargingProfilePurpose"] == "PriorityCharging" and e in (0, c.id)
        for e, prof, _ in state(st).profiles.values()
    )
    if not has_profile:
        return {"status": "NoProfile"}
    s.priority = bool(p["activate"])
    return {"status": "Accepted"}


@table.on("RequestBatterySwap")
def request_battery_swap(st: SimulatedStation, p: Payload) -> Payload:
    """A charger with connectors has no battery to swap."""
    return _status("Rejected", "NoBatterySwap")


@table.on("NotifyWebPaymentStarted")
def notify_web_payment_started(st: SimulatedStation, p: Payload) -> Payload:
    """2.1 web payment: the EVSE shows that a payment is under way for
    `timeout` seconds (the CSMS starts the session once paid)."""
    if st.connector(p["evseId"]) is not None:
        state(st).web_payments[p["evseId"]] = time.monotonic() + p["timeout"]
    return {}


@table.on("GetPeriodicEventStream")
def get_periodic_event_stream(st: SimulatedStation, p: Payload) -> Payload:
    streams = list(state(st).streams.values())
    if not streams:
        return {}
    return {"constantStreamData": [_constant(s) for s in streams]}


@table.on("AdjustPeriodicEventStream")
def adjust_periodic_event_stream(st: SimulatedStation, p: Payload) -> Payload:
    stream = state(st).streams.get(p["id"])
    if stream is None:
        return _status("Rejected", "UnknownStream")
    params = p["params"]
    stream.interval = max(1, int(params.get("interval", stream.interval)))
    stream.values = max(1, min(MAX_STREAM_VALUES, int(params.get("values", stream.values))))
    return {"status": "Accepted"}


# -- periodic event streams -------------------------------------------------------------


def _constant(s: Stream) -> Payload:
    return {
        "id": s.id,
        "variableMonitoringId": s.monitor_id,
        "params": {"interval": s.interval, "values": s.values},
    }


def _sample(st: SimulatedStation, key: monitoring.Key) -> str:
    """The variable's value now; an EVSE's Power is what its meter reads
    (negative while feeding back)."""
    if key[0] == "EVSE" and key[3] == "Power":
        c = st.connector(key[1])
        if c is not None and c.car is not None and c.transaction_id is not None:
            export = discharge_w(st, c)
            return f"{-export if export else c.car.power_w():.1f}"
        return "0.0"
    return monitoring.values(st).get(key, "")


async def _open_stream(st: SimulatedStation, monitor_id: int, params: Payload) -> None:
    m = state(st)
    monitor = monitoring.state(st).monitors.get(monitor_id)
    if monitor is None or len(m.streams) >= MAX_STREAMS:
        return
    for old in list(m.streams.values()):
        if old.monitor_id == monitor_id:
            await _close_stream(st, old)
    stream = Stream(
        m.next_stream,
        monitor_id,
        monitor.key,
        max(1, int(params.get("interval", 10))),
        max(1, min(MAX_STREAM_VALUES, int(params.get("values", 10)))),
    )
    m.next_stream += 1
    answer = await _call_tolerant(
        st, "OpenPeriodicEventStream", {"constantStreamData": _constant(stream)}
    )
    if answer is None or answer.get("status") != "Accepted":
        return
    m.streams[stream.id] = stream
    st.spawn(_stream(st, stream, max(1.0, monitor.value)))


async def _close_stream(st: SimulatedStation, stream: Stream) -> None:
    state(st).streams.pop(stream.id, None)
    await _call_tolerant(st, "ClosePeriodicEventStream", {"id": stream.id})


async def _stream(st: SimulatedStation, stream: Stream, every: float) -> None:
    """Sample every `every` s (the monitor's period); a SEND when `values`
    points are in or `interval` s passed, whichever first. Ends when the
    stream is closed or the connection goes."""
    sent_at = time.monotonic()
    m = state(st)
    while m.streams.get(stream.id) is stream:
        stream.buffer.append((time.time(), _sample(st, stream.key)))
        del stream.buffer[:-MAX_STREAM_BUFFER]
        now = time.monotonic()
        if len(stream.buffer) >= stream.values or now - sent_at >= stream.interval:
            await _flush(st, stream)
            sent_at = now
        await asyncio.sleep(min(every, stream.interval))


async def _flush(st: SimulatedStation, stream: Stream) -> None:
    link = st._link
    while stream.buffer and link is not None:
        part, rest = stream.buffer[: stream.values], stream.buffer[stream.values :]
        base = part[0][0]
        payload: Payload = {
            "id": stream.id,
            "pending": len(rest),
            "basetime": format_timestamp(dt.datetime.fromtimestamp(base, dt.UTC)),
            "data": [{"t": round(t - base, 3), "v": v} for t, v in part],
        }
        if not await link.send("NotifyPeriodicEventStream", payload):
            return
        stream.buffer = rest


# -- what the station sends ---------------------------------------------------------------

boot_request = v201.boot_request
status_request = v201.status_request
triggered_meter_values = v201.triggered_meter_values
reservation_expired = v201.reservation_expired


async def _call_tolerant(st: SimulatedStation, action: str, payload: Payload) -> Payload | None:
    """A 2.1-only CALL the CSMS may not support yet: its failure is logged,
    the station goes on (a lost connection still ends it)."""
    from volta.simulator.station import CallFailed

    try:
        return await st.call(action, payload)
    except CallFailed as exc:
        log.info("%s: %s not answered (%s)", st.id, action, exc)
        return None


def meter_value(
    st: SimulatedStation, connector: Connector, car: Car, context: str
) -> list[Payload]:
    """2.0.1's readings, plus the export register and power of a station
    that fed back (V2X): Power.Active.Export while discharging."""
    out = v201.meter_value(st, connector, car, context)
    exported = state(st).export_wh.get(connector.id)
    if exported is None and not st.scenario.v2x:
        return out
    power = discharge_w(st, connector) if connector.car is car else 0.0
    out[0]["sampledValue"] += [
        {
            "measurand": "Energy.Active.Export.Register",
            "context": context,
            "value": round(exported or 0.0, 1),
            "unitOfMeasure": {"unit": "Wh"},
        },
        {
            "measurand": "Power.Active.Export",
            "context": context,
            "value": round(power, 1),
            "unitOfMeasure": {"unit": "W"},
        },
    ]
    return out


def _id_token(st: SimulatedStation, token: str) -> Payload:
    return {"idToken": token, "type": "ISO14443"}


async def authorize(st: SimulatedStation, token: str) -> bool:
    """C01; a payment terminal authorises the card itself (C18): no
    Authorize. A tariff in the answer is the driver's (I08)."""
    if st.scenario.payment_terminal:
        return True
    answer = await st.call("Authorize", {"idToken": _id_token(st, token)})
    if answer.get("tariff"):
        state(st).driver_tariffs[token] = answer["tariff"]
    return bool(answer["idTokenInfo"]["status"] == "Accepted")


async def _event(
    st: SimulatedStation,
    connector: Connector,
    event_type: str,
    trigger: str,
    info: Payload,
    meter: list[Payload] | None,
    **extra: Any,
) -> Payload:
    answer = await v201._transaction_event(st, connector, event_type, trigger, info, meter, **extra)
    s = state(st).sessions.get(connector.id)
    if s is not None and s.transaction_id == info["transactionId"]:
        _take_limit(st, connector, s, answer)
    return answer


def _take_limit(st: SimulatedStation, c: Connector, s: Session, answer: Payload) -> None:
    """2.1: a transactionLimit in the answer is the limit held from now;
    the station confirms it in an Updated event (LimitSet)."""
    limit = answer.get("transactionLimit")
    if limit is None or limit == s.limit:
        return
    s.limit = dict(limit)
    if c.transaction_id is not None:
        st.spawn(_updated(st, c, s, "LimitSet"))


def _info(c: Connector, s: Session, **more: Any) -> Payload:
    info: Payload = {
        "transactionId": s.transaction_id,
        "chargingState": more.pop("state", "Charging"),
    }
    if s.limit:
        info["transactionLimit"] = s.limit
    if s.tariff is not None:
        info["tariffId"] = s.tariff["tariffId"]
    return info | {k: v for k, v in more.items() if v is not None}


async def _updated(st: SimulatedStation, c: Connector, s: Session, trigger: str) -> None:
    if c.transaction_id != s.transaction_id:
        return
    car = c.car or Car(1, 0, 0, 0)
    extra: Payload = {}
    if s.tariff is not None:
        extra["costDetails"] = cost_details(s)
    # Feeding back is an energy transfer too: Charging, not SuspendedEVSE.
    paused = car.suspended and not discharge_w(st, c)
    await _event(
        st,
        c,
        "Updated",
        trigger,
        _info(c, s, state="SuspendedEVSE" if paused else "Charging"),
        meter_value(st, c, car, "Sample.Periodic"),
        **extra,
    )


async def start(
    st: SimulatedStation, connector: Connector, token: str, remote_start_id: int | None
) -> bool:
    m = state(st)
    connector.transaction_id = str(uuid.uuid4())
    connector.seq_no = 0
    psp_ref: str | None = None
    if st.scenario.payment_terminal and remote_start_id is None:
        # C18: the payment terminal's reference is the idToken.
        psp_ref = f"PSP-{uuid.uuid4().hex[:16].upper()}"
        id_token: Payload = {"idToken": psp_ref, "type": "DirectPayment"}
    else:
        id_token = _id_token(st, token)
    s = Session(
        connector.transaction_id,
        connector.register_wh,
        time.monotonic(),
        id_token,
        tariff=_tariff_for(st, connector.id, id_token["idToken"]),
        psp_ref=psp_ref,
    )
    m.sessions[connector.id] = s
    begin = meter_value(st, connector, Car(1, 0, 0, 0), "Transaction.Begin")
    info = _info(connector, s, remoteStartId=remote_start_id)
    extra: Payload = {}
    if connector.reservation_id:
        extra["reservationId"] = connector.reservation_id
        connector.reservation_id = None
        connector.reserved_for = None
    trigger = "RemoteStart" if remote_start_id is not None else "Authorized"
    answer = await _event(st, connector, "Started", trigger, info, begin, idToken=id_token, **extra)
    token_info = answer.get("idTokenInfo")
    if token_info and token_info["status"] != "Accepted":
        await stop(st, connector, None, "DeAuthorized")
        return False
    st.spawn(_watch(st, connector, s))
    if st.scenario.v2x:
        st.spawn(_charging_needs(st, connector))
    return True


async def meter(
    st: SimulatedStation,
    connector: Connector,
    car: Car,
    context: str,
    *,
    rate_changed: bool = False,
) -> None:
    s = state(st).sessions.get(connector.id)
    if connector.transaction_id is None or s is None:
        return
    if rate_changed:
        trigger = "ChargingRateChanged"
    elif s.tariff is not None:
        trigger = "RunningCost"  # 2.1 local cost: the running cost with the sample
    else:
        trigger = "MeterValuePeriodic"
    await _updated(st, connector, s, trigger)


async def stop(st: SimulatedStation, connector: Connector, car: Car | None, reason: str) -> None:
    tx = connector.transaction_id
    if tx is None:
        return
    m = state(st)
    s = m.sessions.get(connector.id)
    if s is not None and s.transaction_id == tx:
        _account(st, connector, s, 0.0)
        info = _info(connector, s, state="Idle", stoppedReason=reason)
        trigger = s.stop_trigger or _STOP_TRIGGERS.get(reason, "StopAuthorized")
    else:
        s = None
        info = {"transactionId": tx, "chargingState": "Idle", "stoppedReason": reason}
        trigger = _STOP_TRIGGERS.get(reason, "StopAuthorized")
    extra: Payload = {}
    details = cost_details(s) if s is not None else None
    if details is not None:
        extra["costDetails"] = details
    answer = await v201._transaction_event(
        st,
        connector,
        "Ended",
        trigger,
        info,
        meter_value(st, connector, car or Car(1, 0, 0, 0), "Transaction.End"),
        **extra,
    )
    connector.transaction_id = None
    st.profiles.transaction_ended(connector.id)
    for pid, (e, prof, _) in list(m.profiles.items()):
        if e == connector.id and prof["chargingProfilePurpose"] == TX:
            del m.profiles[pid]
    m.sessions.pop(connector.id, None)
    if s is not None and s.psp_ref is not None:
        if reason == "DeAuthorized" and s.usage.energy_wh <= 0:
            # Refused before any energy: the terminal releases the pre-authorisation.
            await _settle(st, tx, s.psp_ref, 0.0, "Canceled")
            return
        if details is not None:
            # What the Ended event reported: the usage keeps counting while
            # that event is answered, so it is not reckoned again.
            amount = float(details["totalCost"]["total"]["inclTax"])
        else:  # central cost: the final total, else the last running one
            amount = float(answer.get("totalCost", s.central_cost or 0.0))
        await _settle(st, tx, s.psp_ref, amount)


async def _settle(
    st: SimulatedStation, tx: str, psp_ref: str, amount: float, status: str = "Settled"
) -> None:
    """C18: the payment terminal captures the amount; the CSMS is told."""
    await _call_tolerant(
        st,
        "NotifySettlement",
        {
            "transactionId": tx,
            "pspRef": psp_ref,
            "status": status,
            "settlementAmount": round(amount, 2),
            "settlementTime": st.now(),
            "receiptId": f"R-{psp_ref[4:14]}",
        },
    )


async def _charging_needs(st: SimulatedStation, c: Connector) -> None:
    """A V2X car (ISO 15118-20 bidirectional) tells its needs: what it may
    charge and discharge, and how much energy it wants."""
    car = c.car
    if car is None:
        return
    power = round(min(car.max_power_w, st.scenario.max_current * NOMINAL_V * car.phases), 1)
    wanted = max(0.0, (car.target_soc - car.soc) / 100.0 * car.capacity_wh)
    spare = max(0.0, (car.soc - MIN_DISCHARGE_SOC) / 100.0 * car.capacity_wh)
    departure = dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)
    await _call_tolerant(
        st,
        "NotifyEVChargingNeeds",
        {
            "evseId": c.id,
            "timestamp": st.now(),
            "chargingNeeds": {
                "requestedEnergyTransfer": "AC_BPT",
                "availableEnergyTransfer": ["AC_three_phase", "AC_BPT"],
                "controlMode": "ScheduledControl",
                "mobilityNeedsMode": "EVCC_SECC",
                "departureTime": format_timestamp(departure.replace(microsecond=0)),
                "v2xChargingParameters": {
                    "minChargePower": round(6 * NOMINAL_V * car.phases, 1),
                    "maxChargePower": power,
                    "minDischargePower": round(6 * NOMINAL_V * car.phases, 1),
                    "maxDischargePower": power,
                    "evTargetEnergyRequest": round(wanted, 1),
                    "evMinEnergyRequest": 0.0,
                    "evMaxEnergyRequest": round(wanted, 1),
                    "evMinV2XEnergyRequest": round(-spare, 1),
                    "evMaxV2XEnergyRequest": round(wanted, 1),
                    "targetSoC": int(car.target_soc),
                },
            },
        },
    )


# -- a session's own clock: limits, cost, export --------------------------------------------


def _account(st: SimulatedStation, c: Connector, s: Session, seconds: float) -> float:
    """Bring the session's usage up to now; the power fed back (W)."""
    car = c.car
    export = 0.0
    if car is not None:
        drawing.accrue(st, c, car)
        export = discharge_w(st, c)
        if export and seconds:
            energy = export * seconds / 3600.0
            state(st).export_wh[c.id] = state(st).export_wh.get(c.id, 0.0) + energy
            car.soc = max(MIN_DISCHARGE_SOC, car.soc - energy / car.capacity_wh * 100.0)
    s.usage.energy_wh = c.register_wh - s.start_wh
    flowing = car is not None and (car.current_a() > 0 or export > 0)
    if flowing:
        s.usage.charging_s += seconds
    else:
        s.usage.idle_s += seconds
    return export


def _reached(c: Connector, s: Session) -> str | None:
    """The transactionLimit reached, by its field name."""
    limit = s.limit
    if "maxEnergy" in limit and s.usage.energy_wh >= float(limit["maxEnergy"]):
        return "maxEnergy"
    if "maxTime" in limit and time.monotonic() - s.started >= float(limit["maxTime"]):
        return "maxTime"
    if "maxCost" in limit and s.tariff is not None and _total(s) >= float(limit["maxCost"]):
        return "maxCost"
    if "maxSoC" in limit and c.car is not None and c.car.soc >= float(limit["maxSoC"]):
        return "maxSoC"
    return None


async def _watch(st: SimulatedStation, c: Connector, s: Session) -> None:
    """Every TICK while the session runs: usage and export accrued, the limit
    held checked at the station (it needs no CSMS); a limit reached stops
    the session with its trigger and stopped reasons."""
    last = time.monotonic()
    was_exporting = False
    while c.transaction_id == s.transaction_id and not c.stop_requested.is_set():
        await asyncio.sleep(TICK)
        now = time.monotonic()
        exporting = _account(st, c, s, now - last) > 0
        last = now
        if exporting != was_exporting:
            was_exporting = exporting
            c.limit_changed.set()  # the meter values tell the change at once
        reached = _reached(c, s)
        if reached is not None and c.transaction_id == s.transaction_id:
            s.stop_trigger, c.stop_reason = LIMIT_REASONS[reached]
            c.stop_requested.set()
            return
