"""OcppLink: the asyncio glue around OcppSession, over an in-memory transport
(no network). The test plays the peer: it puts frames in and reads what the
link sent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from volta.ocpp.errors import ErrorCode, OcppError
from volta.ocpp.frames import Call
from volta.ocpp.link import Direction, OcppLink, TransportClosed
from volta.ocpp.schemas import SchemaRegistry, registry
from volta.ocpp.session import OcppSession, Role
from volta.ocpp.versions import Version

V16, V201 = Version.V16, Version.V201
BOTH = pytest.mark.parametrize("version", [V16, V201], ids=["1.6", "2.0.1"])
HEARTBEAT_RESPONSE = {"currentTime": "2024-01-01T00:00:00Z"}


class MemoryTransport:
    """Frames in through `incoming` (None closes), frames out in `sent`."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.outgoing: asyncio.Queue[str] = asyncio.Queue()
        self.sent: list[str] = []
        self.closed = False

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while True:
            message = await self.incoming.get()
            if message is None:
                self.closed = True
                return
            yield message

    async def send(self, text: str) -> None:
        if self.closed:
            raise TransportClosed
        self.sent.append(text)
        self.outgoing.put_nowait(text)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        self.incoming.put_nowait(None)

    def put(self, *items: Any) -> None:
        self.incoming.put_nowait(orjson.dumps(list(items)).decode())

    async def next_sent(self, timeout: float = 2.0) -> list[Any]:
        frame: list[Any] = orjson.loads(await asyncio.wait_for(self.outgoing.get(), timeout))
        return frame


@pytest.fixture(scope="module")
def schemas() -> SchemaRegistry:
    return registry()


async def heartbeat(call: Call) -> dict[str, Any]:
    return HEARTBEAT_RESPONSE


class Harness:
    """A CSMS-side link, served in the background, with what it observed."""

    def __init__(
        self,
        schemas: SchemaRegistry,
        version: Version = V201,
        handler: Any = heartbeat,
        role: Role = Role.CSMS,
        call_timeout: float = 30.0,
    ) -> None:
        ids = (f"out-{n}" for n in itertools.count(1))
        self.session = OcppSession(
            version, schemas, role=role, call_timeout=call_timeout, new_message_id=lambda: next(ids)
        )
        self.transport = MemoryTransport()
        self.frames: list[tuple[Direction, int | None, str | None, str | None, str | None]] = []
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.link = OcppLink(
            self.session,
            self.transport,
            handler,
            name="CS-1",
            on_frame=self._frame,
            on_result=lambda call, payload: self.results.append((call.message_id, payload)),
        )
        self.served = asyncio.create_task(self.link.serve())

    def _frame(
        self,
        direction: Direction,
        text: str,
        message_type: int | None,
        message_id: str | None,
        action: str | None,
        error_code: str | None,
    ) -> None:
        self.frames.append((direction, message_type, message_id, action, error_code))

    async def stop(self) -> None:
        await self.transport.close()
        await asyncio.wait_for(self.served, 2)


async def test_a_slow_handler_does_not_hold_up_the_next_call(schemas: SchemaRegistry) -> None:
    """Each received CALL is answered as soon as its own handler is done."""
    release = asyncio.Event()

    async def handler(call: Call) -> dict[str, Any]:
        if call.message_id == "slow":
            await release.wait()
        return HEARTBEAT_RESPONSE

    h = Harness(schemas, handler=handler)
    h.transport.put(2, "slow", "Heartbeat", {})
    h.transport.put(2, "fast", "Heartbeat", {})
    assert (await h.transport.next_sent())[:2] == [3, "fast"]
    release.set()
    assert (await h.transport.next_sent())[:2] == [3, "slow"]
    assert [mid for mid, _ in h.results] == ["fast", "slow"]
    await h.stop()


