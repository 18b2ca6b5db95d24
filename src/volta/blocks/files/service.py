"""The file service's operations: store a file, find it, and hand a station an
expiring per-request URL to download it from or upload to.

Other blocks (firmware, diagnostics) use `store`, `get_file`, `download_url`,
`upload_url` and `received_file`; the HTTP side (/transfers/{token}, api/files.py)
and the FTP endpoint (volta.ftp) use `resolve_link` and `receive`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import socket
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from volta.blocks.files.storage import LocalStorage, Storage
from volta.config import Settings
from volta.services import Services
from volta.store.db import Database
from volta.store.models import FileLink, StoredFile, utcnow
from volta.store.search import text_in

TRANSFERS = "/transfers"
KINDS = ("firmware", "diagnostics", "log")
# Kinds pruned after retention_files_days (firmware is kept until deleted).
PRUNED_KINDS = ("diagnostics", "log")
# An FTP upload link's login: the token's first characters are the user name,
# the rest the password (the link is found by the whole token).
FTP_USER_CHARS = 12
# Signed firmware: the 2.0.1 FirmwareType / 1.6 security extension bounds.
MAX_CERTIFICATE_CHARS = 5500
MAX_SIGNATURE_CHARS = 800
CHUNK = 256 * 1024

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
    max_bytes: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Store the bytes and record them as a file; returns the file's row.
    Raises TooLarge past `max_bytes` (default: files_max_upload_bytes), and
    then nothing is kept."""
    limit = services.settings.files_max_upload_bytes if max_bytes is None else max_bytes
    sha256, size = await storage(services).put(chunks, max_bytes=limit)
    row = {
        "id": str(uuid.uuid4()),
        "kind": kind,
        "name": safe_name(name) or kind,
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


def safe_name(name: str) -> str:
    """The last part of a path a client sent, at most 255 characters: a name
    to show and to download as, never a place on disk (content is stored by
    its sha256)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    return "" if base in ("", ".", "..") else base[:255]


async def get_file(db: Database, file_id: str) -> dict[str, Any] | None:
    if len(file_id) > 36:  # ids are UUIDs: nothing longer exists
        return None
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
    services: Services,
    *,
    station_id: str,
    kind: str,
    seconds: float | None = None,
    scheme: str = "http",
) -> str:
    """An expiring URL `station_id` uploads one file of `kind` to: HTTP PUT or
    POST to /transfers/{token}/<name>, or with scheme "ftp" a STOR of <name>
    to the FTP endpoint with a login of this link's own. `received_file(url)`
    tells which file arrived through it. Raises ValueError for "ftp" when
    the FTP endpoint is off."""
    # The port bound here, else the configured one (with --workers only
    # worker 1 listens; the others hand out its address).
    ftp_port = services.ftp_port or services.settings.files_ftp_port
    if scheme == "ftp":
        if not ftp_port:
            raise ValueError("the FTP endpoint is off (set files_ftp_port)")
    elif scheme != "http":
        raise ValueError(f"unknown upload scheme {scheme!r} (http or ftp)")
    token = await _link(services, "upload", station_id, kind=kind, seconds=seconds)
    if scheme == "ftp":
        host = urlsplit(public_url(services)).hostname or socket.getfqdn()
        if ":" in host:
            host = f"[{host}]"
        user, password = token[:FTP_USER_CHARS], token[FTP_USER_CHARS:]
        return f"ftp://{user}:{password}@{host}:{ftp_port}/"
    return f"{public_url(services)}{TRANSFERS}/{token}/"


def token_of(url: str) -> str | None:
    """The link token inside a URL made by download_url / upload_url."""
    if url.startswith("ftp://"):
        parts = urlsplit(url)
        if parts.username and parts.password:
            return parts.username + parts.password
        return None
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


async def attach_upload(db: Database, token: str, file_id: str) -> bool:
    """Name the file that arrived through the link; False when another upload
    through it won (one file per link)."""
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(FileLink)
            .where(FileLink.token == token, FileLink.file_id.is_(None))
            .values(file_id=file_id)
        )
    return bool(result.rowcount)


class LinkUsed(LookupError):
    pass


async def receive(
    services: Services, link: dict[str, Any], chunks: AsyncIterable[bytes], name: str
) -> dict[str, Any]:
    """A station's upload through `link` (HTTP or FTP): stored, bounded by
    files_max_upload_bytes, and attached to the link. Raises TooLarge (nothing
    kept) or LinkUsed (another upload through the link came first)."""
    row = await store(
        services,
        chunks,
        kind=link["kind"] or "log",
        name=safe_name(name) or f"{link['kind'] or 'log'}-{link['station_id']}",
        station_id=link["station_id"],
    )
    if not await attach_upload(services.db, link["token"], row["id"]):
        await delete_file(services, row["id"])
        raise LinkUsed("a file was uploaded through this link already")
    return row


async def list_files(
    db: Database,
    *,
    kind: str | None = None,
    station_id: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first (the id last: a stable order); `q`: text in the name or
    the station id (any case)."""
    stmt = sa.select(StoredFile).order_by(StoredFile.created_at.desc(), StoredFile.id)
    if q:
        stmt = stmt.where(text_in(q, StoredFile.name, StoredFile.station_id))
    if kind:
        stmt = stmt.where(StoredFile.kind == kind)
    if station_id:
        stmt = stmt.where(StoredFile.station_id == station_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt.limit(limit).offset(offset))).mappings().all()
    return [dict(r) for r in rows]


