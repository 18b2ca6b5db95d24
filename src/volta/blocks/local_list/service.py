"""Keep each station's local authorization list in step with Volta's tokens.

The operator decides which tokens a station's list holds (`set_members`,
`change_members`); Volta records each entry with a `pending` flag until the
station has accepted it. `sync` sends what is pending: a Full update when one
is owed (first push, a failed or mismatched version), else a Differential one
with the changed entries and, for removed ones, the token alone (D01.FR.17).
Token changes mark entries pending in the same database transaction
(authorization.service), so a station that is offline gets them when it is
back: after its BootNotification is answered, or at the next housekeeping run.

Version numbers (D01.FR.18; 1.6 listVersion) start at 1 and grow by one per
accepted update; 0 and -1 keep their GetLocalListVersion meanings.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from volta.blocks.authorization.service import Authorization, token_verdict
from volta.blocks.remote_control.service import send, send_command
from volta.ocpp.versions import Version
from volta.services import CallContext, HandlerTable, Services
from volta.store.db import Conn, Database
from volta.store.lookup import batched
from volta.store.models import IdToken, LocalList, LocalListEntry, utcnow

log = logging.getLogger(__name__)

# A station that failed an update is not retried by housekeeping before this.
RETRY_AFTER = dt.timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ListEntry:
    token: str
    token_type: str
    # What the station is to answer for the token; None: remove it (D01.FR.17).
    verdict: Authorization | None


@dataclass(frozen=True, slots=True)
class SendLocalList:
    """The version-neutral SendLocalList (1.6 §5.15, 2.0.1 D01); spelled by
    v16.py / v201.py."""

    version: int
    full: bool
    entries: tuple[ListEntry, ...]


@dataclass(frozen=True, slots=True)
class GetLocalListVersion:
    """1.6 §5.10, 2.0.1 D02: the same empty request in both."""


class UnknownTokens(Exception):
    def __init__(self, tokens: list[str]) -> None:
        super().__init__(f"unknown id tokens: {', '.join(tokens)}")
        self.tokens = tokens


async def _ensure_list(conn: Conn, station_id: str) -> Any:
    row = (
        await conn.execute(sa.select(LocalList).where(LocalList.station_id == station_id))
    ).first()
    if row is None:
        await conn.execute(
            sa.insert(LocalList).values(
                station_id=station_id,
                version=0,
                managed=True,
                full_pending=True,
                updated_at=utcnow(),
            )
        )
        row = (
            await conn.execute(sa.select(LocalList).where(LocalList.station_id == station_id))
        ).first()
    return row


async def _check_tokens(conn: Conn, tokens: list[str]) -> dict[str, str]:
    """Token -> type; raises UnknownTokens for any not in the database."""
    rows = (
        await conn.execute(sa.select(IdToken.token, IdToken.type).where(IdToken.token.in_(tokens)))
    ).all()
    known = {r.token: r.type for r in rows}
    missing = sorted(set(tokens) - set(known))
    if missing:
        raise UnknownTokens(missing)
    return known


async def set_members(db: Database, station_id: str, tokens: list[str] | None) -> None:
    """Make the station's list exactly `tokens` (None: every token Volta
    knows); a Full update is owed."""
    now = utcnow()
    async with db.write(station_id) as conn:
        await _ensure_list(conn, station_id)
        if tokens is None:
            rows = (await conn.execute(sa.select(IdToken.token, IdToken.type))).all()
            known = {r.token: r.type for r in rows}
        else:
            known = await _check_tokens(conn, tokens)
        await conn.execute(sa.delete(LocalListEntry).where(LocalListEntry.station_id == station_id))
        if known:
            await conn.execute(
                sa.insert(LocalListEntry),
                [
                    {
                        "station_id": station_id,
                        "token": t,
                        "token_type": kind,
                        "pending": True,
                        "removed": False,
                        "updated_at": now,
                    }
                    for t, kind in sorted(known.items())
                ],
            )
        await conn.execute(
            sa.update(LocalList)
            .where(LocalList.station_id == station_id)
            .values(full_pending=True, managed=True, updated_at=now)
        )


async def change_members(
    db: Database, station_id: str, *, add: list[str], remove: list[str]
) -> None:
    """Add and remove tokens; a Differential update carries the change."""
    now = utcnow()
    async with db.write(station_id) as conn:
        await _ensure_list(conn, station_id)
        known = await _check_tokens(conn, add) if add else {}
        for token, kind in known.items():
            values = {"token_type": kind, "pending": True, "removed": False, "updated_at": now}
            await conn.execute(
                db.insert(LocalListEntry)
                .values(station_id=station_id, token=token, **values)
                .on_conflict_do_update(index_elements=["station_id", "token"], set_=values)
            )
        if remove:
            await conn.execute(
                sa.update(LocalListEntry)
                .where(LocalListEntry.station_id == station_id, LocalListEntry.token.in_(remove))
                .values(pending=True, removed=True, updated_at=now)
            )


async def _entry(conn: Conn, token: str, token_type: str) -> ListEntry:
    return ListEntry(token, token_type, await token_verdict(conn, token))


async def sync(
    services: Services, station_id: str, *, force_full: bool = False, patient: bool = False
) -> dict[str, Any]:
    """Send what the station's list lacks. Returns {"sent": False} when
    nothing was owed, else the command record and the update type.
    `patient` (housekeeping): leave a station alone for RETRY_AFTER after it
    refused an update, also when that refusal came while this call waited."""
    async with services.station_lock(station_id):
        return await _sync(services, station_id, force_full=force_full, patient=patient)


async def change_and_sync(
    services: Services, station_id: str, change: Awaitable[None]
) -> dict[str, Any]:
    """Apply `change` to the stored list and send the update it makes owed,
    with no other sync in between (which would send it first and leave the
    caller nothing to report)."""
    async with services.station_lock(station_id):
        await change
        return await _sync(services, station_id, force_full=False, patient=False)


async def _sync(
    services: Services, station_id: str, *, force_full: bool, patient: bool
) -> dict[str, Any]:
    version = services.router.version_of(station_id)
    if version is None:
        return {"sent": False, "reason": "offline"}
    db = services.db
    async with db.read() as conn:
        lst = (
            await conn.execute(sa.select(LocalList).where(LocalList.station_id == station_id))
        ).first()
        if lst is None or not lst.managed:
            return {"sent": False, "reason": "no list"}
        if patient and _backing_off(lst):
            return {"sent": False, "reason": "refused lately"}
        entries = (
            await conn.execute(
                sa.select(LocalListEntry).where(LocalListEntry.station_id == station_id)
            )
        ).all()
        full = force_full or lst.full_pending
        if full:
            items = [await _entry(conn, e.token, e.token_type) for e in entries if not e.removed]
        else:
            items = [
                ListEntry(e.token, e.token_type, None)
                if e.removed
                else await _entry(conn, e.token, e.token_type)
                for e in entries
                if e.pending
            ]
            if not items:
                return {"sent": False, "reason": "in step"}
    new_version = max(lst.version, 0) + 1
    update_type = "Full" if full else "Differential"
    message = services.outgoing[version].build(SendLocalList(new_version, full, tuple(items)))
    sent_tokens = [e.token for e in entries if full or e.pending]
    command = await send_command(services, station_id, message.action, message.payload)
    answer = (command.get("response") or {}).get("status") or command["status"]
    now = utcnow()
    async with db.write(station_id) as conn:
        if answer == "Accepted":
            await conn.execute(
                sa.delete(LocalListEntry).where(
                    LocalListEntry.station_id == station_id,
                    LocalListEntry.removed.is_(True),
                    LocalListEntry.token.in_(sent_tokens),
                )
            )
            await conn.execute(
                sa.update(LocalListEntry)
                .where(
                    LocalListEntry.station_id == station_id,
                    LocalListEntry.token.in_(sent_tokens),
                    # An entry changed again while the update was out stays pending.
                    LocalListEntry.updated_at <= command["created_at"],
                )
                .values(pending=False, version=new_version)
            )
            values: dict[str, Any] = {
                "version": new_version,
                "full_pending": False,
                "synced_at": now,
            }
        else:
            # VersionMismatch (1.6) / VersionMismatch (2.0.1): the station's
            # list is not what Volta thinks; the next update is a Full one.
            values = {"full_pending": full or answer == "VersionMismatch"}
        await conn.execute(
            sa.update(LocalList)
            .where(LocalList.station_id == station_id)
            .values(last_status=answer, updated_at=now, **values)
        )
    return {
        "sent": True,
        "update_type": update_type,
        "version": new_version,
        "command": command,
    }


async def clear(services: Services, station_id: str) -> dict[str, Any]:
    """Empty the station's list with a Full update without entries (TC_D_04)."""
    return await change_and_sync(services, station_id, set_members(services.db, station_id, []))


