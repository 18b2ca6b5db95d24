"""Schema migrations (Alembic), run in-process on the application's engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from volta.store.db import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def _upgrade(sync_connection: Any, revision: str) -> None:
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


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is already there."""
    await db.run_sync(_upgrade, revision)
