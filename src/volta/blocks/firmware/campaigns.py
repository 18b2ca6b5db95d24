"""Firmware campaigns: one firmware for the stations a target chooses, rolled
out by a periodic tick on the leader (docs/device-management.md).

A campaign's stations are chosen once, at creation. The canary stations go
first; the others wait until none of them is pending or in progress. At most
`max_in_progress` updates run at once, and new ones start only inside the
time window. A station whose update fails is tried again up to `attempts`
times; once the canary finished, a failure rate (failed / finished) above
`failure_threshold` halts the campaign. A station offline when its turn
comes is skipped, and tried again whenever a slot is free and it is back; the
campaign finishes without it once it stayed away `firmware_offline_wait`.
Everything is in the database: a restart, or a new leader, carries on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from volta.blocks.firmware import service
from volta.events import service as events
from volta.services import Services
from volta.store.db import Database
from volta.store.models import (
    FirmwareCampaign,
    FirmwareCampaignStation,
    FirmwareUpdate,
    Station,
    utcnow,
)
from volta.store.search import text_in

log = logging.getLogger(__name__)

STATES = ("running", "paused", "halted", "canceled", "finished")
STATION_STATES = ("pending", "in_progress", "installed", "failed", "skipped_offline")
# A campaign's stations: bounded so that one request cannot make a huge one.
MAX_STATIONS = 10_000
# The leader is told an update of a campaign ended on another node.
TOPIC = "firmware.campaign"
_locks: dict[int, asyncio.Lock] = {}


class CampaignError(ValueError):
    """The campaign cannot be made or changed as asked (the message says why)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Which stations: every given criterion must match."""

    vendor: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    site_id: int | None = None
    station_ids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("vendor", self.vendor),
                ("model", self.model),
                ("firmware_version", self.firmware_version),
                ("site_id", self.site_id),
                ("station_ids", self.station_ids or None),
            )
            if v is not None
        }


def parse_window(value: str | None) -> str | None:
    """ "HH:MM" or None."""
    if value is None or value == "":
        return None
    try:
        parsed = dt.datetime.strptime(value, "%H:%M")
    except ValueError:
        raise CampaignError(f"window times are HH:MM, not {value!r}") from None
    return parsed.strftime("%H:%M")


def in_window(campaign: dict[str, Any], now: dt.datetime) -> bool:
    start: str | None = campaign["window_start"]
    end: str | None = campaign["window_end"]
    if start is None or end is None:
        return True
    local = now.astimezone(zoneinfo.ZoneInfo(campaign["timezone"])).strftime("%H:%M")
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # across midnight (22:00-04:00)


async def matching_stations(db: Database, target: Target) -> list[str]:
    query = sa.select(Station.id).order_by(Station.id)
    if target.vendor is not None:
        query = query.where(Station.vendor == target.vendor)
    if target.model is not None:
        query = query.where(Station.model == target.model)
    if target.firmware_version is not None:
        query = query.where(Station.firmware_version == target.firmware_version)
    if target.site_id is not None:
        query = query.where(Station.site_id == target.site_id)
    if target.station_ids:
        query = query.where(Station.id.in_(target.station_ids))
    async with db.read() as conn:
        return list((await conn.execute(query.limit(MAX_STATIONS + 1))).scalars())


async def create_campaign(
    services: Services,
    *,
    name: str,
    target: Target,
    file_id: str | None = None,
    location: str | None = None,
    version: str | None = None,
    signing_certificate: str | None = None,
    signature: str | None = None,
    canary: int = 1,
    max_in_progress: int = 5,
    attempts: int = 1,
    failure_threshold: float = 0.2,
    window_start: str | None = None,
    window_end: str | None = None,
    timezone: str = "UTC",
    created_by: str = "api",
) -> dict[str, Any]:
    """Make a running campaign; its first tick starts the canary."""
    if (file_id is None) == (location is None):
        raise CampaignError("give file_id or location, not both")
    if file_id is not None:
        from volta.blocks.files import service as files

        file = await files.get_file(services.db, file_id)
        if file is None or file["kind"] != "firmware":
            raise CampaignError(f"firmware file {file_id} not found")
        version = version or service.version_in_name(file["name"])
    else:
        version = version or service.version_in_name(location or "")
    start, end = parse_window(window_start), parse_window(window_end)
    if (start is None) != (end is None):
        raise CampaignError("give both window_start and window_end, or neither")
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CampaignError(f"unknown time zone {timezone!r}") from None
    stations = await matching_stations(services.db, target)
    if not stations:
        raise CampaignError("no station matches the target")
    if len(stations) > MAX_STATIONS:
        raise CampaignError(f"more than {MAX_STATIONS} stations match: narrow the target")
    now = utcnow()
    row: dict[str, Any] = {
        "name": name,
        "file_id": file_id,
        "location": location,
        "version": version,
        "signing_certificate": signing_certificate,
        "signature": signature,
        "target": target.as_dict(),
        "canary": canary,
        "max_in_progress": max_in_progress,
        "attempts": attempts,
        "failure_threshold": failure_threshold,
        "window_start": start,
        "window_end": end,
        "timezone": timezone,
        "forgiven": 0,
        "state": "running",
        "detail": None,
        "created_by": created_by,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
    }
    async with services.db.write() as conn:
        campaign_id = (
            await conn.execute(
                sa.insert(FirmwareCampaign).values(**row).returning(FirmwareCampaign.id)
            )
        ).scalar_one()
        await conn.execute(
            sa.insert(FirmwareCampaignStation),
            [
                {
                    "campaign_id": campaign_id,
                    "station_id": station_id,
                    "canary": i < canary,
                    "state": "pending",
                    "tries": 0,
                    "update_id": None,
                    "detail": None,
                    "updated_at": now,
                }
                for i, station_id in enumerate(stations)
            ],
        )
    nudge(services, campaign_id)
    found = await get_campaign(services.db, campaign_id)
    assert found is not None
    return found


async def _progress(conn: Any, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    rows = (
        await conn.execute(
            sa.select(
                FirmwareCampaignStation.campaign_id,
                FirmwareCampaignStation.state,
                sa.func.count(),
            )
            .where(FirmwareCampaignStation.campaign_id.in_(campaign_ids))
            .group_by(FirmwareCampaignStation.campaign_id, FirmwareCampaignStation.state)
        )
    ).all()
    out = {c: dict.fromkeys(STATION_STATES, 0) | {"total": 0} for c in campaign_ids}
    for campaign_id, state, count in rows:
        out[campaign_id][state] = count
        out[campaign_id]["total"] += count
    return out


async def list_campaigns(
    db: Database,
    *,
    state: str | None = None,
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Newest first; `q`: text in the name or the version (any case)."""
    query = sa.select(FirmwareCampaign).order_by(FirmwareCampaign.id.desc())
    if state is not None:
        query = query.where(FirmwareCampaign.state == state)
    if q:
        query = query.where(text_in(q, FirmwareCampaign.name, FirmwareCampaign.version))
    async with db.read() as conn:
        rows = [dict(r._mapping) for r in (await conn.execute(query.limit(limit).offset(offset)))]
        progress = await _progress(conn, [r["id"] for r in rows]) if rows else {}
    return [r | {"progress": progress[r["id"]]} for r in rows]


