"""Transaction messages that arrive late, wrong or while the database is
down. Each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from tests.conftest import DatabaseTarget, make_settings
from tests.helpers import RawStation, add_token, connect, now_iso, register
from volta.app import Volta
from volta.store.models import Transaction, TransactionEvent

HOUR = 3600.0


def parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def booted(ws, protocol: str) -> RawStation:
    station = RawStation(ws)
    if protocol == "ocpp1.6":
        boot = {"chargePointVendor": "v", "chargePointModel": "m"}
    else:
        boot = {"reason": "PowerUp", "chargingStation": {"model": "m", "vendorName": "v"}}
    assert (await station.call("BootNotification", boot))[2]["status"] == "Accepted"
    return station


async def start_v16(st: RawStation, meter_start: int, timestamp: str) -> int:
    """StartTransaction for CARD on connector 1; returns the transactionId."""
    payload = {"connectorId": 1, "idTag": "CARD", "meterStart": meter_start, "timestamp": timestamp}
    r = await st.call("StartTransaction", payload)
    assert r[0] == 3, r
    return r[2]["transactionId"]


async def test_offline_queued_transaction_v16(volta, api):
    """A charge point that was offline for hours delivers its queued Start,
    MeterValues and Stop at once: one closed transaction, the energy from its
    register, the station's timestamps kept next to Volta's receipt time."""
    await register(volta, "OFF16")
    await add_token(volta, "CARD")
    async with connect(volta, "OFF16", "ocpp1.6") as ws:
        st = await booted(ws, "ocpp1.6")
        started = now_iso(-5 * HOUR)
        tx = await start_v16(st, 10_000, started)
        mv = {
            "connectorId": 1,
            "transactionId": tx,
            "meterValue": [{"timestamp": now_iso(-4 * HOUR), "sampledValue": [{"value": "14000"}]}],
        }
        assert (await st.call("MeterValues", mv))[0] == 3
        stop = {
            "transactionId": tx,
            "meterStop": 22_500,
            "timestamp": now_iso(-3 * HOUR),
            "reason": "Local",
        }
        assert (await st.call("StopTransaction", stop))[0] == 3
    [body] = (await api.get("/api/v1/transactions", params={"station_id": "OFF16"})).json()
    assert body["status"] == "Ended" and body["energy_wh"] == 12_500
    assert parse(body["started_at"]) == parse(started)
    assert parse(body["stopped_at"]) == parse(stop["timestamp"])
    received = parse(body["created_at"])
    assert received - parse(body["started_at"]) > dt.timedelta(hours=4.9)
    assert body["flags"] == []


async def test_offline_queued_transaction_v201(volta, api):
    """2.0.1 offline=true events hours old: one transaction; each event keeps
    the station's timestamp, its offline flag and when Volta received it."""
    await register(volta, "OFF201")
    async with connect(volta, "OFF201", "ocpp2.0.1") as ws:
        st = await booted(ws, "ocpp2.0.1")
        for seq, (kind, hours, wh, context) in enumerate(
            [
                ("Started", 6, 1_000, "Transaction.Begin"),
                ("Updated", 5, 3_000, "Sample.Periodic"),
                ("Ended", 4, 7_000, "Transaction.End"),
            ]
        ):
            ts = now_iso(-hours * HOUR)
            ev = {
                "eventType": kind,
                "timestamp": ts,
                "triggerReason": "MeterValuePeriodic",
                "seqNo": seq,
                "offline": True,
                "transactionInfo": {"transactionId": "OFF-1"},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": [
                    {"timestamp": ts, "sampledValue": [{"value": wh, "context": context}]}
                ],
            }
            if kind == "Ended":
                ev["transactionInfo"]["stoppedReason"] = "EVDisconnected"
            assert (await st.call("TransactionEvent", ev))[0] == 3
    [body] = (await api.get("/api/v1/transactions", params={"station_id": "OFF201"})).json()
    assert body["status"] == "Ended" and body["energy_wh"] == 6_000
    assert parse(body["created_at"]) - parse(body["started_at"]) > dt.timedelta(hours=5.9)
    async with volta.db.read() as conn:
        events = (
            await conn.execute(
                sa.select(TransactionEvent).where(TransactionEvent.transaction_id == body["id"])
            )
        ).all()
    assert len(events) == 3
    assert all(e.offline and e.received_at - e.timestamp > dt.timedelta(hours=3.9) for e in events)


async def test_meter_stop_below_start_is_answered_and_flagged(volta, api):
    """A meter that went backwards is not refused (the charger would retry the
    stop forever) but the transaction is flagged."""
    await register(volta, "BACK")
    await add_token(volta, "CARD")
    async with connect(volta, "BACK", "ocpp1.6") as ws:
        st = await booted(ws, "ocpp1.6")
        tx = await start_v16(st, 50_000, now_iso(-60))
        stop = {"transactionId": tx, "meterStop": 49_000, "timestamp": now_iso(), "idTag": "CARD"}
        r = await st.call("StopTransaction", stop)
        assert r[0] == 3 and r[2]["idTagInfo"]["status"] == "Accepted"
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert body["status"] == "Ended" and body["meter_stop_wh"] == 49_000
    assert body["flags"] == ["meter_stop_below_start"]


