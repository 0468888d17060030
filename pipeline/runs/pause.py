"""Pausing stops the work; resuming re-requests it.

A sync is paused by `eventsync sync pause` or automatically after consecutive failed
export runs (eventsync.syncs.health). From that moment no run of it may start:

- its queued runs are canceled, each with the pause reason in its event log;
- its requested asset backfills are marked canceled, with the reason as the
  backfill's error (set to CANCELED directly rather than CANCELING: CANCELING would
  make the backfill daemon terminate the run that is failing right now, which then
  ends CANCELED instead of FAILURE and hides its failed days from the UI);
- by hand (`eventsync sync pause`), its in-flight runs are canceled too: marked
  CANCELING with the reason and sent Dagster's termination request, so each ends
  CANCELED (not FAILURE, no traceback on the run); the auto-pause leaves them alone
  (they are the failing runs, and their failed days must stay visible);
- a run that starts anyway (one the daemon submitted in the same instant) stops at
  its first step, before reading anything, and (a run of that sync alone) ends CANCELED
  with the reason; a run that holds several syncs (the 03:00 schedule's, a multi-sync
  backfill's, one launched from the UI for every sync) skips the paused syncs' days and
  exports the others (`hold_paused`).

Runs and backfills are found by the sync's tag (`eventsync/sync`, on work of one
sync); work of several syncs is not canceled: it skips the paused sync when it runs.

The days that work would have exported are kept in the instance's key-value store;
resuming queues one backfill of exactly those days (`rerequest_paused_work`), from
the CLI at once or from new_sync_sensor when the pause is lifted another way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import dagster as dg
from dagster import DagsterRun, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine

from assets.partitions import day_range
from eventsync.syncs.config import Sync, get_sync
from pipeline.runs.backfills import (
    BackfillPlan,
    backfill_remaining_days,
    requested_backfills,
    submit_backfill,
)
from pipeline.runs.dagster_internals import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    PARTITION_NAME_TAG,
    BulkActionStatus,
    SerializableErrorInfo,
)
from pipeline.runs.tags import SYNC_TAG


def _kv_key(sync_id: str) -> str:
    return f"eventsync/paused_work/{sync_id}"


@dataclass
class CanceledWork:
    runs: list[str] = field(default_factory=list)
    backfills: list[str] = field(default_factory=list)
    days: list[str] = field(default_factory=list)  # every day kept for the resume

    def to_dict(self) -> dict:
        return {"canceled_runs": self.runs, "canceled_backfills": self.backfills}


def run_days(run: DagsterRun) -> list[str]:
    """The dates an export run targets (one partition or a range)."""
    if PARTITION_NAME_TAG in run.tags:
        return [run.tags[PARTITION_NAME_TAG]]
    start, end = (
        run.tags.get(ASSET_PARTITION_RANGE_START_TAG),
        run.tags.get(ASSET_PARTITION_RANGE_END_TAG),
    )
    return day_range(start, end) if start and end else []


def _remember(instance: dg.DagsterInstance, sync_id: str, days: Iterable[str]) -> list[str]:
    key = _kv_key(sync_id)
    kept = set(json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]"))
    kept |= set(days)
    instance.run_storage.set_cursor_values({key: json.dumps(sorted(kept))})
    return sorted(kept)


# What an auto-pause's cancellations say in Dagster: the pause reason quotes the
# destination's last error (it may hold a path or data), which stays in eventsync.
AUTO_PAUSE_NOTE = "auto-paused after failed export runs (its reason: eventsync sync status)"


IN_FLIGHT = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def cancel_sync_work(
    instance: dg.DagsterInstance,
    sync_id: str,
    reason: str,
    in_flight: bool = False,
    state: str = "paused",
) -> CanceledWork:
    """Cancel the sync's requested backfills and queued runs, each with `reason`; with
    `in_flight`, its starting and running runs too (`terminate_runs`)."""
    out = CanceledWork()
    message = f"eventsync: sync {sync_id} is {state}: {reason}"[:4000]
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
    if in_flight:
        running = instance.get_runs(RunsFilter(statuses=IN_FLIGHT, tags={SYNC_TAG: sync_id}))
        for run in running:
            days |= set(run_days(run))
            terminate_run(instance, run, message)
            out.runs.append(run.run_id)
    out.days = _remember(instance, sync_id, days)
    return out


def terminate_run(instance: dg.DagsterInstance, run: DagsterRun, message: str) -> None:
    """End an in-flight run as CANCELED with `message`: CANCELING first (a step that
    stops now makes the run CANCELED, never FAILURE: `hold_paused`), then the run
    launcher's termination request, as the UI's Terminate button sends it."""
    instance.report_run_canceling(run, message=message)
    try:
        instance.run_launcher.terminate(run.run_id)
    except Exception as exc:  # the run's code server may be gone: the run stops itself
        instance.report_engine_event(
            f"termination request not delivered ({type(exc).__name__}); the run stops "
            "at its next step",
            run,
        )


def take_paused_work(instance: dg.DagsterInstance, sync_id: str) -> list[str]:
    """The days canceled by the sync's pauses, forgotten once taken."""
    key = _kv_key(sync_id)
    days = json.loads(instance.run_storage.get_cursor_values({key}).get(key) or "[]")
    if days:
        instance.run_storage.set_cursor_values({key: "[]"})
    return sorted(days)


