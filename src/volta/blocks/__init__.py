"""OCPP functional blocks, one package each, as the specification groups them.

Each block has a version-neutral `service.py` and thin `v16.py` / `v201.py`
handlers that translate one version's messages to service calls. Handlers are
registered with `@handles(version, action)`; `volta.blocks.registry` imports
them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from volta.ocpp.schemas import Validation
from volta.ocpp.versions import Version

if TYPE_CHECKING:
    from volta.config import Settings
    from volta.gateway.router import StationRouter
    from volta.ocpp.schemas import SchemaRegistry
    from volta.store.db import Database
    from volta.store.framelog import FrameLog


@dataclass
class Services:
    """What handlers and the API may use. Handlers never see the socket."""

    settings: Settings
    db: Database
    frames: FrameLog
    router: StationRouter
    schemas: SchemaRegistry


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

HANDLERS: dict[tuple[Version, str], Handler] = {}


def handles(version: Version, action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (version, action)
        if key in HANDLERS:
            raise RuntimeError(f"two handlers for {action} ({version.label})")
        HANDLERS[key] = fn
        return fn

    return register
