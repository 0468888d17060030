"""Sensors: new, re-enabled and resumed syncs get their partition and their backfill."""

import json
from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.exports.backfills import backfill_request, plan_backfill
from pipeline.defs.exports.partitions import closed_days
from pipeline.defs.exports.pause import take_paused_work
from pipeline.defs.exports.schedules import ensure_sync_partitions
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import Sync, list_syncs


def sync_state(sync: Sync) -> str:
    if sync.paused_reason:
        return "paused"
    return "enabled" if sync.enabled else "disabled"


@dg.sensor(
    # Backfill requests (RunRequest.for_asset_graph_subset) need the sensor to target assets.
    asset_selection=dg.AssetSelection.groups("events"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the `sync` partition of new or re-enabled syncs and requests the "
    "backfill of their last `backfill_days` closed UTC days (batched, 61 days per run); "
    "a resumed sync gets back the days its pause canceled.",
)
def new_sync_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    # Cursor: {sync_id: "enabled" | "disabled" | "paused"} as seen on the previous tick.
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    today = datetime.now(UTC).date()
    requests = []
    state = {}
    for sync in list_syncs(store.engine()):
        state[sync.id] = sync_state(sync)
        before = seen.get(sync.id)
        if state[sync.id] != "enabled" or before == "enabled":
            continue
        ensure_sync_partitions(context.instance, [sync.id])
        if before == "paused":  # `eventsync sync resume` usually re-requested them already
            why, days = "resumed sync", take_paused_work(context.instance, sync.id)
        else:
            why = "new sync" if before is None else "re-enabled sync"
            days = closed_days(sync.backfill_days, today)
        plan = plan_backfill(context.instance, sync, days, why)
        if plan.days:
            requests.append(backfill_request(plan, sync))
            context.log.info(f"{why} {sync.id}: backfill of {len(plan.days)} days requested")
    if not requests and state == seen:
        return dg.SkipReason("no new, re-enabled or resumed sync")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))
