"""Test stations that also answer the local list and reservation messages,
with answers a test can choose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection

from tests.helpers import Handler, LinkStation, Station16, Station201, connect


class _Chooses(LinkStation):
    """Records what the CSMS sent and answers the status a test chose in
    `answers` (action -> status; Accepted when not chosen)."""

    # The local list version's field: 1.6 listVersion, 2.0.1 versionNumber.
    list_version_field: str

    def __init__(self, station_id: str, ws: ClientConnection, response_timeout: float = 10) -> None:
        self.answers: dict[str, str] = {}
        self.list_version = 0
        super().__init__(station_id, ws, response_timeout)

    def answer_table(self) -> dict[str, Handler]:
        return {
            **super().answer_table(),
            "SendLocalList": self.send_local_list,
            "GetLocalListVersion": self.get_local_list_version,
            "ReserveNow": self.chosen("ReserveNow"),
            "CancelReservation": self.chosen("CancelReservation"),
        }

    def chosen(self, action: str) -> Handler:
        async def handler(request: dict[str, Any]) -> dict[str, Any]:
            return {"status": self.answers.get(action, "Accepted")}

        return handler

    async def send_local_list(self, request: dict[str, Any]) -> dict[str, Any]:
        status = self.answers.get("SendLocalList", "Accepted")
        if status == "Accepted":
            self.list_version = request[self.list_version_field]
        return {"status": status}

    async def get_local_list_version(self, request: dict[str, Any]) -> dict[str, Any]:
        return {self.list_version_field: self.list_version}

    def last(self, action: str) -> dict[str, Any]:
        return [kw for a, kw in self.received if a == action][-1]

    def count(self, action: str) -> int:
        return sum(1 for a, _ in self.received if a == action)


class IdStation16(_Chooses, Station16):
    list_version_field = "listVersion"

    async def boot(self) -> None:
        await self.call("BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"})


class IdStation201(_Chooses, Station201):
    list_version_field = "versionNumber"

    async def boot(self) -> None:
        await self.call(
            "BootNotification",
            {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
        )


@contextlib.asynccontextmanager
async def id_station(volta: Any, station_id: str, version: str = "1.6") -> AsyncIterator[Any]:
    """Connected and booted."""
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    cls = IdStation16 if version == "1.6" else IdStation201
    async with connect(volta, station_id, protocol) as ws:
        cp = cls(station_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())
        try:
            await cp.boot()
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
