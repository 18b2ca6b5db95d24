"""Firmware updates of one station: the command, the request sent (with a
per-request download link of a stored file, or the operator's location), and
each status the station reports until Installed or a failure.

An update's id is the requestId the station is sent (2.0.1 L01, 1.6
SignedUpdateFirmware); 1.6 UpdateFirmware has none, so its notifications
belong to the station's latest unfinished update.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.blocks.files import service as files
from volta.blocks.remote_control import service as remote_control
from volta.events import service as events
from volta.ocpp.times import format_timestamp
from volta.services import Services
from volta.store.db import Database
from volta.store.models import FirmwareUpdate, Station, StoredFile, utcnow

log = logging.getLogger(__name__)

# Final statuses a station reports (1.6 FirmwareStatusNotification and the
# security extension's / 2.0.1's FirmwareStatusEnumType).
INSTALLED = "Installed"
FAILED_STATUSES = frozenset(
    {"DownloadFailed", "InstallationFailed", "InvalidSignature", "InstallVerificationFailed"}
)
STATUSES = frozenset(
    {
        "Downloaded",
        "DownloadFailed",
        "Downloading",
        "DownloadScheduled",
        "DownloadPaused",
        "Idle",
        "InstallationFailed",
        "Installing",
        "Installed",
        "InstallRebooting",
        "InstallScheduled",
        "InstallVerificationFailed",
        "InvalidSignature",
        "SignatureVerified",
    }
)
UNFINISHED = ("sending", "in_progress")
FINAL = frozenset({"installed", "failed", "canceled"})
# Statuses kept per update: a station repeating itself cannot grow a row.
MAX_HISTORY = 50
_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+][0-9A-Za-z.]+)?")


@dataclass(frozen=True, slots=True)
class UpdateFirmware:
    """Download and install firmware (1.6 §5.19 UpdateFirmware; with a
    signature, the 1.6 security extension's SignedUpdateFirmware; 2.0.1 L01/L02)."""

    request_id: int
    location: str
    retrieve_at: dt.datetime
    install_at: dt.datetime | None = None
    retries: int | None = None
    retry_interval: int | None = None
    signing_certificate: str | None = None
    signature: str | None = None

    @property
    def signed(self) -> bool:
        return bool(self.signing_certificate and self.signature)


class UpdateRefused(ValueError):
    """The update cannot be asked as given (unknown file, no location)."""


def version_in_name(name: str) -> str | None:
    """The firmware version a file name carries: its first dotted number
    ("charger-fw-2.4.1.bin" -> "2.4.1"; docs/device-management.md)."""
    base = name.rsplit("/", 1)[-1].split("?", 1)[0]
    for ext in (".bin", ".img", ".tar.gz", ".tgz", ".zip", ".hex", ".fw"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
            break
    found = _VERSION.search(base)
    return found.group(0)[:50] if found else None


def _entry(status: str, at: dt.datetime) -> dict[str, str]:
    return {"status": status, "at": format_timestamp(at)}


def _view(row: Any) -> dict[str, Any]:
    return dict(row._mapping) if hasattr(row, "_mapping") else dict(row)


async def _emit(conn: Any, row: dict[str, Any]) -> None:
    await events.emit(
        conn,
        "firmware.status",
        station_id=row["station_id"],
        update_id=row["id"],
        campaign_id=row["campaign_id"],
        state=row["state"],
        status=row["status"],
        version=row["version"],
    )


async def start_update(
    services: Services,
    station_id: str,
    *,
    file_id: str | None = None,
    location: str | None = None,
    version: str | None = None,
    retrieve_at: dt.datetime | None = None,
    install_at: dt.datetime | None = None,
    retries: int | None = None,
    retry_interval: int | None = None,
    signing_certificate: str | None = None,
    signature: str | None = None,
    campaign_id: int | None = None,
) -> dict[str, Any]:
    """Store the update, send it, and return it with the station's answer.
    Raises UpdateRefused (nothing stored) for an unknown file or no location."""
    name = location or ""
    if file_id is not None:
        file = await files.get_file(services.db, file_id)
        if file is None or file["kind"] != "firmware":
            raise UpdateRefused(f"firmware file {file_id} not found")
        name = file["name"]
        signing_certificate = signing_certificate or file["signing_certificate"]
        signature = signature or file["signature"]
    elif not location:
        raise UpdateRefused("give file_id or location")
    now = utcnow()
    retrieve = retrieve_at or now
    signed = bool(signing_certificate and signature)
    row: dict[str, Any] = {
        "station_id": station_id,
        "campaign_id": campaign_id,
        "file_id": file_id,
        "location": (location or "")[:512],
        "version": version or version_in_name(name),
        "action": "UpdateFirmware",
        "signed": signed,
        "retrieve_at": retrieve,
        "install_at": install_at,
        "retries": retries,
        "retry_interval": retry_interval,
        "state": "sending",
        "status": None,
        "detail": None,
        "history": [],
        "command_id": None,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }
    async with services.db.write(station_id) as conn:
        row["id"] = (
            await conn.execute(sa.insert(FirmwareUpdate).values(**row).returning(FirmwareUpdate.id))
        ).scalar_one()
    if file_id is not None:
        # The link must outlive a retrieve date in the future.
        ttl = services.settings.files_link_seconds + max(0.0, (retrieve - now).total_seconds())
        row["location"] = await files.download_url(
            services, file_id, station_id=station_id, seconds=ttl
        )
    command = UpdateFirmware(
        request_id=row["id"],
        location=row["location"],
        retrieve_at=retrieve,
        install_at=install_at,
        retries=retries,
        retry_interval=retry_interval,
        signing_certificate=signing_certificate if signed else None,
        signature=signature if signed else None,
    )
    record = await remote_control.send(services, station_id, command)
    return await _answered(services, row, record)


async def _answered(
    services: Services, row: dict[str, Any], record: remote_control.CommandRecord
) -> dict[str, Any]:
    """Keep the station's answer. A notification may have come first (the
    station starts at once): then only the command is recorded."""
    answer = (record["response"] or {}).get("status")
    now = utcnow()
    values: dict[str, Any] = {
        "action": record["action"],
        "location": row["location"],
        "command_id": record["id"],
        "updated_at": now,
    }
    if record["status"] == "accepted":
        values |= {"state": "in_progress", "status": answer or "Accepted"}
    elif record["status"] == "rejected":
        # Rejected, InvalidCertificate, RevokedCertificate (L01.FR.02/.FR.03).
        values |= {"state": "failed", "status": answer, "finished_at": now}
        values["detail"] = f"the station answered {answer}"
    else:
        values |= {"state": "failed", "finished_at": now}
        values["detail"] = (
            record["error_description"] or f"{record['status']}: no answer from the station"
        )[:255]
    update_id, station_id = row["id"], row["station_id"]
    async with services.db.write(station_id) as conn:
        done = await conn.execute(
            sa.update(FirmwareUpdate)
            .where(FirmwareUpdate.id == update_id, FirmwareUpdate.state == "sending")
            .values(**values)
        )
        if not done.rowcount:
            del values["state"]
            values.pop("status", None)
            values.pop("finished_at", None)
            values.pop("detail", None)
            await conn.execute(
                sa.update(FirmwareUpdate).where(FirmwareUpdate.id == update_id).values(**values)
            )
        if record["status"] == "accepted":
            # L01.FR.24: an accepted update replaces any unfinished one
            # (AcceptedCanceled: the station canceled it).
            await _cancel_older(conn, station_id, update_id, answer)
        current = _view(
            (
                await conn.execute(sa.select(FirmwareUpdate).where(FirmwareUpdate.id == update_id))
            ).one()
        )
        if done.rowcount:
            await _emit(conn, current)
    return current


async def _cancel_older(conn: Any, station_id: str, update_id: int, answer: str | None) -> None:
    older = (
        await conn.execute(
            sa.select(FirmwareUpdate).where(
                FirmwareUpdate.station_id == station_id,
                FirmwareUpdate.id < update_id,
                FirmwareUpdate.state.in_(UNFINISHED),
            )
        )
    ).all()
    now = utcnow()
    for old in older:
        detail = (
            f"canceled by the station for update {update_id}"
            if answer == "AcceptedCanceled"
            else f"replaced by update {update_id}"
        )
        await conn.execute(
            sa.update(FirmwareUpdate)
            .where(FirmwareUpdate.id == old.id)
            .values(state="canceled", detail=detail, updated_at=now, finished_at=now)
        )
        view = _view(old) | {"state": "canceled"}
        await _emit(conn, view)


async def record_status(
    services: Services, station_id: str, status: str, request_id: int | None = None
) -> dict[str, Any] | None:
    """A FirmwareStatusNotification: kept on its update (by requestId, else
    the station's latest unfinished one). Returns the update when it changed."""
    now = utcnow()
    async with services.db.write(station_id) as conn:
        query = sa.select(FirmwareUpdate).where(FirmwareUpdate.station_id == station_id)
        if request_id is not None:
            query = query.where(FirmwareUpdate.id == request_id)
        else:
            query = query.where(FirmwareUpdate.state.in_(UNFINISHED)).order_by(
                FirmwareUpdate.id.desc()
            )
        found = (await conn.execute(query.limit(1))).first()
        if found is None:
            # Idle when triggered, or an update Volta did not ask for.
            return None
        row = _view(found)
        history = [*list(row["history"] or [])[-(MAX_HISTORY - 1) :], _entry(status, now)]
        values: dict[str, Any] = {"status": status, "history": history, "updated_at": now}
        if row["state"] in UNFINISHED:
            if status == INSTALLED:
                values |= {"state": "installed", "finished_at": now, "detail": None}
            elif status in FAILED_STATUSES:
                values |= {"state": "failed", "finished_at": now, "detail": status}
            elif status != "Idle":
                values["state"] = "in_progress"
        await conn.execute(
            sa.update(FirmwareUpdate).where(FirmwareUpdate.id == row["id"]).values(**values)
        )
        row |= values
        await _emit(conn, row)
    return row


async def booted(services: Services, station_id: str, firmware_version: str | None) -> list[int]:
    """A station booted reporting `firmware_version`: its unfinished updates
    to that version are installed, even without the Installed notification
    (lost, or a 1.6 station that reboots instead). Returns their campaigns."""
    if not firmware_version:
        return []
    now = utcnow()
    campaigns: list[int] = []
    async with services.db.write(station_id) as conn:
        found = (
            await conn.execute(
                sa.select(FirmwareUpdate).where(
                    FirmwareUpdate.station_id == station_id,
                    FirmwareUpdate.state.in_(UNFINISHED),
                    FirmwareUpdate.version == firmware_version,
                )
            )
        ).all()
        for old in found:
            row = _view(old)
            history = list(row["history"] or [])[-(MAX_HISTORY - 1) :]
            history.append(_entry(f"Booted {firmware_version}", now))
            values = {
                "state": "installed",
                "history": history,
                "detail": f"booted with firmware {firmware_version}",
                "updated_at": now,
                "finished_at": now,
            }
            await conn.execute(
                sa.update(FirmwareUpdate).where(FirmwareUpdate.id == row["id"]).values(**values)
            )
            await _emit(conn, row | values)
            if row["campaign_id"] is not None:
                campaigns.append(row["campaign_id"])
    return campaigns


async def expire_stale(services: Services, older_than: dt.timedelta) -> list[int]:
    """Updates with no final status long after the station's last word, and
    after their retrieve and install times, fail (the station went quiet).
    Returns the campaigns touched."""
    now = utcnow()
    cutoff = now - older_than
    async with services.db.read() as conn:
        stale = (
            await conn.execute(
                sa.select(FirmwareUpdate).where(
                    FirmwareUpdate.state.in_(UNFINISHED),
                    FirmwareUpdate.updated_at < cutoff,
                    FirmwareUpdate.retrieve_at < cutoff,
                    sa.or_(FirmwareUpdate.install_at.is_(None), FirmwareUpdate.install_at < cutoff),
                )
            )
        ).all()
    campaigns: list[int] = []
    for old in stale:
        row = _view(old)
        values = {
            "state": "failed",
            "detail": f"no final status within {int(older_than.total_seconds())} s",
            "updated_at": now,
            "finished_at": now,
        }
        async with services.db.write(row["station_id"]) as conn:
            done = await conn.execute(
                sa.update(FirmwareUpdate)
                .where(FirmwareUpdate.id == row["id"], FirmwareUpdate.state.in_(UNFINISHED))
                .values(**values)
            )
            if done.rowcount:
                await _emit(conn, row | values)
        if row["campaign_id"] is not None:
            campaigns.append(row["campaign_id"])
    return campaigns


async def get_update(db: Database, update_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        found = (
            await conn.execute(sa.select(FirmwareUpdate).where(FirmwareUpdate.id == update_id))
        ).first()
    return _view(found) if found else None


async def list_updates(
    db: Database,
    *,
    station_id: str | None = None,
    campaign_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = sa.select(FirmwareUpdate).order_by(FirmwareUpdate.id.desc())
    if station_id is not None:
        query = query.where(FirmwareUpdate.station_id == station_id)
    if campaign_id is not None:
        query = query.where(FirmwareUpdate.campaign_id == campaign_id)
    async with db.read() as conn:
        rows = (await conn.execute(query.limit(limit).offset(offset))).all()
    return [_view(r) for r in rows]


async def station_exists(db: Database, station_id: str) -> bool:
    async with db.read() as conn:
        return (
            await conn.execute(sa.select(Station.id).where(Station.id == station_id))
        ).first() is not None


async def firmware_files(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The stored firmware images, newest first (what an operator picks from)."""
    query = (
        sa.select(StoredFile.id, StoredFile.name, StoredFile.size, StoredFile.signature)
        .where(StoredFile.kind == "firmware")
        .order_by(StoredFile.created_at.desc())
        .limit(limit)
    )
    async with db.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]
