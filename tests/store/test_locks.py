"""Locks across processes (volta.store.locks): two Database objects on one
PostgreSQL database stand for two nodes. One node's hold of a station keeps
the other waiting until it is freed; another station is not held up; a
waiter given up leaves nothing held; one node holds many locks on one
connection."""

from __future__ import annotations

import asyncio
import contextlib

import sqlalchemy as sa

from tests.conftest import postgres_schema
from volta.store import locks
from volta.store.db import Database


async def test_a_station_lock_holds_across_nodes():
    async with postgres_schema() as target:
        node_a = Database(target.url, schema=target.schema)
        node_b = Database(target.url, schema=target.schema)
        try:
            order: list[str] = []
            async with locks.hold(node_a, "station", "CP-1"):
                waiter = asyncio.create_task(_take(node_b, "CP-1", order))
                await asyncio.sleep(0.3)
                assert not waiter.done()  # node b waits for node a
                # Another station is not held up meanwhile.
                async with asyncio.timeout(1):
                    async with locks.hold(node_b, "station", "CP-2"):
                        order.append("b:CP-2")
                order.append("a freed CP-1")
            async with asyncio.timeout(2):
                await waiter
            assert order == ["b:CP-2", "a freed CP-1", "b:CP-1"]

            # A waiter given up (cancelled) leaves nothing held.
            async with locks.hold(node_a, "station", "CP-3"):
                gave_up = asyncio.create_task(_take(node_b, "CP-3", order))
                await asyncio.sleep(0.2)
                gave_up.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gave_up
            async with asyncio.timeout(1):
                async with locks.hold(node_a, "station", "CP-3"):
                    pass
                async with locks.hold(node_b, "station", "CP-3"):
                    pass

            # Many locks held at once by one node use its one connection.
            async with contextlib.AsyncExitStack() as stack:
                for i in range(50):
                    await stack.enter_async_context(locks.hold(node_a, "station", f"M-{i}"))
                assert await _advisory_locks(node_b) == 50
            assert await _advisory_locks(node_b) == 0
        finally:
            for db in (node_a, node_b):
                await locks.close(db)
                await db.close()


async def _take(db: Database, station_id: str, order: list[str]) -> None:
    async with locks.hold(db, "station", station_id):
        order.append(f"b:{station_id}")


async def _advisory_locks(db: Database) -> int:
    """How many of the M-<i> station locks are held (pg_locks)."""
    keys = [locks.key_of("station", f"M-{i}") for i in range(50)]
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.text(
                    "SELECT classid::bigint AS cls, objid::bigint AS obj FROM pg_locks "
                    "WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
                )
            )
        ).all()
    held = {(r.cls, r.obj) for r in rows}
    return sum((c & 0xFFFFFFFF, k & 0xFFFFFFFF) in held for c, k in keys)


async def test_nothing_to_take_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/volta.db")
    try:
        async with asyncio.timeout(1):
            async with locks.hold(db, "station", "CP-1"), locks.hold(db, "station", "CP-1"):
                pass
    finally:
        await db.close()
