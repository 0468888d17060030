"""Pausing stops the work: the auto-pause (and `sync pause`) cancel the sync's queued
runs and requested backfills, each with the reason; `sync resume` re-requests their
days in one backfill; a run of a paused sync stops before reading anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
from click.testing import CliRunner
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.utils import make_new_run_id

from pipeline.cli import main
from pipeline.defs.exports.backfills import backfill_remaining_days, submit_backfill
from pipeline.defs.exports.partitions import closed_days, partition_key
from pipeline.defs.exports.schedules import run_tags
from pipeline.syncs.config import create_sync, get_sync
from pipeline.syncs.health import pause_sync
from pipeline.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day

TODAY = datetime.now(UTC).date()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def _queued_run(instance: dg.DagsterInstance, sync, day: str) -> DagsterRun:
    """A run waiting in the run queue, as the daily schedule leaves one (the e2e test
    has the daemon's own queue)."""
    return instance.add_run(
        DagsterRun(
            job_name="daily_sync_job",
            run_id=make_new_run_id(),
            status=DagsterRunStatus.QUEUED,
            remote_job_origin=RemoteJobOrigin(
                RemoteRepositoryOrigin(RegisteredCodeLocationOrigin("eventsync"), "__repository__"),
                "daily_sync_job",
            ),
            tags={**run_tags(sync), "dagster/partition": str(partition_key(day, sync.id))},
        )
    )


def _messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.message for e in instance.all_logs(run_id) if e.message]


def test_auto_pause_cancels_queued_work_and_resume_requests_it_again(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination folder should be")
    sync = create_sync(engine, ws, str(blocker / "out"))
    insert_day(engine, ws, YESTERDAY, 5)
    window = closed_days(20, TODAY)
    pending = submit_backfill(instance, sync, window, "cli backfill")
    queued = _queued_run(instance, sync, YESTERDAY)

    for _ in range(3):  # the third failed run pauses the sync
        assert not materialize_day(instance, resources, YESTERDAY, sync.id).success
    reason = get_sync(engine, sync.id).paused_reason
    assert reason and "paused after 3 consecutive failed export runs" in reason

    backfill = instance.get_backfill(pending.backfill_id)
    assert backfill.status.value == "CANCELED"
    assert reason in backfill.error.message
    run = instance.get_run_by_id(queued.run_id)
    assert run.status == DagsterRunStatus.CANCELED
    assert any(reason in m for m in _messages(instance, run.run_id))

    # A run of the paused sync that starts anyway stops before reading anything.
    stopped = materialize_day(instance, resources, YESTERDAY, sync.id)
    assert not stopped.success
    failure = [e for e in stopped.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure[0].step_key == "events_daily"
    assert f"sync {sync.id} is paused, nothing was exported" in (
        failure[0].step_failure_data.error.message
    )
    assert get_sync(engine, sync.id).consecutive_failures == 3  # not counted again

    blocker.unlink()
    resumed = CliRunner().invoke(main, ["sync", "resume", sync.id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    requeued = json.loads(resumed.output)["requeued"]
    assert requeued["days"] == len(window) and requeued["last_day"] == YESTERDAY
    again = instance.get_backfill(requeued["backfill_id"])
    assert backfill_remaining_days(again) == window
    assert again.tags["eventsync/reason"] == "resumed after pause"


def test_sync_pause_by_hand_cancels_and_refuses_new_backfills(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    pending = submit_backfill(instance, sync, closed_days(5, TODAY), "cli backfill")
    shown = CliRunner().invoke(main, ["sync", "pause", sync.id, "--reason", "bucket migration"])
    assert shown.exit_code == 0, shown.output
    assert f"paused {sync.id}: paused by cli:" in shown.output
    assert "canceled 0 queued runs and 1 backfills" in shown.output
    assert instance.get_backfill(pending.backfill_id).status.value == "CANCELED"
    refused = CliRunner().invoke(main, ["sync", "backfill", sync.id, "--days", "3"])
    assert refused.exit_code == 2
    assert "is paused (paused by cli:" in refused.output
    assert f"eventsync sync resume {sync.id}" in refused.output
    pause_sync(engine, sync.id, "again", "test")  # already paused: the first reason stays
    assert "bucket migration" in get_sync(engine, sync.id).paused_reason
