"""How many stations were online, sampled in memory for the fleet chart.

Kept since this process started (a day at most); nothing is written to the
database, and a restart starts the chart afresh.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from volta.stations import StationRouter


class OnlineHistory:
    def __init__(
        self, router: StationRouter, *, interval: float = 60.0, keep: float = 86_400.0
    ) -> None:
        self._router = router
        self.interval = interval
        self._samples: collections.deque[tuple[float, int]] = collections.deque(
            maxlen=max(2, int(keep / interval))
        )
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        self._samples.append((time.time(), len(self._router.online())))

    def series(self) -> list[tuple[float, int]]:
        """(unix time, stations online), oldest first, ending with the present."""
        return [*self._samples, (time.time(), len(self._router.online()))]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="online-history")

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
