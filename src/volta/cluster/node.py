"""This process as one node of several (`volta.stations.Node` over NATS and
PostgreSQL).

- **Liveness.** Every `node_heartbeat` seconds a node publishes a heartbeat
  on `volta.heartbeat` and renews its lease in the `nodes` table
  (`lease_until = now + node_lease`). Other nodes judge it dead when they have
  not heard it for `node_lease` seconds, or at once when it says goodbye
  (`volta.bye`); the database lease is what the leader acts on.
- **The leader** holds a PostgreSQL advisory lock (one per schema) on a
  connection of its own: when the process dies, so does the connection, and
  the lock passes to the next node that asks (every heartbeat). Leader-only
  subjects (`volta.leader.<topic>`) are subscribed only while leading.
- **Messages.** `publish(topic)` goes to `volta.all.<topic>` (every node,
  this one too); `to_leader(topic)` to `volta.leader.<topic>`.

Subjects and leases are described in docs/scale-out.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import re
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import nats
import orjson
import sqlalchemy as sa
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from volta.blocks.provisioning import service as provisioning
from volta.config import Settings
from volta.stations import Listener
from volta.store.db import Database
from volta.store.models import Node as NodeRow
from volta.store.models import utcnow

log = logging.getLogger(__name__)

PREFIX = "volta"
HEARTBEAT = f"{PREFIX}.heartbeat"
BYE = f"{PREFIX}.bye"


def subject_all(topic: str) -> str:
    return f"{PREFIX}.all.{topic}"


def subject_leader(topic: str) -> str:
    return f"{PREFIX}.leader.{topic}"


def subject_calls(node_id: str) -> str:
    return f"{PREFIX}.node.{node_id}.call"


_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def make_node_id(configured: str = "") -> str:
    """The configured id, checked, or <hostname>-<pid>-<random> (new at every start)."""
    if configured:
        if not _NODE_ID.match(configured):
            raise ValueError(
                f"node_id {configured!r}: at most 40 letters, digits, '-' or '_' "
                "(it is part of NATS subjects)"
            )
        return configured
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:20] or "node"
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


def pg_dsn(db: Database) -> str:
    """The database's URL as asyncpg takes it."""
    return db.url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ClusterNode:
    """One node of a deployment on NATS and PostgreSQL."""

    clustered = True

    def __init__(self, settings: Settings, db: Database) -> None:
        if db.is_sqlite:
            raise ValueError(
                "several nodes (nats_url) need PostgreSQL: a SQLite database belongs to "
                "one process (unset nats_url, or set database_url to PostgreSQL)"
            )
        self.settings = settings
        self.db = db
        self.node_id = make_node_id(settings.node_id)
        self.nc: NatsClient | None = None
        self.draining = False
        self._leader = False
        self._sweep_all = False
        self._lock_conn: asyncpg.Connection[Any] | None = None
        self._listeners: dict[str, list[Listener]] = {}
        self._leader_listeners: dict[str, list[Listener]] = {}
        self._leader_subs: list[Subscription] = []
        self._moved: list[Callable[[str], None]] = []
        self._leadership: list[Callable[[bool], Awaitable[None]]] = []
        # Other nodes: when each was last heard (monotonic).
        self.heard: dict[str, float] = {}
        self._dead_callbacks: list[Callable[[str], None]] = []
        self._joined_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._pulse_task: asyncio.Task[None] | None = None
        # Nodes this one took for dead: heard again, they are asked for
        # their stations (they may have held them all along).
        self._gone: set[str] = set()
        self.station_count: Callable[[], int] = lambda: 0

    # -- the Node protocol --------------------------------------------------------

    def is_leader(self) -> bool:
        return self._leader

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        await self.send(subject_all(topic), data)

    async def to_leader(self, topic: str, data: dict[str, Any]) -> None:
        if self._leader:
            # The leader's own inputs stay in-process (no round trip, no copy).
            for listener in self._leader_listeners.get(topic, ()):
                await listener(data)
            return
        await self.send(subject_leader(topic), data)

    def listen(self, topic: str, listener: Listener, *, leader_only: bool = False) -> None:
        table = self._leader_listeners if leader_only else self._listeners
        table.setdefault(topic, []).append(listener)

    def on_station_moved(self, callback: Callable[[str], None]) -> None:
        self._moved.append(callback)

    def on_leadership(self, callback: Callable[[bool], Awaitable[None]]) -> None:
        self._leadership.append(callback)

    # -- for the router --------------------------------------------------------------

    def station_moved(self, station_id: str) -> None:
        for callback in self._moved:
            try:
                callback(station_id)
            except Exception:
                log.exception("forgetting %s after it moved failed", station_id)

    def on_node_dead(self, callback: Callable[[str], None]) -> None:
        self._dead_callbacks.append(callback)

    def on_joined(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Called once connected to NATS and again after every reconnection
        (what was missed meanwhile must be asked for again)."""
        self._joined_callbacks.append(callback)

    def alive(self, node_id: str) -> bool:
        """Whether `node_id` was heard within the lease (this node always is)."""
        if node_id == self.node_id:
            return True
        heard = self.heard.get(node_id)
        return heard is not None and time.monotonic() - heard < self.settings.node_lease

    async def send(self, subject: str, data: dict[str, Any]) -> None:
        """Publish `data` on a NATS subject (dropped while NATS is away: a
        reconnection resyncs what matters)."""
        if self.nc is None or self.nc.is_closed:
            return
        try:
            await self.nc.publish(subject, orjson.dumps(data))
        except Exception as exc:  # NATS down: the reconnection resyncs
            log.warning("could not publish on %s: %s", subject, type(exc).__name__)

    async def subscribe(
        self, subject: str, handler: Callable[[Msg], Awaitable[None]]
    ) -> Subscription:
        assert self.nc is not None
        return await self.nc.subscribe(subject, cb=handler)

    def spawn(self, coro: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster task %s failed", task.get_name(), exc_info=task.exception())

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self.nc = await nats.connect(
            self.settings.nats_url,
            name=f"volta {self.node_id}",
            connect_timeout=5,
            reconnect_time_wait=1,
            max_reconnect_attempts=-1,
            # Notices of our own heartbeats come back too; they are cheap.
            reconnected_cb=self._reconnected,
            disconnected_cb=self._disconnected,
            error_cb=self._error,
        )
        await self.nc.subscribe(HEARTBEAT, cb=self._heard)
        await self.nc.subscribe(BYE, cb=self._bye)
        await self.nc.subscribe(f"{PREFIX}.all.>", cb=self._on_all)
        await self._register()
        await self._beat()
        await self._try_lead()
        self._loop_task = asyncio.create_task(self._loop(), name=f"node {self.node_id}")
        self._pulse_task = asyncio.create_task(self._pulse(), name=f"pulse {self.node_id}")
        log.info("node %s joined (NATS %s)", self.node_id, self.settings.nats_url)

    async def joined(self) -> None:
        for callback in self._joined_callbacks:
            await callback()

    async def stop(self) -> None:
        """Leave: say goodbye (the others drop this node's stations at once),
        give up the lead and the lease."""
        for task in (self._loop_task, self._pulse_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.send(BYE, {"node": self.node_id})
        await self._step_down()
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await conn.execute(sa.delete(NodeRow).where(NodeRow.id == self.node_id))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=2)
            with contextlib.suppress(Exception):
                await self.nc.close()

    async def set_draining(self) -> None:
        self.draining = True
        with contextlib.suppress(Exception):
            async with self.db.write() as conn:
                await conn.execute(
                    sa.update(NodeRow).where(NodeRow.id == self.node_id).values(state="draining")
                )
        # A draining node leads no more: the others take the deployment's work.
        await self._step_down()

    async def _register(self) -> None:
        now = utcnow()
        values = {
            "host": socket.gethostname()[:255],
            "pid": os.getpid(),
            "state": "running",
            "started_at": now,
            "renewed_at": now,
            "lease_until": now + dt.timedelta(seconds=self.settings.node_lease),
            "stations": 0,
            "leader": False,
        }
        async with self.db.write() as conn:
            await conn.execute(sa.delete(NodeRow).where(NodeRow.id == self.node_id))
            await conn.execute(sa.insert(NodeRow).values(id=self.node_id, **values))

    async def _pulse(self) -> None:
        """Heartbeats on NATS and the judgement of the others, apart from the
        database: a database that stalls must not make this node look dead
        (nor the others to it)."""
        interval = self.settings.node_heartbeat
        while True:
            await asyncio.sleep(interval)
            try:
                await self.send(HEARTBEAT, {"node": self.node_id, "stations": self.station_count()})
                self._judge()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: heartbeat failed", self.node_id)

    async def _loop(self) -> None:
        """The lease in the database, the leader's lock and the leader's work."""
        interval = self.settings.node_heartbeat
        while True:
            await asyncio.sleep(interval)
            try:
                await self._renew()
                await self._try_lead()
                if self._leader:
                    await self._expire_nodes()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node %s: lease renewal failed", self.node_id)

    async def _beat(self) -> None:
        await self.send(HEARTBEAT, {"node": self.node_id, "stations": self.station_count()})
        await self._renew()

    async def _renew(self) -> None:
        now = utcnow()
        async with self.db.write() as conn:
            renewed = await conn.execute(
                sa.update(NodeRow)
                .where(NodeRow.id == self.node_id)
                .values(
                    renewed_at=now,
                    lease_until=now + dt.timedelta(seconds=self.settings.node_lease),
                    stations=self.station_count(),
                    leader=self._leader,
                    state="draining" if self.draining else "running",
                )
            )
        if not renewed.rowcount:
            # The leader removed this node (its lease passed while the
            # database stalled and it was not heard either): back in.
            log.warning("node %s: its row was gone (lease passed); registering again", self.node_id)
            await self._register()

    def _judge(self) -> None:
        """Nodes not heard within the lease are dead to this node."""
        for node_id in [n for n in self.heard if not self.alive(n)]:
            del self.heard[node_id]
            self._gone.add(node_id)
            log.warning("node %s: not heard for %.1f s; dead", node_id, self.settings.node_lease)
            self._node_gone(node_id)

    def _node_gone(self, node_id: str) -> None:
        for callback in self._dead_callbacks:
            try:
                callback(node_id)
            except Exception:
                log.exception("forgetting node %s failed", node_id)

    async def _heard(self, msg: Msg) -> None:
        node_id = orjson.loads(msg.data).get("node")
        if isinstance(node_id, str) and node_id != self.node_id:
            if node_id not in self.heard:
                log.info("node %s: heard node %s", self.node_id, node_id)
                if node_id in self._gone:
                    # Taken for dead, alive after all: learn its stations again.
                    self._gone.discard(node_id)
                    self.spawn(self.joined(), name="resync")
            self.heard[node_id] = time.monotonic()

    async def _bye(self, msg: Msg) -> None:
        node_id = orjson.loads(msg.data).get("node")
        if isinstance(node_id, str) and node_id != self.node_id:
            self.heard.pop(node_id, None)
            log.info("node %s left", node_id)
            self._node_gone(node_id)

    async def _on_all(self, msg: Msg) -> None:
        topic = msg.subject[len(PREFIX) + 5 :]
        listeners = self._listeners.get(topic)
        if not listeners:
            return
        data = orjson.loads(msg.data)
        for listener in listeners:
            # In a task: a slow listener must not hold up the subscription.
            self.spawn(listener(data), name=f"listener {topic}")

    async def _on_leader(self, msg: Msg) -> None:
        if not self._leader:
            return
        topic = msg.subject[len(PREFIX) + 8 :]
        data = orjson.loads(msg.data)
        for listener in self._leader_listeners.get(topic, ()):
            self.spawn(listener(data), name=f"leader listener {topic}")

    async def _expire_nodes(self) -> None:
        """The leader's part: nodes whose lease passed are removed, and their
        stations recorded offline; after it became leader, also stations held
        by nodes no longer in the table (the whole deployment was stopped)."""
        now = utcnow()
        async with self.db.read() as conn:
            rows = (await conn.execute(sa.select(NodeRow.id, NodeRow.lease_until))).all()
        # A lease that passed while the node is still heard on NATS is a
        # database stall of that node, not a death: its stations stay.
        dead = {
            r.id
            for r in rows
            if r.lease_until < now and r.id != self.node_id and not self.alive(r.id)
        }
        released: list[str] = []
        if self._sweep_all:
            live = {r.id for r in rows if r.id not in dead} | {self.node_id} | set(self.heard)
            released += await provisioning.release_connections(self.db, live=live)
            self._sweep_all = False
        elif dead:
            released += await provisioning.release_connections(self.db, dead=dead)
        if dead:
            async with self.db.write() as conn:
                await conn.execute(sa.delete(NodeRow).where(NodeRow.id.in_(dead)))
            log.warning("nodes %s: lease passed; removed", ", ".join(sorted(dead)))
        if released:
            log.warning("%d stations of nodes gone recorded offline", len(released))

    # -- leadership ------------------------------------------------------------------

    async def _try_lead(self) -> None:
        if self._leader:
            if self._lock_conn is None or self._lock_conn.is_closed():
                log.warning("node %s: lost the leader lock's connection", self.node_id)
                await self._step_down()
            return
        if self.draining:
            return
        conn = self._lock_conn
        if conn is None or conn.is_closed():
            server_settings = {"search_path": self.db.schema} if self.db.schema else {}
            conn = self._lock_conn = await asyncpg.connect(
                pg_dsn(self.db), server_settings=server_settings, timeout=5
            )
        got = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext('volta-leader:' || current_schema()))"
        )
        if got:
            await self._become_leader()

    async def _become_leader(self) -> None:
        self._leader = True
        self._sweep_all = True
        log.info("node %s leads", self.node_id)
        if self.nc is not None:
            sub = await self.nc.subscribe(f"{PREFIX}.leader.>", cb=self._on_leader)
            self._leader_subs.append(sub)
        for callback in self._leadership:
            self.spawn(callback(True), name="became leader")

    async def _step_down(self) -> None:
        was = self._leader
        self._leader = False
        for sub in self._leader_subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._leader_subs.clear()
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close(timeout=2)
            self._lock_conn = None
        if was:
            log.info("node %s leads no more", self.node_id)
            for callback in self._leadership:
                self.spawn(callback(False), name="stepped down")

    # -- NATS connection events ------------------------------------------------------

    async def _reconnected(self) -> None:
        log.warning("node %s: reconnected to NATS; asking for what was missed", self.node_id)
        self.spawn(self.joined(), name="rejoin")

    async def _disconnected(self) -> None:
        log.warning("node %s: disconnected from NATS", self.node_id)

    async def _error(self, exc: Exception) -> None:
        log.warning("node %s: NATS error %s", self.node_id, type(exc).__name__)
