"""Group commit: writers share one transaction, each in its own savepoint.
A writer that fails loses only its own work; the others are stored, and
every writer returns only after the commit."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from volta.metrics import REGISTRY
from volta.store.db import Database
from volta.store.models import IdToken, utcnow


def token_row(token: str) -> dict:
    now = utcnow()
    return {
        "token": token,
        "type": "ISO14443",
        "status": "Accepted",
        "created_at": now,
        "updated_at": now,
    }


async def stored_tokens(db: Database) -> list[str]:
    async with db.read() as conn:
        return list(
            (await conn.execute(sa.select(IdToken.token).order_by(IdToken.token))).scalars()
        )


async def test_failing_writers_lose_only_their_own_work(db):
    async def good(name: str) -> None:
        async with db.write() as conn:
            await conn.execute(sa.insert(IdToken), token_row(name))

    async def raises_after_writing(name: str) -> None:
        async with db.write() as conn:
            await conn.execute(sa.insert(IdToken), token_row(name))
            raise RuntimeError("handler bug")

    async def violates_constraint() -> None:
        async with db.write() as conn:
            await conn.execute(sa.insert(IdToken), token_row("dup"))
            await conn.execute(sa.insert(IdToken), token_row("dup"))

    jobs = [good(f"ok-{i:02d}") for i in range(20)]
    jobs.insert(5, raises_after_writing("lost-1"))
    jobs.insert(12, violates_constraint())
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert sum(isinstance(r, RuntimeError) for r in results) == 1
    assert sum(isinstance(r, IntegrityError) for r in results) == 1
    assert await stored_tokens(db) == [f"ok-{i:02d}" for i in range(20)]


async def test_writes_are_visible_when_write_returns(db):
    """What a handler acknowledged after `write()` returned is committed."""
    for i in range(5):
        async with db.write() as conn:
            await conn.execute(sa.insert(IdToken), token_row(f"seq-{i}"))
        assert f"seq-{i}" in await stored_tokens(db)


async def test_many_concurrent_writers_share_commits(db):
    async def good(i: int) -> None:
        async with db.write() as conn:
            await conn.execute(sa.insert(IdToken), token_row(f"c-{i:03d}"))

    def commits() -> float:
        return REGISTRY.get_sample_value("volta_db_batch_size_count") or 0.0

    before = commits()
    await asyncio.gather(*(good(i) for i in range(200)))
    assert len(await stored_tokens(db)) == 200
    # 200 writers arriving together are committed in a few shared transactions.
    assert commits() - before < 20
