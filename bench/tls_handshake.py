"""The cost of a station's connection handshake on the OCPP port, per security
profile: plain TCP (profile 1), TLS with the RSA or the ECDSA server
certificate (profile 2), and mutual TLS (profile 3), side by side in one run.

A real Volta (SQLite in a temporary directory, picows) listens with TLS (an
RSA and an ECDSA certificate, client certificates optional, from a PKI made
here) and on its plain port beside it. A client process makes `--count`
full handshakes per mode, `--concurrency` at a time (no session resumption:
every handshake is a full one, as after a restart of Volta or of a load
balancer), each a TCP connection, the TLS handshake, then close; then the
same again with the WebSocket upgrade and the admission (a station without
password, so no PBKDF2). Prints handshakes/s and the median and p95 ms per
handshake and writes bench/results/tls_handshake.json.

    .venv/bin/python bench/tls_handshake.py [--count 400] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import platform
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.security.tls_pki import CsmsPki  # noqa: E402

from volta.app import Volta  # noqa: E402
from volta.blocks.provisioning import service as provisioning  # noqa: E402
from volta.config import Settings  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# mode -> (TLS?, max TLS version, TLS 1.2 suite, client certificate?)
MODES: dict[str, tuple[bool, str | None, str | None, bool]] = {
    "plain (profile 1)": (False, None, None, False),
    "TLS 1.2 ECDHE-RSA (profile 2)": (True, "1.2", "ECDHE-RSA-AES128-GCM-SHA256", False),
    "TLS 1.2 RSA kx (profile 2)": (True, "1.2", "AES128-GCM-SHA256", False),
    "TLS 1.2 ECDHE-ECDSA (profile 2)": (True, "1.2", "ECDHE-ECDSA-AES128-GCM-SHA256", False),
    "TLS 1.3 (profile 2)": (True, "1.3", None, False),
    "TLS 1.3 mutual (profile 3)": (True, "1.3", None, True),
    "TLS 1.2 ECDHE-ECDSA mutual (profile 3)": (
        True,
        "1.2",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        True,
    ),
}


def client_context(files: dict[str, str], mode: str) -> ssl.SSLContext | None:
    tls, version, suite, mutual = MODES[mode]
    if not tls:
        return None
    ctx = ssl.create_default_context(cafile=files["server_ca"])
    if version == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if suite:
        ctx.set_ciphers(suite)
    if mutual:
        ctx.load_cert_chain(files["client_cert"], files["client_key"])
    return ctx


async def one(port: int, ctx: ssl.SSLContext | None, upgrade: bool) -> float:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ctx, server_hostname="127.0.0.1" if ctx else None
    )
    if upgrade:
        writer.write(
            b"GET /ocpp/BENCH HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
        )
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head[:40]
    elapsed = time.perf_counter() - start
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return elapsed


async def worker(
    port: int, ctx: ssl.SSLContext | None, upgrade: bool, todo: list[int], times: list[float]
) -> None:
    while todo:
        todo.pop()
        times.append(await one(port, ctx, upgrade))


async def measure(
    ports: dict[str, int], files: dict[str, str], count: int, concurrency: int, upgrade: bool
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for mode in MODES:
        ctx = client_context(files, mode)
        port = ports["tls"] if MODES[mode][0] else ports["plain"]
        for _ in range(10):  # warm up
            await one(port, ctx, upgrade)
        times: list[float] = []
        todo = list(range(count))
        start = time.perf_counter()
        await asyncio.gather(*(worker(port, ctx, upgrade, todo, times) for _ in range(concurrency)))
        wall = time.perf_counter() - start
        times.sort()
        out[mode] = {
            "per_s": round(count / wall, 1),
            "median_ms": round(statistics.median(times) * 1000, 2),
            "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 2),
        }
    return out


def client_process(
    ports: dict[str, int], files: dict[str, str], count: int, concurrency: int, queue: Any
) -> None:
    results = {
        "handshake": asyncio.run(measure(ports, files, count, concurrency, False)),
        "websocket_open": asyncio.run(measure(ports, files, count, concurrency, True)),
    }
    queue.put(results)


async def serve_and_measure(count: int, concurrency: int) -> dict[str, Any]:
    pki = CsmsPki.create()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        tls = pki.settings(directory)
        client = pki.station_ca.issue_client("BENCH")
        client_cert, client_key = client.write(directory / "client")
        settings = Settings(
            host="127.0.0.1",
            ocpp_port=0,
            api_port=0,
            ocpp_plain_port=0,
            database_url=f"sqlite:///{directory}/volta.db",
            log_level="WARNING",
            api_token="bench-token-not-used-0123456789",
            tls_reload_interval=0,
            **tls,  # type: ignore[arg-type]
        )
        volta = Volta(settings)
        await volta.start()
        try:
            await provisioning.create_station(volta.db, "BENCH")
            ports = {"tls": volta.ocpp_port, "plain": volta.gateway.plain_port or 0}
            files = {
                "server_ca": pki.server_ca.write(directory / "server-ca.pem"),
                "client_cert": client_cert,
                "client_key": client_key,
            }
            queue: Any = multiprocessing.get_context("spawn").Queue()
            proc = multiprocessing.get_context("spawn").Process(
                target=client_process, args=(ports, files, count, concurrency, queue)
            )
            proc.start()
            loop = asyncio.get_running_loop()
            # Bounded: a client that died (an import error in the spawned
            # process) must not leave the bench waiting for ever.
            results: dict[str, Any] = await loop.run_in_executor(
                None, lambda: queue.get(timeout=120 + count)
            )
            await loop.run_in_executor(None, proc.join)
        finally:
            await volta.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=400, help="handshakes per mode")
    parser.add_argument("--concurrency", type=int, default=8, help="handshakes at once")
    args = parser.parse_args()
    results = asyncio.run(serve_and_measure(args.count, args.concurrency))
    for kind, rows in results.items():
        print(f"\n{kind} ({args.count} per mode, {args.concurrency} at once)")
        print(f"{'mode':<42} {'per s':>8} {'median ms':>10} {'p95 ms':>8}")
        for mode, row in rows.items():
            print(f"{mode:<42} {row['per_s']:>8} {row['median_ms']:>10} {row['p95_ms']:>8}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tls_handshake.json").write_text(
        json.dumps(
            {
                "count": args.count,
                "concurrency": args.concurrency,
                "machine": platform.platform(),
                "python": platform.python_version(),
                "openssl": ssl.OPENSSL_VERSION,
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
