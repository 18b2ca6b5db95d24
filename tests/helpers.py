"""Test stations: the PyPI `ocpp` library's ChargePoint (as a charger vendor
would build one) and a raw client for frames the library would never send."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as ChargePoint16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as ChargePoint201
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection

from volta.app import Volta
from volta.blocks.authorization import service as auth_service
from volta.blocks.provisioning import service as provisioning


def now_iso(offset_s: float = 0) -> str:
    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def register(volta: Volta, station_id: str, **kw: Any) -> None:
    await provisioning.create_station(volta.db, station_id, **kw)


async def add_token(volta: Volta, token: str, **kw: Any) -> None:
    await auth_service.add_token(volta.db, token, **kw)


def ws_url(volta: Volta, station_id: str, prefix: str = "/ocpp") -> str:
    return f"ws://127.0.0.1:{volta.ocpp_port}{prefix}/{station_id}"


@contextlib.asynccontextmanager
async def connect(
    volta: Volta,
    station_id: str,
    protocol: str = "ocpp1.6",
    password: str | None = None,
    **kw: Any,
) -> AsyncIterator[ClientConnection]:
    headers = basic_auth(station_id, password) if password else None
    async with websockets.connect(
        ws_url(volta, station_id),
        subprotocols=[protocol] if protocol else None,  # type: ignore[list-item]
        additional_headers=headers,
        open_timeout=5,
        **kw,
    ) as ws:
        yield ws


class Station16(ChargePoint16):
    """A 1.6 charger that accepts what the CSMS asks of it."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kw: Any) -> Any:
        self.received.append(("RemoteStartTransaction", kw))
        return result16.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kw: Any) -> Any:
        self.received.append(("RemoteStopTransaction", kw))
        return result16.RemoteStopTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        self.received.append(("Reset", kw))
        return result16.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, **kw: Any) -> Any:
        self.received.append(("UnlockConnector", kw))
        return result16.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw: Any) -> Any:
        self.received.append(("ChangeAvailability", kw))
        return result16.ChangeAvailability(status="Scheduled")

    @on("GetConfiguration")
    async def on_get_configuration(self, **kw: Any) -> Any:
        self.received.append(("GetConfiguration", kw))
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        )

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kw: Any) -> Any:
        self.received.append(("ChangeConfiguration", kw))
        status = "Accepted" if kw.get("key") == "HeartbeatInterval" else "NotSupported"
        return result16.ChangeConfiguration(status=status)

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> Any:
        self.received.append(("TriggerMessage", kw))
        return result16.TriggerMessage(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        self.received.append(("ClearCache", kw))
        return result16.ClearCache(status="Rejected")

    @on("DataTransfer")
    async def on_data_transfer(self, **kw: Any) -> Any:
        self.received.append(("DataTransfer", kw))
        return result16.DataTransfer(status="Accepted", data="pong")


class Station201(ChargePoint201):
    """A 2.0.1 charging station that accepts what the CSMS asks of it."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("RequestStartTransaction")
    async def on_request_start(self, **kw: Any) -> Any:
        self.received.append(("RequestStartTransaction", kw))
        return result201.RequestStartTransaction(status="Accepted", transaction_id="tx-remote")

    @on("RequestStopTransaction")
    async def on_request_stop(self, **kw: Any) -> Any:
        self.received.append(("RequestStopTransaction", kw))
        return result201.RequestStopTransaction(status="Accepted")

    @on("Reset")
    async def on_reset(self, **kw: Any) -> Any:
        self.received.append(("Reset", kw))
        return result201.Reset(status="Accepted")

    @on("UnlockConnector")
    async def on_unlock(self, **kw: Any) -> Any:
        self.received.append(("UnlockConnector", kw))
        return result201.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, **kw: Any) -> Any:
        self.received.append(("ChangeAvailability", kw))
        return result201.ChangeAvailability(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, **kw: Any) -> Any:
        self.received.append(("GetVariables", kw))
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                    "attributeValue": "300",
                }
                for item in kw["get_variable_data"]
            ]
        )

    @on("SetVariables")
    async def on_set_variables(self, **kw: Any) -> Any:
        self.received.append(("SetVariables", kw))
        return result201.SetVariables(
            set_variable_result=[
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in kw["set_variable_data"]
            ]
        )

    @on("GetBaseReport")
    async def on_get_base_report(self, **kw: Any) -> Any:
        self.received.append(("GetBaseReport", kw))
        return result201.GetBaseReport(status="Accepted")

    @on("TriggerMessage")
    async def on_trigger(self, **kw: Any) -> Any:
        self.received.append(("TriggerMessage", kw))
        return result201.TriggerMessage(status="Accepted")

    @on("ClearCache")
    async def on_clear_cache(self, **kw: Any) -> Any:
        self.received.append(("ClearCache", kw))
        return result201.ClearCache(status="Accepted")

    @on("DataTransfer")
    async def on_data_transfer(self, **kw: Any) -> Any:
        self.received.append(("DataTransfer", kw))
        return result201.DataTransfer(status="Accepted", data="pong")


@contextlib.asynccontextmanager
async def station(
    volta: Volta, station_id: str, version: str = "1.6", password: str | None = None
) -> AsyncIterator[Any]:
    """A library ChargePoint connected to Volta, its read loop running."""
    protocol = "ocpp1.6" if version == "1.6" else "ocpp2.0.1"
    cls = Station16 if version == "1.6" else Station201
    async with connect(volta, station_id, protocol, password) as ws:
        cp = cls(station_id, ws, response_timeout=10)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class RawStation:
    """Sends frames as text and reads answers; for malformed input."""

    _ids = itertools.count(1)

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def recv(self, timeout: float = 5) -> Any:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 5) -> Any:
        mid = f"m{next(self._ids)}"
        await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
        while True:
            frame = await self.recv(timeout)
            if frame[1] == mid:
                return frame

    async def no_message(self, wait: float = 0.5) -> bool:
        try:
            await asyncio.wait_for(self.ws.recv(), wait)
        except TimeoutError:
            return True
        return False


async def wait_until(predicate: Any, timeout: float = 3.0, interval: float = 0.02) -> bool:
    """Poll `predicate` (sync or async) until true or `timeout`; returns the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value or asyncio.get_running_loop().time() >= deadline:
            return bool(value)
        await asyncio.sleep(interval)
