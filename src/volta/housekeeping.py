"""Periodic work no message triggers: reservations whose time passed,
remote starts that never started, local lists owed to connected stations,
whether the database file is still the one opened; and, in a task of its own
(`volta.store.retention`), old rows pruned and the database's statistics."""

from __future__ import annotations

import asyncio
import logging

from volta.blocks.local_list import service as local_lists
from volta.blocks.remote_control import sessions
from volta.blocks.reservations import service as reservations
from volta.blocks.tariffs.service import create_missing_cdrs
from volta.services import Services
from volta.store import retention

log = logging.getLogger(__name__)


async def run_once(services: Services) -> dict[str, int]:
    expired = await reservations.expire_due(services.db)
    timed_out = await sessions.expire_waiting(services.db, services.settings.remote_start_timeout)
    synced = await local_lists.sync_all(services)
    stops = await sessions.enforce_limits(services)
    await create_missing_cdrs(services)  # CDRs a restart kept from being written
    if expired or timed_out or synced or stops:
        log.info(
            "housekeeping: %d reservations expired, %d remote starts timed out, "
            "%d local lists sent, %d sessions stopped at their limit",
            expired,
            timed_out,
            synced,
            stops,
        )
    return {
        "reservations_expired": expired,
        "remote_starts_timed_out": timed_out,
        "lists": synced,
        "limit_stops": stops,
    }


async def run_forever(services: Services) -> None:
    interval = services.settings.housekeeping_interval
    services.spawn(retention.run_forever(services.db, services.settings), name="retention")
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
