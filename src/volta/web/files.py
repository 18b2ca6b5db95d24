"""The dashboard's files page: firmware images (an admin uploads and deletes
them), diagnostics and logs stations uploaded, downloads, the diagnostics and
log requests with their status; and a station page's "request logs" fragment."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from volta.blocks.diagnostics import service as diagnostics
from volta.blocks.files import service as files
from volta.blocks.files.storage import TooLarge
from volta.blocks.provisioning import service as provisioning
from volta.http import ServicesDep
from volta.ocpp.versions import Version
from volta.web.i18n import tr
from volta.web.paging import paging
from volta.web.views import Admin, User, notice, render

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

REQUESTS_SHOWN = 20  # the latest diagnostics and log requests below the files
KINDS = files.KINDS


async def _page(
    request: Request, services: ServicesDep, problem: str = "", status_code: int = 200
) -> HTMLResponse:
    """The files newest first (the id last: a stable order), one page at a
    time; search (name, station) and kind."""
    p = paging(request, "kind")
    kind = p.params.get("kind", "")
    if kind not in KINDS:
        kind = ""
        p.params.pop("kind", None)
    rows = await files.list_files(
        services.db, kind=kind or None, q=p.q or None, limit=p.limit, offset=p.offset
    )
    return render(
        request,
        "files.html",
        status_code,
        files=p.window(rows),
        p=p,
        requests=await diagnostics.list_requests(services.db, limit=REQUESTS_SHOWN),
        kind=kind,
        kinds=KINDS,
        problem=problem,
        max_upload=services.settings.files_max_upload_bytes,
    )


@router.get("/files")
async def files_page(request: Request, user: User, services: ServicesDep) -> HTMLResponse:
    return await _page(request, services)


@router.post("/files")
async def upload_firmware(request: Request, user: Admin, services: ServicesDep) -> Response:
    """The upload form (multipart): streamed to disk, bounded like the API's."""
    form = await request.form(max_files=1, max_fields=5, max_part_size=16 * 1024)
    try:
        row = await files.store_firmware_form(services, form)
    except (files.UploadRefused, TooLarge) as exc:
        return await _page(request, services, tr(request, "Not uploaded: {why}", why=str(exc)))
    finally:
        await form.close()
    log.info("dashboard: %s uploaded firmware %s", user["username"], row["name"])
    return RedirectResponse("/files?kind=firmware", status_code=303)


@router.get("/files/{file_id}/content")
async def download(
    request: Request, file_id: str, user: User, services: ServicesDep
) -> FileResponse:
    file = await files.get_file(services.db, file_id)
    path = files.storage(services).path(file["sha256"]) if file else None
    if file is None or path is None:
        raise HTTPException(404, tr(request, "File {id} not found.", id=file_id))
    return FileResponse(path, media_type=file["content_type"], filename=file["name"])


@router.delete("/files/{file_id}")
async def delete(request: Request, file_id: str, user: Admin, services: ServicesDep) -> Any:
    if not await files.delete_file(services, file_id):
        return notice(request, tr(request, "File {id} not found.", id=file_id), "bad", 404)
    log.info("dashboard: %s deleted file %s", user["username"], file_id)
    return HTMLResponse("")  # htmx removes the row


# -- a station's logs --------------------------------------------------------------


async def _station_logs(
    request: Request,
    services: ServicesDep,
    station_id: str,
    template: str = "_station_logs.html",
    **extra: Any,
) -> Any:
    station = await provisioning.find_station(services.db, station_id)
    if station is None:
        return notice(request, tr(request, "Station {id} not found.", id=station_id), "bad", 404)
    version = services.router.version_of(station_id)
    return render(
        request,
        template,
        station=station,
        online=version is not None,
        v16=version is Version.V16,
        ftp=bool(services.ftp_port or services.settings.files_ftp_port),
        requests=await diagnostics.list_requests(services.db, station_id=station_id, limit=5),
        **extra,
    )


@router.get("/stations/{station_id}/logs")
async def station_logs(request: Request, station_id: str, user: User, services: ServicesDep) -> Any:
    return await _station_logs(request, services, station_id)


@router.get("/stations/{station_id}/logs/table")
async def station_log_rows(
    request: Request, station_id: str, user: User, services: ServicesDep
) -> Any:
    return await _station_logs(request, services, station_id, "_station_log_rows.html")


@router.post("/stations/{station_id}/logs")
async def request_logs(
    request: Request, station_id: str, user: Admin, services: ServicesDep
) -> Any:
    form = await request.form()
    what = str(form.get("log_type") or "DiagnosticsLog")
    scheme = str(form.get("scheme") or "") or None
    if what not in (*diagnostics.LOG_TYPES, "Diagnostics") or scheme not in (None, "http", "ftp"):
        return await _station_logs(
            request, services, station_id, problem=tr(request, "Unknown choice.")
        )
    log.info("dashboard: %s asks %s for its %s", user["username"], station_id, what)
    try:
        await diagnostics.request_logs(
            services,
            station_id,
            diagnostics=what == "Diagnostics",
            log_type="DiagnosticsLog" if what == "Diagnostics" else what,
            scheme=scheme,
        )
    except diagnostics.RequestRefused as exc:
        return await _station_logs(request, services, station_id, problem=str(exc))
    return await _station_logs(request, services, station_id)
