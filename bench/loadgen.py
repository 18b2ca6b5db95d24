"""Lean OCPP 1.6 load generator: many simulated charging stations, little CPU.

Each station is a bare asyncio protocol on uvloop speaking WebSocket directly:
it sends an HTTP upgrade for ws://HOST:PORT/<station-id> with subprotocol
ocpp1.6, then client frames built once per message kind, pre-masked, in which
only the message id changes (12 digits, XORed into place). Answers are parsed
with orjson and checked: a CALLRESULT with the id of the outstanding CALL.
Every station keeps at most one CALL outstanding, as OCPP requires. Server
pings are answered; server CALLs are refused with a CALLERROR and counted.

Modes (each also callable from bench/run_load.py through GeneratorPool):

  throughput  N stations send CALLs back to back (60 % MeterValues with 4
              sampled values, 20 % StatusNotification, 20 % Heartbeat)
  rate        the same mix at a fixed total rate, open loop: latency counts
              from the scheduled send time, so a slow answer is not hidden
  hold        K idle stations, each sending a Heartbeat every PERIOD seconds,
              spread evenly
  storm       K stations connect at once and send BootNotification; time
              until every one is Accepted (failed attempts retry after 1-2 s)

Work can be split over several processes (GeneratorPool) and several source
addresses (127.0.0.2, 127.0.0.3, ...), so tens of thousands of connections do
not run out of local ports. Only loopback addresses are allowed.

Standalone, against a server that is already running and accepts the stations
(and, for throughput and rate, the id tag BENCH-TAG):

    .venv/bin/python bench/loadgen.py --port 9000 throughput --stations 100 --duration 10
    .venv/bin/python bench/loadgen.py --port 9000 rate --rate 500 --duration 10
    .venv/bin/python bench/loadgen.py --port 9000 hold --stations 1000 --seconds 60
    .venv/bin/python bench/loadgen.py --port 9000 storm --stations 2000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import ipaddress
import itertools
import json
import math
import multiprocessing as mp
import os
import random
import struct
import time
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any, Protocol, cast

import orjson
import uvloop

TIMESTAMP = "2024-05-01T12:00:00.000Z"
ID_TAG = "BENCH-TAG"
ID_WIDTH = 12  # message ids are 12 decimal digits
STAMP_WIDTH = 12  # a MeterValues reading's time of day, "HH:MM:SS.mmm"
NOON_MS = 12 * 3_600_000  # TIMESTAMP's time of day
GOLDEN = (math.sqrt(5) - 1) / 2  # spreads heartbeat phases evenly for any K
CONNECT_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
DRAIN_TIMEOUT = 15.0
RETRY_DELAY = (1.0, 2.0)  # a failed storm attempt waits 1-2 s, as a charger would
SETUP_CONCURRENCY = 200  # connections opened at once per process outside a storm

CALL, CALLRESULT, CALLERROR = 2, 3, 4
MIX = ("MeterValues", "StatusNotification", "MeterValues", "Heartbeat", "MeterValues")


def check_loopback(*addresses: str) -> None:
    for address in addresses:
        if not ipaddress.ip_address(address).is_loopback:
            raise ValueError(f"{address} is not a loopback address; this tool stays on 127/8")


# --- frames ---------------------------------------------------------------------------


def _mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455 §5.2)."""
    key = os.urandom(4)
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return header + key + _mask(payload, key)


