"""The daily schedule: the previous UTC day of every enabled sync, a few dozen syncs
per run, ahead of backfills; the run it requests exports each sync's day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assets.partitions import rolling_start
from eventsync.engine import layout
from eventsync.syncs.config import Sync, create_sync
from eventsync.syncs.health import pause_sync
from eventsync.workspaces import create_workspace
from pipeline.definitions import defs
from pipeline.runs.pause import take_paused_work
from pipeline.runs.sync_groups import sync_groups
from pipeline.runs.tags import SYNCS_TAG
from pipeline.schedules import daily_sync_schedule
from resources import EventStoreResource
from tests.factories import insert_day

TICK = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
DAY = "2026-11-23"
RANGE_START = "dagster/asset_partition_range_start"


def _tick(instance: dg.DagsterInstance):
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=TICK, resources={"store": EventStoreResource()}
    ) as ctx:
        return daily_sync_schedule(ctx)


def test_one_run_holds_the_date_of_enabled_syncs_of_one_kind(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    a, b = (create_sync(engine, ws, str(tmp_path / n)) for n in "ab")
    off = create_sync(engine, ws, str(tmp_path / "c"), enabled=False)
    d = create_sync(engine, ws, str(tmp_path / "d"))
    s3 = create_sync(engine, ws, "s3://bucket/exports")
    requests = _tick(instance)
    # The local syncs in one run of the date (the disabled one left out); the S3 sync in
    # a run of its own, with its destination's tags.
    assert len(requests) == 2
    first, second = requests
    assert first.partition_key == DAY and second.partition_key == DAY
    assert first.tags[SYNCS_TAG] == f"{a.id},{b.id},{d.id}"
    assert first.run_key == f"daily:{a.id}..{d.id}:{DAY}"
    assert (second.tags[SYNCS_TAG], second.tags["eventsync/sync"]) == (s3.id, s3.id)
    assert second.tags["eventsync/destination"] == "s3://bucket/exports"
    assert all(r.tags["dagster/priority"] == "10" for r in requests)  # ahead of backfills
    assert off.id not in str([r.tags for r in requests])
    assert RANGE_START not in first.tags and instance.get_dynamic_partitions("sync") == []
    # The real schedule definition: 03:00 UTC, running by default.
    assert daily_sync_schedule.cron_schedule == "0 3 * * *"
    assert daily_sync_schedule.execution_timezone == "UTC"
    assert daily_sync_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_runs_hold_at_most_syncs_per_run(engine, instance, tmp_path, monkeypatch):
    monkeypatch.setenv("EVENTSYNC_SYNCS_PER_RUN", "2")
    ws = create_workspace(engine, "acme").workspace_id
    ids = [create_sync(engine, ws, str(tmp_path / f"s{i}")).id for i in range(5)]
    requests = _tick(instance)
    assert [(r.tags[SYNCS_TAG], r.partition_key) for r in requests] == [
        (f"{ids[0]},{ids[1]}", DAY),
        (f"{ids[2]},{ids[3]}", DAY),
        (ids[4], DAY),
    ]


@pytest.mark.slow
def test_the_scheduled_run_exports_every_sync_and_skips_a_paused_one(engine, instance, tmp_path):
    ws = create_workspace(engine, "acme").workspace_id
    syncs = [create_sync(engine, ws, str(tmp_path / f"bucket{i}")) for i in range(3)]
    insert_day(engine, ws, DAY, 30)
    (request,) = _tick(instance)
    # Paused after the tick, before its run starts: its day is skipped and kept.
    pause_sync(engine, syncs[1].id, "bucket migration", "test")
    result = defs.resolve_job_def("daily_sync_job").execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        tags=request.tags,
        raise_on_error=False,
    )
    assert not result.success  # the paused sync's day is reported as not exported
    message = next(
        e for e in result.all_events if e.event_type_value == "STEP_FAILURE"
    ).step_failure_data.error.message
    # The sync is named; the reason typed with the pause stays in eventsync (no free
    # text in Dagster): `eventsync sync status` shows it.
    assert f"{DAY} {syncs[1].id}: not attempted: the sync is paused (its reason:" in message
    assert "bucket migration" not in message
    assert "1 of 3 sync-days not exported" in message
    for i in (0, 2):
        part = tmp_path / f"bucket{i}" / layout.part_key(syncs[i].id, "parquet", DAY, "zstd")
        assert pq.read_table(part).num_rows == 30
    assert not (tmp_path / "bucket1" / syncs[1].id / "parquet").exists()
    (exported,) = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("events_export")), limit=10
    ).records
    assert exported.partition_key == DAY
    by_sync = exported.asset_materialization.metadata["by_sync"].value
    assert {k: v["outcome"] for k, v in by_sync.items()} == {
        syncs[0].id: "exported",
        syncs[1].id: "paused",
        syncs[2].id: "exported",
    }
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
    kinds=st.lists(st.sampled_from(["local", "s3", "gcs"]), max_size=60),
    per_run=st.integers(1, 7),
)
def test_groups_cover_each_enabled_sync_once_by_kind(kinds, per_run):
    enabled = [_sync(i, k) for i, k in enumerate(kinds)]
    groups = sync_groups(enabled, per_run)
    flat = [s.id for g in groups for s in g.syncs]
    assert sorted(flat) == [s.id for s in enabled]  # each once
    kind_of = {f"sync_{i:04d}": k for i, k in enumerate(kinds)}
    for group in groups:
        assert 1 <= len(group.syncs) <= per_run
        assert len({kind_of[s.id] for s in group.syncs}) == 1
        ids = [s.id for s in group.syncs]
        assert ids == sorted(ids)  # in creation order within a kind
    # As few runs as the kinds allow.
    assert len(groups) == sum(-(-kinds.count(k) // per_run) for k in set(kinds))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_the_rolling_partitions_start_covers_any_backfill_and_stays_small(today):
    start = date.fromisoformat(rolling_start(today))
    assert start.day == 1
    assert 365 <= (today - start).days <= 396  # as old as any backfill reaches
