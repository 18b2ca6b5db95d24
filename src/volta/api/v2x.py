"""OCPP 2.1 bidirectional power transfer (V2X): which tokens may discharge,
NotifyAllowedEnergyTransfer, UpdateDynamicSchedule (and the values a
station's PullDynamicScheduleUpdate gets), AFRRSignal, and what Volta knows
of an EVSE's V2X session. V2X charging profiles go through the charging
profiles API (a 2.1 ChargingProfileType for a 2.1 station). See
docs/ocpp21.md, "Bidirectional power (V2X)"."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from volta.api.models import INT32_MAX, CommandOut, ErrorOut, Id
from volta.blocks.remote_control.service import CommandRecord
from volta.blocks.smart_charging import v2x
from volta.http import ServicesDep
from volta.services import Services
from volta.store.models import IdToken, Station

router = APIRouter(tags=["v2x"])

Mode = Literal[
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
]
_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "not an OCPP 2.1 station, or never connected"}
}


class PermissionIn(BaseModel):
    modes: list[Mode] = Field(
        min_length=1,
        max_length=11,
        description="the energy transfer modes the token's contract allows, e.g. "
        '["AC_BPT", "DC_BPT"] (the bidirectional ones are what matters: charging is '
        "always allowed)",
    )


class PermissionOut(BaseModel):
    token: str
    modes: list[str] = Field(description="what the token may use (empty: charging only)")
    source: Literal["token", "default", "none"] = Field(
        description="token: its own permission; default: the setting v2x_default_modes; "
        "none: charging only"
    )


class AllowedIn(BaseModel):
    modes: list[Mode] = Field(min_length=1, max_length=11)


class CommandAnswerOut(BaseModel):
    station_status: str | None = Field(
        None, description="the station's answer (Accepted, Rejected); null when none came"
    )
    command: CommandOut


class DynamicIn(BaseModel):
    schedule_update: dict[str, Any] = Field(
        description="a 2.1 ChargingScheduleUpdateType: limit, dischargeLimit, setpoint, "
        "setpointReactive (and their _L2/_L3)",
        examples=[{"setpoint": -7000.0, "dischargeLimit": -11000.0}],
    )


class DynamicOut(BaseModel):
    station_id: str
    profile_id: int
    values: dict[str, Any] = Field(
        description="the values in force: what a PullDynamicScheduleUpdate is answered"
    )
    updated_at: dt.datetime | None = Field(None, description="the last UpdateDynamicSchedule")
    pulled_at: dt.datetime | None = Field(None, description="the station's last pull")


class AfrrIn(BaseModel):
    signal: Annotated[int, Field(ge=-INT32_MAX, le=INT32_MAX)] = Field(
        description="the value the CentralFrequency periods' v2xSignalWattCurve turns into power"
    )
    timestamp: dt.datetime | None = Field(None, description="when it applies (default: now)")


class SessionOut(BaseModel):
    station_id: str
    evse_id: int
    transaction_id: str | None
    available: list[str] | None = Field(description="the modes the EV offered")
    requested: str | None = Field(description="the mode the EV asked for")
    allowed: list[str] | None = Field(description="the modes Volta allowed")
    allowed_status: str | None = Field(
        description="the station's answer to NotifyAllowedEnergyTransfer"
    )
    ev_max_discharge_a: float | None
    ev_max_discharge_w: float | None
    updated_at: dt.datetime


def _invalid(loc: str, problems: list[str]) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("body", loc), "msg": m, "type": "value_error"} for m in problems]
    )


async def _require_station(services: Services, station_id: str) -> None:
    async with services.db.read() as conn:
        found = (await conn.execute(sa.select(Station.id).where(Station.id == station_id))).first()
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")


async def _require_token(services: Services, token: str) -> None:
    async with services.db.read() as conn:
        found = (await conn.execute(sa.select(IdToken.token).where(IdToken.token == token))).first()
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"id token {token} not found")


async def _permission(services: Services, token: str) -> PermissionOut:
    own = await v2x.own_modes(services.db, token)
    if own is not None:
        return PermissionOut(token=token, modes=own, source="token")
    default = v2x.default_modes(services)
    return PermissionOut(token=token, modes=default, source="default" if default else "none")


def _answer(command: CommandRecord) -> CommandAnswerOut:
    return CommandAnswerOut(station_status=v2x.answer_of(command), command=CommandOut(**command))


@router.get("/id-tokens/{token}/energy-transfer", response_model=PermissionOut)
async def get_permission(token: str, services: ServicesDep) -> PermissionOut:
    """The energy transfer modes the token's contract allows (Q01): put in
    a 2.1 AuthorizeResponse (allowedEnergyTransfer) and told to the station
    when the EV offers a bidirectional mode (NotifyAllowedEnergyTransfer)."""
    await _require_token(services, token)
    return await _permission(services, token)


@router.put("/id-tokens/{token}/energy-transfer", response_model=PermissionOut)
async def put_permission(token: str, body: PermissionIn, services: ServicesDep) -> PermissionOut:
    """Allow the token these modes (replacing what it had)."""
    await _require_token(services, token)
    await v2x.set_token_modes(services.db, token, body.modes)
    return await _permission(services, token)


@router.delete("/id-tokens/{token}/energy-transfer", response_model=PermissionOut)
async def delete_permission(token: str, services: ServicesDep) -> PermissionOut:
    """Take the token's own permission away (the default applies again)."""
    await _require_token(services, token)
    await v2x.set_token_modes(services.db, token, None)
    return await _permission(services, token)


