"""OCPP functional blocks, one package each, as the specification groups them.

Each block has a version-neutral `service.py` and thin `v16.py` / `v201.py`
handlers that translate one version's messages to service calls. Handlers are
registered with `@handles(version, action)`; `volta.blocks.registry` imports
them all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from volta.ocpp.schemas import Validation
from volta.ocpp.versions import Version

if TYPE_CHECKING:
    from volta.config import Settings
    from volta.gateway.router import StationRouter
    from volta.ocpp.schemas import SchemaRegistry
    from volta.store.db import Database
    from volta.store.framelog import FrameLog


log = logging.getLogger(__name__)


@dataclass
class Services:
    """What handlers and the API may use. Handlers never see the socket."""

    settings: Settings
    db: Database
    frames: FrameLog
    router: StationRouter
    schemas: SchemaRegistry
    # Work started by a handler or the API that outlives the request
    # (a local list pushed after a token changed, ...).
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    # One lock per station for work that reads, sends and records in turn.
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def station_lock(self, station_id: str) -> asyncio.Lock:
        lock = self._locks.get(station_id)
        if lock is None:
            lock = self._locks[station_id] = asyncio.Lock()
        return lock

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run `coro` in the background; its failure is logged, not lost."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self) -> None:
        """Cancel background work (at shutdown)."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class StationState:
    """What a connection knows of its station between messages."""

    station_id: str
    registration_status: str = "Accepted"
    validation: Validation = Validation.STRICT


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

HANDLERS: dict[tuple[Version, str], Handler] = {}
FOLLOW_UPS: dict[tuple[Version, str], list[FollowUp]] = {}


def handles(version: Version, action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (version, action)
        if key in HANDLERS:
            raise RuntimeError(f"two handlers for {action} ({version.label})")
        HANDLERS[key] = fn
        return fn

    return register


def follows(version: Version, action: str) -> Callable[[FollowUp], FollowUp]:
    """Register `fn(ctx, request, response)` to run once Volta has answered
    `action` with a CALLRESULT."""

    def register(fn: FollowUp) -> FollowUp:
        FOLLOW_UPS.setdefault((version, action), []).append(fn)
        return fn

    return register