async def query_version(services: Services, station_id: str) -> dict[str, Any]:
    """GetLocalListVersion (D02; 1.6 §5.6). A version other than the one
    Volta recorded means the station's list is not Volta's: a Full update is
    owed if Volta manages the list."""
    command = await send(services, station_id, GetLocalListVersion())
    response = command.get("response") or {}
    reported = response.get("listVersion", response.get("versionNumber"))
    if isinstance(reported, int):
        async with services.db.write(station_id) as conn:
            lst = await _ensure_list(conn, station_id)
            await conn.execute(
                sa.update(LocalList)
                .where(LocalList.station_id == station_id)
                .values(
                    full_pending=lst.full_pending or reported != lst.version,
                    version=reported,
                    updated_at=utcnow(),
                )
            )
    return {"version": reported, "command": command}


async def get_list(db: Database, station_id: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        lst = (
            (await conn.execute(sa.select(LocalList).where(LocalList.station_id == station_id)))
            .mappings()
            .first()
        )
        if lst is None:
            return None
        entries = (
            (
                await conn.execute(
                    sa.select(LocalListEntry)
                    .where(LocalListEntry.station_id == station_id)
                    .order_by(LocalListEntry.token)
                )
            )
            .mappings()
            .all()
        )
    return {**dict(lst), "entries": [dict(e) for e in entries]}


def _backing_off(lst: Any) -> bool:
    return lst.last_status not in (None, "Accepted") and lst.updated_at > utcnow() - RETRY_AFTER


async def stations_owed(db: Database) -> list[str]:
    """Stations with a managed list that lacks something, not retried too soon."""
    cutoff = utcnow() - RETRY_AFTER
    pending = sa.select(LocalListEntry.station_id).where(LocalListEntry.pending.is_(True))
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(LocalList.station_id).where(
                    LocalList.managed.is_(True),
                    sa.or_(LocalList.full_pending.is_(True), LocalList.station_id.in_(pending)),
                    sa.or_(
                        LocalList.last_status.is_(None),
                        LocalList.last_status == "Accepted",
                        LocalList.updated_at < cutoff,
                    ),
                )
            )
        ).all()
    return [r.station_id for r in rows]


