"""Auto-pause during a 365-day backfill, with a real Dagster daemon: the destination
fails, the third failed run pauses the sync, and from that moment no run of the sync
starts -- the backfill's remaining batches are canceled with the reason; resuming
re-requests their days."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
from click.testing import CliRunner
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

from assets.partitions import closed_days
from eventsync.cli import main
from eventsync.syncs.config import create_sync, get_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.backfills import backfill_remaining_days, submit_backfill
from pipeline.runs.pause import AUTO_PAUSE_NOTE


def _sync_runs(instance: dg.DagsterInstance, sync_id: str) -> list[dg.DagsterRun]:
    return list(instance.get_runs(RunsFilter(tags={"eventsync/sync": sync_id})))


@pytest.mark.timeout(900)
def test_auto_pause_during_a_365_day_backfill_stops_every_later_run(dagster_dev, engine, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the destination folder should be")
    sync = create_sync(engine, ws, str(blocker / "out"), backfill_days=365, enabled=False)
    days = closed_days(365, datetime.now(UTC).date())

    with dg.DagsterInstance.get() as instance:
        plan = submit_backfill(instance, sync, days, "cli backfill")
        assert len(plan.days) == 365
        backfill = dagster_dev.wait_until(
            "the backfill to be canceled by the pause",
            lambda: (
                (b := instance.get_backfill(plan.backfill_id)).status != BulkActionStatus.REQUESTED
                and b
            ),
            720,
        )
        paused = get_sync(engine, sync.id)
        assert paused.paused_reason is not None
        assert "paused after 3 consecutive failed export runs" in paused.paused_reason
        paused_at = datetime.fromisoformat(paused.paused_reason.split(" runs at ")[1].split(";")[0])
        assert backfill.status == BulkActionStatus.CANCELED
        assert AUTO_PAUSE_NOTE in backfill.error.message  # not the reason: it quotes an error

        # Give the daemon time to start anything it still would (backfill and queue loops).
        time.sleep(40)
        runs = _sync_runs(instance, sync.id)
        assert len(runs) == 6  # 365 days in batches of 61
        started = [r for r in runs if instance.get_run_record_by_id(r.run_id).start_time]
        # Two runs of a destination at a time (dagster.yaml): the run next to the third
        # failed one may have started before the pause; none starts after it. Three runs
        # failed (they made the pause); the pause cancels the fourth if it was running.
        assert len(started) in (3, 4), len(started)
        for run in started:
            record = instance.get_run_record_by_id(run.run_id)
            assert datetime.fromtimestamp(record.start_time, UTC) < paused_at
        statuses = sorted(r.status.value for r in started)
        assert statuses.count(DagsterRunStatus.FAILURE.value) >= 3, statuses
        assert set(statuses) <= {DagsterRunStatus.FAILURE.value, DagsterRunStatus.CANCELED.value}
        canceled = [r for r in runs if r not in started]
        assert {r.status for r in canceled} == {DagsterRunStatus.CANCELED}
        for run in canceled:
            messages = [e.message for e in instance.all_logs(run.run_id) if e.message]
            assert any(AUTO_PAUSE_NOTE in m for m in messages), messages
        remaining = backfill_remaining_days(instance.get_backfill(plan.backfill_id))

    # Resuming re-requests exactly what the pause canceled (the failed days included).
    blocker.unlink()
    resumed = CliRunner().invoke(main, ["sync", "resume", sync.id, "--json"])
    assert resumed.exit_code == 0, resumed.output
    requeued = json.loads(resumed.output)["requeued"]
    assert requeued["days"] == len(remaining) == 365
