"""A token bucket per client, so that one busy client cannot starve the others (429)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from simulators.repository.config import RateLimit

# Past this many clients, buckets that are full again are forgotten.
_MAX_TRACKED = 10_000


class RateLimiter:
    """Grants ``limit.requests`` requests per ``limit.per_seconds`` to each client."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._rate = limit.requests / limit.per_seconds
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> int | None:
        """Take one request from the client's bucket; return seconds to wait when it is empty."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(client, (float(self.limit.requests), now))
            tokens = min(float(self.limit.requests), tokens + (now - then) * self._rate)
            if tokens < 1:
                self._buckets[client] = (tokens, now)
                return max(1, math.ceil((1 - tokens) / self._rate))
            self._buckets[client] = (tokens - 1, now)
            if len(self._buckets) > _MAX_TRACKED:
                self._forget_full(now)
        return None

    def _forget_full(self, now: float) -> None:
        for client, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self._rate >= self.limit.requests:
                del self._buckets[client]
