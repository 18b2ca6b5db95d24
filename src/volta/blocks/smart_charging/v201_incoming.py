"""OCPP 2.0.1 block K, what stations send: NotifyChargingLimit (K11/K12),
ClearedChargingLimit (K13), ReportChargingProfiles (K09),
NotifyEVChargingNeeds (K15/K17) and NotifyEVChargingSchedule (K15-K17).
The outgoing side (SetChargingProfile, ...) is in v201.py.

Contract with the allocator: NotifyEVChargingNeeds is answered here, the
needs stored in `evse_allocations` (ev.record_needs); the allocator
recomputes in its own follow-up on (V201, "NotifyEVChargingNeeds") and, on
an Accepted answer, sends the EVSE a TxProfile (K15.FR.07) even when its
share did not change.
"""

from __future__ import annotations

import logging
from typing import Any

from volta.blocks.smart_charging import ev, limits
from volta.blocks.transactions.queries import find_v201
from volta.ocpp.charging import from_v201
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.schemas import Validation
from volta.ocpp.times import format_timestamp, parse_timestamp
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable

log = logging.getLogger(__name__)
V201 = Version.V201

handlers = HandlerTable()


@handlers.on(V201, "NotifyChargingLimit")
async def notify_charging_limit(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    limit = p["chargingLimit"]
    source = limit["chargingLimitSource"]
    if source == "CSO":
        # K11.FR.04 / K12.FR.04: a station does not tell the CSO of its own
        # limits this way; kept all the same, as the station says it holds it.
        log.info("%s: NotifyChargingLimit with chargingLimitSource CSO", ctx.station_id)
    schedules = tuple(from_v201(_as_profile(s)).schedules[0] for s in p.get("chargingSchedule", []))
    await limits.notify_limit(
        ctx.services.db,
        ctx.station_id,
        limits.ExternalLimit(
            # Absent (or 0, as 2.1 allows): the whole station.
            evse_id=p.get("evseId", 0),
            source=source,
            grid_critical=bool(limit.get("isGridCritical", False)),
            schedules=schedules,
        ),
    )
    return {}


@handlers.on(V201, "ClearedChargingLimit")
async def cleared_charging_limit(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    cleared = await limits.clear_limit(
        ctx.services.db, ctx.station_id, p["chargingLimitSource"], p.get("evseId")
    )
    if not cleared:
        log.info(
            "%s: ClearedChargingLimit (%s, EVSE %s) for no limit Volta knew of",
            ctx.station_id,
            p["chargingLimitSource"],
            p.get("evseId"),
        )
    return {}


@handlers.on(V201, "ReportChargingProfiles")
async def report_charging_profiles(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    await limits.store_report(
        ctx.services.db,
        ctx.station_id,
        limits.Report(
            request_id=p["requestId"],
            evse_id=p["evseId"],
            source=p["chargingLimitSource"],
            profiles=tuple(p["chargingProfile"]),
            tbc=bool(p.get("tbc", False)),
        ),
    )
    return {}


@handlers.on(V201, "NotifyEVChargingNeeds")
async def notify_ev_charging_needs(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    needs = p["chargingNeeds"]
    ac = needs.get("acChargingParameters")
    dc = needs.get("dcChargingParameters")
    v2x = needs.get("v2xChargingParameters")  # 2.1: a bidirectional EV's (ISO 15118-20)
    if ac is None and dc is None and v2x is None and ctx.station.validation is Validation.STRICT:
        # K15.FR.06 / K17.FR.06: one of the two SHALL be there (a relaxed
        # station's needs are kept with what they say; a 2.1 station may
        # give the V2X parameters instead).
        raise OcppError(
            ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
            "chargingNeeds has neither acChargingParameters nor dcChargingParameters",
        )
    params = ac or dc or {}
    energy, max_current = params.get("energyAmount"), params.get("evMaxCurrent")
    answer = await ev.record_needs(
        ctx.services.db,
        ctx.station_id,
        ev.ChargingNeeds(
            evse_id=p["evseId"],
            transfer_mode=needs["requestedEnergyTransfer"],
            departure_at=parse_timestamp(needs.get("departureTime")),
            energy_wh=None if energy is None else float(energy),
            min_current_a=float(ac["evMinCurrent"]) if ac else None,
            max_current_a=None if max_current is None else float(max_current),
        ),
    )
    return _answer(answer.status, answer.code, answer.reason)


@handlers.on(V201, "NotifyEVChargingSchedule")
async def notify_ev_charging_schedule(ctx: CallContext, p: dict[str, Any]) -> dict[str, Any]:
    time_base = parse_timestamp(p["timeBase"])
    if time_base is None:
        raise OcppError(ErrorCode.PROPERTY_CONSTRAINT_VIOLATION, "timeBase is not a dateTime")
    schedule = from_v201(_as_profile(p["chargingSchedule"])).schedules[0]
    check = await ev.check_ev_schedule(
        ctx.services.db, ctx.station_id, p["evseId"], time_base, schedule
    )
    if check.within:
        return {"status": "Accepted"}  # K16.FR.06
    if check.reason is not None:
        return _answer("Rejected", "UnknownEvse", check.reason)
    at = format_timestamp(check.at) if check.at else "?"
    reason = (
        f"asks {check.requested} {check.unit} at {at}, "
        f"above the limit in force ({check.allowed} {check.unit})"
    )
    return _answer("Rejected", "ExceedsLimit", reason)  # K16.FR.07


@handlers.after(V201, "NotifyEVChargingSchedule")
async def renegotiate_after_rejection(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    reason = (response.get("statusInfo") or {}).get("reasonCode")
    if response["status"] == "Rejected" and reason == "ExceedsLimit":
        await ev.renegotiate(ctx.services, ctx.station_id, request["evseId"])


@handlers.after(V201, "TransactionEvent")
async def forget_needs_at_end(
    ctx: CallContext, request: dict[str, Any], response: dict[str, Any]
) -> None:
    """An EV's needs hold for its session only (K15)."""
    if request["eventType"] != "Ended":
        return
    evse = (request.get("evse") or {}).get("id")
    if evse is None:
        found = await find_v201(
            ctx.services.db, ctx.station_id, request["transactionInfo"]["transactionId"]
        )
        evse = found.evse_id if found is not None else None
    if evse:
        await ev.forget_needs(ctx.services.db, ctx.station_id, evse)


def _answer(status: str, code: str | None, reason: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"status": status}
    if code is not None:
        # StatusInfoType: reasonCode up to 20 characters, additionalInfo up to 512.
        out["statusInfo"] = {"reasonCode": code[:20], "additionalInfo": (reason or "")[:512]}
    return out


def _as_profile(schedule: dict[str, Any]) -> dict[str, Any]:
    """A bare ChargingScheduleType, wrapped to be read as a profile's schedule."""
    return {
        "id": 0,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargingStationExternalConstraints",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [schedule],
    }
