"""The conformance harness: a charging station speaking raw OCPP-J over a
real WebSocket, an operator driving Volta's HTTP API, and the hooks that turn
the run into docs/conformance.md."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest

from tests.conformance import generate
from tests.conformance.catalogue import all_cases, key, key_of_test
from tests.conftest import DatabaseTarget
from tests.helpers import add_token, connect, register
from volta.app import Volta

PASSWORD = "conformance-station-pass"
VALID, INVALID, EXPIRED, BLOCKED = "100000C01", "100000C02", "100000C03", "100000C04"
TC_ID = re.compile(r"TC_[A-Z0-9_]+?_CSMS")

Answer = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
async def database(tmp_path) -> AsyncIterator[DatabaseTarget]:
    """Conformance is about the protocol: SQLite only (the fault suite runs
    the database-sensitive cases on PostgreSQL too)."""
    yield DatabaseTarget(f"sqlite:///{tmp_path}/volta.db", None)


class Station:
    """The charging station side: sends CALLs and checks the CSMS's answers,
    answers the CSMS's CALLs from `answers` (action -> payload or function)."""

    _ids = itertools.count(1)

    def __init__(self, ws: Any, answers: dict[str, Answer]) -> None:
        self.ws = ws
        self.answers = answers
        self.received: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            frame = orjson.loads(text)
            if frame[0] == 2:
                _, mid, action, payload = frame
                await self.received.put((action, payload))
                answer = self.answers.get(action, {})
                body = answer(payload) if callable(answer) else answer
                await self.ws.send(orjson.dumps([3, mid, body]).decode())
            elif frame[1] in self._waiting:
                self._waiting.pop(frame[1]).set_result(frame)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL; return the CALLRESULT payload (a CALLERROR fails)."""
        frame = await self.call_frame(action, payload)
        assert frame[0] == 3, f"{action} answered with {frame}"
        return frame[2]

    async def call_frame(self, action: str, payload: dict[str, Any]) -> list[Any]:
        mid = f"c{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[mid] = future
        await self.ws.send(orjson.dumps([2, mid, action, payload]).decode())
        return await asyncio.wait_for(future, 10)

    async def expect(self, action: str) -> dict[str, Any]:
        """The next CALL the CSMS sent; it must be `action`."""
        got, payload = await asyncio.wait_for(self.received.get(), 10)
        assert got == action, f"expected {action}, the CSMS sent {got} {payload}"
        return payload

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@contextlib.asynccontextmanager
async def station(
    volta: Volta, station_id: str, protocol: str, answers: dict[str, Answer] | None = None
) -> AsyncIterator[Station]:
    async with connect(volta, station_id, protocol, PASSWORD) as ws:
        st = Station(ws, {} if answers is None else answers)
        try:
            yield st
        finally:
            await st.close()


class Operator:
    """What an operator does through the API."""

    def __init__(self, api: httpx.AsyncClient, station_id: str) -> None:
        self.api = api
        self.station_id = station_id

    def send(self, action: str, payload: dict[str, Any]) -> asyncio.Task[dict[str, Any]]:
        """Start a command; await the task for its stored record."""

        async def post() -> dict[str, Any]:
            r = await self.api.post(
                f"/api/v1/stations/{self.station_id}/commands/{action}", json=payload
            )
            assert r.status_code == 200, r.text
            return r.json()

        return asyncio.create_task(post())

    async def set_registration(self, status: str) -> None:
        r = await self.api.patch(
            f"/api/v1/stations/{self.station_id}", json={"registration_status": status}
        )
        assert r.status_code == 200, r.text

    async def transactions(self) -> list[dict[str, Any]]:
        r = await self.api.get("/api/v1/transactions", params={"station_id": self.station_id})
        return r.json()

    async def transaction(self, tx_id: int) -> dict[str, Any]:
        return (await self.api.get(f"/api/v1/transactions/{tx_id}")).json()


@pytest.fixture
async def tokens(volta: Volta) -> None:
    await add_token(volta, VALID, token_type="Central")
    await add_token(volta, EXPIRED, expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    await add_token(volta, BLOCKED, status="Blocked")


async def _booted(volta: Volta, station_id: str, protocol: str, answers: dict[str, Answer]):
    await register(volta, station_id, password=PASSWORD)
    async with station(volta, station_id, protocol, answers) as st:
        if protocol == "ocpp2.0.1":
            boot = {"reason": "PowerUp", "chargingStation": {"model": "M1", "vendorName": "V"}}
        else:
            boot = {"chargePointVendor": "V", "chargePointModel": "M1"}
        assert (await st.call("BootNotification", boot))["status"] == "Accepted"
        yield st


@pytest.fixture
def answers() -> dict[str, Answer]:
    """What the station answers to the CSMS's CALLs; tests add to it."""
    return {}


@pytest.fixture
async def cs(volta, tokens, answers) -> AsyncIterator[Station]:
    """A booted 2.0.1 charging station CS201 (security profile 1)."""
    async for st in _booted(volta, "CS201", "ocpp2.0.1", answers):
        yield st


@pytest.fixture
async def cp(volta, tokens, answers) -> AsyncIterator[Station]:
    """A booted 1.6 charge point CP16."""
    async for st in _booted(volta, "CP16", "ocpp1.6", answers):
        yield st


@pytest.fixture
def op201(api) -> Operator:
    return Operator(api, "CS201")


@pytest.fixture
def op16(api) -> Operator:
    return Operator(api, "CP16")


# -- results and docs/conformance.md ---------------------------------------------

_outcomes: dict[str, str] = {}
_collected: set[str] = set()


def _tc_id(nodeid: str) -> str | None:
    match = TC_ID.search(nodeid.rsplit("::", 1)[-1])
    return key_of_test(nodeid.split("::", 1)[0], match.group(0)) if match else None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tc = _tc_id(item.nodeid)
        if tc:
            _collected.add(tc)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tc = _tc_id(report.nodeid)
    if tc is None:
        return
    if report.failed:
        _outcomes[tc] = "failed"
    elif report.when == "call" and _outcomes.get(tc) != "failed":
        _outcomes[tc] = "skipped" if report.skipped else "passed"


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller gets every report and writes
    tested = {key(v, c.id) for v, _, c in all_cases() if not c.not_yet}
    # Only a run that collected (and ran) the whole suite may rewrite the table.
    # Under pytest-xdist the controller collects nothing itself; every case
    # having an outcome says the same.
    distributed = session.config.pluginmanager.hasplugin("dsession")
    if (distributed or tested <= _collected) and tested <= set(_outcomes):
        generate.write(_outcomes)
