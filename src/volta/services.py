"""The kernel every adapter builds on: the shared container of services, what
a connection knows of its station, the call context handed to handlers, and
the handler tables that blocks export and `app.py` combines.

Nothing here imports a block, the gateway, the API or the dashboard: they all
import this module (checked by the import-linter contracts in pyproject.toml).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from volta.ocpp.schemas import Tolerated, Validation
from volta.ocpp.versions import Version
from volta.stations import Node, SoloNode
from volta.store import locks

if TYPE_CHECKING:
    from volta.config import Settings
    from volta.ocpp.schemas import SchemaRegistry
    from volta.outgoing import OutgoingTable
    from volta.stations import StationRouter
    from volta.store.db import Database
    from volta.store.framelog import FrameLog


log = logging.getLogger(__name__)


@dataclass
class StationState:
    """What a connection knows of its station between messages."""

    station_id: str
    registration_status: str = "Accepted"
    validation: Validation = Validation.STRICT
    # The deviations its charger profile tolerates (shared with its session).
    tolerated: Tolerated = field(default_factory=Tolerated)


@dataclass(frozen=True, slots=True)
class CallContext:
    services: Services
    station: StationState
    version: Version

    @property
    def station_id(self) -> str:
        return self.station.station_id


Handler = Callable[[CallContext, dict[str, Any]], Awaitable[dict[str, Any]]]
# Runs after the answer to a CALL was sent: work that must not reach the
# station before that answer (e.g. a local list after BootNotification).
FollowUp = Callable[[CallContext, dict[str, Any], dict[str, Any]], Coroutine[Any, Any, None]]
# Adds to a handler's answer before it is sent (2.1's transactionLimit in a
# TransactionEventResponse, a tariff in an AuthorizeResponse): registered by
# another block than the handler's, run in registration order.
Amender = Callable[[CallContext, dict[str, Any], dict[str, Any]], Awaitable[None]]
# Whether a follow-up is wanted for this station at all, answered without
# I/O (a dict lookup): when it is not, no task is started for it (the hot
# path's MeterValues of a station that smart charging does not manage).
Guard = Callable[[CallContext], bool]


class HandlerTable:
    """Handlers for the CALLs stations send, by (version, action), and the
    follow-ups that run once such a CALL was answered.

    A block's `v16.py` / `v201.py` fills its own table with the decorators;
    `app.py` combines the blocks' tables into the one the gateway uses, so
    nothing registers itself by being imported.
    """

    def __init__(self) -> None:
        # The handlers as registered; `handlers` has them with their amenders.
        self.own: dict[tuple[Version, str], Handler] = {}
        self.follow_ups: dict[tuple[Version, str], list[tuple[FollowUp, Guard | None]]] = {}
        self.amenders: dict[tuple[Version, str], list[Amender]] = {}
        # The handlers with their amenders around them: what handler() gives.
        self.handlers: dict[tuple[Version, str], Handler] = {}

    def on(self, version: Version, action: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self._add_handler((version, action), fn)
            return fn

        return register

    def after(
        self, version: Version, action: str, *, when: Guard | None = None
    ) -> Callable[[FollowUp], FollowUp]:
        """Register `fn(ctx, request, response)` to run once Volta has answered
        `action` with a CALLRESULT (only where `when(ctx)` is true, if given)."""

        def register(fn: FollowUp) -> FollowUp:
            self.follow_ups.setdefault((version, action), []).append((fn, when))
            return fn

        return register

    def amend(self, version: Version, action: str) -> Callable[[Amender], Amender]:
        """Register `fn(ctx, request, response)` to add to the answer of
        `action` before it is sent (it mutates `response`)."""

        def register(fn: Amender) -> Amender:
            self.amenders.setdefault((version, action), []).append(fn)
            self._resolve()
            return fn

        return register

    def _add_handler(self, key: tuple[Version, str], fn: Handler) -> None:
        if key in self.own:
            raise RuntimeError(f"two handlers for {key[1]} ({key[0].label})")
        self.own[key] = fn
        self.handlers[key] = fn

    def _resolve(self) -> None:
        self.handlers = {
            key: _amended(fn, self.amenders[key]) if key in self.amenders else fn
            for key, fn in self.own.items()
        }

    @classmethod
    def combine(cls, *tables: HandlerTable) -> HandlerTable:
        combined = cls()
        for table in tables:
            for key, fn in table.own.items():
                combined._add_handler(key, fn)
            for key, fns in table.follow_ups.items():
                combined.follow_ups.setdefault(key, []).extend(fns)
            for key, amenders in table.amenders.items():
                combined.amenders.setdefault(key, []).extend(amenders)
        combined._resolve()
        return combined

    def serving(self, base: Version, later: Version, actions: frozenset[str]) -> HandlerTable:
        """This table with `later` stations (2.1) served `base`'s (2.0.1)
        handlers and follow-ups for every action of `actions` that `later`
        has no handler of its own for: a later version is the table it
        resembles plus its own entries, over the same services. `later`'s
        own follow-ups run after `base`'s; a block whose 2.0.1 follow-up
        must not run for 2.1 guards it with `when`."""
        table = HandlerTable()
        table.own.update(self.own)
        for key, fns in self.follow_ups.items():
            table.follow_ups[key] = list(fns)
        for key, amenders in self.amenders.items():
            table.amenders[key] = list(amenders)
        for action in sorted(actions):
            source = self.own.get((base, action))
            if source is not None and (later, action) not in self.own:
                table.own[(later, action)] = source
            inherited = self.follow_ups.get((base, action), [])
            if inherited:
                own = self.follow_ups.get((later, action), [])
                table.follow_ups[(later, action)] = [*inherited, *own]
            inherited_amenders = self.amenders.get((base, action), [])
            if inherited_amenders:
                own_amenders = self.amenders.get((later, action), [])
                table.amenders[(later, action)] = [*inherited_amenders, *own_amenders]
        table._resolve()
        return table

    def handler(self, version: Version, action: str) -> Handler | None:
        return self.handlers.get((version, action))

    def follow_ups_of(self, ctx: CallContext, action: str) -> list[FollowUp]:
        """The follow-ups to run for this CALL of this station."""
        return [
            fn
            for fn, when in self.follow_ups.get((ctx.version, action), ())
            if when is None or when(ctx)
        ]


def _amended(handler: Handler, amenders: list[Amender]) -> Handler:
    async def answer(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        response = await handler(ctx, request)
        for amend in amenders:
            await amend(ctx, request, response)
        return response

    return answer


@dataclass
class Services:
    """What handlers and the API may use. Handlers never see the socket."""

    settings: Settings
    db: Database
    frames: FrameLog
    router: StationRouter
    schemas: SchemaRegistry
    # The combined handler table (app.py builds it from the blocks' tables).
    handlers: HandlerTable = field(default_factory=HandlerTable)
    # How each version spells the commands Volta sends (app.py combines the
    # blocks' outgoing tables); pick one with the station's version from `router`.
    outgoing: dict[Version, OutgoingTable] = field(default_factory=dict)
    # This process as a node of the deployment (volta.stations.Node): what is
    # this node's to do (leader-only work, stations held here).
    node: Node = field(default_factory=SoloNode)
    # Work started by a handler or the API that outlives the request
    # (a local list pushed after a token changed, ...).
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # Load the OCPP port's changed TLS files now (the gateway's; app.py sets
    # it): True when something changed. This node only.
    reload_tls: Callable[[], bool] | None = None
    # The base URL stations reach the file service at when `files_public_url`
    # is not set: this host and the API port it bound (app.py sets it).
    files_url: str = ""
    # The port the file service's FTP endpoint listens on (app.py sets it when
    # files_ftp_port is set); 0: no FTP endpoint.
    ftp_port: int = 0
    # One lock per station for work that reads, sends and records in turn.
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # The subset of `tasks` spawned with owed=True.
    _owed: set[asyncio.Task[Any]] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def station_lock(self, station_id: str) -> AsyncIterator[None]:
        """Hold the station's lock for work that reads, sends and records in
        turn (a local list sync): this process's lock, and with several
        nodes also a PostgreSQL advisory lock (volta.store.locks), since the
        API of any node may start such work for a station held by another."""
        lock = self._locks.get(station_id)
        if lock is None:
            lock = self._locks[station_id] = asyncio.Lock()
        async with lock:
            if not self.node.clustered:
                yield
                return
            async with locks.hold(self.db, "station", station_id):
                yield

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str, *, owed: bool = False
    ) -> asyncio.Task[Any]:
        """Run `coro` in the background; its failure is logged, not lost.

        `owed`: work a station or a caller was already told is done (the
        follow-ups of an answered CALL): a graceful stop waits for it."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        if owed:
            self._owed.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        self._owed.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, grace: float = 0.0) -> None:
        """At shutdown: let owed work finish (at most `grace` seconds), then
        cancel the rest of the background work."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._owed and loop.time() < deadline:
            await asyncio.wait(list(self._owed), timeout=deadline - loop.time())
        if self._owed:
            log.warning("stopping with %d follow-ups unfinished", len(self._owed))
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
