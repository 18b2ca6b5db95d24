"""Security: security events, password rotation, station security profiles."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from volta.blocks.provisioning import service as provisioning
from volta.blocks.security import profiles
from volta.http import ServicesDep

router = APIRouter(tags=["security"])


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