def _held_reason(sync: Sync) -> str | None:
    if sync.deleted_at:
        return f"deleted at {sync.deleted_at}"
    return sync.paused_reason


def hold_paused(
    instance: dg.DagsterInstance,
    engine: Engine,
    sync_days: Iterable[tuple[str, str]],
    run_id: str | None = None,
) -> dict[str, str]:
    """The paused syncs among a run's (day, sync_id) pairs, with their pause reasons.

    A run of paused syncs only stops at its first step, before reading anything. In a
    run that holds several syncs (the daily schedule's, a multi-sync backfill's) the
    others go on: the paused syncs' days are skipped, and kept for the resume like the
    days of a canceled run. Deleted syncs are held the same way (their days are not
    kept). A run of one sync stopped this way (`run_id`) is marked CANCELING with the
    reason first, so it ends CANCELED, not FAILURE; a run of several syncs that are all
    held fails as before."""
    days_by_sync: dict[str, list[str]] = {}
    for day, sync_id in sync_days:
        days_by_sync.setdefault(sync_id, []).append(day)
    paused: dict[str, str] = {}
    deleted: set[str] = set()
    for sync_id in sorted(days_by_sync):
        sync = get_sync(engine, sync_id)
        reason = _held_reason(sync)
        if reason:
            paused[sync_id] = reason
            deleted.update([sync_id] if sync.deleted_at else [])
    if paused and len(paused) == len(days_by_sync):
        sync_id, reason = next(iter(paused.items()))
        if sync_id in deleted:
            description = f"sync {sync_id} was {reason}, nothing was exported"
        else:
            description = (
                f"sync {sync_id} is paused, nothing was exported: {reason[:1500]} -- "
                f"resume it with `eventsync sync resume {sync_id}`"
            )
        run = instance.get_run_by_id(run_id) if run_id and len(days_by_sync) == 1 else None
        if run is not None and run.status == DagsterRunStatus.STARTED:
            instance.report_run_canceling(run, message=f"eventsync: {description}"[:4000])
        raise dg.Failure(description=description, allow_retries=False)
    for sync_id in paused:
        if sync_id not in deleted:
            _remember(instance, sync_id, days_by_sync[sync_id])
    return paused


def rerequest_paused_work(instance: dg.DagsterInstance, sync: Sync) -> BackfillPlan | None:
    """After a resume: one backfill of the days the pause canceled (None: nothing was)."""
    days = take_paused_work(instance, sync.id)
    if not days:
        return None
    return submit_backfill(instance, sync, days, "resumed after pause")


# How eventsync.syncs.health words the reason of an auto-pause.
AUTO_PAUSE_PREFIX = "paused after "
# How often a running export re-reads whether its sync was paused (one query per sync).
RECHECK_SECONDS = 5.0


class LivePauses(Mapping[str, str]):
    """The paused syncs of a running export, re-read from the store (at most every
    `every` seconds per sync) so that a pause while the run works stops its remaining
    days: a run of that sync alone (`sole_sync`) is then marked CANCELING with the
    reason (it ends CANCELED, not FAILURE); a run of several syncs skips the paused
    sync's remaining days and exports the others. The days are kept for the resume.
    Starts from `hold_paused`'s answer."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        engine: Engine,
        run_id: str,
        held: Mapping[str, str],
        every: float | None = None,
        sole_sync: bool = True,
    ) -> None:
        self._instance, self._engine, self._run_id = instance, engine, run_id
        self._sole_sync = sole_sync
        self._every = RECHECK_SECONDS if every is None else every
        self._held = dict(held)
        self._read: dict[str, float] = {}

    def __getitem__(self, sync_id: str) -> str:
        reason = self._check(sync_id)
        if reason is None:
            raise KeyError(sync_id)
        return reason

    def __iter__(self) -> Iterator[str]:
        return iter(self._held)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, sync_id: object) -> bool:
        return isinstance(sync_id, str) and self._check(sync_id) is not None

    def _check(self, sync_id: str) -> str | None:
        if sync_id in self._held:
            return self._held[sync_id]
        now = time.monotonic()
        if now - self._read.get(sync_id, -self._every) < self._every:
            return None
        self._read[sync_id] = now
        reason = _held_reason(get_sync(self._engine, sync_id))
        if reason:
            self._held[sync_id] = reason
            run = self._instance.get_run_by_id(self._run_id)
            # An auto-pause leaves the failing runs FAILURE (their failed days stay
            # visible, see above); a pause by hand or a deletion cancels.
            by_hand = not reason.startswith(AUTO_PAUSE_PREFIX)
            if (
                self._sole_sync
                and by_hand
                and run is not None
                and run.status == DagsterRunStatus.STARTED
            ):
                message = f"eventsync: sync {sync_id} was paused while this run worked: {reason}"
                self._instance.report_run_canceling(run, message=message[:4000])
            if run is not None and not reason.startswith("deleted at"):
                _remember(self._instance, sync_id, run_days(run))
        return reason
