"""Files: firmware images, diagnostics and logs (the file service).

`router` is the operator's API (bearer token); `transfers` is what stations
reach without a token, through the expiring per-request URLs the file service
makes (/transfers/{token}/{name}).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel

from volta.api.models import Offset
from volta.blocks.diagnostics import service as diagnostics
from volta.blocks.files import service as files
from volta.blocks.files.storage import TooLarge
from volta.http import ServicesDep

router = APIRouter(tags=["files"])
transfers = APIRouter(tags=["transfers"], include_in_schema=False)

UPLOAD_PATH = "/files"


class FileOut(BaseModel):
    id: str
    kind: str
    name: str
    sha256: str
    size: int
    content_type: str
    station_id: str | None
    signing_certificate: str | None
    signature: str | None
    created_at: dt.datetime


async def store_upload(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A multipart firmware upload: the form parser spools the file to disk,
    never all in memory; the Edge bounds the body by files_max_upload_bytes."""
    form = await request.form(max_files=1, max_fields=4, max_part_size=16 * 1024)
    try:
        return await files.store_firmware_form(services, form)
    finally:
        await form.close()


@router.post(UPLOAD_PATH, response_model=FileOut, status_code=201)
async def upload_file(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Upload a firmware image (multipart/form-data: `file`, and for signed
    firmware `signing_certificate` (PEM) and `signature` (base64)). Stored once
    per content; the answer carries its sha256. 413 above files_max_upload_bytes
    (nothing is kept), 422 for a missing file or a bad certificate/signature."""
    try:
        return await store_upload(request, services)
    except files.UploadRefused as exc:
        raise HTTPException(422, str(exc)) from None
    except TooLarge as exc:
        raise HTTPException(413, str(exc)) from None


@router.get("/files", response_model=list[FileOut])
async def list_files(
    services: ServicesDep,
    kind: Literal["firmware", "diagnostics", "log"] | None = None,
    station_id: Annotated[str | None, Query(max_length=48)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    """Stored files, newest first; by kind and by the station that uploaded them."""
    return await files.list_files(
        services.db, kind=kind, station_id=station_id, limit=limit, offset=offset
    )


async def _found(services: ServicesDep, file_id: str) -> dict[str, Any]:
    file = await files.get_file(services.db, file_id)
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"file {file_id} not found")
    return file


@router.get("/files/{file_id}", response_model=FileOut)
async def get_file(file_id: str, services: ServicesDep) -> dict[str, Any]:
    return await _found(services, file_id)


@router.get("/files/{file_id}/content", response_class=FileResponse)
async def download_file(file_id: str, services: ServicesDep) -> FileResponse:
    """The file's bytes (Range requests answered with 206)."""
    file = await _found(services, file_id)
    path = files.storage(services).path(file["sha256"])
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"the content of file {file_id} is gone")
    return FileResponse(path, media_type=file["content_type"], filename=file["name"])


@router.delete("/files/{file_id}", status_code=204)
async def delete_file(file_id: str, services: ServicesDep) -> Response:
    """Delete the file; its bytes go when no other file has the same content."""
    if not await files.delete_file(services, file_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"file {file_id} not found")
    return Response(status_code=204)


# -- what stations reach through their links -----------------------------------


@transfers.get(files.TRANSFERS + "/{token}/{name:path}")
async def download(token: str, name: str, services: ServicesDep) -> FileResponse:
    """A station downloads a file (firmware) through its link."""
    link = await files.resolve_link(services.db, token, "download")
    file = await files.get_file(services.db, link["file_id"]) if link and link["file_id"] else None
    path = files.storage(services).path(file["sha256"]) if file else None
    if file is None or path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file, or the link expired")
    return FileResponse(path, media_type=file["content_type"], filename=file["name"])


@transfers.api_route(files.TRANSFERS + "/{token}/{name:path}", methods=["PUT", "POST"])
async def upload(token: str, name: str, request: Request, services: ServicesDep) -> JSONResponse:
    """A station uploads a file (diagnostics, log) through its link: the raw
    body, streamed to storage, at most files_max_upload_bytes."""
    link = await files.resolve_link(services.db, token, "upload")
    if link is None or link["file_id"] is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such upload link, or it expired")
    try:
        row = await diagnostics.receive_upload(services, link, request.stream(), name)
    except TooLarge as exc:
        raise HTTPException(413, str(exc)) from None
    except files.LinkUsed as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return JSONResponse({"id": row["id"], "size": row["size"]}, status_code=201)
