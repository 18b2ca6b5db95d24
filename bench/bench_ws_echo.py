"""Raw WebSocket echo on loopback: `websockets` (asyncio server on uvloop) against `picows`.

The server runs in one process, pinned to one core; a lean load generator runs in
another process, pinned to the other core. The client is the same for every
server: a bare asyncio protocol on uvloop that sends a pre-built, pre-masked
text frame (an OCPP 1.6 MeterValues CALL) and waits for the echo before sending
the next one, on a few connections at once. Server CPU time is read from
/proc/<pid>/stat around each measured run, so "per server core" is round trips
per second of server CPU.

Only 127.0.0.1 is used. Every wait has a deadline; the whole run is bounded.
Prints a table and writes bench/results/ws_echo.json.

    .venv/bin/python bench/bench_ws_echo.py
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import platform
import statistics
import struct
import time
import zlib
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import uvloop

RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
RUNS = 5  # measured runs per stack; the median is reported
STACK_TIMEOUT = 60.0  # seconds for one stack, start to finish
SERVER_CPU, CLIENT_CPU = 0, 1

MESSAGE = json.dumps(
    [
        2,
        "3f2a6c1e-8d4b-4c7a-9e1f-2b3c4d5e6f70",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": 4711,
            "meterValue": [
                {
                    "timestamp": "2024-05-01T12:00:00.000Z",
                    "sampledValue": [
                        {"value": "12345.6", "measurand": "Energy.Active.Import.Register",
                         "unit": "Wh"},
                        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
                        {"value": "32.0", "measurand": "Current.Import", "unit": "A"},
                        {"value": "230.1", "measurand": "Voltage", "unit": "V"},
                    ],
                }
            ],
        },
    ],
    separators=(",", ":"),
)  # fmt: skip

# (name, label, compression offered by the client)
STACKS: list[tuple[str, str, bool]] = [
    ("websockets", "websockets + uvloop", False),
    ("websockets", "websockets + uvloop, permessage-deflate", True),
    ("picows", "picows + uvloop", False),
]


@dataclass(frozen=True)
class Load:
    # With 16 connections in flight both servers keep their core busy on a 2-core
    # machine; with 4, the figures mostly measure loopback wake-up latency.
    connections: int = 16
    round_trips: int = 32_000  # per measured run, spread over the connections
    runs: int = RUNS

    @property
    def per_connection(self) -> int:
        return max(1, self.round_trips // self.connections)


# --- helpers ---------------------------------------------------------------------


def usable_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return []


def pin(index: int) -> bool:
    """Pin this process to the index-th usable CPU, when there are two or more."""
    cpus = usable_cpus()
    if len(cpus) < 2:
        return False
    try:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})
    except OSError:
        return False
    return True


def cpu_seconds(pid: int) -> float:
    """utime + stime of another process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" the state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def package_version(name: str) -> str | None:
    try:
        return dist_version(name)
    except PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


# --- servers (child process) ---------------------------------------------------------


async def serve_websockets(ctrl: Connection) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    # Volta's gateway settings, minus pings (a run lasts seconds) and auth.
    async with serve(
        echo, HOST, 0, compression="deflate", ping_interval=None, max_size=65536
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ctrl.send(port)
        await asyncio.get_running_loop().run_in_executor(None, ctrl.recv)


async def serve_picows(ctrl: Connection) -> None:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

    class Echo(WSListener):
        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if frame.msg_type is WSMsgType.TEXT:
                # Decode and re-encode, as websockets does: an OCPP server needs the str.
                transport.send(WSMsgType.TEXT, frame.get_payload_as_utf8_text().encode())
            elif frame.msg_type is WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    server = await ws_create_server(lambda request: Echo(), HOST, 0)
    port = server.sockets[0].getsockname()[1]
    ctrl.send(port)
    await asyncio.get_running_loop().run_in_executor(None, ctrl.recv)
    server.close()


def server_main(name: str, ctrl: Connection) -> None:
    pin(SERVER_CPU)
    uvloop.run(serve_websockets(ctrl) if name == "websockets" else serve_picows(ctrl))


# --- the load generator (child process) ---------------------------------------------


def build_frame(text: str, compress: bool) -> bytes:
    """One masked client text frame (RFC 6455 §5.2), optionally deflated (RFC 7692 §7.2.1)."""
    payload = text.encode()
    first = 0x81
    if compress:
        # client_no_context_takeover: every message compresses the same way.
        deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        payload = (deflater.compress(payload) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4]
        first |= 0x40  # RSV1: "this message is compressed"
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    return header + mask + masked


class EchoClient(asyncio.Protocol):
    """Upgrade, then send the frame, wait for one data frame back, repeat."""

    def __init__(self, port: int, frame: bytes, compress: bool) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        extension = (
            "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
            if compress
            else ""
        )
        self.request = (
            f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n{extension}\r\n"
        ).encode()
        self.frame = frame
        self.buffer = bytearray()
        self.upgraded: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.left = 0
        self.done: asyncio.Future[None] | None = None
        self.first_reply: bytes | None = None
        self.first_rsv1 = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but quack alike.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.upgraded, self.done):
            if fut is not None and not fut.done():
                fut.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[: end + 4])
            del buf[: end + 4]
            self.upgraded.set_result(head)
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
            if self.first_reply is None and opcode in (0x1, 0x2):
                self.first_reply = bytes(buf[start : start + n])
                self.first_rsv1 = bool(buf[0] & 0x40)
            del buf[: start + n]
            if opcode in (0x1, 0x2, 0x0):  # data frames; control frames do not count
                self.left -= 1
                if self.left > 0:
                    assert self.transport is not None
                    self.transport.write(self.frame)
                elif self.done is not None and not self.done.done():
                    self.done.set_result(None)

    def run(self, rounds: int) -> asyncio.Future[None]:
        assert self.transport is not None
        self.left = rounds
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(self.frame)
        return self.done


