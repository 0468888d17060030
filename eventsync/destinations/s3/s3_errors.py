"""What an S3 failure means: transient or not, and which REASONS entry it is.

Servers leave fields out: Ceph's AccessDenied carries an empty <Message> (botocore
gives None), some answers have no <Code> (a bare 403/503 from a proxy), and a
response may lack ResponseMetadata. Nothing here assumes a field exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    HTTPClientError,
    NoAuthTokenError,
    NoCredentialsError,
    PartialCredentialsError,
    ProxyConnectionError,
    ResponseStreamingError,
    SSLError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

THROTTLE_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestThrottled",
    "TooManyRequests",
    "RequestLimitExceeded",
    "429",
}
TRANSIENT_CODES = THROTTLE_CODES | {
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "BadGateway",
    "GatewayTimeout",
    "500",
    "502",
    "503",
    "504",
}
DENIED_CODES = {"AccessDenied", "Forbidden", "403", "AllAccessDisabled"}
CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidToken",
    "InvalidClientTokenId",
}
NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}

HINTS = {
    "NoSuchBucket": "the bucket does not exist (check the destination URI and region)",
    "AccessDenied": "access denied: the credentials lack the permission for this operation "
    "on the prefix (see docs/destinations.md for the minimal policy)",
    "InvalidAccessKeyId": "the AWS access key id is not known to the service",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key id",
    "ExpiredToken": "the credentials have expired",
    "InvalidToken": "the session token is invalid",
    "KMS.NotFoundException": "the KMS key does not exist",
    "KMS.DisabledException": "the KMS key is disabled",
    "KMS.KMSInvalidStateException": "the KMS key is not usable (pending deletion or disabled)",
    "KMS.AccessDeniedException": "the credentials may not use the KMS key (kms:GenerateDataKey)",
}
HINTS["Forbidden"] = HINTS["403"] = HINTS["AccessDenied"]


def _text(value: Any) -> str:
    """A field of a server's answer as text: '' for None or missing."""
    return "" if value is None else str(value).strip()


def error_fields(exc: BaseException) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a failure; '' / 0 where the server sent none."""
    if isinstance(exc, ClientError):
        response = exc.response if isinstance(exc.response, dict) else {}
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        try:
            status = int(meta.get("HTTPStatusCode") or 0)
        except (TypeError, ValueError):
            status = 0
        code = _text(error.get("Code")) or (str(status) if status else "")
        return code, _text(error.get("Message")), status
    return type(exc).__name__, _text(exc), 0


def error_code(exc: BaseException) -> str:
    return error_fields(exc)[0]


def is_transient(exc: BaseException) -> bool:
    """5xx, throttling (SlowDown / 429), dropped connections and timeouts."""
    if isinstance(exc, (HTTPClientError, BotoConnectionError, ResponseStreamingError)):
        return not isinstance(exc, SSLError)  # a certificate problem does not heal itself
    if isinstance(exc, ClientError):
        code, _, status = error_fields(exc)
        return code in TRANSIENT_CODES or status >= 500 or status == 429
    return False


def is_denied(exc: BaseException) -> bool:
    if not isinstance(exc, ClientError):
        return False
    code, _, status = error_fields(exc)
    return code in DENIED_CODES or (status == 403 and code not in CREDENTIAL_CODES)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and error_code(exc) in NOT_FOUND_CODES


@dataclass(frozen=True)
class Classified:
    reason: str  # a REASONS key
    code: str  # the server's code, or the exception type; never empty
    hint: str  # what it means, for a person
    message: str  # the server's own message ('' when it sent none)


def classify(exc: BaseException, tries: object) -> Classified:
    """The reason and the words for a failure that `tries` (retry.Tries: "3 attempts in
    4.2 s") did not overcome."""
    code, message, status = error_fields(exc)
    code = code or type(exc).__name__
    hint = HINTS.get(code, "")
    lowered = f"{code} {message}".lower()
    if isinstance(exc, ClientError) and (code.startswith("KMS") or "kms" in lowered):
        hint = hint or (
            "the KMS key was refused (check the key id, its key policy and kms:GenerateDataKey)"
        )
        return Classified("kms_key_refused", code, hint, message)
    if isinstance(
        exc,
        (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, NoAuthTokenError),
    ):
        hint = "no usable AWS credentials (set a role_arn or ambient credentials)"
        return Classified("bad_credentials", code, hint, message)
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)):
        return Classified(
            "endpoint_unreachable", code, f"endpoint unreachable after {tries}", message
        )
    if isinstance(exc, SSLError):
        return Classified("endpoint_unreachable", code, "TLS handshake failed", message)
    if code == "NoSuchBucket":
        return Classified("no_such_bucket", code, hint, message)
    if code in CREDENTIAL_CODES:
        return Classified("bad_credentials", code, hint, message)
    if is_denied(exc):
        return Classified("access_denied", code, hint or HINTS["AccessDenied"], message)
    if is_not_found(exc):
        return Classified("not_found", code, "the object does not exist", message)
    if isinstance(exc, ClientError) and (code in THROTTLE_CODES or status == 429):
        return Classified("throttled", code, f"still throttled after {tries}", message)
    if is_transient(exc):
        return Classified("unavailable", code, f"still failing after {tries}", message)
    return Classified("refused", code, hint, message)


# Everything botocore raises for a call: the destination maps each to a DestinationError.
BOTO_ERRORS: tuple[type[BaseException], ...] = (ClientError, BotoCoreError)
