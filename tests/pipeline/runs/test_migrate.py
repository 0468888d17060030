"""`eventsync dagster migrate-partitions` on an instance with the history of the date x
sync design: its in-flight work of the old shape is canceled, the status cache wiped,
the `sync` partitions deleted; the old materializations stay readable and the new date
partitions work on the same asset keys."""

from __future__ import annotations

import json
import time
import warnings

import dagster as dg
from click.testing import CliRunner
from dagster._core.storage.dagster_run import DagsterRunStatus

from eventsync.cli import main
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.dagster_internals import AssetGraphSubset, BulkActionStatus, PartitionBackfill
from pipeline.runs.migrate import old_backfills
from pipeline.runs.tags import SYNC_TAG
from tests.assets.verdicts import partition_status
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day, queued_run

DAY, OLD_DAY = "2026-11-20", "2026-11-19"
OLD = dg.MultiPartitionsDefinition(
    {
        "date": dg.DailyPartitionsDefinition(start_date="2026-01-01", end_offset=0),
        "sync": dg.DynamicPartitionsDefinition(name="sync"),
    }
)


def _old_history(instance: dg.DagsterInstance, sync_id: str) -> tuple[str, str]:
    """What the date x sync design left: a materialization and a check verdict of both
    assets per sync-day, `sync` partitions, a requested backfill and a queued run."""
    instance.add_dynamic_partitions("sync", [sync_id, "sync_gone"])
    key = f"{OLD_DAY}|{sync_id}"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")

        @dg.asset(name="events_daily", partitions_def=OLD)
        def old_daily() -> None:
            return None

        @dg.asset(name="events_export", partitions_def=OLD, deps=[old_daily])
        def old_export() -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"rows": 12})

    assert dg.materialize([old_daily, old_export], partition_key=key, instance=instance).success
    subset = OLD.empty_subset().with_partition_keys([key, f"{DAY}|{sync_id}"])
    backfill_id = "oldbackfill"
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags={SYNC_TAG: sync_id},
            dynamic_partitions_store=instance,
            asset_graph_subset=AssetGraphSubset(
                partitions_subsets_by_asset_key={
                    dg.AssetKey("events_daily"): subset,
                    dg.AssetKey("events_export"): subset,
                },
                non_partitioned_asset_keys=set(),
            ),
            title=None,
            description=None,
            run_config=None,
        )
    )
    run = queued_run(instance, {"dagster/partition": f"{DAY}|{sync_id}", SYNC_TAG: sync_id})
    return backfill_id, run.run_id


def test_migrate_partitions_retires_the_old_shape_and_keeps_its_history(
    engine, instance, resources, tmp_path
):
    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "out"))
    backfill_id, run_id = _old_history(instance, sync.id)
    assert [b.backfill_id for b in old_backfills(instance)] == [backfill_id]

    shown = CliRunner().invoke(main, ["dagster", "migrate-partitions", "--json"])
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.output)
    assert report["canceled_backfills"] == [backfill_id]
    assert report["canceled_runs"] == [run_id]
    assert report["deleted_sync_partitions"] == 2
    assert report["wiped_status_cache"] == ["events_daily", "events_export"]
    backfill = instance.get_backfill(backfill_id)
    assert backfill.status == BulkActionStatus.CANCELED
    assert "migrate-partitions" in backfill.error.message
    assert instance.get_run_by_id(run_id).status == DagsterRunStatus.CANCELED
    assert instance.get_dynamic_partitions("sync") == []

    # The old history stays readable on the same asset key.
    (old,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey("events_export"), asset_partitions=[f"{OLD_DAY}|{sync.id}"]
        ),
        limit=5,
    ).records
    assert old.asset_materialization.metadata["rows"].value == 12

    # The new date partitions work on it; the UI's status is the new dates'.
    insert_day(engine, ws, DAY, 6)
    assert materialize_day(instance, resources, DAY, sync.id).success
    assert partition_status(instance, "events_export") == ({DAY}, set())

    # Again: nothing left to do.
    again = json.loads(CliRunner().invoke(main, ["dagster", "migrate-partitions", "--json"]).output)
    assert (again["canceled_backfills"], again["canceled_runs"]) == ([], [])
    assert again["deleted_sync_partitions"] == 0


def test_migrate_partitions_on_a_new_deployment_does_nothing_but_says_so(instance):
    shown = CliRunner().invoke(main, ["dagster", "migrate-partitions"])
    assert shown.exit_code == 0, shown.output
    assert "canceled 0 backfills and 0 queued runs" in shown.output
    assert "deleted 0 `sync` dynamic partitions" in shown.output
