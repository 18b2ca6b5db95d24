"""Hot-path statements on the raw driver (sqlite3, asyncpg), built once.

SQLAlchemy Core costs 40-60 us a statement in compile-cache look-ups,
parameter processing and result wrapping (profiled under load); the messages
every station sends all the time (MeterValues, TransactionEvent, Heartbeat,
StatusNotification) instead hand `Database.write_rows()` plain tuples for a
few fixed statements. The group commit runs each statement once per batch
with `executemany`, whatever the number of messages in the batch.

Parameters are in the statement's column order. Datetimes go through
`db_time()`, which stores them the way SQLAlchemy's `UTCDateTime` does, so
the ORM reads back exactly what was written here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa


@dataclass(frozen=True, eq=False, slots=True)
class RawStatement:
    """One statement in both dialects: `?` placeholders for sqlite3, `$n` for asyncpg."""

    name: str
    sqlite: str
    postgresql: str

    @classmethod
    def insert(
        cls, table: sa.Table, columns: Sequence[str], *, ignore_conflict_on: Sequence[str] = ()
    ) -> RawStatement:
        """INSERT; with `ignore_conflict_on`, a row whose key exists is skipped."""
        names = ", ".join(columns)
        tail = ""
        if ignore_conflict_on:
            tail = f" ON CONFLICT ({', '.join(ignore_conflict_on)}) DO NOTHING"
        return cls(
            f"insert:{table.name}",
            f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})" + tail,
            f"INSERT INTO {table.name} ({names}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})" + tail,
        )

    @classmethod
    def update(
        cls, table: sa.Table, columns: Sequence[str], where: Sequence[str], extra: str = ""
    ) -> RawStatement:
        """UPDATE table SET columns... WHERE where... (= each) [AND extra]."""

        def render(mark: list[str]) -> str:
            sets = ", ".join(f"{c} = {mark[i]}" for i, c in enumerate(columns))
            conds = " AND ".join(f"{c} = {mark[len(columns) + i]}" for i, c in enumerate(where))
            return f"UPDATE {table.name} SET {sets} WHERE {conds}" + (
                f" AND {extra}" if extra else ""
            )

        count = len(columns) + len(where)
        return cls(
            f"update:{table.name}:{','.join(columns)}",
            render(["?"] * count),
            render([f"${i}" for i in range(1, count + 1)]),
        )

    @classmethod
    def upsert(cls, table: sa.Table, columns: Sequence[str], key: Sequence[str]) -> RawStatement:
        """INSERT ... ON CONFLICT (key) DO UPDATE the other columns (both dialects)."""
        names = ", ".join(columns)
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
        tail = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
        return cls(
            f"upsert:{table.name}",
            f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})" + tail,
            f"INSERT INTO {table.name} ({names}) "
            f"VALUES ({', '.join(f'${i}' for i in range(1, len(columns) + 1))})" + tail,
        )

    def text(self, is_sqlite: bool) -> str:
        return self.sqlite if is_sqlite else self.postgresql


# The last whole second formatted: most rows of a batch share it.
_second: list[Any] = [None, ""]


def sqlite_time(value: dt.datetime | None) -> str | None:
    """A UTC datetime as SQLAlchemy's SQLite DATETIME stores it: naive UTC
    text with six decimals."""
    if value is None:
        return None
    zone = value.tzinfo
    if zone is not None and zone is not dt.UTC:
        value = value.astimezone(dt.UTC)
    second = value.replace(microsecond=0, tzinfo=None)
    if second != _second[0]:
        _second[0], _second[1] = second, second.isoformat(" ")
    return f"{_second[1]}.{value.microsecond:06d}"


def pg_time(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
