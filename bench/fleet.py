"""Chargers that behave like real ones when their node goes away: bench/scale_out.py.

bench/loadgen.py's stations are built for throughput: they never come back
after a close and refuse what the server asks. These OCPP 1.6 chargers are
for the scale-out bench's command and failover runs:

- each connects to an endpoint (host, port) chosen like a TCP load balancer
  would: a random one of the list, the next one when that refuses;
- boots once (BootNotification, Accepted), and when the connection is lost
  waits 1-10 s at random (a real charger's back-off) and connects again,
  then sends a StatusNotification (a charger reconnecting does not reboot);
- answers the CSMS's CALLs (GetConfiguration, TriggerMessage, ...) with a
  CALLRESULT, so commands through the API get a real answer;
- a charger with a transaction sends StartTransaction once and then
  MeterValues every few seconds, each with an energy register that grows
  by 10 Wh a sample (a key of its own in the database); a transaction
  message that was not answered when the connection went is sent again,
  the same, on the next connection (OCPP 1.6 §4.2: transaction-related
  messages are delivered, in order);
- every CALLRESULT received for a StartTransaction or MeterValues is written
  down, so the bench can check that each has its row in the database.

A Fleet runs in a worker process (FleetPool, the same pipe protocol as
loadgen's GeneratorPool); times are time.monotonic(), the same clock in every
process of the machine.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import datetime as dt
import itertools
import os
import random
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Any, cast

import orjson
import uvloop

from loadgen import (
    CALL,
    CALLERROR,
    CALLRESULT,
    CLOSE,
    CONNECT_TIMEOUT,
    GeneratorPool,
    _client_frame,
    check_loopback,
    pin,
    read_frames,
    serve_commands,
)

BACKOFF = (1.0, 10.0)  # seconds before reconnecting, at random
CALL_TIMEOUT = 30.0
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ID_TAG = "BENCH-TAG"
WH_PER_SAMPLE = 10

# What a charger answers to the CSMS's CALLs (payloads valid for OCPP 1.6).
ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "TriggerMessage": {"status": "Accepted"},
    "ChangeConfiguration": {"status": "Accepted"},
    "ChangeAvailability": {"status": "Accepted"},
    "SetChargingProfile": {"status": "Accepted"},
    "ClearChargingProfile": {"status": "Accepted"},
    "GetCompositeSchedule": {"status": "Rejected"},
    "GetLocalListVersion": {"listVersion": 0},
    "SendLocalList": {"status": "Accepted"},
    "ClearCache": {"status": "Accepted"},
    "DataTransfer": {"status": "Accepted"},
    "RemoteStartTransaction": {"status": "Rejected"},
    "RemoteStopTransaction": {"status": "Rejected"},
    "Reset": {"status": "Rejected"},
    "UnlockConnector": {"status": "NotSupported"},
    "ReserveNow": {"status": "Rejected"},
    "CancelReservation": {"status": "Rejected"},
}
RESUMED = ("StartTransaction", "MeterValues", "StopTransaction")


def stamp(seconds: float) -> str:
    return (BASE_TIME + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Link(asyncio.Protocol):
    """One WebSocket connection of a charger: at most one CALL outstanding."""

    def __init__(self, charger: Charger, host: str, port: int) -> None:
        self.charger = charger
        key = base64.b64encode(os.urandom(16)).decode()
        self.request = (
            f"GET /{charger.id} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[bytes] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.upgraded = False
        self.closed = False
        self.waiting: tuple[str, asyncio.Future[tuple[int, Any]]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during the handshake: {exc}"))
        if self.waiting is not None and not self.waiting[1].done():
            self.waiting[1].set_exception(ConnectionError("connection closed before the answer"))
        self.waiting = None
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        for opcode, payload in read_frames(self, data):
            if opcode == 0x1:
                self._on_text(payload)
            elif opcode == 0x9:
                self.write(_client_frame(0xA, payload))
            elif opcode == 0x8:
                self.charger.fleet.close_codes[
                    int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                ] += 1
                self.write(CLOSE)

    def _on_text(self, payload: bytes) -> None:
        fleet = self.charger.fleet
        try:
            msg = orjson.loads(payload)
            kind, message_id = msg[0], msg[1]
        except (orjson.JSONDecodeError, IndexError, KeyError, TypeError):
            fleet.protocol_errors += 1
            return
        if kind == CALL:
            action = msg[2]
            fleet.server_calls[action] += 1
            answer = ANSWERS.get(action)
            if answer is None:
                reply: list[Any] = [CALLERROR, message_id, "NotImplemented", action, {}]
            else:
                reply = [CALLRESULT, message_id, answer]
            self.write(_client_frame(0x1, orjson.dumps(reply)))
        elif self.waiting is not None and message_id == self.waiting[0]:
            _, fut = self.waiting
            self.waiting = None
            if not fut.done():
                fut.set_result((kind, msg[2] if kind == CALLRESULT else msg[2:]))
        else:
            fleet.protocol_errors += 1

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def call(self, action: str, payload: dict[str, Any]) -> tuple[int, Any]:
        if self.closed:
            raise ConnectionError("connection closed")
        fut: asyncio.Future[tuple[int, Any]] = asyncio.get_running_loop().create_future()
        message_id = f"{self.charger.id}-{next(self.charger.ids)}"
        self.waiting = (message_id, fut)
        self.write(_client_frame(0x1, orjson.dumps([CALL, message_id, action, payload])))
        return await asyncio.wait_for(fut, CALL_TIMEOUT)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(CLOSE)
            self.transport.close()


class Charger:
    """One charger's life: connect, boot, (transaction), reconnect when dropped."""

    def __init__(self, fleet: Fleet, station_id: str, index: int, transaction: bool) -> None:
        self.fleet = fleet
        self.id = station_id
        self.index = index
        self.wants_transaction = transaction
        self.rng = random.Random(f"{station_id}")
        self.ids = itertools.count(1)
        self.link: Link | None = None
        self.booted = False
        self.transaction_id: int | None = None
        self.meter_seq = 0
        # A transaction message not answered yet, to send again: (action, payload, seq).
        self.pending: tuple[str, dict[str, Any], int] | None = None
        self.acked_samples: list[int] = []
        self.start_acked = False
        self.connections = 0
        self.connected_at: list[float] = []  # monotonic, each time it is online again
        self.resent = 0
        self.errors = 0
        self.ready = asyncio.Event()  # online, and its transaction started if it has one

    @property
    def online(self) -> bool:
        return self.link is not None and not self.link.closed and self.booted

    async def _open(self, host: str, port: int, source: str | None) -> Link:
        loop = asyncio.get_running_loop()
        _, link = await asyncio.wait_for(
            loop.create_connection(
                lambda: Link(self, host, port),
                host,
                port,
                local_addr=(source, 0) if source else None,
            ),
            CONNECT_TIMEOUT,
        )
        try:
            head = await asyncio.wait_for(link.handshake, CONNECT_TIMEOUT)
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if not status.startswith("HTTP/1.1 101"):
                raise ConnectionRefusedError(f"upgrade refused: {status}")
        except BaseException:
            link.closed = True
            if link.transport is not None:
                link.transport.abort()
            raise
        return link

    async def connect(self) -> Link | None:
        """A random endpoint, then the others in turn (what a load balancer does
        when a backend refuses); None when every one refused."""
        endpoints = list(self.fleet.endpoints)
        first = self.rng.randrange(len(endpoints))
        for host, port in endpoints[first:] + endpoints[:first]:
            try:
                return await self._open(host, port, self.fleet.source_for(self.index))
            except (OSError, TimeoutError) as exc:
                self.fleet.failures[f"connect: {type(exc).__name__}: {exc}"[:100]] += 1
        return None

    async def deliver(self, link: Link, action: str, payload: dict[str, Any], seq: int = 0) -> Any:
        """Send a CALL; a transaction message stays pending (sent again after a
        reconnection) until it is answered. `seq`: the MeterValues sample's number."""
        if action in RESUMED:
            self.pending = (action, payload, seq)
        kind, result = await link.call(action, payload)
        if action in RESUMED:
            self.pending = None
        if kind != CALLRESULT:
            self.errors += 1
            self.fleet.failures[f"{action}: CALLERROR {result}"[:100]] += 1
            return None
        if action == "StartTransaction":
            self.transaction_id = int(result["transactionId"])
            self.start_acked = True
        elif action == "MeterValues":
            self.acked_samples.append(seq)
        return result

    def meter_payload(self, seq: int) -> dict[str, Any]:
        return {
            "connectorId": 1,
            "transactionId": self.transaction_id,
            "meterValue": [
                {
                    "timestamp": stamp(self.index + seq),
                    "sampledValue": [
                        {"value": str(seq * WH_PER_SAMPLE), "context": "Sample.Periodic",
                         "measurand": "Energy.Active.Import.Register", "unit": "Wh"}
                    ],
                }
            ],
        }  # fmt: skip

    async def _session(self, link: Link) -> None:
        fleet = self.fleet
        if not self.booted:
            result = await self.deliver(
                link,
                "BootNotification",
                {"chargePointVendor": "VoltaBench", "chargePointModel": "Fleet-1"},
            )
            if result is None or result.get("status") != "Accepted":
                raise RuntimeError(f"BootNotification: {result}")
            self.booted = True
        else:
            await self.deliver(
                link,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError",
                 "status": "Charging" if self.transaction_id else "Available"},
            )  # fmt: skip
        self.connections += 1
        self.connected_at.append(time.monotonic())
        if self.pending is not None:
            self.resent += 1
            await self.deliver(link, *self.pending)
        if self.wants_transaction and self.transaction_id is None:
            await self.deliver(
                link,
                "StartTransaction",
                {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0,
                 "timestamp": stamp(self.index)},
            )  # fmt: skip
        self.ready.set()
        while not fleet.stopping:
            if self.transaction_id is None or not fleet.metering:
                waiter = fleet.changed
                await asyncio.wait(
                    [link.lost, asyncio.ensure_future(waiter.wait())],
                    return_when=asyncio.FIRST_COMPLETED,
                )
            else:
                period = fleet.meter_interval
                delay = self.rng.uniform(0.5, 1.5) * period
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(link.lost), delay)
                if not link.closed and fleet.metering and not fleet.stopping:
                    self.meter_seq += 1
                    seq = self.meter_seq
                    await self.deliver(link, "MeterValues", self.meter_payload(seq), seq)
            if link.closed:
                return

    async def run(self) -> None:
        fleet = self.fleet
        while not fleet.stopping:
            link = await self.connect()
            if link is None:
                await asyncio.sleep(self.rng.uniform(*self.fleet.backoff))
                continue
            self.link = link
            try:
                await self._session(link)
            except (ConnectionError, OSError, TimeoutError, RuntimeError) as exc:
                fleet.failures[f"session: {type(exc).__name__}: {exc}"[:100]] += 1
            finally:
                if fleet.stopping:
                    link.close()
            if fleet.stopping:
                return
            if not link.closed:  # the session ended without the link closing: odd
                link.close()
            fleet.drops += 1
            await asyncio.sleep(self.rng.uniform(*self.fleet.backoff))


