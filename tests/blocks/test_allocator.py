"""The allocator, pure: hand-computed cases for every rule
(docs/smart-charging.md, "Sites and load management")."""

from __future__ import annotations

import random

import pytest

from volta.blocks.smart_charging.allocator import (
    Evse,
    Node,
    Policy,
    Result,
    allocate,
    fallback_shares,
    node_limit,
)

SITE = Node(1, None, (32.0, 32.0, 32.0))


def evses(n: int, max_a: float = 32.0) -> list[Evse]:
    return [Evse(("cs", i), 1, max_a=max_a, started_at=i) for i in range(1, n + 1)]


def limits(result: Result) -> list[float]:
    return list(result.limits.values())


def test_equal_share_32a_four_evses() -> None:
    # 32 A / 4 = 8 A each, on every phase.
    result = allocate([SITE], evses(4), Policy())
    assert limits(result) == [8.0, 8.0, 8.0, 8.0]
    assert result.load[1] == [32.0, 32.0, 32.0]


def test_equal_rounds_down_to_a_tenth() -> None:
    # 32 / 3 = 10.666.. -> 10.6 each (10.7 would give 32.1 A).
    assert limits(allocate([SITE], evses(3), Policy())) == [10.6, 10.6, 10.6]


def test_each_evse_capped_at_its_maximum_and_the_rest_stays_unused() -> None:
    result = allocate([Node(1, None, (100.0,) * 3)], evses(2, max_a=16.0), Policy())
    assert limits(result) == [16.0, 16.0]


def test_min_current_pauses_the_latest_arrival_never_below_min() -> None:
    # 32 A, 6 EVSEs, min 6 A: 6 x 6 = 36 > 32, so the latest (6) is paused and
    # five share 32 A: 6.4 A each. Nobody is between 0 and 6 A.
    result = allocate([SITE], evses(6), Policy())
    assert result.limits[("cs", 6)] == 0.0
    assert [result.limits[("cs", i)] for i in range(1, 6)] == [6.4] * 5
    assert all(v == 0 or v >= 6 for v in limits(result))


def test_no_minimum_divides_among_everyone() -> None:
    # min_current_a 0 (a site that allows any current): 32 A / 8 = 4 A each.
    result = allocate([SITE], evses(8), Policy(min_current_a=0.0))
    assert limits(result) == [4.0] * 8


def test_over_committed_site_pauses_everyone_else() -> None:
    # An unconfirmed EVSE counted at 32 A on a 20 A site: nothing is left.
    evs = [Evse(("cs", 1), 1, fixed_a=32.0), Evse(("cs", 2), 1)]
    result = allocate([Node(1, None, (20.0,) * 3)], evs, Policy(min_current_a=0.0))
    assert result.limits[("cs", 2)] == 0.0


def test_equal_pauses_lowest_priority_first() -> None:
    evs = evses(6)
    evs[0] = Evse(("cs", 1), 1, started_at=1, priority=-1)
    result = allocate([SITE], evs, Policy())
    assert result.limits[("cs", 1)] == 0.0
    assert result.limits[("cs", 6)] == 6.4


def test_first_come_earliest_takes_all_it_can() -> None:
    # Admission at 6 A for 1-5 (30 A), 6 paused; then in order of arrival:
    # 1 takes the 2 A left.
    result = allocate([SITE], evses(6), Policy(strategy="first_come"))
    assert [result.limits[("cs", i)] for i in range(1, 7)] == [8.0, 6.0, 6.0, 6.0, 6.0, 0.0]
    result = allocate([Node(1, None, (50.0,) * 3)], evses(3), Policy(strategy="first_come"))
    # 18 A at the minimum, 32 A left: 1 gets +26 (to 32), 2 gets +6.
    assert limits(result) == [32.0, 12.0, 6.0]


def test_priority_serves_the_higher_class_first() -> None:
    evs = [
        Evse(("cs", 1), 1, started_at=1, priority=0),
        Evse(("cs", 2), 1, started_at=2, priority=10),
        Evse(("cs", 3), 1, started_at=3, priority=10),
    ]
    # 40 A: everyone holds 6 (18), the class 10 shares 40 - 6 = 34 -> 17 each.
    result = allocate([Node(1, None, (40.0,) * 3)], evs, Policy(strategy="priority"))
    assert result.limits == {("cs", 1): 6.0, ("cs", 2): 17.0, ("cs", 3): 17.0}


