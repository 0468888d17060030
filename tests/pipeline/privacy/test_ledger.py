"""The ledger's step runner and audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from pipeline.privacy import ledger, states
from pipeline.workspaces import create_workspace


def test_retried_request_skips_finished_steps(engine: Engine, tmp_path):
    """The ledger's step runner: a step done in attempt 1 is not run again."""
    ws = create_workspace(engine, "acme").workspace_id
    req = ledger.create_request(engine, ws, "erasure", ["u"], [], "test")
    calls = []
    ledger.run_step(engine, req.id, "s", lambda r: calls.append(1) or {"n": 1}, "test")
    ledger.run_step(engine, req.id, "s", lambda r: calls.append(2) or {"n": 2}, "test")
    assert calls == [1]
    assert ledger.get_request(engine, req.id).progress["steps"]["s"]["n"] == 1
    with pytest.raises(states.InvalidTransition, match="received; cannot become completed"):
        states.complete(engine, req.id, "test")
