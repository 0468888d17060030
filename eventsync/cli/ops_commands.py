"""`eventsync metrics serve` (the pipeline's Prometheus exporter, evaluating the alerts
as it runs) and `eventsync alerts check` (one evaluation, for cron)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from eventsync import settings
from eventsync.cli.common import command, emit, main, open_store

log = logging.getLogger("eventsync.metrics")

workspace_option = click.option(
    "-w",
    "--workspace",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The daemon's workspace file: the gRPC code servers it names are probed "
    "(default: ./workspace.yaml, if there is one).",
)


def _workspace(path: Path | None) -> Path | None:
    here = Path("workspace.yaml")
    return path if path is not None else (here if here.is_file() else None)


def _dagster_incidents(instance, servers):  # type: ignore[no-untyped-def]
    """The Dagster side's incidents, or None (not evaluated: its open incidents stay)."""
    from pipeline.health import dagster_incidents

    try:
        return dagster_incidents(instance, servers)
    except Exception as exc:  # Dagster's database down: the next round tries again
        log.warning("Dagster incidents not evaluated: %s: %s", type(exc).__name__, exc)
        return None


@main.group()
def metrics() -> None:
    """Prometheus metrics of the pipeline."""


@metrics.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    type=int,
    default=None,
    show_default=f"${settings.Settings.env_name('metrics_port')}, else "
    f"{settings.defaults().metrics_port}",
)
@click.option("--no-alerts", is_flag=True, help="Serve metrics only; do not evaluate alerts.")
@workspace_option
def metrics_serve(host: str, port: int | None, no_alerts: bool, workspace: Path | None) -> None:
    """Serve /metrics: days exported, rows, lag and failed days per sync, privacy request
    latency and age of the oldest open one (event store); runs by status, the oldest
    queued run, runs lost or stuck, daemon heartbeats, code servers up, Celery workers
    (Dagster). Evaluates the alerts every EVENTSYNC_ALERT_INTERVAL_SECONDS."""
    from prometheus_client import CollectorRegistry, start_http_server

    from eventsync.ops import alerts
    from eventsync.ops.logs import configure
    from eventsync.ops.metrics import StoreCollector
    from pipeline.executors import executor_name
    from pipeline.health import code_servers
    from pipeline.instance import dagster_instance
    from pipeline.metrics import DagsterCollector

    configure()
    config = settings.load()
    engine = open_store()
    instance = dagster_instance()
    servers = code_servers(_workspace(workspace))
    queue = config.celery_queue if executor_name() == "celery" else None
    registry = CollectorRegistry()
    registry.register(StoreCollector(engine))
    registry.register(DagsterCollector(instance, servers, queue))
    port = config.metrics_port if port is None else port
    server, _thread = start_http_server(port, addr=host, registry=registry)
    log.info("serving metrics on http://%s:%d/metrics", host, port)
    try:
        while True:
            if not no_alerts:
                try:
                    dagster = _dagster_incidents(instance, servers)
                    result = alerts.check(engine, dagster=dagster)
                    if result.notified or result.failed:
                        log.info(
                            "alerts: %d open, %d notified, %d not delivered",
                            len(result.open), len(result.notified), len(result.failed),
                        )  # fmt: skip
                except Exception as exc:  # the store is down: the next round tries again
                    log.warning("alerts not evaluated: %s: %s", type(exc).__name__, exc)
            time.sleep(config.alert_interval_seconds)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


@main.group()
def alerts() -> None:
    """Incident alerts (webhook, e-mail)."""


@alerts.command("check")
@workspace_option
@command
def alerts_check(as_json: bool, workspace: Path | None) -> None:
    """Evaluate the incidents once; notify each new one (EVENTSYNC_ALERT_WEBHOOK_URL,
    EVENTSYNC_ALERT_EMAIL_TO), once."""
    from eventsync.ops import alerts as incident_alerts
    from pipeline.health import code_servers
    from pipeline.instance import dagster_instance

    servers = code_servers(_workspace(workspace))
    dagster = _dagster_incidents(dagster_instance(), servers)
    result = incident_alerts.check(open_store(), dagster=dagster)
    emit(
        {
            "open": result.open,
            "notified": result.notified,
            "resolved": result.resolved,
            "not_delivered": result.failed,
        },
        as_json,
        lambda d: (
            f"{len(d['open'])} open incidents, {len(d['notified'])} notified, "
            f"{len(d['resolved'])} resolved, {len(d['not_delivered'])} not delivered"
        ),
    )
