"""What a Google Cloud Storage failure means: transient or not, and which REASONS
entry it is. api_core errors may carry no message; nothing here assumes one."""

from __future__ import annotations

import requests
from google.api_core import exceptions as gexc
from google.auth.exceptions import GoogleAuthError, TransportError

TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.RequestRangeNotSatisfiable,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    TransportError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_TYPES):
        return True
    code = getattr(exc, "code", None)
    return isinstance(code, int) and (code >= 500 or code == 429)


def text_of(exc: BaseException) -> str:
    """The error's own words: api_core's message, or str(); '' when there are none."""
    return str(getattr(exc, "message", None) or exc or "").strip()


def _unreachable(exc: BaseException) -> bool:
    """Nothing answered (refused, no route, connect timeout), as opposed to a connection
    that broke mid-request (transient: `unavailable` once retries are spent)."""
    if isinstance(
        exc, (TransportError, ConnectionRefusedError, requests.exceptions.ConnectTimeout)
    ):
        return True
    return isinstance(exc, requests.exceptions.ConnectionError) and (
        "NewConnectionError" in repr(exc) or "Failed to establish" in str(exc)
    )


def reason_of(exc: BaseException) -> str:
    text = text_of(exc).lower()
    if "kms" in text:
        return "kms_key_refused"
    if isinstance(exc, gexc.NotFound):
        return "no_such_bucket"
    if isinstance(exc, gexc.Forbidden):
        return "access_denied"
    if isinstance(exc, gexc.Unauthorized) or (
        isinstance(exc, GoogleAuthError) and not isinstance(exc, TransportError)
    ):
        return "bad_credentials"
    if _unreachable(exc):
        return "endpoint_unreachable"
    if isinstance(exc, gexc.TooManyRequests) or getattr(exc, "code", None) == 429:
        return "throttled"
    if is_transient(exc):
        return "unavailable"
    return "refused"


HINTS = {
    "kms_key_refused": "the CMEK key was refused (check the key name and that the GCS service "
    "agent may use it)",
    "no_such_bucket": "the bucket does not exist",
    "access_denied": "access denied: the credentials lack the permission for this operation "
    "(see docs/destinations.md for the minimal role)",
    "bad_credentials": "the credentials were rejected or are missing (Application Default "
    "Credentials)",
    "endpoint_unreachable": "endpoint unreachable",
}


def classify(exc: BaseException, tries: object) -> tuple[str, str, str]:
    """(reason, hint, the error's own words) of a failure that `tries` (retry.Tries)
    did not fix."""
    reason = reason_of(exc)
    hint = HINTS.get(reason, "")
    if reason in ("throttled", "unavailable"):
        hint = f"still failing after {tries}"
    elif reason == "endpoint_unreachable":
        hint = f"endpoint unreachable after {tries}"
    return reason, hint, text_of(exc)


# Everything the google client raises for a call: each maps to a DestinationError.
GCS_ERRORS: tuple[type[BaseException], ...] = (
    gexc.GoogleAPIError,
    GoogleAuthError,
    requests.exceptions.RequestException,
    ConnectionError,
    TimeoutError,
)
