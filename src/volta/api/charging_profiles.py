"""Charging profiles: install (SetChargingProfile), list what Volta believes
is installed, clear (ClearChargingProfile), the composite schedule beside
Volta's own, and the 2.0.1 report request (GetChargingProfiles).
See docs/smart-charging.md."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from volta.api.models import INT32_MAX, CommandOut, ErrorOut, EvseNumber, Id
from volta.blocks.smart_charging import schedules, service
from volta.blocks.smart_charging.validation import ProfileInvalid, parse_profile
from volta.http import ServicesDep
from volta.ocpp.charging import PURPOSES, Schedule, purpose_from_v16
from volta.services import Services
from volta.store.models import Station

router = APIRouter(tags=["charging profiles"])

Purpose = Literal[
    "ChargingStationMaxProfile",
    "TxDefaultProfile",
    "TxProfile",
    "ChargingStationExternalConstraints",
]

_EXAMPLE: dict[str, Any] = {
    "evse_id": 1,
    "profile": {
        "id": 7,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": [
            {
                "id": 1,
                "startSchedule": "2026-12-06T00:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            }
        ],
    },
}


class ProfileCreate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    evse_id: EvseNumber = Field(description="0: the whole station (1.6 connectorId 0)")
    profile: dict[str, Any] = Field(
        description="the 2.0.1 ChargingProfileType (with `id`), or the 1.6 "
        "csChargingProfiles object (with `chargingProfileId`); either is sent to a "
        "station of either version when that version can say it. For an OCPP 2.1 "
        "station, the 2.1 ChargingProfileType: operationMode, dischargeLimit, setpoint, "
        "setpointReactive, a Dynamic kind, ... (refused with 422 for 1.6 / 2.0.1)"
    )


class ProfileOut(BaseModel):
    id: int = Field(description="Volta's row id")
    station_id: str
    evse_id: int
    profile_id: int = Field(description="the profile's own id (chargingProfileId / id)")
    stack_level: int
    purpose: str = Field(
        description="2.0.1 names (1.6 ChargePointMaxProfile is ChargingStationMaxProfile)"
    )
    transaction_id: str | None = None
    profile: dict[str, Any] = Field(
        description="the profile, in 2.0.1 wire shape (a 2.1 V2X profile in 2.1's)"
    )
    source: str = Field(description="api, allocator, fallback or station")
    status: str = Field(
        description=(
            "Requested, Accepted, Rejected, Failed, Cleared, Replaced, or Reported "
            "(what the station listed in ReportChargingProfiles)"
        )
    )
    command_id: str | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    command: CommandOut | None = Field(None, description="the SetChargingProfile command, on POST")


class ProfileRefusedOut(BaseModel):
    """409 of POST: the documented error shape, with what the station said."""

    detail: str
    station_status: str | None = Field(
        None, description="the station's answer (Rejected); null when it did not answer"
    )
    profile: ProfileOut | None = Field(None, description="the profile as stored, with the command")


class EvseProfilesOut(BaseModel):
    evse_id: int
    profiles: list[ProfileOut]


class StationProfilesOut(BaseModel):
    station_id: str
    evses: list[EvseProfilesOut] = Field(description="per EVSE, EVSE 0 (the whole station) first")


class ClearOut(BaseModel):
    station_status: str | None = Field(
        None, description="the station's answer: Accepted or Unknown; null when none came"
    )
    command: CommandOut
    cleared: list[ProfileOut] = Field(description="the profiles Volta now counts as cleared")


class PeriodOut(BaseModel):
    start_s: int
    limit: float | None = Field(description="null: nothing limits the EVSE then")
    number_phases: int | None = None
    phase_to_use: int | None = None


class ScheduleOut(BaseModel):
    start: dt.datetime | None
    duration_s: int | None
    unit: str
    periods: list[PeriodOut]


class StationCompositeOut(BaseModel):
    command: CommandOut
    schedule: ScheduleOut | None = Field(description="null when the station gave none")


class CompositeOut(BaseModel):
    station: StationCompositeOut = Field(description="the station's GetCompositeSchedule answer")
    volta: ScheduleOut = Field(description="Volta's own computation from the installed profiles")


class ReportRequest(BaseModel):
    evse_id: EvseNumber | None = None
    purpose: Purpose | None = None
    stack_level: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = None
    profile_ids: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(default=[], max_length=100)
    sources: list[Literal["EMS", "Other", "SO", "CSO"]] = Field(default=[], max_length=4)


class ReportOut(BaseModel):
    request_id: int = Field(description="the requestId the station's reports carry")
    command: CommandOut


def _out(p: service.InstalledProfile) -> ProfileOut:
    command = CommandOut(**p.command) if p.command is not None else None
    return ProfileOut(**p.as_dict(), command=command)


def _invalid(exc: ProfileInvalid) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", "profile"), "msg": m, "type": "value_error"} for m in exc.problems]
    )


async def _require_station(services: Services, station_id: str) -> None:
    async with services.db.read() as conn:
        found = (await conn.execute(sa.select(Station.id).where(Station.id == station_id))).first()
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


def _purpose(value: str | None) -> str | None:
    if value is None:
        return None
    value = purpose_from_v16(value)  # 1.6's ChargePointMaxProfile is accepted too
    if value not in PURPOSES:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "purpose"),
                    "msg": f"one of {', '.join(PURPOSES)}",
                    "type": "value_error",
                }
            ]
        )
    return value


@router.post(
    "/stations/{station_id}/charging-profiles",
    response_model=ProfileOut,
    status_code=201,
    responses={409: {"model": ProfileRefusedOut}},
)
async def install(
    station_id: str, body: ProfileCreate, services: ServicesDep
) -> ProfileOut | JSONResponse:
    """Validate the profile for the station's version, send SetChargingProfile
    and store it with the answer. 201 when the station accepted; 409
    `{"detail", "station_status", "profile"}` when it rejected or did not
    answer (offline, timeout): stored as Rejected / Failed; 409 `{"detail"}`
    when the station has never connected; 422 naming each broken rule."""
    await _require_station(services, station_id)
    version = await service.station_version(services, station_id)
    try:
        profile = parse_profile(services.schemas, body.evse_id, body.profile, version)
        found = await service.install_profile(services, station_id, body.evse_id, profile)
    except ProfileInvalid as exc:
        raise _invalid(exc) from None
    except service.ProfileRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if found.status == "Accepted":
        return _out(found)
    command = found.command
    assert command is not None  # install_profile returns its command
    answer = (command["response"] or {}).get("status")
    why = (
        f"answered SetChargingProfile {answer}"
        if answer
        else f"did not answer SetChargingProfile ({command['status']})"
    )
    refused = ProfileRefusedOut(
        detail=f"station {station_id} {why}; the profile is not installed",
        station_status=answer,
        profile=_out(found),
    )
    return JSONResponse(jsonable_encoder(refused), status_code=status.HTTP_409_CONFLICT)


@router.get("/stations/{station_id}/charging-profiles", response_model=StationProfilesOut)
async def list_profiles(
    station_id: str,
    services: ServicesDep,
    evse_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    purpose: Annotated[str | None, Query(description="2.0.1 names; 1.6's accepted")] = None,
    all_: Annotated[
        bool, Query(alias="all", description="every profile ever sent, newest first")
    ] = False,
) -> StationProfilesOut:
    """What Volta believes is installed (Accepted, not cleared or replaced),
    per EVSE; `all=true` adds the history (Rejected, Failed, Cleared, ...)."""
    await _require_station(services, station_id)
    rows = await service.list_profiles(
        services.db, station_id, evse_id=evse_id, purpose=_purpose(purpose), history=all_
    )
    evses: dict[int, list[ProfileOut]] = {}
    for row in rows:
        evses.setdefault(row.evse_id, []).append(_out(row))
    return StationProfilesOut(
        station_id=station_id,
        evses=[EvseProfilesOut(evse_id=e, profiles=evses[e]) for e in sorted(evses)],
    )


async def _clear(
    services: Services, station_id: str, clear: service.ClearChargingProfile
) -> ClearOut:
    await _require_station(services, station_id)
    try:
        command = await service.clear_profiles(services, station_id, clear)
    except service.ProfileRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    answer = (command.get("response") or {}).get("status")
    if answer is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"station {station_id} did not answer ClearChargingProfile ({command['status']}); "
            "nothing was cleared",
        )
    history = await service.list_profiles(services.db, station_id, history=True)
    cleared = [_out(p) for p in history if p.status == "Cleared" and p.command_id == command["id"]]
    return ClearOut(station_status=answer, command=CommandOut(**command), cleared=cleared)


@router.delete(
    "/stations/{station_id}/charging-profiles/{profile_id}",
    response_model=ClearOut,
    responses={409: {"model": ErrorOut, "description": "the station did not answer"}},
)
async def clear_one(
    station_id: str,
    profile_id: Id,
    services: ServicesDep,
) -> ClearOut:
    """ClearChargingProfile by id (1.6 §5.5, 2.0.1 K10). 200 with the
    station's answer: Accepted, or Unknown (it holds no such profile; Volta
    forgets it too); 409 when it did not answer."""
    return await _clear(services, station_id, service.ClearChargingProfile(profile_id=profile_id))


@router.delete(
    "/stations/{station_id}/charging-profiles",
    response_model=ClearOut,
    responses={409: {"model": ErrorOut, "description": "the station did not answer"}},
)
async def clear_matching(
    station_id: str,
    services: ServicesDep,
    evse_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    purpose: str | None = None,
    stack_level: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
) -> ClearOut:
    """ClearChargingProfile by criteria: every profile matching all that is
    given (none: every profile the station holds)."""
    clear = service.ClearChargingProfile(
        evse_id=evse_id, purpose=_purpose(purpose), stack_level=stack_level
    )
    return await _clear(services, station_id, clear)


def _schedule_out(schedule: Schedule) -> ScheduleOut:
    return ScheduleOut(
        start=schedule.start,
        duration_s=schedule.duration_s,
        unit=schedule.unit,
        periods=[
            PeriodOut(
                start_s=p.start_s,
                limit=None if math.isinf(p.limit) else p.limit,
                number_phases=p.phases,
                phase_to_use=p.phase_to_use,
            )
            for p in schedule.periods
        ],
    )


@router.get(
    "/stations/{station_id}/evses/{evse_id}/composite-schedule",
    response_model=CompositeOut,
    responses={409: {"model": ErrorOut, "description": "the station never connected"}},
)
async def composite_schedule(
    station_id: str,
    evse_id: Id,
    services: ServicesDep,
    duration: Annotated[int, Query(ge=1, le=7 * 86_400, description="seconds")] = 3600,
    unit: Literal["A", "W"] | None = None,
) -> CompositeOut:
    """GetCompositeSchedule (1.6 §5.7, 2.0.1 K08) beside Volta's own
    computation from the profiles it believes installed (docs/smart-charging.md)."""
    await _require_station(services, station_id)
    try:
        found = await schedules.composite(services, station_id, evse_id, duration, unit)
    except service.ProfileRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return CompositeOut(
        station=StationCompositeOut(
            command=CommandOut(**found.command),
            schedule=None if found.station is None else _schedule_out(found.station),
        ),
        volta=_schedule_out(found.volta),
    )


@router.post(
    "/stations/{station_id}/charging-profiles/report",
    response_model=ReportOut,
    status_code=202,
    responses={409: {"model": ErrorOut, "description": "a 1.6 station, or never connected"}},
)
async def request_report(
    station_id: str, services: ServicesDep, body: ReportRequest | None = None
) -> ReportOut:
    """2.0.1 GetChargingProfiles (K09): the station reports its profiles in
    ReportChargingProfiles messages with the returned `request_id`; they
    are stored with source "station". Without a body every profile is asked
    for. 202 with the command (its answer: Accepted or NoProfiles); 409 for
    a 1.6 station (no such message)."""
    await _require_station(services, station_id)
    body = body or ReportRequest()
    others = body.purpose is not None or body.stack_level is not None or body.sources
    if body.profile_ids and others:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "profile_ids"),
                    "msg": "either profile_ids or purpose / stack_level / sources (K09.FR.03)",
                    "type": "value_error",
                }
            ]
        )
    # K09.FR.03 wants one criterion at least: with none, every source is
    # asked for, which is every profile.
    sources = body.sources or ([] if body.profile_ids or others else ["CSO", "EMS", "SO", "Other"])
    request_id = secrets.randbelow(INT32_MAX) + 1
    request = service.GetChargingProfiles(
        request_id=request_id,
        evse_id=body.evse_id,
        purpose=body.purpose,
        stack_level=body.stack_level,
        profile_ids=tuple(body.profile_ids),
        limit_sources=tuple(sources),
    )
    try:
        command = await schedules.request_report(services, station_id, request)
    except service.ProfileRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return ReportOut(request_id=request_id, command=CommandOut(**command))
