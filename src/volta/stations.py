"""Where each connected station lives, and how a command reaches it: the
routing types every adapter shares.

The blocks, the API and the dashboard only see `StationRouter`; the gateway's
`LocalRouter` keeps this process's connections, and a broker-backed router
(several nodes behind a load balancer) implements the same methods and
forwards `call()` to the node that holds the station.
"""

from __future__ import annotations

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


class StationRouter(Protocol):
    def attach(self, link: StationLink) -> StationLink | None:
        """Make `link` the station's connection; return the one it replaces."""

    def detach(self, link: StationLink) -> bool:
        """Forget `link` if it is still the station's connection."""

    def version_of(self, station_id: str) -> Version | None:
        """The protocol of the station's live connection, None when offline."""

    def online(self) -> dict[str, Version]: ...

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> CallOutcome: ...
