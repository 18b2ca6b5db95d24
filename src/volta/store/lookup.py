"""Look-ups by key that arrive together are answered by one query.

A restart brings thousands of stations back at once, and each needs a row
or two read before it is served (its station row before the upgrade, its
local list after its boot). One `SELECT ... WHERE key IN (...)` for all the
keys asked for while the previous query ran costs a few queries instead of
thousands (each a pool checkout, a ping and a transaction on PostgreSQL,
which queued past the stations' timeouts in a 10,000-station storm:
measured). Every caller's query starts after it asked, so a caller reads
its own earlier writes.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from typing import Any

import sqlalchemy as sa

from volta.store.db import Database


class BatchedLookup:
    """Rows of `table` by `column`, fetched in batches: `find(key)` is the
    row as a dict, or None."""

    BATCH = 500

    def __init__(self, db: Database, table: sa.Table, column: str) -> None:
        # Weakly: `batched()` keeps the lookups per Database in a
        # WeakKeyDictionary, whose key must not be kept alive by its value.
        self._db = weakref.ref(db)
        self._column = column
        self._query = sa.select(table).where(
            table.c[column].in_(sa.bindparam("keys", expanding=True))
        )
        self._waiting: dict[Any, list[asyncio.Future[dict[str, Any] | None]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def find(self, key: Any) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[dict[str, Any] | None] = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        if self._task is None:
            self._task = loop.create_task(self._run(), name=f"lookup-{self._column}")
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                keys = list(itertools.islice(self._waiting, self.BATCH))
                batch = {key: self._waiting.pop(key) for key in keys}
                try:
                    db = self._db()
                    if db is None:
                        raise RuntimeError("the database was closed")
                    async with db.read() as conn:
                        rows = (await conn.execute(self._query, {"keys": keys})).mappings().all()
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                found = {row[self._column]: row for row in rows}
                for key, futures in batch.items():
                    row = found.get(key)
                    for future in futures:
                        if not future.done():
                            future.set_result(dict(row) if row is not None else None)
        finally:
            self._task = None


_lookups: weakref.WeakKeyDictionary[Database, dict[tuple[str, str], BatchedLookup]] = (
    weakref.WeakKeyDictionary()
)


def batched(db: Database, table: sa.Table, column: str) -> BatchedLookup:
    """The one BatchedLookup of `table` by `column` on `db` (per Database, so
    two Voltas in one process, as in the tests, never share)."""
    mine = _lookups.get(db)
    if mine is None:
        mine = _lookups[db] = {}
    lookup = mine.get((table.name, column))
    if lookup is None:
        lookup = mine[(table.name, column)] = BatchedLookup(db, table, column)
    return lookup