async def test_one_outstanding_call_at_a_time(schemas: SchemaRegistry) -> None:
    """OCPP-J 2.0.1 §4.1.1: the second CALL is sent only once the first is answered."""
    h = Harness(schemas)
    first = asyncio.create_task(h.link.call("ClearCache", {}))
    second = asyncio.create_task(h.link.call("Reset", {"type": "Immediate"}))
    sent = await h.transport.next_sent()
    assert sent[:3] == [2, "out-1", "ClearCache"]
    with pytest.raises(TimeoutError):
        await h.transport.next_sent(timeout=0.1)
    h.transport.put(3, "out-1", {"status": "Accepted"})
    assert (await h.transport.next_sent())[:3] == [2, "out-2", "Reset"]
    h.transport.put(3, "out-2", {"status": "Scheduled"})
    one, two = await first, await second
    assert (one.kind, one.message_id, one.payload) == ("result", "out-1", {"status": "Accepted"})
    assert (two.kind, two.payload) == ("result", {"status": "Scheduled"})
    await h.stop()


async def test_a_call_nobody_answers_times_out_and_the_late_answer_is_dropped(
    schemas: SchemaRegistry,
) -> None:
    h = Harness(schemas, call_timeout=0.1)
    outcome = await h.link.call("ClearCache", {})
    assert (outcome.kind, outcome.message_id) == ("timeout", "out-1")
    assert (await h.transport.next_sent())[1] == "out-1"
    h.transport.put(3, "out-1", {"status": "Accepted"})  # too late
    second = asyncio.create_task(h.link.call("ClearCache", {}, timeout=2))
    assert (await h.transport.next_sent())[1] == "out-2"
    h.transport.put(3, "out-2", {"status": "Rejected"})
    assert (await second).payload == {"status": "Rejected"}
    await h.stop()


async def test_connection_closing_ends_the_outstanding_call(schemas: SchemaRegistry) -> None:
    h = Harness(schemas)
    outcome = asyncio.create_task(h.link.call("ClearCache", {}))
    await h.transport.next_sent()
    await h.stop()
    assert (await outcome).kind == "closed"
    # Nothing is sent once the connection is gone.
    assert (await h.link.call("ClearCache", {})).kind == "closed"
    assert len(h.transport.sent) == 1


async def test_answers_to_our_calls(schemas: SchemaRegistry) -> None:
    """A CALLERROR comes back as `error`; a CALLRESULT that breaks the response
    schema is kept with its violation; a payload the request schema refuses
    is never sent."""
    h = Harness(schemas)
    refused = asyncio.create_task(h.link.call("ClearCache", {}))
    await h.transport.next_sent()
    h.transport.put(4, "out-1", "NotSupported", "no cache here", {"why": "none"})
    error = await refused
    assert error.kind == "error" and error.error is not None
    assert (error.error.error_code, error.error.description, error.error.details) == (
        "NotSupported",
        "no cache here",
        {"why": "none"},
    )

    odd = asyncio.create_task(h.link.call("ClearCache", {}))
    await h.transport.next_sent()
    h.transport.put(3, "out-2", {"status": "Maybe"})
    result = await odd
    assert result.kind == "result" and result.payload == {"status": "Maybe"}
    assert result.violation is not None and "status" in result.violation

    invalid = await h.link.call("Reset", {"type": "Sometime"})
    assert invalid.kind == "invalid" and invalid.error is not None
    assert invalid.message_id is None
    assert len(h.transport.sent) == 2
    await h.stop()


@BOTH
async def test_handler_failures_become_callerrors(
    schemas: SchemaRegistry, version: Version
) -> None:
    """An OcppError is sent as its code (in the version's spelling, OCPP-J 1.6
    §4.2.3: FormationViolation); any other exception as InternalError. No
    follow-up runs for a CALL answered with an error."""

    async def handler(call: Call) -> dict[str, Any]:
        if call.message_id == "bad":
            raise OcppError(ErrorCode.FORMAT_VIOLATION, "serial number unknown")
        raise RuntimeError("database on fire")

    h = Harness(schemas, version, handler=handler)
    h.transport.put(2, "bad", "Heartbeat", {})
    bad = await h.transport.next_sent()
    spelled = "FormationViolation" if version is V16 else "FormatViolation"
    assert bad[:4] == [4, "bad", spelled, "serial number unknown"]
    h.transport.put(2, "broken", "Heartbeat", {})
    broken = await h.transport.next_sent()
    assert broken[:3] == [4, "broken", "InternalError"]
    assert "database" not in broken[3]  # internals stay inside
    assert h.results == []
    await h.stop()


