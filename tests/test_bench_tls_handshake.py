"""bench/tls_handshake.py, small: every security profile's handshake (plain,
TLS with the RSA and the ECDSA certificate, mutual TLS) completes against a
real Volta, with and without the WebSocket upgrade; the bench's figures are
then real handshakes, not errors counted as fast ones."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


async def test_every_profile_handshakes() -> None:
    # The bench's client process (spawned) imports it by name too.
    sys.path.insert(0, str(BENCH))
    try:
        bench = importlib.import_module("tls_handshake")
        results = await bench.serve_and_measure(6, 2)
    finally:
        sys.path.remove(str(BENCH))
    assert set(results) == {"handshake", "websocket_open"}
    for rows in results.values():
        assert len(rows) >= 4, rows
        for mode, row in rows.items():
            assert row["per_s"] > 0 and row["median_ms"] > 0, (mode, row)
