"""Pausing stops the work; resuming re-requests it.

A sync is paused by `eventsync sync pause` or automatically after consecutive failed
export runs (pipeline.syncs.health). From that moment no run of it may start:

- its queued runs are canceled, each with the pause reason in its event log;
- its requested asset backfills are marked canceled, with the reason as the
  backfill's error (set to CANCELED directly rather than CANCELING: CANCELING would
  make the backfill daemon terminate the run that is failing right now, which then
  ends CANCELED instead of FAILURE and hides its failed days from the UI);
- a run that starts anyway (one the daemon submitted in the same instant) stops at
  its first step, before reading anything; a run that holds several syncs' days
  skips the paused syncs' and exports the others (`hold_paused`).

The days that work would have exported are kept in the instance's key-value store;
resuming queues one backfill of exactly those days (`rerequest_paused_work`), from
the CLI at once or from new_sync_sensor when the pause is lifted another way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
)
from dagster._utils.error import SerializableErrorInfo
from sqlalchemy import Engine

from pipeline.defs.exports.backfills import (
    BackfillPlan,
    backfill_remaining_days,
    requested_backfills,
    submit_backfill,
)
from pipeline.defs.exports.partitions import split_key
from pipeline.defs.exports.schedules import SYNC_TAG
from pipeline.syncs.config import Sync, get_sync


def _kv_key(sync_id: str) -> str:
    return f"eventsync/paused_work/{sync_id}"


@dataclass
class CanceledWork:
    runs: list[str] = field(default_factory=list)
    backfills: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)  # every day kept for the resume

    def to_dict(self) -> dict:
        return {"canceled_runs": self.runs, "canceled_backfills": self.backfills}


def _range_days(start_key: str, end_key: str) -> list[str]:
    first, last = (
        date.fromisoformat(split_key(start_key)[0]),
        date.fromisoformat(split_key(end_key)[0]),
    )
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def run_days(run: DagsterRun) -> list[str]:
    """The days an export run targets (one partition or a range)."""
    if PARTITION_NAME_TAG in run.tags:
        return [split_key(run.tags[PARTITION_NAME_TAG])[0]]
    start, end = (
        run.tags.get(ASSET_PARTITION_RANGE_START_TAG),
        run.tags.get(ASSET_PARTITION_RANGE_END_TAG),
    )
    return _range_days(start, end) if start and end else []


def _remember(instance: dg.DagsterInstance, sync_id: str, days: Iterable[str]) -> list[str]:
    key = _kv_key(sync_id)
    kept = set(json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]"))
    kept |= set(days)
    instance.run_storage.set_cursor_values({key: json.dumps(sorted(kept))})
    return sorted(kept)


def cancel_sync_work(instance: dg.DagsterInstance, sync_id: str, reason: str) -> CanceledWork:
    """Cancel the sync's requested backfills and queued runs, each with `reason`."""
    out = CanceledWork()
    message = f"eventsync: sync {sync_id} is paused: {reason}"[:4000]
    error = SerializableErrorInfo(message=message, stack=[], cls_name=None)
    days: set[str] = set()
    for backfill in requested_backfills(instance, sync_id):
        days |= set(backfill_remaining_days(backfill))
        instance.update_backfill(
            backfill.with_status(BulkActionStatus.CANCELED)
            .with_error(error)
            .with_end_timestamp(time.time())
        )
        out.backfills.append(backfill.backfill_id)
    queued = instance.get_runs(
        RunsFilter(statuses=[DagsterRunStatus.QUEUED], tags={SYNC_TAG: sync_id})
    )
    for run in queued:
        days |= set(run_days(run))
        instance.report_run_canceling(run, message=message)
        instance.report_run_canceled(run, message=message)
        out.runs.append(run.run_id)
    out.days = _remember(instance, sync_id, days)
    return out


def take_paused_work(instance: dg.DagsterInstance, sync_id: str) -> list[str]:
    """The days canceled by the sync's pauses, forgotten once taken."""
    key = _kv_key(sync_id)
    days = json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]")
    if days:
        instance.run_storage.set_cursor_values({key: "[]"})
    return sorted(days)


def hold_paused(
    instance: dg.DagsterInstance, engine: Engine, keys: Iterable[str]
) -> dict[str, str]:
    """The paused syncs among a run's partition keys, with their pause reasons.

    A run of paused syncs only stops at its first step, before reading anything. In a
    run that holds several syncs (the daily schedule's, a multi-sync backfill's) the
    others go on: the paused syncs' days are skipped, and kept for the resume like the
    days of a canceled run."""
    days_by_sync: dict[str, list[str]] = {}
    for key in keys:
        day, sync_id = split_key(key)
        days_by_sync.setdefault(sync_id, []).append(day)
    paused = {}
    for sync_id in sorted(days_by_sync):
        reason = get_sync(engine, sync_id).paused_reason
        if reason:
            paused[sync_id] = reason
    if paused and len(paused) == len(days_by_sync):
        sync_id, reason = next(iter(paused.items()))
        raise dg.Failure(
            description=f"sync {sync_id} is paused, nothing was exported: "
            f"{reason[:1500]} -- resume it with `eventsync sync resume {sync_id}`",
            allow_retries=False,
        )
    for sync_id in paused:
        _remember(instance, sync_id, days_by_sync[sync_id])
    return paused


def rerequest_paused_work(instance: dg.DagsterInstance, sync: Sync) -> BackfillPlan | None:
    """After a resume: one backfill of the days the pause canceled (None: nothing was)."""
    days = take_paused_work(instance, sync.id)
    if not days:
        return None
    return submit_backfill(instance, sync, days, "resumed after pause")
