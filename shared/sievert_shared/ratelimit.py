"""A token bucket per caller, in memory.

It is per process: with N replicas behind a load balancer a caller gets up to N times the rate.
That is enough to stop one runaway integration engine from starving the others on a replica; a
shared limit (at the gateway, or in Redis) is the deployment's job (docs/security.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``rate`` tokens a second, up to ``burst`` saved; one token per request."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 10_000,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_callers = max_callers  # bounds memory: callers are configured, but be safe
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, caller: str) -> float:
        """0 when the request may go ahead, else the seconds until it could (for Retry-After)."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                if len(self._buckets) >= self._max_callers:
                    self._buckets.clear()  # forgetting grants a fresh burst, never a wrong refusal
                bucket = self._buckets[caller] = _Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate


def retry_after_header(wait: float) -> str:
    """Retry-After is whole seconds (RFC 9110 10.2.3); round up so an obedient client succeeds."""
    return str(max(1, math.ceil(wait)))
