"""OCPP payload validation: fastjsonschema against jsonschema-rs, and Volta's own path.

Compiles every OCPP 1.6 and 2.0.1 schema shipped in the PyPI `ocpp` package with
both libraries, then times the validation of three typical messages. Prints a
table and writes bench/results/validation.json.

    .venv/bin/python bench/bench_validation.py
"""

from __future__ import annotations

import json
import os
import platform
import time
import timeit
from collections.abc import Callable
from importlib import resources
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import fastjsonschema
import jsonschema_rs

from volta.ocpp.errors import OcppError
from volta.ocpp.schemas import SchemaRegistry, registry
from volta.ocpp.versions import Version

RESULTS = Path(__file__).resolve().parent / "results"
COMPILE_REPEATS = 3  # fastjsonschema takes seconds per round; keep the total near 15 s
TIMING_REPEATS = 5
TARGET_SECONDS = 0.1  # per timing repeat

TIMESTAMP = "2024-05-01T12:00:00.000Z"

METER_VALUES_16: dict[str, Any] = {
    "connectorId": 1,
    "transactionId": 4711,
    "meterValue": [
        {
            "timestamp": TIMESTAMP,
            "sampledValue": [
                {"value": "12345.6", "context": "Sample.Periodic", "format": "Raw",
                 "measurand": "Energy.Active.Import.Register", "location": "Outlet",
                 "unit": "Wh"},
                {"value": "7360", "context": "Sample.Periodic", "measurand": "Power.Active.Import",
                 "location": "Outlet", "unit": "W"},
                {"value": "32.0", "context": "Sample.Periodic", "measurand": "Current.Import",
                 "phase": "L1", "location": "Outlet", "unit": "A"},
                {"value": "230.1", "context": "Sample.Periodic", "measurand": "Voltage",
                 "phase": "L1-N", "location": "Outlet", "unit": "V"},
            ],
        }
    ],
}  # fmt: skip

TRANSACTION_EVENT_201: dict[str, Any] = {
    "eventType": "Updated",
    "timestamp": TIMESTAMP,
    "triggerReason": "MeterValuePeriodic",
    "seqNo": 7,
    "transactionInfo": {"transactionId": "b7d9c1e2-0f1a-4d3c-9a2b-5e6f7a8b9c0d",
                        "chargingState": "Charging"},
    "evse": {"id": 1, "connectorId": 1},
    "meterValue": [
        {
            "timestamp": TIMESTAMP,
            "sampledValue": [
                {"value": 12345.6, "context": "Sample.Periodic",
                 "measurand": "Energy.Active.Import.Register", "location": "Outlet",
                 "unitOfMeasure": {"unit": "Wh"}},
                {"value": 7360, "context": "Sample.Periodic", "measurand": "Power.Active.Import",
                 "location": "Outlet", "unitOfMeasure": {"unit": "W"}},
                {"value": 32.0, "context": "Sample.Periodic", "measurand": "Current.Import",
                 "phase": "L1", "location": "Outlet", "unitOfMeasure": {"unit": "A"}},
                {"value": 230.1, "context": "Sample.Periodic", "measurand": "Voltage",
                 "phase": "L1-N", "location": "Outlet", "unitOfMeasure": {"unit": "V"}},
            ],
        }
    ],
}  # fmt: skip

# (label, version, action / schema file stem, payload)
MESSAGES: list[tuple[str, Version, str, dict[str, Any]]] = [
    ("1.6 MeterValues (4 sampled values)", Version.V16, "MeterValues", METER_VALUES_16),
    ("1.6 Heartbeat", Version.V16, "Heartbeat", {}),
    ("2.0.1 TransactionEvent (4 sampled values)", Version.V201, "TransactionEvent",
     TRANSACTION_EVENT_201),
]  # fmt: skip


def load_schemas() -> dict[tuple[Version, str], dict[str, Any]]:
    """Every schema file of both versions, keyed by (version, file stem)."""
    schemas: dict[tuple[Version, str], dict[str, Any]] = {}
    for version in Version:
        folder = resources.files("ocpp").joinpath(version.schema_dir, "schemas")
        for entry in folder.iterdir():
            if entry.name.endswith(".json"):
                schemas[(version, entry.name[:-5])] = json.loads(entry.read_text("utf-8"))
    return schemas


def request_stem(version: Version, action: str) -> str:
    # 1.6 files are named "MeterValues.json", 2.0.1 files "TransactionEventRequest.json".
    return action if version is Version.V16 else action + "Request"


def time_compile(compile_one: Callable[[dict[str, Any]], Any], schemas: list[Any]) -> float:
    """Best of COMPILE_REPEATS, in seconds, for compiling all schemas."""
    best = float("inf")
    for _ in range(COMPILE_REPEATS):
        start = time.perf_counter()
        for schema in schemas:
            compile_one(schema)
        best = min(best, time.perf_counter() - start)
    return best


