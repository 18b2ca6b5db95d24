"""Files: firmware images, diagnostics and logs (the file service).

`router` is the operator's API (bearer token); `transfers` is what stations
reach without a token, through the expiring per-request URLs the file service
makes (/transfers/{token}/{name}).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import FileResponse, JSONResponse

from volta.blocks.files import service as files
from volta.http import ServicesDep

router = APIRouter(tags=["files"])
transfers = APIRouter(tags=["transfers"], include_in_schema=False)


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
    """A station uploads a file (diagnostics, log) through its link."""
    link = await files.resolve_link(services.db, token, "upload")
    if link is None or link["file_id"] is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such upload link, or it expired")
    row = await files.store(
        services,
        request.stream(),
        kind=link["kind"] or "log",
        name=name or f"{link['kind']}-{link['station_id']}",
        station_id=link["station_id"],
    )
    await files.attach_upload(services.db, token, row["id"])
    return JSONResponse({"id": row["id"], "size": row["size"]}, status_code=201)
