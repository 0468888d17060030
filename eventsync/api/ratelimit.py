"""Token buckets: failed authentications per (client address, API key id), ingestion
and privacy requests per API key id (never the key itself), and the bytes of event
batches per workspace (a metered bucket: `spend` / `debit`).

With EVENTSYNC_REDIS_URL the buckets live in Redis (one Lua script per take, on Redis's
clock), so every API process shares them; without it each process counts alone (and
several replicas each allow the rate). When Redis cannot be reached a process counts
alone until it can again (logged), rather than refusing or letting everything through.
Over a limit the API answers 429 with Retry-After (seconds).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from eventsync import settings
from eventsync.errors import EventsyncError

log = logging.getLogger("eventsync.api")

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

    def spend(self, key: str, cost: float) -> float:
        """A metered take (bytes, not requests): allowed while the bucket is not in debt,
        and then `cost` is taken even if that leaves it below zero, so a request larger
        than the burst still passes once the bucket is full; 0 when allowed, else the
        seconds until the debt is paid."""
        now = time.monotonic()
        with self._lock:
            tokens = self._tokens(key, now)
            if tokens < 0:
                self._state[key] = (tokens, now)
                return -tokens / self.rate if self.rate > 0 else 3600.0
            self._state[key] = (tokens - cost, now)
            return 0.0

    def debit(self, key: str, cost: float) -> None:
        """Take `cost` unconditionally (what a request turned out to cost)."""
        now = time.monotonic()
        with self._lock:
            self._state[key] = (self._tokens(key, now) - cost, now)

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


# KEYS[1] the bucket; ARGV: tokens per second, burst, "take", "refund", "spend" or
# "debit", and the cost of a spend or debit (TokenBucket's methods of the same names).
# Returns the seconds to wait (0: allowed), as a string (Lua numbers would be truncated).
_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local last = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local wait = 0
local cost = tonumber(ARGV[4]) or 1
if ARGV[3] == 'refund' then
  tokens = math.min(burst, tokens + 1)
elseif ARGV[3] == 'debit' then
  tokens = tokens - cost
elseif ARGV[3] == 'spend' then
  if tokens >= 0 then
    tokens = tokens - cost
  elseif rate > 0 then
    wait = -tokens / rate
  else
    wait = 3600
  end
elseif tokens >= 1 then
  tokens = tokens - 1
elseif rate > 0 then
  wait = (1 - tokens) / rate
else
  wait = 3600
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
local ttl = 3600
if rate > 0 then ttl = math.ceil((burst + math.max(0, -tokens)) / rate) + 1 end
redis.call('EXPIRE', KEYS[1], ttl)
return tostring(wait)
"""


class RedisTokenBucket:
    """TokenBucket's contract, the buckets in Redis (shared by every API process)."""

    def __init__(self, url: str, name: str, rate_per_minute: float, burst: int) -> None:
        import redis

        self.local = TokenBucket(rate_per_minute, burst)  # while Redis is unreachable
        self.prefix = f"eventsync:ratelimit:{name}:"
        self._client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._script: Any = self._client.register_script(_SCRIPT)
        self._args = (self.local.rate, self.local.burst)
        self._down_since: float | None = None

    def _call(self, key: str, op: str, cost: float = 1) -> float | None:
        import redis

        try:
            args = [*self._args, op, cost]
            wait = float(self._script(keys=[self.prefix + key], args=args))
        except redis.RedisError as exc:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning(
                    "rate limits counted in this process only: Redis: %s", type(exc).__name__
                )
            return None
        self._down_since = None
        return wait

    def take(self, key: str) -> float:
        wait = self._call(key, "take")
        return self.local.take(key) if wait is None else wait

    def refund(self, key: str) -> None:
        if self._call(key, "refund") is None:
            self.local.refund(key)

    def spend(self, key: str, cost: float) -> float:
        wait = self._call(key, "spend", cost)
        return self.local.spend(key, cost) if wait is None else wait

    def debit(self, key: str, cost: float) -> None:
        if self._call(key, "debit", cost) is None:
            self.local.debit(key, cost)


Bucket = TokenBucket | RedisTokenBucket


def bucket(name: str, rate_per_minute: float, burst: int) -> Bucket:
    """A bucket for the limiter `name`: in Redis when EVENTSYNC_REDIS_URL is set."""
    url = settings.load().redis_url
    if url:
        return RedisTokenBucket(url, name, rate_per_minute, burst)
    return TokenBucket(rate_per_minute, burst)


def limiter(app: FastAPI, name: str, build: Callable[[], Bucket]) -> Bucket:
    """The app's limiter `name` (app.state.<name>), built from settings on first use."""
    found = getattr(app.state, name, None)
    if found is None:
        found = build()
        setattr(app.state, name, found)
    return found
