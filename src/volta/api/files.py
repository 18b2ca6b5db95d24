"""Files: firmware images, diagnostics and logs (the file service).

`router` is the operator's API (bearer token); `transfers` is what stations
reach without a token, through the expiring per-request URLs the file service
makes (/transfers/{token}/{name}).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from volta.api.models import Offset
from volta.blocks.diagnostics import service as diagnostics
from volta.blocks.files import service as files
from volta.blocks.files.storage import TooLarge
from volta.http import ServicesDep

router = APIRouter(tags=["files"])
transfers = APIRouter(tags=["transfers"], include_in_schema=False)

UPLOAD_PATH = "/files"
# Signed firmware: the 2.0.1 FirmwareType / 1.6 security extension bounds.
MAX_CERTIFICATE_CHARS = 5500
MAX_SIGNATURE_CHARS = 800
CHUNK = 256 * 1024


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


class UploadRefused(ValueError):
    pass


def check_signing(certificate: str | None, signature: str | None) -> None:
    """Signed firmware's certificate (PEM) and signature (base64), both or neither."""
    if bool(certificate) != bool(signature):
        raise UploadRefused("signed firmware needs both signing_certificate and signature")
    if certificate is None or signature is None:
        return
    if len(certificate) > MAX_CERTIFICATE_CHARS or "-----BEGIN CERTIFICATE-----" not in certificate:
        raise UploadRefused(
            f"signing_certificate must be a PEM certificate of at most {MAX_CERTIFICATE_CHARS} "
            "characters"
        )
    try:
        base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise UploadRefused("signature must be base64") from None
    if len(signature) > MAX_SIGNATURE_CHARS:
        raise UploadRefused(f"signature must be at most {MAX_SIGNATURE_CHARS} characters")


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def store_upload(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A multipart firmware upload (fields file, signing_certificate,
    signature): the form parser spools the file to disk, never all in memory;
    the Edge bounds the body by files_max_upload_bytes."""
    form = await request.form(max_files=1, max_fields=4, max_part_size=16 * 1024)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UploadRefused("a multipart field `file` with the firmware image is required")
        fields: dict[str, Any] = {}
        for key in ("signing_certificate", "signature"):
            value = form.get(key)
            if isinstance(value, UploadFile):
                raise UploadRefused(f"{key} must be a text field")
            fields[key] = value.strip() if value else None
        check_signing(fields["signing_certificate"], fields["signature"])
        name = files.safe_name(upload.filename or "")
        if not name:
            raise UploadRefused("the file needs a name")
        return await files.store(
            services,
            _chunks(upload),
            kind="firmware",
            name=name,
            content_type=upload.content_type or "application/octet-stream",
            **fields,
        )
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
    except UploadRefused as exc:
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
    file = await files.get_file(services.db, file_id[:36])
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
    if not await files.delete_file(services, file_id[:36]):
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
