"""Periodic work no message triggers: reservations whose time passed,
remote starts that never started, local lists owed to connected stations,
whether the database file is still the one opened; and, in a task of its own
(`volta.store.retention`), old rows pruned and the database's statistics.

With several nodes (docs/architecture.md, "Several nodes: who does what")
the work for the whole deployment (`leader_work`: expiry, time-outs, limits,
CDRs owed, pruning) runs on the leader only, and the work owed to a station
(`station_work`: its local list) on the node that holds the station. With
one node (SoloNode) that node is both. `register_cluster_callbacks` wires the
blocks to the node: what each drops when a station moves to another node,
what the leader listens to, what a new leader recomputes.
"""

from __future__ import annotations

import asyncio
import logging

from volta.blocks.certificates import service as certificates
from volta.blocks.files import service as files
from volta.blocks.firmware import campaigns as firmware_campaigns
from volta.blocks.local_list import service as local_lists
from volta.blocks.monitoring import events as monitoring_events
from volta.blocks.provisioning import service as provisioning
from volta.blocks.remote_control import sessions
from volta.blocks.reservations import service as reservations
from volta.blocks.security import passwords
from volta.blocks.smart_charging import leader as smart_charging
from volta.blocks.tariffs.service import create_missing_cdrs
from volta.blocks.transactions import live
from volta.events import service as events
from volta.services import Services
from volta.store import retention

log = logging.getLogger(__name__)


async def leader_work(services: Services) -> dict[str, int]:
    """Work for the whole deployment, done by the leader: every query here
    reads the whole database, and what it sends to a station goes through
    the router (`stop_for_limit` -> `router.call`), which reaches the node
    holding it."""
    expired = await reservations.expire_due(services.db)
    timed_out = await sessions.expire_waiting(services.db, services.settings.remote_start_timeout)
    stops = await sessions.enforce_limits(services)
    await create_missing_cdrs(services)  # CDRs a restart kept from being written
    # Certificates close to expiry: a new CSR asked for (docs/security.md).
    renewals = await certificates.renew_due(services)
    # Scheduled password rotation (password_rotation_days); the CALLs go
    # through the router to the node holding each station.
    rotations = await passwords.rotate_due(services)
    # Diagnostics and log files past retention_files_days, expired file links.
    pruned = await files.prune(services)
    # Firmware campaigns: the next wave, halts, stale updates.
    await firmware_campaigns.tick(services)
    # NotifyEvent data older than monitoring_events_days (at most once a minute).
    await monitoring_events.housekeeping(services)
    return {
        **pruned,
        "reservations_expired": expired,
        "remote_starts_timed_out": timed_out,
        "limit_stops": stops,
        "certificate_renewals": renewals,
        "password_rotations": rotations,
    }


async def station_work(services: Services) -> dict[str, int]:
    """Work owed to stations, done by the node holding each (router.local())."""
    return {"lists": await local_lists.sync_all(services)}


async def run_once(services: Services) -> dict[str, int]:
    counts = {"reservations_expired": 0, "remote_starts_timed_out": 0, "limit_stops": 0}
    if services.node.is_leader():
        counts.update(await leader_work(services))
    counts.update(await station_work(services))
    if any(counts.values()):
        log.info(
            "housekeeping: %d reservations expired, %d remote starts timed out, "
            "%d local lists sent, %d sessions stopped at their limit, "
            "%d password rotations started",
            counts["reservations_expired"],
            counts["remote_starts_timed_out"],
            counts["lists"],
            counts["limit_stops"],
            counts.get("password_rotations", 0),
        )
    return counts


async def run_forever(services: Services) -> None:
    interval = services.settings.housekeeping_interval
    services.spawn(
        retention.run_forever(services.db, services.settings, prunes=services.node.is_leader),
        name="retention",
    )
    while True:
        await asyncio.sleep(interval)
        # One stat: a database file deleted or replaced under the running
        # server refuses every write from now on (and /healthz says so).
        services.db.check_file()
        try:
            await run_once(services)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("housekeeping failed; trying again in %.0f s", interval)


def register_cluster_callbacks(services: Services) -> None:
    """Wire the blocks to `services.node` (app.py calls it once, before the
    gateway accepts stations): with SoloNode nothing of it ever fires but
    the first allocation run."""
    node = services.node
    db = services.db

    def moved(station_id: str) -> None:
        # The station connected to another node: what this one kept of it
        # in memory is stale from now on (the new holder reads afresh).
        live.on_station_moved(db, station_id)
        provisioning.forget_statuses(db, station_id)

    node.on_station_moved(moved)

    async def webhooks_changed(_: dict[str, object]) -> None:
        events.forget_hooks(db)

    node.listen(events.CHANGED_TOPIC, webhooks_changed)
    local_lists.register(services)
    smart_charging.register(services)
    firmware_campaigns.register(services)
