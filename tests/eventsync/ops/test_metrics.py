"""The pipeline exporter: the event store's numbers (days exported, rows, lag and failed
days per sync, privacy latency and the oldest open request) and the run queue read from
a real Dagster instance, served over HTTP by prometheus-client and parsed back."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_run_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, func, select

from eventsync.ops.metrics import StoreCollector
from eventsync.privacy import request_store, runner
from eventsync.store.schema import export_ledger
from pipeline.metrics import DagsterCollector
from tests.eventsync.ops.test_alerts import _fail_day
from tests.eventsync.privacy.scenario import TARGET, seed
from tests.fixtures.ports import free_port


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.slow
def test_the_exporter_serves_the_pipeline_and_the_run_queue(
    engine: Engine, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    sync = seed(engine, tmp_path / "dest")
    _fail_day(engine, sync.id, sync.workspace_id, "2025-03-03")
    done = request_store.create_request(engine, sync.workspace_id, "erasure", [TARGET], [], "t")
    runner.run_all(engine, done.id, "t")
    request_store.create_request(engine, sync.workspace_id, "erasure", ["user-1"], [], "t")
    origin = RemoteJobOrigin(
        repository_origin=RemoteRepositoryOrigin(
            code_location_origin=InProcessCodeLocationOrigin(
                loadable_target_origin=LoadableTargetOrigin(module_name="pipeline.definitions")
            ),
            repository_name="__repository__",
        ),
        job_name="export_job",
    )
    for _ in range(2):
        create_run_for_test(
            instance,
            job_name="export_job",
            status=DagsterRunStatus.QUEUED,
            remote_job_origin=origin,
        )
    create_run_for_test(instance, job_name="export_job", status=DagsterRunStatus.STARTED)

    registry = CollectorRegistry()
    registry.register(StoreCollector(engine))
    registry.register(DagsterCollector(instance))
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        m = _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
    with engine.connect() as conn:
        rows = conn.execute(
            select(func.sum(export_ledger.c.rows)).where(export_ledger.c.status == "exported")
        ).scalar_one()
    label = (("sync", sync.id),)
    assert m[("eventsync_sync_days_exported", label)] == 2
    assert m[("eventsync_sync_rows_exported", label)] == rows > 0
    assert m[("eventsync_sync_failed_days", label)] == 1
    assert m[("eventsync_sync_lag_seconds", label)] > 200 * 86400  # 2025-03-02 is long ago
    assert (
        m[("eventsync_privacy_open_requests", (("kind", "erasure"), ("status", "received")))] == 1
    )
    assert m[("eventsync_privacy_oldest_open_seconds", (("kind", "erasure"),))] >= 0
    assert m[("eventsync_privacy_latency_seconds", (("kind", "erasure"), ("stat", "count")))] == 1
    assert m[("eventsync_privacy_latency_seconds", (("kind", "erasure"), ("stat", "max")))] > 0
    assert m[("eventsync_dagster_runs", (("status", "queued"),))] == 2
    assert m[("eventsync_dagster_runs", (("status", "started"),))] == 1
    assert m[("eventsync_dagster_oldest_queued_seconds", ())] >= 0
