"""Locks that hold across processes: PostgreSQL session advisory locks, for
work that nodes of one deployment must not do at once (a station's local
list sync started by the API of one node and by the BootNotification the
station sent to another).

Each node keeps one dedicated connection (AUTOCOMMIT) that takes and frees
its advisory locks: a wait polls `pg_try_advisory_lock` (never a statement
blocked in the server, so a cancelled waiter leaves nothing behind), and
however many locks a node holds it uses one connection, not one of the
pool's each. Keys are the two-int form (class, hash of the name), a key
space apart from the one-bigint locks (the leader's lock).

If that connection is lost, PostgreSQL frees its locks: the holders are not
told (the work they guard must stay safe to repeat: it is, for a local list,
whose versions tell a second update from the first). A new connection is
opened for the next lock.

On SQLite (one process) there is nothing to take: `hold` returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
import zlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from volta.store.db import Database

log = logging.getLogger(__name__)

POLL_S = 0.05
_TRY = sa.text("SELECT pg_try_advisory_lock(:cls, :key)")
_FREE = sa.text("SELECT pg_advisory_unlock(:cls, :key)")


def _int4(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def key_of(kind: str, name: str) -> tuple[int, int]:
    """The advisory lock key (class, key) of `name` among locks of `kind`."""
    return _int4(zlib.crc32(kind.encode())), _int4(zlib.crc32(name.encode()))


class AdvisoryLocks:
    """One node's advisory locks on one PostgreSQL database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Any = None
        self._use = asyncio.Lock()  # one statement at a time on the connection

    async def _run(self, statement: Any, cls: int, key: int) -> bool:
        async with self._use:
            if self._conn is None:
                engine = self.db._async_engine
                assert engine is not None
                conn = await engine.connect()
                self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                return bool(
                    (await self._conn.execute(statement, {"cls": cls, "key": key})).scalar()
                )
            except Exception:
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    await conn.close()
                raise

    @contextlib.asynccontextmanager
    async def hold(self, kind: str, name: str) -> AsyncIterator[None]:
        """Hold the lock `kind`:`name` across every node for the block."""
        cls, key = key_of(kind, name)
        while True:
            if await self._run(_TRY, cls, key):
                break
            await asyncio.sleep(POLL_S)  # another node holds it (polled: see above)
        try:
            yield
        finally:
            try:
                await asyncio.shield(self._run(_FREE, cls, key))
            except Exception as exc:
                log.warning("advisory lock %s:%s not freed (%s)", kind, name, type(exc).__name__)

    async def close(self) -> None:
        async with self._use:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
                self._conn = None


_locks: weakref.WeakKeyDictionary[Database, AdvisoryLocks] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def hold(db: Database, kind: str, name: str) -> AsyncIterator[None]:
    """Hold `kind`:`name` across the processes sharing `db` (PostgreSQL);
    nothing to do on SQLite, which one process uses."""
    if db.is_sqlite:
        yield
        return
    locks = _locks.get(db)
    if locks is None:
        locks = _locks[db] = AdvisoryLocks(db)
    async with locks.hold(kind, name):
        yield


async def close(db: Database) -> None:
    """Close the node's lock connection (at shutdown, before `db.close()`)."""
    locks = _locks.pop(db, None)
    if locks is not None:
        await locks.close()
