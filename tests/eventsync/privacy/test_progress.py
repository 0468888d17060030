"""A request's progress, typed: stored as the JSON document the API has always shown
(a step's result beside its status), loaded back into the same model."""

from __future__ import annotations

from eventsync.privacy.progress import AccessOutput, RequestProgress, StepRecord
from eventsync.privacy.states import DestinationStatus, StepStatus

# A document as an erasure of an earlier version stored it.
STORED = {
    "steps": {
        "store": {
            "status": "done",
            "started_at": "2025-01-01T00:00:00.000000+00:00",
            "finished_at": "2025-01-01T00:00:01.000000+00:00",
            "events_removed": 4,
            "user_profiles_removed": 1,
        },
        "exports": {"status": "failed", "started_at": "t0", "error": "DestinationError: down"},
    },
    "destinations": {
        "sync_1": {
            "destination": "s3://b/p",
            "status": "tombstone",
            "days_rewritten": ["2025-03-01"],
            "rows_removed": 3,
            "files_written": 2,
            "reason": "destination refused read/delete",
            "owner_action": "the owner must clean the days listed in the tombstone",
        }
    },
    "in_flight": {"sync_1": {"2025-03-02": 26}},
    "tombstones": {"s3://b/p": {"syncs": {"sync_1": ["2025-03-01"]}, "access_exports": []}},
    "owner_action_required": {"s3://b/p": "write-only destination"},
    "runs": [{"run_id": "run-a", "attempt": 1}],
}


def test_a_stored_document_loads_typed() -> None:
    progress = RequestProgress.model_validate(STORED)
    store = progress.steps["store"]
    assert store.status == StepStatus.DONE and store.done
    assert store.result == {"events_removed": 4, "user_profiles_removed": 1}
    assert progress.steps["exports"].error == "DestinationError: down"
    assert progress.destinations["sync_1"].status == DestinationStatus.TOMBSTONE
    assert progress.tombstoned_syncs() == ["sync_1"]
    assert progress.in_flight["sync_1"]["2025-03-02"] == 26


def test_it_is_stored_again_in_the_same_shape() -> None:
    dumped = RequestProgress.model_validate(STORED).dump()
    assert dumped["steps"] == STORED["steps"]  # results flat beside the status
    for key in ("tombstones", "owner_action_required", "runs", "in_flight"):
        assert dumped[key] == STORED[key]
    assert dumped["destinations"]["sync_1"].items() >= STORED["destinations"]["sync_1"].items()
    assert "output" not in dumped and "failure" not in dumped


def test_a_steps_result_fields_sit_beside_its_own() -> None:
    record = StepRecord(status=StepStatus.DONE, started_at="t0", result={"verified_at": "t1"})
    assert record.model_dump(mode="json") == {
        "status": "done", "started_at": "t0", "verified_at": "t1"
    }  # fmt: skip


def test_an_access_exports_output_names_only_where_it_is() -> None:
    local = AccessOutput(local_path="/d/x.csv", location="/d/x.csv")
    assert local.model_dump() == {"local_path": "/d/x.csv", "location": "/d/x.csv"}
    progress = RequestProgress.load(RequestProgress(output=local).dumps())
    assert progress.output == local


def test_a_destination_entry_is_made_on_first_use_and_keeps_its_counts() -> None:
    progress = RequestProgress()
    entry = progress.destination("sync_1", "file:///d")
    entry.rows_removed += 3
    assert progress.destination("sync_1", "file:///d").rows_removed == 3
    assert entry.status == DestinationStatus.RUNNING
