"""bench/scale_out.py's failover phase, small: two real `volta serve` nodes on
a fresh PostgreSQL database and a real nats-server, and a SIGKILL of the node
holding 30 stations, 6 of them charging. The harness must see what a user
would: every station back online on the survivor, nothing acknowledged
missing, no session twice, the dead node's lease gone."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REQUIRE_PG, _pg_available

BENCH = Path(__file__).resolve().parent.parent / "bench"
NATS = Path("/usr/sbin/nats-server")


@pytest.fixture
def scale_out() -> Any:
    import shutil

    if not (shutil.which("nats-server") or NATS.exists()):
        pytest.skip("nats-server is not installed")
    if not asyncio.run(_pg_available()):
        if REQUIRE_PG:
            pytest.fail("PostgreSQL required but unreachable")
        pytest.skip("PostgreSQL not reachable")
    sys.path.insert(0, str(BENCH))
    try:
        import scale_out as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_failover_brings_every_station_back_and_loses_nothing(scale_out: Any) -> None:
    from run_load import Addresses

    plan = scale_out.Plan(
        mode="test",
        failover_stations=30,
        failover_transactions=6,
        meter_interval=0.4,
        settle=1.5,
        after=1.0,
        in_flight=0.5,
        backoff=(0.2, 1.5),
        failover_timeout=20.0,
    )
    cleanup = scale_out.ScaleCleanup(keep_logs=False)
    # A short lease, so that the dead node's row goes within the test's time.
    lease = {
        "VOLTA_NODE_LEASE": "2",
        "VOLTA_NODE_HEARTBEAT": "0.5",
        "VOLTA_DATABASE_POOL_SIZE": "3",
    }
    ctx = scale_out.Context(plan, cleanup, Addresses(), (None, None), node_env=lease)
    try:
        r = scale_out.phase_failover(ctx)
    finally:
        cleanup.run()
    assert "error" not in r, r
    assert r["online_on_a_before_kill"] == 30, r  # a saw b's stations through NATS
    assert r["seconds_to_all_online"] is not None and r["seconds_to_all_online"] < 20, r
    assert r["reconnections"] == 30, r
    assert r["acked_starts"] == 6 and r["acked_samples"] > 6, r
    assert r["lost"] == 0, r["lost_examples"]
    assert r["duplicate_sessions"] == 0, r
    assert r["seconds_until_b_lease_gone"] is not None, r
