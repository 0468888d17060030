"""The tags on a sync's runs: the per-destination concurrency limit (dagster.yaml) keys
on the destination tag, pause finds a sync's queued runs by the sync tag, and the
assets read the syncs a run exports from `eventsync/syncs`."""

from __future__ import annotations

from eventsync.syncs.config import Sync
from pipeline.runs.tags import (
    DESTINATION_TAG,
    KIND_TAG,
    SYNC_TAG,
    SYNCS_TAG,
    run_tags,
    syncs_tags,
    tagged_syncs,
)


def _sync(destination: str) -> Sync:
    return Sync("sync_a", "ws", "t", destination, ["parquet"], "auto", None, 30, True)


def test_a_run_is_tagged_with_its_sync_and_destination() -> None:
    assert run_tags(_sync("s3://bucket/exports")) == {
        DESTINATION_TAG: "s3://bucket/exports",
        SYNC_TAG: "sync_a",
        SYNCS_TAG: "sync_a",
        KIND_TAG: "export",
    }


def test_the_destination_tag_is_cut_to_255_characters() -> None:
    long = "s3://bucket/" + "p" * 400
    assert run_tags(_sync(long))[DESTINATION_TAG] == long[:255]


def test_the_syncs_of_a_run_read_back_from_its_tags() -> None:
    assert tagged_syncs(syncs_tags(["sync_b", "sync_a", "sync_b"])) == ["sync_b", "sync_a"]
    # As typed in the UI's tag editor: spaces or commas.
    assert tagged_syncs({SYNCS_TAG: " sync_a, sync_b  sync_c "}) == ["sync_a", "sync_b", "sync_c"]
    assert tagged_syncs({SYNC_TAG: "sync_a"}) == ["sync_a"]
    assert tagged_syncs({}) is None  # every enabled sync
    assert tagged_syncs({SYNCS_TAG: "  "}) is None
