"""Retention: retention_job purges events and staged partitions older than each
workspace's retention days, audited."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import Engine, select

from eventsync.clock import utcnow
from eventsync.engine.staging import staging_dir
from eventsync.store.schema import events, privacy_request_log
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.privacy_jobs import retention_job
from pipeline.schedules import retention_schedule
from resources import EventStoreResource
from tests.factories import insert_day


def test_retention_job_purges_old_events_and_staging(engine: Engine, instance, tmp_path):
    ws = create_workspace(engine, "acme", retention_days=30).workspace_id
    keep_ws = create_workspace(engine, "forever").workspace_id
    today = utcnow().date()
    old, recent = (today - timedelta(days=40)).isoformat(), (today - timedelta(days=5)).isoformat()
    insert_day(engine, ws, old, 10)
    insert_day(engine, ws, recent, 10)
    insert_day(engine, keep_ws, old, 10)
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    for day in (old, recent):
        staging_dir(sync.id, day).mkdir(parents=True)
        (staging_dir(sync.id, day) / "events.parquet").write_bytes(b"x")

    result = retention_job.execute_in_process(
        instance=instance, resources={"store": EventStoreResource()}
    )
    assert result.success
    with engine.connect() as conn:
        left = conn.execute(select(events.c.workspace_id, events.c.event_id)).all()
        log = conn.execute(
            select(privacy_request_log).where(privacy_request_log.c.action == "retention_purge")
        ).all()
    assert sorted({(w, e.split("-", 1)[1][:10]) for w, e in left}) == sorted(
        {(ws, recent), (keep_ws, old)}
    )
    assert not staging_dir(sync.id, old).exists() and staging_dir(sync.id, recent).exists()
    (entry,) = log
    detail = json.loads(entry.detail)
    assert entry.workspace_id == ws and entry.actor.startswith("job:")
    assert detail["events_removed"] == 10 and detail["partition_folders_removed"] == 1
    assert retention_schedule.cron_schedule == "30 4 * * *"
