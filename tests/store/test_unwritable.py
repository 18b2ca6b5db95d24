"""A database that cannot be written (read-only, full disk) while stations
are connected: they stay connected, CALLs that must write are answered
CALLERROR InternalError (OCPP-J 1.6 §4.2.3, 2.0.1 §4.3: "InternalError: An
internal error occurred and the receiver was not able to process the
requested Action successfully"), API writes get 503 in the documented JSON
shape, /healthz says 503 while writes fail, and everything recovers by
itself once the database can be written again, losing nothing acknowledged.

The database is made unwritable for real, in ways that bind root too: on
SQLite `PRAGMA query_only` (SQLITE_READONLY) or `PRAGMA max_page_count`
(SQLITE_FULL, "database or disk is full") on every transaction Volta
begins; on PostgreSQL Volta runs as a role of its own that is switched to
`default_transaction_read_only` with its sessions terminated, as a failover
to a read-only standby does.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.conftest import API_TOKEN, PG_URL, DatabaseTarget, make_settings
from tests.helpers import RawStation, connect, now_iso, register, wait_until
from volta.app import Volta
from volta.store import migrate
from volta.store.db import CommitFailed, Database
from volta.store.framelog import _INSERT_FRAME
from volta.store.models import FRAMES, utcnow


class Unwritable:
    """Switches the database between writable and not."""

    def __init__(self, volta: Volta, role: str | None) -> None:
        self.volta = volta
        self.role = role
        self.read_only = False
        db = volta.db
        if db._sync_engine is not None:
            # Every connection the writer (or a reader) takes from the pool.
            event.listen(db._sync_engine, "checkout", self._checkout)

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute(f"PRAGMA query_only={int(self.read_only)}")

    async def set(self, read_only: bool) -> None:
        self.read_only = read_only
        if self.role is None:
            # Also the writer's connection now: a transaction of the group
            # commit may be open and take the next writers in.
            for lane in self.volta.db._lanes:
                if lane._conn is not None:
                    driver = lane._conn.sync.connection.driver_connection
                    driver.execute(f"PRAGMA query_only={int(read_only)}")
            return
        verb = "SET default_transaction_read_only = on" if read_only else "RESET ALL"
        await _admin(f'ALTER ROLE "{self.role}" {verb}')
        # The role's sessions start again with the new setting.
        await _admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{self.role}'"
        )


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def own_role(database: DatabaseTarget) -> AsyncIterator[tuple[str, str | None]]:
    """The database URL Volta runs with, and its role on PostgreSQL (a
    superuser ignores read-only settings nowhere, but a role of its own can be
    switched without touching the other tests' sessions)."""
    if database.kind == "sqlite":
        yield database.url, None
        return
    role = "volta_ro_" + uuid.uuid4().hex[:10]
    await _admin(f'CREATE ROLE "{role}" LOGIN')
    await _admin(f'GRANT ALL ON SCHEMA "{database.schema}" TO "{role}"')
    try:
        yield sa.engine.make_url(PG_URL).set(username=role).render_as_string(False), role
    finally:
        await _admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        await _admin(f'DROP OWNED BY "{role}" CASCADE')
        await _admin(f'DROP ROLE "{role}"')


def start_transaction(id_tag: str = "CARD-1") -> dict[str, Any]:
    return {"connectorId": 1, "idTag": id_tag, "meterStart": 1000, "timestamp": now_iso()}


async def test_unwritable_database_keeps_stations_and_recovers(database):
    async with own_role(database) as (url, role):
        settings = make_settings(DatabaseTarget(url, database.schema), housekeeping_interval=0.2)
        volta = Volta(settings, db_schema=database.schema)
        await volta.start()
        try:
            await _scenario(volta, role)
        finally:
            await volta.stop()


async def _scenario(volta: Volta, role: str | None) -> None:
    await register(volta, "RO-1")
    await register(volta, "RO-2")
    switch = Unwritable(volta, role)
    base = f"http://127.0.0.1:{volta.api_port}"
    async with (
        httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=15
        ) as api,
        connect(volta, "RO-1") as ws1,
    ):
        one = RawStation(ws1)
        boot = {"chargePointVendor": "Acme", "chargePointModel": "X"}
        assert (await one.call("BootNotification", boot))[2]["status"] == "Accepted"
        assert (await api.get("/healthz")).status_code == 200

        await switch.set(True)

        # A write that fails: the transaction is not acknowledged.
        answer = await one.call("StartTransaction", start_transaction())
        assert answer[0] == 4 and answer[2] == "InternalError", answer

        # A station connecting now is served, not closed after its handshake.
        async with connect(volta, "RO-2") as ws2:
            two = RawStation(ws2)
            answer = await two.call("BootNotification", boot)
            assert answer[0] == 4 and answer[2] == "InternalError", answer
            assert await two.no_message(0.5)  # not closed
            reads = await two.call("Heartbeat", {})
            assert reads[0] in (3, 4)

            # An API write: 503 in the documented JSON shape, never a 500.
            resp = await api.post(
                "/api/v1/stations", json={"id": "NEW-1", "password": "s3cret-pw-123"}
            )
            assert resp.status_code == 503, resp.text
            assert resp.headers["content-type"].startswith("application/json")
            assert "detail" in resp.json() and "s3cret" not in resp.text

            health = await api.get("/healthz")
            assert health.status_code == 503, health.text
            body = health.json()
            assert body["database"] == "failing" and body["error"], body
            assert body["stations_connected"] == 2

            metrics = (await api.get("/metrics")).text
            assert "volta_db_writes_failing 1.0" in metrics

            # The disk is writable again: the next writes succeed by themselves.
            await switch.set(False)
            # (On PostgreSQL the first write may still meet a connection the
            # switch closed: the station sends it again, as stations do.)
            again = await retried(one, "StartTransaction", start_transaction())
            assert again[0] == 3 and again[2]["transactionId"] > 0, again
            assert (await retried(two, "BootNotification", boot))[2]["status"] == "Accepted"
            assert await wait_until(lambda: _status(api, "/healthz", 200), timeout=10, interval=0.2)
            resp = await api.post("/api/v1/stations", json={"id": "NEW-1"})
            assert resp.status_code == 201, resp.text
            # The connection that could not be recorded is recorded now.
            assert await wait_until(lambda: _connected_at(api, "RO-2"), timeout=10, interval=0.2)

        # The frame log kept the frames of the outage queued and wrote them.
        assert await wait_until(
            lambda: _frames(api, "RO-1", "StartTransaction", 2), timeout=15, interval=0.3
        )

        # Nothing acknowledged was lost, nothing refused was kept.
        listing = (await api.get("/api/v1/transactions", params={"station_id": "RO-1"})).json()
        assert len(listing) == 1 and listing[0]["id"] == again[2]["transactionId"]
        assert "volta_db_writes_failing 0.0" in (await api.get("/metrics")).text


