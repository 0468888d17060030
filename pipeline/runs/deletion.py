"""A deleted sync's Dagster side: its work canceled (a run of that sync alone ends
CANCELED; a run of several syncs skips it: `hold_paused`), a leftover legacy `sync`
partition of it removed.

`eventsync sync delete` marks the sync deleted in the store (eventsync.syncs.config,
audited) and calls `retire_sync` at once; a deletion through the API (which imports no
Dagster) is carried out by new_sync_sensor's next tick. Both are idempotent.

What stays: the run history and materializations in Dagster, the exported files in
the destination, the export ledger and the subject index (erasures still rewrite the
days the sync exported).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from assets.partitions import LEGACY_SYNC_PARTITIONS
from pipeline.runs.pause import cancel_sync_work, take_paused_work


@dataclass
class Retired:
    canceled_runs: list[str]
    canceled_backfills: list[str]
    removed_partitions: list[str]

    def to_dict(self) -> dict:
        return {
            "canceled_runs": self.canceled_runs,
            "canceled_backfills": self.canceled_backfills,
            "removed_partitions": self.removed_partitions,
        }


def remove_sync_partitions(instance: dg.DagsterInstance, sync_id: str) -> list[str]:
    """Remove the sync's leftover legacy dynamic partition; returns the keys removed.

    Partitions are UTC dates (assets/partitions.py), so a sync owns no partition any
    more; only an instance not yet through `eventsync dagster migrate-partitions` may
    still hold its key of the old `sync` dimension."""
    if not instance.has_dynamic_partition(LEGACY_SYNC_PARTITIONS, sync_id):
        return []
    instance.delete_dynamic_partition(LEGACY_SYNC_PARTITIONS, sync_id)
    return [sync_id]


def retire_sync(instance: dg.DagsterInstance, sync_id: str, reason: str) -> Retired:
    """Cancel all of a deleted sync's work (queued, requested and in flight) with the
    reason, forget its paused days, and remove a leftover legacy partition of it."""
    canceled = cancel_sync_work(instance, sync_id, reason, in_flight=True, state="deleted")
    take_paused_work(instance, sync_id)  # nothing is ever re-requested for it
    return Retired(canceled.runs, canceled.backfills, remove_sync_partitions(instance, sync_id))
