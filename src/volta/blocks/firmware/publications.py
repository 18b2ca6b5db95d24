"""Firmware a Local Controller publishes for the stations behind it (2.0.1
L03 PublishFirmware, L04 UnpublishFirmware) and the statuses it reports
(PublishFirmwareStatusNotification). Volta's own stations download from the
file service directly; this is for sites with a Local Controller that caches
firmware on the local network."""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from volta.blocks.files import service as files
from volta.blocks.firmware.service import MAX_HISTORY, UpdateRefused, _entry
from volta.blocks.remote_control import service as remote_control
from volta.events import service as events
from volta.services import Services
from volta.store.db import Database
from volta.store.models import FirmwarePublication, utcnow

FAILED = frozenset({"DownloadFailed", "InvalidChecksum", "PublishFailed"})
UNFINISHED = ("sending", "in_progress")
MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
MAX_URIS = 20


@dataclass(frozen=True, slots=True)
class PublishFirmware:
    """L03: download the firmware and publish it to the local stations."""

    request_id: int
    location: str
    checksum: str
    retries: int | None = None
    retry_interval: int | None = None


@dataclass(frozen=True, slots=True)
class UnpublishFirmware:
    """L04: stop publishing the firmware with this checksum."""

    checksum: str


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _view(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


async def _emit(conn: Any, row: dict[str, Any]) -> None:
    await events.emit(
        conn,
        "firmware.status",
        station_id=row["station_id"],
        publication_id=row["id"],
        state=row["state"],
        status=row["status"],
    )


async def publish(
    services: Services,
    station_id: str,
    *,
    file_id: str | None = None,
    location: str | None = None,
    checksum: str | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
) -> dict[str, Any]:
    """Store the publication, send PublishFirmware, return it answered.
    A stored file's MD5 is computed; an external location needs `checksum`."""
    if file_id is not None:
        file = await files.get_file(services.db, file_id)
        path = files.storage(services).path(file["sha256"]) if file else None
        if file is None or file["kind"] != "firmware":
            raise UpdateRefused(f"firmware file {file_id} not found")
        if checksum is None:
            if path is None:
                raise UpdateRefused("give the file's MD5 checksum")
            checksum = await asyncio.to_thread(_md5, path)
    elif not location:
        raise UpdateRefused("give file_id or location")
    if checksum is None or not MD5.match(checksum):
        raise UpdateRefused("checksum: the file's MD5, 32 hex digits")
    now = utcnow()
    row: dict[str, Any] = {
        "station_id": station_id,
        "file_id": file_id,
        "location": location or "",
        "checksum": checksum.lower(),
        "state": "sending",
        "status": None,
        "detail": None,
        "published_at": None,
        "history": [],
        "command_id": None,
        "created_at": now,
        "updated_at": now,
    }
    async with services.db.write(station_id) as conn:
        row["id"] = (
            await conn.execute(
                sa.insert(FirmwarePublication).values(**row).returning(FirmwarePublication.id)
            )
        ).scalar_one()
    if file_id is not None:
        row["location"] = await files.download_url(services, file_id, station_id=station_id)
    command = PublishFirmware(row["id"], row["location"], row["checksum"], retries, retry_interval)
    record = await remote_control.send(services, station_id, command)
    values: dict[str, Any] = {
        "location": row["location"],
        "command_id": record["id"],
        "updated_at": utcnow(),
    }
    answer = (record["response"] or {}).get("status")
    if record["status"] == "accepted":
        values |= {"state": "in_progress", "status": answer}
    else:
        detail = (
            f"the station answered {answer}"
            if record["status"] == "rejected"
            else record["error_description"] or f"{record['status']}: no answer"
        )
        values |= {"state": "failed", "status": answer, "detail": detail[:255]}
    async with services.db.write(station_id) as conn:
        done = await conn.execute(
            sa.update(FirmwarePublication)
            .where(FirmwarePublication.id == row["id"], FirmwarePublication.state == "sending")
            .values(**values)
        )
        if not done.rowcount:  # a notification came first
            await conn.execute(
                sa.update(FirmwarePublication)
                .where(FirmwarePublication.id == row["id"])
                .values(location=values["location"], command_id=values["command_id"])
            )
        current = _view(
            (
                await conn.execute(
                    sa.select(FirmwarePublication).where(FirmwarePublication.id == row["id"])
                )
            ).one()
        )
        if done.rowcount:
            await _emit(conn, current)
    return current


async def record_status(
    services: Services,
    station_id: str,
    status: str,
    request_id: int | None,
    locations: list[str] | None,
) -> dict[str, Any] | None:
    """A PublishFirmwareStatusNotification, kept on its publication."""
    now = utcnow()
    async with services.db.write(station_id) as conn:
        query = sa.select(FirmwarePublication).where(FirmwarePublication.station_id == station_id)
        if request_id is not None:
            query = query.where(FirmwarePublication.id == request_id)
        else:
            query = query.where(FirmwarePublication.state.in_(UNFINISHED)).order_by(
                FirmwarePublication.id.desc()
            )
        found = (await conn.execute(query.limit(1))).first()
        if found is None:
            return None
        row = _view(found)
        history = [*list(row["history"] or [])[-(MAX_HISTORY - 1) :], _entry(status, now)]
        values: dict[str, Any] = {"status": status, "history": history, "updated_at": now}
        if row["state"] in UNFINISHED:
            if status == "Published":
                # Bounded: the schema sets no maximum of URIs.
                values |= {"state": "published", "published_at": (locations or [])[:MAX_URIS]}
            elif status in FAILED:
                values |= {"state": "failed", "detail": status}
            elif status != "Idle":
                values["state"] = "in_progress"
        await conn.execute(
            sa.update(FirmwarePublication)
            .where(FirmwarePublication.id == row["id"])
            .values(**values)
        )
        row |= values
        await _emit(conn, row)
    return row


async def unpublish(services: Services, publication_id: int) -> dict[str, Any] | None:
    """Send UnpublishFirmware with the publication's checksum; Unpublished
    ends it, DownloadOngoing and NoFirmware are kept as its detail."""
    found = await get_publication(services.db, publication_id)
    if found is None:
        return None
    station_id = found["station_id"]
    record = await remote_control.send(services, station_id, UnpublishFirmware(found["checksum"]))
    answer = (record["response"] or {}).get("status")
    values: dict[str, Any] = {"updated_at": utcnow()}
    if answer == "Unpublished":
        values |= {"state": "unpublished", "status": answer, "detail": None}
    elif answer is not None:
        # L04.FR.03/04: the Local Controller is still downloading, or has none.
        values |= {"status": answer, "detail": f"unpublish answered {answer}"}
    else:
        values["detail"] = (record["error_description"] or f"unpublish: {record['status']}")[:255]
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.update(FirmwarePublication)
            .where(FirmwarePublication.id == publication_id)
            .values(**values)
        )
        found |= values
        await _emit(conn, found)
    return found


async def get_publication(db: Database, publication_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        found = (
            await conn.execute(
                sa.select(FirmwarePublication).where(FirmwarePublication.id == publication_id)
            )
        ).first()
    return _view(found) if found else None


async def list_publications(
    db: Database, *, station_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    query = sa.select(FirmwarePublication).order_by(FirmwarePublication.id.desc())
    if station_id is not None:
        query = query.where(FirmwarePublication.station_id == station_id)
    async with db.read() as conn:
        return [_view(r) for r in await conn.execute(query.limit(limit).offset(offset))]
