"""Charger profiles: per vendor, model and firmware range, what Volta does for
that kind of charger; and which one each station matched."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, Field

from volta.blocks.charger_profiles import service as charger_profiles
from volta.blocks.charger_profiles.profiles import Profile, ProfileError
from volta.http import ServicesDep

router = APIRouter(tags=["charger-profiles"])


class ToleranceOut(BaseModel):
    action: str
    path: str = Field(description="where in the payload, `*` for any one step")
    kind: str = Field(description="extra, enum, type, format, length or range")
    reason: str


class SettingOut(BaseModel):
    key: str | None = Field(description="OCPP 1.6 configuration key (ChangeConfiguration)")
    component: str | None = Field(description="OCPP 2.0.1 component (SetVariables)")
    instance: str | None
    evse_id: int | None
    variable: str | None
    value: str
    reason: str


class ChargerProfileOut(BaseModel):
    id: str
    vendor: str = Field(description="glob, case-insensitive")
    model: str = Field(description="glob, case-insensitive")
    firmware: str = Field(description='glob ("4.1.*") or version range (">=1.2, <1.6.4")')
    description: str
    source: str = Field(description="where the quirk is documented")
    origin: str = Field(description="shipped, or the operator's file")
    tolerate: list[ToleranceOut]
    configure: list[SettingOut]


class MatchOut(BaseModel):
    station_id: str
    vendor: str | None
    model: str | None
    firmware_version: str | None
    profile: str | None = Field(description="the profile its last boot matched, null: none")


def _out(p: Profile) -> ChargerProfileOut:
    return ChargerProfileOut(
        id=p.id,
        vendor=p.vendor,
        model=p.model,
        firmware=p.firmware,
        description=p.description,
        source=p.source,
        origin=p.origin,
        tolerate=[
            ToleranceOut(
                action=t.deviation.action,
                path=t.deviation.path,
                kind=t.deviation.kind,
                reason=t.reason,
            )
            for t in p.tolerate
        ],
        configure=[
            SettingOut(
                key=s.key,
                component=s.component,
                instance=s.instance,
                evse_id=s.evse_id,
                variable=s.variable,
                value=s.value,
                reason=s.reason,
            )
            for s in p.configure
        ],
    )


def _catalogue(services: Any) -> Any:
    try:
        return charger_profiles.catalogue(services.settings)
    except ProfileError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


@router.get("/charger-profiles", response_model=list[ChargerProfileOut])
async def list_charger_profiles(services: ServicesDep) -> list[ChargerProfileOut]:
    """Every profile, in the order they are matched (the operator's first)."""
    return [_out(p) for p in _catalogue(services).profiles]


@router.get("/charger-profiles/stations", response_model=list[MatchOut])
async def list_matches(services: ServicesDep) -> list[MatchOut]:
    """The stations whose last boot matched a profile, and which."""
    return [MatchOut(**m) for m in await charger_profiles.matched(services)]


@router.get("/charger-profiles/stations/{station_id}", response_model=MatchOut)
async def station_match(
    services: ServicesDep, station_id: Annotated[str, Path(max_length=48)]
) -> MatchOut:
    """The profile one station matched (null: none)."""
    found = await charger_profiles.matched(services, station_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    return MatchOut(**found[0])


@router.get("/charger-profiles/{profile_id}", response_model=ChargerProfileOut)
async def get_charger_profile(
    services: ServicesDep, profile_id: Annotated[str, Path(max_length=64)]
) -> ChargerProfileOut:
    profile = _catalogue(services).by_id.get(profile_id)
    if profile is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no charger profile {profile_id}")
    return _out(profile)