def test_one_phase_car_uses_one_phase_share() -> None:
    # 32 A per phase; a 1-phase car on L1 and two 3-phase cars. L1 carries
    # all three: 32/3 = 10.6 each; L2/L3 carry only the 3-phase cars, which are
    # held by L1 anyway.
    evs = [Evse(("cs", 1), 1, phases=1), Evse(("cs", 2), 1), Evse(("cs", 3), 1)]
    result = allocate([SITE], evs, Policy())
    assert limits(result) == [10.6, 10.6, 10.6]
    assert result.load[1] == pytest.approx([31.8, 21.2, 21.2])
    # Two 1-phase cars on different phases do not share: 32 A each.
    evs = [Evse(("cs", 1), 1, phases=1, phase=1), Evse(("cs", 2), 1, phases=1, phase=2)]
    assert limits(allocate([SITE], evs, Policy())) == [32.0, 32.0]


def test_two_phase_car_uses_l1_and_l2() -> None:
    # A 2-phase car (AC_two_phase) and a 1-phase car on L3: no phase is
    # shared, each takes its maximum.
    evs = [Evse(("cs", 1), 1, phases=2, max_a=32.0), Evse(("cs", 2), 1, phases=1, phase=3)]
    result = allocate([SITE], evs, Policy())
    assert limits(result) == [32.0, 32.0]
    assert result.load[1] == [32.0, 32.0, 32.0]


def test_ev_drawing_less_gives_the_rest_to_others() -> None:
    # A settled EV drawing 4 A is capped at max(min 6, 4 + 1) = 6 A; the
    # others share 32 - 6 = 26 -> 13 each.
    evs = [
        Evse(("cs", 1), 1, draw_a=4.0, session_age_s=600),
        Evse(("cs", 2), 1, draw_a=16.0, session_age_s=600),
        Evse(("cs", 3), 1),
    ]
    assert limits(allocate([SITE], evs, Policy())) == [6.0, 13.0, 13.0]
    # An EV drawing 9 A: capped at 10; the others get 11 each.
    evs[0] = Evse(("cs", 1), 1, draw_a=9.0, session_age_s=600)
    assert limits(allocate([SITE], evs, Policy())) == [10.0, 11.0, 11.0]


def test_draw_in_the_first_minute_is_not_trusted() -> None:
    evs = [Evse(("cs", 1), 1, draw_a=1.0, session_age_s=20), Evse(("cs", 2), 1)]
    assert limits(allocate([SITE], evs, Policy())) == [16.0, 16.0]


def test_suspended_evse_holds_only_its_minimum() -> None:
    evs = [Evse(("cs", 1), 1, suspended=True), Evse(("cs", 2), 1), Evse(("cs", 3), 1)]
    assert limits(allocate([SITE], evs, Policy())) == [6.0, 13.0, 13.0]


def test_three_level_tree_every_node_within_its_limit() -> None:
    # grid 63 A -> panel A 40 A (circuit A1 20 A with 3 EVSEs, 2 EVSEs on A
    # itself), panel B 32 A (3 EVSEs).
    nodes = [
        Node(1, None, (63.0,) * 3),
        Node(2, 1, (40.0,) * 3),
        Node(3, 2, (20.0,) * 3),
        Node(4, 1, (32.0,) * 3),
    ]
    evs = [Evse(("a1", i), 3) for i in range(1, 4)]
    evs += [Evse(("a", i), 2) for i in range(1, 3)]
    evs += [Evse(("b", i), 4) for i in range(1, 4)]
    result = allocate(nodes, evs, Policy())
    # A1: 20/3 = 6.66 -> 6.6 each. Grid: 63 - 20 = 43 left for A's two and
    # B's three: 43/5 = 8.6 each, within A (20 + 17.2) and B (25.8).
    for i in range(1, 4):
        assert result.limits[("a1", i)] == 6.6
        assert result.limits[("b", i)] == 8.6
    assert result.limits[("a", 1)] == result.limits[("a", 2)] == 8.6
    for node in nodes:
        assert all(result.load[node.id][p] <= node.limit_a[p] + 1e-9 for p in range(3))


def test_power_limited_site() -> None:
    # 22,080 W over 3 phases at 230 V = 32 A per phase.
    limit = node_limit(None, 22_080.0, 3, 230.0)
    assert limit == pytest.approx((32.0, 32.0, 32.0))
    # 1-phase node: L1 only.
    assert node_limit(None, 7_360.0, 1, 230.0) == pytest.approx((32.0, 0.0, 0.0))
    # Both: the lower.
    assert node_limit(20.0, 22_080.0, 3, 230.0) == pytest.approx((20.0, 20.0, 20.0))
    result = allocate([Node(1, None, limit)], evses(2), Policy())
    assert limits(result) == [16.0, 16.0]