def time_call(fn: Callable[[Any], Any], payload: Any) -> float:
    """Per-call time in microseconds: best of TIMING_REPEATS, each ~TARGET_SECONDS."""
    timer = timeit.Timer("fn(payload)", globals={"fn": fn, "payload": payload})
    number, taken = timer.autorange()
    number = max(1, int(number * TARGET_SECONDS / max(taken, 1e-9)))
    return min(timer.repeat(repeat=TIMING_REPEATS, number=number)) / number * 1e6


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


def volta_validate(version: Version, action: str, reg: SchemaRegistry) -> Callable[[Any], None]:
    def run(payload: Any) -> None:
        reg.validate(version, action, payload)

    return run


def volta_validate_invalid(
    version: Version, action: str, reg: SchemaRegistry
) -> Callable[[Any], None]:
    def run(payload: Any) -> None:
        # try/except rather than contextlib.suppress: cheaper inside a timed loop.
        try:  # noqa: SIM105
            reg.validate(version, action, payload)
        except OcppError:
            pass

    return run


def main() -> None:
    started = time.perf_counter()
    info = machine()
    versions = {name: dist_version(name) for name in ("ocpp", "fastjsonschema", "jsonschema-rs")}
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    raw = load_schemas()
    schema_list = list(raw.values())
    n_schemas = len(schema_list)

    rs_compile = time_compile(jsonschema_rs.validator_for, schema_list)
    fj_compile = time_compile(fastjsonschema.compile, schema_list)
    reg_start = time.perf_counter()
    reg = SchemaRegistry()  # what start-up pays: read the files, compile every pair
    reg_build = time.perf_counter() - reg_start
    registry()  # warm the process-wide one, as start-up does

    print(f"\ncompile all {n_schemas} schemas (best of {COMPILE_REPEATS})")
    print(f"  {'jsonschema-rs validator_for':<38} {rs_compile * 1e3:10.1f} ms")
    print(f"  {'fastjsonschema.compile':<38} {fj_compile * 1e3:10.1f} ms")
    print(f"  {'volta SchemaRegistry() (read + compile)':<38} {reg_build * 1e3:10.1f} ms")

    rows: list[dict[str, Any]] = []
    for label, version, action, payload in MESSAGES:
        schema = raw[(version, request_stem(version, action))]
        fj = fastjsonschema.compile(schema)
        rs = jsonschema_rs.validator_for(schema)
        # A benchmark of validators that refuse the payload would measure the error path.
        fj(payload)
        assert rs.is_valid(payload), label
        reg.validate(version, action, payload)
        rows.append(
            {
                "message": label,
                "bytes": len(json.dumps(payload, separators=(",", ":"))),
                "fastjsonschema_us": time_call(fj, payload),
                "jsonschema_rs_is_valid_us": time_call(rs.is_valid, payload),
                "jsonschema_rs_validate_us": time_call(rs.validate, payload),
                "volta_registry_validate_us": time_call(
                    volta_validate(version, action, reg), payload
                ),
            }
        )

    # The error path: iter_errors() and the mapping to an OCPP error code.
    broken = {k: v for k, v in METER_VALUES_16.items() if k != "connectorId"}
    invalid_us = time_call(volta_validate_invalid(Version.V16, "MeterValues", reg), broken)

    print(f"\nvalidate one message, microseconds (best of {TIMING_REPEATS})")
    header = f"  {'message':<42} {'bytes':>5} {'fastjson':>9} {'rs is_valid':>11} "
    header += f"{'rs validate':>11} {'volta':>7}"
    print(header)
    for r in rows:
        print(
            f"  {r['message']:<42} {r['bytes']:>5} {r['fastjsonschema_us']:>9.2f} "
            f"{r['jsonschema_rs_is_valid_us']:>11.2f} {r['jsonschema_rs_validate_us']:>11.2f} "
            f"{r['volta_registry_validate_us']:>7.2f}"
        )
    print(f"  1.6 MeterValues missing connectorId, volta (error path): {invalid_us:.2f} us")

    elapsed = time.perf_counter() - started
    print(f"\nbenchmark took {elapsed:.1f} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "validation.json"
    out.write_text(
        json.dumps(
            {
                "machine": info,
                "versions": versions,
                "schemas": n_schemas,
                "compile_ms": {
                    "jsonschema_rs": rs_compile * 1e3,
                    "fastjsonschema": fj_compile * 1e3,
                    "volta_schema_registry": reg_build * 1e3,
                },
                "validate_us": rows,
                "volta_invalid_meter_values_us": invalid_us,
                "elapsed_s": elapsed,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
