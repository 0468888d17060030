"""What Dagster knows about a sync's runs that the event store does not: runs stuck
(started but silent), lost (failed by run monitoring: their process died with its code
server or worker) or failed for the infrastructure, until a retry of them succeeds or
every step they were to execute turns out to have succeeded. `eventsync sync status`
shows them, so a sync whose runs hang is never reported as simply "fresh"; none of them counts
toward auto-pause (only the sync's own failed days do, assets/events.py)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import dagster as dg
from dagster import DagsterEventType, DagsterRunStatus, RunsFilter

from pipeline.runs.dagster_internals import RUN_FAILURE_REASON_TAG
from pipeline.runs.tags import EXPORT_TAGS, tagged_syncs

# A started run with no event for this long makes no progress (an export logs each
# step; a day that takes longer logs nothing: keep it above a day's export time).
STUCK_AFTER_SECONDS = 15 * 60
RECENT_SECONDS = 24 * 3600
# Failure reasons of the run, not of a step: the system's (worker, code server, timeout).
STEP_FAILURE = "STEP_FAILURE"
ROOT_RUN_TAG = "dagster/root_run_id"  # set by Dagster on every re-execution


@dataclass
class RunProblems:
    in_progress: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    failed_infrastructure: list[str] = field(default_factory=list)
    # Each failed run above -> the first run of its chain of retries (an incident's key).
    first_runs: dict[str, str] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return not (self.stuck or self.failed_infrastructure)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["first_runs"]
        return {**data, "healthy": self.healthy}


def _last_event_time(instance: dg.DagsterInstance, run_id: str) -> float | None:
    records = instance.get_records_for_run(run_id, ascending=False, limit=1).records
    return records[0].timestamp if records else None


def run_problems(
    instance: dg.DagsterInstance,
    sync_id: str | None = None,
    now: float | None = None,
    stuck_after: float = STUCK_AFTER_SECONDS,
) -> RunProblems:
    """The export runs of one sync (its id among the run's `eventsync/syncs` tag, or a
    run without the tag: every enabled sync's), or with `sync_id=None` every export run,
    in progress, stuck, or failed in the last 24 h for a reason other than a step's
    failure and not retried to success since."""
    now = now or time.time()
    tags = dict(EXPORT_TAGS)

    def of_sync(records: list) -> list:  # type: ignore[type-arg]
        if sync_id is None:
            return records
        return [r for r in records if _names(r.dagster_run.tags, sync_id)]

    problems = RunProblems()
    active = of_sync(
        instance.get_run_records(
            filters=RunsFilter(
                tags=tags,
                statuses=[
                    DagsterRunStatus.STARTING,
                    DagsterRunStatus.STARTED,
                    DagsterRunStatus.CANCELING,
                ],
            )
        )
    )
    for record in active:
        run_id = record.dagster_run.run_id
        problems.in_progress.append(run_id)
        last = _last_event_time(instance, run_id) or record.create_timestamp.timestamp()
        if now - last > stuck_after:
            problems.stuck.append(run_id)
    failed = of_sync(
        instance.get_run_records(
            filters=RunsFilter(
                tags=tags,
                statuses=[DagsterRunStatus.FAILURE],
                created_after=_dt(now - RECENT_SECONDS),
            )
        )
    )
    # A retry of a retry succeeding resolves the whole chain: compare first runs.
    retried_ok = {
        r.dagster_run.tags.get(ROOT_RUN_TAG)
        for r in instance.get_run_records(
            filters=RunsFilter(
                tags=tags,
                statuses=[DagsterRunStatus.SUCCESS],
                created_after=_dt(now - RECENT_SECONDS),
            )
        )
    }
    for record in failed:
        run = record.dagster_run
        if run.tags.get(RUN_FAILURE_REASON_TAG, "") == STEP_FAILURE:
            continue  # a day's own failure: the ledger says which and why
        first = first_run_id(run)
        if first in retried_ok or _work_done(instance, run):
            continue
        problems.failed_infrastructure.append(run.run_id)
        problems.first_runs[run.run_id] = first
    return problems


def _work_done(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """Whether every step the run's chain (its first run and the retries) was to execute
    succeeded in one run of it or another: with the Celery executor the steps run on
    workers and finish even when the run's own process died with its code server; such
    a run failed, but nothing of it is lost (and Dagster has nothing to retry: "No steps
    needed to be retried")."""
    group = instance.get_run_group(run.run_id)
    runs = list(group[1]) if group else [run]
    first = next((r for r in runs if r.run_id == first_run_id(run)), run)
    if not first.execution_plan_snapshot_id:
        return False
    plan = instance.get_execution_plan_snapshot(first.execution_plan_snapshot_id)
    wanted = set(plan.step_keys_to_execute or [step.key for step in plan.steps])
    done = {
        record.event_log_entry.step_key
        for member in runs
        for record in instance.get_records_for_run(
            member.run_id, of_type=DagsterEventType.STEP_SUCCESS
        ).records
    }
    return bool(wanted) and wanted <= done


def first_run_id(run: dg.DagsterRun) -> str:
    """The run a chain of retries started from (the run itself if it is no retry)."""
    return run.tags.get(ROOT_RUN_TAG) or run.run_id


def _names(tags: dict[str, str], sync_id: str) -> bool:
    """Whether a run's tags name the sync (no syncs tag: a run of every enabled sync)."""
    named = tagged_syncs(tags)
    return named is None or sync_id in named


def _dt(ts: float):  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC)
