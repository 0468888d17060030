"""Pausing stops the work: the auto-pause (and `sync pause`) cancel the sync's queued
runs and requested backfills, each with the reason; `sync resume` re-requests their
days in one backfill; a run of a paused sync stops before reading anything."""

from __future__ import annotations

import json
from datetime import timedelta

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus

from assets.partitions import closed_days
from eventsync.cli import main
from eventsync.syncs.config import create_sync, get_sync
from eventsync.syncs.health import pause_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.backfills import backfill_remaining_days, submit_backfill
from pipeline.runs.pause import AUTO_PAUSE_NOTE
from pipeline.runs.tags import run_tags
from tests.factories import insert_day
from tests.fixtures.clock import TODAY
from tests.fixtures.dagster_env import materialize_day, queued_run

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def _queued_run(instance: dg.DagsterInstance, sync, day: str) -> DagsterRun:
    """A run waiting in the run queue, as the daily schedule leaves one (the e2e test
    has the daemon's own queue)."""
    return queued_run(instance, {**run_tags(sync), "dagster/partition": day})


def _messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [e.message for e in instance.all_logs(run_id) if e.message]


@pytest.mark.slow
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
    # Dagster gets the note, not the reason (it quotes the destination's error).
    assert AUTO_PAUSE_NOTE in backfill.error.message and reason not in backfill.error.message
    run = instance.get_run_by_id(queued.run_id)
    assert run.status == DagsterRunStatus.CANCELED
    messages = _messages(instance, run.run_id)
    assert any(AUTO_PAUSE_NOTE in m for m in messages)
    assert not any(reason in m for m in messages)

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
    assert "canceled 0 queued or running runs and 1 backfills" in shown.output
    assert instance.get_backfill(pending.backfill_id).status.value == "CANCELED"
    refused = CliRunner().invoke(main, ["sync", "backfill", sync.id, "--days", "3"])
    assert refused.exit_code == 2
    assert "is paused (paused by cli:" in refused.output
    assert f"eventsync sync resume {sync.id}" in refused.output
    pause_sync(engine, sync.id, "again", "test")  # already paused: the first reason stays
    assert "bucket migration" in get_sync(engine, sync.id).paused_reason


def test_a_run_of_several_syncs_skips_the_paused_one_and_keeps_its_days(engine, instance, tmp_path):
    """Work of several syncs is not canceled: it skips the paused sync when it runs."""
    from pipeline.runs.dagster_internals import PARTITION_NAME_TAG
    from pipeline.runs.pause import hold_paused, run_days, take_paused_work

    ws = create_workspace(engine, "acme").workspace_id
    a, b = (create_sync(engine, ws, str(tmp_path / n)) for n in "ab")
    pause_sync(engine, b.id, "bucket migration", "test")
    days = closed_days(2, TODAY)
    paused = hold_paused(instance, engine, [(d, s) for d in days for s in (a.id, b.id)])
    assert list(paused) == [b.id] and "bucket migration" in paused[b.id]
    assert take_paused_work(instance, b.id) == days
    with pytest.raises(dg.Failure, match=f"sync {b.id} is paused, nothing was exported"):
        hold_paused(instance, engine, [(days[0], b.id)])
    run = _queued_run(instance, b, days[0])
    assert run_days(run) == [days[0]] and run.tags[PARTITION_NAME_TAG] == days[0]