class Template:
    """A CALL frame serialised and masked once; `frame(id)` XORs the id into
    place, and, for a template made with `stamped=True`, a reading time: each
    of a station's MeterValues is a new reading, 1 ms after its last (as a
    charger's are), not the same message again (which Volta would take for a
    repeat of an unanswered CALL and not store twice)."""

    __slots__ = ("head", "id_mask", "stamp_at", "stamp_mask", "suffix")

    def __init__(self, action: str, payload: dict[str, Any], stamped: bool = False) -> None:
        placeholder = b"0" * ID_WIDTH
        text = b'[2,"' + placeholder + b'","' + action.encode() + b'",' + orjson.dumps(payload)
        frame = _client_frame(0x1, text + b"]")
        start = len(frame) - len(text) - 1 + 4  # the id starts 4 bytes into the payload
        key = frame[start - 8 : start - 4]  # the 4-byte masking key precedes the payload
        self.head = frame[:start]
        self.suffix = frame[start + ID_WIDTH :]
        # Payload offset 4 is a multiple of 4, so the id is masked from key[0] on.
        self.id_mask = int.from_bytes((key * 4)[:ID_WIDTH], "big")
        self.stamp_at = -1
        self.stamp_mask = 0
        if stamped:
            # The time of day of TIMESTAMP ("HH:MM:SS.mmm"), at its place in the suffix.
            at = text.index(TIMESTAMP.encode()) + len("2024-05-01T")
            self.stamp_at = at - (4 + ID_WIDTH)
            self.stamp_mask = int.from_bytes(
                bytes(key[(at + i) % 4] for i in range(STAMP_WIDTH)), "big"
            )

    def frame(self, message_id: bytes, reading: int = 0) -> bytes:
        masked = (int.from_bytes(message_id, "big") ^ self.id_mask).to_bytes(ID_WIDTH, "big")
        if self.stamp_at < 0:
            return self.head + masked + self.suffix
        ms = (NOON_MS + reading) % 86_400_000  # after the session's start (TIMESTAMP)
        h, m, sec = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        clock = b"%02d:%02d:%02d.%03d" % (h, m, sec, ms % 1000)
        stamp = (int.from_bytes(clock, "big") ^ self.stamp_mask).to_bytes(STAMP_WIDTH, "big")
        at = self.stamp_at
        return self.head + masked + self.suffix[:at] + stamp + self.suffix[at + STAMP_WIDTH :]


def meter_values_payload(transaction_id: int | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "connectorId": 1,
        "meterValue": [
            {
                "timestamp": TIMESTAMP,
                "sampledValue": [
                    {"value": "12345.6", "context": "Sample.Periodic",
                     "measurand": "Energy.Active.Import.Register", "location": "Outlet",
                     "unit": "Wh"},
                    {"value": "7360", "context": "Sample.Periodic",
                     "measurand": "Power.Active.Import", "location": "Outlet", "unit": "W"},
                    {"value": "32.0", "context": "Sample.Periodic", "measurand": "Current.Import",
                     "phase": "L1", "location": "Outlet", "unit": "A"},
                    {"value": "230.1", "context": "Sample.Periodic", "measurand": "Voltage",
                     "phase": "L1-N", "location": "Outlet", "unit": "V"},
                ],
            }
        ],
    }  # fmt: skip
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


