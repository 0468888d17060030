"""The export sensors: new, re-enabled and resumed syncs get their backfill
(`new_sync_sensor`); the freshness check is evaluated every 10 minutes
(`export_freshness_sensor`, no run launched)."""

import hashlib
import json

import dagster as dg

from assets.freshness import evaluate_freshness
from assets.partitions import closed_days
from eventsync.clock import utc_today
from eventsync.syncs.config import Sync, list_syncs
from pipeline.runs.backfills import (
    backfill_request,
    multi_sync_requests,
    pending_days,
    plan_backfill,
)
from pipeline.runs.deletion import retire_sync
from pipeline.runs.pause import take_paused_work
from resources import EventStoreResource


def sync_state(sync: Sync) -> str:
    if sync.deleted_at:
        return "deleted"
    if sync.paused_reason:
        return "paused"
    return "enabled" if sync.enabled else "disabled"


# Syncs one tick plans (one sync's days are never split). A date partition's backfill
# costs the daemon per date, not per sync, and the syncs share backfills of up to
# EVENTSYNC_SYNCS_PER_RUN each (Run I: 1,000 new syncs in one tick, 0.03 s); syncs
# beyond it are taken by the next ticks (30 s apart).
MAX_SYNCS_PER_TICK = 1_000


@dg.sensor(
    # Backfill requests (RunRequest.for_asset_graph_subset) need the sensor to target assets.
    asset_selection=dg.AssetSelection.groups("events"),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests the backfill of new or re-enabled syncs' last `backfill_days` "
    "closed UTC days (date partitions with the syncs in the backfill's eventsync/syncs "
    "tag; batched, 61 dates per run; syncs wanting the same days share a backfill); a "
    "resumed sync gets back the days its pause canceled. A deleted sync (through the API) "
    "gets its queued work canceled.",
)
def new_sync_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    # Cursor: {sync_id: "enabled" | "disabled" | "paused" | "deleted"} as seen on the
    # previous tick.
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    today = utc_today()
    state: dict[str, str] = {}
    wanted: list[tuple[Sync, str, list[str]]] = []
    for sync in list_syncs(store.engine()):
        state[sync.id] = sync_state(sync)
        before = seen.get(sync.id)
        if state[sync.id] == "deleted" and before != "deleted":
            retired = retire_sync(context.instance, sync.id, f"deleted at {sync.deleted_at}")
            context.log.info(
                f"deleted sync {sync.id}: canceled {len(retired.canceled_runs)} runs and "
                f"{len(retired.canceled_backfills)} backfills"
            )
            continue
        if state[sync.id] != "enabled" or before == "enabled":
            continue
        if len(wanted) >= MAX_SYNCS_PER_TICK:  # the next tick takes it: left as last seen
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
    requests = []
    if wanted:
        # One read of the requested backfills and one backfill per EVENTSYNC_SYNCS_PER_RUN
        # syncs wanting the same days: whether 1 or 1,000 syncs are new.
        pending = pending_days(context.instance)
        plans = []
        for sync, why, days in wanted:
            plan = plan_backfill(context.instance, sync, days, why, pending)
            if plan.days:
                plans.append((plan, sync))
        if len(plans) == 1:
            requests.append(backfill_request(*plans[0]))
        elif plans:
            requests.extend(multi_sync_requests(plans))
        if plans:
            days = sum(len(plan.days) for plan, _ in plans)
            context.log.info(f"backfill of {days} days of {len(plans)} syncs requested")
    if not requests and state == seen:
        return dg.SkipReason("no new, re-enabled or resumed sync")
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(state, sort_keys=True))


@dg.sensor(
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the export_freshness check of events_export (no run launched).",
)
def export_freshness_sensor(context: dg.SensorEvaluationContext, store: EventStoreResource):
    ev = evaluate_freshness(store)
    digest = hashlib.sha256(
        json.dumps(
            [ev.passed, ev.metadata["stale_syncs"].value, ev.metadata["syncs"].value],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    if context.cursor == digest:
        return dg.SkipReason(f"freshness unchanged ({'passed' if ev.passed else 'failed'})")
    return dg.SensorResult(asset_events=[ev], cursor=digest)