def test_sync_pause_cancels_in_flight_runs_as_canceled_with_the_reason_no_trace(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    insert_day(engine, ws, YESTERDAY, 5)
    running = _queued_run(instance, sync, YESTERDAY)
    instance.handle_run_event(
        running.run_id,
        dg.DagsterEvent(
            event_type_value="PIPELINE_START", job_name=running.job_name, message="started"
        ),
    )
    assert instance.get_run_by_id(running.run_id).status == DagsterRunStatus.STARTED
    shown = CliRunner().invoke(main, ["sync", "pause", sync.id, "--reason", "bucket migration"])
    assert shown.exit_code == 0, shown.output
    assert "canceled 1 queued or running runs" in shown.output
    assert instance.get_run_by_id(running.run_id).status == DagsterRunStatus.CANCELING
    assert any("bucket migration" in m for m in _messages(instance, running.run_id))

    # The run's next step stops it: CANCELED with the reason, no failure of the run.
    stopped = materialize_day(instance, resources, YESTERDAY, sync.id)
    run = instance.get_run_by_id(stopped.run_id)
    assert run.status == DagsterRunStatus.CANCELED
    events = instance.all_logs(stopped.run_id)
    assert not [e for e in events if e.dagster_event_type == dg.DagsterEventType.RUN_FAILURE]
    canceled = [e for e in events if e.dagster_event_type == dg.DagsterEventType.RUN_CANCELED]
    assert canceled and canceled[0].dagster_event.event_specific_data.error is None
    assert any("bucket migration" in (e.message or "") for e in events)
    assert not list((tmp_path / "out").rglob("*.parquet"))


def _run_pausing(
    engine, instance: dg.DagsterInstance, paused: str, tags: dict[str, str], days: list[str]
) -> DagsterRun:
    """daily_sync_job over `days` with `tags`, pausing the sync `paused` by hand as soon
    as its first day is published; the run as it ended."""
    from eventsync import checkpoints
    from pipeline.definitions import defs

    def pause_after_its_first_day(point: str, **facts: object) -> None:
        if point == "export.published" and get_sync(engine, paused).paused_reason is None:
            pause_sync(engine, paused, "bucket migration", "test")

    with checkpoints.listening(pause_after_its_first_day):
        result = defs.resolve_job_def("daily_sync_job").execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={
                **tags,
                "dagster/asset_partition_range_start": days[0],
                "dagster/asset_partition_range_end": days[-1],
            },
        )
    return instance.get_run_by_id(result.run_id)


def test_a_pause_while_the_run_exports_stops_its_other_days_and_ends_canceled(
    engine, instance, tmp_path, monkeypatch
):
    from pipeline.runs import pause

    monkeypatch.setattr(pause, "RECHECK_SECONDS", 0.0)
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    days = closed_days(3, TODAY)
    for day in days:
        insert_day(engine, ws, day, 5)

    run = _run_pausing(engine, instance, sync.id, run_tags(sync), days)
    assert run.status == DagsterRunStatus.CANCELED
    exported = list((tmp_path / "out").rglob("part-*"))
    assert len(exported) == 1  # the first day only (parquet)
    assert any("bucket migration" in m for m in _messages(instance, run.run_id))
    # Its days are kept for the resume.
    resumed = CliRunner().invoke(main, ["sync", "resume", sync.id, "--json"])
    assert json.loads(resumed.output)["requeued"]["days"] == 3


def test_a_pause_while_a_run_of_several_syncs_exports_skips_only_that_sync(
    engine, instance, tmp_path, monkeypatch
):
    """In a run of several syncs a pause by hand stops the paused sync's remaining days
    only: the run goes on with the others and is not canceled (it fails naming the
    paused sync-days, as a run of several syncs does for a sync paused before it)."""
    from pipeline.runs import pause
    from pipeline.runs.tags import syncs_tags

    monkeypatch.setattr(pause, "RECHECK_SECONDS", 0.0)
    ws = create_workspace(engine, "acme").workspace_id
    a, b = (create_sync(engine, ws, str(tmp_path / n)) for n in "ab")
    days = closed_days(3, TODAY)
    for day in days:
        insert_day(engine, ws, day, 5)

    run = _run_pausing(engine, instance, b.id, syncs_tags([a.id, b.id]), days)
    assert run.status == DagsterRunStatus.FAILURE
    messages = _messages(instance, run.run_id)
    # The run names the paused sync; the reason typed with the pause stays in eventsync
    # (no free text in Dagster: `eventsync sync status` shows it).
    assert any(b.id in m and "paused" in m for m in messages), messages
    assert len(list((tmp_path / "a").rglob("part-*"))) == len(days)  # every day of a
    assert len(list((tmp_path / "b").rglob("part-*"))) <= 1  # b stopped after its first
    resumed = CliRunner().invoke(main, ["sync", "resume", b.id, "--json"])
    assert json.loads(resumed.output)["requeued"]["days"] == len(days)
