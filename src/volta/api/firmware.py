"""Firmware: updates of one station and firmware campaigns."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from volta.api.models import INT32_MAX, Id, Offset
from volta.blocks.firmware import campaigns, publications, service
from volta.http import ServicesDep
from volta.outgoing import CannotSpell

router = APIRouter(tags=["firmware"])

Location = Annotated[
    str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z][A-Za-z0-9+.-]*://")
]
Certificate = Annotated[str, Field(min_length=1, max_length=5500)]
Signature = Annotated[str, Field(min_length=1, max_length=800)]
Version = Annotated[str, Field(min_length=1, max_length=50)]


class _Firmware(BaseModel):
    file_id: str | None = Field(
        None, max_length=36, description="a stored firmware file (POST /api/v1/files)"
    )
    location: Location | None = Field(
        None, description="or an external URL the stations download from"
    )
    version: Version | None = Field(
        None,
        description="the firmware version stations report at boot once updated; default: "
        "the first dotted number in the file name",
    )
    signing_certificate: Certificate | None = Field(
        None, description="PEM; default: the stored file's (signed update when set)"
    )
    signature: Signature | None = Field(None, description="base64; default: the stored file's")

    @model_validator(mode="after")
    def one_source(self) -> _Firmware:
        if (self.file_id is None) == (self.location is None):
            raise ValueError("give file_id or location, not both")
        if (self.signing_certificate is None) != (self.signature is None):
            raise ValueError("give signing_certificate and signature together")
        return self


class UpdateIn(_Firmware):
    retrieve_at: AwareDatetime | None = Field(None, description="when to download; default now")
    install_at: AwareDatetime | None = Field(None, description="when to install (signed, 2.0.1)")
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, le=INT32_MAX)


class HistoryEntry(BaseModel):
    status: str
    at: str


class UpdateOut(BaseModel):
    id: int = Field(description="also the requestId the station was sent")
    station_id: str
    campaign_id: int | None
    file_id: str | None
    location: str
    version: str | None
    action: str = Field(description="UpdateFirmware or SignedUpdateFirmware (1.6)")
    signed: bool
    retrieve_at: dt.datetime
    install_at: dt.datetime | None
    retries: int | None
    retry_interval: int | None
    state: Literal["sending", "in_progress", "installed", "failed", "canceled"] | str
    status: str | None = Field(description="the station's latest status or answer")
    detail: str | None
    history: list[HistoryEntry]
    command_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None


class TargetIn(BaseModel):
    vendor: str | None = Field(None, max_length=50)
    model: str | None = Field(None, max_length=50)
    firmware_version: str | None = Field(None, max_length=50, description="current version")
    site_id: int | None = Field(None, ge=0, le=INT32_MAX)
    station_ids: list[Annotated[str, Field(max_length=48)]] = Field(
        [], max_length=campaigns.MAX_STATIONS
    )


class CampaignIn(_Firmware):
    name: str = Field(min_length=1, max_length=100)
    target: TargetIn
    canary: int = Field(1, ge=0, le=1000, description="stations updated first, alone")
    max_in_progress: int = Field(5, ge=1, le=1000)
    attempts: int = Field(1, ge=1, le=10, description="updates tried per station")
    failure_threshold: float = Field(
        0.2, ge=0, le=1, description="halt when failed / finished exceeds it"
    )
    window_start: str | None = Field(None, pattern=r"^\d\d:\d\d$", description="HH:MM")
    window_end: str | None = Field(None, pattern=r"^\d\d:\d\d$", description="HH:MM")
    timezone: str = Field("UTC", max_length=64)


class Progress(BaseModel):
    pending: int
    in_progress: int
    installed: int
    failed: int
    skipped_offline: int
    total: int


class CampaignOut(BaseModel):
    id: int
    name: str
    file_id: str | None
    location: str | None
    version: str | None
    signed: bool
    target: dict[str, Any]
    canary: int
    max_in_progress: int
    attempts: int
    failure_threshold: float
    window_start: str | None
    window_end: str | None
    timezone: str
    state: Literal["running", "paused", "halted", "canceled", "finished"] | str
    detail: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    progress: Progress


class CampaignStationOut(BaseModel):
    station_id: str
    canary: bool
    state: str
    tries: int
    update_id: int | None
    update_status: str | None
    detail: str | None
    updated_at: dt.datetime


class CampaignDetailOut(CampaignOut):
    stations: list[CampaignStationOut]


def _campaign(row: dict[str, Any]) -> dict[str, Any]:
    # The certificate and signature are long: only whether there are.
    return row | {"signed": bool(row["signature"])}


@router.post(
    "/stations/{station_id}/firmware-updates",
    response_model=UpdateOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {}},
)
async def update_firmware(station_id: str, body: UpdateIn, services: ServicesDep) -> Any:
    """Ask the station to download and install firmware: 1.6 UpdateFirmware,
    or SignedUpdateFirmware when the firmware has a signature; 2.0.1
    UpdateFirmware (L01 with a signature, else L02). A stored file is sent as
    a per-request download link. The answer is the update with the station's
    answer (state failed when it refused, was offline or did not answer)."""
    if not await service.station_exists(services.db, station_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    try:
        return await service.start_update(services, station_id, **body.model_dump())
    except service.UpdateRefused as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/firmware-updates", response_model=list[UpdateOut])
async def list_updates(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    campaign_id: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    """Firmware updates, newest first."""
    return await service.list_updates(
        services.db, station_id=station_id, campaign_id=campaign_id, limit=limit, offset=offset
    )


@router.get("/firmware-updates/{update_id}", response_model=UpdateOut, responses={404: {}})
async def get_update(update_id: Id, services: ServicesDep) -> Any:
    found = await service.get_update(services.db, update_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"firmware update {update_id} not found")
    return found


@router.post(
    "/firmware-campaigns",
    response_model=CampaignOut,
    status_code=status.HTTP_201_CREATED,
    responses={422: {}},
)
async def create_campaign(body: CampaignIn, services: ServicesDep) -> Any:
    """Start a campaign: the stations the target matches now, canary first,
    then waves of at most max_in_progress inside the window."""
    data = body.model_dump(exclude={"target"})
    try:
        row = await campaigns.create_campaign(
            services, target=campaigns.Target(**body.target.model_dump()), **data
        )
    except campaigns.CampaignError as exc:
        raise HTTPException(422, str(exc)) from None
    return _campaign(row)


@router.get("/firmware-campaigns", response_model=list[CampaignOut])
async def list_campaigns(
    services: ServicesDep,
    state: Literal["running", "paused", "halted", "canceled", "finished"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    """Campaigns, newest first, with their progress counters."""
    rows = await campaigns.list_campaigns(services.db, state=state, limit=limit, offset=offset)
    return [_campaign(r) for r in rows]


@router.get(
    "/firmware-campaigns/{campaign_id}", response_model=CampaignDetailOut, responses={404: {}}
)
async def get_campaign(campaign_id: Id, services: ServicesDep) -> Any:
    """The campaign, its progress and each station's state."""
    found = await campaigns.get_campaign(services.db, campaign_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"campaign {campaign_id} not found")
    stations = await campaigns.campaign_stations(services.db, campaign_id)
    return _campaign(found) | {"stations": stations}


