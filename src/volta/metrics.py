"""Prometheus metrics, exposed at GET /metrics."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

STATIONS_CONNECTED = Gauge(
    "volta_stations_connected", "Stations connected now", ["protocol"], registry=REGISTRY
)
FRAMES = Counter(
    "volta_ocpp_frames_total",
    "OCPP frames received and sent",
    ["direction", "action"],
    registry=REGISTRY,
)
CALL_ERRORS = Counter(
    "volta_ocpp_callerrors_total",
    "CALLERRORs sent to stations, by error code",
    ["code"],
    registry=REGISTRY,
)
RESULT_ERRORS = Counter(
    "volta_ocpp_callresulterrors_total",
    "OCPP 2.1 CALLRESULTERRORs (an answer that could not be processed), by direction and code",
    ["direction", "code"],
    registry=REGISTRY,
)
SENDS = Counter(
    "volta_ocpp_sends_total",
    "OCPP 2.1 SEND frames (never answered), by direction and action",
    ["direction", "action"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "volta_ocpp_handler_seconds",
    "Time to answer a station's CALL",
    ["action"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
DB_COMMIT_SECONDS = Histogram(
    "volta_db_commit_seconds",
    "Database commit latency",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
    registry=REGISTRY,
)
COMMANDS = Counter(
    "volta_commands_total",
    "Commands sent to stations, by outcome",
    ["action", "status"],
    registry=REGISTRY,
)
DB_BATCH_SIZE = Histogram(
    "volta_db_batch_size",
    "Writers sharing one commit (group commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
    registry=REGISTRY,
)
DB_WRITE_FAILURES = Counter(
    "volta_db_write_failures_total",
    "Writes that failed because the database could not be written",
    registry=REGISTRY,
)
DB_SIZE_BYTES = Gauge(
    "volta_db_size_bytes",
    "Size of the database (SQLite: file pages; PostgreSQL: pg_database_size), "
    "refreshed by housekeeping",
    registry=REGISTRY,
)
DB_ROWS = Gauge(
    "volta_db_rows",
    "Rows per table, an estimate refreshed by housekeeping (SQLite: rowid span; "
    "PostgreSQL: reltuples)",
    ["table"],
    registry=REGISTRY,
)
DB_WRITES_FAILING = Gauge(
    "volta_db_writes_failing",
    "1 while database writes fail (the last failed and none succeeded since)",
    registry=REGISTRY,
)
RETENTION_DELETED = Counter(
    "volta_retention_deleted_total",
    "Rows deleted by retention, by table",
    ["table"],
    registry=REGISTRY,
)

# prometheus_client's `labels()` builds and checks the label tuple under a
# lock on every call (about 1.5 us; three calls per round trip, profiled):
# the hot path keeps each labelled child once found. The label values are
# OCPP action names and directions, a set as bounded as the metric's own.
_children: dict[tuple[object, tuple[str, ...]], Any] = {}


def child(metric: Counter | Histogram | Gauge, *values: str) -> Any:
    """`metric.labels(*values)`, looked up once."""
    key = (metric, values)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*values)
    return found
