"""Errors that name what is wrong, shared by the CLI, the API and Dagster code."""

from __future__ import annotations


class EventsyncError(Exception):
    """Base class: the message is meant for the user."""


class ConfigError(EventsyncError, ValueError):
    """A configuration value is invalid; `field` names the key that is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(EventsyncError, LookupError):
    """The object does not exist *in this workspace* (other workspaces' objects too)."""


class Conflict(EventsyncError):
    """The object is not in a state that allows this (a deleted or disabled sync); the
    message says why. The API answers 409, the CLI exits non-zero."""


class StoreUnavailable(EventsyncError):
    """The event store cannot do the work now (down, unreachable, full, locked): a fault
    of the system, never of the input. The API answers 503 with Retry-After."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, cause: str, detail: str = "", retry_after: int = RETRY_AFTER_SECONDS):
        self.cause = cause  # the driver's error class, e.g. OperationalError
        # The first line of the driver's message, for logs and the CLI (an API answer
        # does not carry it: it may name hosts and ports).
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"the event store is unavailable ({cause}); retry in {retry_after} s")
