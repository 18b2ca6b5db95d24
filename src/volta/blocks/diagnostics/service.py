"""Diagnostics and logs: ask a station to upload them to the file service and
follow the request to its end.

`request_logs` makes an upload link (HTTP, or FTP for the chargers that speak
only that), records the request, and sends 1.6 GetDiagnostics or GetLog (2.0.1
N01, the 1.6 security extension) with Volta's URL as the location; the
station's DiagnosticsStatusNotification / LogStatusNotification are kept per
request with their times (`notify`); the file that arrives through the link is
attached to the request (`receive_upload`, called by the HTTP and FTP sides).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.files import service as files
from volta.blocks.remote_control import service as remote_control
from volta.events import service as events
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.db import Conn, Database
from volta.store.models import FileLink, LogRequest, utcnow

LOG_TYPES = ("DiagnosticsLog", "SecurityLog")
SCHEMES = ("http", "ftp")
# The station's word that its upload ended well, and those that it did not:
# 1.6 DiagnosticsStatus, 2.0.1 / 1.6 security UploadLogStatusEnumType.
UPLOADED = "Uploaded"
FAILED = frozenset(
    {"UploadFailed", "UploadFailure", "BadMessage", "NotSupportedOperation", "PermissionDenied"}
)
# A request no notification changes any more (not Timeout nor Error: the
# station may have got the request all the same, and its notifications count).
FINAL = FAILED | {UPLOADED, "Rejected", "Canceled", "Offline", "Invalid"}
# A station cannot grow a request's history without bound.
MAX_HISTORY = 50


# -- the commands, version-neutral ---------------------------------------------


@dataclass(frozen=True, slots=True)
class GetDiagnostics:
    """1.6 §5.9: upload a diagnostics file to `location` (a directory URL)."""

    location: str
    retries: int | None = None
    retry_interval: int | None = None
    start_time: dt.datetime | None = None
    stop_time: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class GetLog:
    """2.0.1 N01 and the 1.6 security extension: upload a DiagnosticsLog or
    SecurityLog to `location`, known by `request_id` in the notifications."""

    log_type: str
    request_id: int
    location: str
    retries: int | None = None
    retry_interval: int | None = None
    oldest: dt.datetime | None = None
    latest: dt.datetime | None = None


# -- requests ------------------------------------------------------------------


class RequestRefused(ValueError):
    """The request cannot be made (station offline, FTP off, ...): a 409."""


def preferred_upload_scheme(services: Services, station_id: str) -> str:
    """How `station_id` uploads when the operator does not say: "http". The
    hook for charger profiles: a kind of charger that uploads only over FTP
    answers "ftp" here."""
    return "http"


async def request_logs(
    services: Services,
    station_id: str,
    *,
    log_type: str = "DiagnosticsLog",
    diagnostics: bool = False,
    scheme: str | None = None,
    oldest: dt.datetime | None = None,
    latest: dt.datetime | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> dict[str, Any]:
    """Ask the station for its logs (GetLog) or, with `diagnostics`, for a
    1.6 diagnostics file (GetDiagnostics). Returns the request as stored once
    the station answered (or the command failed)."""
    version = services.router.version_of(station_id)
    if version is None:
        raise RequestRefused(f"station {station_id} is not connected")
    if diagnostics and version is not Version.V16:
        raise RequestRefused(
            "GetDiagnostics is OCPP 1.6 only: ask a 2.0.1 station for its DiagnosticsLog "
            "(POST .../logs)"
        )
    if log_type not in LOG_TYPES:
        raise RequestRefused(f"log_type must be one of {', '.join(LOG_TYPES)}")
    scheme = scheme or preferred_upload_scheme(services, station_id)
    try:
        location = await files.upload_url(
            services,
            station_id=station_id,
            kind="diagnostics" if diagnostics else "log",
            scheme=scheme,
            # The station's retries must still find the link open.
            seconds=services.settings.files_link_seconds + (retries or 0) * (retry_interval or 0),
        )
    except ValueError as exc:
        raise RequestRefused(str(exc)) from None
    now = utcnow()
    action = "GetDiagnostics" if diagnostics else "GetLog"
    row: dict[str, Any] = {
        "station_id": station_id,
        "action": action,
        "log_type": "Diagnostics" if diagnostics else log_type,
        "scheme": scheme,
        "link_token": files.token_of(location),
        "status": "Requested",
        "history": [_entry("Requested", now)],
        "oldest": oldest,
        "latest": latest,
        "retries": retries,
        "retry_interval": retry_interval,
        "created_at": now,
        "updated_at": now,
    }
    async with services.db.write(station_id) as conn:
        request_id = int(
            (
                await conn.execute(sa.insert(LogRequest).values(**row).returning(LogRequest.id))
            ).scalar_one()
        )
    command: GetDiagnostics | GetLog
    if diagnostics:
        command = GetDiagnostics(location, retries, retry_interval, oldest, latest)
    else:
        command = GetLog(log_type, request_id, location, retries, retry_interval, oldest, latest)
    record = await remote_control.send(services, station_id, command)
    answer = record["response"] or {}
    if record["status"] in ("accepted", "rejected"):
        # GetDiagnostics.conf has no status: an answer is an acceptance.
        status = str(answer.get("status", "Accepted"))
    else:
        status = record["status"].capitalize()
    filename = answer.get("fileName") or answer.get("filename")
    async with services.db.write(station_id) as conn:
        if status == "AcceptedCanceled":
            # N01.FR.12: the station dropped its upload under way for this one.
            await _cancel_earlier(conn, station_id, request_id)
        await _answered(conn, request_id, status, record["id"], filename)
        if status in FINAL:
            await _emit_failed(conn, station_id, request_id, status)
    found = await get_request(services.db, request_id)
    assert found is not None
    return found


def _entry(status: str, at: dt.datetime) -> dict[str, str]:
    return {"status": status, "at": at.isoformat()}


async def _append(conn: Conn, request_id: int, status: str, **values: Any) -> dict[str, Any]:
    """Record `status` (and `values`) on the request, in the caller's transaction."""
    now = utcnow()
    row = (
        (await conn.execute(sa.select(LogRequest).where(LogRequest.id == request_id)))
        .mappings()
        .one()
    )
    history = [*row["history"], _entry(status, now)][-MAX_HISTORY:]
    await conn.execute(
        sa.update(LogRequest)
        .where(LogRequest.id == request_id)
        .values(status=status, history=history, updated_at=now, **values)
    )
    return {**row, "status": status, "history": history, **values}