async def test_an_answer_that_breaks_our_schema_is_an_internal_error(
    schemas: SchemaRegistry,
) -> None:
    async def handler(call: Call) -> dict[str, Any]:
        return {"currentTime": 5}

    h = Harness(schemas, handler=handler)
    h.transport.put(2, "m1", "Heartbeat", {})
    assert (await h.transport.next_sent())[:3] == [4, "m1", "InternalError"]
    assert h.results == []
    await h.stop()


@BOTH
async def test_malformed_frames_are_answered_at_once(
    schemas: SchemaRegistry, version: Version
) -> None:
    """OCPP-J 1.6 §4.2.3 / 2.0.1 §4.2.3: a message that cannot be read is
    answered with a CALLERROR, with id "-1" when its id cannot be read; the
    handler never sees it."""
    seen: list[Call] = []

    async def handler(call: Call) -> dict[str, Any]:
        seen.append(call)
        return HEARTBEAT_RESPONSE

    h = Harness(schemas, version, handler=handler)
    h.transport.incoming.put_nowait("this is not json")
    unreadable = await h.transport.next_sent()
    framework = "FormationViolation" if version is V16 else "RpcFrameworkError"
    assert unreadable[:3] == [4, "-1", framework]
    h.transport.put(2, "m7", "Heartbeat")  # no payload
    assert (await h.transport.next_sent())[:3] == [4, "m7", framework]
    h.transport.put(2, "m8", "Heartbeat", {"extra": 1})
    assert (await h.transport.next_sent())[:2] == [4, "m8"]
    assert seen == []
    await h.stop()


async def test_every_frame_is_observed(schemas: SchemaRegistry) -> None:
    """What the gateway records in the frame log: direction, type, id, action
    (also on the answer), error code."""
    h = Harness(schemas)
    h.transport.put(2, "in-1", "Heartbeat", {})
    await h.transport.next_sent()
    h.transport.incoming.put_nowait(b"[7]")
    await h.transport.next_sent()
    asked = asyncio.create_task(h.link.call("ClearCache", {}))
    await h.transport.next_sent()
    h.transport.put(4, "out-1", "NotSupported", "", {})
    await asked
    await h.stop()
    assert h.frames == [
        ("in", 2, "in-1", "Heartbeat", None),
        ("out", 3, "in-1", "Heartbeat", None),
        ("in", None, None, None, None),
        ("out", 4, "-1", None, "MessageTypeNotSupported"),
        ("out", 2, "out-1", "ClearCache", None),
        ("in", 4, "out-1", "ClearCache", "NotSupported"),
    ]
    assert h.results == [("in-1", HEARTBEAT_RESPONSE)]


async def test_the_station_side_uses_the_same_link(schemas: SchemaRegistry) -> None:
    """Role.STATION: the link answers the CSMS's CALLs and refuses a CALL only
    a station sends (NotSupported)."""

    async def handler(call: Call) -> dict[str, Any]:
        return {"status": "Accepted"}

    h = Harness(schemas, handler=handler, role=Role.STATION)
    h.transport.put(2, "r1", "Reset", {"type": "OnIdle"})
    assert await h.transport.next_sent() == [3, "r1", {"status": "Accepted"}]
    h.transport.put(2, "h1", "Heartbeat", {})
    assert (await h.transport.next_sent())[:3] == [4, "h1", "NotSupported"]
    booting = asyncio.create_task(
        h.link.call(
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
        )
    )
    assert (await h.transport.next_sent())[:3] == [2, "out-1", "BootNotification"]
    h.transport.put(
        3, "out-1", {"status": "Accepted", "currentTime": "2024-01-01T00:00:00Z", "interval": 60}
    )
    assert (await booting).payload["interval"] == 60
    await h.stop()
