"""An erasure's steps, in the one order the runner, the Dagster ops and the docs follow;
each is idempotent, so a retried request can run it again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventsync.privacy import request_store, runner, suppressions
from eventsync.privacy.step_context import StepContext
from eventsync.privacy.steps import ALWAYS_RUN, LOCKED_STEPS, STEPS, erasure_step
from tests.eventsync.privacy.scenario import TARGET, seed


def running(engine: Engine, workspace_id: str) -> StepContext:
    """A new erasure of TARGET, claimed and started by this test as its owner."""
    req = request_store.create_request(engine, workspace_id, "erasure", [TARGET], [], "t")
    runner.claim(engine, req.id, "t")
    return StepContext(engine, runner.start(engine, req.id, "test-owner", "t"), "t")


def test_suppress_first_verify_last_and_the_file_steps_locked() -> None:
    order = list(STEPS)
    assert order[0] == "suppress" and order[-1] == "verify"
    assert order.index("store") < order.index("exports")
    assert set(LOCKED_STEPS) == set(order) - {"suppress", "store"}
    assert set(ALWAYS_RUN) == {"verify"}


def test_an_unknown_step_is_named() -> None:
    with pytest.raises(ValueError, match="unknown erasure step 'shred'"):
        erasure_step("shred")


def test_suppress_puts_the_subjects_on_the_list_once(engine: Engine, tmp_path: Path) -> None:
    sync = seed(engine, tmp_path / "dest")
    ctx = running(engine, sync.workspace_id)
    suppress = erasure_step("suppress")
    assert suppress(ctx) == {"subjects_suppressed": 1}
    assert suppress(ctx) == {"subjects_suppressed": 0}
    assert suppressions.is_suppressed(engine, sync.workspace_id, "user", TARGET)


def test_every_step_in_order_erases_and_proves_it(engine: Engine, tmp_path: Path) -> None:
    sync = seed(engine, tmp_path / "dest")
    ctx = running(engine, sync.workspace_id)
    results = {step: erasure_step(step)(ctx) for step in STEPS}
    assert results["store"]["events_removed"] > 0
    assert results["verify"]["store"] == {"events": 0, "user_profiles": 0, "company_profiles": 0}
    assert results["verify"]["verified_at"]
