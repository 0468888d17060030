"""The pipeline's Prometheus metrics that live in Dagster's instance: the run queue
(runs by status, the oldest queued run) and the daemons' heartbeats. Served with the
event store's numbers (eventsync/ops/metrics.py) by `eventsync metrics serve`."""

from __future__ import annotations

import time
from collections.abc import Iterator

import dagster as dg
from dagster import DagsterRunStatus, RunsFilter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

WATCHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)


class DagsterCollector(Collector):
    """Runs by status, the age of the oldest queued run and of each daemon's last
    heartbeat, read from the instance at each scrape."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self.instance = instance

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
