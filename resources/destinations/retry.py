"""Bounded retries with exponential backoff and full jitter, shared by S3 and GCS.

The SDKs' own retry loops are switched off (one attempt per call) so that this
module is the only place that decides what is transient, how long to wait and
when to give up — and so callers can tell whether an operation was a retry
(a retried CompleteMultipartUpload may find its upload already completed).
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger("resources.destinations")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # including the first
    base_delay: float = 0.5  # seconds; doubles per attempt
    max_delay: float = 20.0  # cap on one wait

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def delay(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**(attempt-1))]."""
        cap = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0, cap)  # noqa: S311 - jitter, not cryptography


def call_with_retry(
    fn: Callable[[int], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """Call ``fn(attempt)`` (attempt starts at 1) until it succeeds, raises a
    non-transient error, or ``policy.max_attempts`` is reached (the last error
    is re-raised). ``on_retry(attempt, error, delay)`` is told of every retry
    (destinations count and log them)."""
    attempt = 1
    while True:
        try:
            return fn(attempt)
        except Exception as exc:  # classified right below
            if attempt >= policy.max_attempts or not is_transient(exc):
                raise
            delay = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, exc, delay)
        sleep(delay)
        attempt += 1


class RetryCounter:
    """Counts and logs the retries of one destination, by error code (SlowDown,
    ConnectionClosedError, 503, ...): the fault tests compare it with the faults they
    injected, and an operator sees every retry in the run's log."""

    def __init__(self, sync_id: str, code_of: Callable[[BaseException], str]) -> None:
        self.sync_id = sync_id
        self.code_of = code_of
        self.by_code: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.by_code.values())

    def hook(self, op: str, where: str) -> Callable[[int, BaseException, float], None]:
        def on_retry(attempt: int, exc: BaseException, delay: float) -> None:
            code = self.code_of(exc) or type(exc).__name__
            self.by_code[code] += 1
            log.warning(
                "sync %s: %s of %s failed (%s, attempt %d); retrying in %.2f s",
                self.sync_id,
                op,
                where,
                code,
                attempt,
                delay,
            )

        return on_retry
