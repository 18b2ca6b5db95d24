"""Property-based fuzzing (hypothesis): random and mutated frames at the
frame parser and at a live connection. The parser never raises anything but
FrameError; the session turns any input into an event; over a live
connection every well-formed CALL gets exactly one answer, whatever garbage
surrounds it, and memory stays bounded."""

from __future__ import annotations

import asyncio
import itertools
import resource
import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect as sync_connect

from tests.conftest import DatabaseTarget, make_settings
from volta.app import Volta
from volta.blocks.provisioning import service as provisioning
from volta.ocpp.errors import ErrorCode
from volta.ocpp.frames import Call, CallError, CallResult, FrameError, parse_frame
from volta.ocpp.schemas import Validation
from volta.ocpp.schemas import registry as schema_registry
from volta.ocpp.session import CallReceived, Ignored, OcppSession, Reply
from volta.ocpp.text import control_character
from volta.ocpp.versions import Version

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=20,
)
ACTIONS = [
    "Heartbeat",
    "BootNotification",
    "StatusNotification",
    "MeterValues",
    "Authorize",
    "DataTransfer",
    "TransactionEvent",
    "StartTransaction",
    "Reset",
    "NoSuchAction",
]
VALID_FRAMES = [
    [2, "a1", "Heartbeat", {}],
    [2, "a2", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}],
    [3, "a3", {"status": "Accepted"}],
    [4, "a4", "GenericError", "x", {}],
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A valid frame with one element replaced, dropped or added."""
    frame: list[Any] = list(draw(st.sampled_from(VALID_FRAMES)))
    how = draw(st.sampled_from(["replace", "drop", "add", "nest"]))
    i = draw(st.integers(0, len(frame) - 1))
    if how == "replace":
        frame[i] = draw(json_values)
    elif how == "drop":
        del frame[i]
    elif how == "add":
        frame.insert(i, draw(json_values))
    else:
        frame[i] = [frame[i]]
    return orjson.dumps(frame).decode()


garbage = (
    st.text(max_size=200)
    | json_values.map(lambda v: orjson.dumps(v).decode())
    | mutated()
    | st.lists(json_values, max_size=6).map(lambda v: orjson.dumps(v).decode())
    # Numbers orjson cannot hold (over 64 bits) in otherwise valid frames.
    | st.integers().map(lambda n: f'[2, "n{n % 97}", "Heartbeat", {{"n": {n}}}]')
    | st.integers().map(lambda n: f'[{n}, "x", "Heartbeat", {{}}]')
)


@settings(max_examples=250, deadline=None)
@given(st.one_of(garbage, st.binary(max_size=200)), st.sampled_from(list(Version)))
def test_parser_and_session_never_crash(text: str | bytes, version: Version) -> None:
    try:
        frame = parse_frame(text, version)
    except FrameError as exc:
        assert exc.reply is False or isinstance(exc.message_id, str)
    else:
        assert isinstance(frame, Call | CallResult | CallError)
    event = OcppSession(version, REGISTRY).receive(text)
    if isinstance(event, Reply):
        reply = orjson.loads(event.text)
        assert reply[0] == 4 and reply[1] == event.message_id
    else:
        # Nothing is outstanding, so an answer frame is dropped (Ignored) too.
        assert isinstance(event, CallReceived | Ignored), event


REGISTRY = schema_registry()


# Any character, control characters often: what a station may put in a string.
station_text = st.text(
    st.characters(codec="utf-8", categories=None)
    | st.sampled_from([chr(c) for c in range(0x20)] + ["\\", '"', "\x7f"]),
    max_size=30,
)


@st.composite
def boot_with_strings(draw: st.DrawFn) -> tuple[Version, str]:
    """A BootNotification (or DataTransfer) of either version whose strings,
    keys included, are random text."""
    version = draw(st.sampled_from(list(Version)))
    if version is Version.V16:
        payload: dict[str, Any] = {
            "chargePointVendor": draw(station_text),
            "chargePointModel": draw(station_text),
        }
    else:
        payload = {
            "chargingStation": {"model": draw(station_text), "vendorName": draw(station_text)},
            "reason": "PowerUp",
        }
    action = draw(st.sampled_from(["BootNotification", "DataTransfer"]))
    if action == "DataTransfer":
        payload = {"vendorId": draw(station_text), draw(station_text): draw(station_text)}
    return version, orjson.dumps([2, "f1", action, payload]).decode()


@settings(max_examples=300, deadline=None)
@given(boot_with_strings())
def test_no_control_character_reaches_a_handler(frame: tuple[Version, str]) -> None:
    """Issue 12: a CALL is either refused with a CALLERROR, or handed on with no
    C0 control character but TAB, LF and CR in any string; one that holds
    such a character is always answered PropertyConstraintViolation (when
    the schema has nothing else against it) and names the field."""
    version, text = frame
    event = OcppSession(version, REGISTRY, validation=Validation.OFF).receive(text)
    bad = control_character(orjson.loads(text)[3])
    if isinstance(event, CallReceived):
        assert bad is None, text
    else:
        assert isinstance(event, Reply), event
        assert bad is not None
        assert event.code is ErrorCode.PROPERTY_CONSTRAINT_VIOLATION
        assert event.description == bad


# -- a live connection ---------------------------------------------------------------


class ServerThread:
    """Volta on its own event loop in a thread, so that hypothesis (which runs
    examples synchronously) can drive a blocking WebSocket client."""

    def __init__(self, db_path: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = Volta(make_settings(DatabaseTarget(f"sqlite:///{db_path}", None)))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.run(self.app.start())
        self.run(provisioning.create_station(self.app.db, "FUZZ"))
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.app.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(str(tmp_path_factory.mktemp("fuzz") / "volta.db")) as server:
        yield server


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


_ids = itertools.count()


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1"])
def test_live_connection_answers_every_call_once(live: ServerThread, protocol: str) -> None:
    url = f"ws://127.0.0.1:{live.app.ocpp_port}/ocpp/FUZZ"
    with sync_connect(url, subprotocols=[protocol], open_timeout=5) as ws:  # type: ignore[list-item]

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.lists(
                st.one_of(garbage, st.binary(max_size=100), st.sampled_from(ACTIONS)), max_size=8
            )
        )
        def exchange(frames: list[str | bytes]) -> None:
            ours: list[str] = []
            for item in frames:
                if isinstance(item, str) and item in ACTIONS:
                    # A well-formed CALL (its payload may still be invalid):
                    # it must be answered, once, by CALLRESULT or CALLERROR.
                    mid = f"ok{next(_ids)}"
                    ours.append(mid)
                    ws.send(orjson.dumps([2, mid, item, {}]).decode())
                else:
                    ws.send(item)
            sentinel = f"end{next(_ids)}"
            ws.send(orjson.dumps([2, sentinel, "Heartbeat", {}]).decode())
            answers: dict[str, int] = {}
            while sentinel not in answers:
                frame = orjson.loads(ws.recv(timeout=10))
                if frame[0] in (3, 4) and isinstance(frame[1], str):
                    answers[frame[1]] = answers.get(frame[1], 0) + 1
            # Answers run concurrently: the sentinel may overtake; drain briefly.
            while any(answers.get(m, 0) == 0 for m in ours):
                frame = orjson.loads(ws.recv(timeout=10))
                if frame[0] in (3, 4) and isinstance(frame[1], str):
                    answers[frame[1]] = answers.get(frame[1], 0) + 1
            assert all(answers.get(m) == 1 for m in ours), (ours, answers)

        exchange()
        before = rss_mib()
        exchange()  # a second round must not grow memory by much
        assert rss_mib() - before < 64
        # The process is up and the connection still serves.
        ws.send(orjson.dumps([2, "alive", "Heartbeat", {}]).decode())
        while (frame := orjson.loads(ws.recv(timeout=10)))[1] != "alive":
            pass
        assert frame[0] == 3


@pytest.mark.slow
def test_oversized_frames_keep_memory_flat(live: ServerThread) -> None:
    """Frames over 1 MiB are refused (1009) without being buffered: 20 of 2 MiB
    leave the server's memory where it was."""
    url = f"ws://127.0.0.1:{live.app.ocpp_port}/ocpp/FUZZ"
    big = orjson.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 2**21}]).decode()
    before = rss_mib()
    for _ in range(20):
        with sync_connect(url, subprotocols=["ocpp1.6"], max_size=None) as ws:  # type: ignore[list-item]
            ws.send(big)
            with pytest.raises(Exception):  # noqa: B017 - ConnectionClosedError, any flavour
                ws.recv(timeout=5)
            assert ws.close_code == 1009
    assert rss_mib() - before < 24
