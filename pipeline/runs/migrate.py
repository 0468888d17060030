"""`eventsync dagster migrate-partitions`: retire the date x sync partitions of an
existing deployment once the date-only design (issue 24, design b) is deployed.

The asset keys are the same, so the old history stays where it is: each asset's
Events tab and every run keep the old `2026-11-20|sync_ab12` materializations and
check evaluations, and eventsync's ledger (what `eventsync sync status`, the API and
the console read) is not touched. What no longer fits is retired:

1. in-flight work of the old shape (backfills and queued runs whose partition keys
   hold a sync): the command waits up to `--wait` seconds for it to finish, then marks
   the backfills canceled and cancels the queued runs, each with a message saying why
   (runs already started are left to end; the report lists them);
2. the partitions status cache of both assets (cached multi-partition subsets no
   longer fit the date partitions: `dagster asset wipe-partitions-status-cache`);
3. the `sync` dynamic partitions.

Running it again finds nothing to do. Re-request what was canceled with `eventsync
sync backfill` (per sync) or a date-range backfill from the UI.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter

from assets.partitions import LEGACY_SYNC_PARTITIONS
from pipeline.runs.backfills import EXPORT_ASSETS, requested
from pipeline.runs.dagster_internals import (
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    BulkActionStatus,
    PartitionBackfill,
    SerializableErrorInfo,
)

MESSAGE = (
    "eventsync: work of the retired date x sync partitions, canceled by `eventsync "
    "dagster migrate-partitions`; re-request it with `eventsync sync backfill` or a "
    "date-range backfill"
)
JOB = "daily_sync_job"


@dataclass
class MigrationReport:
    canceled_backfills: list[str] = field(default_factory=list)
    finished_backfills: list[str] = field(default_factory=list)  # ended while waiting
    canceled_runs: list[str] = field(default_factory=list)
    running_runs: list[str] = field(default_factory=list)  # old-shape runs still running
    wiped_status_cache: list[str] = field(default_factory=list)
    deleted_sync_partitions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "canceled_backfills": self.canceled_backfills,
            "finished_backfills": self.finished_backfills,
            "canceled_runs": self.canceled_runs,
            "running_runs": self.running_runs,
            "wiped_status_cache": self.wiped_status_cache,
            "deleted_sync_partitions": self.deleted_sync_partitions,
        }


def _old_key(key: str | None) -> bool:
    return bool(key) and "|" in str(key)


def _is_old_backfill(backfill: PartitionBackfill) -> bool:
    try:
        data = backfill.asset_backfill_data
        if data is None:
            return False
        for asset in EXPORT_ASSETS:
            if asset in data.target_subset.asset_keys:
                keys = data.target_subset.get_partitions_subset(asset).get_partition_keys()
                return any(_old_key(k) for k in keys)
    except Exception:  # a subset the new partitions cannot read is the old shape
        return True
    return False


def old_backfills(instance: dg.DagsterInstance) -> list[PartitionBackfill]:
    """Requested backfills whose partitions are date x sync keys."""
    return [b for b in requested(instance) if _is_old_backfill(b)]


def _is_old_run(run: dg.DagsterRun) -> bool:
    return _old_key(run.tags.get(PARTITION_NAME_TAG)) or _old_key(
        run.tags.get(ASSET_PARTITION_RANGE_START_TAG)
    )


def old_runs(instance: dg.DagsterInstance, statuses: list[DagsterRunStatus]) -> list[dg.DagsterRun]:
    runs = instance.get_runs(RunsFilter(job_name=JOB, statuses=statuses))
    return [r for r in runs if _is_old_run(r)]


def _wait(instance: dg.DagsterInstance, seconds: float, report: MigrationReport) -> None:
    """Wait up to `seconds` for old-shape backfills and runs to end by themselves."""
    first = {b.backfill_id for b in old_backfills(instance)}
    deadline = time.monotonic() + seconds
    while seconds > 0 and time.monotonic() < deadline:
        active = old_runs(instance, [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
        if not old_backfills(instance) and not active:
            break
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    still = {b.backfill_id for b in old_backfills(instance)}
    report.finished_backfills = sorted(first - still)


def migrate_partitions(instance: dg.DagsterInstance, wait_seconds: float = 0) -> MigrationReport:
    """Retire the date x sync partitions (module docstring); idempotent."""
    report = MigrationReport()
    _wait(instance, wait_seconds, report)
    error = SerializableErrorInfo(message=MESSAGE, stack=[], cls_name=None)
    for backfill in old_backfills(instance):
        instance.update_backfill(
            backfill.with_status(BulkActionStatus.CANCELED)
            .with_error(error)
            .with_end_timestamp(time.time())
        )
        report.canceled_backfills.append(backfill.backfill_id)
    for run in old_runs(instance, [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED]):
        instance.report_run_canceling(run, message=MESSAGE)
        instance.report_run_canceled(run, message=MESSAGE)
        report.canceled_runs.append(run.run_id)
    report.running_runs = [
        r.run_id for r in old_runs(instance, [DagsterRunStatus.STARTED, DagsterRunStatus.STARTING])
    ]
    instance.wipe_asset_cached_status(list(EXPORT_ASSETS))
    report.wiped_status_cache = [k.to_user_string() for k in EXPORT_ASSETS]
    for key in instance.get_dynamic_partitions(LEGACY_SYNC_PARTITIONS):
        instance.delete_dynamic_partition(LEGACY_SYNC_PARTITIONS, key)
        report.deleted_sync_partitions += 1
    return report
