"""The pipeline's Prometheus metrics that live on the Dagster side: the run queue (runs
by status, the oldest queued run), export runs lost or stuck, the daemons' heartbeats,
whether each code server answers and how many Celery workers take the deployment's
queue. Served with the event store's numbers (eventsync/ops/metrics.py) by `eventsync
metrics serve`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pipeline.health import CodeServer, celery_workers, code_server_up
from pipeline.runs.run_health import run_problems

WATCHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


class DagsterCollector(Collector):
    """Runs by status, the age of the oldest queued run and of each daemon's last
    heartbeat, read from the instance at each scrape; the code servers probed and the
    Celery workers asked (`queue`: the deployment's, None without the Celery executor)."""

    def __init__(
        self,
        instance: dg.DagsterInstance,
        servers: list[CodeServer] | None = None,
        queue: str | None = None,
    ) -> None:
        self.instance = instance
        self.servers = servers or []
        self.queue = queue

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        runs = GaugeMetricFamily(
            "eventsync_dagster_runs",
            "Dagster runs waiting or in progress, by status (queued = the run queue depth).",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "eventsync_dagster_oldest_queued_seconds",
            "Age of the oldest queued run (0: none).",
        )
        records = self.instance.get_run_records(filters=RunsFilter(statuses=list(WATCHED)))
        counts = {s.value: 0 for s in WATCHED}
        queued_at = []
        for record in records:
            counts[record.dagster_run.status.value] += 1
            if record.dagster_run.status == DagsterRunStatus.QUEUED:
                queued_at.append(record.create_timestamp.timestamp())
        for status, n in sorted(counts.items()):
            runs.add_metric([status.lower()], n)
        oldest.add_metric([], now - min(queued_at) if queued_at else 0.0)
        yield runs
        yield oldest
        beats = GaugeMetricFamily(
            "eventsync_dagster_daemon_heartbeat_age_seconds",
            "Seconds since each Dagster daemon's last heartbeat.",
            labels=["daemon"],
        )
        for daemon, beat in sorted(self.instance.get_daemon_heartbeats().items()):
            beats.add_metric([daemon.lower()], max(0.0, now - beat.timestamp))
        yield beats
        problems = run_problems(self.instance, None, now)
        troubled = GaugeMetricFamily(
            "eventsync_dagster_export_runs_in_trouble",
            "Export runs stuck (no progress for 15 minutes) or lost (failed in the last 24 h "
            "for the infrastructure, not retried to success), by problem.",
            labels=["problem"],
        )
        troubled.add_metric(["stuck"], len(problems.stuck))
        troubled.add_metric(["lost"], len(problems.failed_infrastructure))
        yield troubled
        if self.servers:
            up = GaugeMetricFamily(
                "eventsync_dagster_code_server_up",
                "1 when the code location's gRPC server answers its health check, else 0.",
                labels=["location"],
            )
            for server in self.servers:
                up.add_metric([server.location], 1.0 if code_server_up(server) else 0.0)
            yield up
        if self.queue is not None:
            workers = GaugeMetricFamily(
                "eventsync_celery_workers",
                "Celery workers that answer and take the deployment's queue.",
            )
            workers.add_metric([], celery_workers(self.queue))
            yield workers
