"""Per-key rate limits for the robot API: a token bucket per robot key.

A robot controller stuck in a retry loop, or a leaked token in a script, must
not starve the other robots or the driver of the database. Each key may make
`rate` requests per second on average with bursts of `burst`; beyond that the
answer is `429 rate_limited` with `Retry-After` (seconds until a request is
allowed again). The buckets live in the serving process: with several replicas
each enforces its own share, which is enough to stop one runaway client.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from loop.errors import LoopError

#: Requests per second per key, on average, and the burst allowed above it:
#: a robot polling for work every second uses a tenth of it.
RATE = 10.0
BURST = 40


class RateLimitedError(LoopError):
    """Too many requests from one key (HTTP 429)."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"too many requests from this token: more than {RATE:g} a second on average",
            f"wait {math.ceil(retry_after)} s (Retry-After), then slow down: poll "
            "for work every second or so, and back off on retries",
        )
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets by key id; thread-safe (routes run on a thread pool)."""

    def __init__(self, rate: float = RATE, burst: int = BURST) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key_id: int, now: float | None = None) -> None:
        """Spend one request of *key_id*'s bucket, or raise RateLimitedError."""
        now = time.monotonic() if now is None else now
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(self.burst, now))
            bucket.tokens = min(
                self.burst, bucket.tokens + (now - bucket.at) * self.rate
            )
            bucket.at = now
            if bucket.tokens < 1.0:
                raise RateLimitedError((1.0 - bucket.tokens) / self.rate)
            bucket.tokens -= 1.0
