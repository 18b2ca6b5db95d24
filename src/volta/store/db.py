"""The database: engine, URL handling, and one way to read and to write.

SQLite (the default, `./volta.db`) runs in WAL mode with `synchronous=FULL`,
so a commit that returned is on disk; writes are serialised in-process with a
lock because SQLite has one writer and its busy handler cannot always wait
(a deferred transaction that must upgrade fails at once with SQLITE_BUSY).
PostgreSQL needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from volta import metrics

DEFAULT_URL = "sqlite:///./volta.db"


def async_url(url: str) -> str:
    """Accept plain `sqlite:///PATH` and `postgresql://...` and pick the async driver."""
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    for plain, driver in (
        ("sqlite://", "sqlite+aiosqlite://"),
        ("postgresql://", "postgresql+asyncpg://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        return url
    raise ValueError(
        f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable database url>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
            if schema:
                # Tests isolate themselves in a schema of their own.
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on exit; when it returns, the data is durable."""
        lock = self._write_lock
        if lock is not None:
            await lock.acquire()
        try:
            async with self.engine.connect() as conn:
                await conn.begin()
                try:
                    yield conn
                except BaseException:
                    await conn.rollback()
                    raise
                started = time.perf_counter()
                await conn.commit()
                metrics.DB_COMMIT_SECONDS.observe(time.perf_counter() - started)
        finally:
            if lock is not None:
                lock.release()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    def insert(self, table: Any) -> Any:
        """An INSERT that supports ON CONFLICT on this backend."""
        if self.is_sqlite:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)

    async def ping(self) -> bool:
        try:
            async with self.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            return False

    async def close(self) -> None:
        await self.engine.dispose()
