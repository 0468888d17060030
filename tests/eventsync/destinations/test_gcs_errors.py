"""A GCS failure gets one reason whatever it leaves out: the exception type first, the
HTTP code where there is no type, and retries spent named in the hint."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError, TransportError

from eventsync.destinations.gcs_errors import classify, is_transient, reason_of
from eventsync.destinations.retry import Tries


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (gexc.NotFound(""), "no_such_bucket"),
        (gexc.Forbidden(""), "access_denied"),
        (gexc.Unauthorized(""), "bad_credentials"),
        (DefaultCredentialsError("no ADC"), "bad_credentials"),
        (gexc.BadRequest("Cloud KMS key projects/p/keys/k is disabled"), "kms_key_refused"),
        (TransportError("connection refused"), "endpoint_unreachable"),
        (requests.exceptions.ConnectTimeout("connect timed out"), "endpoint_unreachable"),
        (gexc.TooManyRequests(""), "throttled"),
        (gexc.ServiceUnavailable(""), "unavailable"),
        (requests.exceptions.ChunkedEncodingError("broke mid-body"), "unavailable"),
        (gexc.Conflict(""), "refused"),
    ],
)
def test_each_failure_gets_its_reason(exc: BaseException, reason: str) -> None:
    assert reason_of(exc) == reason


def test_only_5xx_429_and_broken_connections_are_retried() -> None:
    assert is_transient(gexc.InternalServerError(""))
    assert is_transient(requests.exceptions.ReadTimeout())
    assert not is_transient(gexc.Forbidden("denied"))
    assert not is_transient(gexc.NotFound("no bucket"))


def test_the_hint_counts_the_attempts_that_did_not_help() -> None:
    assert classify(gexc.ServiceUnavailable("backend error"), Tries(6, 31.5)) == (
        "unavailable",
        "still failing after 6 attempts in 31.5 s",
        "backend error",
    )
    # No message: the words are the code.
    reason, hint, _ = classify(gexc.Forbidden(""), Tries(1, 0.0))
    assert reason == "access_denied"
    assert hint.startswith("access denied: the credentials lack the permission")
