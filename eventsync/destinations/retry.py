"""Retries of destination operations (S3 and GCS), with tenacity.

The SDKs' own retry loops are switched off (one attempt per call) so that one policy
decides when to try again: the classified errors (``is_transient`` of s3_errors.py and
gcs_errors.py) say what is retryable, the waits grow exponentially with full jitter
(uniform in [0, min(max_delay, base_delay * 2**(n-1))]), and an operation is retried
for ``max_seconds`` after its first attempt (EVENTSYNC_DEST_RETRY_SECONDS, 120 s by
default): an outage shorter than that -- a restart of the bucket's service, a failover
-- is ridden out whatever the jitter drew, since every failure before the deadline is
followed by another attempt. ``max_attempts`` may bound the attempts too.

The operation is called with its attempt number (1 first), so callers can tell a
retry: a retried CompleteMultipartUpload may find its upload already completed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

if TYPE_CHECKING:
    from eventsync.settings import Settings

T = TypeVar("T")
log = logging.getLogger("eventsync.destinations")

BeforeSleep = Callable[[RetryCallState], None]


@dataclass(frozen=True)
class RetryPolicy:
    max_seconds: float  # retry until this long after the first attempt
    max_attempts: int | None  # also stop after this many attempts (None: time only)
    base_delay: float  # the first wait is up to this long; the bound doubles per retry
    max_delay: float  # cap on one wait

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_seconds < 0 or self.base_delay <= 0 or self.max_delay <= 0:
            raise ValueError("max_seconds must be >= 0, the delays > 0")

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_seconds=settings.dest_retry_seconds,
            max_attempts=settings.dest_max_attempts,
            base_delay=settings.dest_backoff_base_seconds,
            max_delay=settings.dest_backoff_max_seconds,
        )

    def retrying(
        self,
        is_transient: Callable[[BaseException], bool],
        before_sleep: BeforeSleep | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Retrying:
        stop = stop_after_delay(self.max_seconds)
        if self.max_attempts is not None:
            stop = stop | stop_after_attempt(self.max_attempts)
        return Retrying(
            stop=stop,
            wait=wait_random_exponential(multiplier=self.base_delay, max=self.max_delay),
            retry=retry_if_exception(is_transient),
            before_sleep=before_sleep,
            sleep=sleep,
            reraise=True,
        )


@dataclass(frozen=True)
class Tries:
    """How much retrying a failure outlasted, for its message."""

    attempts: int
    seconds: float

    def __str__(self) -> str:
        if self.attempts == 1:
            return "1 attempt"
        return f"{self.attempts} attempts in {self.seconds:.1f} s"


_TRIES = "eventsync_tries"


def tries_of(exc: BaseException) -> Tries:
    """The attempts `call_with_retry` made before it gave up with `exc`."""
    tries = getattr(exc, _TRIES, None)
    return tries if isinstance(tries, Tries) else Tries(1, 0.0)


def call_with_retry(
    fn: Callable[[int], T],
    policy: RetryPolicy,
    is_transient: Callable[[BaseException], bool],
    before_sleep: BeforeSleep | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn(attempt)`` until it succeeds, raises an error that is not transient,
    or the policy gives up; the last error is raised as it was (``tries_of`` says
    how many attempts it outlasted). ``before_sleep`` is told of every retry."""
    retrying = policy.retrying(is_transient, before_sleep, sleep)
    started = time.monotonic()
    attempt = 0
    try:
        for state in retrying:
            with state:
                attempt = state.retry_state.attempt_number
                return fn(attempt)
    except Exception as exc:
        # Not every exception type takes attributes; the message then says 1 attempt.
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, _TRIES, Tries(attempt, time.monotonic() - started))
        raise
    raise AssertionError("tenacity ended without an outcome")  # pragma: no cover


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

    def hook(self, op: str, where: str) -> BeforeSleep:
        """tenacity's ``before_sleep`` for one operation on one object."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            code = (self.code_of(exc) if exc else "") or type(exc).__name__
            self.by_code[code] += 1
            log.warning(
                "sync %s: %s of %s failed (%s, attempt %d); retrying in %.2f s",
                self.sync_id,
                op,
                where,
                code,
                state.attempt_number,
                state.upcoming_sleep,
            )

        return before_sleep
