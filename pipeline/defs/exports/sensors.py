"""Sensors: new, re-enabled and resumed syncs get their partition and their backfill."""

import json
from datetime import UTC, datetime

import dagster as dg

from pipeline.defs.exports.backfills import (
    backfill_request,
    multi_sync_request,
    pending_days,
    plan_backfill,
)
from pipeline.defs.exports.partitions import closed_days
from pipeline.defs.exports.pause import take_paused_work
from pipeline.defs.exports.schedules import ensure_sync_partitions
from pipeline.defs.resources import EventStoreResource
from pipeline.syncs.config import Sync, list_syncs


def sync_state(sync: Sync) -> str:
    if sync.paused_reason:
        return "paused"
    return "enabled" if sync.enabled else "disabled"


# Partitions one tick's backfill may hold (one sync's days are never split). Creating a
# run writes one "materialization planned" event per partition and asset to Dagster's
# storage, and the backfill daemon creates the runs of a new backfill in one pass, so
# this bounds that pass; syncs beyond it are taken by the next ticks (30 s apart).
MAX_PARTITIONS_PER_TICK = 1_000


@dg.sensor(
    # Backfill requests (RunRequest.for_asset_graph_subset) need the sensor to target assets.
    asset_selection=dg.AssetSelection.groups("events"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the `sync` partition of new or re-enabled syncs and requests the "
    "backfill of their last `backfill_days` closed UTC days (batched, 61 days per run; one "
    "backfill per tick however many syncs); a resumed sync gets back the days its pause "
    "canceled.",
)
def new_sync_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    # Cursor: {sync_id: "enabled" | "disabled" | "paused"} as seen on the previous tick.
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    today = datetime.now(UTC).date()
    state: dict[str, str] = {}
    wanted: list[tuple[Sync, str, list[str]]] = []
    size = 0
    for sync in list_syncs(store.engine()):
        state[sync.id] = sync_state(sync)
        before = seen.get(sync.id)
        if state[sync.id] != "enabled" or before == "enabled":
            continue
        if size >= MAX_PARTITIONS_PER_TICK:  # the next tick takes it: left as last seen
            if before is None:
                del state[sync.id]
            else:
                state[sync.id] = before
            continue
        if before == "paused":  # `eventsync sync resume` usually re-requested them already
            wanted.append((sync, "resumed sync", take_paused_work(context.instance, sync.id)))
        else:
            why = "new sync" if before is None else "re-enabled sync"
            wanted.append((sync, why, closed_days(sync.backfill_days, today)))
        size += len(wanted[-1][2])
    requests = []
    if wanted:
        # One partition listing and add, one read of the requested backfills, one
        # backfill: whether 1 or 1,000 syncs are new.
        ensure_sync_partitions(context.instance, [sync.id for sync, _, _ in wanted])
        pending = pending_days(context.instance)
        plans = []
        for sync, why, days in wanted:
            plan = plan_backfill(context.instance, sync, days, why, pending)
            if plan.days:
                plans.append((plan, sync))
        if len(plans) == 1:
            requests.append(backfill_request(*plans[0]))
        elif plans:
            requests.append(multi_sync_request([plan for plan, _ in plans]))
        if plans:
            days = sum(len(plan.days) for plan, _ in plans)
            context.log.info(f"backfill of {days} days of {len(plans)} syncs requested")
    if not requests and state == seen:
        return dg.SkipReason("no new, re-enabled or resumed sync")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))
