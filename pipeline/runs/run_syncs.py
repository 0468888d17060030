"""Which syncs an export run exports for its dates: those its run config names
(`syncs` of events_daily and events_export: `dagster asset materialize --config-json`,
the UI's launchpad), else those its `eventsync/syncs` tag names (the 03:00 schedule's,
a backfill's, a run or backfill launched from the UI with the tag), else every enabled
and unpaused sync (a materialization or backfill launched from the UI as it is).
Sync ids only: no personal data goes into run config or tags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from eventsync.errors import NotFound
from eventsync.syncs.config import Sync, get_sync, list_syncs
from pipeline.runs.tags import tagged_syncs


@dataclass
class RunSyncs:
    syncs: list[Sync]
    unknown: list[str] = field(default_factory=list)  # named, but no such sync
    named: bool = True  # False: every enabled sync (the run named none)


def run_syncs(engine: Engine, tags: Mapping[str, str], configured: Sequence[str] = ()) -> RunSyncs:
    ids = list(dict.fromkeys(configured)) or tagged_syncs(tags)
    if ids is None:
        return RunSyncs(list_syncs(engine, enabled_only=True), named=False)
    out = RunSyncs([])
    for sync_id in ids:
        try:
            out.syncs.append(get_sync(engine, sync_id))
        except NotFound:
            out.unknown.append(sync_id)
    return out