async def retried(station: RawStation, action: str, payload: dict[str, Any]) -> Any:
    for _ in range(3):
        answer = await station.call(action, payload)
        if answer[0] == 3:
            break
    return answer


async def _connected_at(api: httpx.AsyncClient, station_id: str) -> bool:
    return bool((await api.get(f"/api/v1/stations/{station_id}")).json()["last_connected_at"])


async def _frames(api: httpx.AsyncClient, station_id: str, action: str, at_least: int) -> bool:
    """At least this many CALLs of `action` from the station logged."""
    resp = await api.get(
        f"/api/v1/stations/{station_id}/messages",
        params={"action": action, "direction": "in", "limit": 100},
    )
    return len(resp.json()) >= at_least


async def _status(api: httpx.AsyncClient, path: str, expected: int) -> bool:
    return (await api.get(path)).status_code == expected


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_full_disk_fails_writes_then_recovers(database):
    """SQLITE_FULL ("database or disk is full"), a real full-database error:
    the database may grow by no page. Rows that need room fail and mark
    writes failing; once it may grow again, the same rows are stored."""
    db = Database(database.url)
    await migrate.upgrade(db)
    limit = {"pages": 0}

    def _apply(dbapi_connection: Any, *_: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count={limit['pages'] or 2_000_000}")

    def set_limit(pages: int) -> None:
        limit["pages"] = pages
        for lane in db._lanes:
            if lane._conn is not None:
                _apply(lane._conn.sync.connection.driver_connection)

    assert db._sync_engine is not None
    event.listen(db._sync_engine, "checkout", _apply)

    def frames(n: int) -> list[tuple[Any, ...]]:
        now = db.db_time(utcnow())
        return [("FULL-1", "in", "x" * 3000, 2, "m", "DataTransfer", None, now)] * n

    try:
        await db.write_rows(None, [(_INSERT_FRAME, frames(1))])
        assert not db.health.failing
        set_limit(1)  # clamped to the pages it has: no growth
        with pytest.raises(Exception) as failed:
            await db.write_rows(None, [(_INSERT_FRAME, frames(50))])
        # SQLite rolls the whole transaction back on SQLITE_FULL: the batch
        # fails as a whole (CommitFailed), and no writer of it is acknowledged.
        assert "full" in str(failed.value) or isinstance(failed.value, CommitFailed)
        assert db.health.failing and db.health.error == "OperationalError"
        set_limit(0)
        await db.write_rows(None, [(_INSERT_FRAME, frames(50))])
        assert not db.health.failing
        async with db.read() as conn:
            count = (await conn.execute(sa.select(sa.func.count()).select_from(FRAMES))).scalar()
        assert count == 51
    finally:
        await db.close()
