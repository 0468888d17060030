"""Sensors: new or re-enabled syncs get their partition and their backfill."""

import json
from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.exports.backfills import backfill_request
from pipeline.defs.exports.partitions import closed_days
from pipeline.defs.exports.schedules import ensure_sync_partitions
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import list_syncs


@dg.sensor(
    # Backfill requests (RunRequest.for_asset_graph_subset) need the sensor to target assets.
    asset_selection=dg.AssetSelection.groups("events"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the `sync` partition of new or re-enabled syncs and requests the "
    "backfill of their last `backfill_days` closed UTC days (batched, 61 days per run).",
)
def new_sync_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    # Cursor: {sync_id: "enabled" | "disabled"} as seen on the previous tick. A sync
    # is backfilled when it first appears enabled, or goes from disabled to enabled.
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    syncs = list_syncs(store.engine())
    today = datetime.now(UTC).date()
    requests = []
    state = {}
    for sync in syncs:
        enabled = sync.enabled and sync.paused_reason is None
        state[sync.id] = "enabled" if enabled else "disabled"
        if enabled and seen.get(sync.id) != "enabled":
            ensure_sync_partitions(context.instance, [sync.id])
            days = closed_days(sync.backfill_days, today)
            if days:
                why = "new sync" if sync.id not in seen else "re-enabled sync"
                requests.append(backfill_request(sync, days, why))
                context.log.info(f"{why} {sync.id}: backfill of {len(days)} days requested")
    if not requests and state == seen:
        return dg.SkipReason("no new or re-enabled sync")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))
