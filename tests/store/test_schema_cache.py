"""The recorded schema tests replay on fresh databases (tests/schema_cache.py)
is exactly what the migrations make: same tables, columns, types, defaults,
constraints, indexes, sequences and rows (alembic_version), on SQLite and on
PostgreSQL. If a new migration made something the recording missed, this
fails, not the tests that would run on a subtly different schema."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess

import sqlalchemy as sa

from tests import schema_cache
from tests.conftest import DatabaseTarget, postgres_schema
from volta.store import migrate
from volta.store.db import Database


def _sqlite_dump(url: str) -> list[str]:
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _pg_dump(target: DatabaseTarget) -> list[str]:
    assert target.schema is not None
    url = sa.engine.make_url(target.url).set(drivername="postgresql")
    out = subprocess.run(
        [
            "pg_dump", "--inserts", "--no-owner", "--no-privileges", "--no-comments",
            f"--schema={target.schema}",
            f"--dbname={url.render_as_string(hide_password=False)}",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout  # fmt: skip
    return [
        line.replace(target.schema, "SCHEMA")
        for line in out.splitlines()
        if not line.startswith("\\")  # \restrict <random key>
    ]


async def _migrate(target: DatabaseTarget) -> str | None:
    db = Database(target.url, schema=target.schema)
    try:
        await migrate.upgrade(db)
        return await migrate.current_revision(db)
    finally:
        await db.close()


async def test_replayed_schema_is_what_the_migrations_make(database, tmp_path):
    replayed_revision = await _migrate(database)  # a fresh database: replayed
    if database.kind == "sqlite":
        real = DatabaseTarget(f"sqlite:///{tmp_path}/real.db", None)
        with schema_cache.real_migrations():
            assert await _migrate(real) == replayed_revision == migrate.head()
        assert _sqlite_dump(real.url) == _sqlite_dump(database.url)
        return
    async with postgres_schema() as real:
        with schema_cache.real_migrations():
            assert await _migrate(real) == replayed_revision == migrate.head()
        made, replayed = await asyncio.gather(
            asyncio.to_thread(_pg_dump, real), asyncio.to_thread(_pg_dump, database)
        )
    assert len(made) > 100
    assert made == replayed