@router.post(
    "/firmware-campaigns/{campaign_id}/{move}",
    response_model=CampaignOut,
    responses={404: {}, 409: {}},
)
async def change_campaign(
    campaign_id: Id, move: Literal["pause", "resume", "cancel"], services: ServicesDep
) -> Any:
    """pause, resume (a paused or halted campaign), cancel. Updates under way
    on stations go on; no new one starts unless the campaign runs."""
    try:
        return _campaign(await campaigns.change_state(services, campaign_id, move))
    except LookupError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except campaigns.CampaignError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


# -- Local Controllers: publishing firmware (2.0.1 L03/L04) ---------------------------


class PublicationIn(BaseModel):
    file_id: str | None = Field(None, max_length=36, description="a stored firmware file")
    location: Location | None = Field(None, description="or an external URL")
    checksum: str | None = Field(
        None,
        pattern=r"^[0-9a-fA-F]{32}$",
        description="the file's MD5 (hex); computed for a stored file, required for a location",
    )
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, le=INT32_MAX)

    @model_validator(mode="after")
    def one_source(self) -> PublicationIn:
        if (self.file_id is None) == (self.location is None):
            raise ValueError("give file_id or location, not both")
        return self


class PublicationOut(BaseModel):
    id: int = Field(description="also the requestId the Local Controller was sent")
    station_id: str
    file_id: str | None
    location: str
    checksum: str
    state: Literal["sending", "in_progress", "published", "failed", "unpublished"] | str
    status: str | None
    detail: str | None
    published_at: list[str] | None = Field(description="where the Local Controller serves it")
    history: list[HistoryEntry]
    command_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@router.post(
    "/stations/{station_id}/firmware-publications",
    response_model=PublicationOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {}, 422: {}},
)
async def publish_firmware(station_id: str, body: PublicationIn, services: ServicesDep) -> Any:
    """Ask a Local Controller (a 2.0.1 station) to download the firmware and
    publish it to the stations behind it (PublishFirmware, L03)."""
    if not await service.station_exists(services.db, station_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    try:
        return await publications.publish(services, station_id, **body.model_dump())
    except service.UpdateRefused as exc:
        code = 404 if "not found" in str(exc) else 422
        raise HTTPException(code, str(exc)) from None
    except CannotSpell as exc:
        raise HTTPException(422, str(exc)) from None


@router.get("/firmware-publications", response_model=list[PublicationOut])
async def list_publications(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Any:
    return await publications.list_publications(
        services.db, station_id=station_id, limit=limit, offset=offset
    )


@router.get(
    "/firmware-publications/{publication_id}", response_model=PublicationOut, responses={404: {}}
)
async def get_publication(publication_id: Id, services: ServicesDep) -> Any:
    found = await publications.get_publication(services.db, publication_id)
    if found is None:
        raise HTTPException(404, f"publication {publication_id} not found")
    return found


@router.post(
    "/firmware-publications/{publication_id}/unpublish",
    response_model=PublicationOut,
    responses={404: {}},
)
async def unpublish_firmware(publication_id: Id, services: ServicesDep) -> Any:
    """UnpublishFirmware (L04): `state` unpublished when the Local Controller
    answered Unpublished; DownloadOngoing and NoFirmware are kept as `status`."""
    try:
        found = await publications.unpublish(services, publication_id)
    except CannotSpell as exc:
        raise HTTPException(422, str(exc)) from None
    if found is None:
        raise HTTPException(404, f"publication {publication_id} not found")
    return found
