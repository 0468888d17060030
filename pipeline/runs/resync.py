"""The re-sync of changed days as asset backfills: one sync's (`eventsync sync resync`)
or every enabled sync's in one backfill (the weekly re-sync job). Which days changed is
`eventsync.syncs.resync_plan`; this queues them for the daemon, which runs them batched
by the assets' BackfillPolicy (one backfill, not one per sync: the backfill daemon
checks each requested backfill on every pass)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import dagster as dg
from sqlalchemy import Engine

from eventsync.syncs.config import get_sync, list_syncs
from eventsync.syncs.resync_plan import (
    DEFAULT_WINDOW_DAYS,
    RESYNC_REASON,
    ResyncPlan,
    plan_chosen_days,
    plan_resync,
)
from pipeline.runs.backfills import BackfillPlan, submit_backfill, submit_shared_backfill


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


def resync_chosen_days(
    engine: Engine,
    instance: dg.DagsterInstance,
    sync_id: str,
    days: list[str],
    today: date | None = None,
) -> ResyncOutcome:
    """Queue an asset backfill of days named by hand (`eventsync sync resync --day`):
    they are re-exported with the sync's current settings (a changed filter, say)."""
    sync = get_sync(engine, sync_id)
    plan = plan_chosen_days(sync, days, today)
    return ResyncOutcome(plan, submit_backfill(instance, sync, plan.days, RESYNC_REASON))


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
