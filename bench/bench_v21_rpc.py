"""OCPP 2.1 beside 2.0.1: does a 2.1 station cost Volta more per message?

The same message mix on both versions, against a real Volta on SQLite (in
this process, uvloop): each station boots, starts a transaction, then sends
TransactionEvent Updated (with an energy register and a power reading) and
Heartbeat in turn, and ends the transaction. Several stations at once, one
CALL outstanding each, raw `websockets` clients in the same loop. The runs
alternate 2.0.1 and 2.1 (so drift hits both alike); the median run is
reported as messages per second and process CPU time per message, with the
2.1 / 2.0.1 ratios.

A second table times the RPC layer alone (`OcppSession.receive` of a
TransactionEvent CALL, the answer's `result()` and, on 2.1, the retry
memory's bookkeeping), without network or database: the per-message cost
2.1's message-id rules add.

    .venv/bin/python bench/bench_v21_rpc.py                 # ~1-2 min
    .venv/bin/python bench/bench_v21_rpc.py --stations 4 --rounds 100 --runs 3

Writes bench/results/v21_rpc.json. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import uvloop
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from volta.app import Volta
from volta.blocks.authorization import service as tokens
from volta.blocks.provisioning import service as provisioning
from volta.config import Settings
from volta.ocpp.frames import Call
from volta.ocpp.schemas import registry
from volta.ocpp.session import RETRY_MEMORY, CallReceived, OcppSession
from volta.ocpp.versions import Version

RESULTS = Path(__file__).resolve().parent / "results"
PROTOCOLS = ("ocpp2.0.1", "ocpp2.1")
RUN_TIMEOUT = 300.0


def iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def updated(tx: str, n: int, at: dt.datetime) -> dict[str, Any]:
    ts = iso(at)
    return {
        "eventType": "Updated",
        "timestamp": ts,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": n,
        "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
        "meterValue": [
            {
                "timestamp": ts,
                "sampledValue": [
                    {
                        "value": 1000 + 30 * n,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {"value": 11000, "measurand": "Power.Active.Import"},
                ],
            }
        ],
    }


async def one_station(
    port: int, station_id: str, protocol: str, rounds: int, run: int
) -> tuple[int, float]:
    """Boot, a transaction of `rounds` (Updated + Heartbeat), end; the
    messages sent and the seconds from boot to the last answer."""
    auth = base64.b64encode(f"{station_id}:bench-pass-123".encode()).decode()
    ids = itertools.count(1)
    async with websockets.connect(
        f"ws://127.0.0.1:{port}/{station_id}",
        subprotocols=[protocol],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Basic {auth}"},
        compression=None,
        open_timeout=10,
    ) as ws:
        assert ws.subprotocol == protocol, ws.subprotocol

        async def call(action: str, payload: dict[str, Any]) -> Any:
            mid = f"{run}-{next(ids)}"
            await ws.send(orjson.dumps([2, mid, action, payload]).decode())
            reply = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
            if reply[0] != 3 or reply[1] != mid:
                raise RuntimeError(f"unexpected answer {reply!r}")
            return reply[2]

        tx = f"{station_id}-{run}"
        start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10 * (rounds + 10))
        t0 = time.perf_counter()
        await call(
            "BootNotification",
            {"chargingStation": {"model": "m", "vendorName": "v"}, "reason": "PowerUp"},
        )
        await call(
            "TransactionEvent",
            {
                "eventType": "Started",
                "timestamp": iso(start),
                "triggerReason": "Authorized",
                "seqNo": 0,
                "transactionInfo": {"transactionId": tx, "chargingState": "Charging"},
                "evse": {"id": 1, "connectorId": 1},
                "idToken": {"idToken": "BENCH-CARD", "type": "ISO14443"},
            },
        )
        for n in range(1, rounds + 1):
            await call("TransactionEvent", updated(tx, n, start + dt.timedelta(seconds=10 * n)))
            await call("Heartbeat", {})
        end = iso(start + dt.timedelta(seconds=10 * (rounds + 1)))
        await call(
            "TransactionEvent",
            {
                "eventType": "Ended",
                "timestamp": end,
                "triggerReason": "StopAuthorized",
                "seqNo": rounds + 1,
                "transactionInfo": {"transactionId": tx, "stoppedReason": "Local"},
            },
        )
        return 3 + 2 * rounds, time.perf_counter() - t0


async def end_to_end(stations: int, rounds: int, runs: int) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix="volta-bench-")
    settings = Settings(  # type: ignore[call-arg]
        host="127.0.0.1",
        ocpp_port=0,
        api_port=0,
        database_url=f"sqlite:///{tmp}/volta.db",
        api_token="bench-token",
        log_format="text",
        log_level="WARNING",
    )
    volta = Volta(settings)
    await volta.start()
    measured: dict[str, list[dict[str, float]]] = {p: [] for p in PROTOCOLS}
    try:
        await tokens.add_token(volta.db, "BENCH-CARD")
        for p in PROTOCOLS:
            for i in range(stations):
                await provisioning.create_station(
                    volta.db, f"B{p[-3:].replace('.', '')}-{i}", password="bench-pass-123"
                )
        # A warm-up run each, not measured (imports, caches, the database file).
        order = [*PROTOCOLS] + [p for _ in range(runs) for p in PROTOCOLS]
        for index, protocol in enumerate(order):
            c0, t0 = time.process_time(), time.perf_counter()
            done = await asyncio.gather(
                *(
                    one_station(
                        volta.ocpp_port,
                        f"B{protocol[-3:].replace('.', '')}-{i}",
                        protocol,
                        rounds,
                        index,
                    )
                    for i in range(stations)
                )
            )
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            messages = sum(n for n, _ in done)
            if index >= len(PROTOCOLS):
                measured[protocol].append(
                    {
                        "messages": messages,
                        "msg_per_s": messages / wall,
                        # Client and server share this process: the clients'
                        # share is the same on both versions.
                        "cpu_us_per_msg": cpu / messages * 1e6,
                    }
                )
    finally:
        await volta.stop()

    def median(protocol: str, key: str) -> float:
        return statistics.median(r[key] for r in measured[protocol])

    out: dict[str, Any] = {"stations": stations, "rounds": rounds, "runs": runs}
    for p in PROTOCOLS:
        out[p] = {
            "msg_per_s": round(median(p, "msg_per_s"), 1),
            "cpu_us_per_msg": round(median(p, "cpu_us_per_msg"), 1),
            "messages_per_run": measured[p][0]["messages"],
        }
    out["ratio_throughput_21_over_201"] = round(
        out["ocpp2.1"]["msg_per_s"] / out["ocpp2.0.1"]["msg_per_s"], 3
    )
    out["ratio_cpu_21_over_201"] = round(
        out["ocpp2.1"]["cpu_us_per_msg"] / out["ocpp2.0.1"]["cpu_us_per_msg"], 3
    )
    return out


def rpc_layer(count: int, repeats: int) -> dict[str, Any]:
    """The session's own work per CALL: parse, check the retry memory (2.1),
    validate, and remember the answer (2.1). The three variants run in turn,
    `repeats` times, timed in this process's CPU time; the fastest run of
    each is its cost (a busy machine's noise only ever adds)."""
    schemas = registry()
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    frames = [
        orjson.dumps([2, f"m{n}", "TransactionEvent", updated("TX", n, at)]) for n in range(count)
    ]
    variants = {
        "ocpp2.0.1": (Version.V201, RETRY_MEMORY),
        "ocpp2.1": (Version.V21, RETRY_MEMORY),
        "ocpp2.1 without retry memory": (Version.V21, 0),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, (version, memory) in variants.items():
            session = OcppSession(version, schemas, retry_memory=memory)
            t0 = time.process_time()
            for text in frames:
                event = session.receive(text)
                assert isinstance(event, CallReceived)
                call: Call = event.call
                session.answered(call, session.result(call, {}))
            samples[name].append((time.process_time() - t0) / count * 1e6)
    out: dict[str, Any] = {name: round(min(s), 2) for name, s in samples.items()}
    out["ratio_21_over_201"] = round(out["ocpp2.1"] / out["ocpp2.0.1"], 3)
    out["retry_memory_us"] = round(out["ocpp2.1"] - out["ocpp2.1 without retry memory"], 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--stations", type=int, default=8, help="stations at once")
    parser.add_argument("--rounds", type=int, default=150, help="Updated + Heartbeat pairs")
    parser.add_argument("--runs", type=int, default=5, help="measured runs per version")
    args = parser.parse_args()
    uvloop.install()
    rpc = rpc_layer(2000, 15)
    e2e = asyncio.run(
        asyncio.wait_for(end_to_end(args.stations, args.rounds, args.runs), RUN_TIMEOUT)
    )
    cpu = platform.processor() or platform.machine()
    machine = f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"
    print(f"machine: {machine}")
    print(
        f"end to end, SQLite: {e2e['stations']} stations x (boot, Started, "
        f"{e2e['rounds']} x (TransactionEvent Updated + Heartbeat), Ended), "
        f"median of {e2e['runs']} runs"
    )
    print(f"{'version':<11} {'messages/s':>11} {'CPU us/message':>15}")
    for p in PROTOCOLS:
        r = e2e[p]
        print(f"{p:<11} {r['msg_per_s']:>11} {r['cpu_us_per_msg']:>15}")
    print(
        f"2.1 / 2.0.1: throughput {e2e['ratio_throughput_21_over_201']}x, "
        f"CPU per message {e2e['ratio_cpu_21_over_201']}x"
    )
    print("RPC layer alone (session receive + result + retry memory), us per CALL, fastest run:")
    print(
        f"ocpp2.0.1 {rpc['ocpp2.0.1']}   ocpp2.1 {rpc['ocpp2.1']}   "
        f"2.1 without retry memory {rpc['ocpp2.1 without retry memory']}   "
        f"2.1 / 2.0.1 {rpc['ratio_21_over_201']}x; the retry memory: "
        f"{rpc['retry_memory_us']} us per CALL"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "v21_rpc.json").write_text(
        json.dumps({"machine": machine, "end_to_end": e2e, "rpc_layer": rpc}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
