"""The export jobs: the asset job over date partitions, and the weekly re-sync's
op job, which queues one backfill of the changed days and says which and why."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import Engine

from assets.partitions import closed_days, partitions
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.jobs import resync_job
from resources import store_resource
from tests.factories import insert_day
from tests.fixtures.clock import TODAY

pytestmark = pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under a test


def test_the_daily_job_exports_both_assets_per_partition() -> None:
    job = defs.resolve_job_def("daily_sync_job")
    assert job.partitions_def == partitions
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == {
        "events_daily",
        "events_export",
    }


def test_the_resync_job_queues_the_never_exported_days(
    engine: Engine, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    (yesterday,) = closed_days(1, TODAY)
    insert_day(engine, ws, yesterday, 5)
    result = resync_job.execute_in_process(
        run_config={"ops": {"plan_and_queue_resync": {"config": {"window_days": 30}}}},
        instance=instance,
        resources={"store": store_resource()},
    )
    assert result.output_for_node("plan_and_queue_resync") == 1
    (backfill,) = instance.get_backfills()
    (mat,) = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    requested = mat.step_output_data.metadata["requests"].value
    assert requested[sync.id]["days"] == {yesterday: "never exported"}
    assert requested[sync.id]["backfill_id"] == backfill.backfill_id


def test_the_newest_day_of_a_batched_run_is_each_assets_latest_materialization(
    engine, instance, tmp_path
) -> None:
    """A run of several days materializes them oldest first, so each asset's "Latest
    materialization" in the UI is the newest day (issue 22 item 5)."""

    from assets.partitions import closed_days
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace
    from pipeline.definitions import defs
    from pipeline.runs.tags import syncs_tags
    from tests.factories import insert_day

    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    days = closed_days(4, TODAY)
    for day in days:
        insert_day(engine, ws, day, 3)
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance,
        tags={
            **syncs_tags([sync.id]),
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
    )
    assert result.success
    for asset in ("events_daily", "events_export"):
        latest = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert latest is not None and latest.dagster_event.partition == max(days), asset
