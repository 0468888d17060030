"""The run launcher of the shipped dagster.yaml: Dagster's DefaultRunLauncher (runs start
as child processes of the code server that holds the job), except that a code server
that is shutting down does not fail the run.

A code server told to stop (a graceful restart, a deploy) answers every launch with
"Tried to start a run on a server after telling it to shut down" while its running
runs finish; DefaultRunLauncher turns that into a failed run (9 of 12 runs of a
backfill failed so). Here it is reported as an unreachable code server, which the run
queue answers by putting the run back in the queue and not launching from that code
location for `run_queue.user_code_failure_retry_delay` seconds, up to
`max_user_code_failure_retries` times (dagster.yaml): the runs wait for the new server.

It also answers run monitoring's health check, which Dagster's default launcher does
not: without it a run whose process died with its code server (kill -9, a lost machine)
stayed "started" until the run's maximum runtime (an hour), holding a run slot. At launch
the run is tagged with the id of the code server that took it; the check asks the server
at the run's address whether it still executes the run:

- it does: running;
- it does not, and it is the server that took the run: the run's process is gone
  (failed), and run monitoring fails the run, which run retries then retry;
- it does not, and it is another server: the code server was restarted (the run's
  process died with the old one) or its code reloaded from the UI (the old server
  finishes its runs before it exits, and nothing can ask it). The run is failed only
  once it has been silent (no event) for EVENTSYNC_REPLACED_CODE_SERVER_SILENCE_SECONDS
  (180 s), longer than a step that logs nothing;
- no answer: no verdict (a network blip must not fail a healthy run); the run's
  maximum runtime still bounds a server that never comes back.

A failed verdict also waits until this launcher has seen the answering server for
WORKSPACE_RELOAD_SECONDS: the daemon reloads its workspace every 60 s, and a retry
launched before it knows the new server fails, after which Dagster never retries the run
(it tags it `dagster/will_retry: false`).

The address must reach the server that launched the run (as Dagster's own run
termination assumes): one code server per address, not several behind one load
balancer.
"""

from __future__ import annotations

import json
import time
from typing import Any

from dagster import DagsterRun, DefaultRunLauncher, deserialize_value

from eventsync.settings import load
from pipeline.runs.dagster_internals import (
    GRPC_INFO_TAG,
    CanCancelExecutionRequest,
    CanCancelExecutionResult,
    CheckRunHealthResult,
    DagsterGrpcClient,
    DagsterLaunchFailedError,
    DagsterUserCodeUnreachableError,
    LaunchRunContext,
    WorkerStatus,
)

DRAINING = "after telling it to shut down"
SERVER_TAG = "eventsync/code_server_id"
PROBE_TIMEOUT_SECONDS = 10
WORKSPACE_RELOAD_SECONDS = 65.0  # Dagster's daemon: RELOAD_WORKSPACE_INTERVAL (60 s)


class DrainingRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher; a launch refused by a stopping code server is re-queued, and
    a run whose code server no longer holds it is reported failed to run monitoring."""

    def __init__(self, inst_data: Any = None) -> None:  # Dagster's ConfigurableClassData
        super().__init__(inst_data=inst_data)
        self._servers_seen: dict[str, float] = {}  # code server id: first answer (time)

    def launch_run(self, context: LaunchRunContext) -> None:
        try:
            super().launch_run(context)
        except DagsterLaunchFailedError as exc:
            if DRAINING not in str(exc):
                raise
            raise DagsterUserCodeUnreachableError(
                f"the code server is shutting down; run {context.dagster_run.run_id} "
                "goes back to the queue until it is up again"
            ) from exc
        run = self._instance.get_run_by_id(context.dagster_run.run_id)
        client = _client(run) if run else None
        if client is not None:
            try:
                server_id = client.get_server_id(timeout=PROBE_TIMEOUT_SECONDS)
            except Exception:  # then the check has no server to compare with
                return
            self._instance.add_run_tags(run.run_id, {SERVER_TAG: server_id})

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        client = _client(run)
        if client is None:  # not launched here (`dagster asset materialize`...): no verdict
            return CheckRunHealthResult(WorkerStatus.RUNNING, "the run names no code server")
        try:
            server_id = client.get_server_id(timeout=PROBE_TIMEOUT_SECONDS)
            answer = client.can_cancel_execution(
                CanCancelExecutionRequest(run_id=run.run_id), timeout=PROBE_TIMEOUT_SECONDS
            )
            executes = deserialize_value(answer, CanCancelExecutionResult).can_cancel
        except Exception as exc:  # unreachable, whichever way: no verdict
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, f"code server not reachable ({type(exc).__name__})", True
            )
        if executes:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        seen = self._servers_seen.setdefault(server_id, time.time())
        if time.time() - seen < WORKSPACE_RELOAD_SECONDS:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "a code server just seen: waiting for the workspace", True
            )
        if run.tags.get(SERVER_TAG) == server_id:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                "the code server that took the run no longer runs it: its run process died",
            )
        silent = time.time() - self._last_event_time(run)
        if silent > load().replaced_code_server_silence_seconds:
            return CheckRunHealthResult(
                WorkerStatus.FAILED,
                "the run's code server was replaced (restarted) and no longer runs it, and "
                f"the run has been silent {silent:.0f} s: its process died with the old server",
            )
        return CheckRunHealthResult(
            WorkerStatus.RUNNING, "the code server was replaced; waiting for the run's events"
        )

    def _last_event_time(self, run: DagsterRun) -> float:
        records = self._instance.get_records_for_run(run.run_id, ascending=False, limit=1)
        return records.records[0].timestamp if records.records else 0.0


def _client(run: DagsterRun) -> DagsterGrpcClient | None:
    """A client of the code server the run was launched on (its tag), if any."""
    info = run.tags.get(GRPC_INFO_TAG)
    if not info:
        return None
    address = json.loads(info)
    return DagsterGrpcClient(
        port=address.get("port"),
        socket=address.get("socket"),
        host=address.get("host"),
        use_ssl=bool(address.get("use_ssl", False)),
    )