BOOT = Template(
    "BootNotification",
    {"chargePointVendor": "VoltaBench", "chargePointModel": "LoadGen-1",
     "firmwareVersion": "1.0.0"},
)  # fmt: skip
HEARTBEAT = Template("Heartbeat", {})
STATUS = Template(
    "StatusNotification",
    {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": TIMESTAMP},
)
START = Template(
    "StartTransaction",
    {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": TIMESTAMP},
)
CLOSE = _client_frame(0x8, struct.pack("!H", 1000))

_ids = itertools.count(1)


# --- one station ----------------------------------------------------------------------

Reply = Callable[["Station", int, Any], None]


class FrameBuffer(Protocol):
    """What `read_frames` keeps on a client connection."""

    buffer: bytearray
    upgraded: bool
    handshake: asyncio.Future[bytes]


def read_frames(conn: FrameBuffer, data: bytes) -> Iterator[tuple[int, bytes]]:
    """The server's frames in `data` (after the HTTP upgrade's head, which
    completes `conn.handshake`), as (opcode, payload); a partial frame waits
    in `conn.buffer` for the rest."""
    buf = conn.buffer
    buf += data
    if not conn.upgraded:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buf[: end + 4])
        del buf[: end + 4]
        conn.upgraded = True
        if not conn.handshake.done():
            conn.handshake.set_result(head)
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        start = 2
        if n == 126:
            if len(buf) < 4:
                return
            n, start = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return
            n, start = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < start + n:
            return
        opcode = buf[0] & 0x0F
        payload = bytes(buf[start : start + n])
        del buf[: start + n]
        yield opcode, payload


class Station(asyncio.Protocol):
    """One WebSocket connection; at most one CALL outstanding."""

    def __init__(self, gen: Generator, station_id: str, index: int) -> None:
        self.gen = gen
        self.id = station_id
        self.index = index
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET /{station_id} HTTP/1.1\r\nHost: {gen.host}:{gen.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.closed = False
        self.waiting: str | None = None  # message id of the outstanding CALL
        self.sent_at = 0.0  # when it was sent (or scheduled, in rate mode)
        self.on_reply: Reply | None = None
        self.step = index  # position in MIX
        self.meter: Template | None = None
        self.readings = 0  # MeterValues sent: each a new reading time
        self.transaction_id: int | None = None
        self.backlog: collections.deque[float] = collections.deque()  # rate mode
        self.heartbeating = False  # hold mode: on the heartbeat schedule

    # asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack alike.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if self.waiting is not None:
            self.gen.lost_calls += 1
            callback, self.on_reply, self.waiting = self.on_reply, None, None
            if callback is not None:
                callback(self, 0, None)  # 0: no answer, the connection closed
        self.gen.on_closed(self)

    def data_received(self, data: bytes) -> None:
        for opcode, payload in read_frames(self, data):
            if opcode == 0x1:
                self._on_text(payload)
            elif opcode == 0x9:  # ping
                self._write(_client_frame(0xA, payload))
            elif opcode == 0x8:  # close: answer it and let the server close TCP
                self._write(CLOSE)
            elif opcode != 0xA:
                self.gen.protocol_errors += 1

    def _on_text(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
            kind, message_id = msg[0], msg[1]
        except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
            self.gen.protocol_errors += 1
            return
        if kind == CALL:  # the server asks something: not part of the benchmark
            self.gen.server_calls += 1
            answer = [CALLERROR, message_id, "NotImplemented", "load generator", {}]
            self._write(_client_frame(0x1, orjson.dumps(answer)))
        elif message_id == self.waiting and kind in (CALLRESULT, CALLERROR):
            callback, self.on_reply, self.waiting = self.on_reply, None, None
            if callback is not None:
                callback(self, kind, msg[2] if kind == CALLRESULT else msg[2:])
        else:
            self.gen.protocol_errors += 1

    # sending

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def send(self, template: Template, on_reply: Reply, sent_at: float) -> None:
        message_id = b"%012d" % next(_ids)
        self.waiting = message_id.decode()
        self.sent_at = sent_at
        self.on_reply = on_reply
        if template.stamp_at >= 0:
            self.readings += 1
            self._write(template.frame(message_id, self.readings))
        else:
            self._write(template.frame(message_id))

    def next_template(self) -> Template:
        action = MIX[self.step % len(MIX)]
        self.step += 1
        if action == "MeterValues":
            assert self.meter is not None
            return self.meter
        return STATUS if action == "StatusNotification" else HEARTBEAT

    async def call(self, template: Template, timeout: float = CALL_TIMEOUT) -> tuple[int, Any]:
        """Send one CALL and wait for its answer: (message type, payload)."""
        fut: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()

        def done(_: Station, kind: int, payload: Any) -> None:
            if fut.done():
                return
            if kind == 0:
                fut.set_exception(ConnectionError("connection closed before the answer"))
            else:
                fut.set_result((kind, payload))

        self.send(template, done, time.monotonic())
        return await asyncio.wait_for(fut, timeout)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(CLOSE)
            self.transport.close()


# --- measurement windows --------------------------------------------------------------


class Window:
    """Answers received between two monotonic times: latencies and counts."""

    def __init__(self, start: float, end: float) -> None:
        self.start, self.end = start, end
        self.latencies = array("d")
        self.results = 0
        self.errors = 0  # CALLERROR
        self.unanswered = 0  # connection closed before the answer

    def record(self, now: float, latency: float, kind: int) -> None:
        if self.start <= now < self.end:
            if kind == CALLRESULT:
                self.results += 1
                self.latencies.append(latency)
            elif kind == CALLERROR:
                self.errors += 1
            else:
                self.unanswered += 1

    def report(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "call_errors": self.errors,
            "unanswered": self.unanswered,
            "latencies": self.latencies.tobytes(),
        }


# --- the generator in one process ------------------------------------------------------


class Generator:
    def __init__(self, host: str, port: int) -> None:
        check_loopback(host)
        self.host, self.port = host, port
        self.stations: list[Station] = []
        self.lost_calls = 0
        self.protocol_errors = 0
        self.server_calls = 0
        self.unexpected_closes = 0
        self.closing = False
        self.failures: collections.Counter[str] = collections.Counter()
        self.hold_period = 0.0
        self.hold_window: Window | None = None
        self.hold_skipped = 0

    def on_closed(self, station: Station) -> None:
        if not self.closing and station.upgraded:
            self.unexpected_closes += 1

    def counters(self) -> dict[str, Any]:
        return {
            "lost_calls": self.lost_calls,
            "protocol_errors": self.protocol_errors,
            "server_calls": self.server_calls,
            "unexpected_closes": self.unexpected_closes,
            "open": sum(1 for s in self.stations if not s.closed),
            "failures": dict(self.failures),
        }

    async def open(self, station_id: str, index: int, source: str | None) -> Station:
        loop = asyncio.get_running_loop()
        _, station = await asyncio.wait_for(
            loop.create_connection(
                lambda: Station(self, station_id, index),
                self.host,
                self.port,
                local_addr=(source, 0) if source else None,
            ),
            CONNECT_TIMEOUT,
        )
        try:
            head = await asyncio.wait_for(station.handshake, CONNECT_TIMEOUT)
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if not status.startswith("HTTP/1.1 101"):
                raise ConnectionRefusedError(f"upgrade refused: {status}")
            if b"sec-websocket-protocol: ocpp1.6" not in head.lower():
                raise ConnectionRefusedError("the server did not select ocpp1.6")
        except BaseException:
            station.closed = True
            if station.transport is not None:
                station.transport.abort()
            raise
        return station

    async def boot(self, station: Station) -> str:
        kind, payload = await station.call(BOOT)
        if kind != CALLRESULT:
            raise RuntimeError(f"BootNotification answered with CALLERROR {payload}")
        return str(payload.get("status"))

    async def connect(
        self,
        stations: Sequence[tuple[str, int]],
        sources: Sequence[str],
        start_transaction: bool = False,
        attempts: int = 3,
    ) -> dict[str, Any]:
        """Open, boot and (optionally) start a transaction on each station, a few
        hundred at a time; each station gets up to `attempts` tries."""
        check_loopback(*sources)
        semaphore = asyncio.Semaphore(SETUP_CONCURRENCY)
        source_cycle = itertools.cycle(sources or [None])  # type: ignore[list-item]
        failed: list[str] = []

        async def one(station_id: str, index: int, source: str | None) -> None:
            async with semaphore:
                for attempt in range(attempts):
                    station = None
                    try:
                        station = await self.open(station_id, index, source)
                        status = await self.boot(station)
                        if status != "Accepted":
                            raise RuntimeError(f"BootNotification status {status}")
                        if start_transaction:
                            kind, payload = await station.call(START)
                            if kind != CALLRESULT:
                                raise RuntimeError(f"StartTransaction: CALLERROR {payload}")
                            station.transaction_id = int(payload["transactionId"])
                            station.meter = Template(
                                "MeterValues",
                                meter_values_payload(station.transaction_id),
                                stamped=True,
                            )
                        self.stations.append(station)
                        return
                    except (OSError, RuntimeError, TimeoutError, KeyError, ValueError) as exc:
                        self.failures[f"connect: {type(exc).__name__}: {exc}"[:120]] += 1
                        if station is not None:
                            station.close()
                        if attempt + 1 < attempts:
                            await asyncio.sleep(1.0)
                failed.append(station_id)

        started = time.monotonic()
        await asyncio.gather(*(one(sid, i, next(source_cycle)) for sid, i in stations))
        return {
            "connected": len(stations) - len(failed),
            "failed": failed[:20],
            "failed_count": len(failed),
            "seconds": time.monotonic() - started,
            **self.counters(),
        }

    async def _drain(self, busy: Callable[[], bool]) -> None:
        for _ in range(int(DRAIN_TIMEOUT / 0.02)):
            if not busy():
                return
            await asyncio.sleep(0.02)

    async def throughput(self, start: float, end: float) -> dict[str, Any]:
        """Back to back from now on; answers between `start` and `end` count."""
        window = Window(start, end)
        stopping = False
        monotonic = time.monotonic

        def on_reply(station: Station, kind: int, _: Any) -> None:
            now = monotonic()
            window.record(now, now - station.sent_at, kind)
            if not stopping and kind:
                station.send(station.next_template(), on_reply, monotonic())

        active = [s for s in self.stations if not s.closed]
        for station in active:
            station.send(station.next_template(), on_reply, monotonic())
        await asyncio.sleep(max(0.0, end - monotonic()))
        stopping = True
        await self._drain(lambda: any(s.waiting is not None for s in active))
        return {"stations": len(active), **window.report(), **self.counters()}

    async def rate(self, rate: float, start: float, end: float) -> dict[str, Any]:
        """`rate` CALLs/s in total from now on, open loop; answers between `start`
        and `end` count, with latency from the scheduled send time."""
        loop = asyncio.get_running_loop()
        window = Window(start, end)
        monotonic = time.monotonic
        active = [s for s in self.stations if not s.closed]
        period = len(active) / rate  # per station
        stopping = False

        def on_reply(station: Station, kind: int, _: Any) -> None:
            now = monotonic()
            window.record(now, now - station.sent_at, kind)
            if station.backlog and kind:
                station.send(station.next_template(), on_reply, station.backlog.popleft())

        def fire(station: Station, due: float) -> None:
            if stopping or station.closed:
                return
            if station.waiting is None:
                # Timer lateness is the generator's, not the server's: count from now.
                station.send(station.next_template(), on_reply, monotonic())
            else:  # the previous answer is late: send as soon as it arrives, and
                # count the wait from the time this CALL should have gone out
                station.backlog.append(due)
            nxt = due + period
            loop.call_later(max(0.0, nxt - monotonic()), fire, station, nxt)

        t0 = monotonic() + 0.05
        for j, station in enumerate(active):
            due = t0 + period * j / len(active)
            station.backlog.clear()
            loop.call_later(max(0.0, due - monotonic()), fire, station, due)
        await asyncio.sleep(max(0.0, end - monotonic()))
        stopping = True
        for station in active:
            station.backlog.clear()
        await self._drain(lambda: any(s.waiting is not None for s in active))
        return {"stations": len(active), **window.report(), **self.counters()}

    # idle hold: heartbeats run in the background from hold_start until close

    def _heartbeat_reply(self, station: Station, kind: int, _: Any) -> None:
        if self.hold_window is not None:
            now = time.monotonic()
            self.hold_window.record(now, now - station.sent_at, kind)

    def _heartbeat(self, station: Station, due: float) -> None:
        if self.closing or station.closed:
            return
        if station.waiting is None:
            station.send(HEARTBEAT, self._heartbeat_reply, time.monotonic())
        else:
            self.hold_skipped += 1
        nxt = due + self.hold_period
        asyncio.get_running_loop().call_later(
            max(0.0, nxt - time.monotonic()), self._heartbeat, station, nxt
        )

    async def hold_start(self, period: float, reference: float) -> dict[str, Any]:
        """Every station not yet on the schedule heartbeats every `period` seconds,
        station g at phase frac(g * 0.618...) of the period (even for any K)."""
        loop = asyncio.get_running_loop()
        self.hold_period = period
        now = time.monotonic()
        scheduled = 0
        for station in self.stations:
            if station.heartbeating or station.closed:
                continue
            station.heartbeating = True
            due = reference + ((station.index * GOLDEN) % 1.0) * period
            while due < now:
                due += period
            loop.call_later(due - now, self._heartbeat, station, due)
            scheduled += 1
        return {"scheduled": scheduled}

    async def hold_measure(self, start: float, end: float) -> dict[str, Any]:
        window = Window(start, end)
        self.hold_window = window
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        now = time.monotonic()
        overdue = sum(
            1 for s in self.stations if s.waiting is not None and now - s.sent_at > CALL_TIMEOUT
        )
        self.hold_window = None
        return {**window.report(), "overdue": overdue, "skipped": self.hold_skipped,
                **self.counters()}  # fmt: skip

    async def storm(
        self, stations: Sequence[tuple[str, int]], sources: Sequence[str], at: float, until: float
    ) -> dict[str, Any]:
        """At monotonic time `at`, every station connects and boots; each retries
        after 1-2 s until Accepted or `until`."""
        check_loopback(*sources)
        source_cycle = itertools.cycle(sources or [None])  # type: ignore[list-item]
        rng = random.Random(len(stations))
        accepted = array("d")
        attempts = 0
        await asyncio.sleep(max(0.0, at - time.monotonic()))

        async def one(station_id: str, index: int, source: str | None) -> None:
            nonlocal attempts
            while time.monotonic() < until:
                attempts += 1
                station = None
                try:
                    station = await self.open(station_id, index, source)
                    status = await self.boot(station)
                    if status == "Accepted":
                        accepted.append(time.monotonic())
                        self.stations.append(station)
                        return
                    raise RuntimeError(f"BootNotification status {status}")
                except (OSError, RuntimeError, TimeoutError) as exc:
                    self.failures[f"storm: {type(exc).__name__}: {exc}"[:120]] += 1
                    if station is not None:
                        station.close()
                await asyncio.sleep(rng.uniform(*RETRY_DELAY))

        await asyncio.gather(*(one(sid, i, next(source_cycle)) for sid, i in stations))
        return {
            "stations": len(stations),
            "accepted": len(accepted),
            "attempts": attempts,
            "accepted_at": accepted.tobytes(),
            **self.counters(),
        }

    async def ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    async def close(self) -> dict[str, Any]:
        self.closing = True
        counters = self.counters()
        for station in self.stations:
            station.close()
        await self._drain(lambda: any(not s.closed for s in self.stations))
        self.stations.clear()
        self.closing = False
        return counters


# --- worker processes -----------------------------------------------------------------


def pin(cpu: int | None) -> None:
    if cpu is not None:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {cpu})


async def serve_commands(ctrl: Connection, target: Any) -> None:
    """A worker process's loop: run `target`'s async methods as the parent
    asks over `ctrl` (`(command, kwargs)`), until "exit" or the parent is gone."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            command, kwargs = await loop.run_in_executor(None, ctrl.recv)
        except EOFError:  # the parent is gone
            break
        if command == "exit":
            await target.close()
            ctrl.send({"ok": True})
            break
        try:
            result = await getattr(target, command)(**kwargs)
        except Exception as exc:
            result = {"error": f"{command}: {type(exc).__name__}: {exc}"}
        ctrl.send(result)


async def _serve_commands(ctrl: Connection, host: str, port: int) -> None:
    await serve_commands(ctrl, Generator(host, port))


def worker_main(ctrl: Connection, host: str, port: int, cpu: int | None) -> None:
    pin(cpu)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve_commands(ctrl, host, port))


class GeneratorPool:
    """Worker processes (spawned, pinned to `cpu`) that run one command at a time,
    all together; stations are dealt out round robin."""

    def __init__(self, host: str, port: int, processes: int = 1, cpu: int | None = None) -> None:
        check_loopback(host)
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main,
                args=(child, host, port, cpu),
                name=f"loadgen-{i}",
                daemon=True,
            )
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def split(self, items: Sequence[Any]) -> list[list[Any]]:
        return [list(items[i :: len(self.conns)]) for i in range(len(self.conns))]

    def submit(self, command: str, per_worker: Sequence[dict[str, Any]] | dict[str, Any]) -> None:
        """Send `command` to every worker (a dict: the same arguments for all)."""
        if isinstance(per_worker, dict):
            per_worker = [per_worker] * len(self.conns)
        for conn, kwargs in zip(self.conns, per_worker, strict=True):
            conn.send((command, kwargs))

    def run(
        self, command: str, per_worker: Sequence[dict[str, Any]] | dict[str, Any], timeout: float
    ) -> list[dict[str, Any]]:
        """Send `command` to every worker and wait for all the answers."""
        self.submit(command, per_worker)
        return self.collect(command, timeout)

    def collect(self, command: str, timeout: float) -> list[dict[str, Any]]:
        """Every worker's answer to the command submitted last."""
        deadline = time.monotonic() + timeout
        results: list[dict[str, Any] | None] = [None] * len(self.conns)
        while any(r is None for r in results):
            for i, conn in enumerate(self.conns):
                if results[i] is None and conn.poll(0.02):
                    results[i] = conn.recv()
            if time.monotonic() > deadline:
                raise TimeoutError(f"load generator: {command} took more than {timeout:.0f} s")
            for proc in self.procs:
                if not proc.is_alive():
                    raise RuntimeError(f"{proc.name} died (exit code {proc.exitcode})")
        errors = [r["error"] for r in results if r is not None and "error" in r]
        if errors:
            raise RuntimeError("; ".join(errors))
        return cast(list[dict[str, Any]], results)

    def close(self, timeout: float = 30.0) -> None:
        with contextlib.suppress(Exception):
            self.run("exit", {}, timeout)
        for proc in self.procs:
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)

    def __enter__(self) -> GeneratorPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- merging results ------------------------------------------------------------------


def latencies_of(results: Iterable[dict[str, Any]]) -> list[float]:
    values: list[float] = []
    for r in results:
        a = array("d")
        a.frombytes(r["latencies"])
        values.extend(a)
    return values


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50 / p90 / p99 / max / mean in milliseconds (nearest rank)."""
    if not values:
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None, "mean_ms": None}
    s = sorted(values)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))] * 1000

    return {
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p99_ms": rank(0.99),
        "max_ms": s[-1] * 1000,
        "mean_ms": sum(s) / len(s) * 1000,
    }


def merge(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum the counters of several workers' answers; latencies become percentiles."""
    out: dict[str, Any] = {}
    for key in ("results", "call_errors", "unanswered", "overdue", "skipped", "lost_calls",
                "protocol_errors", "server_calls", "unexpected_closes", "open", "stations",
                "connected", "failed_count", "accepted", "attempts"):  # fmt: skip
        if any(key in r for r in results):
            out[key] = sum(int(r.get(key, 0)) for r in results)
    failures: collections.Counter[str] = collections.Counter()
    for r in results:
        failures.update(r.get("failures", {}))
    if failures:
        out["failures"] = dict(failures.most_common(10))
    if any("latencies" in r for r in results):
        out.update(percentiles(latencies_of(results)))
    return out


def source_addresses(first: int, count: int) -> list[str]:
    """127.0.0.2 + first, ... : `count` loopback source addresses."""
    base = int(ipaddress.IPv4Address("127.0.0.2")) + first
    return [str(ipaddress.IPv4Address(base + i)) for i in range(count)]


# --- command line ---------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--sources", type=int, default=1, help="source addresses from 127.0.0.2")
    parser.add_argument("--prefix", default="LG-", help="station ids are PREFIX00000, ...")
    parser.add_argument("--cpu", type=int, default=None, help="pin the generator to this CPU")
    sub = parser.add_subparsers(dest="mode", required=True)
    tp = sub.add_parser("throughput")
    tp.add_argument("--stations", type=int, default=100)
    tp.add_argument("--duration", type=float, default=10.0)
    tp.add_argument("--warmup", type=float, default=2.0)
    rt = sub.add_parser("rate")
    rt.add_argument("--rate", type=float, required=True, help="CALLs per second in total")
    rt.add_argument("--stations", type=int, default=100)
    rt.add_argument("--duration", type=float, default=10.0)
    rt.add_argument("--warmup", type=float, default=2.0)
    hold = sub.add_parser("hold")
    hold.add_argument("--stations", type=int, default=1000)
    hold.add_argument("--period", type=float, default=60.0)
    hold.add_argument("--seconds", type=float, default=60.0, help="measured hold")
    storm = sub.add_parser("storm")
    storm.add_argument("--stations", type=int, default=2000)
    storm.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    stations = [(f"{args.prefix}{i:05d}", i) for i in range(args.stations)]
    sources = source_addresses(0, args.sources)
    with GeneratorPool(args.host, args.port, args.processes, args.cpu) as pool:
        parts = pool.split(stations)
        srcs = pool.split(sources) if len(sources) >= args.processes else [sources] * len(parts)
        if args.mode == "storm":
            at = time.monotonic() + 1.0
            results = pool.run(
                "storm",
                [
                    {"stations": p, "sources": s, "at": at, "until": at + args.timeout}
                    for p, s in zip(parts, srcs, strict=True)
                ],
                args.timeout + 60,
            )
            times = array("d")
            for r in results:
                times.frombytes(r["accepted_at"])
            summary = merge(results)
            summary["seconds_to_all_accepted"] = (max(times) - at) if times else None
            print(json.dumps(summary, indent=2))
            return
        connect = merge(
            pool.run(
                "connect",
                [
                    {"stations": p, "sources": s, "start_transaction": args.mode != "hold"}
                    for p, s in zip(parts, srcs, strict=True)
                ],
                600,
            )
        )
        print("connected:", json.dumps(connect))
        if args.mode == "hold":
            now = time.monotonic()
            pool.run("hold_start", {"period": args.period, "reference": now}, 30)
            results = pool.run(
                "hold_measure", {"start": now, "end": now + args.seconds}, args.seconds + 60
            )
        else:
            start = time.monotonic() + args.warmup
            end = start + args.duration
            if args.mode == "throughput":
                results = pool.run("throughput", {"start": start, "end": end}, end - start + 60)
            else:
                results = pool.run(
                    "rate",
                    [{"rate": args.rate / len(parts), "start": start, "end": end}] * len(parts),
                    end - start + 60,
                )
        summary = merge(results)
        if args.mode in ("throughput", "rate"):
            summary["round_trips_per_s"] = summary["results"] / args.duration
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
