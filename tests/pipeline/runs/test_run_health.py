"""A sync's runs as Dagster knows them: a run that failed in a step is the sync's own
failure (the ledger has it), a run failed by run monitoring (its process died) or one
started but silent is an infrastructure problem `sync status` reports."""

from __future__ import annotations

import time

import dagster as dg
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test

from pipeline.runs.run_health import run_problems
from pipeline.runs.tags import KIND_TAG, SYNC_TAG, syncs_tags


@dg.op
def refused() -> None:
    raise dg.Failure("the destination refused the day")


@dg.job
def a_sync_job() -> None:
    refused()


def test_stuck_and_lost_runs_are_reported_step_failures_are_not(
    instance: dg.DagsterInstance,
) -> None:
    tags = {SYNC_TAG: "sync_a", KIND_TAG: "export"}
    own = a_sync_job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    assert not own.success
    lost = create_run_for_test(
        instance, job_name="a_sync_job", status=DagsterRunStatus.STARTED, tags=tags
    )
    # What run monitoring does to a run whose process died.
    instance.report_run_failed(lost, "Exceeded maximum runtime of 3600 seconds.")
    silent = create_run_for_test(
        instance, job_name="a_sync_job", status=DagsterRunStatus.STARTED, tags=tags
    )
    other = create_run_for_test(
        instance,
        job_name="a_sync_job",
        status=DagsterRunStatus.STARTED,
        tags={SYNC_TAG: "sync_b", KIND_TAG: "export"},
    )

    now = run_problems(instance, "sync_a")
    assert now.in_progress == [silent.run_id] and now.stuck == []
    assert now.failed_infrastructure == [lost.run_id] and not now.healthy
    assert now.first_runs == {lost.run_id: lost.run_id}  # no retry: its own chain
    assert "first_runs" not in now.to_dict()  # what `sync status` prints is unchanged
    later = run_problems(instance, "sync_a", now=time.time() + 3600)
    assert later.stuck == [silent.run_id]
    # Deployment-wide: every export run, whichever syncs it holds.
    assert set(run_problems(instance, None, now=time.time() + 3600).stuck) == {
        silent.run_id,
        other.run_id,
    }
    assert run_problems(instance, "sync_c").healthy


def test_a_run_of_several_syncs_is_each_named_syncs_run(instance: dg.DagsterInstance) -> None:
    """The 03:00 runs and backfills hold several syncs (`eventsync/syncs` a,b,c)."""
    shared = create_run_for_test(
        instance,
        job_name="a_sync_job",
        status=DagsterRunStatus.STARTED,
        tags=syncs_tags(["sync_a", "sync_c"]),
    )
    instance.report_run_failed(shared, "Exceeded maximum runtime of 3600 seconds.")
    for sync_id in ("sync_a", "sync_c"):
        assert run_problems(instance, sync_id).failed_infrastructure == [shared.run_id]
    assert run_problems(instance, "sync_b").healthy
    # A run without the tag exports every enabled sync: each sync's.
    every = create_run_for_test(
        instance, job_name="a_sync_job", status=DagsterRunStatus.STARTED, tags={KIND_TAG: "export"}
    )
    assert run_problems(instance, "sync_b").in_progress == [every.run_id]