async def delete_file(services: Services, file_id: str) -> bool:
    """Remove the file's row; its bytes too when no other row names them."""
    if len(file_id) > 36:
        return False
    async with services.db.write() as conn:
        sha256 = (
            await conn.execute(
                sa.delete(StoredFile).where(StoredFile.id == file_id).returning(StoredFile.sha256)
            )
        ).scalar()
        if sha256 is None:
            return False
        others = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(StoredFile)
                .where(StoredFile.sha256 == sha256)
            )
        ).scalar()
    if not others:
        await storage(services).delete(sha256)
    return True


async def prune(services: Services, now: dt.datetime | None = None) -> dict[str, int]:
    """Retention: diagnostics and log files older than retention_files_days
    (firmware is kept until deleted), and links past their expiry."""
    now = now or utcnow()
    pruned = 0
    days = services.settings.retention_files_days
    if days > 0:
        cutoff = now - dt.timedelta(days=days)
        async with services.db.read() as conn:
            old = (
                await conn.execute(
                    sa.select(StoredFile.id)
                    .where(StoredFile.kind.in_(PRUNED_KINDS), StoredFile.created_at < cutoff)
                    .limit(services.settings.retention_batch)
                )
            ).scalars()
            ids = list(old)
        for file_id in ids:
            pruned += await delete_file(services, file_id)
    async with services.db.write() as conn:
        links = (await conn.execute(sa.delete(FileLink).where(FileLink.expires_at < now))).rowcount
    return {"files_pruned": pruned, "links_pruned": int(links or 0)}


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


# -- firmware images an operator uploads (API, dashboard) ------------------------


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


async def _read_all(upload: Any) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK):
        yield chunk


async def store_firmware_form(services: Services, form: Mapping[str, Any]) -> dict[str, Any]:
    """A posted multipart form (a parsed Starlette form: `file` an upload, the
    signing_certificate and signature text fields) stored as a firmware image.
    Raises UploadRefused, or TooLarge (nothing kept)."""
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not hasattr(upload, "read"):
        raise UploadRefused("a multipart field `file` with the firmware image is required")
    fields: dict[str, Any] = {}
    for key in ("signing_certificate", "signature"):
        value = form.get(key)
        if value is not None and not isinstance(value, str):
            raise UploadRefused(f"{key} must be a text field")
        fields[key] = value.strip() if value and value.strip() else None
    check_signing(fields["signing_certificate"], fields["signature"])
    name = safe_name(getattr(upload, "filename", None) or "")
    if not name:
        raise UploadRefused("the file needs a name")
    return await store(
        services,
        _read_all(upload),
        kind="firmware",
        name=name,
        content_type=getattr(upload, "content_type", None) or "application/octet-stream",
        **fields,
    )
