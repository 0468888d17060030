"""Errors name what is wrong: a ConfigError names its field, NotFound is a lookup."""

from __future__ import annotations

import pytest

from eventsync.errors import ConfigError, EventsyncError, NotFound


def test_a_config_error_leads_with_the_field_it_is_about() -> None:
    err = ConfigError("formats", "unknown format 'xml'")
    assert str(err) == "formats: unknown format 'xml'"
    assert err.field == "formats"


def test_callers_may_catch_them_as_the_builtin_errors_they_are() -> None:
    with pytest.raises(ValueError):
        raise ConfigError("backfill_days", "must be an integer")
    with pytest.raises(LookupError):
        raise NotFound("sync 'sync_x' not found")
    assert issubclass(NotFound, EventsyncError) and issubclass(ConfigError, EventsyncError)
