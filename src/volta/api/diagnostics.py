"""Diagnostics and logs: GetDiagnostics (1.6) and GetLog (2.0.1, 1.6 security
extension) requests, uploaded to Volta's file service, and their status."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from volta.api.models import Id, Offset
from volta.blocks.diagnostics import service
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep

router = APIRouter(tags=["diagnostics"])

Scheme = Literal["http", "ftp"]


class _Upload(BaseModel):
    scheme: Scheme | None = Field(
        None,
        description="how the station uploads: http (PUT to a per-request URL) or ftp "
        "(a per-request login on the FTP endpoint); default: the station's preference (http)",
    )
    retries: int | None = Field(None, ge=0, le=100)
    retry_interval: int | None = Field(None, ge=0, le=86_400, description="seconds")


class DiagnosticsCreate(_Upload):
    start_time: dt.datetime | None = Field(None, description="the oldest diagnostics wanted")
    stop_time: dt.datetime | None = Field(None, description="the latest diagnostics wanted")


class LogsCreate(_Upload):
    log_type: Literal["DiagnosticsLog", "SecurityLog"] = "DiagnosticsLog"
    oldest: dt.datetime | None = Field(None, description="oldestTimestamp")
    latest: dt.datetime | None = Field(None, description="latestTimestamp")


class StatusAt(BaseModel):
    status: str
    at: dt.datetime


class LogRequestOut(BaseModel):
    id: int = Field(description="the GetLog requestId")
    station_id: str
    action: str = Field(description="GetDiagnostics or GetLog")
    log_type: str = Field(description="Diagnostics, DiagnosticsLog or SecurityLog")
    scheme: str
    status: str = Field(
        description="Requested, the station's answer (Accepted, Rejected, AcceptedCanceled) or "
        "why it was not asked (Offline, Timeout, ...), then its notifications (Uploading, "
        "Uploaded, UploadFailed / UploadFailure, ...); Canceled when a later GetLog replaced it"
    )
    history: list[StatusAt]
    filename: str | None = Field(description="the file name the station announced")
    file_id: str | None = Field(description="the uploaded file (GET /files/{id}/content)")
    command_id: str | None
    oldest: dt.datetime | None
    latest: dt.datetime | None
    retries: int | None
    retry_interval: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


async def _request(
    services: ServicesDep, station_id: str, diagnostics: bool, **kwargs: Any
) -> dict[str, Any]:
    if await provisioning.find_station(services.db, station_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"station {station_id} not found")
    try:
        return await service.request_logs(services, station_id, diagnostics=diagnostics, **kwargs)
    except service.RequestRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None


@router.post("/stations/{station_id}/diagnostics", response_model=LogRequestOut, status_code=201)
async def request_diagnostics(
    station_id: str, body: DiagnosticsCreate, services: ServicesDep
) -> dict[str, Any]:
    """Send 1.6 GetDiagnostics with Volta's upload URL as the location; 201
    with the request once the station answered (its status says what it
    answered). 409 when the station is not connected, speaks 2.0.1 (use
    /logs), or FTP is asked for and the FTP endpoint is off."""
    return await _request(
        services,
        station_id,
        True,
        scheme=body.scheme,
        oldest=body.start_time,
        latest=body.stop_time,
        retries=body.retries,
        retry_interval=body.retry_interval,
    )


@router.post("/stations/{station_id}/logs", response_model=LogRequestOut, status_code=201)
async def request_log(station_id: str, body: LogsCreate, services: ServicesDep) -> dict[str, Any]:
    """Send GetLog (2.0.1 N01, or the 1.6 security extension) for a
    DiagnosticsLog or SecurityLog; the request's id is the requestId. 201 with
    the request once the station answered; 409 as for /diagnostics."""
    return await _request(
        services,
        station_id,
        False,
        log_type=body.log_type,
        scheme=body.scheme,
        oldest=body.oldest,
        latest=body.latest,
        retries=body.retries,
        retry_interval=body.retry_interval,
    )


@router.get("/log-requests", response_model=list[LogRequestOut])
async def list_log_requests(
    services: ServicesDep,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Diagnostics and log requests, newest first."""
    return await service.list_requests(
        services.db, station_id=station_id, limit=limit, offset=offset
    )


@router.get("/log-requests/{request_id}", response_model=LogRequestOut)
async def get_log_request(request_id: Id, services: ServicesDep) -> dict[str, Any]:
    """One request: its status history and, once uploaded, its file id."""
    found = await service.get_request(services.db, request_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"log request {request_id} not found")
    return found
