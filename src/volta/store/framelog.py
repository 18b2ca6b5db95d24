"""The searchable log of every OCPP frame, written in batches.

Frames are queued in memory as plain tuples and inserted many per
transaction (every 100 ms or 500 frames) on the raw driver
(`Database.write_rows`), off the path that answers the station. The log is a
record, not acknowledged data: a crash may lose its last 100 ms, never a
transaction. The queue is bounded: when the database cannot keep up, the
oldest unwritten frames are dropped and counted, rather than memory growing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import sqlalchemy as sa

from volta.ocpp.redact import SECRET_ACTIONS, redact_call
from volta.store.db import Database, unavailable
from volta.store.models import FRAMES, Frame, utcnow
from volta.store.raw import RawStatement

log = logging.getLogger(__name__)

FAILED_FLUSH_PAUSE = 2.0

_INSERT_FRAME = RawStatement.insert(
    FRAMES,
    (
        "station_id",
        "direction",
        "raw",
        "message_type",
        "message_id",
        "action",
        "error_code",
        "created_at",
    ),
)


class FrameLog:
    def __init__(
        self, db: Database, *, interval: float = 0.1, batch: int = 500, limit: int = 200_000
    ) -> None:
        self._db = db
        self._time = db.db_time
        self._interval = interval
        self._batch = batch
        self._limit = limit
        self.dropped = 0
        self._failing = False
        self._rows: list[tuple[Any, ...]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        station_id: str,
        direction: str,
        raw: str,
        *,
        message_type: int | None = None,
        message_id: str | None = None,
        action: str | None = None,
        error_code: str | None = None,
    ) -> None:
        if action in SECRET_ACTIONS and message_type == 2:
            # A new station password goes on the wire, never into the log.
            raw = redact_call(action, raw)
        rows = self._rows
        rows.append(
            (
                station_id,
                direction,
                raw,
                message_type,
                message_id,
                action,
                error_code,
                self._time(utcnow()),
            )
        )
        if len(rows) >= self._batch:
            self._wakeup.set()
            if len(rows) > self._limit:
                excess = len(rows) - self._limit
                del rows[:excess]
                self.dropped += excess

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="frame-log")

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._interval)
            self._wakeup.clear()
            if not await self.flush():
                # The database cannot be written: the frames wait in the
                # (bounded) queue, tried again every few seconds.
                await asyncio.sleep(FAILED_FLUSH_PAUSE)

    async def flush(self) -> bool:
        """Write the queued frames; False when the database refused them
        (they stay queued, the oldest dropped beyond the queue's limit)."""
        while self._rows:
            rows, self._rows = self._rows[: self._batch], self._rows[self._batch :]
            try:
                await self._db.write_rows(None, [(_INSERT_FRAME, rows)])
            except Exception as exc:
                if not unavailable(exc):
                    # Rows the database refuses as such: retrying cannot help.
                    log.error("could not write %d frames (%s)", len(rows), type(exc).__name__)
                    self.dropped += len(rows)
                    continue
                self._rows[:0] = rows
                if not self._failing:
                    # Once per outage, without the driver's message (it may
                    # quote the frames); /healthz and the metrics tell more.
                    log.error(
                        "could not write %d frames to the frame log (%s); keeping them queued",
                        len(rows),
                        type(exc).__name__,
                    )
                self._failing = True
                return False
            if self._failing:
                log.warning("frame log written again")
                self._failing = False
        return True

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


async def list_frames(
    db: Database,
    station_id: str,
    *,
    limit: int = 50,
    offset: int = 0,
    action: str | None = None,
    direction: str | None = None,
) -> list[dict[str, Any]]:
    """A station's frames, newest first."""
    stmt = (
        sa.select(Frame)
        .where(Frame.station_id == station_id)
        .order_by(Frame.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if action:
        stmt = stmt.where(Frame.action == action)
    if direction:
        stmt = stmt.where(Frame.direction == direction)
    async with db.read() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings().all()]
