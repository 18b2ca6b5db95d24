"""Retention: old rows deleted in bounded batches, and the database's size
and row counts for /metrics.

What is kept how long (settings `retention_*_days`, 0 keeps for ever):

- frames (the OCPP frame log): `retention_frames_days`, 7 by default;
- events, and webhook deliveries no longer pending: `retention_events_days`,
  30 by default (an event a pending delivery still needs is kept);
- the security event log: `retention_security_events_days`, 365 by default
  (by when Volta received the event);
- meter values: `retention_meter_values_days`, 90 by default, judged by the
  start of their session (Volta's clock; the station's own timestamp for a
  value outside any session). Kept whatever their age: the values of a
  session still active, and the energy-register readings a CDR's audit trail
  cites (`meter_value:<id>`, Energy.Active.Import.Register in Wh without a
  phase), which stay as long as the CDR (CDRs are billing records and are
  never pruned). Power, current, SoC and other samples of a priced session
  go with age like any other.

Each batch reads at most `retention_batch` ids in primary-key order (oldest
first) on a read connection, then deletes those due in one statement through
the group commit, and pauses `retention_pause` before the next: a delete of
a thousand rows by primary key takes milliseconds, so the stations' writes
queued behind it wait no longer than behind any other writer. A run stops at
the first row still within its retention: rows are numbered in the order they
were written, so the rest are younger. Rows kept for a reason (an active
session, a CDR) are stepped over by a cursor kept in memory, reset daily so
that a session that has ended since is looked at again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from volta import metrics
from volta.store.models import (
    Base,
    Cdr,
    Event,
    Frame,
    MeterValue,
    SecurityEvent,
    Transaction,
    WebhookDelivery,
    utcnow,
)

if TYPE_CHECKING:
    from volta.store.db import Database


class Settings(Protocol):
    """What retention reads of `volta.config.Settings` (the store sits
    below config: it may not import it)."""

    retention_frames_days: float
    retention_events_days: float
    retention_meter_values_days: float
    retention_security_events_days: float
    retention_interval: float
    retention_batch: int
    retention_pause: float
    db_stats_interval: float


log = logging.getLogger(__name__)

ENERGY_REGISTER = "Energy.Active.Import.Register"
CURSOR_RESET_SECONDS = 86_400.0
MAX_BATCHES_PER_RUN = 1_000

# Decides, for one row read, whether it is due (delete), kept for good
# (step over) or still within retention (stop the run here).
DUE, KEEP, YOUNG = "due", "keep", "young"
Verdict = Callable[[Any, dt.datetime], str]


def _by_age(row: Any, cutoff: dt.datetime) -> str:
    return DUE if row.at < cutoff else YOUNG


def _delivery(row: Any, cutoff: dt.datetime) -> str:
    if row.at >= cutoff:
        return YOUNG
    return KEEP if row.status == "pending" else DUE


def _meter_value(row: Any, cutoff: dt.datetime) -> str:
    at = row.tx_created_at if row.transaction_id is not None else row.at
    if at is None or at >= cutoff:
        return YOUNG
    if row.transaction_id is not None and row.tx_status != "Ended":
        return KEEP  # a session still running (or stale: see the cursor reset)
    if (
        row.cdr_id is not None
        and row.measurand == ENERGY_REGISTER
        and row.phase is None
        and row.unit == "Wh"
    ):
        return KEEP  # cited by the CDR's audit trail
    return DUE


class Retention:
    """The pruning and statistics work, run by `run_forever` (started by
    housekeeping). One per process."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._after: dict[str, int] = {}
        self._cursors_since = time.monotonic()

    async def prune(self) -> dict[str, int]:
        """One pass over every table; rows deleted per table."""
        if time.monotonic() - self._cursors_since > CURSOR_RESET_SECONDS:
            self._after.clear()
            self._cursors_since = time.monotonic()
        s = self.settings
        now = utcnow()
        deleted: dict[str, int] = {}
        if s.retention_frames_days > 0:
            cutoff = now - dt.timedelta(days=s.retention_frames_days)
            deleted["frames"] = await self._prune(
                Frame, sa.select(Frame.id, Frame.created_at.label("at")), _by_age, cutoff
            )
        if s.retention_security_events_days > 0:
            cutoff = now - dt.timedelta(days=s.retention_security_events_days)
            deleted["security_events"] = await self._prune(
                SecurityEvent,
                sa.select(SecurityEvent.id, SecurityEvent.received_at.label("at")),
                _by_age,
                cutoff,
            )
        if s.retention_events_days > 0:
            cutoff = now - dt.timedelta(days=s.retention_events_days)
            deleted["webhook_deliveries"] = await self._prune(
                WebhookDelivery,
                sa.select(
                    WebhookDelivery.id,
                    WebhookDelivery.created_at.label("at"),
                    WebhookDelivery.status,
                ),
                _delivery,
                cutoff,
            )
            deleted["events"] = await self._prune(
                Event,
                sa.select(Event.id, Event.created_at.label("at")),
                _by_age,
                cutoff,
                keep=self._events_pending,
            )
        if s.retention_meter_values_days > 0:
            cutoff = now - dt.timedelta(days=s.retention_meter_values_days)
            deleted["meter_values"] = await self._prune(
                MeterValue,
                sa.select(
                    MeterValue.id,
                    MeterValue.timestamp.label("at"),
                    MeterValue.transaction_id,
                    MeterValue.measurand,
                    MeterValue.phase,
                    MeterValue.unit,
                    Transaction.status.label("tx_status"),
                    Transaction.created_at.label("tx_created_at"),
                    Cdr.id.label("cdr_id"),
                )
                .outerjoin(Transaction, Transaction.id == MeterValue.transaction_id)
                .outerjoin(Cdr, Cdr.transaction_id == MeterValue.transaction_id),
                _meter_value,
                cutoff,
            )
        for table, count in deleted.items():
            if count:
                metrics.child(metrics.RETENTION_DELETED, table).inc(count)
        if any(deleted.values()):
            log.info(
                "retention: deleted %s",
                ", ".join(f"{n} {t}" for t, n in deleted.items() if n),
            )
        return deleted

    async def _events_pending(self, ids: list[int]) -> set[int]:
        """Of these events, those a pending webhook delivery still needs."""
        async with self.db.read() as conn:
            rows = await conn.execute(
                sa.select(WebhookDelivery.event_id).where(
                    WebhookDelivery.event_id.in_(ids), WebhookDelivery.status == "pending"
                )
            )
            return {int(r[0]) for r in rows}

    async def _prune(
        self,
        model: Any,
        query: Any,
        verdict: Verdict,
        cutoff: dt.datetime,
        keep: Callable[[list[int]], Any] | None = None,
    ) -> int:
        name = model.__tablename__
        s = self.settings
        batch = max(1, s.retention_batch)
        deleted = 0
        for _ in range(MAX_BATCHES_PER_RUN):
            after = self._after.get(name, 0)
            async with self.db.read() as conn:
                rows: Sequence[Any] = (
                    await conn.execute(
                        query.where(model.id > after).order_by(model.id).limit(batch)
                    )
                ).all()
            due: list[int] = []
            last = after
            stopped = False
            for row in rows:
                decided = verdict(row, cutoff)
                if decided == YOUNG:
                    stopped = True
                    break
                if decided == DUE:
                    due.append(int(row.id))
                last = int(row.id)
            if due and keep is not None:
                kept = await keep(due)
                due = [i for i in due if i not in kept]
            if due:
                async with self.db.write() as wconn:
                    await wconn.execute(sa.delete(model).where(model.id.in_(due)))
                deleted += len(due)
            self._after[name] = last
            if stopped or len(rows) < batch:
                break
            await asyncio.sleep(s.retention_pause)
        return deleted

    async def refresh_stats(self) -> None:
        """The database size and the row count of every table, into /metrics.
        PostgreSQL: pg_database_size and the planner's reltuples (no scan);
        SQLite: page_count * page_size and count(*) per table, run in a thread
        on a read-only connection of its own, so the event loop never waits
        for a scan of a large table."""
        tables = [t.name for t in Base.metadata.sorted_tables]
        if self.db.path is not None:
            size, counts = await asyncio.to_thread(_sqlite_stats, str(self.db.path), tables)
        else:
            size, counts = await self._pg_stats(tables)
        metrics.DB_SIZE_BYTES.set(size)
        for table, count in counts.items():
            metrics.child(metrics.DB_ROWS, table).set(count)

    async def _pg_stats(self, tables: list[str]) -> tuple[int, dict[str, int]]:
        async with self.db.read() as conn:
            size = await conn.execute(sa.text("SELECT pg_database_size(current_database())"))
            size_bytes = int(size.scalar() or 0)
            rows = (
                await conn.execute(
                    sa.text(
                        "SELECT relname, reltuples FROM pg_class "
                        "WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
                    )
                )
            ).all()
            counts: dict[str, int] = {}
            for name, estimate in rows:
                if name not in tables:
                    continue
                if estimate is None or estimate < 0:
                    # Never analysed (a new, small table): counting is cheap.
                    counted = await conn.execute(sa.text(f'SELECT count(*) FROM "{name}"'))
                    estimate = counted.scalar() or 0
                counts[name] = int(estimate)
        return size_bytes, counts


