"""Stations on several nodes (`volta.stations.StationRouter` over NATS).

Each node keeps the connections it holds (a `LocalRouter`) and a map of
where every other station is, its *presence*, kept from what the nodes
announce on `volta.presence`:

  attach    {"op": "attach", "node", "station", "conn", "version", "at"}
  detach    {"op": "detach", "node", "station", "conn"}
  snapshot  {"op": "snapshot", "node", "reset", "stations": [[station, conn, version, at], ...]}
  sync      {"op": "sync", "node"}      a node (re)joined: every node sends its snapshot

Messages of one node arrive in the order it sent them (one NATS connection),
so applying each in turn keeps the map right; a snapshot replaces what was
known of its node. A node that is not heard for `node_lease` seconds, or says
goodbye, loses its stations from the map at once.

**Takeover.** A station that connects to node B while node A still holds an
older connection: B announces the attach, A closes its connection (1000,
"replaced by a new connection on another node") after taking it out of its
table, so that its close records nothing; only the connection named in
`stations.connection_id` may record the station offline.

**Commands.** `call()` to a station held here is local; otherwise it is a
NATS request to `volta.node.<node>.call`, answered by that node with the
station's `CallOutcome`. While waiting, the holder's liveness is watched:
a node that dies or leaves answers `offline` within `node_lease`, not after
the call timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from volta.cluster.node import PREFIX, ClusterNode, subject_calls
from volta.gateway.router import LocalRouter
from volta.ocpp.versions import Version
from volta.stations import CallOutcome, StationLink, VersionView

log = logging.getLogger(__name__)

PRESENCE = f"{PREFIX}.presence"
SNAPSHOT_CHUNK = 2000


@dataclass(slots=True)
class Presence:
    node: str
    conn: str
    version: Version
    at: float


def newer(a_at: float, a_node: str, b_at: float, b_node: str) -> bool:
    """Whether connection a came after connection b (ties: the larger node id)."""
    return (a_at, a_node) > (b_at, b_node)


class ClusterRouter:
    """Every station of the deployment; the ones of this process in `local_router`."""

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.local_router = LocalRouter()
        self.presence: dict[str, Presence] = {}
        self._view = VersionView(self.presence)
        self._attached_at: dict[str, float] = {}
        self._serial = itertools.count(1)
        # Set by the gateway: close a connection another node took over.
        self.on_taken_over: Callable[[StationLink], None] | None = None
        node.station_count = lambda: len(self.local_router.online())  # a view: O(1)
        node.on_node_dead(self._node_dead)
        node.on_joined(self._joined)

    async def start(self) -> None:
        await self.node.subscribe(PRESENCE, self._on_presence)
        await self.node.subscribe(subject_calls(self.node.node_id), self._on_call)

    def new_connection_id(self) -> str:
        return f"{self.node.node_id}/{next(self._serial)}"

    # -- StationRouter -----------------------------------------------------------------

    def attach(self, link: StationLink) -> StationLink | None:
        replaced = self.local_router.attach(link)
        at = time.time()
        conn = getattr(link, "connection_id", "") or self.new_connection_id()
        self._attached_at[link.station_id] = at
        self.presence[link.station_id] = Presence(self.node.node_id, conn, link.version, at)
        self.node.spawn(
            self.node.send(
                PRESENCE,
                {
                    "op": "attach",
                    "node": self.node.node_id,
                    "station": link.station_id,
                    "conn": conn,
                    "version": link.version.value,
                    "at": at,
                },
            ),
            name="announce attach",
        )
        return replaced

    def detach(self, link: StationLink) -> bool:
        if not self.local_router.detach(link):
            return False
        self._attached_at.pop(link.station_id, None)
        mine = self.presence.get(link.station_id)
        conn = getattr(link, "connection_id", "")
        if mine is not None and mine.node == self.node.node_id:
            del self.presence[link.station_id]
            self.node.spawn(
                self.node.send(
                    PRESENCE,
                    {
                        "op": "detach",
                        "node": self.node.node_id,
                        "station": link.station_id,
                        "conn": conn or mine.conn,
                    },
                ),
                name="announce detach",
            )
        return True

    def version_of(self, station_id: str) -> Version | None:
        found = self.presence.get(station_id)
        return found.version if found is not None else None

    def online(self) -> VersionView:
        return self._view

    def holds(self, station_id: str) -> bool:
        return self.local_router.holds(station_id)

    def local(self) -> VersionView:
        return self.local_router.online()

    def link(self, station_id: str) -> StationLink | None:
        return self.local_router.link(station_id)

    def node_of(self, station_id: str) -> str | None:
        found = self.presence.get(station_id)
        return found.node if found is not None else None

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> CallOutcome:
        for _ in range(2):  # once more if the station moved meanwhile
            if self.local_router.holds(station_id):
                return await self.local_router.call(station_id, action, payload)
            found = self.presence.get(station_id)
            if found is None or not self.node.alive(found.node):
                return CallOutcome(
                    "offline", error_description=f"station {station_id} is not connected"
                )
            outcome = await self._remote_call(found.node, station_id, action, payload)
            moved = self.presence.get(station_id)
            if outcome.status != "offline" or moved is None or moved.node == found.node:
                return outcome
        return outcome

    async def _remote_call(
        self, node_id: str, station_id: str, action: str, payload: dict[str, Any]
    ) -> CallOutcome:
        assert self.node.nc is not None
        body = orjson.dumps({"station": station_id, "action": action, "payload": payload})
        timeout = self.node.settings.call_timeout + 5.0
        request = asyncio.ensure_future(
            self.node.nc.request(subject_calls(node_id), body, timeout=timeout)
        )
        try:
            while True:
                done, _ = await asyncio.wait({request}, timeout=self.node.settings.node_heartbeat)
                if done:
                    break
                if not self.node.alive(node_id):
                    request.cancel()
                    return CallOutcome(
                        "offline",
                        error_description=f"node {node_id}, which held the station, stopped",
                    )
            reply = request.result()
        except NoRespondersError:
            return CallOutcome(
                "offline", error_description=f"node {node_id}, which held the station, is gone"
            )
        except NatsTimeout:
            return CallOutcome(
                "timeout", error_description=f"no answer from node {node_id} within {timeout:g} s"
            )
        finally:
            if not request.done():
                request.cancel()
        return CallOutcome(**orjson.loads(reply.data))

    async def _on_call(self, msg: Msg) -> None:
        # Each in a task of its own: one slow station must not hold up others.
        self.node.spawn(self._answer_call(msg), name="remote call")

    async def _answer_call(self, msg: Msg) -> None:
        request = orjson.loads(msg.data)
        outcome = await self.local_router.call(
            request["station"], request["action"], request["payload"]
        )
        await msg.respond(orjson.dumps(asdict(outcome)))

    # -- presence ------------------------------------------------------------------------

    async def _on_presence(self, msg: Msg) -> None:
        data = orjson.loads(msg.data)
        node_id = data.get("node")
        if node_id == self.node.node_id:
            return
        self.node.heard.setdefault(node_id, time.monotonic())
        op = data.get("op")
        if op == "attach":
            self._remote_attach(
                node_id, data["station"], data["conn"], Version(data["version"]), data["at"]
            )
        elif op == "detach":
            found = self.presence.get(data["station"])
            if found is not None and found.conn == data["conn"]:
                del self.presence[data["station"]]
        elif op == "snapshot":
            if data.get("reset"):
                for sid in [s for s, p in self.presence.items() if p.node == node_id]:
                    del self.presence[sid]
            for sid, conn, version, at in data["stations"]:
                self._remote_attach(node_id, sid, conn, Version(version), at)
        elif op == "sync":
            self.node.spawn(self._send_snapshot(), name="presence snapshot")

    def _remote_attach(
        self, node_id: str, station_id: str, conn: str, version: Version, at: float
    ) -> None:
        found = self.presence.get(station_id)
        if found is not None and not newer(at, node_id, found.at, found.node):
            return  # an older connection's news
        self.presence[station_id] = Presence(node_id, conn, version, at)
        link = self.local_router.link(station_id)
        if link is not None:
            # Taken over: out of the table first, so that its close records nothing.
            self.local_router.detach(link)
            self._attached_at.pop(station_id, None)
            log.info("station %s connected to node %s; closing it here", station_id, node_id)
            if self.on_taken_over is not None:
                self.on_taken_over(link)
        self.node.station_moved(station_id)

    async def _send_snapshot(self) -> None:
        mine = [
            [sid, p.conn, p.version.value, p.at]
            for sid, p in list(self.presence.items())
            if p.node == self.node.node_id
        ]
        first = True
        for i in range(0, max(len(mine), 1), SNAPSHOT_CHUNK):
            await self.node.send(
                PRESENCE,
                {
                    "op": "snapshot",
                    "node": self.node.node_id,
                    "reset": first,
                    "stations": mine[i : i + SNAPSHOT_CHUNK],
                },
            )
            first = False

    async def _joined(self) -> None:
        """(Re)joined: tell the others what this node holds, ask for theirs."""
        await self._send_snapshot()
        await self.node.send(PRESENCE, {"op": "sync", "node": self.node.node_id})

    def _node_dead(self, node_id: str) -> None:
        gone = [sid for sid, p in self.presence.items() if p.node == node_id]
        for sid in gone:
            del self.presence[sid]
        if gone:
            log.warning("node %s is gone; %d of its stations are offline", node_id, len(gone))
