"""A sync's frequency (daily by default, or hourly) and its event-name filter: stored,
validated like the other settings (the wrong field named), editable, and read back
from the store at every use (a change needs no restart)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from eventsync.errors import ConfigError
from eventsync.syncs.config import FREQUENCIES, Frequency, create_sync, get_sync, update_sync
from eventsync.workspaces import create_workspace


@pytest.fixture
def ws(engine: Engine) -> str:
    return create_workspace(engine, "acme").workspace_id


def test_daily_is_the_default_and_hourly_is_kept(engine: Engine, ws: str, tmp_path) -> None:
    daily = create_sync(engine, ws, str(tmp_path / "d"))
    hourly = create_sync(engine, ws, str(tmp_path / "h"), frequency="hourly")
    assert daily.frequency == Frequency.DAILY == "daily"
    assert get_sync(engine, hourly.id).frequency == "hourly"
    assert FREQUENCIES == ("daily", "hourly")


def test_frequency_changes_both_ways_and_other_settings_stay(
    engine: Engine, ws: str, tmp_path
) -> None:
    sync = create_sync(engine, ws, str(tmp_path / "a"), formats=["csv"], title="T")
    assert update_sync(engine, sync.id, frequency="hourly").frequency == "hourly"
    back = update_sync(engine, sync.id, frequency="daily")
    assert (back.frequency, back.formats, back.title) == ("daily", ["csv"], "T")
    assert update_sync(engine, sync.id, title="U").frequency == "daily"  # None leaves it


@pytest.mark.parametrize("value", ["weekly", "HOURLY", "", 1])
def test_an_unknown_frequency_names_the_field(engine: Engine, ws: str, tmp_path, value) -> None:
    with pytest.raises(ConfigError) as info:
        create_sync(engine, ws, str(tmp_path / "a"), frequency=value)
    assert info.value.field == "frequency"
    sync = create_sync(engine, ws, str(tmp_path / "b"))
    with pytest.raises(ConfigError) as info:
        update_sync(engine, sync.id, frequency=value or "x")
    assert info.value.field == "frequency"
    assert get_sync(engine, sync.id).frequency == "daily"


def test_event_names_are_stored_edited_and_cleared(engine: Engine, ws: str, tmp_path) -> None:
    sync = create_sync(engine, ws, str(tmp_path / "a"), event_names=["Signed Up", "checklist:*"])
    assert get_sync(engine, sync.id).event_names == ["Signed Up", "checklist:*"]
    assert update_sync(engine, sync.id, event_names=["flow:*"]).event_names == ["flow:*"]
    assert update_sync(engine, sync.id, title="x").event_names == ["flow:*"]
    assert update_sync(engine, sync.id, clear_event_names=True).event_names is None


@pytest.mark.parametrize(
    "names",
    [[], ["ok", ""], ["a\x00b"], ["tab\there"], ["x" * 513], [f"n{i}" for i in range(101)], "a"],
)
def test_bad_event_names_name_the_field(engine: Engine, ws: str, tmp_path, names) -> None:
    with pytest.raises(ConfigError) as info:
        create_sync(engine, ws, str(tmp_path / "a"), event_names=names)
    assert info.value.field == "event_names"


def test_another_workspace_cannot_update_the_sync(engine: Engine, ws: str, tmp_path) -> None:
    from eventsync.errors import NotFound

    other = create_workspace(engine, "other").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "a"))
    with pytest.raises(NotFound):
        update_sync(engine, sync.id, workspace_id=other, frequency="hourly")
    assert get_sync(engine, sync.id).frequency == "daily"
