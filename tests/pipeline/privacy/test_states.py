"""The state machine of a privacy request: every legal and illegal transition, and the
lease that makes a dead owner's request retryable."""

from __future__ import annotations

import itertools
import time

import pytest
from sqlalchemy import Engine, update

from pipeline.privacy import ledger, states
from pipeline.workspaces import create_workspace
from resources.schema import privacy_requests


def _request(engine: Engine, status: str, **values: object) -> str:
    ws = create_workspace(engine, "acme").workspace_id
    req = ledger.create_request(engine, ws, "erasure", ["u1"], [], "test")
    with engine.begin() as conn:
        conn.execute(
            update(privacy_requests)
            .where(privacy_requests.c.id == req.id)
            .values(status=status, **values)
        )
    return req.id


@pytest.mark.parametrize(
    ("source", "target"), list(itertools.product(ledger.STATUSES, ledger.STATUSES))
)
def test_a_transition_is_allowed_exactly_when_the_table_lists_it(
    engine: Engine, source: str, target: str
) -> None:
    rid = _request(engine, source)
    legal = target in states.TRANSITIONS[source]
    if legal:
        assert states.transition(engine, rid, target, "test").status == target
        assert ledger.audit_log(engine, rid)[-1]["detail"]["from"] == source
    else:
        with pytest.raises(states.InvalidTransition, match=f"is {source}; cannot become {target}"):
            states.transition(engine, rid, target, "test")
        assert ledger.get_request(engine, rid).status == source


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(states.TRANSITIONS) == set(ledger.STATUSES)
    assert states.TRANSITIONS["erased"] == set()  # terminal


def test_start_takes_a_lease_that_complete_releases(engine: Engine) -> None:
    rid = _request(engine, "queued")
    req = states.start(engine, rid, "run-a", "test", lease_seconds=60)
    assert (req.status, req.lease_owner) == ("running", "run-a")
    assert not states.lease_expired(req)
    done = states.complete(engine, rid, "test", verified_at="2025-01-01T00:00:00+00:00")
    assert (done.lease_owner, done.lease_expires_at) == (None, None)


def test_another_owner_cannot_start_a_request_whose_lease_is_live(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=60)
    with pytest.raises(states.InvalidTransition, match="running under run-a"):
        states.start(engine, rid, "run-b", "test", lease_seconds=60)
    # the same owner may (a re-executed step)
    assert states.start(engine, rid, "run-a", "test", lease_seconds=60).lease_owner == "run-a"


def test_a_new_owner_may_start_once_the_lease_expired(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=0.05)
    time.sleep(0.1)
    assert states.start(engine, rid, "run-b", "test", lease_seconds=60).lease_owner == "run-b"


def test_renew_extends_only_the_owners_lease(engine: Engine) -> None:
    rid = _request(engine, "queued")
    first = states.start(engine, rid, "run-a", "test", lease_seconds=1).lease_expires_at
    assert states.renew(engine, rid, "run-a", 60)
    assert ledger.get_request(engine, rid).lease_expires_at > first
    assert not states.renew(engine, rid, "run-b", 60)


def test_retry_refuses_a_running_request_with_a_live_lease(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=60)
    with pytest.raises(states.InvalidTransition, match="lease runs until"):
        states.retry(engine, rid, "test")


def test_retry_accepts_a_running_request_whose_owner_died(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=0.05)
    time.sleep(0.1)
    req = states.retry(engine, rid, "test")
    assert (req.status, req.lease_owner) == ("received", None)


def test_a_failure_of_a_replaced_owner_leaves_the_request_alone(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=0.05)
    time.sleep(0.1)
    states.start(engine, rid, "run-b", "test", lease_seconds=60)
    assert states.fail(engine, rid, "late error of run-a", "test", owner="run-a") is None
    assert ledger.get_request(engine, rid).status == "running"
    assert states.fail(engine, rid, "error of run-b", "test", owner="run-b").status == "failed"


def test_a_completed_request_stays_completed_when_a_failure_arrives(engine: Engine) -> None:
    rid = _request(engine, "completed")
    assert states.fail(engine, rid, "late", "test") is None
    assert ledger.get_request(engine, rid).status == "completed"


def test_a_completed_access_export_whose_file_was_deleted_becomes_erased(engine: Engine) -> None:
    rid = _request(engine, "completed", result_location="file:///x.csv")
    req = states.mark_result_erased(engine, rid, "era_1", "test")
    assert req is not None and req.status == "erased"
    assert req.result_location is None and "erasure era_1" in (req.result_note or "")


def test_a_running_access_export_whose_file_was_deleted_finishes_erased(engine: Engine) -> None:
    rid = _request(engine, "queued")
    states.start(engine, rid, "run-a", "test", lease_seconds=60)
    assert states.mark_result_erased(engine, rid, "era_1", "test") is None
    done = states.complete(engine, rid, "test", result_location="file:///x.csv")
    assert done.status == "erased" and done.result_location is None
