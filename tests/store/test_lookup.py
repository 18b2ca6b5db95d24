"""BatchedLookup: look-ups that arrive together share one SELECT ... IN, each
caller gets its own row (or None), and a failed query fails only its batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from volta.store.db import Database
from volta.store.lookup import BatchedLookup
from volta.store.models import STATIONS, utcnow


async def add_stations(db: Database, ids: list[str]) -> None:
    async with db.write() as conn:
        await conn.execute(
            STATIONS.insert(),
            [{"id": i, "registration_status": "Accepted", "created_at": utcnow()} for i in ids],
        )


def counting_reads(db: Database) -> list[int]:
    """Counts the connections the look-ups read through."""
    reads: list[int] = []
    original = db.read

    @contextlib.asynccontextmanager
    async def read() -> AsyncIterator[Any]:
        reads.append(1)
        async with original() as conn:
            yield conn

    db.read = read  # type: ignore[method-assign]
    return reads


async def test_lookups_made_together_share_a_query(db):
    ids = [f"L-{i:04d}" for i in range(1200)]
    await add_stations(db, ids[::2])  # every other one exists
    lookup = BatchedLookup(db, STATIONS, "id")
    reads = counting_reads(db)
    rows = await asyncio.gather(*(lookup.find(i) for i in ids), lookup.find(ids[0]))
    # 1,200 distinct keys in batches of 500: three queries.
    assert len(reads) == 3
    assert [r["id"] if r else None for r in rows[:-1]] == [
        i if n % 2 == 0 else None for n, i in enumerate(ids)
    ]
    # The same key asked twice gets the row twice, each its own copy.
    assert rows[-1] == rows[0] and rows[-1] is not rows[0]


async def test_a_lookup_reads_what_was_written_before_it(db):
    lookup = BatchedLookup(db, STATIONS, "id")
    assert await lookup.find("LATE") is None
    await add_stations(db, ["LATE"])
    found = await lookup.find("LATE")
    assert found is not None and found["registration_status"] == "Accepted"


async def test_a_failed_query_fails_its_callers_and_the_next_batch_runs(db):
    await add_stations(db, ["OK-1"])
    lookup = BatchedLookup(db, STATIONS, "id")
    original = db.read

    @contextlib.asynccontextmanager
    async def broken() -> AsyncIterator[Any]:
        raise ConnectionError("database unreachable")
        yield  # pragma: no cover

    db.read = broken  # type: ignore[method-assign]
    results = await asyncio.gather(lookup.find("OK-1"), lookup.find("OK-2"), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    db.read = original  # type: ignore[method-assign]
    found = await lookup.find("OK-1")
    assert found is not None and found["id"] == "OK-1"
