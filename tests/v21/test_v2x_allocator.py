"""The site allocator with bidirectional power (OCPP 2.1 V2X): an EV that
feeds back is capacity for the others, and no limit (node, EVSE, EV) is
ever exceeded in either direction, import or export. Table tests and a
property test over random trees (pure: no database, no station)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from volta.blocks.smart_charging.allocator import (
    EQUAL,
    FIRST_COME,
    PRIORITY,
    Evse,
    Node,
    Policy,
    allocate,
)

ROOT = Node(1, None, (32.0, 32.0, 32.0))


def test_a_discharging_ev_adds_its_current_as_headroom():
    """Two EVs on 32 A: 16 A each; when a third feeds back 10 A, the two
    share 42 A (21 A each) and the site's net stays at 32 A."""
    evses = [Evse(("A", 1), 1), Evse(("B", 1), 1)]
    base = allocate([ROOT], evses, Policy())
    assert base.limits == {("A", 1): 16.0, ("B", 1): 16.0}
    with_v2x = allocate([ROOT], [*evses, Evse(("C", 1), 1, discharge_a=10.0)], Policy())
    assert with_v2x.limits == {("A", 1): 21.0, ("B", 1): 21.0, ("C", 1): -10.0}
    assert with_v2x.load[1] == [32.0, 32.0, 32.0]
    assert with_v2x.credit[1] == [10.0, 10.0, 10.0]
    assert with_v2x.discharging() == [("C", 1)]
    assert with_v2x.paused() == []


def test_headroom_stays_with_the_nodes_above_the_discharging_ev():
    """A circuit's discharge helps the circuit and the site above it, not a
    sibling circuit beyond its own limit."""
    nodes = [
        Node(1, None, (40.0, 40.0, 40.0)),
        Node(2, 1, (16.0, 16.0, 16.0)),
        Node(3, 1, (16.0, 16.0, 16.0)),
    ]
    evses = [
        Evse(("A", 1), 2, discharge_a=10.0),
        Evse(("B", 1), 2),
        Evse(("C", 1), 3),
    ]
    r = allocate(nodes, evses, Policy())
    # B may take 16 + 10 on its circuit (the EVSE's 32 A is more);
    # C is held at its own circuit's 16 A.
    assert r.limits[("B", 1)] == 26.0
    assert r.limits[("C", 1)] == 16.0
    assert r.load[2] == [16.0, 16.0, 16.0]
    assert r.load[1] == [32.0, 32.0, 32.0]


def test_the_discharge_is_clamped_to_every_export_limit():
    """The EVSE's maximum, the EV's maximum, and the node's export limit
    (here 8 A on a circuit whose import limit is 16 A) hold the discharge;
    two EVs feeding back share the export limit."""
    nodes = [Node(1, None, (32.0,) * 3), Node(2, 1, (16.0,) * 3, export_a=(8.0,) * 3)]
    r = allocate(nodes, [Evse(("A", 1), 2, max_a=16.0, discharge_a=20.0)], Policy())
    assert r.limits[("A", 1)] == -8.0
    r = allocate([ROOT], [Evse(("A", 1), 1, max_a=16.0, discharge_a=20.0)], Policy())
    assert r.limits[("A", 1)] == -16.0
    r = allocate([ROOT], [Evse(("A", 1), 1, discharge_a=20.0, ev_max_discharge_a=11.0)], Policy())
    assert r.limits[("A", 1)] == -11.0
    two = [Evse(("A", 1), 2, discharge_a=6.0), Evse(("B", 1), 2, discharge_a=6.0)]
    r = allocate(nodes, two, Policy())
    assert sorted(r.limits.values()) == [-6.0, -2.0]
    assert r.load[2] == [-8.0, -8.0, -8.0]


