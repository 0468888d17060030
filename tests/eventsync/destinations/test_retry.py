"""Retries of destination operations (eventsync/destinations/retry.py): what is retried,
how long, how long each wait is; and, against a real S3 server (moto_server behind
tests/faultproxy.py), that the default budget rides out a minute-long outage while a
refusal is reported at once."""

from __future__ import annotations

import hashlib
import logging
import os
import time

import pytest
from botocore.exceptions import EndpointConnectionError

from eventsync.destinations import DestinationError, DestinationSettings, open_destination
from eventsync.destinations.retry import RetryCounter, RetryPolicy, call_with_retry, tries_of
from eventsync.destinations.s3.s3_errors import is_transient
from eventsync.settings import MiB, defaults
from tests.faultproxy import RESET_BEFORE, FaultProxy
from tests.fixtures.s3 import REGION, TEST_KEYS

QUICK = RetryPolicy(max_seconds=5, max_attempts=None, base_delay=0.01, max_delay=0.02)


class Flaky:
    """Fails with a transient (or given) error `failures` times, then answers."""

    def __init__(self, failures: int, error: BaseException | None = None) -> None:
        self.failures, self.error, self.attempts = failures, error, []

    def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if len(self.attempts) <= self.failures:
            raise self.error or EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        return "done"


def test_the_operation_is_told_its_attempt_number() -> None:
    op = Flaky(failures=2)
    assert call_with_retry(op, QUICK, is_transient) == "done"
    assert op.attempts == [1, 2, 3]


def test_an_error_that_is_not_transient_is_raised_at_once() -> None:
    op = Flaky(failures=5, error=ValueError("bad request"))
    with pytest.raises(ValueError, match="bad request") as info:
        call_with_retry(op, QUICK, is_transient)
    assert op.attempts == [1] and str(tries_of(info.value)) == "1 attempt"


def test_retries_stop_after_the_time_budget_with_the_last_error() -> None:
    policy = RetryPolicy(max_seconds=0.3, max_attempts=None, base_delay=0.01, max_delay=0.05)
    op = Flaky(failures=10_000)
    with pytest.raises(EndpointConnectionError) as info:
        call_with_retry(op, policy, is_transient)
    tries = tries_of(info.value)
    assert tries.attempts == len(op.attempts) > 3 and 0.3 <= tries.seconds < 1.0
    assert str(tries) == f"{tries.attempts} attempts in {tries.seconds:.1f} s"


def test_an_attempt_bound_stops_earlier() -> None:
    policy = RetryPolicy(max_seconds=60, max_attempts=3, base_delay=0.01, max_delay=0.02)
    op = Flaky(failures=10)
    with pytest.raises(EndpointConnectionError):
        call_with_retry(op, policy, is_transient)
    assert op.attempts == [1, 2, 3]


def test_waits_are_full_jitter_doubling_up_to_the_cap() -> None:
    policy = RetryPolicy(max_seconds=3600, max_attempts=12, base_delay=0.5, max_delay=20)
    waits: list[float] = []
    with pytest.raises(EndpointConnectionError):
        call_with_retry(Flaky(failures=12), policy, is_transient, sleep=waits.append)
    bounds = [min(20.0, 0.5 * 2**n) for n in range(11)]
    assert len(waits) == 11 and all(0 <= w <= b for w, b in zip(waits, bounds, strict=True))
    assert len(set(waits)) == 11  # drawn, not fixed


def test_each_retry_is_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    counter = RetryCounter("sync_r", lambda exc: type(exc).__name__)
    with caplog.at_level(logging.WARNING, logger="eventsync.destinations"):
        call_with_retry(Flaky(failures=2), QUICK, is_transient, counter.hook("put", "s3://b/k"))
    assert counter.by_code == {"EndpointConnectionError": 2}
    assert "sync sync_r: put of s3://b/k failed (EndpointConnectionError, attempt 1)" in (
        caplog.text
    )


def test_the_default_budget_outlasts_a_minute() -> None:
    policy = DestinationSettings().retry
    assert policy == RetryPolicy.from_settings(defaults())
    assert policy.max_seconds >= 90 and policy.max_attempts is None


# --- a real server ----------------------------------------------------------------------
def _settings(url: str, **keys: str) -> DestinationSettings:
    """The default retry settings, small multipart parts."""
    return DestinationSettings(
        s3_endpoint_url=url,
        region=REGION,
        multipart_threshold=5 * MiB,
        part_size=5 * MiB,
        **(keys or TEST_KEYS),
    )


@pytest.mark.slow  # real servers and processes for a minute: make test, not test-fast
def test_an_upload_rides_out_a_60_second_outage(moto_server, s3_bucket, tmp_path) -> None:
    """The S3 server is gone for 60 s between two parts of a multipart upload
    (connections refused and reset, as while S3 or radosgw restarts): with the default
    settings the upload waits it out and the object is whole."""
    path = tmp_path / "day.parquet"
    data = os.urandom(11 * MiB)  # three parts
    path.write_bytes(data)
    outages = []

    def plan(req):  # type: ignore[no-untyped-def]
        if req.query.get("partNumber") == ["2"] and not outages:
            outages.append(proxy.down_for(60))
            return RESET_BEFORE
        return None

    with FaultProxy(moto_server.url, plan=plan) as proxy:
        dest = open_destination(
            f"s3://{s3_bucket}/x", {}, sync_id="sync_out", settings=_settings(proxy.url)
        )
        started = time.monotonic()
        written = dest.put_file("events/day.parquet", path)
        elapsed = time.monotonic() - started
    assert outages and elapsed >= 60, elapsed
    body = moto_server.client().get_object(Bucket=s3_bucket, Key="x/events/day.parquet")
    assert (
        hashlib.sha256(body["Body"].read()).digest() == hashlib.sha256(path.read_bytes()).digest()
    )
    assert written.encryption == "AES256"
    assert dest.retries.total >= 3, dest.retries.by_code  # the reset, then refusals


def test_a_missing_bucket_is_not_retried(moto_server) -> None:
    with FaultProxy(moto_server.url) as proxy:
        dest = open_destination(
            "s3://no-such-bucket-here/x", {}, sync_id="sync_nb", settings=_settings(proxy.url)
        )
        with pytest.raises(DestinationError, match="NoSuchBucket") as info:
            dest.put_bytes("k", b"v")
    assert info.value.reason == "no_such_bucket"
    assert len(proxy.records) == 1 and dest.retries.total == 0


def test_access_denied_is_not_retried(moto_iam) -> None:
    """The write-only user may write under exports/ only."""
    with FaultProxy(moto_iam.server.url) as proxy:
        dest = open_destination(
            f"s3://{moto_iam.bucket}/elsewhere",
            {},
            sync_id="sync_ad",
            settings=_settings(proxy.url, **moto_iam.writer),
        )
        with pytest.raises(DestinationError, match="AccessDenied") as info:
            dest.put_bytes("k", b"v")
    assert info.value.reason == "access_denied"
    assert len(proxy.records) == 1 and dest.retries.total == 0