class Fleet:
    """Chargers of one worker process; commands come from FleetPool."""

    def __init__(self) -> None:
        self.chargers: list[Charger] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.endpoints: list[tuple[str, int]] = []
        self.sources: list[str] = []
        self.stopping = False
        self.metering = False
        self.meter_interval = 3.0
        self.backoff = BACKOFF
        self.changed = asyncio.Event()
        self.failures: collections.Counter[str] = collections.Counter()
        self.server_calls: collections.Counter[str] = collections.Counter()
        self.close_codes: collections.Counter[int] = collections.Counter()
        self.protocol_errors = 0
        self.drops = 0

    def source_for(self, index: int) -> str | None:
        return self.sources[index % len(self.sources)] if self.sources else None

    def _poke(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def ping(self) -> dict[str, Any]:
        return {"pid": os.getpid()}

    async def start(
        self,
        stations: Sequence[tuple[str, int, bool]],
        endpoints: Sequence[tuple[str, int]],
        sources: Sequence[str],
        timeout: float = 120.0,
        backoff: tuple[float, float] = BACKOFF,
    ) -> dict[str, Any]:
        """Start the chargers (id, index, with a transaction) on `endpoints`; return
        once each is online (and its transaction started) or after `timeout`.
        `backoff`: the range of the random wait before reconnecting (s)."""
        check_loopback(*sources, *(h for h, _ in endpoints))
        self.backoff = (float(backoff[0]), float(backoff[1]))
        self.endpoints = [(h, int(p)) for h, p in endpoints]
        self.sources = list(sources)
        started = time.monotonic()
        new = [Charger(self, sid, index, tx) for sid, index, tx in stations]
        self.chargers += new
        semaphore = asyncio.Semaphore(200)

        async def launch(charger: Charger) -> None:
            async with semaphore:  # no more than 200 handshakes at once
                task = asyncio.ensure_future(charger.run())
                self.tasks.append(task)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(charger.ready.wait(), timeout)

        await asyncio.gather(*(launch(c) for c in new))
        ready = sum(1 for c in new if self._ready(c))
        return {"stations": len(new), "ready": ready, "seconds": time.monotonic() - started,
                **self.counters()}  # fmt: skip

    @staticmethod
    def _ready(c: Charger) -> bool:
        return c.online and (not c.wants_transaction or c.transaction_id is not None)

    async def endpoints_set(self, endpoints: Sequence[tuple[str, int]]) -> dict[str, Any]:
        check_loopback(*(h for h, _ in endpoints))
        self.endpoints = [(h, int(p)) for h, p in endpoints]
        return {"endpoints": len(self.endpoints)}

    async def meter(self, on: bool, interval: float = 3.0) -> dict[str, Any]:
        self.metering = on
        self.meter_interval = interval
        self._poke()
        return {"metering": on}

    def counters(self) -> dict[str, Any]:
        return {
            "online": sum(1 for c in self.chargers if c.online),
            "drops": self.drops,
            "protocol_errors": self.protocol_errors,
            "failures": dict(self.failures.most_common(10)),
            "calls_from_server": dict(self.server_calls),
            "close_codes": {str(k): v for k, v in self.close_codes.items()},
        }

    async def status(self, since: float = 0.0) -> dict[str, Any]:
        """How many are online, and how many came back online after `since`."""
        back = [next((t for t in c.connected_at if t >= since), None) for c in self.chargers]
        times = [t for t in back if t is not None]
        return {
            "stations": len(self.chargers),
            "back": len(times),
            "last_back": max(times) if times else None,
            **self.counters(),
        }

    async def ledger(self) -> dict[str, Any]:
        """What the server acknowledged: per charger, the transaction and samples."""
        return {
            "chargers": [
                {
                    "id": c.id,
                    "transaction_id": c.transaction_id,
                    "start_acked": c.start_acked,
                    "samples": c.acked_samples,
                    "connections": c.connections,
                    "resent": c.resent,
                    "pending": c.pending[0] if c.pending else None,
                }
                for c in self.chargers
            ],
            **self.counters(),
        }

    async def close(self) -> dict[str, Any]:
        self.stopping = True
        self._poke()
        for c in self.chargers:
            if c.link is not None:
                c.link.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        counters = self.counters()
        self.chargers.clear()
        self.tasks.clear()
        self.stopping = False
        return counters


async def _serve(ctrl: Connection) -> None:
    await serve_commands(ctrl, Fleet())


def fleet_main(ctrl: Connection, cpu: int | None) -> None:
    pin(cpu)
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(_serve(ctrl))


class FleetPool(GeneratorPool):
    """Worker processes running a Fleet each (spawned, pinned to `cpu`)."""

    def __init__(self, processes: int = 1, cpu: int | None = None) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conns = []
        self.procs = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=fleet_main, args=(child, cpu), name=f"fleet-{i}", daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
