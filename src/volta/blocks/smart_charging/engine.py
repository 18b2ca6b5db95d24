"""When and what to recompute for a site, and what to send.

The hooks (hooks.py) and the API tell the engine what happened; it keeps the
little it must know between messages in memory (each charging EVSE's measured
draw and whether it is suspended), coalesces triggers per site tree
(`DEBOUNCE_S`), and on each run:

1. reads the tree, the stations on it, their active sessions and the stored
   allocations (`evse_allocations`);
2. runs the allocator (allocator.py): an offline station is counted at what
   it holds (a session's confirmed TxProfile, an idle EVSE's confirmed
   fallback, else the maximum); an EVSE whose last profile was not confirmed
   is counted at its maximum; then each online station's fallback is its
   share of what the allocation leaves (`_fallbacks`);
3. sends a TxProfile (1.6: to the connector, with the transactionId; 2.0.1:
   evseId and transactionId) only where the limit changed or the last send
   was not Accepted, lowering before raising so that the sum never passes the
   limit on the way; and each station's fallback TxDefaultProfile (EVSE 0,
   stack level 0) where its share changed;
4. stores what was sent and the answers (allocations.py), so a restart
   sends only differences.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from volta.blocks.smart_charging import service as profiles
from volta.blocks.smart_charging import sites as site_store
from volta.blocks.smart_charging import v2x
from volta.blocks.smart_charging.allocations import (
    FALLBACK_ID,
    RunReport,
    discharge_profile,
    fallback_profile,
    idle_station,
    read_state,
    store_run,
    tx_profile,
)
from volta.blocks.smart_charging.allocator import (
    Evse,
    EvseKey,
    Node,
    Policy,
    Result,
    allocate,
    fallback_shares,
    phase_set,
)
from volta.blocks.smart_charging.sites import SiteRecord
from volta.ocpp.charging import Profile
from volta.ocpp.versions import Version
from volta.services import Services
from volta.store.models import utcnow

log = logging.getLogger(__name__)

DEBOUNCE_S = 0.15
# The tree is read again after this long (a change made by the CLI, or by
# another process, is seen without an API call).
TREE_TTL_S = 30.0
DEFAULT_EVSE_MAX_A = 32.0  # an EVSE's maximum unless known (K: typical AC EVSE)
DRAW_CHANGE_A = 1.0  # a meter value that moves the draw by more than this recomputes
SUSPENDED = ("SuspendedEV", "SuspendedEVSE")


@dataclass(slots=True)
class EvseLive:
    """What the engine knows of a charging EVSE between messages."""

    draw_a: float | None = None
    phases_in_use: int | None = None
    assumed_draw_a: float | None = None  # the draw the last run used
    suspended: bool = False
    export_a: float | None = None  # measured Current.Export (V2X: it feeds back)


class Engine:
    def __init__(self, services: Services, debounce_s: float = DEBOUNCE_S) -> None:
        self.services = services
        self.debounce_s = debounce_s
        self.live: dict[EvseKey, EvseLive] = {}
        # Loaded lazily; forgotten when the tree or a placement changes.
        self._sites: dict[int, SiteRecord] | None = None
        self._sites_at = 0.0
        self._station_site: dict[str, int] = {}
        self._meters: set[str] = set()
        self._generation = 0
        self._pending: set[int] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._resend: set[str] = set()
        self._force: set[EvseKey] = set()
        self._tx_keys: dict[tuple[str, str], EvseKey] = {}
        self.last: dict[int, RunReport] = {}

    # -- what the tree looks like, cached --------------------------------------

    async def sites(self) -> dict[int, SiteRecord]:
        """The tree, and which station hangs from which site: read together,
        in two queries, at most every TREE_TTL_S (changes made by the API
        read them again at once; by the CLI or another process, within that)."""
        sites = self._sites
        if sites is None or self._stale():
            # (read into locals: a change made meanwhile forgets the cache,
            # and what was read before it must not count as fresh)
            generation = self._generation
            sites = await site_store.all_sites(self.services.db)
            placed = await site_store.placements(self.services.db)
            self._sites, self._station_site = sites, placed
            self._meters = {s.meter_station_id for s in sites.values() if s.meter_station_id}
            self._sites_at = time.monotonic() if generation == self._generation else 0.0
        return sites

    def _stale(self) -> bool:
        return self._sites is None or time.monotonic() - self._sites_at > TREE_TTL_S

    def tree_changed(self) -> None:
        self._sites = None
        self._generation += 1

    def wants(self, station_id: str) -> bool:
        """False when it is known without I/O that the station hangs from no
        site and is no site's meter: then its messages start no follow-up
        task (hooks.py), so stations that smart charging does not manage pay
        nothing for it. When the cached tree is due to be read, True."""
        if self._stale():
            return True
        return station_id in self._station_site or station_id in self._meters

    async def station_booted(self, station_id: str) -> None:
        """A station (re)booted: read where it hangs from now (one query; a
        placement made by the CLI is seen at once, not within TREE_TTL_S)."""
        await self.sites()
        site_id = await site_store.site_of_station(self.services.db, station_id)
        if site_id is None:
            self._station_site.pop(station_id, None)
        else:
            self._station_site[station_id] = site_id

    def station_moved(self, station_id: str) -> None:
        self._resend.add(station_id)
        self.tree_changed()

    async def root_of_station(self, station_id: str) -> int | None:
        """The root of the tree the station hangs from; None for a station on
        no site (dict lookups while the cached tree is fresh)."""
        sites = await self.sites()
        site_id = self._station_site.get(station_id)
        if site_id is None:
            return None
        if site_id not in sites:
            self.tree_changed()  # made since the tree was read (another process, the CLI)
            sites = await self.sites()
        return site_store.root_of(sites, site_id) if site_id in sites else None

    # -- triggers --------------------------------------------------------------

    async def touch(self, station_id: str, *, resend: bool = False) -> None:
        """Something changed at the station: recompute its tree (soon)."""
        root = await self.root_of_station(station_id)
        if root is None:
            return
        if resend:
            self._resend.add(station_id)
        self.schedule(root)

    def schedule(self, root_id: int) -> None:
        """Coalesce triggers: one run per tree per `debounce_s` (on the
        leader only: leader.py forwards other nodes' inputs to it)."""
        if root_id in self._pending or not self.services.node.is_leader():
            return
        self._pending.add(root_id)
        self.services.spawn(self._later(root_id), name=f"allocate site {root_id}")

    async def _later(self, root_id: int) -> None:
        await asyncio.sleep(self.debounce_s)
        if not self.services.node.is_leader():
            self._pending.discard(root_id)  # leadership moved: the new leader runs it
            return
        await self.run(root_id)

    def stand_down(self) -> None:
        """This node no longer leads: forget the live state (the leader
        keeps its own; when this node leads again it starts afresh, as after
        a restart) and what was due to run."""
        self.live.clear()
        self._pending.clear()
        self._resend.clear()
        self._force.clear()
        self._tx_keys.clear()
        self.tree_changed()

    async def run(self, root_id: int) -> RunReport:
        lock = self._locks.setdefault(root_id, asyncio.Lock())
        async with lock:
            # Triggers from here on start another run.
            self._pending.discard(root_id)
            report = await self._recompute(root_id)
            self.last[root_id] = report
            return report

    async def run_all(self) -> list[RunReport]:
        """Every tree (at start: reload, recompute, send only differences)."""
        sites = await self.sites()
        roots = sorted({site_store.root_of(sites, s) for s in sites})
        return [await self.run(root) for root in roots]

    def meter(self, key: EvseKey, draw_a: float | None, phases: int | None) -> bool:
        """A measured draw (Current.Import, the highest phase); True when it
        moved enough from what the last run assumed to run again. O(1)."""
        live = self.live.setdefault(key, EvseLive())
        live.draw_a = draw_a
        if phases is not None:
            live.phases_in_use = phases
        if draw_a is None:
            return False
        if live.assumed_draw_a is None:
            return True
        return abs(draw_a - live.assumed_draw_a) > DRAW_CHANGE_A

    def meter_export(self, key: EvseKey, export_a: float | None) -> bool:
        """A measured export (Current.Export, V2X); True when it moved enough
        to run again."""
        live = self.live.setdefault(key, EvseLive())
        before = live.export_a or 0.0
        live.export_a = export_a
        return abs((export_a or 0.0) - before) > DRAW_CHANGE_A

    def status(self, key: EvseKey, status: str) -> bool:
        """A charging-state change (Charging, SuspendedEV, ...); True when it
        changes whether the EVSE draws."""
        live = self.live.setdefault(key, EvseLive())
        suspended = status in SUSPENDED
        changed = live.suspended != suspended
        live.suspended = suspended
        return changed

    def forget_draw(self, key: EvseKey) -> None:
        """Forget what was measured of the EVSE's session (its draw, phases,
        suspension): a session began or ended there."""
        self.live.pop(key, None)

    def evse_of(self, station_id: str, transaction_id: str) -> int | None:
        """The EVSE of a 2.0.1 transaction, as the last run saw it."""
        key = self._tx_keys.get((station_id, transaction_id))
        return key[1] if key is not None else None

    # -- the run -----------------------------------------------------------------

    async def _recompute(self, root_id: int) -> RunReport:
        started = time.perf_counter()
        db = self.services.db
        report = RunReport(root_id)
        sites = await self.sites()
        if root_id not in sites:
            return report
        tree = site_store.subtree(sites, root_id)
        root = sites[root_id]
        nodes = [s.node() for s in tree]
        # The placements read with the tree (sites()): forgotten and read
        # again whenever the API places a station, within TREE_TTL_S otherwise.
        in_tree = {s.id for s in tree}
        placed = {sid: site for sid, site in self._station_site.items() if site in in_tree}
        ids = list(placed)
        state = await read_state(db, ids)
        txs, rows, evse_ids, groups = state.txs, state.rows, state.evse_ids, state.groups
        online = {s for s in ids if self.services.router.version_of(s) is not None}
        now = utcnow()

        known = {s: sorted(evse_ids.get(s) or {1}) for s in ids}
        evses: list[Evse] = []
        tx_of: dict[EvseKey, str] = {}
        for tx in txs:
            key = (tx.station_id, int(tx.evse_id or tx.connector_id or 1))
            tx_id = tx.station_transaction_id if tx.protocol != "ocpp1.6" else str(tx.id)
            tx_of[key] = tx_id
            evses.append(self._evse(key, tx, tx_id, rows, placed, groups, root, online, now))
        evses = await self._discharging(evses, tx_of, txs, root)
        # An offline station's idle EVSEs may start a session on their own:
        # counted at the fallback it confirmed (else at their maximum).
        for s in ids:
            if s not in online:
                held_fb = _confirmed_fallback(rows, s)
                for e in known[s]:
                    if (s, e) not in tx_of:
                        evses.append(Evse((s, e), placed[s], fixed_a=held_fb))
        result = allocate(nodes, evses, Policy(root.strategy, root.min_current_a))
        fallback_of = self._fallbacks(nodes, result, known, tx_of, placed, rows, online, root)
        placed_set = set(ids)
        self._tx_keys = {k: v for k, v in self._tx_keys.items() if k[0] not in placed_set}
        for key, tx_id in tx_of.items():
            self._tx_keys[(key[0], tx_id)] = key
        for key in [k for k in self.live if k[0] in placed_set and k not in tx_of]:
            # A session that ended: keep its charging state only until the next.
            if not self.live[key].suspended:
                del self.live[key]
        report.limits = result.limits
        report.load = result.load

        # What to send, and whether it lowers what the EVSE holds now (its
        # confirmed TxProfile, else its fallback): lower first, then raise, so
        # the sum stays under the limit on the way.
        lowering: list[tuple[EvseKey, float]] = []
        raising: list[tuple[EvseKey, float]] = []
        for evse in evses:
            key = evse.key
            if key[0] not in online:
                continue  # offline: it keeps its fallback, counted as such
            row = rows.get(key)
            same = row is not None and row.transaction_id == tx_of[key]
            if evse.discharge_a > 0 and evse.fixed_a is None:
                # V2X: the operator's profile steers it while the site's
                # limits hold its discharge; else the allocator's holds it back.
                credited = -result.limits[key]
                held_back = credited < evse.discharge_a - 0.05
                if not held_back or (
                    same and row is not None and abs(row.limit_a + credited) <= 0.05
                ):
                    continue
                lowering.append((key, -credited))
                continue
            if evse.fixed_a is not None and row is not None:
                new = row.limit_a  # not confirmed: send it again
            else:
                new = result.limits[key]
                if (
                    same
                    and row is not None
                    and row.status == "Accepted"
                    and abs(row.limit_a - new) <= 0.05
                    and key[0] not in self._resend
                    and key not in self._force
                ):
                    continue
            self._force.discard(key)
            held = row.limit_a if same and row is not None and row.status == "Accepted" else None
            if held is None:
                held = _confirmed_fallback(rows, key[0])
            (lowering if new < held else raising).append((key, new))
        fb_low: list[tuple[str, float]] = []
        fb_high: list[tuple[str, float]] = []
        for station_id, share in fallback_of.items():
            r = rows.get((station_id, 0))
            if station_id not in online:
                continue
            if (
                r is not None
                and r.status == "Accepted"
                and abs(r.limit_a - share) <= 0.05
                and station_id not in self._resend
            ):
                continue
            falls = r is None or r.status != "Accepted" or share < r.limit_a
            (fb_low if falls else fb_high).append((station_id, share))
        for step, fbs in ((lowering, fb_low), (raising, fb_high)):
            answers = await asyncio.gather(
                *(self._send_tx(key, limit, tx_of[key]) for key, limit in step),
                *(self._send_fallback(s, v) for s, v in fbs),
            )
            for (key, limit), answer in zip(step, answers[: len(step)], strict=True):
                report.sent[key] = (limit, answer)
            for (s, v), answer in zip(fbs, answers[len(step) :], strict=True):
                report.fallbacks[s] = (v, answer)
        self._resend.difference_update(ids)
        charging = [e for e in evses if e.key in tx_of]
        await store_run(db, report, charging, rows, placed, tx_of, fallback_of)
        report.took_ms = (time.perf_counter() - started) * 1000
        if report.sent or report.fallbacks:
            log.info(
                "site %s: %d TxProfiles, %d fallbacks sent (%.1f ms)",
                root_id,
                len(report.sent),
                len(report.fallbacks),
                report.took_ms,
            )
        # A station that now confirmed what it had not is counted right next time.
        if any(
            answer == "Accepted"
            and (r := rows.get(key)) is not None
            and r.status != "Accepted"
            and r.transaction_id == tx_of.get(key)
            for key, (_, answer) in report.sent.items()
        ):
            self.schedule(root_id)
        return report

    def _fallbacks(
        self,
        nodes: list[Node],
        result: Result,
        known: dict[str, list[int]],
        tx_of: dict[EvseKey, str],
        placed: dict[str, int],
        rows: dict[EvseKey, Any],
        online: set[str],
        root: SiteRecord,
    ) -> dict[str, float]:
        """Each online station's fallback TxDefaultProfile, from what the
        allocation leaves: a car that plugs in at an idle EVSE draws it at
        once (before its TxProfile comes), and so does every idle EVSE if
        Volta is lost, so the idle EVSEs share only the capacity no session
        holds, and the site stays under its limit at every moment. A station
        whose EVSEs all charge keeps its fallback while it is at most their
        TxProfiles (a session that ends then gives back at least as much as
        the fallback takes); otherwise it is lowered to them."""
        # What discharging EVs lend (V2X) is not lent to the fallbacks: if
        # Volta is lost, nothing holds the EVs to their discharge.
        spare = [
            Node(
                n.id,
                n.parent_id,
                (
                    max(0.0, n.limit_a[0] - result.load[n.id][0] - result.credit[n.id][0]),
                    max(0.0, n.limit_a[1] - result.load[n.id][1] - result.credit[n.id][1]),
                    max(0.0, n.limit_a[2] - result.load[n.id][2] - result.credit[n.id][2]),
                ),
            )
            for n in nodes
        ]
        idle = [
            Evse((s, e), placed[s])
            for s in known
            if s in online
            for e in known[s]
            if (s, e) not in tx_of
        ]
        shares = fallback_shares(spare, idle, root.min_current_a)
        fallback_of: dict[str, float] = {}
        for s in known:
            if s not in online:
                continue
            charging = [
                result.limits[(s, e)]
                for e in known[s]
                if (s, e) in tx_of and result.limits[(s, e)] >= 0  # not a discharging EV
            ]
            idle_shares = [shares[(s, e)] for e in known[s] if (s, e) in shares]
            if not idle_shares and not charging:
                # Only discharging EVs (V2X): it keeps the fallback it holds.
                held = rows.get((s, 0))
                ok = held is not None and held.status == "Accepted"
                fallback_of[s] = held.limit_a if ok and held is not None else 0.0
                continue
            share = min(idle_shares + charging)
            if not idle_shares:
                held = rows.get((s, 0))
                if held is not None and held.status == "Accepted" and held.limit_a <= share:
                    share = held.limit_a  # no idle EVSE: no need to raise it now
            fallback_of[s] = share
        return fallback_of

    def _evse(
        self,
        key: EvseKey,
        tx: Any,
        tx_id: str,
        rows: dict[EvseKey, Any],
        placed: dict[str, int],
        groups: dict[str, str | None],
        root: SiteRecord,
        online: set[str],
        now: dt.datetime,
    ) -> Evse:
        """The allocator's view of a charging EVSE."""
        row = rows.get(key)
        live = self.live.setdefault(key, EvseLive())
        same = row is not None and row.transaction_id == tx_id
        fixed: float | None = None
        if tx.station_id not in online:
            # It keeps the TxProfile it confirmed for this session (a station
            # does not drop it when the connection goes), else its fallback.
            if same and row is not None:
                fixed = row.limit_a if row.status == "Accepted" else DEFAULT_EVSE_MAX_A
            else:
                fixed = _confirmed_fallback(rows, tx.station_id)
        elif same and row is not None and row.status in ("Rejected", "Failed"):
            fixed = DEFAULT_EVSE_MAX_A  # not confirmed: counted at its maximum
        priority = row.priority if row is not None else 0
        if root.group_priorities and tx.id_token in groups:
            priority += int(root.group_priorities.get(groups[tx.id_token] or "", 0))
        # What the EV said through ISO 15118 (NotifyEVChargingNeeds, stored on
        # the row by limits.record_needs; forgotten when the session ends).
        departure = row.departure_at if row is not None else None
        started_at = tx.started_at or now
        live.assumed_draw_a = live.draw_a
        return Evse(
            key,
            placed[tx.station_id],
            max_a=DEFAULT_EVSE_MAX_A,
            phases=live.phases_in_use or (row.phases if row is not None else 3),
            draw_a=live.draw_a,
            session_age_s=(now - started_at).total_seconds(),
            started_at=started_at.timestamp(),
            priority=priority,
            suspended=live.suspended or tx.charging_state in SUSPENDED,
            ev_min_a=row.ev_min_current_a if row is not None else None,
            ev_max_a=row.ev_max_current_a if row is not None else None,
            departure_in_s=(departure - now).total_seconds() if departure else None,
            energy_needed_wh=row.energy_needed_wh if row is not None else None,
            voltage_v=root.voltage_v,
            fixed_a=fixed,
        )

    async def _send_tx(self, key: EvseKey, limit_a: float, tx_id: str) -> str:
        if limit_a < 0:  # V2X: a discharge held back to what the limits allow
            profile = discharge_profile(key[1], -limit_a, tx_id)
            return await self._install(key[0], key[1], profile, "allocator")
        return await self._install(key[0], key[1], tx_profile(key[1], limit_a, tx_id), "allocator")

    async def _discharging(
        self, evses: list[Evse], tx_of: dict[EvseKey, str], txs: list[Any], root: SiteRecord
    ) -> list[Evse]:
        """The EVSEs whose EV feeds back (V2X: a discharge setpoint in force,
        or a measured export), with what they feed (v2x.discharges)."""
        started = {
            (tx.station_id, int(tx.evse_id or tx.connector_id or 1)): tx.started_at for tx in txs
        }
        keys = {
            e.key: (tx_of[e.key], started.get(e.key), e.phases) for e in evses if e.key in tx_of
        }
        measured = {
            k: live.export_a
            for k, live in self.live.items()
            if live.export_a is not None and k in keys
        }
        router = self.services.router
        if not measured and not any(router.version_of(k[0]) is Version.V21 for k in keys):
            return evses  # no 2.1 station, no export measured: nothing to read
        found = await v2x.discharges(
            self.services.db, keys, root.voltage_v, measured=measured, now=utcnow()
        )
        if not found:
            return evses
        return [
            dataclasses.replace(
                e, discharge_a=found[e.key].current_a, ev_max_discharge_a=found[e.key].ev_max_a
            )
            if e.key in found
            else e
            for e in evses
        ]

    async def _send_fallback(self, station_id: str, limit_a: float) -> str:
        return await self._install(station_id, 0, fallback_profile(limit_a), "fallback")

    async def _install(self, station_id: str, evse_id: int, profile: Profile, source: str) -> str:
        try:
            installed = await profiles.install_profile(
                self.services, station_id, evse_id, profile, source=source, validate=False
            )
        except (profiles.ProfileRefused, profiles.ProfileInvalid) as exc:
            log.warning("%s profile for %s/%s not sent: %s", source, station_id, evse_id, exc)
            return "Failed"
        return installed.status

    # -- ISO 15118 -----------------------------------------------------------

    async def left_site(self, station_id: str) -> None:
        """The station was taken off its site: its fallback and TxProfiles
        are Volta's no longer (ClearChargingProfile by id, where it is
        online; an offline one keeps them until it is cleared by hand), and
        its allocation rows go idle (they keep the EVSEs' priorities)."""
        rows = await idle_station(self.services.db, station_id)
        if self.services.router.version_of(station_id) is not None:
            for row in rows:
                if row.status == "Accepted":
                    clear = profiles.ClearChargingProfile(profile_id=FALLBACK_ID + row.evse_id)
                    try:
                        await profiles.clear_profiles(
                            self.services, station_id, clear, source="allocator"
                        )
                    except profiles.ProfileRefused as exc:
                        log.warning("%s: profile not cleared: %s", station_id, exc)
        for key in [k for k in self.live if k[0] == station_id]:
            del self.live[key]

    async def metered_site(self, station_id: str) -> int | None:
        """The site whose meter is this station's main meter, if any (from
        the cached tree: a dict scan of a small table, on EVSE-0 readings only)."""
        for site in (await self.sites()).values():
            if site.meter_station_id == station_id:
                return site.id
        return None

    async def site_meter(self, site_id: int, total_a: list[float]) -> None:
        """Peak shaving from a station's main meter: what the site draws in
        all, per phase, less what its EVs draw (as last measured) is the
        non-EV load; stored, and recomputed when it moved by more than
        DRAW_CHANGE_A on a phase."""
        sites = await self.sites()
        below = {s.id for s in site_store.subtree(sites, site_id)}
        ev = [0.0, 0.0, 0.0]
        for (station_id, _), live in self.live.items():
            if self._station_site.get(station_id) in below and live.draw_a is not None:
                for p in phase_set(live.phases_in_use or 3):
                    ev[p] += live.draw_a
        load = [max(0.0, round(total_a[p] - ev[p], 1)) for p in range(3)]
        before = sites[site_id].non_ev_load_a or [0.0, 0.0, 0.0]
        if all(
            abs(load[p] - (before[p] if p < len(before) else 0.0)) <= DRAW_CHANGE_A
            for p in range(3)
        ):
            return
        await site_store.record_non_ev_load(self.services.db, site_id, load)
        self.tree_changed()
        self.schedule(site_store.root_of(await self.sites(), site_id))

    async def needs_accepted(self, station_id: str, evse_id: int) -> None:
        """2.0.1 NotifyEVChargingNeeds answered Accepted (the needs are on the
        EVSE's row): recompute, and send the EVSE its TxProfile even if its
        share did not change (K15.FR.07: the EV waits for a schedule)."""
        root = await self.root_of_station(station_id)
        if root is None:
            return
        self._force.add((station_id, evse_id))
        self.schedule(root)


_engines: weakref.WeakKeyDictionary[Any, Engine] = weakref.WeakKeyDictionary()


def _confirmed_fallback(rows: dict[EvseKey, Any], station_id: str) -> float:
    """The fallback the station confirmed (what an EVSE of it with no
    TxProfile may draw), else the EVSE maximum."""
    fb = rows.get((station_id, 0))
    return float(fb.limit_a) if fb is not None and fb.status == "Accepted" else DEFAULT_EVSE_MAX_A


def engine_of(services: Services) -> Engine:
    """The engine of the Volta that owns `services` (one per database object,
    so two Voltas in one process, as in the tests, never share)."""
    engine = _engines.get(services.db)
    if engine is None:
        engine = _engines[services.db] = Engine(services)
    return engine