@pytest.mark.parametrize(
    ("start_ts", "stop_ts", "flags"),
    [
        ("1970-01-01T00:00:05Z", None, ["start_time_implausible"]),
        (None, "2099-06-01T00:00:00Z", ["stop_time_implausible"]),
        ("2099-06-01T00:00:00Z", None, ["start_time_implausible", "stopped_before_started"]),
    ],
    ids=["start-1970", "stop-future", "start-future"],
)
async def test_implausible_timestamps_are_answered_and_flagged_v16(
    volta, api, start_ts, stop_ts, flags
):
    await register(volta, "CLK")
    await add_token(volta, "CARD")
    async with connect(volta, "CLK", "ocpp1.6") as ws:
        st = await booted(ws, "ocpp1.6")
        tx = await start_v16(st, 0, start_ts or now_iso(-60))
        stop = {"transactionId": tx, "meterStop": 1_000, "timestamp": stop_ts or now_iso()}
        assert (await st.call("StopTransaction", stop))[0] == 3
    body = (await api.get(f"/api/v1/transactions/{tx}")).json()
    assert body["status"] == "Ended" and body["energy_wh"] == 1_000
    assert body["flags"] == flags


async def test_implausible_timestamp_is_answered_and_flagged_v201(volta, api):
    await register(volta, "CLK2")
    async with connect(volta, "CLK2", "ocpp2.0.1") as ws:
        st = await booted(ws, "ocpp2.0.1")
        ev = {
            "eventType": "Started",
            "timestamp": "1970-01-01T00:00:00Z",
            "triggerReason": "CablePluggedIn",
            "seqNo": 0,
            "transactionInfo": {"transactionId": "T-1970"},
        }
        assert (await st.call("TransactionEvent", ev))[0] == 3
    [body] = (await api.get("/api/v1/transactions", params={"station_id": "CLK2"})).json()
    assert body["flags"] == ["start_time_implausible"]


# -- the database goes away during StopTransaction -------------------------------------


class TcpProxy:
    """Forwards a port to PostgreSQL; `cut()` drops every connection and
    refuses new ones until `restore()`: the database as the server sees it
    when the network or the database host fails."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for w in self._writers:
            w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


@contextlib.asynccontextmanager
async def volta_with_outage(
    database: DatabaseTarget,
) -> AsyncIterator[tuple[Volta, TcpProxy | SqliteLock]]:
    """A Volta whose database can be made unavailable: PostgreSQL behind a
    proxy that is cut; SQLite locked by another writer (SQLITE_BUSY once
    busy_timeout expires, as when another process holds the write lock)."""
    if database.kind == "postgresql":
        url = sa.engine.make_url(database.url)
        proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
        port = await proxy.start()
        proxied = url.set(port=port).render_as_string(hide_password=False)
        app = Volta(
            make_settings(DatabaseTarget(proxied, database.schema)), db_schema=database.schema
        )
        await app.start()
        try:
            yield app, proxy
        finally:
            await app.stop()
            await proxy.close()
        return
    app = Volta(make_settings(database), db_schema=None)
    await app.start()
    try:
        yield app, SqliteLock(database.url.removeprefix("sqlite:///"))
    finally:
        await app.stop()


class SqliteLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    async def take(self) -> None:
        """Take the write lock without blocking the event loop, which Volta's
        SQLite writes share with this test: waiting for the lock inside the
        loop would wait on a batch that only the loop can finish."""
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=0)
        for _ in range(500):
            try:
                self.conn.execute("BEGIN EXCLUSIVE")
                return
            except sqlite3.OperationalError:
                await asyncio.sleep(0.01)
        raise AssertionError("could not lock the SQLite database within 5 s")

    def restore(self) -> None:
        assert self.conn is not None
        self.conn.execute("ROLLBACK")
        self.conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_database_unavailable_during_stop_transaction(database):
    """No positive answer while the stop cannot be stored (InternalError, so the
    charger keeps it queued and retries); once the database is back the retry
    is answered and exactly one stop is recorded."""
    async with volta_with_outage(database) as (volta, outage):
        await register(volta, "DBF")
        await add_token(volta, "CARD")
        async with connect(volta, "DBF", "ocpp1.6") as ws:
            st = await booted(ws, "ocpp1.6")
            tx = await start_v16(st, 1_000, now_iso(-60))
            stop = {
                "transactionId": tx,
                "meterStop": 3_000,
                "timestamp": now_iso(),
                "reason": "Local",
            }
            if isinstance(outage, SqliteLock):
                await outage.take()
            else:
                outage.cut()
            try:
                r = await st.call("StopTransaction", stop, timeout=20)
            finally:
                outage.restore()
            assert r[0] == 4 and r[2] == "InternalError", r
            r = await st.call("StopTransaction", stop, timeout=20)
            assert r[0] == 3, r
            assert (await st.call("StopTransaction", stop))[0] == 3  # a repeat changes nothing
        async with volta.db.read() as conn:
            rows = (await conn.execute(sa.select(Transaction))).all()
        assert [(t.status, t.meter_stop_wh, t.energy_wh) for t in rows] == [("Ended", 3_000, 2_000)]
