"""Library stations (PyPI `ocpp` ChargePoint) that also answer the local
list and reservation messages, with answers a test can choose."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from tests.helpers import Station16, Station201, connect


class _Chooses:
    """Records what the CSMS sent and answers the status a test chose."""

    received: list[tuple[str, dict[str, Any]]]

    def _setup(self) -> None:
        self.answers: dict[str, str] = {}
        self.list_version = 0

    def _got(self, action: str, kw: dict[str, Any]) -> str:
        self.received.append((action, kw))
        return self.answers.get(action, "Accepted")

    def last(self, action: str) -> dict[str, Any]:
        return [kw for a, kw in self.received if a == action][-1]

    def count(self, action: str) -> int:
        return sum(1 for a, _ in self.received if a == action)


class IdStation16(_Chooses, Station16):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._setup()

    @on("SendLocalList")
    async def on_send_local_list(self, **kw: Any) -> Any:
        status = self._got("SendLocalList", kw)
        if status == "Accepted":
            self.list_version = kw["list_version"]
        return result16.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kw: Any) -> Any:
        self._got("GetLocalListVersion", kw)
        return result16.GetLocalListVersion(list_version=self.list_version)

    @on("ReserveNow")
    async def on_reserve_now(self, **kw: Any) -> Any:
        return result16.ReserveNow(status=self._got("ReserveNow", kw))

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> Any:
        return result16.CancelReservation(status=self._got("CancelReservation", kw))

    async def boot(self) -> None:
        await self.call(call16.BootNotification(charge_point_vendor="v", charge_point_model="m"))


class IdStation201(_Chooses, Station201):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._setup()

    @on("SendLocalList")
    async def on_send_local_list(self, **kw: Any) -> Any:
        status = self._got("SendLocalList", kw)
        if status == "Accepted":
            self.list_version = kw["version_number"]
        return result201.SendLocalList(status=status)

    @on("GetLocalListVersion")
    async def on_get_local_list_version(self, **kw: Any) -> Any:
        self._got("GetLocalListVersion", kw)
        return result201.GetLocalListVersion(version_number=self.list_version)

    @on("ReserveNow")
    async def on_reserve_now(self, **kw: Any) -> Any:
        return result201.ReserveNow(status=self._got("ReserveNow", kw))

    @on("CancelReservation")
    async def on_cancel_reservation(self, **kw: Any) -> Any:
        return result201.CancelReservation(status=self._got("CancelReservation", kw))

    async def boot(self) -> None:
        await self.call(
            call201.BootNotification(
                charging_station={"model": "m", "vendor_name": "v"}, reason="PowerUp"
            )
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
