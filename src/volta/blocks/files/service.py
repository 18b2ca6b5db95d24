"""The file service's operations: store a file, find it, and hand a station an
expiring per-request URL to download it from or upload to.

Other blocks (firmware, diagnostics) use `store`, `get_file`, `download_url`,
`upload_url` and `received_file`; the HTTP side (/transfers/{token}, api/files.py)
uses `resolve_link` and `receive`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import socket
import uuid
from collections.abc import AsyncIterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from volta.blocks.files.storage import LocalStorage, Storage
from volta.config import Settings
from volta.services import Services
from volta.store.db import Database
from volta.store.models import FileLink, StoredFile, utcnow

TRANSFERS = "/transfers"
# Largest file a station may upload through a link (diagnostics and logs).
MAX_UPLOAD_BYTES = 512 * 1024 * 1024

_storages: dict[str, Storage] = {}


def files_dir(settings: Settings, db: Database) -> Path:
    """The setting, else "volta-files" beside the SQLite database, else in the
    working directory."""
    if settings.files_dir:
        return Path(settings.files_dir).expanduser().resolve()
    if db.is_sqlite:
        database = sa.engine.make_url(db.url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent / "volta-files"
    return Path("volta-files").resolve()


def storage(services: Services) -> Storage:
    root = files_dir(services.settings, services.db)
    found = _storages.get(str(root))
    if found is None:
        found = _storages[str(root)] = LocalStorage(root)
    return found


def public_url(services: Services) -> str:
    """The base URL stations reach the file service at."""
    settings = services.settings
    if settings.files_public_url:
        return settings.files_public_url.rstrip("/")
    return services.files_url or f"http://{socket.getfqdn()}:{settings.api_port}"


async def store(
    services: Services,
    chunks: AsyncIterable[bytes],
    *,
    kind: str,
    name: str,
    content_type: str = "application/octet-stream",
    station_id: str | None = None,
    max_bytes: int = MAX_UPLOAD_BYTES,
    **extra: Any,
) -> dict[str, Any]:
    """Store the bytes and record them as a file; returns the file's row."""
    sha256, size = await storage(services).put(chunks, max_bytes=max_bytes)
    row = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "name": name,
        "sha256": sha256,
        "size": size,
        "content_type": content_type,
        "station_id": station_id,
        "created_at": utcnow(),
        **extra,
    }
    async with services.db.write(station_id) as conn:
        await conn.execute(sa.insert(StoredFile).values(**row))
    return row


async def get_file(db: Database, file_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(StoredFile).where(StoredFile.id == file_id)))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def _link(
    services: Services,
    direction: str,
    station_id: str,
    *,
    file_id: str | None = None,
    kind: str | None = None,
    seconds: float | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    ttl = seconds if seconds is not None else services.settings.files_link_seconds
    async with services.db.write(station_id) as conn:
        await conn.execute(
            sa.insert(FileLink).values(
                token=token,
                direction=direction,
                station_id=station_id,
                file_id=file_id,
                kind=kind,
                expires_at=now + dt.timedelta(seconds=ttl),
                created_at=now,
            )
        )
    return token


async def download_url(
    services: Services, file_id: str, *, station_id: str, seconds: float | None = None
) -> str:
    """An expiring URL `station_id` downloads the file from (HTTP GET)."""
    file = await get_file(services.db, file_id)
    if file is None:
        raise LookupError(f"file {file_id} not found")
    token = await _link(services, "download", station_id, file_id=file_id, seconds=seconds)
    return f"{public_url(services)}{TRANSFERS}/{token}/{file['name']}"


async def upload_url(
    services: Services, *, station_id: str, kind: str, seconds: float | None = None
) -> str:
    """An expiring URL `station_id` uploads one file of `kind` to (HTTP PUT or
    POST); `received_file(url)` tells which file arrived through it."""
    token = await _link(services, "upload", station_id, kind=kind, seconds=seconds)
    return f"{public_url(services)}{TRANSFERS}/{token}/"


def token_of(url: str) -> str | None:
    """The link token inside a URL made by download_url / upload_url."""
    _, found, rest = url.partition(TRANSFERS + "/")
    return rest.split("/", 1)[0] if found else None


async def resolve_link(db: Database, token: str, direction: str) -> dict[str, Any] | None:
    """The link, when it exists, is of this direction and has not expired."""
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(FileLink).where(FileLink.token == token)))
            .mappings()
            .first()
        )
    if row is None or row["direction"] != direction or row["expires_at"] <= utcnow():
        return None
    return dict(row)


async def attach_upload(db: Database, token: str, file_id: str) -> None:
    async with db.write() as conn:
        await conn.execute(
            sa.update(FileLink).where(FileLink.token == token).values(file_id=file_id)
        )


async def received_file(db: Database, url: str) -> dict[str, Any] | None:
    """The file a station uploaded through the link in `url`, once it arrived."""
    token = token_of(url)
    if token is None:
        return None
    async with db.read() as conn:
        file_id = (
            await conn.execute(sa.select(FileLink.file_id).where(FileLink.token == token))
        ).scalar()
    return await get_file(db, file_id) if file_id else None
