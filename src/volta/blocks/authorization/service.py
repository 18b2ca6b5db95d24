"""Id tokens and the decision whether one may charge.

`authorize` answers Authorize (and a stop's token): the token's own status.
`authorize_start` answers a transaction's start, where more can refuse it:
a master pass never starts (C16), a token already charging elsewhere gets
ConcurrentTx (1.6 §7.3, 2.0.1 AuthorizationStatusEnumType), and an EVSE held
by a reservation for another driver is refused (H03).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.store.db import Conn, Database
from volta.store.models import IdToken, LocalListEntry, Reservation, Transaction, utcnow
from volta.store.search import text_in


@dataclass(frozen=True, slots=True)
class Authorization:
    """The verdict on a token. `status` is Accepted, Blocked, Expired, Invalid
    or Unknown (not in the database); each version spells it in its own enum."""

    status: str
    expires_at: dt.datetime | None = None
    group_id: str | None = None
    group_type: str | None = None
    language1: str | None = None
    language2: str | None = None
    # Why a start was refused although the token itself is valid.
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


# Tokens the station vouches for itself: 2.0.1 C01 NoAuthorization (the
# station lets anyone charge) and 2.1's DirectPayment (ad hoc payment, C18:
# a payment terminal or a web payment has authorised the card with the
# payment service provider; the token is the PSP's reference, new each time).
STATION_VOUCHED = frozenset({"NoAuthorization", "DirectPayment"})


async def authorize(db: Database, token: str, token_type: str | None = None) -> Authorization:
    if token_type in STATION_VOUCHED:
        return Authorization("Accepted")
    async with db.read() as conn:
        return await token_verdict(conn, token)


async def token_verdict(conn: Conn, token: str) -> Authorization:
    row = (await conn.execute(sa.select(IdToken).where(IdToken.token == token))).first()
    if row is None:
        return Authorization("Unknown")
    group_type = None
    if row.group_id:
        group_type = (
            await conn.execute(sa.select(IdToken.type).where(IdToken.token == row.group_id))
        ).scalar_one_or_none()
    status = row.status
    if status == "Accepted" and row.expires_at is not None and row.expires_at <= utcnow():
        status = "Expired"
    return Authorization(
        status,
        row.expires_at,
        row.group_id,
        group_type or "Central",
        row.language1,
        row.language2,
    )


def _refuse(auth: Authorization, status: str, reason: str) -> Authorization:
    return dataclasses.replace(auth, status=status, reason=reason)


async def authorize_start(
    db: Database,
    station_id: str,
    token: str,
    token_type: str | None = None,
    *,
    evse_id: int | None,
    reservation_id: int | None,
    master_pass_group_id: str = "",
    allow_concurrent: bool = False,
) -> Authorization:
    """The verdict on a token that starts a transaction on `evse_id`
    (1.6: the connector) of `station_id`."""
    if token_type in STATION_VOUCHED:
        return Authorization("Accepted")
    async with db.read() as conn:
        auth = await token_verdict(conn, token)
        if not auth.accepted:
            return auth
        if master_pass_group_id and auth.group_id == master_pass_group_id:
            # C16: a master pass stops transactions; it cannot start one.
            return _refuse(auth, "Invalid", "a master pass cannot start a transaction")
        if not allow_concurrent:
            busy = (
                await conn.execute(
                    sa.select(Transaction.station_id, Transaction.evse_id)
                    .where(
                        Transaction.id_token == token,
                        Transaction.status == "Active",
                        Transaction.authorization_status == "Accepted",
                        sa.or_(
                            Transaction.station_id != station_id,
                            Transaction.evse_id.is_distinct_from(evse_id),
                        ),
                    )
                    .limit(1)
                )
            ).first()
            if busy is not None:
                return _refuse(
                    auth,
                    "ConcurrentTx",
                    f"{token} is charging at {busy.station_id} EVSE {busy.evse_id}",
                )
        held = await _held_for_another(conn, station_id, evse_id, token, auth.group_id)
        if held is not None and held != reservation_id:
            return _refuse(auth, "Invalid", f"EVSE {evse_id} is reserved (reservation {held})")
    return auth


async def _held_for_another(
    conn: Conn, station_id: str, evse_id: int | None, token: str, group_id: str | None
) -> int | None:
    """The id of a live reservation of this very EVSE for another driver."""
    if not evse_id:
        return None
    rows = (
        await conn.execute(
            sa.select(Reservation.id, Reservation.id_token, Reservation.group_id).where(
                Reservation.station_id == station_id,
                Reservation.evse_id == evse_id,
                Reservation.status == "Accepted",
                Reservation.expires_at > utcnow(),
            )
        )
    ).all()
    for r in rows:
        same_group = r.group_id is not None and r.group_id in (group_id, token)
        if r.id_token != token and not same_group:
            return int(r.id)
    return None


async def list_tokens(
    db: Database,
    *,
    limit: int = 100,
    offset: int = 0,
    search: str | None = None,
    status: str | None = None,
    token_type: str | None = None,
    group_id: str | None = None,
) -> list[dict[str, Any]]:
    """Id tokens by token (unique: a stable order); `search` is text anywhere
    in the token, its group or its note."""
    stmt = sa.select(IdToken).order_by(IdToken.token).limit(limit).offset(offset)
    if search:
        stmt = stmt.where(text_in(search, IdToken.token, IdToken.group_id, IdToken.note))
    if status is not None:
        # As the console shows them: an Accepted token past its expiry is Expired.
        lapsed = sa.and_(IdToken.expires_at.is_not(None), IdToken.expires_at <= utcnow())
        if status == "Expired":
            stmt = stmt.where(sa.or_(IdToken.status == status, lapsed))
        elif status == "Accepted":
            stmt = stmt.where(IdToken.status == status, sa.not_(lapsed))
        else:
            stmt = stmt.where(IdToken.status == status)
    if token_type is not None:
        stmt = stmt.where(IdToken.type == token_type)
    if group_id is not None:
        stmt = stmt.where(IdToken.group_id == group_id)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [dict(r) for r in rows]


async def get_token(db: Database, token: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (
            (await conn.execute(sa.select(IdToken).where(IdToken.token == token)))
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def add_token(
    db: Database,
    token: str,
    *,
    status: str = "Accepted",
    token_type: str = "ISO14443",
    expires_at: dt.datetime | None = None,
    group_id: str | None = None,
    language1: str | None = None,
    language2: str | None = None,
    note: str | None = None,
    limits: dict[str, Any] | None = None,
) -> None:
    now = utcnow()
    async with db.write() as conn:
        await conn.execute(
            sa.insert(IdToken).values(
                token=token,
                type=token_type,
                status=status,
                expires_at=expires_at,
                group_id=group_id,
                language1=language1,
                language2=language2,
                note=note,
                **(limits or {}),
                created_at=now,
                updated_at=now,
            )
        )


async def update_token(db: Database, token: str, **values: Any) -> bool:
    """Change a token; stations whose local list holds it get the change in
    their next differential update (D01, 1.6 §5.15)."""
    values["updated_at"] = utcnow()
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(IdToken).where(IdToken.token == token).values(**values)
        )
        await _list_entries_changed(conn, token, removed=False)
    return bool(result.rowcount)


async def remove_token(db: Database, token: str) -> bool:
    """Delete a token; it is removed from every local list that holds it."""
    async with db.write() as conn:
        result = await conn.execute(sa.delete(IdToken).where(IdToken.token == token))
        await _list_entries_changed(conn, token, removed=True)
    return bool(result.rowcount)


async def _list_entries_changed(conn: Conn, token: str, *, removed: bool) -> None:
    values: dict[str, Any] = {"pending": True, "updated_at": utcnow()}
    if removed:
        values["removed"] = True
    await conn.execute(
        sa.update(LocalListEntry).where(LocalListEntry.token == token).values(**values)
    )
