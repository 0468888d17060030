"""The weekly re-sync: Mondays 04:00 UTC, re-export only the days that changed.

Why a schedule that launches a small op job instead of a schedule that returns
``RunRequest.for_asset_graph_subset``: in Dagster 1.13.27 only the sensor and
asset daemons turn such a request into a backfill; the scheduler daemon submits
run requests as runs of the schedule's job and ignores ``asset_graph_subset``.
So `resync_job` plans every sync (one fingerprint query each) and queues one
asset backfill holding exactly the changed days of every sync
(`pipeline.defs.exports.backfills.submit_shared_backfill`: one backfill, not one per
sync, since the backfill daemon checks each requested backfill on every pass), which
the daemon runs batched by the assets' BackfillPolicy. The run's log and metadata say which days
were requested and why.
"""

from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy import Engine

from pipeline.defs.exports.backfills import (
    BackfillPlan,
    submit_backfill,
    submit_shared_backfill,
)
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import get_sync, list_syncs
from pipeline.syncs.resync import DEFAULT_WINDOW_DAYS, RESYNC_REASON, ResyncPlan, plan_resync


@dataclass
class ResyncOutcome:
    plan: ResyncPlan
    backfill: BackfillPlan | None

    @property
    def backfill_id(self) -> str | None:
        return self.backfill.backfill_id if self.backfill else None

    def to_dict(self) -> dict[str, Any]:
        pending = self.backfill.pending if self.backfill else {}
        return {**self.plan.to_dict(), "backfill_id": self.backfill_id, "already_pending": pending}


def resync_sync(
    engine: Engine,
    instance: dg.DagsterInstance,
    sync_id: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    today: date | None = None,
) -> ResyncOutcome:
    """Plan one sync's re-sync and queue an asset backfill of exactly the changed days
    (the daemon runs it, batched by the assets' BackfillPolicy)."""
    sync = get_sync(engine, sync_id)
    plan = plan_resync(engine, sync, window_days, today)
    backfill = submit_backfill(instance, sync, plan.days, RESYNC_REASON) if plan.days else None
    return ResyncOutcome(plan, backfill)


def resync_all(
    engine: Engine,
    instance: dg.DagsterInstance,
    window_days: int = DEFAULT_WINDOW_DAYS,
    today: date | None = None,
) -> list[ResyncOutcome]:
    """The weekly re-sync: every enabled, unpaused sync, in one backfill."""
    syncs = list_syncs(engine, enabled_only=True)
    plans = [plan_resync(engine, sync, window_days, today) for sync in syncs]
    wanted = [(sync, plan.days) for sync, plan in zip(syncs, plans, strict=True) if plan.days]
    queued = {p.sync_id: p for p in submit_shared_backfill(instance, wanted, RESYNC_REASON)}
    return [ResyncOutcome(plan, queued.get(plan.sync_id)) for plan in plans]


class ResyncConfig(dg.Config):
    window_days: int = DEFAULT_WINDOW_DAYS
    # YYYY-MM-DD; empty = the run's UTC date (the schedule sets it to its tick's date).
    today: str = ""


@dg.op(
    description="Fingerprint every enabled sync's window and queue a backfill of the "
    "days whose source changed since their export."
)
def plan_and_queue_resync(
    context: dg.OpExecutionContext, config: ResyncConfig, store: EventStoreResource
) -> dg.Output[int]:
    today = date.fromisoformat(config.today) if config.today else None
    outcomes = resync_all(store.engine(), context.instance, config.window_days, today)
    requested = {}
    for o in outcomes:
        context.log.info(
            f"sync {o.plan.sync_id}: {len(o.plan.days)} of {o.plan.days_with_rows} days with "
            f"rows to re-export ({o.plan.seconds:.2f}s); backfill {o.backfill_id or '-'}"
        )
        requested[o.plan.sync_id] = {
            "days": o.plan.reasons,
            "backfill_id": o.backfill_id,
            "seconds": round(o.plan.seconds, 3),
        }
    total = sum(len(o.plan.days) for o in outcomes)
    return dg.Output(
        total,
        metadata={
            "syncs_checked": len(outcomes),
            "days_requested": total,
            "requests": dg.MetadataValue.json(requested),
        },
    )


@dg.job(description="Weekly re-sync: queue re-exports of changed days (<= 365 days back).")
def resync_job() -> None:
    plan_and_queue_resync()


@dg.schedule(
    job=resync_job,
    cron_schedule="0 4 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Mondays 04:00 UTC: re-export the days (<= 365 back) whose source "
    "fingerprint changed since their export, and days with rows never exported.",
)
def weekly_resync_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    scheduled = context.scheduled_execution_time
    if scheduled is None:
        raise dg.Failure("weekly_resync_schedule needs a scheduled execution time")
    today = scheduled.date().isoformat()
    return dg.RunRequest(
        run_key=f"resync:{today}",
        run_config={"ops": {"plan_and_queue_resync": {"config": {"today": today}}}},
        tags={"eventsync/reason": "weekly re-sync"},
    )
