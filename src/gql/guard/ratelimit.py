"""Rate limiting in points per window, per client, with the ``limits`` library.

Each operation costs its measured points (:mod:`gql.guard.limits`); a client may spend
``points`` in any ``window`` seconds. The counting is ``limits``' sliding window counter
(two counters per client and window: cheap on Redis for any cost, no burst of twice the
limit at a window's edge as a fixed window allows). With a Redis URL every instance
counts in the same Redis, so a token has one limit however many replicas serve it;
without one the counters live in the process (``memory://``).

``charge`` is synchronous on purpose: the three transports that admit an operation
(schema extensions, the compiled paths, shared subscriptions) call one synchronous
``admit``, and one command to a Redis on the same network costs a fraction of a
millisecond. A Redis that fails or is slow (over ``REDIS_TIMEOUT_SECONDS``) does not take
the API down with it: the request is admitted and a warning logged.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import SlidingWindowCounterRateLimiter

log = logging.getLogger("punchclock")

REDIS_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds, for the Retry-After header; 0 when allowed


class RateLimiter:
    """``points`` per ``window_seconds`` for each client key."""

    def __init__(
        self,
        points: int,
        window_seconds: int,
        *,
        redis_url: str | None = None,
        key_prefix: str = "punchclock",
    ) -> None:
        self.capacity = points
        self.window_seconds = window_seconds
        self.rate = points / window_seconds  # what a client regains a second, on average
        self._item = RateLimitItemPerSecond(points, window_seconds)
        storage: Storage
        if redis_url:
            storage = RedisStorage(
                redis_url,
                key_prefix=f"{key_prefix}:ratelimit",
                wrap_exceptions=True,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
        else:
            storage = MemoryStorage()
        self.shared = redis_url is not None
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    def charge(self, key: str, cost: int) -> Verdict:
        try:
            allowed = self._strategy.hit(self._item, key, cost=cost)
            stats = self._strategy.get_window_stats(self._item, key)
        except Exception as exc:  # limits wraps the storage's errors in StorageError
            log.warning("rate limit storage unreachable, admitting: %r", exc)
            return Verdict(True, self.capacity, 0)
        remaining = max(0, int(stats.remaining))
        if allowed:
            return Verdict(True, remaining, 0)
        wait = stats.reset_time - time.time()
        return Verdict(False, remaining, max(1, math.ceil(wait)))
