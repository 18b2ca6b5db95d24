"""Schema migrations (Alembic), run in-process on the application's engine.

Migrations take a lock, so that processes starting on one fresh database at
once (eight `volta stations add`, or `volta serve` and the CLI) wait for the
first to create the schema instead of failing with "database is locked" or a
duplicate table: on SQLite an `fcntl.flock` on `<database>.lock` beside the
file, on PostgreSQL a transaction-level advisory lock for the schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from volta.store.db import Database, lock_path

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(sync_connection: Any, revision: str) -> None:
    if sync_connection.dialect.name == "postgresql":
        # Held until this transaction commits; one lock per schema (tests and
        # several Voltas may share a database in schemas of their own).
        sync_connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('volta-migrate:' || current_schema()))"
        )
    cfg = alembic_config()
    cfg.attributes["connection"] = sync_connection
    command.upgrade(cfg, revision)


def _current(sync_connection: Any) -> str | None:
    return MigrationContext.configure(sync_connection).get_current_revision()


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    result: str | None = await db.run_sync(_current)
    return result


@contextlib.asynccontextmanager
async def _file_lock(db: Database) -> AsyncIterator[None]:
    if db.path is None or not db.path.parent.is_dir():
        yield  # (no directory: SQLite says so, in its own words)
        return
    path = lock_path(db.path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        # Waits in a thread: the event loop (a running server) goes on.
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _mark_created(db: Database) -> None:
    """Write, once, into the lock file that the database now exists here."""
    if db.path is None or not db.path.exists():
        return
    marker = lock_path(db.path)
    with contextlib.suppress(FileNotFoundError):
        if marker.stat().st_size == 0:
            with marker.open("a") as f:
                f.write(f"volta database {db.path.name} created here\n")


async def upgrade(db: Database, revision: str = "head") -> bool:
    """Bring the schema to `revision`; a no-op when it is already there.
    True when the database file was created now (SQLite). Raises
    `DatabaseMissing` when the file is gone though one was created here."""
    async with _file_lock(db):
        db.check_missing()
        created = db.path is not None and not db.path.exists()
        await db.run_sync(_upgrade, revision)
        _mark_created(db)
    db.remember_file()
    return created
