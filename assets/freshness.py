"""The freshness check of `events_export`: every enabled sync has yesterday exported
by 06:00 UTC (`eventsync.syncs.health.freshness`).

Two ways to the same verdict, both shown on the asset's Checks tab:

- `export_freshness_sensor` (default on) evaluates it every 10 minutes and emits an
  ``AssetCheckEvaluation`` when the verdict or its detail changes. Chosen over a
  scheduled check run because it launches no run (a run costs ~10 s of a 2-core
  machine) and it notices a late export or a newly stale sync within minutes,
  not once a day.
- `events_export` declares the check (so the UI lists it) and evaluates it at the
  end of every export step, with the same function.
"""

from datetime import datetime
from typing import Any

import dagster as dg

from eventsync.syncs.health import freshness
from resources import EventStoreResource

CHECK_NAME = "export_freshness"
EXPORT_ASSET = dg.AssetKey("events_export")


def _description(passed: bool, detail: dict[str, Any]) -> str:
    if not detail:
        return "no enabled sync"
    stale = {k: v for k, v in detail.items() if not v["fresh"]}
    if passed:
        return f"all {len(detail)} enabled syncs have their expected day exported"
    parts = []
    for sync_id, d in list(stale.items())[:20]:
        why = f"last exported {d['last_exported_day'] or 'never'}, expected {d['expected_day']}"
        if d["paused_reason"]:
            why += "; paused (its reason: eventsync sync status)"
        parts.append(f"{sync_id}: {why}")
    more = f" | and {len(stale) - 20} more" if len(stale) > 20 else ""
    return f"{len(stale)} of {len(detail)} syncs stale -- " + " | ".join(parts) + more


# Syncs listed in the check's metadata: the stale ones first, then fresh ones up to
# this many. With 1,000 syncs the full list is ~140 KB per evaluation, written once
# per export run; the counts below stay exact.
MAX_LISTED = 100


def _listed(detail: dict[str, Any]) -> dict[str, Any]:
    stale = [k for k, v in detail.items() if not v["fresh"]]
    fresh = [k for k, v in detail.items() if v["fresh"]]
    return {k: detail[k] for k in (stale + fresh)[:MAX_LISTED]}


def evaluate_freshness(
    store: EventStoreResource, now: datetime | None = None
) -> dg.AssetCheckEvaluation:
    passed, detail = freshness(store.engine(), now)
    return dg.AssetCheckEvaluation(
        asset_key=EXPORT_ASSET,
        check_name=CHECK_NAME,
        passed=passed,
        metadata={
            "syncs": dg.MetadataValue.json(_listed(detail)),
            "enabled_syncs": len(detail),
            "stale_syncs": len([d for d in detail.values() if not d["fresh"]]),
            "max_lag_days": max((d["lag_days"] or 0 for d in detail.values()), default=0),
        },
        severity=dg.AssetCheckSeverity.ERROR,
        description=_description(passed, detail),
    )
