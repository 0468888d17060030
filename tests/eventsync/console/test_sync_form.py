"""The settings form follows the sync model: a setting of eventsync/syncs/config.py
(here the frequency with its choices and the event-name filters) appears with a widget
that fits its type, and its value is read back from the form."""

from __future__ import annotations

import pytest
from starlette.datastructures import FormData

from eventsync.console import sync_form
from eventsync.errors import ConfigError
from eventsync.syncs.config import Sync


def _sync() -> Sync:
    return Sync(
        id="sync_1",
        workspace_id="ws",
        title="T",
        destination="/x",
        formats=["parquet"],
        compression="auto",
        event_types=None,
        backfill_days=3,
        enabled=True,
        frequency="hourly",
        event_names=["Signed up"],
    )


def test_settings_appear_with_widgets_from_their_types() -> None:
    fields = {f.name: f for f in sync_form.fields_of(_sync())}
    assert list(fields) == [
        "title",
        "formats",
        "compression",
        "event_types",
        "backfill_days",
        "frequency",
        "event_names",
    ]
    assert (fields["frequency"].widget, fields["frequency"].choices) == (
        "select",
        ("daily", "hourly"),
    )
    assert fields["frequency"].values == ["hourly"]
    assert (fields["event_names"].widget, fields["event_names"].optional) == ("lines", True)
    assert fields["formats"].widget == "checkboxes" and fields["backfill_days"].widget == "number"

    form = FormData(
        [
            ("title", "T2"),
            ("formats", "csv"),
            ("formats", "jsonl"),
            ("compression", "gzip"),
            ("backfill_days", "7"),
            ("frequency", "daily"),
            ("event_names", "a\n\n b \n"),
        ]
    )
    changes, cleared = sync_form.changes_from(form, list(fields.values()))
    assert changes == {
        "title": "T2",
        "formats": ["csv", "jsonl"],
        "compression": "gzip",
        "backfill_days": 7,
        "frequency": "daily",
        "event_names": ["a", "b"],
    }
    assert cleared == ["event_types"]


def test_values_outside_a_settings_choices_are_named() -> None:
    fields = sync_form.fields_of(_sync())
    with pytest.raises(ConfigError, match="frequency"):
        sync_form.changes_from(FormData([("frequency", "weekly"), ("backfill_days", "1")]), fields)
    with pytest.raises(ConfigError, match="backfill_days"):
        sync_form.changes_from(FormData([("backfill_days", "many")]), fields)
    with pytest.raises(ConfigError, match="formats"):
        sync_form.changes_from(FormData([("formats", "xml"), ("backfill_days", "1")]), fields)
