"""The stations connected to this process (`volta.stations.StationRouter`)."""

from __future__ import annotations

from typing import Any

from volta.ocpp.versions import Version
from volta.stations import CallOutcome, StationLink, VersionView


class LocalRouter:
    """All connections in this process."""

    def __init__(self) -> None:
        self._links: dict[str, StationLink] = {}
        self._view = VersionView(self._links)

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

    def online(self) -> VersionView:
        return self._view

    def holds(self, station_id: str) -> bool:
        return station_id in self._links

    def local(self) -> VersionView:
        return self._view

    def link(self, station_id: str) -> StationLink | None:
        return self._links.get(station_id)

    def links(self) -> list[StationLink]:
        return list(self._links.values())

    async def call(self, station_id: str, action: str, payload: dict[str, Any]) -> CallOutcome:
        link = self._links.get(station_id)
        if link is None:
            return CallOutcome(
                "offline", error_description=f"station {station_id} is not connected"
            )
        return await link.call(action, payload)
