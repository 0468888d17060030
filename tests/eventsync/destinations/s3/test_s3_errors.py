"""An S3 failure gets one reason whatever the server left out: no <Code> (a bare status
from a proxy), no <Message> (Ceph's AccessDenied), no ResponseMetadata at all."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from eventsync.destinations.retry import Tries
from eventsync.destinations.s3.s3_errors import classify, error_fields, is_transient


def answer(code: str | None, status: int | None, message: str | None = None) -> ClientError:
    """The ClientError botocore raises for a server's answer with these fields."""
    response: dict[str, Any] = {"Error": {}}
    if code is not None:
        response["Error"]["Code"] = code
    if message is not None:
        response["Error"]["Message"] = message
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return ClientError(response, "PutObject")


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (answer("AccessDenied", 403), "access_denied"),
        (answer(None, 403), "access_denied"),
        (answer("InvalidAccessKeyId", 403, "unknown key"), "bad_credentials"),
        (answer("NoSuchBucket", 404), "no_such_bucket"),
        (answer("NoSuchKey", 404), "not_found"),
        (answer("KMS.NotFoundException", 400), "kms_key_refused"),
        (answer("SlowDown", 503), "throttled"),
        (answer(None, 429), "throttled"),
        (answer(None, 502), "unavailable"),
        (answer("InvalidArgument", None), "refused"),
        (NoCredentialsError(), "bad_credentials"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "endpoint_unreachable"),
    ],
)
def test_each_answer_gets_its_reason(exc: BaseException, reason: str) -> None:
    assert classify(exc, Tries(6, 4.2)).reason == reason


def test_a_missing_code_is_the_status_and_a_missing_message_is_empty() -> None:
    assert error_fields(answer(None, 503)) == ("503", "", 503)
    assert error_fields(answer(None, None)) == ("", "", 0)
    assert classify(answer(None, None), Tries(1, 0.0)).code == "ClientError"  # never empty


def test_retried_are_5xx_and_throttling_not_denials() -> None:
    assert is_transient(answer("InternalError", 500)) and is_transient(answer(None, 429))
    assert not is_transient(answer("AccessDenied", 403))
    hint = classify(answer("SlowDown", 503), Tries(6, 4.2)).hint
    assert hint == "still throttled after 6 attempts in 4.2 s"