async def client_run(port: int, compress: bool, load: Load, ctrl: Connection) -> None:
    loop = asyncio.get_running_loop()
    frame = build_frame(MESSAGE, compress)
    clients: list[EchoClient] = []
    for _ in range(load.connections):
        _, proto = await loop.create_connection(
            lambda: EchoClient(port, frame, compress), HOST, port
        )
        head = await asyncio.wait_for(proto.upgraded, 10)
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"upgrade refused: {head[:80]!r}")
        negotiated = b"permessage-deflate" in head.lower()
        if negotiated != compress:
            raise RuntimeError(f"permessage-deflate negotiated={negotiated}, wanted {compress}")
        clients.append(proto)

    per_conn = load.per_connection
    # Warm-up: a tenth of a run, not measured.
    await asyncio.wait_for(asyncio.gather(*(c.run(max(1, per_conn // 10)) for c in clients)), 30)
    # Check once that the echo is the message (inflated when compressed).
    reply = clients[0].first_reply or b""
    if clients[0].first_rsv1:
        reply = zlib.decompressobj(-15).decompress(reply + b"\x00\x00\xff\xff")
    if reply.decode() != MESSAGE:
        raise RuntimeError("the echo differs from the message sent")

    for _ in range(load.runs):
        ctrl.send("ready")
        ctrl.recv()  # "go": the parent has read the server's CPU time; nothing is in flight
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(c.run(per_conn) for c in clients)), 30)
        t1, cpu1 = time.perf_counter(), time.process_time()
        ctrl.send({"round_trips": per_conn * load.connections, "wall": t1 - t0, "cpu": cpu1 - cpu0})
    for c in clients:
        assert c.transport is not None
        c.transport.write(b"\x88\x82" + b"\x00" * 4 + struct.pack("!H", 1000))  # close 1000
        c.transport.close()


def client_main(port: int, compress: bool, load: Load, ctrl: Connection) -> None:
    pin(CLIENT_CPU)
    try:
        uvloop.run(client_run(port, compress, load, ctrl))
    except Exception as exc:
        ctrl.send({"error": f"{type(exc).__name__}: {exc}"})


# --- the parent ---------------------------------------------------------------------


def recv(conn: Connection, deadline: float, *procs: Any) -> Any:
    """The next message from a child, or an error once the deadline passes or a
    child has died."""
    while not conn.poll(0.1):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer within {STACK_TIMEOUT:.0f} s")
        for proc in procs:
            if not proc.is_alive():
                raise RuntimeError(f"{proc.name} exited with code {proc.exitcode}")
    return conn.recv()


def measure(name: str, compress: bool, load: Load) -> dict[str, Any]:
    ctx = mp.get_context("spawn")  # a clean interpreter per process, no inherited loop
    deadline = time.monotonic() + STACK_TIMEOUT
    server_ctrl, server_end = ctx.Pipe()
    client_ctrl, client_end = ctx.Pipe()
    server = ctx.Process(target=server_main, args=(name, server_end), daemon=True)
    server.start()
    client = None
    try:
        port = recv(server_ctrl, deadline, server)
        client = ctx.Process(
            target=client_main, args=(port, compress, load, client_end), daemon=True
        )
        client.start()
        assert server.pid is not None
        runs = []
        for _ in range(load.runs):
            msg = recv(client_ctrl, deadline, server, client)
            if isinstance(msg, dict) and "error" in msg:
                raise RuntimeError(msg["error"])
            server_cpu0 = cpu_seconds(server.pid)
            client_ctrl.send("go")
            result = recv(client_ctrl, deadline, server, client)
            if "error" in result:
                raise RuntimeError(result["error"])
            server_cpu = cpu_seconds(server.pid) - server_cpu0
            rt = result["round_trips"]
            runs.append(
                {
                    "round_trips": rt,
                    "wall_s": result["wall"],
                    "round_trips_per_s": rt / result["wall"],
                    "server_cpu_s": server_cpu,
                    "server_core_use": server_cpu / result["wall"],
                    "round_trips_per_server_cpu_s": rt / server_cpu if server_cpu else None,
                    "client_core_use": result["cpu"] / result["wall"],
                }
            )
        client.join(max(0.0, deadline - time.monotonic()))
        server_ctrl.send("stop")
        server.join(max(0.0, min(5.0, deadline - time.monotonic())))
    finally:
        for proc in (client, server):
            if proc is not None and proc.is_alive():
                proc.terminate()
                proc.join(2)

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in runs if r[key] is not None))

    rates = [r["round_trips_per_s"] for r in runs]
    summary = {
        "round_trips_per_s": median("round_trips_per_s"),
        "round_trips_per_s_min": min(rates),
        "round_trips_per_s_max": max(rates),
        "server_core_use": median("server_core_use"),
        "round_trips_per_server_cpu_s": median("round_trips_per_server_cpu_s"),
        "client_core_use": median("client_core_use"),
    }
    return {"runs": runs, "median": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connections", type=int, default=Load.connections)
    parser.add_argument("--round-trips", type=int, default=Load.round_trips, help="per run")
    parser.add_argument("--runs", type=int, default=Load.runs)
    args = parser.parse_args()
    load = Load(args.connections, args.round_trips, args.runs)
    info = machine()
    cpus = usable_cpus()
    pinned = len(cpus) >= 2
    versions = {n: package_version(n) for n in ("websockets", "picows", "uvloop")}
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}")
    print("versions: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in versions.items()))
    print(
        f"{load.per_connection * load.connections} round trips per run over "
        f"{load.connections} connections (after a 10% warm-up), median of {load.runs} runs, "
        f"{len(MESSAGE)}-byte text message; "
        + (
            f"server on CPU {cpus[SERVER_CPU]}, client on CPU {cpus[CLIENT_CPU]}"
            if pinned
            else "not pinned (fewer than 2 usable CPUs)"
        )
    )

    try:
        import picows  # noqa: F401

        have_picows = True
    except ImportError:
        have_picows = False

    results: list[dict[str, Any]] = []
    print(
        f"\n  {'server':<40} {'round trips/s':>13} {'(min-max)':>15} {'server core':>11} "
        f"{'rt per server CPU-s':>19} {'client core':>11}"
    )
    for name, label, compress in STACKS:
        if name == "picows" and not have_picows:
            print(f"  {label:<40} SKIPPED: picows is not importable (pip install picows)")
            results.append({"stack": label, "skipped": "picows not importable"})
            continue
        try:
            measured = measure(name, compress, load)
        except (TimeoutError, RuntimeError, OSError) as exc:
            print(f"  {label:<40} FAILED: {exc}")
            results.append({"stack": label, "failed": str(exc)})
            continue
        m = measured["median"]
        spread = f"{m['round_trips_per_s_min']:,.0f}-{m['round_trips_per_s_max']:,.0f}"
        print(
            f"  {label:<40} {m['round_trips_per_s']:>13,.0f} {spread:>15} "
            f"{m['server_core_use']:>11.0%} {m['round_trips_per_server_cpu_s']:>19,.0f} "
            f"{m['client_core_use']:>11.0%}"
        )
        results.append({"stack": label, "compression": compress, **measured})

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "ws_echo.json"
    out.write_text(
        json.dumps(
            {
                "machine": info,
                "versions": versions,
                "pinned": pinned,
                "connections": load.connections,
                "round_trips_per_run": load.per_connection * load.connections,
                "runs": load.runs,
                "message_bytes": len(MESSAGE),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
