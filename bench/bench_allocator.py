"""The site allocator: time to recompute a site of N charging EVSEs.

The issue's target: 1,000 EVSEs in under 20 ms. Times `allocate()` (pure,
no I/O) for 10 / 100 / 1,000 / 5,000 EVSEs on one flat site and on a 3-level
tree (grid -> 10 panels -> 10 circuits each), with a realistic mix (a third
1-phase cars, a third settled and drawing less than their share, a few
suspended, priorities 0-2), for each strategy. Prints a table (median and
worst of the repeats, in ms) and writes bench/results/allocator.json.

Then a simulated hour (`simulated_hour`): 20 EVSEs on a 100 A site, cars
arriving and leaving, drawing what they may (up to their own maximum,
tapering near the end), a meter value a minute; the engine's rules applied
(recompute on start, stop and a draw that moved by more than 1 A; send only
the limits that changed). It counts the SetChargingProfile messages and
recomputes per hour and checks that neither the limits sent nor what the
cars draw ever pass 100 A on a phase. A model of the engine's rules over the
real allocator, not the engine itself: the end-to-end tests run that.

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
from volta.blocks.smart_charging.engine import DRAW_CHANGE_A

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


def simulated_hour(stations: int = 20, limit: float = 100.0, seed: int = 1) -> dict[str, float]:
    rng = random.Random(seed)
    site = [Node(1, None, (limit,) * 3)]
    # Per EVSE: session (start, end, ev max A, phases) or None; next arrival.
    session: dict[int, tuple[float, float, float, int] | None] = dict.fromkeys(range(stations))
    arrival = {i: rng.expovariate(1 / 600) for i in range(stations)}
    sent: dict[int, float] = {}  # the limit in force per charging EVSE
    assumed: dict[int, float] = {}
    draw: dict[int, float] = {}
    messages = recomputes = 0
    worst_limits = worst_draw = 0.0

    def car_draw(i: int, t: float) -> float:
        start, end, ev_max, _ = session[i]  # type: ignore[misc]
        taper = 0.3 if t > end - (end - start) * 0.1 else 1.0
        return min(sent.get(i, 0.0), ev_max * taper)

    def recompute(t: float) -> None:
        nonlocal messages, recomputes, worst_limits
        recomputes += 1
        evses = []
        for i, s in session.items():
            if s is None:
                continue
            evses.append(
                Evse(
                    ("sim", i), 1, phases=s[3], draw_a=draw.get(i),
                    session_age_s=t - s[0], started_at=s[0],
                )
            )  # fmt: skip
        result = allocate(site, evses, Policy())
        for (_, i), new in result.limits.items():
            if i not in sent or abs(sent[i] - new) > 0.05:
                messages += 1
                sent[i] = new
            assumed[i] = draw.get(i, 0.0)
        worst_limits = max(worst_limits, max(result.load[1]))

    for t in range(3600):
        changed = False
        for i in range(stations):
            s = session[i]
            if s is None and t >= arrival[i]:
                session[i] = (t, t + rng.uniform(1200, 3600), rng.choice([16.0, 32.0]),
                              1 if rng.random() < 0.3 else 3)  # fmt: skip
                changed = True
            elif s is not None and t >= s[1]:
                session[i] = None
                arrival[i] = t + rng.expovariate(1 / 600)
                for d in (sent, assumed, draw):
                    d.pop(i, None)
                changed = True
            elif s is not None and (t - int(s[0])) % 60 == 59:
                draw[i] = car_draw(i, t)  # a meter value a minute
                changed = changed or abs(draw[i] - assumed.get(i, 0.0)) > DRAW_CHANGE_A
        if changed:
            recompute(float(t))
        phase = [0.0, 0.0, 0.0]
        for i, s in session.items():
            if s is not None:
                for p in range(3) if s[3] == 3 else (0,):
                    phase[p] += car_draw(i, t)
        worst_draw = max(worst_draw, max(phase))
    assert worst_limits <= limit + 1e-6 and worst_draw <= limit + 1e-6
    return {
        "stations": stations,
        "limit_a": limit,
        "set_charging_profile_per_hour": messages,
        "recomputes_per_hour": recomputes,
        "worst_limits_sum_a": round(worst_limits, 1),
        "worst_draw_a": round(worst_draw, 1),
    }


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
    hour = simulated_hour()
    print(
        f"simulated hour, {hour['stations']} EVSEs on {hour['limit_a']:g} A: "
        f"{hour['set_charging_profile_per_hour']} SetChargingProfile, "
        f"{hour['recomputes_per_hour']} recomputes; worst sum of limits "
        f"{hour['worst_limits_sum_a']} A, worst draw {hour['worst_draw_a']} A per phase"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "allocator.json").write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "machine": platform.machine(),
                "rows": rows,
                "simulated_hour": hour,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
