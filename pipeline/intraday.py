"""Hourly syncs in Dagster: `intraday_schedule` (every hour at :05 UTC) asks
`eventsync.syncs.intraday.plan_intraday` which hourly syncs run for which days with
which cut-off -- frequency is read from the store at every tick -- and requests one
`intraday_sync_job` run per up to EVENTSYNC_SYNCS_PER_RUN syncs. The run stages and
exports each sync's day so far (`export_intraday`: the same locks, fencing,
write-ahead index, suppression and quarantine as the daily export) and settles
auto-pause as the export asset does.

Not partitioned on purpose: the partition model is being changed to date-only daily
partitions (another branch); this job takes (day, cut-off, sync ids) as run config,
none of which is personal data. Its runs have priority 5: after the 03:00 runs
(priority 10) and privacy jobs (50), ahead of backfills (0), so that an hourly sync
meets its 70-minute freshness while a 365-day backfill is queued.
"""

from collections.abc import Iterator
from datetime import datetime

import dagster as dg
from sqlalchemy import Engine

from assets.day_outcomes import date_materialization, failed_day
from eventsync.clock import from_us
from eventsync.settings import load
from eventsync.syncs.export_days import (
    DayOutcome,
    Outcome,
    attempted_syncs,
    destination_errors,
    infrastructure_failed,
)
from eventsync.syncs.health import record_run_failure, record_run_success
from eventsync.syncs.intraday import IntradayRun, export_intraday, plan_intraday_from_store
from pipeline.runs.tags import EXPORT_TAGS, PRIORITY_TAG, REASON_TAG, syncs_tags
from pipeline.runs.ticks import utc_schedule
from resources import DestinationsResource, EventStoreResource

INTRADAY_PRIORITY = "5"


class IntradayConfig(dg.Config):
    day: str
    cutoff_us: int
    sync_ids: list[str]


def partial_materialization(
    day: str, cutoff_us: int, outcomes: list[DayOutcome]
) -> dg.AssetMaterialization:
    """Today's date partition of `events_export` as an intraday run leaves it: the
    date's usual metadata (every sync of the run with its outcome and rows) marked
    `status: partial` with the run's cut-off, so neither the UI nor a reader of the
    metadata takes it for the complete day (the 03:00 run's materialization of the
    closed day says `status: complete`)."""
    base = date_materialization(day, outcomes)
    metadata = dict(base.metadata)
    metadata.update(
        status="partial",
        complete_through=from_us(cutoff_us).isoformat().replace("+00:00", "Z"),
        cutoff_us=dg.MetadataValue.int(cutoff_us),
    )
    return dg.AssetMaterialization(asset_key=base.asset_key, partition=day, metadata=metadata)


@dg.op(
    description="Stage and export the UTC day so far of each hourly sync of the run; "
    "materializes the date's partition of events_export with `status: partial`."
)
def export_intraday_op(
    context: dg.OpExecutionContext,
    config: IntradayConfig,
    store: EventStoreResource,
    destinations: DestinationsResource,
) -> Iterator:
    engine = store.engine()
    run = IntradayRun(config.day, config.cutoff_us, tuple(config.sync_ids))
    outcomes = list(
        export_intraday(engine, store.url(), run, destinations.open, holder=f"run {context.run_id}")
    )
    rows = {o.sync_id: o.result.rows for o in outcomes if o.result is not None}
    errors = destination_errors(outcomes)
    for sync_id, error in errors.items():
        record_run_failure(engine, sync_id, error)
    # A day failed by the system (store, lock) is neither the sync's failure nor a
    # success that resets its failure count.
    for sync_id in attempted_syncs(outcomes) - set(errors) - infrastructure_failed(outcomes):
        record_run_success(engine, sync_id)
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.kind.value] = counts.get(o.kind.value, 0) + 1
    context.log.info(
        f"{config.day} through cut-off {config.cutoff_us}: "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    )
    failed = [o for o in outcomes if o.kind in (Outcome.FAILED, Outcome.BLOCKED)]
    for outcome in failed:
        yield failed_day(outcome)
    if rows:
        yield partial_materialization(config.day, config.cutoff_us, outcomes)
    metadata = {"day": config.day, "exported": len(rows), "rows": sum(rows.values())}
    if failed:
        raise dg.Failure(
            f"{len(failed)} of {len(outcomes)} intraday exports failed: "
            + "; ".join(f"{o.day}|{o.sync_id}: {o.reason[:300]}" for o in failed[:20]),
            metadata=metadata,
        )
    yield dg.Output(None, metadata=metadata)


@dg.job(
    description="Hourly syncs: the current UTC day so far (manifest status `partial`).",
    tags=EXPORT_TAGS,
)
def intraday_sync_job() -> None:
    export_intraday_op()


def intraday_requests(
    engine: Engine, now: datetime, per_run: int | None = None
) -> list[dg.RunRequest]:
    """The run requests of a tick at `now`: per day of the plan, one per up to
    `per_run` syncs (EVENTSYNC_SYNCS_PER_RUN)."""
    per_run = per_run or load().syncs_per_run
    requests = []
    for run in plan_intraday_from_store(engine, now):
        ids = list(run.sync_ids)
        for i in range(0, len(ids), per_run):
            group = ids[i : i + per_run]
            requests.append(
                dg.RunRequest(
                    run_key=f"intraday:{run.day}:{run.cutoff_us}:{i // per_run}",
                    run_config={
                        "ops": {
                            "export_intraday_op": {
                                "config": {
                                    "day": run.day,
                                    "cutoff_us": run.cutoff_us,
                                    "sync_ids": group,
                                }
                            }
                        }
                    },
                    # KIND_TAG=export (in syncs_tags): intraday runs count toward the
                    # export cap too, so they cannot take the privacy run's slot.
                    tags={
                        **syncs_tags(group),
                        PRIORITY_TAG: INTRADAY_PRIORITY,
                        REASON_TAG: "intraday",
                    },
                )
            )
    return requests


@utc_schedule(
    intraday_sync_job,
    "5 * * * *",
    "Every hour at :05 UTC: the current UTC day so far of every enabled "
    "hourly sync (frequency read at each tick).",
)
def intraday_schedule(context: dg.ScheduleEvaluationContext, store: EventStoreResource):
    requests = intraday_requests(store.engine(), context.scheduled_execution_time)
    return requests or dg.SkipReason("no enabled hourly sync")
