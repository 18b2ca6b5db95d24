"""Where each connected station lives, and how a command reaches it: the
routing types every adapter shares.

The blocks, the API and the dashboard only see `StationRouter`; the gateway's
`LocalRouter` keeps this process's connections, and a broker-backed router
(several nodes behind a load balancer) implements the same methods and
forwards `call()` to the node that holds the station.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from volta.ocpp.versions import Version


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of a CALL we sent.

    status: accepted  - CALLRESULT that the action's rule counts as a yes
                        (`volta.ocpp.rules.accepted_answer`)
            rejected  - CALLRESULT whose status says no (Rejected, Failed, ...)
            error     - CALLERROR
            timeout   - no answer within the call timeout
            offline   - the station is not connected
            invalid   - the payload does not match the schema; nothing was sent
    """

    status: str
    message_id: str | None = None
    response: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class StationLink(Protocol):
    """One live connection to a station, as the router sees it."""

    station_id: str
    version: Version

    async def call(self, action: str, payload: dict[str, Any]) -> CallOutcome: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Versioned(Protocol):
    @property
    def version(self) -> Version: ...


class VersionView(Mapping[str, Version]):
    """A live, read-only view of station id -> protocol over a router's own
    table (links or presence entries): a fleet of 20,000 is not copied for
    each question about it."""

    __slots__ = ("_table",)

    def __init__(self, table: Mapping[str, Versioned]) -> None:
        self._table = table

    def __getitem__(self, station_id: str) -> Version:
        return self._table[station_id].version

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class StationRouter(Protocol):
    def attach(self, link: StationLink) -> StationLink | None:
        """Make `link` the station's connection; return the one it replaces."""

    def detach(self, link: StationLink) -> bool:
        """Forget `link` if it is still the station's connection."""

    def version_of(self, station_id: str) -> Version | None:
        """The protocol of the station's live connection, None when offline."""

    def online(self) -> Mapping[str, Version]:
        """Every station connected to any node, with its protocol (a live
        view: no copy is made, so `len()` and `in` cost nothing)."""

    def holds(self, station_id: str) -> bool:
        """Whether the station's connection is in this process."""

    def local(self) -> Mapping[str, Version]:
        """The stations connected to this process (a live view)."""

    def link(self, station_id: str) -> StationLink | None:
        """The station's connection in this process, None when it has none here."""

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> CallOutcome: ...


Listener = Callable[[dict[str, Any]], Awaitable[None]]


class Node(Protocol):
    """This process as a node of a deployment: the only one (`SoloNode`), or
    one of several sharing PostgreSQL and NATS (`volta.cluster.ClusterNode`).

    Blocks and housekeeping ask it what is theirs to do; they never know how
    many nodes there are. Work per station runs on the node that holds the
    station (`StationRouter.holds`); work for the whole deployment (expiry,
    CDRs owed, the site allocator, retention) runs on the leader."""

    node_id: str
    clustered: bool

    def is_leader(self) -> bool:
        """Whether this node runs the deployment-wide work now."""

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        """Deliver `data` to every node's listeners of `topic`, this one's too."""

    async def to_leader(self, topic: str, data: dict[str, Any]) -> None:
        """Deliver `data` to the leader's listeners of `topic` (dropped while
        no node leads: the new leader recomputes from the database)."""

    def listen(self, topic: str, listener: Listener, *, leader_only: bool = False) -> None:
        """Call `listener(data)` for each message of `topic` (sent with
        `publish`, or with `to_leader` when `leader_only`)."""

    def on_station_moved(self, callback: Callable[[str], None]) -> None:
        """Call `callback(station_id)` when a station this node may hold
        state of connected to another node (drop what is kept in memory)."""

    def on_leadership(self, callback: Callable[[bool], Awaitable[None]]) -> None:
        """Call `callback(True)` when this node becomes the leader, and
        `callback(False)` when it stops being it."""


class SoloNode:
    """The only node: leader for ever, and every message stays in-process."""

    clustered = False

    def __init__(self, node_id: str = "solo") -> None:
        self.node_id = node_id
        self._listeners: dict[str, list[Listener]] = {}
        self._leader_listeners: dict[str, list[Listener]] = {}

    def is_leader(self) -> bool:
        return True

    async def publish(self, topic: str, data: dict[str, Any]) -> None:
        for listener in self._listeners.get(topic, ()):
            await listener(data)

    async def to_leader(self, topic: str, data: dict[str, Any]) -> None:
        for listener in self._leader_listeners.get(topic, ()):
            await listener(data)

    def listen(self, topic: str, listener: Listener, *, leader_only: bool = False) -> None:
        table = self._leader_listeners if leader_only else self._listeners
        table.setdefault(topic, []).append(listener)

    def on_station_moved(self, callback: Callable[[str], None]) -> None:
        """A station never moves to another node."""

    def on_leadership(self, callback: Callable[[bool], Awaitable[None]]) -> None:
        """Leadership never changes."""