def test_a_one_phase_discharge_frees_only_its_phase():
    r = allocate(
        [ROOT],
        [
            Evse(("A", 1), 1, phases=1, phase=2, discharge_a=10.0),
            Evse(("B", 1), 1, phases=1, phase=2),
            Evse(("C", 1), 1, phases=1, phase=1),
        ],
        Policy(),
    )
    assert r.limits[("B", 1)] == 32.0  # 32 + 10 on L2, but the EVSE's maximum is 32
    assert r.limits[("C", 1)] == 32.0
    assert r.load[1] == [32.0, 22.0, 0.0]


def test_an_offline_evse_counted_fixed_is_not_taken_for_a_discharging_one():
    r = allocate([ROOT], [Evse(("A", 1), 1, fixed_a=10.0, discharge_a=5.0)], Policy())
    assert r.limits[("A", 1)] == 10.0
    assert r.credit[1] == [0.0, 0.0, 0.0]


PHASES = st.sampled_from([1, 2, 3])


@st.composite
def sites(draw: st.DrawFn) -> tuple[list[Node], list[Evse], Policy]:
    n = draw(st.integers(1, 4))
    nodes = []
    for i in range(1, n + 1):
        parent = None if i == 1 else draw(st.integers(1, i - 1))
        limit = draw(st.floats(0, 80, allow_nan=False))
        export = draw(st.one_of(st.none(), st.floats(0, 80, allow_nan=False)))
        nodes.append(
            Node(i, parent, (limit,) * 3, export_a=None if export is None else (export,) * 3)
        )
    evses = []
    for j in range(draw(st.integers(0, 8))):
        discharge = draw(st.one_of(st.just(0.0), st.floats(0, 40, allow_nan=False)))
        evses.append(
            Evse(
                (f"S{j}", 1),
                draw(st.integers(1, n)),
                max_a=draw(st.floats(6, 32, allow_nan=False)),
                phases=draw(PHASES),
                phase=draw(st.integers(1, 3)),
                priority=draw(st.integers(0, 2)),
                started_at=float(j),
                discharge_a=discharge,
                ev_max_discharge_a=draw(st.one_of(st.none(), st.floats(0, 40, allow_nan=False))),
            )
        )
    policy = Policy(strategy=draw(st.sampled_from([EQUAL, PRIORITY, FIRST_COME])))
    return nodes, evses, policy


@settings(max_examples=300, deadline=None)
@given(sites())
def test_no_limit_is_ever_exceeded_in_either_direction(site):
    """Whatever the tree, the EVs and the strategy: at every node and phase
    the net current is within [-export, +import] (and so is the worst case
    for export: every charging EV at 0); every EVSE within its maximum both
    ways and its EV's discharge maximum; a discharging EV never asked to
    feed back more than it said; nobody between 0 and the minimum."""
    nodes, evses, policy = site
    r = allocate(nodes, evses, policy)
    by_id = {n.id: n for n in nodes}

    def path(node_id: int) -> list[int]:
        out = []
        while node_id is not None:
            out.append(node_id)
            node_id = by_id[node_id].parent_id  # type: ignore[assignment]
        return out

    net = {(n.id, p): 0.0 for n in nodes for p in range(3)}
    export = {(n.id, p): 0.0 for n in nodes for p in range(3)}
    for e in evses:
        value = r.limits[e.key]
        assert -e.max_a - 1e-9 <= value <= e.max_a + 1e-9
        if value < 0:
            assert e.discharge_a > 0
            assert -value <= e.discharge_a + 1e-9
            if e.ev_max_discharge_a is not None:
                assert -value <= e.ev_max_discharge_a + 1e-9
        else:
            assert value == 0 or value >= min(policy.min_current_a, e.max_a) - 1e-9
        for node_id in path(e.node_id):
            for p in e.phase_set():
                net[(node_id, p)] += value
                export[(node_id, p)] += min(value, 0.0)
    for (node_id, p), total in net.items():
        node = by_id[node_id]
        assert total <= node.limit_a[p] + 1e-6, (node_id, p, total)
        assert -export[(node_id, p)] <= node.export_limit(p) + 1e-6
        assert math.isclose(r.load[node_id][p], total, abs_tol=1e-6)
