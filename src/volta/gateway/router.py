"""Where each connected station lives, and how a command reaches it.

The blocks and the API only see `StationRouter`; `LocalRouter` keeps the
connections of this process. A broker-backed router (several nodes behind a
load balancer) implements the same four methods and forwards `call()` to the
node that holds the station.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from volta.ocpp.versions import Version


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What became of a CALL we sent.

    status: accepted  - CALLRESULT, and its `status` field (if any) says yes
            rejected  - CALLRESULT whose `status` says no (Rejected, Failed, ...)
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


# Answers that mean "yes" although they are not spelled Accepted.
POSITIVE_STATUSES = frozenset(
    {"Accepted", "Unlocked", "Scheduled", "RebootRequired", "AcceptedCanceled"}
)


def outcome_of_result(message_id: str, payload: dict[str, Any]) -> CallOutcome:
    status = payload.get("status")
    ok = not isinstance(status, str) or status in POSITIVE_STATUSES
    return CallOutcome("accepted" if ok else "rejected", message_id, payload)


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


class LocalRouter:
    """All connections in this process."""

    def __init__(self) -> None:
        self._links: dict[str, StationLink] = {}

    def attach(self, link: StationLink) -> StationLink | None:
        old = self._links.get(link.station_id)
        self._links[link.station_id] = link
        return old if old is not link else None

    def detach(self, link: StationLink) -> bool:
        # A reconnected station has a new link already: the old connection's
        # close must not unregister it.
        if self._links.get(link.station_id) is link:
            del self._links[link.station_id]
            return True
        return False

    def version_of(self, station_id: str) -> Version | None:
        link = self._links.get(station_id)
        return link.version if link is not None else None

    def online(self) -> dict[str, Version]:
        return {sid: link.version for sid, link in self._links.items()}

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> CallOutcome:
        link = self._links.get(station_id)
        if link is None:
            return CallOutcome(
                "offline", error_description=f"station {station_id} is not connected"
            )
        return await link.call(action, payload)