def test_non_ev_load_is_taken_off_the_limit() -> None:
    # 32 A site, the building draws 10/4/8 A: L1 has 22 A left.
    limit = node_limit(32.0, None, 3, 230.0, [10.0, 4.0, 8.0])
    assert limit == (22.0, 28.0, 24.0)
    assert limits(allocate([Node(1, None, limit)], evses(2), Policy())) == [11.0, 11.0]
    # More load than limit: nothing left, never negative.
    assert node_limit(32.0, None, 3, 230.0, [40.0, 0.0, 0.0])[0] == 0.0


def test_departure_and_energy_need_weigh_the_share() -> None:
    # Two EVs on 32 A: equal would be 16 each. EV 1 needs 27,600 Wh in 2 h on
    # 3 phases at 230 V = 20 A: weight 20/16 = 1.25; 1.25 t + t = 32 ->
    # t = 14.22: 17.7 A and 14.2 A (rounded down).
    evs = [
        Evse(("cs", 1), 1, departure_in_s=7200, energy_needed_wh=27_600.0),
        Evse(("cs", 2), 1),
    ]
    result = allocate([SITE], evs, Policy())
    assert result.limits[("cs", 1)] == 17.7
    assert result.limits[("cs", 2)] == 14.2
    # An EV whose need an equal share meets keeps the equal share.
    evs[0] = Evse(("cs", 1), 1, departure_in_s=7200, energy_needed_wh=10_000.0)
    assert limits(allocate([SITE], evs, Policy())) == [16.0, 16.0]


def test_ev_limits_from_iso15118() -> None:
    evs = [Evse(("cs", 1), 1, ev_max_a=10.0), Evse(("cs", 2), 1, ev_min_a=8.0)]
    assert limits(allocate([Node(1, None, (20.0,) * 3)], evs, Policy())) == [10.0, 10.0]


def test_unconfirmed_station_is_counted_at_its_maximum() -> None:
    evs = [Evse(("cs", 1), 1, fixed_a=16.0), Evse(("cs", 2), 1), Evse(("cs", 3), 1)]
    result = allocate([SITE], evs, Policy())
    assert result.limits == {("cs", 1): 16.0, ("cs", 2): 8.0, ("cs", 3): 8.0}


def test_random_trees_never_exceed_a_limit_and_never_give_below_min() -> None:
    rng = random.Random(13)
    for _ in range(200):
        nodes = [Node(1, None, (rng.uniform(0, 120),) * 3)]
        for nid in range(2, rng.randint(2, 8)):
            nodes.append(Node(nid, rng.randrange(1, nid), (rng.uniform(0, 80),) * 3))
        evs = [
            Evse(
                ("cs", i),
                rng.randrange(1, len(nodes) + 1),
                max_a=rng.choice([16.0, 32.0]),
                phases=rng.choice([1, 3]),
                phase=rng.randint(1, 3),
                draw_a=rng.uniform(0, 32),
                session_age_s=rng.uniform(0, 300),
                started_at=rng.random(),
                priority=rng.randint(0, 2),
            )
            for i in range(rng.randint(0, 40))
        ]
        strategy = rng.choice(["equal", "priority", "first_come"])
        result = allocate(nodes, evs, Policy(strategy=strategy))
        assert all(v == 0 or v >= 6 for v in result.limits.values())
        for node in nodes:
            assert all(result.load[node.id][p] <= node.limit_a[p] + 1e-6 for p in range(3))


def test_fallback_share_is_limit_over_evses() -> None:
    evs = [Evse(("cs", i), 1) for i in range(1, 5)]
    assert set(fallback_shares([SITE], evs, 6.0).values()) == {8.0}
    # 32 A over 8 EVSEs = 4 A < 6 A: the first five (by id) get 6 A, the rest 0.
    evs = [Evse((f"cs{i}", 1), 1) for i in range(8)]
    shares = fallback_shares([SITE], evs, 6.0)
    assert [shares[(f"cs{i}", 1)] for i in range(8)] == [6.0] * 5 + [0.0] * 3
    # A sub-circuit's share is the least along the path.
    nodes = [SITE, Node(2, 1, (10.0,) * 3)]
    evs = [Evse(("a", 1), 2), Evse(("b", 1), 1)]
    assert fallback_shares(nodes, evs, 6.0) == {("a", 1): 10.0, ("b", 1): 16.0}
