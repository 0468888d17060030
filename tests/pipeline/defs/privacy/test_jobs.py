"""The privacy jobs: one op per erasure step in one process, a failing op's error kept
out of Dagster (recorded with the request), and a failed run re-executed from the
failure (the UI's button) finishing the request under its new run id."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from sqlalchemy import Engine

from assets import layout
from pipeline.defs.privacy.jobs import ATTEMPT_TAG, REQUEST_TAG, erasure_job, run_config
from pipeline.privacy import ledger, runner, steps
from tests.pipeline.privacy.scenario import DAYS, TARGET, seed


def erasure_job_with_resources() -> dg.JobDefinition:
    """erasure_job as the code location binds it (reconstructable for execute_job)."""
    from pipeline.definitions import defs

    return defs.get_job_def("erasure_job")


def test_the_erasure_job_has_one_op_per_step_in_one_process() -> None:
    ops = [node.name for node in erasure_job.graph.nodes_in_topological_order]
    assert ops == ["privacy_start", *(f"erasure_{s}" for s in steps.STEPS), "erasure_complete"]
    assert erasure_job.executor_def.name == "in_process"


def test_a_failed_run_re_executed_from_the_failure_completes_the_request(
    engine: Engine, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    root = tmp_path / "dest"
    sync = seed(engine, root)
    manifest = root / layout.manifest_key(sync.id, DAYS[0])
    good = manifest.read_bytes()
    manifest.write_bytes(b"{not json " + TARGET.encode())  # the exports step fails on it
    req = ledger.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "test")
    req = runner.claim(engine, req.id, "test")
    recon = dg.reconstructable(erasure_job_with_resources)
    tags = {REQUEST_TAG: req.id, ATTEMPT_TAG: str(req.attempt)}
    with dg.execute_job(recon, instance, run_config=run_config(req.id), tags=tags) as first:
        assert not first.success
        run_id = first.run_id
        failure = next(e for e in first.all_events if e.is_step_failure)
    failed = ledger.get_request(engine, req.id)
    assert failed.status == "failed" and "JSONDecodeError" in failed.error
    # Dagster got the step and the error type, not the error's text
    message = failure.step_failure_data.error.message
    assert "exports failed (DestinationError)" in message and TARGET not in message
    assert failure.step_failure_data.error.cause is None

    manifest.write_bytes(good)
    options = dg.ReexecutionOptions.from_failure(run_id, instance)
    with dg.execute_job(recon, instance, reexecution_options=options) as second:
        assert second.success
        assert "privacy_start" not in {e.step_key for e in second.all_events if e.step_key}
    done = ledger.get_request(engine, req.id)
    assert done.status == "completed" and done.verified_at
    assert [r["run_id"] for r in done.progress["runs"]] == [run_id, second.run_id]