async def get_campaign(db: Database, campaign_id: int) -> dict[str, Any] | None:
    async with db.read() as conn:
        found = (
            await conn.execute(
                sa.select(FirmwareCampaign).where(FirmwareCampaign.id == campaign_id)
            )
        ).first()
        if found is None:
            return None
        progress = await _progress(conn, [campaign_id])
    return dict(found._mapping) | {"progress": progress[campaign_id]}


async def campaign_stations(
    db: Database,
    campaign_id: int,
    *,
    q: str | None = None,
    state: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Each station of the campaign (canary first, then by id: a stable
    order), with its update's latest status; `q`: text in the station id."""
    query = (
        sa.select(
            FirmwareCampaignStation,
            FirmwareUpdate.status.label("update_status"),
        )
        .outerjoin(FirmwareUpdate, FirmwareUpdate.id == FirmwareCampaignStation.update_id)
        .where(FirmwareCampaignStation.campaign_id == campaign_id)
        .order_by(FirmwareCampaignStation.canary.desc(), FirmwareCampaignStation.station_id)
        .offset(offset)
        .limit(limit)
    )
    if q:
        query = query.where(
            sa.func.lower(FirmwareCampaignStation.station_id).contains(q.lower(), autoescape=True)
        )
    if state:
        query = query.where(FirmwareCampaignStation.state == state)
    async with db.read() as conn:
        return [dict(r._mapping) for r in (await conn.execute(query))]


_MOVES = {
    "pause": ({"running"}, "paused"),
    "resume": ({"paused", "halted"}, "running"),
    "cancel": ({"running", "paused", "halted"}, "canceled"),
}


async def change_state(services: Services, campaign_id: int, move: str) -> dict[str, Any]:
    """pause, resume (also a halted campaign: the operator decides), cancel.
    Updates under way go on; no new one starts unless running."""
    allowed, new = _MOVES[move]
    now = utcnow()
    async with services.db.write() as conn:
        state = (
            await conn.execute(
                sa.select(FirmwareCampaign.state).where(FirmwareCampaign.id == campaign_id)
            )
        ).scalar()
        if state is None:
            raise LookupError(f"campaign {campaign_id} not found")
        if state not in allowed:
            raise CampaignError(f"cannot {move} a {state} campaign")
        values: dict[str, Any] = {"state": new, "updated_at": now, "detail": f"{move} by operator"}
        if new == "canceled":
            values["finished_at"] = now
        if state == "halted":
            # The operator accepted the failures so far.
            values["forgiven"] = (
                await conn.execute(
                    sa.select(sa.func.count()).where(
                        FirmwareCampaignStation.campaign_id == campaign_id,
                        FirmwareCampaignStation.state == "failed",
                    )
                )
            ).scalar_one()
        await conn.execute(
            sa.update(FirmwareCampaign).where(FirmwareCampaign.id == campaign_id).values(**values)
        )
    if new == "running":
        nudge(services, campaign_id)
    found = await get_campaign(services.db, campaign_id)
    assert found is not None
    return found


# -- the tick ---------------------------------------------------------------------


def nudge(services: Services, campaign_id: int) -> None:
    """Tick the campaign soon: now on the leader, else the leader is told."""
    if services.node.is_leader():
        services.spawn(
            tick_campaign(services, campaign_id), name=f"firmware campaign {campaign_id}"
        )
    else:
        services.spawn(
            services.node.to_leader(TOPIC, {"campaign_id": campaign_id}),
            name=f"firmware campaign {campaign_id} to leader",
        )


def nudge_after(services: Services, update: dict[str, Any] | None) -> None:
    """An update of a campaign changed: its end frees a slot."""
    if (
        update is not None
        and update["campaign_id"] is not None
        and (update["state"] in service.FINAL)
    ):
        nudge(services, update["campaign_id"])


def register(services: Services) -> None:
    async def told(data: dict[str, Any]) -> None:
        campaign_id = data.get("campaign_id")
        if isinstance(campaign_id, int):
            await tick_campaign(services, campaign_id)

    services.node.listen(TOPIC, told, leader_only=True)


async def tick(services: Services) -> int:
    """The leader's periodic work: stale updates fail, every running campaign
    (and every other one with updates under way) moves on. Returns how many
    updates were started."""
    timeout = dt.timedelta(seconds=services.settings.firmware_update_timeout)
    await service.expire_stale(services, timeout)
    async with services.db.read() as conn:
        ids = set(
            (
                await conn.execute(
                    sa.select(FirmwareCampaign.id).where(FirmwareCampaign.state == "running")
                )
            ).scalars()
        ) | set(
            (
                await conn.execute(
                    sa.select(FirmwareCampaignStation.campaign_id)
                    .where(FirmwareCampaignStation.state == "in_progress")
                    .distinct()
                )
            ).scalars()
        )
    started = 0
    for campaign_id in sorted(ids):
        started += await tick_campaign(services, campaign_id)
    return started


async def tick_campaign(services: Services, campaign_id: int) -> int:
    lock = _locks.setdefault(campaign_id, asyncio.Lock())
    async with lock:
        try:
            return await _tick(services, campaign_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("firmware campaign %d: tick failed", campaign_id)
            return 0


async def _tick(services: Services, campaign_id: int) -> int:
    db = services.db
    async with db.read() as conn:
        found = (
            await conn.execute(
                sa.select(FirmwareCampaign).where(FirmwareCampaign.id == campaign_id)
            )
        ).first()
        if found is None:
            return 0
        campaign = dict(found._mapping)
        rows = [
            dict(r._mapping)
            for r in await conn.execute(
                sa.select(FirmwareCampaignStation)
                .where(FirmwareCampaignStation.campaign_id == campaign_id)
                .order_by(FirmwareCampaignStation.canary.desc(), FirmwareCampaignStation.station_id)
            )
        ]
        update_ids = [
            r["update_id"] for r in rows if r["state"] == "in_progress" and r["update_id"]
        ]
        updates = (
            {
                u.id: dict(u._mapping)
                for u in await conn.execute(
                    sa.select(FirmwareUpdate.id, FirmwareUpdate.state, FirmwareUpdate.detail).where(
                        FirmwareUpdate.id.in_(update_ids)
                    )
                )
            }
            if update_ids
            else {}
        )
    now = utcnow()
    # 1. What the updates under way became.
    changes: list[dict[str, Any]] = []
    lost = now - dt.timedelta(minutes=10)
    for r in rows:
        if r["state"] == "in_progress" and r["update_id"] is None and r["updated_at"] < lost:
            # Chosen, but the process stopped before the update was asked.
            r["state"], r["detail"] = "pending", "not asked before a restart; tried again"
            changes.append(r)
            continue
        update = updates.get(r["update_id"]) if r["state"] == "in_progress" else None
        if update is None or update["state"] not in service.FINAL:
            continue
        if update["state"] == "installed":
            r["state"], r["detail"] = "installed", None
        elif r["tries"] < campaign["attempts"]:
            r["state"], r["detail"] = "pending", f"retrying: {update['detail'] or 'failed'}"
        else:
            r["state"], r["detail"] = "failed", update["detail"] or update["state"]
        changes.append(r)
    count = dict.fromkeys(STATION_STATES, 0)
    for r in rows:
        count[r["state"]] += 1
    canary_done = not any(r["canary"] and r["state"] in ("pending", "in_progress") for r in rows)
    finished = count["installed"] + count["failed"]
    # The failure rate of the stations finished since the last resume of a halt.
    failed, counted = count["failed"] - campaign["forgiven"], finished - campaign["forgiven"]
    halt = (
        campaign["state"] == "running"
        and canary_done
        and counted > 0
        and failed / counted > campaign["failure_threshold"]
    )
    done = (
        campaign["state"] == "running"
        and not halt
        and count["pending"] == 0
        and (count["in_progress"] == 0)
    )
    if done and count["skipped_offline"]:
        # Those offline at their turn are tried whenever they are back; the
        # campaign ends without them once they stayed away long enough.
        wait = dt.timedelta(seconds=services.settings.firmware_offline_wait)
        done = all(
            r["updated_at"] <= now - wait and services.router.version_of(r["station_id"]) is None
            for r in rows
            if r["state"] == "skipped_offline"
        )
    new_state = "halted" if halt else "finished" if done else None
    if changes or new_state:
        async with db.write() as conn:
            for r in changes:
                await conn.execute(
                    sa.update(FirmwareCampaignStation)
                    .where(
                        FirmwareCampaignStation.campaign_id == campaign_id,
                        FirmwareCampaignStation.station_id == r["station_id"],
                    )
                    .values(state=r["state"], detail=r["detail"], updated_at=now)
                )
            if new_state is not None:
                detail = (
                    f"{failed} of {counted} finished stations failed "
                    f"(above {campaign['failure_threshold']:.0%})"
                    if halt
                    else f"{count['installed']} installed, {count['failed']} failed, "
                    f"{count['skipped_offline']} skipped offline"
                )
                await conn.execute(
                    sa.update(FirmwareCampaign)
                    .where(FirmwareCampaign.id == campaign_id, FirmwareCampaign.state == "running")
                    .values(
                        state=new_state,
                        detail=detail,
                        updated_at=now,
                        finished_at=now if new_state == "finished" else None,
                    )
                )
                await events.emit(
                    conn,
                    f"firmware_campaign.{new_state}",
                    campaign_id=campaign_id,
                    name=campaign["name"],
                    detail=detail,
                    progress=count,
                )
        if new_state is not None:
            log.info("firmware campaign %d %s", campaign_id, new_state)
            return 0
    if campaign["state"] != "running" or not in_window(campaign, now):
        return 0
    # 2. New updates, canary first, up to max_in_progress.
    slots = campaign["max_in_progress"] - count["in_progress"]
    candidates = [
        r
        for r in rows
        if r["state"] in ("pending", "skipped_offline") and (canary_done or r["canary"])
    ]
    chosen: list[dict[str, Any]] = []
    skipped: list[str] = []
    for r in candidates:
        if len(chosen) >= slots:
            break
        if services.router.version_of(r["station_id"]) is None:
            if r["state"] == "pending":
                skipped.append(r["station_id"])
            continue
        chosen.append(r)
    if skipped or chosen:
        async with db.write() as conn:
            if skipped:
                await conn.execute(
                    sa.update(FirmwareCampaignStation)
                    .where(
                        FirmwareCampaignStation.campaign_id == campaign_id,
                        FirmwareCampaignStation.station_id.in_(skipped),
                    )
                    .values(state="skipped_offline", detail="offline at its turn", updated_at=now)
                )
            for r in chosen:
                await conn.execute(
                    sa.update(FirmwareCampaignStation)
                    .where(
                        FirmwareCampaignStation.campaign_id == campaign_id,
                        FirmwareCampaignStation.station_id == r["station_id"],
                    )
                    .values(state="in_progress", tries=r["tries"] + 1, detail=None, updated_at=now)
                )
    if chosen:
        await asyncio.gather(*(_start(services, campaign, r["station_id"]) for r in chosen))
    return len(chosen)


async def _start(services: Services, campaign: dict[str, Any], station_id: str) -> None:
    try:
        update = await service.start_update(
            services,
            station_id,
            file_id=campaign["file_id"],
            location=campaign["location"],
            version=campaign["version"],
            signing_certificate=campaign["signing_certificate"],
            signature=campaign["signature"],
            campaign_id=campaign["id"],
        )
        update_id, detail = update["id"], None
    except service.UpdateRefused as exc:
        update_id, detail = None, str(exc)
    except Exception as exc:  # the file went away meanwhile, the database...
        log.exception("firmware campaign %d: updating %s failed", campaign["id"], station_id)
        update_id, detail = None, f"could not ask: {type(exc).__name__}"
    async with services.db.write() as conn:
        values: dict[str, Any] = {"update_id": update_id, "updated_at": utcnow()}
        if update_id is None:
            values |= {"state": "failed", "detail": detail}
        await conn.execute(
            sa.update(FirmwareCampaignStation)
            .where(
                FirmwareCampaignStation.campaign_id == campaign["id"],
                FirmwareCampaignStation.station_id == station_id,
            )
            .values(**values)
        )
    # The update may have ended before its id was written here.
    nudge(services, campaign["id"])
