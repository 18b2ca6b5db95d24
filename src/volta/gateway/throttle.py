"""Bounded tables that slow down password guessing and registration floods
on the OCPP port (in memory, per process).

`Backoff` counts failed sign-ins per key (a source address, a station id):
after `limit` failures within `window` seconds the key is blocked for 1 s,
and every further failure while it is remembered doubles the block, up to
`max_delay`. A key is forgotten a `window` after its last block ends (or
after its window passes without reaching the limit). `RateLimit` is a token
bucket per key. Both tables hold at most `capacity` keys: the least
recently used goes first, so a flood of addresses or ids costs a bounded
amount of memory (about 150 bytes a key).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

FIRST_DELAY = 1.0


class _Entry:
    __slots__ = ("delay", "failures", "reported", "start", "until")

    def __init__(self, now: float) -> None:
        self.failures = 0
        self.start = now  # of the current window
        self.until = 0.0  # blocked until
        self.delay = FIRST_DELAY  # the next block's length
        self.reported = False  # one security event per episode


class Backoff:
    def __init__(
        self,
        limit: int,
        window: float,
        max_delay: float,
        capacity: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = max(1, limit)
        self.window = window
        self.max_delay = max_delay
        self.capacity = max(1, capacity)
        self.clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _live(self, key: str, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.until:
            if now >= entry.until + self.window:
                del self._entries[key]  # quiet for a window after its block
                return None
        elif now - entry.start >= self.window:
            del self._entries[key]  # the window passed under the limit
            return None
        return entry

    def blocked_for(self, key: str) -> float:
        """Seconds this key stays blocked (0: it may try)."""
        entry = self._live(key, self.clock())
        if entry is None:
            return 0.0
        return max(0.0, entry.until - self.clock())

    def failures(self, key: str) -> int:
        entry = self._live(key, self.clock())
        return entry.failures if entry is not None else 0

    def fail(self, key: str) -> tuple[float, bool]:
        """Count a failure. Returns the block it starts (0: none) and whether
        it is the first block of this key's episode (to report once)."""
        now = self.clock()
        entry = self._live(key, now)
        if entry is None:
            entry = _Entry(now)
            self._entries[key] = entry
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        entry.failures += 1
        if entry.failures < self.limit and not entry.until:
            return 0.0, False
        delay = entry.delay
        entry.until = now + delay
        entry.delay = min(delay * 2, self.max_delay)
        first = not entry.reported
        entry.reported = True
        return delay, first

    def forgive(self, key: str) -> None:
        """Take back one failure counted in advance (the attempt succeeded)."""
        entry = self._entries.get(key)
        if entry is not None and entry.failures > 0 and not entry.until:
            entry.failures -= 1

    def clear(self, key: str) -> None:
        self._entries.pop(key, None)


class RateLimit:
    """At most `per_minute` events a minute per key, in bursts of up to that
    many (a token bucket); `per_minute` <= 0 means no limit."""

    def __init__(
        self, per_minute: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_minute = per_minute
        self.capacity = max(1, capacity)
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str = "") -> float:
        """Take a token: 0 when allowed, else the seconds until one is free."""
        if self.per_minute <= 0:
            return 0.0
        now = self.clock()
        size = max(1.0, self.per_minute)
        tokens, at = self._buckets.get(key, (size, now))
        tokens = min(size, tokens + (now - at) * self.per_minute / 60.0)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            self._buckets.move_to_end(key)
            while len(self._buckets) > self.capacity:
                self._buckets.popitem(last=False)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) * 60.0 / self.per_minute
