"""The two assets through a real Dagster instance: a bad sync-day is refused by the
export (the date's checks say why, naming the sync), and a ranged run gives every date
its own metadata, listing each sync."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq

from eventsync.engine import layout
from eventsync.syncs.config import create_sync
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.runs.tags import SYNCS_TAG
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
    assert f"{DAY} {sync.id}: blocked: 20 of 100 rows invalid (20.0%)" in message
    assert not (out / sync.id).exists()
    evals = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    valid = evals["sync_days_valid"]
    assert (valid.passed, valid.partition, valid.severity) == (
        False,
        DAY,
        dg.AssetCheckSeverity.ERROR,
    )
    assert valid.description == f"1 of 1 syncs above the invalid limit: {sync.id}"
    assert valid.metadata["by_sync"].value[sync.id]["invalid_share"] == 0.2
    assert valid.metadata["failed_syncs"].value == {sync.id: ["invalid_share"]}
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
    """A backfill batch is one run over a range of dates (BackfillPolicy.multi_run), for
    the syncs of its tag: every date lists each sync's numbers."""
    ws = create_workspace(engine, "acme").workspace_id
    out = tmp_path / "bucket"
    sync = create_sync(engine, ws, str(out))
    other = create_sync(engine, ws, str(tmp_path / "other"))
    days = ["2026-11-18", "2026-11-19", "2026-11-20"]
    for n, day in enumerate(days):
        insert_day(engine, ws, day, 10 + n)
    job = defs.resolve_job_def("daily_sync_job")
    result = job.execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
            SYNCS_TAG: f"{sync.id},{other.id}",
        },
    )
    assert result.success
    for n, day in enumerate(days):
        for folder, s in ((out, sync), (tmp_path / "other", other)):
            table = pq.read_table(folder / layout.part_key(s.id, "parquet", day, "zstd"))
            assert table.num_rows == 10 + n
        for asset, field in (("events_export", "rows"), ("events_daily", "rows_extracted")):
            rec = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]),
                limit=1,
            ).records[0]
            metadata = rec.asset_materialization.metadata
            assert metadata[field].value == 2 * (10 + n)
            by_sync = metadata["by_sync"].value
            assert set(by_sync) == {sync.id, other.id}
            assert by_sync[sync.id][field if asset == "events_daily" else "rows"] == 10 + n
        assert (
            instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey("events_export"), asset_partitions=[day]
                ),
                limit=1,
            )
            .records[0]
            .asset_materialization.metadata["by_sync"]
            .value[other.id]["outcome"]
            == "exported"
        )


def test_a_run_that_names_no_sync_exports_every_enabled_sync(engine, instance, tmp_path):
    """A materialization launched from the UI as it is (no eventsync/syncs tag, no config)."""
    ws = create_workspace(engine, "acme").workspace_id
    on = [create_sync(engine, ws, str(tmp_path / n)) for n in "ab"]
    off = create_sync(engine, ws, str(tmp_path / "c"), enabled=False)
    insert_day(engine, ws, DAY, 7)
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance, partition_key=DAY
    )
    assert result.success
    for s, name in zip(on, "ab", strict=True):
        assert (tmp_path / name / layout.part_key(s.id, "parquet", DAY, "zstd")).exists()
    assert not (tmp_path / "c" / off.id).exists()


def test_a_run_config_names_the_syncs_and_an_unknown_id_fails_alone(engine, instance, tmp_path):
    """`dagster asset materialize --config-json` (no tags there) names syncs in config;
    an id that is no sync fails the run, naming it, after the others are exported."""
    ws = create_workspace(engine, "acme").workspace_id
    a, b = (create_sync(engine, ws, str(tmp_path / n)) for n in "ab")
    insert_day(engine, ws, DAY, 4)
    only = {"syncs": [a.id, "sync_nosuch"]}
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance,
        partition_key=DAY,
        raise_on_error=False,
        run_config={"ops": {"events_daily": {"config": only}, "events_export": {"config": only}}},
    )
    assert not result.success
    assert (tmp_path / "a" / layout.part_key(a.id, "parquet", DAY, "zstd")).exists()
    assert not (tmp_path / "b" / b.id).exists()
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["events_export"]
    assert f"{DAY} sync_nosuch: no such sync" in failures[0].step_failure_data.error.message
