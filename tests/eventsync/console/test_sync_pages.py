"""The Syncs pages in process: a sync created after its destination check (a refused
destination is not saved), the settings form built from the sync model, pause and
resume with a reason, a backfill, a re-sync dry run, and another workspace's sync as
404."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.console import sync_form
from eventsync.syncs import config
from eventsync.workspaces import create_workspace
from tests.eventsync.console.inprocess import Browser, console_env, member  # noqa: F401


@pytest.fixture
def ws(engine: Engine, console_env, tmp_path: Path, monkeypatch) -> str:  # noqa: F811
    monkeypatch.setenv("EVENTSYNC_CONSOLE_LOCAL_ROOT", str(tmp_path / "exports"))
    (tmp_path / "exports").mkdir()
    ws = create_workspace(engine, "Acme").workspace_id
    member(engine, ws, "dev@acme.test", "developer")
    member(engine, ws, "viewer@acme.test", "viewer")
    return ws


def test_create_check_first_then_change_settings(engine: Engine, ws: str, tmp_path) -> None:
    b = Browser(engine)
    b.sign_in("dev@acme.test")
    r = b.get(f"/w/{ws}/syncs/new")
    assert r.status_code == 200
    for name in sync_form.editable_names():  # every editable setting is on the form
        assert f'name="{name}"' in r.text, name
    form = {
        "destination": str(tmp_path / "exports" / "acme"),
        "title": "Acme to disk",
        "formats": ["parquet", "csv"],
        "compression": "auto",
        "backfill_days": "3",
    }
    r = b.post(f"/w/{ws}/syncs/new", {**form, "action": "check"})
    assert r.status_code == 200 and "Destination check passed" in r.text
    assert config.list_syncs(engine, ws) == []  # checked, not saved

    # Outside the allowed folder: refused with the reason, nothing saved.
    r = b.post(f"/w/{ws}/syncs/new", {**form, "destination": "/etc/x", "action": "create"})
    assert r.status_code == 422 and "must be under" in r.text
    r = b.post(f"/w/{ws}/syncs/new", {**form, "action": "create"})
    assert r.status_code == 200 and "Sync created." in r.text
    (s,) = config.list_syncs(engine, ws)
    assert s.formats == ["parquet", "csv"] and s.backfill_days == 3 and s.title == "Acme to disk"

    r = b.get(f"/w/{ws}/syncs/{s.id}/settings")
    assert "readonly" in r.text and s.destination in r.text
    r = b.post(
        f"/w/{ws}/syncs/{s.id}/settings",
        {
            "title": "Acme",
            "formats": ["jsonl"],
            "compression": "gzip",
            "backfill_days": "3",
            "event_types": ["track", "page_view"],
        },
    )
    assert r.status_code == 200 and "Settings saved." in r.text, r.text
    s = config.get_sync(engine, s.id)
    assert (s.title, s.formats, s.compression, s.event_types) == (
        "Acme",
        ["jsonl"],
        "gzip",
        ["track", "page_view"],
    )
    # No event type ticked: the filter is cleared. A bad value is named.
    b.post(
        f"/w/{ws}/syncs/{s.id}/settings",
        {"title": "Acme", "formats": ["jsonl"], "compression": "gzip", "backfill_days": "3"},
    )
    assert config.get_sync(engine, s.id).event_types is None
    r = b.post(
        f"/w/{ws}/syncs/{s.id}/settings",
        {"title": "Acme", "formats": ["jsonl"], "compression": "snappy", "backfill_days": "3"},
    )
    assert r.status_code == 422 and "snappy applies to parquet only" in r.text
    r = b.post(
        f"/w/{ws}/syncs/{s.id}/settings",
        {
            "title": "Acme",
            "formats": ["jsonl"],
            "compression": "gzip",
            "backfill_days": "3",
            "destination": "s3://other/x",
        },
    )
    assert r.status_code == 422 and "cannot change after the sync is created" in r.text


def test_refused_destination_is_not_saved_and_viewer_cannot_write(
    engine: Engine, ws: str, tmp_path
) -> None:
    b = Browser(engine)
    b.sign_in("dev@acme.test")
    b.get(f"/w/{ws}/syncs/new")
    r = b.post(
        f"/w/{ws}/syncs/new",
        {
            "destination": "s3://",
            "formats": ["parquet"],
            "compression": "auto",
            "backfill_days": "1",
            "action": "create",
        },
    )
    assert r.status_code == 422
    assert config.list_syncs(engine, ws) == []

    s = config.create_sync(engine, ws, str(tmp_path / "exports" / "v"))
    viewer = Browser(engine)
    viewer.sign_in("viewer@acme.test")
    r = viewer.get(f"/w/{ws}/syncs/{s.id}/settings")
    assert r.status_code == 200 and "Save settings" not in r.text
    r = viewer.post(f"/w/{ws}/syncs/{s.id}/settings", {"title": "hijack"})
    assert r.status_code == 403
    assert config.get_sync(engine, s.id).title != "hijack"

    other = create_workspace(engine, "Other").workspace_id
    theirs = config.create_sync(engine, other, str(tmp_path / "exports" / "o"))
    for path in (
        f"/w/{ws}/syncs/{theirs.id}",
        f"/w/{ws}/syncs/{theirs.id}/settings",
        f"/w/{other}/syncs/{theirs.id}",
    ):
        assert b.get(path).status_code == 404, path
    assert b.post(f"/w/{ws}/syncs/{theirs.id}/pause", {"reason": "x"}).status_code == 404


@pytest.mark.slow  # a Dagster instance: the pause cancels work on it, the backfill queues
def test_pause_resume_backfill_and_resync_dry_run(engine: Engine, ws: str, tmp_path) -> None:
    s = config.create_sync(engine, ws, str(tmp_path / "exports" / "p"), title="Acme")
    b = Browser(engine)
    b.sign_in("dev@acme.test")
    b.get(f"/w/{ws}/syncs/{s.id}")
    assert b.post(f"/w/{ws}/syncs/{s.id}/pause", {"reason": ""}).status_code == 422
    r = b.post(f"/w/{ws}/syncs/{s.id}/pause", {"reason": "bucket migration"})
    assert "Sync paused" in r.text and "bucket migration" in r.text
    r = b.post(f"/w/{ws}/syncs/{s.id}/backfill", {"days": "2"})
    assert r.status_code == 409 and "is paused" in r.text
    r = b.post(f"/w/{ws}/syncs/{s.id}/resume", {"reason": "migration done"})
    assert "Sync resumed" in r.text
    r = b.post(f"/w/{ws}/syncs/{s.id}/backfill", {"days": "2"})
    assert r.status_code == 200 and "queued: 2 days" in r.text
    r = b.get(f"/w/{ws}/syncs/{s.id}/resync?days=7")
    assert 'id="resync-result"' in r.text
    r = b.get(f"/w/{ws}/syncs")
    assert "Acme" in r.text and "never" in r.text


@pytest.mark.slow  # a Dagster instance: a refused backfill must queue nothing on it
def test_a_day_count_out_of_range_is_422_naming_days_and_queues_nothing(
    engine: Engine, ws: str, tmp_path
) -> None:
    from pipeline.instance import dagster_instance

    s = config.create_sync(engine, ws, str(tmp_path / "exports" / "n"), title="Acme")
    b = Browser(engine)
    b.sign_in("dev@acme.test")
    page = b.get(f"/w/{ws}/syncs/{s.id}").text
    assert f'max="{config.MAX_BACKFILL_DAYS}"' in page
    for bad in (
        "0",
        "-3",
        "2.5",
        "1e3",
        "",
        str(config.MAX_BACKFILL_DAYS + 1),
    ):
        for r in (
            b.post(f"/w/{ws}/syncs/{s.id}/backfill", {"days": bad}),
            b.get(f"/w/{ws}/syncs/{s.id}/resync", params={"days": bad}),
        ):
            assert r.status_code == 422, (bad, r.status_code)
            assert f"days: a whole number from 1 to {config.MAX_BACKFILL_DAYS}" in r.text
    with dagster_instance() as instance:
        assert instance.get_backfills() == []


@pytest.mark.slow  # a Dagster instance: the deletion cancels the sync's work on it
def test_delete_asks_to_confirm_cancels_work_and_is_audited(
    engine: Engine, ws: str, tmp_path
) -> None:
    from eventsync import audit
    from pipeline.instance import dagster_instance
    from pipeline.runs.backfills import submit_backfill

    s = config.create_sync(engine, ws, str(tmp_path / "exports" / "d"), title="Acme")
    with dagster_instance() as instance:
        pending = submit_backfill(instance, s, ["2025-03-01", "2025-03-02"], "cli backfill")
    viewer = Browser(engine)
    viewer.sign_in("viewer@acme.test")
    assert "Delete sync" not in viewer.get(f"/w/{ws}/syncs/{s.id}").text
    assert viewer.post(f"/w/{ws}/syncs/{s.id}/delete", {"confirm": s.id}).status_code == 403

    b = Browser(engine)
    b.sign_in("dev@acme.test")
    page = b.get(f"/w/{ws}/syncs/{s.id}").text
    assert "Delete sync" in page and 'name="confirm"' in page
    r = b.post(f"/w/{ws}/syncs/{s.id}/delete", {"confirm": "not-the-id"})
    assert r.status_code == 422 and "type the sync&#39;s id" in r.text
    assert config.get_sync(engine, s.id).deleted_at is None

    r = b.post(f"/w/{ws}/syncs/{s.id}/delete", {"confirm": s.id})
    assert r.status_code == 200 and "Sync deleted." in r.text
    deleted = config.get_sync(engine, s.id)
    assert deleted.deleted_at and not deleted.enabled
    with dagster_instance() as instance:
        assert instance.get_backfill(pending.backfill_id).status.value == "CANCELED"
    entries = [
        (e.source, e.action)
        for e in audit.iter_all(engine, ws, audit.Filter())
        if "delet" in e.action
    ]
    assert ("console", "sync.delete") in entries and ("console", "syncs.deleted") in entries

    page = b.get(f"/w/{ws}/syncs/{s.id}").text
    assert "Delete sync" not in page  # deleted: nothing more to offer
    again = b.post(f"/w/{ws}/syncs/{s.id}/delete", {"confirm": s.id})
    assert again.status_code == 409 and "was deleted at" in again.text
