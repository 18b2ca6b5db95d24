"""Site load management: divide each node's limit among the EVSEs below it.

Pure: no I/O, no database, no clock (times come in as numbers). The engine
(engine.py) builds the input from the site tree and what it knows of each
EVSE, and sends what comes out. See docs/smart-charging.md, "Sites and load
management", for the rules in words.

The model. A site is a tree of nodes (grid connection -> sub-panels ->
circuits); each node has a limit per phase in A (a W limit is turned into A
over its phases and voltage, and the measured non-EV load is taken off).
Every EVSE hangs from one node and draws the same current on each phase it
uses (a 1-phase car on a 3-phase EVSE uses L1 only). An allocation gives each
EVSE one per-phase current; it is feasible when, for every node and phase,
the sum over the EVSEs below that node on that phase is within the limit.

How it is found, in three steps:

1. Admission. In order of preference (strategy "first_come": earliest
   session first; otherwise highest priority, then earliest session), each
   EVSE is admitted at its minimum current if that still fits under every
   node above it; one that does not fit is paused (0 A). So no EVSE is ever
   given a limit between 0 and the minimum, and the latest / lowest-priority
   sessions are the ones paused.
2. Division of what is left, above each admitted EVSE's minimum:
   - "equal": max-min fair water-filling over the tree (progressive filling:
     everyone rises together until a node is full, the EVSEs below it stop
     there, the rest keep rising), weighted for EVs that told (ISO 15118) a
     departure time and energy need they cannot meet with an equal share;
   - "priority": the same filling, one priority class at a time, highest
     first (lower classes hold their minimum meanwhile);
   - "first_come": in order of arrival, each takes all it can.
3. Every result is rounded down to 0.1 A, so the sum never crosses a limit
   by rounding (a profile carries one decimal).

Each EVSE's ceiling is the least of its own maximum, the EV's maximum (ISO
15118) and, once its session has run `settle_s` with a measured draw, that
draw plus `margin_a`: an EV that takes less than its share is capped near
what it takes and the rest goes to the others. A suspended EVSE (SuspendedEV
/ SuspendedEVSE: it draws nothing) holds only its minimum, so that it can
resume. An EVSE with `fixed_a` (its station did not confirm its profile, or
is offline) is counted at that current and not divided.

Bidirectional power (OCPP 2.1 V2X, docs/smart-charging.md "V2X"). An EVSE
with `discharge_a` (its EV feeds the site back: a discharge setpoint, or a
measured export) is not divided: it is counted at minus that current, so it
adds headroom for the others on every node above it. Its discharge is first
clamped to what every limit allows in the export direction: its EVSE's and
EV's maximum (`max_a`, `ev_max_discharge_a`) and, at every node and phase,
the node's export limit (`Node.export_a`, the import limit when not given),
counted as if every other EV below drew nothing (the worst case for export).
So the sum at every node stays within [-export, +import] in both directions.
Its limit in the result is negative (the current it feeds back); what the
dischargers lend each node is in `Result.credit`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

EQUAL = "equal"
PRIORITY = "priority"
FIRST_COME = "first_come"
STRATEGIES = (EQUAL, PRIORITY, FIRST_COME)

EvseKey = tuple[str, int]  # (station id, EVSE id / 1.6 connector id)
Phases = tuple[float, float, float]

_EPS = 1e-6
# With "equal", an EV with a departure time gets at most this many shares.
MAX_WEIGHT = 4.0


def phase_set(phases: int, phase: int = 1) -> tuple[int, ...]:
    """The phases (0-2 for L1-L3) an EVSE draws on: all three, L1 and L2
    for a 2-phase car (ISO 15118 AC_two_phase), or the one it is on."""
    if phases >= 3:
        return (0, 1, 2)
    if phases == 2:
        return (0, 1)
    return (min(max(phase, 1), 3) - 1,)


@dataclass(frozen=True, slots=True)
class Node:
    """A site or circuit: `limit_a` per phase (L1, L2, L3), already net of
    non-EV load (see `node_limit`)."""

    id: int
    parent_id: int | None
    limit_a: Phases
    # The most the node may feed back to its parent per phase (V2X): its
    # import limit when None (a connection's current rating holds both ways).
    export_a: Phases | None = None

    def export_limit(self, phase: int) -> float:
        return (self.export_a or self.limit_a)[phase]


@dataclass(frozen=True, slots=True)
class Evse:
    key: EvseKey
    node_id: int
    max_a: float = 32.0
    # Phases in use (1-3) and, for one phase, which (1-3; L1 unless told).
    phases: int = 3
    phase: int = 1
    draw_a: float | None = None  # measured per-phase current, if known
    session_age_s: float = 0.0
    started_at: float = 0.0  # session start (epoch seconds): first come, pause order
    priority: int = 0  # higher first
    suspended: bool = False
    ev_min_a: float | None = None  # ISO 15118 (NotifyEVChargingNeeds)
    ev_max_a: float | None = None
    departure_in_s: float | None = None
    energy_needed_wh: float | None = None
    voltage_v: float = 230.0
    # Counted at this current and not divided: a station that did not confirm
    # its profile (at its maximum) or is offline (at its fallback or maximum).
    fixed_a: float | None = None
    # V2X: the per-phase current the EV feeds back (0: it does not), and the
    # most it may (ISO 15118-20 maxDischargeCurrent / the V2X parameters).
    discharge_a: float = 0.0
    ev_max_discharge_a: float | None = None

    def phase_set(self) -> tuple[int, ...]:
        return phase_set(self.phases, self.phase)


@dataclass(frozen=True, slots=True)
class Policy:
    strategy: str = EQUAL
    min_current_a: float = 6.0
    margin_a: float = 1.0  # an EV's ceiling is its draw plus this
    settle_s: float = 60.0  # before this, a session's draw says nothing yet


@dataclass(slots=True)
class Result:
    limits: dict[EvseKey, float] = field(default_factory=dict)
    # Per node, per phase: the sum of the limits below it (fixed ones included).
    load: dict[int, list[float]] = field(default_factory=dict)
    # Per node, per phase: what discharging EVs below it feed back (>= 0),
    # already netted in `load` (V2X).
    credit: dict[int, list[float]] = field(default_factory=dict)

    def paused(self) -> list[EvseKey]:
        return [k for k, v in self.limits.items() if v == 0]

    def discharging(self) -> list[EvseKey]:
        return [k for k, v in self.limits.items() if v < 0]


def node_limit(
    max_current_a: float | None,
    max_power_w: float | None,
    phases: int,
    voltage_v: float,
    non_ev_load_a: Sequence[float] | None = None,
) -> Phases:
    """A node's limit per phase in A: its current limit, or its power limit
    over its phases and voltage (the lower when both are set), less the
    measured non-EV load (peak shaving); a 1-phase node has L1 only."""
    limit = math.inf
    if max_current_a is not None:
        limit = max_current_a
    if max_power_w is not None:
        limit = min(limit, max_power_w / (voltage_v * max(phases, 1)))
    if limit == math.inf:
        limit = 0.0
    out = [limit, limit, limit] if phases >= 3 else [limit, 0.0, 0.0]
    for i, load in enumerate((non_ev_load_a or [])[:3]):
        out[i] = max(0.0, out[i] - max(0.0, float(load)))
    return (out[0], out[1], out[2])


def _floor(value: float) -> float:
    return math.floor(value * 10 + _EPS) / 10


class _Tree:
    """Each node's ancestors (itself first), and the remaining capacity per
    node and phase, flat for speed."""

    def __init__(self, nodes: Iterable[Node]) -> None:
        self.nodes = {n.id: n for n in nodes}
        self.paths: dict[int, tuple[int, ...]] = {}
        for node_id in self.nodes:
            self.paths[node_id] = self._path(node_id)
        self.rem: dict[tuple[int, int], float] = {
            (n.id, p): n.limit_a[p] for n in self.nodes.values() for p in range(3)
        }

    def _path(self, node_id: int) -> tuple[int, ...]:
        path: list[int] = []
        seen: set[int] = set()
        current: int | None = node_id
        while current is not None and current in self.nodes and current not in seen:
            seen.add(current)
            path.append(current)
            current = self.nodes[current].parent_id
        return tuple(path)

    def cells(self, evse: Evse) -> list[tuple[int, int]]:
        return [(n, p) for n in self.paths[evse.node_id] for p in evse.phase_set()]

    def take(self, cells: list[tuple[int, int]], amount: float) -> None:
        for cell in cells:
            self.rem[cell] -= amount

    def headroom(self, cells: list[tuple[int, int]]) -> float:
        return min((self.rem[c] for c in cells), default=0.0)


@dataclass(slots=True)
class _Item:
    evse: Evse
    cells: list[tuple[int, int]]
    lo: float
    hi: float
    weight: float = 1.0
    value: float = 0.0


def _bounds(evse: Evse, policy: Policy) -> tuple[float, float]:
    hi = evse.max_a
    if evse.ev_max_a is not None:
        hi = min(hi, evse.ev_max_a)
    lo = policy.min_current_a
    if evse.ev_min_a is not None:
        lo = max(lo, evse.ev_min_a)
    lo = min(lo, hi)
    if evse.suspended:
        return lo, lo
    if evse.draw_a is not None and evse.session_age_s >= policy.settle_s:
        hi = min(hi, max(lo, evse.draw_a + policy.margin_a))
    return lo, hi


def _preference(evse: Evse, strategy: str) -> tuple[float, float, EvseKey]:
    if strategy == FIRST_COME:
        return (evse.started_at, -evse.priority, evse.key)
    return (-evse.priority, evse.started_at, evse.key)


def _level(items: Sequence[_Item], capacity: float) -> float:
    """The fill level t at which sum(clamp(w t, lo, hi)) reaches `capacity`
    (inf when every item fits at its ceiling)."""
    if sum(i.hi for i in items) <= capacity + _EPS:
        return math.inf
    events: list[tuple[float, float]] = []
    value = 0.0
    for i in items:
        value += i.lo
        if i.hi > i.lo:
            events.append((i.lo / i.weight, i.weight))
            events.append((i.hi / i.weight, -i.weight))
    events.sort()
    t, slope = 0.0, 0.0
    for at, change in events:
        reached = value + slope * (at - t)
        if slope > 0 and reached >= capacity:
            return t + (capacity - value) / slope
        value, t, slope = reached, at, slope + change
    return t  # not reached (rounding): the last breakpoint


def _fill(items: list[_Item], tree: _Tree) -> None:
    """Max-min fair (weighted) progressive filling of `items` above their
    minimum, within `tree.rem` (which already holds every item's minimum)."""
    for item in items:
        tree.take(item.cells, -item.lo)  # give the minimums back: the fill counts them
    groups: dict[tuple[int, int], list[_Item]] = {}
    for item in items:
        for cell in item.cells:
            groups.setdefault(cell, []).append(item)
    active = {id(i) for i in items}
    levels = {cell: _level(members, tree.rem[cell]) for cell, members in groups.items()}
    while levels:
        cell, level = min(levels.items(), key=lambda kv: kv[1])
        if level == math.inf:
            break
        frozen = [i for i in groups[cell] if id(i) in active]
        touched: set[tuple[int, int]] = set()
        for item in frozen:
            item.value = min(item.hi, max(item.lo, item.weight * level))
            active.discard(id(item))
            tree.take(item.cells, item.value)
            touched.update(item.cells)
        for c in touched:
            members = [i for i in groups[c] if id(i) in active]
            groups[c] = members
            if members:
                levels[c] = _level(members, tree.rem[c])
            else:
                levels.pop(c, None)
    for item in items:
        if id(item) in active:
            item.value = item.hi
            tree.take(item.cells, item.value)


def _weights(items: list[_Item], tree: _Tree) -> bool:
    """ "equal" with ISO 15118 needs: an EV whose equal share cannot deliver
    its energy by its departure gets the shares it needs (up to MAX_WEIGHT).
    Returns whether any weight changed (then the fill is run again)."""
    changed = False
    for item in items:
        ev = item.evse
        if not ev.energy_needed_wh or not ev.departure_in_s or item.value <= 0:
            continue
        hours = max(ev.departure_in_s, 60.0) / 3600
        needed_a = ev.energy_needed_wh / (hours * ev.voltage_v * len(ev.phase_set()))
        if needed_a > item.value + _EPS:
            item.weight = min(MAX_WEIGHT, needed_a / item.value)
            changed = True
    return changed


def allocate(nodes: Iterable[Node], evses: Iterable[Evse], policy: Policy) -> Result:
    """Each EVSE's per-phase limit in A (0: paused). See the module docstring."""
    tree = _Tree(nodes)
    result = Result()
    items: list[_Item] = []
    fixed: list[Evse] = []
    placed = [e for e in evses if e.node_id in tree.nodes]
    for node_id in tree.nodes:
        result.credit[node_id] = [0.0, 0.0, 0.0]
    # 0. the EVs that feed back, clamped to every export limit, lend the
    # nodes above them what they feed (before anyone is admitted).
    exported: dict[tuple[int, int], float] = {}
    for evse in sorted(placed, key=lambda e: e.key):
        if evse.discharge_a <= 0 or evse.fixed_a is not None:
            continue
        cells = tree.cells(evse)
        d = min(evse.discharge_a, evse.max_a)
        if evse.ev_max_discharge_a is not None:
            d = min(d, evse.ev_max_discharge_a)
        for n, p in cells:
            d = min(d, tree.nodes[n].export_limit(p) - exported.get((n, p), 0.0))
        d = _floor(max(0.0, d))
        for n, p in cells:
            exported[(n, p)] = exported.get((n, p), 0.0) + d
            result.credit[n][p] += d
        tree.take(cells, -d)
        result.limits[evse.key] = -d
        fixed.append(evse)
    for evse in placed:
        if evse.key in result.limits:
            continue
        cells = tree.cells(evse)
        if evse.fixed_a is not None:
            tree.take(cells, evse.fixed_a)
            result.limits[evse.key] = evse.fixed_a
            fixed.append(evse)
            continue
        lo, hi = _bounds(evse, policy)
        items.append(_Item(evse, cells, lo, hi))
    # 1. admission at the minimum, in order of preference
    items.sort(key=lambda i: _preference(i.evse, policy.strategy))
    admitted: list[_Item] = []
    for item in items:
        if tree.headroom(item.cells) + _EPS >= item.lo:
            tree.take(item.cells, item.lo)
            item.value = item.lo
            admitted.append(item)
    # 2. division of the rest
    if policy.strategy == FIRST_COME:
        for item in admitted:
            extra = max(0.0, min(item.hi - item.lo, tree.headroom(item.cells)))
            tree.take(item.cells, extra)
            item.value += extra
    elif policy.strategy == PRIORITY:
        classes: dict[int, list[_Item]] = {}
        for item in admitted:
            classes.setdefault(item.evse.priority, []).append(item)
        for priority in sorted(classes, reverse=True):
            _fill(classes[priority], tree)
    else:
        saved = dict(tree.rem)
        _fill(admitted, tree)
        if _weights(admitted, tree):
            tree.rem = saved
            _fill(admitted, tree)
    # 3. round down, and what each node carries
    for item in items:
        result.limits[item.evse.key] = _floor(item.value) if item.value >= item.lo - _EPS else 0.0
    for node_id in tree.nodes:
        result.load[node_id] = [0.0, 0.0, 0.0]
    for evse in [i.evse for i in items] + fixed:
        value = result.limits[evse.key]
        for node_id in tree.paths[evse.node_id]:
            for p in evse.phase_set():
                result.load[node_id][p] += value
    return result


def fallback_shares(
    nodes: Iterable[Node], evses: Iterable[Evse], min_current_a: float
) -> dict[EvseKey, float]:
    """The share each EVSE may draw if Volta is lost (its TxDefaultProfile):
    at every node, its limit over the number of EVSEs below it (counted on
    every phase: which car comes is not known), the least along the path. When
    that share is below the minimum current, the EVSEs are admitted at the
    minimum in a fixed order (station id, EVSE id) while it fits and the rest
    get 0: the site stays under its limit whoever plugs in, and some still
    charge. Rounded down to 0.1 A."""
    tree = _Tree(nodes)
    placed = sorted((e for e in evses if e.node_id in tree.nodes), key=lambda e: e.key)
    count: dict[int, int] = {}
    for evse in placed:
        for node_id in tree.paths[evse.node_id]:
            count[node_id] = count.get(node_id, 0) + 1
    shares: dict[EvseKey, float] = {}
    for evse in placed:
        share = min(
            min(tree.nodes[n].limit_a[p] for p in evse.phase_set()) / count[n]
            for n in tree.paths[evse.node_id]
        )
        shares[evse.key] = min(_floor(share), evse.max_a)
    if all(v >= min_current_a - _EPS for v in shares.values()):
        return shares
    for evse in placed:
        cells = tree.cells(evse)
        lo = min(min_current_a, evse.max_a)
        if tree.headroom(cells) + _EPS >= lo:
            tree.take(cells, lo)
            shares[evse.key] = lo
        else:
            shares[evse.key] = 0.0
    return shares