@router.post(
    "/stations/{station_id}/transactions/{transaction_id}/allowed-energy-transfer",
    response_model=CommandAnswerOut,
    responses=_REFUSED,
)
async def notify_allowed(
    station_id: str, transaction_id: str, body: AllowedIn, services: ServicesDep
) -> CommandAnswerOut:
    """NotifyAllowedEnergyTransfer: the modes a transaction (the station's
    transactionId) may use from now on, e.g. after its contract changed.
    200 with the station's answer; 409 for a station not on 2.1."""
    await _require_station(services, station_id)
    if len(transaction_id) > 36:
        raise _invalid("transaction_id", ["a transactionId has at most 36 characters"])
    try:
        command = await v2x.notify_allowed(services, station_id, transaction_id, body.modes)
    except v2x.V2xRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _answer(command)


@router.post(
    "/stations/{station_id}/charging-profiles/{profile_id}/dynamic-schedule",
    response_model=CommandAnswerOut,
    responses=_REFUSED,
)
async def update_dynamic(
    station_id: str, profile_id: Id, body: DynamicIn, services: ServicesDep
) -> CommandAnswerOut:
    """UpdateDynamicSchedule: new values for an installed Dynamic profile's
    period. Kept when the station accepts: a PullDynamicScheduleUpdate is
    answered with them, and the site allocator counts a negative setpoint
    as capacity. 422 when the profile is not an installed Dynamic one or the
    values break its operationMode; 409 for a station not on 2.1."""
    await _require_station(services, station_id)
    try:
        command = await v2x.update_dynamic(services, station_id, profile_id, body.schedule_update)
    except v2x.V2xInvalid as exc:
        raise _invalid("schedule_update", exc.problems) from None
    except v2x.V2xRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _answer(command)


@router.get(
    "/stations/{station_id}/charging-profiles/{profile_id}/dynamic-schedule",
    response_model=DynamicOut,
)
async def get_dynamic(station_id: str, profile_id: Id, services: ServicesDep) -> DynamicOut:
    """The dynamic values Volta holds for a Dynamic profile (404 when it
    holds no such installed profile)."""
    await _require_station(services, station_id)
    answer = await v2x.pull(services.db, station_id, profile_id, touch=False)
    if answer["status"] != "Accepted":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no installed Dynamic profile {profile_id}")
    row = await v2x.dynamic_values(services.db, station_id, profile_id)
    return DynamicOut(
        station_id=station_id,
        profile_id=profile_id,
        values=answer["scheduleUpdate"],
        updated_at=row.updated_at if row is not None and row.values else None,
        pulled_at=row.pulled_at if row is not None else None,
    )


@router.post(
    "/stations/{station_id}/afrr-signal", response_model=CommandAnswerOut, responses=_REFUSED
)
async def afrr_signal(station_id: str, body: AfrrIn, services: ServicesDep) -> CommandAnswerOut:
    """AFRRSignal, e.g. from a grid operator's integration: the station's
    CentralFrequency periods follow the power their v2xSignalWattCurve gives
    for `signal` from `timestamp`. 409 for a station not on 2.1."""
    await _require_station(services, station_id)
    try:
        command = await v2x.afrr_signal(services, station_id, body.signal, body.timestamp)
    except v2x.V2xRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _answer(command)


@router.get(
    "/stations/{station_id}/evses/{evse_id}/v2x",
    response_model=SessionOut,
    responses={404: {"model": ErrorOut}},
)
async def v2x_session(station_id: str, evse_id: Id, services: ServicesDep) -> SessionOut:
    """What Volta knows of the EVSE's V2X session: the modes the EV offered
    (NotifyEVChargingNeeds), those Volta allowed and the station's answer,
    the EV's most discharge."""
    await _require_station(services, station_id)
    row = await v2x.session(services.db, station_id, evse_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no V2X session on EVSE {evse_id}")
    return SessionOut(
        station_id=row.station_id,
        evse_id=row.evse_id,
        transaction_id=row.transaction_id,
        available=row.available,
        requested=row.requested,
        allowed=row.allowed,
        allowed_status=row.allowed_status,
        ev_max_discharge_a=row.ev_max_discharge_a,
        ev_max_discharge_w=row.ev_max_discharge_w,
        updated_at=row.updated_at,
    )
