"""The state machine of a privacy request, as types: the stored values, the table of
legal moves, and which moves begin a new attempt."""

from __future__ import annotations

from eventsync.privacy.states import (
    TERMINAL,
    TRANSITIONS,
    DestinationStatus,
    Fence,
    RequestKind,
    RequestStatus,
    StepStatus,
    starts_attempt,
)

S = RequestStatus


def test_the_store_keeps_the_values_it_always_kept() -> None:
    assert [s.value for s in S] == [
        "received", "queued", "running", "completed", "failed", "erased"
    ]  # fmt: skip
    assert [k.value for k in RequestKind] == ["erasure", "access_export"]
    assert [s.value for s in StepStatus] == ["running", "done", "failed"]
    assert {s.value for s in DestinationStatus} == {"running", "done", "failed", "tombstone"}


def test_every_status_has_a_row_and_only_erased_is_terminal() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {S.ERASED} == TERMINAL
    assert TRANSITIONS[S.COMPLETED] == {S.ERASED}  # a completed request never goes back


def test_only_a_running_request_completes_and_nothing_skips_the_queue() -> None:
    assert [s for s in S if S.COMPLETED in TRANSITIONS[s]] == [S.RUNNING]
    assert [s for s in S if S.RUNNING in TRANSITIONS[s]] == [S.QUEUED, S.FAILED]
    assert TRANSITIONS[S.RECEIVED] == {S.QUEUED}


def test_a_reexecution_begins_a_new_attempt() -> None:
    assert starts_attempt(S.FAILED, S.RUNNING)  # a Dagster re-execution
    assert not starts_attempt(S.RECEIVED, S.QUEUED)
    assert not starts_attempt(S.QUEUED, S.RUNNING)


def test_a_fence_allows_the_moves_of_its_status() -> None:
    fence = Fence(S.RUNNING, attempt=2, owner="run-a")
    assert fence.allows(S.COMPLETED) and fence.allows(S.FAILED)
    assert not fence.allows(S.QUEUED)
    assert not Fence(S.COMPLETED, 1, None).allows(S.FAILED)