def _sqlite_stats(path: str, tables: list[str]) -> tuple[int, dict[str, int]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        counts: dict[str, int] = {}
        for name in tables:
            with contextlib.suppress(sqlite3.Error):
                counts[name] = int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        return int(page_count) * int(page_size), counts
    finally:
        conn.close()


async def run_forever(
    db: Database, settings: Settings, *, prunes: Callable[[], bool] = lambda: True
) -> None:
    """Prune every `retention_interval` seconds and refresh the statistics
    every `db_stats_interval`; failures are logged and tried again. With
    several nodes only the one for which `prunes()` is true (the leader)
    prunes; every node refreshes its /metrics statistics (a read)."""
    retention = Retention(db, settings)
    next_prune = next_stats = time.monotonic()
    while True:
        now = time.monotonic()
        if now >= next_stats:
            next_stats = now + settings.db_stats_interval
            try:
                await retention.refresh_stats()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not refresh the database statistics (%s)", type(exc).__name__)
        if now >= next_prune and not prunes():
            # Not this node's to do now; it may lead soon (another node died).
            next_prune = now + min(settings.retention_interval, 5.0)
        elif now >= next_prune:
            next_prune = now + settings.retention_interval
            try:
                await retention.prune()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("retention run failed (%s); trying again later", type(exc).__name__)
        await asyncio.sleep(max(0.05, min(next_prune, next_stats) - time.monotonic()))