async def _answered(
    conn: Conn, request_id: int, status: str, command_id: str, filename: str | None
) -> None:
    """Record the station's answer. Its notifications may be here first (a
    station notifies right after it answered, before Volta recorded the
    answer): the answer then goes in its place in the history, after
    Requested, and the latest status stays theirs."""
    row = (
        (await conn.execute(sa.select(LogRequest).where(LogRequest.id == request_id)))
        .mappings()
        .one()
    )
    if row["status"] == "Requested":
        await _append(conn, request_id, status, command_id=command_id, filename=filename)
        return
    history = list(row["history"])
    history.insert(1, _entry(status, utcnow()))
    await conn.execute(
        sa.update(LogRequest)
        .where(LogRequest.id == request_id)
        .values(history=history[-MAX_HISTORY:], command_id=command_id, filename=filename)
    )


async def _cancel_earlier(conn: Conn, station_id: str, request_id: int) -> None:
    earlier = (
        await conn.execute(
            sa.select(LogRequest.id).where(
                LogRequest.station_id == station_id,
                LogRequest.action == "GetLog",
                LogRequest.id < request_id,
                LogRequest.status.not_in(FINAL),
            )
        )
    ).scalars()
    for other in list(earlier):
        await _append(conn, other, "Canceled")


async def _emit_failed(conn: Conn, station_id: str, request_id: int, status: str) -> None:
    await events.emit(
        conn, "log.failed", station_id=station_id, log_request_id=request_id, status=status
    )


async def _emit_uploaded(conn: Conn, row: dict[str, Any]) -> None:
    await events.emit(
        conn,
        "log.uploaded",
        station_id=row["station_id"],
        log_request_id=row["id"],
        log_type=row["log_type"],
        file_id=row["file_id"],
    )


async def notify(
    services: Services, station_id: str, action: str, status: str, request_id: int | None
) -> None:
    """A station's DiagnosticsStatusNotification (`action` GetDiagnostics) or
    LogStatusNotification (GetLog): kept on its request, the one named by
    `request_id`, else the station's latest of that action still under way.
    Idle (the answer to a TriggerMessage when nothing is uploading) changes
    no request."""
    async with services.db.write(station_id) as conn:
        stmt = sa.select(LogRequest.id, LogRequest.status).where(
            LogRequest.station_id == station_id, LogRequest.action == action
        )
        if request_id is not None:
            stmt = stmt.where(LogRequest.id == request_id)
        found = (await conn.execute(stmt.order_by(LogRequest.id.desc()).limit(1))).first()
        if status == "AcceptedCanceled":
            # The upload of this request was dropped for a later one (TC_N_36).
            status = "Canceled"
        if found is None or status == "Idle" or found.status in FINAL - {UPLOADED}:
            return
        values: dict[str, Any] = {}
        if status == UPLOADED:
            # The file came before the notification (as it should): attach it.
            values["file_id"] = await _arrived(conn, found.id)
        row = await _append(conn, found.id, status, **values)
        if status == UPLOADED and found.status != UPLOADED and row["file_id"]:
            await _emit_uploaded(conn, row)
        elif status in FAILED:
            await _emit_failed(conn, station_id, found.id, status)


async def _arrived(conn: Conn, request_id: int) -> str | None:
    found: str | None = (
        await conn.execute(
            sa.select(FileLink.file_id)
            .join(LogRequest, LogRequest.link_token == FileLink.token)
            .where(LogRequest.id == request_id)
        )
    ).scalar()
    return found


async def receive_upload(
    services: Services, link: dict[str, Any], chunks: AsyncIterable[bytes], name: str
) -> dict[str, Any]:
    """A file a station uploads through its link, over HTTP or FTP: stored by
    the file service and attached to the request the link was made for.
    Raises what `files.receive` raises."""
    row = await files.receive(services, link, chunks, name)
    async with services.db.write(link["station_id"]) as conn:
        request = (
            (
                await conn.execute(
                    sa.select(LogRequest).where(LogRequest.link_token == link["token"])
                )
            )
            .mappings()
            .first()
        )
        if request is not None:
            await conn.execute(
                sa.update(LogRequest)
                .where(LogRequest.id == request["id"])
                .values(file_id=row["id"], updated_at=utcnow())
            )
            if request["status"] == UPLOADED:
                # The station said Uploaded before its file was whole here.
                await _emit_uploaded(conn, {**request, "file_id": row["id"]})
    return row


# -- reading -------------------------------------------------------------------

_PUBLIC = [c for c in LogRequest.__table__.columns if c.name != "link_token"]


async def get_request(db: Database, request_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(*_PUBLIC).where(LogRequest.id == request_id)))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def list_requests(
    db: Database, *, station_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    stmt = sa.select(*_PUBLIC).order_by(LogRequest.id.desc())
    if station_id:
        stmt = stmt.where(LogRequest.station_id == station_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).mappings().all()
    return [dict(r) for r in rows]
