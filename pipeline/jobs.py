"""The export jobs: the asset job over date partitions (the 03:00 schedule's and
the UI's), and the weekly re-sync's op job.

Why the re-sync is a small op job and not a schedule returning
``RunRequest.for_asset_graph_subset``: in Dagster 1.13.27 only the sensor and asset
daemons turn such a request into a backfill; the scheduler daemon submits run requests
as runs of the schedule's job and ignores ``asset_graph_subset``. So `resync_job` plans
every sync (one fingerprint query each) and queues one asset backfill holding exactly
the changed days of every sync (`pipeline.runs.resync`). The run's log and metadata
say which days were requested and why.
"""

from datetime import date

import dagster as dg

from assets.partitions import partitions
from eventsync.syncs.resync_plan import DEFAULT_WINDOW_DAYS
from pipeline.runs.resync import resync_all
from pipeline.runs.tags import EXPORT_TAGS
from resources import EventStoreResource

daily_sync_job = dg.define_asset_job(
    "daily_sync_job",
    selection=dg.AssetSelection.groups("events"),
    partitions_def=partitions,
    # Runs launched from the UI count toward the export cap too (the privacy slot).
    tags=EXPORT_TAGS,
    description="Stage, validate and export a UTC date (or a range of dates) for the syncs "
    "named in the run's `eventsync/syncs` tag (comma-separated sync ids); without the tag, "
    "for every enabled sync.",
)


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
