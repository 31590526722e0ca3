"""When to try again, and how long to wait: exponential backoff with jitter, or Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from cloudpdi.repository_errors import RetriesExhausted
from cloudpdi.repository_wire import parse_count

#: Answers worth another try: timeouts, rate limiting, and server or gateway trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Jitter only spreads clients apart, but the house rule is one source of randomness: the OS.
_random = random.SystemRandom()


def retry_after(response: httpx.Response | None) -> float | None:
    """Return the seconds a 429/503 answer asks to wait (delta-seconds or HTTP date), if any."""
    if response is None or response.status_code not in (429, 503):
        return None
    value = response.headers.get("retry-after", "").strip()
    seconds = parse_count(value)
    if seconds is not None:
        return float(seconds)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


class Backoff:
    """Counts failures in a row and sleeps between attempts; gives up past ``retries``.

    Progress (a transfer that moved forward) resets the count, so a long transfer over a poor
    line goes on as long as it keeps advancing.
    """

    def __init__(
        self, retries: int, base: float, cap: float, sleep: Callable[[float], None]
    ) -> None:
        self.retries = retries
        self.base = base
        self.cap = cap
        self.sleep = sleep
        self.failures = 0
        self.total = 0

    def failed(self, cause: str, wait: float | None = None) -> None:
        """Note a failed attempt and sleep before the next one, or raise RetriesExhausted."""
        self.failures += 1
        self.total += 1
        if self.failures > self.retries:
            raise RetriesExhausted(f"gave up after {self.failures} failed attempts: {cause}")
        if wait is None:
            wait = _random.uniform(0, min(self.cap, self.base * 2 ** (self.failures - 1)))
        self.sleep(wait)

    def progressed(self) -> None:
        """Note that the transfer moved forward."""
        self.failures = 0
