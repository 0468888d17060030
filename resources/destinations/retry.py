"""Bounded retries with exponential backoff and full jitter, shared by S3 and GCS.

The SDKs' own retry loops are switched off (one attempt per call) so that this
module is the only place that decides what is transient, how long to wait and
when to give up — and so callers can tell whether an operation was a retry
(a retried CompleteMultipartUpload may find its upload already completed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


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


class TransientError(Exception):
    """Raised (or classified) when an operation may succeed if repeated."""


def call_with_retry(
    fn: Callable[[int], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn(attempt)`` (attempt starts at 1) until it succeeds, raises a
    non-transient error, or ``policy.max_attempts`` is reached (the last error
    is re-raised)."""
    attempt = 1
    while True:
        try:
            return fn(attempt)
        except Exception as exc:  # classified right below
            if attempt >= policy.max_attempts or not is_transient(exc):
                raise
        sleep(policy.delay(attempt))
        attempt += 1
