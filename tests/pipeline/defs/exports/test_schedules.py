"""The daily schedule: the previous UTC day of every enabled sync, a few dozen syncs
per run, ahead of backfills; the run it requests exports each sync's day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from assets import layout
from pipeline.definitions import defs
from pipeline.defs.exports.partitions import rolling_start
from pipeline.defs.exports.pause import take_paused_work
from pipeline.defs.exports.schedules import SYNCS_TAG, daily_sync_schedule, sync_groups
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import Sync, create_sync
from pipeline.syncs.health import pause_sync
from pipeline.workspaces import create_workspace
from tests.factories import insert_day

TICK = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
DAY = "2026-11-23"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def _tick(instance: dg.DagsterInstance):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, resources={"store": EventStoreResource()}
    ) as ctx:
        return daily_sync_schedule(ctx)


def test_one_run_holds_the_day_of_consecutive_enabled_syncs(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    a, b = (create_sync(engine, ws, str(tmp_path / n)) for n in "ab")
    off = create_sync(engine, ws, str(tmp_path / "c"), enabled=False)
    d = create_sync(engine, ws, str(tmp_path / "d"))
    # c was enabled once, so it holds a partition between b's and d's.
    instance.add_dynamic_partitions("sync", [a.id, b.id, off.id])
    requests = _tick(instance)
    # a and b in one ranged run; the disabled sync ends it; d alone, as a plain partition.
    assert len(requests) == 2
    first, second = requests
    assert (first.tags[RANGE_START], first.tags[RANGE_END]) == (f"{DAY}|{a.id}", f"{DAY}|{b.id}")
    assert first.tags[SYNCS_TAG] == f"{a.id}..{b.id} (2 syncs)"
    assert first.partition_key is None
    assert str(second.partition_key) == f"{DAY}|{d.id}"
    assert second.tags["eventsync/sync"] == d.id
    assert all(r.tags["dagster/priority"] == "10" for r in requests)  # ahead of backfills
    assert off.id not in str([r.tags for r in requests])
    assert set(instance.get_dynamic_partitions("sync")) >= {a.id, b.id, d.id}
    # The real schedule definition: 03:00 UTC, running by default.
    assert daily_sync_schedule.cron_schedule == "0 3 * * *"
    assert daily_sync_schedule.execution_timezone == "UTC"
    assert daily_sync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_runs_hold_at_most_syncs_per_run(engine, instance, tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_SYNCS_PER_RUN", "2")
    ws = create_workspace(engine, "acme").workspace_id
    ids = [create_sync(engine, ws, str(tmp_path / f"s{i}")).id for i in range(5)]
    requests = _tick(instance)
    spans = [(r.tags.get(RANGE_START), r.tags.get(RANGE_END), r.partition_key) for r in requests]
    assert spans == [
        (f"{DAY}|{ids[0]}", f"{DAY}|{ids[1]}", None),
        (f"{DAY}|{ids[2]}", f"{DAY}|{ids[3]}", None),
        (None, None, f"{DAY}|{ids[4]}"),
    ]


def test_the_scheduled_run_exports_every_sync_and_skips_a_paused_one(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [create_sync(engine, ws, str(tmp_path / f"bucket{i}")) for i in range(3)]
    insert_day(engine, ws, DAY, 30)
    (request,) = _tick(instance)
    # Paused after the tick, before its run starts: its day is skipped and kept.
    pause_sync(engine, syncs[1].id, "bucket migration", "test")
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance, tags=request.tags, raise_on_error=False
    )
    assert not result.success  # the paused sync's day is reported as not exported
    message = next(
        e for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ).step_failure_data.error.message
    assert f"{DAY}|{syncs[1].id}: not attempted: the sync is paused (paused by test" in message
    assert "1 of 3 days not exported" in message
    for i in (0, 2):
        part = tmp_path / f"bucket{i}" / layout.part_key(syncs[i].id, "parquet", DAY, "zstd")
        assert pq.read_table(part).num_rows == 30
    assert not (tmp_path / "bucket1" / syncs[1].id / "parquet").exists()
    exported = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export")), limit=10
    ).records
    assert sorted(r.partition_key for r in exported) == sorted(
        f"{DAY}|{syncs[i].id}" for i in (0, 2)
    )
    assert take_paused_work(instance, syncs[1].id) == [DAY]  # the resume gets it back


def _sync(i: int, kind: str) -> Sync:
    dest = {"local": f"/tmp/d{i}", "s3": f"s3://b{i}/p", "gcs": f"gs://b{i}/p"}[kind]
    return Sync(
        id=f"sync_{i:04d}",
        workspace_id="ws",
        title="",
        destination=dest,
        formats=["parquet"],
        compression="zstd",
        event_types=None,
        backfill_days=1,
        enabled=True,
    )


@settings(max_examples=200, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(["local", "s3", "gcs", None]), max_size=60),
    per_run=st.integers(1, 7),
)
def test_groups_cover_each_enabled_sync_once_in_order(kinds, per_run):
    """None = a sync partition whose sync is not enabled (disabled, paused, deleted)."""
    order = [f"sync_{i:04d}" for i in range(len(kinds))]
    enabled = [_sync(i, k) for i, k in enumerate(kinds) if k is not None]
    groups = sync_groups(order, enabled, per_run)
    flat = [s.id for g in groups for s in g.syncs]
    assert flat == [s.id for s in enabled]  # each once, in partition order
    position = {sync_id: i for i, sync_id in enumerate(order)}
    for group in groups:
        assert 1 <= len(group.syncs) <= per_run
        spots = [position[s.id] for s in group.syncs]
        # Consecutive partitions: the run's key range holds exactly these syncs.
        assert spots == list(range(spots[0], spots[0] + len(spots)))
        assert len({kinds[p] for p in spots}) == 1


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_the_rolling_partitions_start_covers_any_backfill_and_stays_small(today):
    start = date.fromisoformat(rolling_start(today))
    assert start.day == 1
    assert 365 <= (today - start).days <= 396  # as old as any backfill reaches
