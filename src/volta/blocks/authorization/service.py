"""Id tokens and the decision whether one may charge."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from volta.store.db import Database
from volta.store.models import IdToken, utcnow


@dataclass(frozen=True, slots=True)
class Authorization:
    """The verdict on a token. `status` is Accepted, Blocked, Expired, Invalid
    or Unknown (not in the database); each version spells it in its own enum."""

    status: str
    expires_at: dt.datetime | None = None
    group_id: str | None = None
    group_type: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "Accepted"


async def authorize(db: Database, token: str, token_type: str | None = None) -> Authorization:
    # 2.0.1 C01: NoAuthorization means the station lets anyone charge.
    if token_type == "NoAuthorization":
        return Authorization("Accepted")
    async with db.read() as conn:
        row = (await conn.execute(sa.select(IdToken).where(IdToken.token == token))).first()
        group_type = None
        if row is not None and row.group_id:
            group_type = (
                await conn.execute(sa.select(IdToken.type).where(IdToken.token == row.group_id))
            ).scalar_one_or_none()
    if row is None:
        return Authorization("Unknown")
    tok = row
    status = tok.status
    if status == "Accepted" and tok.expires_at is not None and tok.expires_at <= utcnow():
        status = "Expired"
    return Authorization(status, tok.expires_at, tok.group_id, group_type or "Central")


async def list_tokens(db: Database, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    sa.select(IdToken).order_by(IdToken.token).limit(limit).offset(offset)
                )
            )
            .mappings()
            .all()
        )
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
                created_at=now,
                updated_at=now,
            )
        )


async def update_token(db: Database, token: str, **values: Any) -> bool:
    values["updated_at"] = utcnow()
    async with db.write() as conn:
        result = await conn.execute(
            sa.update(IdToken).where(IdToken.token == token).values(**values)
        )
    return bool(result.rowcount)


async def remove_token(db: Database, token: str) -> bool:
    async with db.write() as conn:
        result = await conn.execute(sa.delete(IdToken).where(IdToken.token == token))
    return bool(result.rowcount)
