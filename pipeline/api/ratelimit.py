"""In-process token buckets: failed authentications per client address, ingestion and
privacy requests per API key id (never the key itself).

They are per API process: several replicas each allow the rate. Over a limit the API
answers 429 with Retry-After (seconds).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from fastapi import FastAPI

from resources.errors import EventsyncError

MAX_TRACKED = 100_000  # buckets kept per limiter; full buckets are dropped beyond it


class RateLimited(EventsyncError):
    """Over a rate limit; the API answers 429 with Retry-After."""

    def __init__(self, what: str, wait_seconds: float) -> None:
        self.retry_after = max(1, math.ceil(wait_seconds))
        super().__init__(f"rate limit of {what} exceeded; retry in {self.retry_after} s")


class TokenBucket:
    """Per-key token buckets: `rate` tokens per second, at most `burst` saved."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def _wait(self, tokens: float) -> float:
        return (1 - tokens) / self.rate if self.rate > 0 else 3600.0

    def take(self, key: str) -> float:
        """Take a token: 0 when allowed, else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
            if len(self._state) >= MAX_TRACKED and key not in self._state:
                self._prune(now)
            if tokens >= 1:
                self._state[key] = (tokens - 1, now)
                return 0.0
            self._state[key] = (tokens, now)
            return self._wait(tokens)

    def refund(self, key: str) -> None:
        """Give back a token taken for an attempt that turned out fine."""
        with self._lock:
            if key in self._state:
                tokens, last = self._state[key]
                self._state[key] = (min(self.burst, tokens + 1), last)

    def _prune(self, now: float) -> None:
        full = [k for k in self._state if self._tokens(k, now) >= self.burst]
        for k in full or list(self._state)[: len(self._state) // 2]:
            del self._state[k]


def limiter(app: FastAPI, name: str, build: Callable[[], TokenBucket]) -> TokenBucket:
    """The app's limiter `name` (app.state.<name>), built from settings on first use."""
    bucket = getattr(app.state, name, None)
    if bucket is None:
        bucket = build()
        setattr(app.state, name, bucket)
    return bucket


def enforce(bucket: TokenBucket, key: str, what: str) -> None:
    """Take a token for `key` or raise RateLimited."""
    wait = bucket.take(key)
    if wait > 0:
        raise RateLimited(what, wait)
