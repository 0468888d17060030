"""The two assets through a real Dagster instance: a bad day is refused by the export
(its checks say why, per day), and a ranged run gives every day its own metadata."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from assets import layout
from pipeline.definitions import defs
from pipeline.defs.exports.partitions import partition_key
from pipeline.syncs.config import create_sync
from pipeline.workspaces import create_workspace
from tests.factories import insert_day
from tests.fixtures.dagster_env import materialize_day

DAY = "2026-11-20"


def test_a_day_that_fails_its_blocking_check_is_not_exported(engine, instance, resources, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out))
    bad = {f"i{i}": {"properties": "not json"} for i in range(0, 100, 5)}  # 20% invalid
    insert_day(engine, ws, DAY, 100, **bad)
    result = materialize_day(instance, resources, DAY, sync.id)
    # Staging and its checks ran; the export step refused the day, naming why.
    assert not result.success
    failed = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failed] == ["events_export"]
    message = failed[0].step_failure_data.error.message
    assert f"{DAY}|{sync.id}: blocked: 20 of 100 rows invalid (20.0%)" in message
    assert not (out / sync.id).exists()
    evals = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    key = str(partition_key(DAY, sync.id))
    assert not evals["valid_share"].passed
    assert evals["valid_share"].partition == key
    assert "20 of 100 rows invalid (20.0%)" in evals["valid_share"].description
    assert evals["valid_share"].metadata["invalid_share"].value == 0.2
    assert evals["unique_event_ids"].passed
    assert not evals["no_quarantined_rows"].passed
    assert evals["no_quarantined_rows"].severity == dg.AssetCheckSeverity.WARN
    mats = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export")), limit=1
    ).records
    assert mats == []
    # A higher limit (run config) lets the same day through.
    result = materialize_day(
        instance,
        resources,
        DAY,
        sync.id,
        run_config={"ops": {"events_daily": {"config": {"max_invalid_share": 0.25}}}},
    )
    assert result.success
    assert pq.read_table(out / layout.part_key(sync.id, "parquet", DAY, "zstd")).num_rows == 80


def test_ranged_run_exports_each_day_with_its_own_metadata(engine, instance, resources, tmp_path):
    """A backfill batch is one run over a partition range (BackfillPolicy.multi_run)."""
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out))
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    for n, day in enumerate(days):
        insert_day(engine, ws, day, 10 + n)
    instance.add_dynamic_partitions("sync", [sync.id])
    job = defs.resolve_job_def("daily_sync_job")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": str(partition_key(days[0], sync.id)),
            "dagster/asset_partition_range_end": str(partition_key(days[-1], sync.id)),
        },
    )
    assert result.success
    for n, day in enumerate(days):
        table = pq.read_table(out / layout.part_key(sync.id, "parquet", day, "zstd"))
        assert table.num_rows == 10 + n
        for asset, field in (("events_export", "rows"), ("events_daily", "rows_extracted")):
            rec = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(asset),
                    asset_partitions=[str(partition_key(day, sync.id))],
                ),
                limit=1,
            ).records[0]
            assert rec.asset_materialization.metadata[field].value == 10 + n
