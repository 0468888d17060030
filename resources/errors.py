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
