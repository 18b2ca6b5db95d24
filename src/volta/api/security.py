"""Security: the security event log, password rotation, security profiles, TLS reload."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from volta.api.models import Offset
from volta.blocks.provisioning import service as provisioning
from volta.blocks.security import log as security_log
from volta.blocks.security import passwords, profiles
from volta.http import ServicesDep

router = APIRouter(tags=["security"])


class SecurityEventOut(BaseModel):
    id: int
    station_id: str | None
    type: str = Field(description="the OCPP security event type, or one of Volta's own")
    critical: bool = Field(description="critical by the OCPP list of security events")
    tech_info: str | None
    origin: Literal["station", "volta"] | str
    timestamp: dt.datetime = Field(description="when it happened (the station's clock)")
    received_at: dt.datetime


class PasswordRotationOut(BaseModel):
    station_id: str
    state: Literal["sending", "pending", "rotated", "failed"] | str = Field(
        description="sending: asked, no answer yet; pending: the station accepted, the old "
        "and the new password are both accepted until it signs in with the new one; "
        "rotated: it did, the old one is gone; failed: it refused or did not answer, the "
        "old password stays"
    )
    started_by: str
    command_id: str | None
    detail: str | None = Field(description="why it failed (the station's status or error)")
    requested_at: dt.datetime
    answered_at: dt.datetime | None
    rotated_at: dt.datetime | None


@router.get("/security-events", response_model=list[SecurityEventOut])
async def list_security_events(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    type_: Annotated[str | None, Query(alias="type", max_length=50)] = None,
    critical: bool | None = None,
    origin: Literal["station", "volta"] | None = None,
    since: AwareDatetime | None = Query(None, description="timestamp at or after (with zone)"),
    until: AwareDatetime | None = Query(None, description="timestamp before (with zone)"),
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[SecurityEventOut]:
    """The security event log, newest first: stations' SecurityEventNotification
    and Volta's own (failed sign-ins, certificates refused, downgrades)."""
    if since is not None and until is not None and until <= since:
        raise HTTPException(422, "until must be after since")
    found = await security_log.list_events(
        services.db,
        station_id=station_id,
        kind=type_,
        critical=critical,
        origin=origin,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return [SecurityEventOut.model_validate(e, from_attributes=True) for e in found]


@router.post(
    "/stations/{station_id}/password-rotation",
    response_model=PasswordRotationOut,
    responses={404: {}, 409: {}},
)
async def rotate_password(station_id: str, services: ServicesDep) -> PasswordRotationOut:
    """Give the station a new random HTTP Basic password (2.0.1 SetVariables
    SecurityCtrlr.BasicAuthPassword, 1.6 ChangeConfiguration AuthorizationKey)
    and answer once it answered. The password itself is never shown or stored:
    only its hash. 409 when the station has no password (security profile 3 or
    none), is offline, or a rotation is under way."""
    try:
        view = await passwords.rotate(services, station_id, started_by="api")
    except passwords.StationNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found") from None
    except passwords.RotationRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return PasswordRotationOut.model_validate(view, from_attributes=True)


@router.get("/stations/{station_id}/password-rotation", response_model=PasswordRotationOut)
async def get_password_rotation(station_id: str, services: ServicesDep) -> PasswordRotationOut:
    """The station's latest password rotation; 404 when it never had one."""
    view = await passwords.get_rotation(services.db, station_id)
    if view is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no password rotation for station {station_id}"
        )
    return PasswordRotationOut.model_validate(view, from_attributes=True)


class ProfileUpgrade(BaseModel):
    """Move a connected station to a higher security profile (2.0.1 A05,
    1.6 whitepaper §2.5)."""

    security_profile: Literal[2, 3] = Field(description="the profile to move to")
    csms_url: str | None = Field(
        None,
        min_length=1,
        max_length=512,
        description="2.0.1: ocppCsmsUrl of the new network profile, e.g. wss://csms.example.com/ocpp"
        " (the station appends its id); required for 2.0.1",
    )
    configuration_slot: int = Field(1, ge=0, le=2**31 - 1, description="2.0.1: the slot to write")
    fallback_slots: list[int] = Field(
        [],
        max_length=8,
        description="2.0.1: slots after the new one in NetworkConfigurationPriority",
    )
    message_timeout: int = Field(30, ge=1, le=3600, description="2.0.1: messageTimeout (s)")
    ocpp_interface: Literal[
        "Wired0",
        "Wired1",
        "Wired2",
        "Wired3",
        "Wireless0",
        "Wireless1",
        "Wireless2",
        "Wireless3",
    ] = "Wired0"
    reset: bool = Field(True, description="reset the station so that it reconnects now")


class UpgradeStepOut(BaseModel):
    action: str
    status: str = Field(description="the station's answer (Accepted, Rejected, ...) or timeout")
    response: dict[str, Any] | None = None


class ProfileUpgradeOut(BaseModel):
    station_id: str
    security_profile: Literal[2, 3]
    accepted: bool = Field(description="every step was accepted")
    steps: list[UpgradeStepOut]


@router.post("/stations/{station_id}/security-profile", response_model=ProfileUpgradeOut)
async def upgrade_security_profile(
    station_id: str, body: ProfileUpgrade, services: ServicesDep
) -> ProfileUpgradeOut:
    """Send the commands that move the station to a higher profile; the
    stored profile is raised when it reconnects on it (then a connection
    below it is refused). 404 unknown, 409 offline or not higher, 422 a 2.0.1
    station without `csms_url`."""
    row = await provisioning.find_station(services.db, station_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    version = services.router.version_of(station_id)
    if version is None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"station {station_id} is not connected")
    current = row["security_profile"]
    if current is not None and body.security_profile <= current:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"station {station_id} is at security profile {current} already",
        )
    if version.value != "ocpp1.6" and not body.csms_url:
        raise HTTPException(422, "csms_url is required for an OCPP 2.0.1 station")
    steps = await profiles.upgrade(
        services,
        station_id,
        version,
        body.security_profile,
        csms_url=body.csms_url,
        configuration_slot=body.configuration_slot,
        fallback_slots=body.fallback_slots,
        message_timeout=body.message_timeout,
        ocpp_interface=body.ocpp_interface,
        reset=body.reset,
    )
    return ProfileUpgradeOut(
        station_id=station_id,
        security_profile=body.security_profile,
        accepted=all(s.status == "Accepted" for s in steps),
        steps=[
            UpgradeStepOut(action=s.action, status=s.status, response=s.response) for s in steps
        ],
    )


@router.post("/tls/reload")
async def reload_tls(services: ServicesDep) -> dict[str, bool]:
    """Load changed TLS certificate, key, CA and CRL files now (new
    handshakes use them; open connections keep theirs)."""
    reload = services.reload_tls
    return {"reloaded": reload() if reload is not None else False}
