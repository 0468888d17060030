"""The 03:00 schedule's runs: one run exports the date for up to
EVENTSYNC_SYNCS_PER_RUN syncs (default 50), not one run per sync: a run costs a few
seconds of start-up whatever it holds, and at 1,000 syncs one run per sync is ~1,000
run start-ups every morning. A run is the date's partition with its syncs named in its
`eventsync/syncs` tag; a run holds syncs of one destination kind (local, S3, GCS), in
the order the syncs were created. Every sync's day still gets its own outcome: one
failing sync fails alone, the others of its run are exported. docs/architecture.md
("Many syncs") has the measurements behind the choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from eventsync.destinations.interface import parse_destination
from eventsync.syncs.config import Sync
from pipeline.runs.tags import PRIORITY_TAG, run_tags, syncs_tags


@dataclass(frozen=True)
class SyncGroup:
    """Syncs of one destination kind, exported by one run."""

    syncs: tuple[Sync, ...]

    def request(self, day: str) -> dg.RunRequest:
        first, last = self.syncs[0], self.syncs[-1]
        # Ahead of queued backfill runs: yesterday's export is what customers wait for.
        priority = {PRIORITY_TAG: "10"}
        if len(self.syncs) == 1:
            return dg.RunRequest(
                run_key=f"daily:{first.id}:{day}",
                partition_key=day,
                tags={**run_tags(first), **priority},
            )
        return dg.RunRequest(
            run_key=f"daily:{first.id}..{last.id}:{day}",
            partition_key=day,
            tags={**syncs_tags(s.id for s in self.syncs), **priority},
        )


def sync_groups(enabled: list[Sync], per_run: int) -> list[SyncGroup]:
    """The enabled syncs cut into runs: the same destination kind, at most `per_run`
    each, in the given order (creation)."""
    by_kind: dict[str, list[Sync]] = {}
    for sync in enabled:
        by_kind.setdefault(parse_destination(sync.destination).kind, []).append(sync)
    groups = []
    for members in by_kind.values():
        for i in range(0, len(members), per_run):
            groups.append(SyncGroup(tuple(members[i : i + per_run])))
    return groups
