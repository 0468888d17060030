"""Backfills of syncs' days as Dagster asset backfills of date partitions, the syncs in
their `eventsync/syncs` tag: days before the partitions' start and days a requested
backfill will still export are never requested twice; several syncs' days become the
fewest backfills that export exactly those sync-days."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import Engine

from assets.partitions import PARTITIONS_START
from eventsync.syncs.config import Sync, create_sync
from eventsync.workspaces import create_workspace
from pipeline.runs.backfills import (
    EXPORT_ASSET,
    Batch,
    backfill_remaining_days,
    backfill_request,
    batches,
    multi_sync_requests,
    pending_days,
    plan_backfill,
    submit_backfill,
    submit_shared_backfill,
)
from pipeline.runs.tags import REASON_TAG, SYNC_TAG, SYNCS_TAG

DAYS = ["2025-03-01", "2025-03-02", "2025-03-03"]


def _sync(engine: Engine, tmp_path: Path, name: str = "out") -> Sync:
    ws = create_workspace(engine, "acme").workspace_id
    return create_sync(engine, ws, str(tmp_path / name))


def test_a_backfill_is_queued_with_its_sync_and_reason(engine, instance, tmp_path) -> None:
    sync = _sync(engine, tmp_path)
    plan = submit_backfill(instance, sync, DAYS, "cli backfill")
    (backfill,) = instance.get_backfills()
    assert plan.backfill_id == backfill.backfill_id and plan.days == DAYS
    assert (backfill.tags[SYNC_TAG], backfill.tags[REASON_TAG]) == (sync.id, "cli backfill")
    assert backfill.tags[SYNCS_TAG] == sync.id
    assert backfill.title == f"cli backfill: {sync.id} 2025-03-01..2025-03-03"
    assert backfill_remaining_days(backfill) == DAYS  # date partitions
    assert instance.get_dynamic_partitions("sync") == []


def test_days_pending_in_a_backfill_are_left_to_it(engine, instance, tmp_path) -> None:
    sync = _sync(engine, tmp_path)
    first = submit_backfill(instance, sync, DAYS[:2], "first")
    assert pending_days(instance) == {sync.id: {d: first.backfill_id for d in DAYS[:2]}}
    second = submit_backfill(instance, sync, DAYS, "second")
    assert second.days == DAYS[2:]
    assert second.pending == {first.backfill_id: DAYS[:2]}


def test_days_before_the_partitions_start_are_skipped_and_counted(
    engine, instance, tmp_path
) -> None:
    early = "2024-12-31"
    assert early < PARTITIONS_START
    plan = plan_backfill(instance, _sync(engine, tmp_path), [early, DAYS[0]], "cli backfill")
    assert (plan.before_start, plan.days) == ([early], [DAYS[0]])
    assert plan.to_dict()["before_partitions_start"] == 1


def test_a_sensor_asks_for_one_backfill_per_group_of_syncs(engine, tmp_path, instance) -> None:
    a, b = _sync(engine, tmp_path, "a"), _sync(engine, tmp_path, "b")
    plans = [plan_backfill(instance, s, DAYS, "new sync", {}) for s in (a, b)]
    one = backfill_request(plans[0], a)
    keys = one.asset_graph_subset.get_partitions_subset(EXPORT_ASSET).get_partition_keys()
    assert sorted(keys) == DAYS and one.tags[SYNCS_TAG] == a.id
    (both,) = multi_sync_requests(list(zip(plans, (a, b), strict=True)))
    assert both.tags[SYNCS_TAG] == f"{a.id},{b.id}" and both.tags[REASON_TAG] == "new sync"
    # Backfill runs count toward the export cap (dagster.yaml): the privacy slot.
    assert one.tags["eventsync/kind"] == both.tags["eventsync/kind"] == "export"
    assert isinstance(both, dg.RunRequest)


def test_batches_export_exactly_the_wanted_sync_days_in_few_backfills() -> None:
    # Same days: one batch (cut at the per-backfill limit).
    same = {f"s{i}": DAYS for i in range(5)}
    assert batches(same, per_backfill=2) == [
        Batch(tuple(DAYS), ("s0", "s1")),
        Batch(tuple(DAYS), ("s2", "s3")),
        Batch(tuple(DAYS), ("s4",)),
    ]
    # Each sync its own days but the same syncs per date: grouped by date instead.
    staggered = {"a": DAYS, "b": DAYS[1:], "c": DAYS[2:]}
    got = batches(staggered, per_backfill=50)
    assert len(got) == 3
    # Whatever the grouping, exactly the wanted sync-days, each once.
    for wanted in (same, staggered, {"a": DAYS[:1], "b": DAYS[2:], "c": []}):
        cells = [(d, s) for batch in batches(wanted, 2) for d in batch.days for s in batch.sync_ids]
        assert sorted(cells) == sorted((d, s) for s, days in wanted.items() for d in days)


def test_a_shared_backfill_names_its_syncs_and_counts_as_pending(
    engine, instance, tmp_path
) -> None:
    a, b = _sync(engine, tmp_path, "a"), _sync(engine, tmp_path, "b")
    plans = submit_shared_backfill(instance, [(a, DAYS), (b, DAYS[1:])], "weekly re-sync")
    assert all(p.backfill_id for p in plans)
    backfills = instance.get_backfills()
    assert sorted(b_.tags[SYNCS_TAG] for b_ in backfills) in (
        sorted([f"{a.id},{b.id}", a.id]),  # grouped by date: DAYS[0] only a
        sorted([a.id, b.id]),  # grouped by days
    )
    pending = pending_days(instance)
    assert sorted(pending[a.id]) == DAYS and sorted(pending[b.id]) == DAYS[1:]
