"""Fresh test databases get the migrated schema without running the migrations.

Every test on a fresh database starts Volta, and Volta runs the Alembic
migrations from nothing: about 60 tables built op by op, a second or more of
CPU a test on a loaded machine, times some 1,600 database tests. The schema
those migrations make is the same every time, so the test process runs them
for real once per database kind (a template SQLite file, a template
PostgreSQL schema), records what they made as SQL (sqlite3's iterdump;
pg_dump of the schema), and afterwards replays that SQL when, and only when,
`volta.store.migrate` is asked to bring an empty database to head, inside the
same transaction and under the same lock as the real migrations would run.

Anything else goes through the real migrations unchanged: a database already
at some revision, a target other than head (tests that start from an older
schema), and every `volta` subprocess. tests/store/test_schema_cache.py checks
that the replayed schema is exactly what the migrations make, on both
databases; tests that are about the migrations themselves use
`real_migrations()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.util import await_only

from volta.store import migrate
from volta.store.db import Database

_real_upgrade: Callable[[Any, str], None] = migrate._upgrade
_state = threading.local()
_scripts: dict[str, list[str]] = {}
_lock = threading.Lock()
_head: list[str | None] = []


def _bypassed() -> bool:
    return bool(getattr(_state, "real", False))


@contextlib.contextmanager
def real_migrations() -> Iterator[None]:
    """Within this block (this thread), migrations run for real."""
    before = _bypassed()
    _state.real = True
    try:
        yield
    finally:
        _state.real = before


def _head_revision() -> str | None:
    if not _head:
        _head.append(migrate.head())
    return _head[0]


# -- recording ---------------------------------------------------------------------


def _in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` (which runs an event loop of its own) off the caller's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def _record_sqlite() -> list[str]:
    """The real migrations on a template file, as the SQL that rebuilds it."""
    directory = tempfile.mkdtemp(prefix="volta-schema-")
    path = os.path.join(directory, "template.db")

    async def build() -> None:
        db = Database(f"sqlite:///{path}")
        try:
            with real_migrations():
                await migrate.upgrade(db)
        finally:
            await db.close()

    def run() -> None:
        asyncio.run(build())

    _in_thread(run)
    conn = sqlite3.connect(path)
    try:
        statements = [s for s in conn.iterdump() if s not in ("BEGIN TRANSACTION;", "COMMIT;")]
    finally:
        conn.close()
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))
    os.rmdir(directory)
    return statements


_PG_SKIP = re.compile(r"^(\\|SET |SELECT pg_catalog\.set_config|CREATE SCHEMA |--)")


def _record_postgresql(url: str) -> list[str]:
    """The real migrations in a template schema, as the SQL that rebuilds it
    (pg_dump), with the schema's name as `{schema}`."""
    schema = "volta_template_" + uuid.uuid4().hex[:12]

    async def build() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.close()
        db = Database(url, schema=schema)
        try:
            with real_migrations():
                await migrate.upgrade(db)
        finally:
            await db.close()

    async def drop() -> None:
        conn = await asyncpg.connect(url)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()

    _in_thread(lambda: asyncio.run(build()))
    try:
        parts = sa.engine.make_url(url)
        dump = subprocess.run(
            [
                "pg_dump", "--inserts", "--no-owner",
                "--no-privileges", "--no-comments", f"--schema={schema}",
                f"--dbname={parts.set(drivername='postgresql').render_as_string(hide_password=False)}",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout  # fmt: skip
    finally:
        _in_thread(lambda: asyncio.run(drop()))
    lines = [line for line in dump.splitlines() if not _PG_SKIP.match(line)]
    script = "\n".join(lines)
    assert script.count(schema) > 0, "pg_dump did not qualify the names"
    return [script.replace(schema, "{schema}")]


def recorded(kind: str, url: str) -> list[str]:
    """The SQL that rebuilds the migrated schema (recorded once per process)."""
    with _lock:
        if kind not in _scripts:
            _scripts[kind] = _record_sqlite() if kind == "sqlite" else _record_postgresql(url)
        return _scripts[kind]


# -- replaying ---------------------------------------------------------------------


def _is_empty(sync_connection: Any) -> bool:
    if MigrationContext.configure(sync_connection).get_current_revision() is not None:
        return False
    if sync_connection.dialect.name == "sqlite":
        count = sync_connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
    else:
        count = sync_connection.exec_driver_sql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema()"
        ).scalar()
    return int(count) == 0


def _upgrade(sync_connection: Any, revision: str) -> None:
    """volta.store.migrate._upgrade, replaying the recorded schema when an
    empty database is brought to head."""
    if _bypassed() or revision not in ("head", _head_revision()):
        _real_upgrade(sync_connection, revision)
        return
    dialect = sync_connection.dialect.name
    if dialect == "postgresql":
        # The lock the real migrations take (several Voltas on one schema).
        sync_connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('volta-migrate:' || current_schema()))"
        )
    if not _is_empty(sync_connection):
        _real_upgrade(sync_connection, revision)
        return
    url = sync_connection.engine.url
    if dialect == "sqlite":
        for statement in recorded("sqlite", ""):
            sync_connection.exec_driver_sql(statement)
        return
    schema = sync_connection.exec_driver_sql("SELECT current_schema()").scalar()
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    (script,) = recorded("postgresql", plain)
    driver = sync_connection.connection.driver_connection
    await_only(driver.execute(script.replace("{schema}", f'"{schema}"')))


def install() -> None:
    """Replace volta.store.migrate._upgrade in this process (tests only)."""
    migrate._upgrade = _upgrade  # type: ignore[assignment]
