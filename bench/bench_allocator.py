"""The site allocator: time to recompute a site of N charging EVSEs.

The issue's target: 1,000 EVSEs in under 20 ms. Times `allocate()` (pure,
no I/O) for 10 / 100 / 1,000 / 5,000 EVSEs on one flat site and on a 3-level
tree (grid -> 10 panels -> 10 circuits each), with a realistic mix (a third
1-phase cars, a third settled and drawing less than their share, a few
suspended, priorities 0-2), for each strategy. Prints a table (median and
worst of the repeats, in ms) and writes bench/results/allocator.json.

    .venv/bin/python bench/bench_allocator.py
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from pathlib import Path

from volta.blocks.smart_charging.allocator import Evse, Node, Policy, allocate

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (10, 100, 1_000, 5_000)
REPEATS = 15


def flat(n: int) -> tuple[list[Node], list[Evse]]:
    rng = random.Random(n)
    # Enough for about 2/3 of them at a reasonable share.
    nodes = [Node(1, None, (n * 12.0,) * 3)]
    return nodes, [_evse(rng, i, 1) for i in range(n)]


def tree(n: int) -> tuple[list[Node], list[Evse]]:
    rng = random.Random(n + 1)
    nodes = [Node(1, None, (n * 10.0,) * 3)]
    leaves = []
    for panel in range(10):
        pid = 2 + panel * 11
        nodes.append(Node(pid, 1, (n * 1.4,) * 3))
        for circuit in range(10):
            cid = pid + 1 + circuit
            nodes.append(Node(cid, pid, (n * 0.16,) * 3))
            leaves.append(cid)
    return nodes, [_evse(rng, i, leaves[i % len(leaves)]) for i in range(n)]


def _evse(rng: random.Random, i: int, node_id: int) -> Evse:
    settled = rng.random() < 0.33
    return Evse(
        (f"CS{i // 2:05d}", 1 + i % 2),
        node_id,
        max_a=rng.choice([16.0, 32.0]),
        phases=1 if rng.random() < 0.33 else 3,
        draw_a=rng.uniform(4, 16) if settled else None,
        session_age_s=600.0 if settled else 10.0,
        started_at=rng.random(),
        priority=rng.randint(0, 2),
        suspended=rng.random() < 0.05,
    )


def timed(nodes: list[Node], evses: list[Evse], strategy: str) -> tuple[float, float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        allocate(nodes, evses, Policy(strategy=strategy))
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    rows = []
    print(f"{'shape':<6} {'strategy':<11} {'EVSEs':>6} {'median ms':>10} {'worst ms':>9}")
    for shape, build in (("flat", flat), ("tree", tree)):
        for strategy in ("equal", "priority", "first_come"):
            for n in SIZES:
                nodes, evses = build(n)
                median, worst = timed(nodes, evses, strategy)
                rows.append(
                    {
                        "shape": shape,
                        "strategy": strategy,
                        "evses": n,
                        "median_ms": round(median, 3),
                        "worst_ms": round(worst, 3),
                    }
                )
                print(f"{shape:<6} {strategy:<11} {n:>6} {median:>10.2f} {worst:>9.2f}")
    worst_1000 = max(r["median_ms"] for r in rows if r["evses"] == 1_000)
    verdict = "meets" if worst_1000 < 20 else "MISSES"
    print(f"1,000 EVSEs: slowest median {worst_1000:.2f} ms ({verdict} the 20 ms target)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "allocator.json").write_text(
        json.dumps(
            {"python": platform.python_version(), "machine": platform.machine(), "rows": rows},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