async def sync_all(services: Services) -> int:
    """Send what is owed to every station connected to this node
    (housekeeping, and after a token changed): each node sends its own
    stations' lists, so a list owed is sent once, by the node holding the
    station."""
    here = services.router.local()
    if not here:
        return 0
    sent = 0
    for station_id in await stations_owed(services.db):
        if station_id in here:
            result = await sync(services, station_id, patient=True)
            sent += bool(result.get("sent"))
    return sent


# Every node's listener: lists may be owed (a token changed on some node's API).
OWED_TOPIC = "local_lists.owed"


async def sync_everywhere(services: Services) -> None:
    """Have every node send what is owed to the stations it holds (after a
    token changed): this node's own at once, the others' by a message."""
    if services.node.clustered:
        await services.node.publish(OWED_TOPIC, {})
    else:
        await sync_all(services)


def register(services: Services) -> None:
    """Listen for lists owed on every node (volta.housekeeping registers it)."""

    async def owed(_: dict[str, Any]) -> None:
        services.spawn(sync_all(services), name="local-lists-owed")

    services.node.listen(OWED_TOPIC, owed)


async def _after_boot(ctx: CallContext, request: dict[str, Any], answer: dict[str, Any]) -> None:
    if answer.get("status") != "Accepted":
        return
    # After a restart every station boots at once, and most have no managed
    # list: their look-ups share their queries, and take no station lock.
    lists = batched(ctx.services.db, cast(sa.Table, LocalList.__table__), "station_id")
    found = await lists.find(ctx.station_id)
    if found is not None and found["managed"]:
        await sync(ctx.services, ctx.station_id)


# The local list follows the answer to BootNotification (app.py combines this table).
handlers = HandlerTable()
handlers.after(Version.V16, "BootNotification")(_after_boot)
handlers.after(Version.V201, "BootNotification")(_after_boot)
