"""The hourly schedule and its job on a real (temporary) Dagster instance: a tick
requests the day so far of the hourly syncs only (frequency read at the tick), and the
run it requests exports a partial day whose manifest holds the events received up to
the cut-off; the next tick's run replaces it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from eventsync.clock import to_us
from eventsync.engine import layout
from eventsync.ingest import insert_event_rows
from eventsync.syncs.config import create_sync, update_sync
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.intraday import intraday_requests, intraday_schedule
from resources import EventStoreResource
from tests.factories import event_row, insert_day

DAY = "2026-11-24"
TICK = datetime(2026, 11, 24, 10, 5, tzinfo=UTC)


def _tick(instance: dg.DagsterInstance, when: datetime):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, resources={"store": EventStoreResource()}
    ) as ctx:
        return intraday_schedule(ctx)


def test_a_tick_runs_the_hourly_syncs_day_so_far(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    hourly = create_sync(engine, ws, str(tmp_path / "h"), frequency="hourly")
    daily = create_sync(engine, ws, str(tmp_path / "d"))
    insert_day(engine, ws, DAY, 30)
    (request,) = _tick(instance, TICK)
    config = request.run_config["ops"]["export_intraday_op"]["config"]
    assert (config["day"], config["sync_ids"]) == (DAY, [hourly.id])
    assert config["cutoff_us"] == to_us(TICK - timedelta(seconds=60))
    assert request.tags["dagster/priority"] == "5"  # after the 03:00 runs, before backfills
    # The syncs as every export run names them; counted toward the export cap.
    assert request.tags["eventsync/syncs"] == hourly.id
    assert request.tags["eventsync/kind"] == "export"
    assert intraday_schedule.cron_schedule == "5 * * * *"
    assert intraday_schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    job = defs.resolve_job_def("intraday_sync_job")
    result = job.execute_in_process(instance=instance, run_config=request.run_config)
    assert result.success
    doc = json.loads((tmp_path / "h" / layout.manifest_key(hourly.id, DAY)).read_text())
    assert (doc["status"], doc["rows"]) == ("partial", 30)
    assert doc["complete_through"] == f"{DAY}T10:04:00.000000Z"
    assert not (tmp_path / "d" / daily.id).exists()
    # The UI shows the run as the date's partition of events_export, marked partial.
    (record,) = instance.fetch_materializations(dg.AssetKey("events_export"), limit=10).records
    assert (record.run_id, record.partition_key) == (result.run_id, DAY)
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert (meta["status"], meta["complete_through"]) == ("partial", f"{DAY}T10:04:00Z")
    assert meta["by_sync"] == {
        hourly.id: {"outcome": "exported", "rows": 30, "rows_quarantined": 0}
        | {k: meta["by_sync"][hourly.id][k] for k in ("bytes", "files")}
    }

    # Late events, and the daily sync made hourly: the next tick has both.
    late = [
        event_row(ws, DAY, 100 + i, received_at=to_us(TICK + timedelta(minutes=20)))
        for i in range(5)
    ]
    with engine.begin() as conn:
        insert_event_rows(conn, late)
    update_sync(engine, daily.id, frequency="hourly")
    (request,) = _tick(instance, TICK + timedelta(hours=1))
    assert set(request.run_config["ops"]["export_intraday_op"]["config"]["sync_ids"]) == {
        hourly.id,
        daily.id,
    }
    assert job.execute_in_process(instance=instance, run_config=request.run_config).success
    doc = json.loads((tmp_path / "h" / layout.manifest_key(hourly.id, DAY)).read_text())
    assert (doc["status"], doc["rows"]) == ("partial", 35)
    update_sync(engine, daily.id, frequency="daily")
    update_sync(engine, hourly.id, frequency="daily")
    assert isinstance(_tick(instance, TICK + timedelta(hours=2)), dg.SkipReason)


def test_many_hourly_syncs_are_split_into_runs(engine, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    for i in range(5):
        create_sync(engine, ws, str(tmp_path / f"s{i}"), frequency="hourly")
    requests = intraday_requests(engine, TICK.replace(hour=0, minute=5), per_run=2)
    # The first hour of a day also finishes the day before: 2 days x 3 runs.
    days = [r.run_config["ops"]["export_intraday_op"]["config"]["day"] for r in requests]
    assert days == ["2026-11-23"] * 3 + [DAY] * 3
    assert len({r.run_key for r in requests}) == 6


@pytest.mark.usefixtures("noon_utc")  # no UTC midnight passes under the test
def test_the_asset_job_leaves_today_to_the_intraday_runs(engine, instance, tmp_path):
    """Today's partition exists (end_offset=1) for the intraday runs; a run of the
    asset job that reaches it exports only the closed days and says why."""
    from assets.partitions import partitions

    ws = create_workspace(engine, "acme").workspace_id
    sync = create_sync(engine, ws, str(tmp_path / "d"))
    now = datetime.now(UTC)
    today = now.date().isoformat()
    yesterday = (now.date() - timedelta(days=1)).isoformat()
    assert partitions.get_last_partition_key() == today
    insert_day(engine, ws, yesterday, 4)
    job = defs.resolve_job_def("daily_sync_job")
    result = job.execute_in_process(
        instance=instance,
        tags={"eventsync/syncs": sync.id},
        partition_key=today,
        raise_on_error=False,
    )
    assert not result.success
    assert "not closed yet" in str(result.failure_data_for_node("events_daily").error)
    assert not (tmp_path / "d" / layout.manifest_key(sync.id, today)).exists()
    ranged = job.execute_in_process(
        instance=instance,
        tags={
            "eventsync/syncs": sync.id,
            "dagster/asset_partition_range_start": yesterday,
            "dagster/asset_partition_range_end": today,
        },
    )
    assert ranged.success
    doc = json.loads((tmp_path / "d" / layout.manifest_key(sync.id, yesterday)).read_text())
    assert (doc["status"], doc["rows"]) == ("complete", 4)
    assert not (tmp_path / "d" / layout.manifest_key(sync.id, today)).exists()


def test_intraday_runs_leave_a_run_slot_to_the_others(tmp_path, engine):
    """dagster.yaml: intraday runs (their tag) hold fewer slots than the queue has, so
    the 03:00 runs, backfills and privacy jobs always have one; priorities order the
    rest (03:00 10 > intraday 5 > backfills 0)."""
    import shutil
    from pathlib import Path

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(__file__).parents[2] / "dagster_home" / "dagster.yaml", home)
    with dg.DagsterInstance.from_config(str(home)) as inst:
        queue = inst.get_concurrency_config().run_queue_config  # the run queue daemon's
        limits, max_runs = queue.tag_concurrency_limits, queue.max_concurrent_runs
    (limit,) = [x for x in limits if x["key"] == "eventsync/reason"]
    (exports,) = [x for x in limits if x["key"] == "eventsync/kind"]
    # Intraday runs are export runs: fewer than the export slots (the 03:00 runs and
    # backfills keep one), which are fewer than all (privacy keeps one).
    assert limit["value"] == "intraday" and exports["value"] == "export"
    assert limit["limit"] < exports["limit"] < max_runs
    ws = create_workspace(engine, "acme").workspace_id
    create_sync(engine, ws, str(tmp_path / "h"), frequency="hourly")
    (request,) = intraday_requests(engine, TICK)
    assert request.tags["eventsync/reason"] == "intraday"
    assert request.tags["eventsync/kind"] == "export"
    assert int(request.tags["dagster/priority"]) < 10  # the 03:00 runs' (sync_groups)
