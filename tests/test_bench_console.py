"""bench/bench_console.py on a tiny seed (50 stations, 500 sessions), so the
console benchmark cannot rot: the seed fits the schema, the sign-in works,
every page of the side menu is reached (answering, or 404 while not built),
fragments are found in the pages' HTML, and the table prints. No timings
are checked here."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests import schema_cache
from volta.store.db import Database
from volta.web import nav

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def bench() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import bench_console as module
    finally:
        sys.path.remove(str(BENCH))
    return module


async def test_the_console_benchmark_runs_on_a_tiny_seed(bench: Any, tmp_path: Path) -> None:
    schema_cache.recorded("sqlite", "")
    url = f"sqlite:///{tmp_path}/bench.db"
    db = Database(url)
    try:
        seeded = await bench.seed(db, bench.Size.tiny(), password_iterations=1000)
    finally:
        await db.close()
    assert seeded.counts["stations"] == 50
    assert seeded.counts["transactions"] == 500
    assert 90 <= seeded.counts["cdrs"] <= 100

    rows, profiles = await bench.measure(url, seeded, repeats=1, profile=["/"])

    by_url = {row.url: row for row in rows}
    for page in nav.PAGES:
        assert by_url[page.path].status in (200, 404), by_url[page.path]
    # (A page may refuse a filter it does not know with 422; never a 5xx.)
    assert not [row for row in rows if row.status >= 500], bench.table(rows)
    assert by_url["/"].status == 200 and by_url["/"].size > 0
    assert by_url[f"/stations/{seeded.station_id}"].status == 200
    assert by_url[f"/sessions/{seeded.session_id}"].status == 200
    # Fragments come from the pages' own hx-get attributes; lists get paged.
    assert any(row.kind == "live" for row in rows)
    assert "/?page=100" in by_url
    assert all(row.statements > 0 for row in rows if row.status == 200)

    text = bench.table(rows)
    assert text.splitlines()[0].split()[:3] == ["kind", "url", "status"]
    assert len(text.splitlines()) == len(rows) + 1
    assert bench.summary(rows).startswith(f"{len(rows)} URLs: ")
    assert "slowest SQL" in profiles[0]
