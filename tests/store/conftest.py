"""A migrated Database of its own for each store test (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from volta.store import migrate
from volta.store.db import Database


@pytest.fixture
async def db(database):
    store = Database(database.url, schema=database.schema)
    await migrate.upgrade(store)
    try:
        yield store
    finally:
        await store.close()
