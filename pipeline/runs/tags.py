"""The tags eventsync puts on Dagster runs and backfills, and what reads them: the
assets (which syncs a run exports), the per-destination concurrency limit
(dagster.yaml), pause (a sync's queued runs and backfills), the privacy sensors (a
request's runs), people reading the UI."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from eventsync.syncs.config import Sync

DESTINATION_TAG = "eventsync/destination"
# On runs and backfills of one sync (with SYNCS_TAG = the same id): the concurrency
# limit per destination and pause's tag filter key on them.
SYNC_TAG = "eventsync/sync"
# The syncs a run or backfill exports for its dates: sync ids separated by commas.
# No tag (a run or backfill launched from the UI without it): every enabled sync.
SYNCS_TAG = "eventsync/syncs"
REASON_TAG = "eventsync/reason"
KIND_TAG = "eventsync/kind"
REQUEST_TAG = "eventsync/privacy_request"
ATTEMPT_TAG = "eventsync/privacy_attempt"
PRIORITY_TAG = "dagster/priority"
# Every run that exports events is KIND_TAG=export: dagster.yaml caps those at one less
# than max_concurrent_runs, so stuck or slow exports can never take the slot a privacy
# request's run needs.
EXPORT_TAGS = {KIND_TAG: "export"}
# Privacy runs are not retried by Dagster: the request's lease and attempts
# (eventsync/privacy/runner.py) take over a dead owner's request themselves.
NO_RUN_RETRIES = {"dagster/max_retries": "0"}

_SEPARATORS = re.compile(r"[\s,]+")


def run_tags(sync: Sync) -> dict[str, str]:
    """Tags of a run of one sync: the per-destination concurrency limit keys on them."""
    return {
        DESTINATION_TAG: sync.destination[:255],
        SYNC_TAG: sync.id,
        SYNCS_TAG: sync.id,
        **EXPORT_TAGS,
    }


def syncs_tags(sync_ids: Iterable[str]) -> dict[str, str]:
    """Tags of an export run or backfill of several syncs."""
    return {SYNCS_TAG: ",".join(dict.fromkeys(sync_ids)), **EXPORT_TAGS}


def tagged_syncs(tags: Mapping[str, str]) -> list[str] | None:
    """The sync ids a run's or backfill's tags name, in order, without repeats; None
    when they name none (a run of every enabled sync)."""
    value = tags.get(SYNCS_TAG) or tags.get(SYNC_TAG)
    if value is None or not value.strip():
        return None
    return list(dict.fromkeys(s for s in _SEPARATORS.split(value) if s))
