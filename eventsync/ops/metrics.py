"""Prometheus metrics (prometheus-client).

- The API's own counters (`API`): requests by route template and status, ingested and
  rejected events, store faults. Labels never hold an id from a path or a payload:
  routes are templates (`/v1/privacy/erasures/{request_id}`), rejects are counted by
  cause (`invalid` / `erased`), not by subject.
- `StoreCollector`: the pipeline as the event store records it, read at each scrape
  (one query per family): days exported, rows, lag per sync, failed days, erasure
  latency, the age of the oldest open privacy request. Used by `eventsync metrics
  serve` (with the run queue from pipeline/metrics.py) and by the API's /metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from eventsync.clock import utcnow
from eventsync.store.schema import export_ledger, privacy_requests, syncs

OPEN_STATUSES = ("received", "queued", "running", "failed")


class ApiMetrics:
    """The API's counters, on their own registry (one per app: tests build many)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "eventsync_api_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "eventsync_api_request_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "eventsync_events_ingested",
            "Events stored by POST /v1/events.",
            registry=self.registry,
        )
        self.events_rejected = Counter(
            "eventsync_events_rejected",
            "Events refused by POST /v1/events, by cause (invalid, erased).",
            ["cause"],
            registry=self.registry,
        )
        self.store_faults = Counter(
            "eventsync_store_faults",
            "Requests answered 503 because the event store failed (the guard's too).",
            registry=self.registry,
        )


def _iso(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=utcnow().tzinfo)


class StoreCollector(Collector):
    """The pipeline's numbers from the event store, computed at scrape time."""

    def __init__(self, engine: Engine, window_days: int = 30) -> None:
        self.engine = engine
        self.window = timedelta(days=window_days)

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        cols = export_ledger.c
        exported = GaugeMetricFamily(
            "eventsync_sync_days_exported", "Days of the sync exported (ledger).", labels=["sync"]
        )
        rows = GaugeMetricFamily(
            "eventsync_sync_rows_exported", "Rows of the sync's exported days.", labels=["sync"]
        )
        failed = GaugeMetricFamily(
            "eventsync_sync_failed_days",
            "Days whose last export attempt failed or was blocked.",
            labels=["sync"],
        )
        lag = GaugeMetricFamily(
            "eventsync_sync_lag_seconds",
            "Seconds since the end of the sync's newest exported day (enabled syncs).",
            labels=["sync"],
        )
        with self.engine.connect() as conn:
            per_status = conn.execute(
                select(
                    cols.sync_id, cols.status, func.count(), func.sum(cols.rows), func.max(cols.day)
                ).group_by(cols.sync_id, cols.status)
            ).all()
            enabled = list(
                conn.execute(select(syncs.c.id).where(syncs.c.enabled.is_(True))).scalars()
            )
            requests = conn.execute(
                select(
                    privacy_requests.c.kind,
                    privacy_requests.c.status,
                    privacy_requests.c.created_at,
                    privacy_requests.c.completed_at,
                ).where(
                    (privacy_requests.c.status.in_(OPEN_STATUSES))
                    | (privacy_requests.c.completed_at >= (now - self.window).isoformat())
                )
            ).all()
        newest: dict[str, str] = {}
        for sync_id, status, count, total, last_day in per_status:
            if status == "exported":
                exported.add_metric([sync_id], count)
                rows.add_metric([sync_id], total or 0)
                newest[sync_id] = last_day
            else:
                failed.add_metric([sync_id], count)
        for sync_id in enabled:
            if sync_id in newest:
                end = datetime.fromisoformat(newest[sync_id]).replace(tzinfo=now.tzinfo)
                lag.add_metric([sync_id], max(0.0, (now - end - timedelta(days=1)).total_seconds()))
        yield from (exported, rows, failed, lag)
        yield from _privacy(requests, now)


def _privacy(requests: list, now: datetime) -> Iterator[Metric]:
    open_count = GaugeMetricFamily(
        "eventsync_privacy_open_requests",
        "Privacy requests not completed, by kind and status.",
        labels=["kind", "status"],
    )
    oldest = GaugeMetricFamily(
        "eventsync_privacy_oldest_open_seconds",
        "Age of the oldest privacy request not completed (0: none), by kind.",
        labels=["kind"],
    )
    latency = GaugeMetricFamily(
        "eventsync_privacy_latency_seconds",
        "Received-to-completed time of the requests completed in the last 30 days.",
        labels=["kind", "stat"],
    )
    counts: dict[tuple[str, str], int] = {}
    ages: dict[str, float] = {"erasure": 0.0, "access_export": 0.0}
    done: dict[str, list[float]] = {"erasure": [], "access_export": []}
    for kind, status, created, completed in requests:
        created_at = _iso(created)
        if status in OPEN_STATUSES:
            counts[(kind, status)] = counts.get((kind, status), 0) + 1
            if created_at:
                ages[kind] = max(ages.get(kind, 0.0), (now - created_at).total_seconds())
        elif completed and created_at and (completed_at := _iso(completed)):
            done.setdefault(kind, []).append((completed_at - created_at).total_seconds())
    for (kind, status), n in sorted(counts.items()):
        open_count.add_metric([kind, status], n)
    for kind, age in sorted(ages.items()):
        oldest.add_metric([kind], age)
    for kind, values in sorted(done.items()):
        if values:
            latency.add_metric([kind, "max"], max(values))
            latency.add_metric([kind, "mean"], sum(values) / len(values))
            latency.add_metric([kind, "count"], len(values))
    yield from (open_count, oldest, latency)
