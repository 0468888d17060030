"""Each move of a privacy request is one compare-and-set on (request, attempt, owner),
audited with it: the table decides what is legal, a decision taken on a stale read is
never applied, an owner that lost its lease is refused, retry and take-over start new
attempts, and no stale actor (a reaper, a late run of an old attempt) wins."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy import Engine, update

from eventsync.privacy import request_store, transitions
from eventsync.privacy.progress import AccessOutput
from eventsync.privacy.request_store import PrivacyRequest
from eventsync.privacy.states import (
    TRANSITIONS,
    FailureReason,
    InvalidTransition,
    LeaseLost,
    RequestStatus,
)
from eventsync.privacy.transitions import Move
from eventsync.store.schema import privacy_requests
from eventsync.workspaces import create_workspace

S = RequestStatus


def _request(engine: Engine, status: str = "received", **values: object) -> str:
    ws = create_workspace(engine, "acme").workspace_id
    req = request_store.create_request(engine, ws, "erasure", ["u1"], [], "test")
    with engine.begin() as conn:
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == req.id)
            .values(status=status, **values)
        )
    return req.id


def _running(engine: Engine, owner: str = "run-a", lease: float = 60) -> str:
    rid = _request(engine)
    transitions.claim(engine, rid, "test")
    transitions.start(engine, rid, owner, "test", lease_seconds=lease)
    return rid


@pytest.mark.parametrize(("source", "target"), list(itertools.product(S, S)))
def test_a_move_is_applied_exactly_when_the_table_lists_it(
    engine: Engine, source: S, target: S
) -> None:
    rid = _request(engine, source)
    move = lambda _req: Move(target)  # noqa: E731
    if target in TRANSITIONS[source]:
        assert transitions.compare_and_set(engine, rid, "test", move).status == target
        entry = request_store.audit_log(engine, rid)[-1]
        assert (entry["action"], entry["detail"]["from"]) == (target, source)
    else:
        with pytest.raises(InvalidTransition, match=f"is {source}; cannot become {target}"):
            transitions.compare_and_set(engine, rid, "test", move)
        assert request_store.get_request(engine, rid).status == source


def test_a_decision_taken_on_a_stale_read_is_taken_again(engine: Engine) -> None:
    rid = _request(engine, "queued")
    seen: list[S] = []

    def decide(req: PrivacyRequest) -> Move | None:
        seen.append(req.status)
        if len(seen) == 1:  # another actor fails it between our read and our write
            transitions.fail(engine, rid, "x", "other", FailureReason.RUN_FAILED, attempt=0)
        return Move(S.RUNNING) if req.status == S.QUEUED else None

    assert transitions.compare_and_set(engine, rid, "test", decide) is None
    assert seen == [S.QUEUED, S.FAILED]
    assert request_store.get_request(engine, rid).status == S.FAILED
    assert [e["action"] for e in request_store.audit_log(engine, rid)] == ["received", "failed"]


def test_start_takes_a_lease_that_complete_releases(engine: Engine) -> None:
    rid = _running(engine)
    req = request_store.get_request(engine, rid)
    assert (req.status, req.lease_owner, req.attempt) == (S.RUNNING, "run-a", 1)
    assert not req.lease_expired()
    done = transitions.complete(engine, req, "test", verified_at="2025-01-01T00:00:00+00:00")
    assert (done.status, done.lease_owner, done.lease_expires_at) == (S.COMPLETED, None, None)


def test_another_owner_cannot_start_a_request_whose_lease_is_live(engine: Engine) -> None:
    rid = _running(engine)
    with pytest.raises(InvalidTransition, match="running under run-a"):
        transitions.start(engine, rid, "run-b", "test", lease_seconds=60)
    # the owner itself gets it back unchanged
    assert transitions.start(engine, rid, "run-a", "test", lease_seconds=60).lease_owner == "run-a"


def test_renew_extends_only_the_owners_lease(engine: Engine) -> None:
    rid = _running(engine, lease=1)
    req = request_store.get_request(engine, rid)
    assert transitions.renew(engine, req, 60)
    assert request_store.get_request(engine, rid).lease_expires_at > req.lease_expires_at
    req.lease_owner = "run-b"
    assert not transitions.renew(engine, req, 60)


def test_an_owners_progress_write_is_refused_once_it_lost_the_request(engine: Engine) -> None:
    rid = _running(engine)
    mine = request_store.get_request(engine, rid)
    transitions.fail(engine, rid, "boom", "sensor", FailureReason.RUN_FAILED, owner="run-a")
    mine.progress.owner_action_required["x"] = "stale"
    with pytest.raises(LeaseLost, match="lease was lost"):
        transitions.save_progress(engine, mine, "run-a", "step:x")
    assert "x" not in request_store.get_request(engine, rid).progress.owner_action_required
    with pytest.raises(LeaseLost):
        transitions.complete(engine, mine, "run-a")


def test_retry_refuses_a_running_request_with_a_live_lease(engine: Engine) -> None:
    rid = _running(engine)
    with pytest.raises(InvalidTransition, match="lease runs until"):
        transitions.retry(engine, rid, "test")


def test_retry_accepts_a_running_request_whose_owner_died(engine: Engine) -> None:
    rid = _running(engine, lease=0.05)
    time.sleep(0.1)
    req = transitions.retry(engine, rid, "test")
    assert (req.status, req.lease_owner) == (S.RECEIVED, None)


def test_a_failure_of_a_replaced_owner_leaves_the_request_alone(engine: Engine) -> None:
    rid = _running(engine, lease=0.05)
    time.sleep(0.1)
    transitions.retry(engine, rid, "test")
    transitions.claim(engine, rid, "test")
    transitions.start(engine, rid, "run-b", "test", lease_seconds=60)
    late = transitions.fail(engine, rid, "late", "t", FailureReason.RUN_FAILED, owner="run-a")
    assert late is None and request_store.get_request(engine, rid).status == S.RUNNING
    failed = transitions.fail(engine, rid, "b's", "t", FailureReason.STEP_FAILED, owner="run-b")
    assert failed is not None and failed.status == S.FAILED
    assert failed.progress.failure is not None
    assert failed.progress.failure.reason == FailureReason.STEP_FAILED


def test_a_completed_request_stays_completed_when_a_failure_arrives(engine: Engine) -> None:
    rid = _request(engine, "completed")
    assert transitions.fail(engine, rid, "late", "t", FailureReason.RUN_FAILED, owner="x") is None
    assert request_store.get_request(engine, rid).status == S.COMPLETED


def test_a_completed_access_export_whose_file_was_deleted_becomes_erased(engine: Engine) -> None:
    rid = _request(
        engine,
        "completed",
        result_location="file:///x.csv",
        progress='{"output": {"location": "file:///x.csv", "local_path": "/x.csv"}}',
    )
    req = transitions.mark_result_erased(engine, rid, "era_1", "test")
    assert req is not None and req.status == S.ERASED
    assert req.result_location is None and "erasure era_1" in (req.result_note or "")


def test_a_running_access_export_whose_file_was_deleted_finishes_erased(engine: Engine) -> None:
    rid = _running(engine)
    mine = request_store.get_request(engine, rid)
    mine.progress.output = AccessOutput(location="file:///x.csv")
    transitions.save_progress(engine, mine, "test")
    assert transitions.mark_result_erased(engine, rid, "era_1", "test") is None
    done = transitions.complete(engine, mine, "test", result_location="file:///x.csv")
    assert done.status == S.ERASED and done.result_location is None


# --- attempts and leases ----------------------------------------------------------------
def _expire(engine: Engine, rid: str) -> None:
    """The owner dies: its lease runs out."""
    transitions.renew(engine, request_store.get_request(engine, rid), lease_seconds=0)


def test_retry_starts_a_new_attempt_which_claim_keeps(engine: Engine) -> None:
    rid = _running(engine)
    transitions.fail(engine, rid, "boom", "t", FailureReason.STEP_FAILED, owner="run-a")
    retried = transitions.retry(engine, rid, "cli:ops")
    assert (retried.status, retried.attempt) == (S.RECEIVED, 2)
    assert transitions.claim(engine, rid, "sensor").attempt == 2
    entry = request_store.audit_log(engine, rid)[-2]
    assert (entry["action"], entry["detail"]["from_attempt"], entry["detail"]["attempt"]) == (
        "received",
        1,
        2,
    )


def test_a_late_run_of_an_old_attempt_cannot_touch_the_retried_request(engine: Engine) -> None:
    rid = _running(engine)
    transitions.fail(engine, rid, "boom", "t", FailureReason.STEP_FAILED, owner="run-a")
    transitions.retry(engine, rid, "cli:ops")
    old = FailureReason.RUN_FAILED
    assert transitions.fail(engine, rid, "late", "t", old, owner="run-old", attempt=1) is None
    transitions.claim(engine, rid, "sensor")
    with pytest.raises(LeaseLost, match="is on attempt 2, not 1"):
        transitions.start(engine, rid, "run-old", "t", lease_seconds=60, attempt=1)
    assert transitions.fail(engine, rid, "late", "t", old, owner="run-old", attempt=1) is None
    with pytest.raises(LeaseLost, match=r"owned privacy request \S+ before"):
        transitions.start(engine, rid, "run-a", "t", lease_seconds=60, attempt=2)
    assert request_store.get_request(engine, rid).status == S.QUEUED


def test_a_dead_owners_request_is_taken_over_as_a_new_attempt(engine: Engine) -> None:
    rid = _running(engine)
    assert transitions.take_over(engine, rid, "sensor", max_attempts=5) is None  # alive
    _expire(engine, rid)
    taken = transitions.take_over(engine, rid, "sensor", max_attempts=5)
    assert taken is not None and (taken.status, taken.attempt) == (S.RECEIVED, 2)
    assert taken.lease_owner is None
    detail = request_store.audit_log(engine, rid)[-1]["detail"]
    assert (detail["reason"], detail["lapsed_owner"], detail["from_attempt"]) == (
        "lease_expired",
        "run-a",
        1,
    )
    assert transitions.take_over(engine, rid, "sensor", max_attempts=5) is None  # once


def test_after_the_last_attempt_a_dead_owners_request_fails_with_the_reason(
    engine: Engine,
) -> None:
    rid = _running(engine)
    _expire(engine, rid)
    failed = transitions.take_over(engine, rid, "sensor", max_attempts=1)
    assert failed is not None and failed.status == S.FAILED
    assert "attempt 1 of 1" in (failed.error or "")
    assert failed.progress.failure is not None
    assert failed.progress.failure.reason == FailureReason.ATTEMPTS_EXHAUSTED
    assert request_store.audit_log(engine, rid)[-1]["detail"]["reason"] == "attempts_exhausted"
    assert transitions.retry(engine, rid, "cli:ops").attempt == 2  # a person may go on


def test_a_renewal_that_lands_after_the_reapers_read_wins(engine: Engine) -> None:
    from sqlalchemy import event

    rid = _running(engine)
    _expire(engine, rid)
    owner = request_store.get_request(engine, rid)

    renewed: list[bool] = []

    def renew_first(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        if statement.startswith("UPDATE privacy_requests SET status") and not renewed:
            renewed.append(transitions.renew(engine, owner, 60))  # the owner was only slow

    event.listen(engine, "before_cursor_execute", renew_first)
    try:
        assert transitions.take_over(engine, rid, "sensor", max_attempts=5) is None
    finally:
        event.remove(engine, "before_cursor_execute", renew_first)
    assert renewed == [True]
    req = request_store.get_request(engine, rid)
    assert (req.status, req.attempt, req.lease_owner) == (S.RUNNING, 1, "run-a")
