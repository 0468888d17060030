"""What is wrong with the Dagster side of a deployment now, for /metrics and the alerts
of `eventsync metrics serve`: a daemon whose heartbeat is late, a code server that does
not answer, Celery workers gone from the deployment's queue, export runs lost or stuck.
The event store's incidents (stale syncs, failed days, overdue privacy requests) are
eventsync/ops/alerts.py's; these join them there, one notification per incident."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eventsync.ops.alerts import Incident
from pipeline.runs.run_health import STUCK_AFTER_SECONDS, run_problems

# The daemon writes a heartbeat every 30 s; one older than this is a dead or hung daemon
# (the documented liveness check uses the same 30 + 25 s).
DAEMON_LATE_SECONDS = 55.0
# A code server down this long (or a daemon that never beat) is an incident worth a
# notification: a graceful restart takes a few seconds, and so does a first heartbeat.
DOWN_FOR_SECONDS = 30.0
PROBE_TIMEOUT_SECONDS = 5


@dataclass(frozen=True)
class CodeServer:
    location: str
    host: str
    port: int


def code_servers(workspace_file: Path | None) -> list[CodeServer]:
    """The gRPC code servers a workspace file points at (a `python_module` entry has no
    server of its own to probe)."""
    if workspace_file is None or not workspace_file.is_file():
        return []
    loaded = yaml.safe_load(workspace_file.read_text()) or {}
    servers = []
    for entry in loaded.get("load_from") or []:
        server = entry.get("grpc_server") if isinstance(entry, dict) else None
        if server and server.get("port"):
            host, port = server.get("host", "localhost"), int(server["port"])
            servers.append(CodeServer(server.get("location_name") or f"{host}:{port}", host, port))
    return servers


def code_server_up(server: CodeServer) -> bool:
    """The gRPC health check `dagster api grpc-health-check` makes."""
    request = health_pb2.HealthCheckRequest(service="DagsterApi")
    try:
        with grpc.insecure_channel(f"{server.host}:{server.port}") as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                request, timeout=PROBE_TIMEOUT_SECONDS
            )
    except grpc.RpcError:  # refused, timed out, reset: all "not answering"
        return False
    return answer.status == health_pb2.HealthCheckResponse.SERVING


def late_daemons(
    instance: dg.DagsterInstance, now: float | None = None, beats: dict | None = None
) -> list[str]:
    """The daemons the instance needs whose last heartbeat (`beats`, read if not given)
    is missing or late."""
    now = now or time.time()
    beats = instance.get_daemon_heartbeats() if beats is None else beats
    late = []
    for daemon in sorted(instance.get_required_daemon_types()):
        beat = beats.get(daemon)
        if beat is None or now - beat.timestamp > DAEMON_LATE_SECONDS:
            late.append(daemon.lower())
    return late


def celery_workers(queue: str, timeout: float = 2.0) -> int:
    """How many Celery workers answer and consume the deployment's queue (0 when the
    broker does not answer)."""
    from pipeline.celery_app import app

    try:
        answers = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:  # the broker is down: no worker can take a step
        return 0
    return sum(1 for queues in answers.values() if any(q.get("name") == queue for q in queues))


def dagster_incidents(
    instance: dg.DagsterInstance, servers: list[CodeServer], now: float | None = None
) -> list[Incident]:
    """Incidents of the Dagster side, keyed so that one outage is one notification: one
    for the daemon (not one per daemon thread), one per code server, one per lost run
    (its retries included: keyed by the first run) and per stuck run."""
    now = now or time.time()
    found: list[Incident] = []
    beats = instance.get_daemon_heartbeats()
    late = late_daemons(instance, now, beats)
    if late:
        # Late heartbeats say the daemon died 55 s ago at least: notified at once. No
        # heartbeat at all is also a daemon still starting: notified once that has lasted.
        never = not beats
        found.append(
            Incident(
                "daemon_down",
                "daemon_down",
                f"the Dagster daemon's heartbeat is older than {DAEMON_LATE_SECONDS:g} s "
                f"({', '.join(late)}): no schedule, sensor, backfill or queued run advances",
                notify_after_seconds=DOWN_FOR_SECONDS if never else 0.0,
            )
        )
    for server in servers:
        if not code_server_up(server):
            found.append(
                Incident(
                    f"code_server_down:{server.location}",
                    "code_server_down",
                    f"code server {server.location} ({server.host}:{server.port}) does not "
                    "answer: no run can start, runs it held are lost",
                    notify_after_seconds=DOWN_FOR_SECONDS,
                )
            )
    problems = run_problems(instance, None, now)
    for run_id in problems.failed_infrastructure:
        root = problems.first_runs.get(run_id, run_id)
        found.append(
            Incident(
                f"run_lost:{root}",
                "run_lost",
                f"export run {run_id} failed for the infrastructure (worker or code server "
                "lost, or timed out) and has not been retried to success",
            )
        )
    for run_id in problems.stuck:
        found.append(
            Incident(
                f"run_stuck:{run_id}",
                "run_stuck",
                f"export run {run_id} has made no progress for "
                f"{STUCK_AFTER_SECONDS / 60:g} minutes",
            )
        )
    return _one_per_key(found)


def _one_per_key(incidents: list[Incident]) -> list[Incident]:
    seen: dict[str, Incident] = {}
    for incident in incidents:
        seen.setdefault(incident.key, incident)
    return list(seen.values())
