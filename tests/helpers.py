"""Test stations: chargers on Volta's own OcppLink with answer tables (they
take the PyPI `ocpp` library's request dataclasses, as the tests were first
written against its ChargePoint), and a raw client for frames no charger
library would send."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from types import ModuleType
from typing import Any

import orjson
import websockets
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.v16 import call_result as result16
from ocpp.v21 import call_result as result21
from ocpp.v201 import call_result as result201
from websockets.asyncio.client import ClientConnection

from volta.app import Volta
from volta.blocks.authorization import service as auth_service
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import Call
from volta.ocpp.link import OcppLink
from volta.ocpp.schemas import registry
from volta.ocpp.session import OcppSession, Role
from volta.ocpp.versions import Version
from volta.simulator.transport import WebSocketTransport


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
    kw.setdefault("open_timeout", 5)
    async with websockets.connect(
        ws_url(volta, station_id),
        subprotocols=[protocol] if protocol else None,  # type: ignore[list-item]
        additional_headers=headers,
        **kw,
    ) as ws:
        yield ws


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class LinkStation:
    """A charger on Volta's own `OcppLink` (station role) that answers the
    CSMS's CALLs from `handlers`, an answer table by action.

    It keeps the surface of the PyPI library's ChargePoint the tests were
    written against: `call()` takes the library's request dataclasses
    (`ocpp.v16.call.Authorize(id_tag=...)`) and returns its result dataclasses
    (None for a CALLERROR), and `received` holds what the CSMS sent with the
    library's snake_case keys. `call(action, payload)` sends a raw payload
    and returns the raw answer. The README's charger, built on the library
    itself, is tested in test_end_to_end.py."""

    version: Version
    results: ModuleType  # the library's call_result module for `version`

    def __init__(self, station_id: str, ws: ClientConnection, response_timeout: float = 10) -> None:
        self.id = station_id
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.handlers: dict[str, Handler] = self.answer_table()
        session = OcppSession(
            self.version, registry(), role=Role.STATION, call_timeout=response_timeout
        )
        self.link = OcppLink(session, WebSocketTransport(ws), self._answer, name=station_id)

    def answer_table(self) -> dict[str, Handler]:
        return {}

    async def start(self) -> None:
        await self.link.serve()

    async def _answer(self, call: Call) -> dict[str, Any]:
        handler = self.handlers.get(call.action)
        if handler is None:
            # As the library answers an action it has no handler for.
            raise OcppError(ErrorCode.NOT_IMPLEMENTED, f"no handler for {call.action}")
        self.received.append((call.action, camel_to_snake_case(call.payload)))
        return await handler(call.payload)

    async def call(self, request: Any, payload: dict[str, Any] | None = None) -> Any:
        if isinstance(request, str):
            action, wire = request, payload or {}
        else:
            action = type(request).__name__
            wire = remove_nones(snake_to_camel_case(serialize_as_dict(request)))
        outcome = await self.link.call(action, wire)
        if outcome.kind == "result":
            # Volta's answers must keep to the schema: a test fails loudly.
            assert outcome.violation is None, f"{action} answered: {outcome.violation}"
            if isinstance(request, str):
                return outcome.payload
            return getattr(self.results, action)(**camel_to_snake_case(outcome.payload))
        if outcome.kind == "error":
            return None  # as the library's ChargePoint.call(suppress=True)
        if outcome.kind == "timeout":
            raise TimeoutError(f"no answer to {action}")
        if outcome.kind == "invalid" and outcome.error is not None:
            raise OcppError(ErrorCode.FORMAT_VIOLATION, outcome.error.description)
        raise ConnectionError(f"connection closed before {action} was answered")


def answer(payload: dict[str, Any]) -> Handler:
    """A handler that always answers `payload`."""

    async def handler(request: dict[str, Any]) -> dict[str, Any]:
        return payload

    return handler


class Station16(LinkStation):
    """A 1.6 charger that accepts what the CSMS asks of it."""

    version = Version.V16
    results = result16

    def answer_table(self) -> dict[str, Handler]:
        accepted = answer({"status": "Accepted"})
        return {
            "RemoteStartTransaction": accepted,
            "RemoteStopTransaction": accepted,
            "Reset": accepted,
            "UnlockConnector": answer({"status": "Unlocked"}),
            "ChangeAvailability": answer({"status": "Scheduled"}),
            "GetConfiguration": answer(
                {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
                    ]
                }
            ),
            "ChangeConfiguration": self.change_configuration,
            "TriggerMessage": accepted,
            "ClearCache": answer({"status": "Rejected"}),
            "DataTransfer": answer({"status": "Accepted", "data": "pong"}),
        }

    async def change_configuration(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"status": "Accepted" if request["key"] == "HeartbeatInterval" else "NotSupported"}


class Station201(LinkStation):
    """A 2.0.1 charging station that accepts what the CSMS asks of it."""

    version = Version.V201
    results = result201

    def answer_table(self) -> dict[str, Handler]:
        accepted = answer({"status": "Accepted"})
        return {
            "RequestStartTransaction": answer({"status": "Accepted", "transactionId": "tx-remote"}),
            "RequestStopTransaction": accepted,
            "Reset": accepted,
            "UnlockConnector": answer({"status": "Unlocked"}),
            "ChangeAvailability": accepted,
            "GetVariables": self.get_variables,
            "SetVariables": self.set_variables,
            "GetBaseReport": accepted,
            "TriggerMessage": accepted,
            "ClearCache": accepted,
            "DataTransfer": answer({"status": "Accepted", "data": "pong"}),
        }

    async def get_variables(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                    "attributeValue": "300",
                }
                for item in request["getVariableData"]
            ]
        }

    async def set_variables(self, request: dict[str, Any]) -> dict[str, Any]:
        return {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
                for item in request["setVariableData"]
            ]
        }


class Station21(Station201):
    """A 2.1 charging station: the 2.0.1 station's answers, on 2.1's schemas.
    Tests add answers for 2.1's own actions to `handlers`; `send()` sends a
    SEND (message type 6, never answered)."""

    version = Version.V21
    results = result21

    async def send(self, action: str, payload: dict[str, Any]) -> bool:
        return await self.link.send(action, payload)


_STATIONS: dict[str, tuple[str, type[LinkStation]]] = {
    "1.6": ("ocpp1.6", Station16),
    "2.0.1": ("ocpp2.0.1", Station201),
    "2.1": ("ocpp2.1", Station21),
}


@contextlib.asynccontextmanager
async def station(
    volta: Volta, station_id: str, version: str = "1.6", password: str | None = None
) -> AsyncIterator[Any]:
    """A test station connected to Volta, its read loop running
    (`version`: "1.6", "2.0.1" or "2.1")."""
    protocol, cls = _STATIONS[version]
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

    # The waits are for an answer that must come: generous, because the whole
    # suite runs three workers beside PostgreSQL on two shared cores (a 1.6
    # StartTransaction on PostgreSQL once took over 5 s in CI there).
    async def recv(self, timeout: float = 15) -> Any:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, action: str, payload: dict[str, Any], timeout: float = 15) -> Any:
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


async def wait_until(predicate: Any, timeout: float = 20.0, interval: float = 0.02) -> bool:
    """Poll `predicate` (sync or async) until true or `timeout`; returns the last value.

    The default is for what must happen, and returns as soon as it has: generous,
    because CI runs three workers beside PostgreSQL on two shared cores. A wait
    for what must *not* happen gives its own short timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value or asyncio.get_running_loop().time() >= deadline:
            return bool(value)
        await asyncio.sleep(interval)
