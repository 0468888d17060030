"""The 03:00 runs: enabled syncs of one destination kind share a run of the date (the
syncs named in its `eventsync/syncs` tag); a lone sync's run carries its own tags."""

from __future__ import annotations

from eventsync.syncs.config import Sync
from pipeline.runs.sync_groups import SyncGroup, sync_groups
from pipeline.runs.tags import DESTINATION_TAG, PRIORITY_TAG, SYNC_TAG, SYNCS_TAG

DAY = "2025-03-01"


def _sync(sync_id: str, destination: str) -> Sync:
    return Sync(sync_id, "ws", "t", destination, ["parquet"], "auto", None, 30, True)


def test_a_kind_or_a_full_run_cuts_the_group() -> None:
    syncs = [
        _sync("a", "/tmp/a"),
        _sync("c", "s3://x/c"),
        _sync("b", "/tmp/b"),
        _sync("e", "s3://x/e"),
    ]
    groups = sync_groups(syncs, per_run=5)
    assert [[s.id for s in g.syncs] for g in groups] == [["a", "b"], ["c", "e"]]
    assert len(sync_groups(syncs, per_run=1)) == 4


def test_one_sync_is_one_date_run_with_its_tags_ahead_of_backfills() -> None:
    request = SyncGroup((_sync("a", "/tmp/a"),)).request(DAY)
    assert request.run_key == f"daily:a:{DAY}"
    assert request.partition_key == DAY
    assert request.tags[SYNC_TAG] == "a" and request.tags[SYNCS_TAG] == "a"
    assert request.tags[DESTINATION_TAG] == "/tmp/a" and request.tags[PRIORITY_TAG] == "10"
    assert request.tags["eventsync/kind"] == "export"


def test_several_syncs_are_one_run_of_the_date_naming_them() -> None:
    request = SyncGroup((_sync("a", "/tmp/a"), _sync("b", "/tmp/b"))).request(DAY)
    assert request.run_key == f"daily:a..b:{DAY}"
    assert request.partition_key == DAY
    assert request.tags[SYNCS_TAG] == "a,b" and SYNC_TAG not in request.tags
    # Counted toward the export cap (dagster.yaml): the privacy slot stays free.
    assert request.tags["eventsync/kind"] == "export"
