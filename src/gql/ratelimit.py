"""A leaky bucket per client, charged with each operation's cost in points.

The bucket of a client holds at most ``capacity`` points and leaks ``rate`` points a
second. An operation is admitted when its cost still fits; otherwise it is refused with
the seconds after which it would fit. Buckets live in the process: with several
replicas each one limits on its own (a client can spend ``capacity`` on every replica).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# Idle buckets are dropped once this many exist, so a flood of distinct tokens (most of
# them invalid) cannot grow the process without bound.
MAX_BUCKETS = 100_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds, for the Retry-After header; 0 when allowed


class LeakyBucket:
    def __init__(
        self,
        capacity: int,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._levels: dict[str, tuple[float, float]] = {}  # key -> (level, at)

    def _level(self, key: str, now: float) -> float:
        level, at = self._levels.get(key, (0.0, now))
        return max(0.0, level - (now - at) * self.rate)

    def charge(self, key: str, cost: int) -> Verdict:
        now = self._clock()
        level = self._level(key, now)
        if level + cost > self.capacity:
            wait = (level + cost - self.capacity) / self.rate
            return Verdict(False, int(self.capacity - level), max(1, math.ceil(wait)))
        if len(self._levels) >= MAX_BUCKETS and key not in self._levels:
            self._sweep(now)
        self._levels[key] = (level + cost, now)
        return Verdict(True, int(self.capacity - level - cost), 0)

    def refund(self, key: str, cost: int) -> None:
        """Give back a charge for work that was handed to another path, which charges it
        again (the compiled read path falling back to standard execution)."""
        now = self._clock()
        if key in self._levels:
            self._levels[key] = (max(0.0, self._level(key, now) - cost), now)

    def _sweep(self, now: float) -> None:
        """Forget buckets that have leaked empty (they would start at zero anyway)."""
        self._levels = {
            key: (level, at)
            for key, (level, at) in self._levels.items()
            if level - (now - at) * self.rate > 0
        }
