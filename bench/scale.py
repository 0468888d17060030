"""`python -m bench.scale [--syncs 100,1000] [--drain 100]`: the orchestration at many syncs.

For each N, on PostgreSQL (Dagster's storage and the event store, each a fresh
database on the server of --pg-url): N enabled syncs in one workspace, then the time
of one `new_sync_sensor` tick (all N syncs new), one `daily_sync_schedule` tick, and
how many runs that tick requests. Medians of --repeat ticks (each on fresh state where
the tick changes it). Then the backfill the sensor requested is queued and two passes
of the backfill daemon (`execute_backfill_iteration`, the daemon's own function, over
a real code server) are timed.

`--drain N`: the 03:00 run of N syncs with --events events each, drained for real: the
scheduler's own tick function creates the runs, the run-queue daemon's iteration
launches them (real run processes, the project's PostgreSQL dagster.yaml: 2 runs at
once), timed from the tick to the last run's end; once with one run per sync
(EVENTSYNC_SYNCS_PER_RUN=1, the old design) and once with the default.

Prints Markdown tables; `bench.run` includes them in RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from eventsync.clock import utc_today

ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("eventsync.bench")
PG_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database `name` on the server (dropped first if it exists)."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _dagster_home(work: Path, dagster_db: str) -> Path:
    """A DAGSTER_HOME whose storage is the project's PostgreSQL dagster.yaml."""
    home = work / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        (ROOT / "dagster_home" / "dagster.postgres.yaml").read_text()
    )
    url = make_url(dagster_db)
    os.environ.update(
        DAGSTER_HOME=str(home),
        DAGSTER_PG_HOST=url.host or "127.0.0.1",
        DAGSTER_PG_PORT=str(url.port or 5432),
        DAGSTER_PG_USER=url.username or "postgres",
        DAGSTER_PG_PASSWORD=url.password or "",
        DAGSTER_PG_DB=url.database or "postgres",
    )
    return home


def backfill_passes(instance, requests: list) -> list[float]:  # type: ignore[no-untyped-def]
    """Queue the sensor's backfill requests as the sensor daemon would, then time two
    passes of the backfill daemon over them."""
    from dagster._daemon.backfill import execute_backfill_iteration

    from bench.overhead import code_server
    from pipeline.runs.backfills import add_requested_backfill

    for request in requests:
        add_requested_backfill(instance, request)
    seconds = []
    with code_server(instance) as ctx:
        for _ in range(2):
            t0 = time.perf_counter()
            list(execute_backfill_iteration(ctx, LOG))
            seconds.append(time.perf_counter() - t0)
    return seconds


def measure(n: int, server_url: str, repeat: int, work: Path) -> dict:
    import dagster as dg

    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace
    from pipeline.schedules import daily_sync_schedule
    from pipeline.sensors import new_sync_sensor
    from resources import EventStoreResource

    store_url = fresh_database(server_url, f"eventsync_scale_store_{n}")
    dagster_db = fresh_database(server_url, f"eventsync_scale_dagster_{n}")
    home = _dagster_home(work / f"n{n}", dagster_db)
    os.environ["EVENTSYNC_DATABASE_URL"] = store_url
    os.environ["EVENTSYNC_DATA_DIR"] = str(home / "eventsync")
    upgrade(store_url)
    engine = engine_for(store_url)
    ws = create_workspace(engine, f"scale-{n}").workspace_id
    started = time.perf_counter()
    for i in range(n):
        create_sync(engine, ws, str(home / "dest" / f"s{i}"), backfill_days=3, title=f"s{i}")
    setup_s = time.perf_counter() - started
    resources = {"store": EventStoreResource(database_url=store_url)}
    sensor_s, requested = [], 0
    with dg.DagsterInstance.get() as instance:
        for _ in range(repeat):
            # Each tick sees all N syncs as new: a fresh cursor.
            with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                t0 = time.perf_counter()
                result = new_sync_sensor(ctx)
                sensor_s.append(time.perf_counter() - t0)
            run_requests = list(getattr(result, "run_requests", None) or [])
            requested = len(run_requests)
            holds = [
                f"{len(r.tags.get('eventsync/syncs', '').split(','))} syncs" for r in run_requests
            ]
        tick = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
        schedule_s, runs = [], 0
        for r in range(repeat):
            with dg.build_schedule_context(
                instance=instance,
                resources=resources,
                scheduled_execution_time=tick - timedelta(days=r),
            ) as ctx:
                t0 = time.perf_counter()
                out = daily_sync_schedule(ctx)
                schedule_s.append(time.perf_counter() - t0)
            runs = len(out) if isinstance(out, list) else len(getattr(out, "run_requests", []))
        passes = backfill_passes(instance, run_requests)
        backfill_runs = len(instance.get_runs())
    return {
        "syncs": n,
        "setup_seconds": setup_s,
        "sensor_tick_seconds": statistics.median(sensor_s),
        "sensor_requests": requested,
        "sensor_request_holds": "; ".join(holds),
        "schedule_tick_seconds": statistics.median(schedule_s),
        "schedule_runs": runs,
        "backfill_pass_seconds": passes,
        "backfill_runs_submitted": backfill_runs,
        "partitions_per_asset": _days_since_start(),  # date partitions: not x syncs
    }


def _days_since_start() -> int:
    from datetime import date

    from assets.partitions import PARTITIONS_START

    return (utc_today() - date.fromisoformat(PARTITIONS_START)).days


def drain(n: int, events: int, per_run: int, server_url: str, work: Path) -> dict:
    """The 03:00 tick of N syncs, run for real; seconds from tick to the last run's end."""
    from datetime import time as clock_time

    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import (
        QueuedRunCoordinatorDaemon,
    )
    from dagster._scheduler.scheduler import launch_scheduled_runs

    from bench.data import day_table, load
    from bench.overhead import code_server
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    tag = f"{n}_{per_run}"
    store_url = fresh_database(server_url, f"eventsync_drain_store_{tag}")
    home = _dagster_home(
        work / f"drain{tag}", fresh_database(server_url, f"eventsync_drain_dg_{tag}")
    )
    os.environ.update(
        EVENTSYNC_DATABASE_URL=store_url,
        EVENTSYNC_DATA_DIR=str(home / "eventsync"),
        EVENTSYNC_SYNCS_PER_RUN=str(per_run),
    )
    upgrade(store_url)
    engine = engine_for(store_url)
    today = utc_today()
    day = (today - timedelta(days=1)).isoformat()
    ws = create_workspace(engine, f"drain-{n}").workspace_id
    load(store_url, day_table(ws, day, events))
    for i in range(n):
        create_sync(engine, ws, str(home / "dest" / f"s{i}"), backfill_days=1, title=f"s{i}")
    at = datetime.combine(today, clock_time(3), tzinfo=UTC)
    queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
    with dg.DagsterInstance.get() as instance, code_server(instance) as ctx:
        list(
            launch_scheduled_runs(
                ctx, LOG, end_datetime_utc=at - timedelta(minutes=30), iteration_times={}
            )
        )
        t0 = time.perf_counter()
        list(
            launch_scheduled_runs(
                ctx, LOG, end_datetime_utc=at + timedelta(seconds=5), iteration_times={}
            )
        )
        tick_s = time.perf_counter() - t0
        while True:
            list(queue.run_iteration(ctx))
            runs = instance.get_runs()
            if runs and all(r.is_finished for r in runs):
                break
            time.sleep(0.5)
        drained = time.perf_counter() - t0
        failed = [r.run_id for r in runs if r.status != DagsterRunStatus.SUCCESS]
        run_seconds = [
            r.end_time - r.start_time
            for r in instance.get_run_records()
            if r.end_time and r.start_time
        ]
    with engine.connect() as conn:
        exported = conn.execute(
            text(
                "SELECT count(*), coalesce(sum(rows), 0) FROM export_ledger "
                "WHERE status = 'exported'"
            )
        ).one()
    engine.dispose()
    return {
        "syncs": n,
        "events": events,
        "per_run": per_run,
        "runs": len(runs),
        "failed_runs": len(failed),
        "tick_seconds": tick_s,
        "drain_seconds": drained,
        "median_run_seconds": statistics.median(run_seconds) if run_seconds else 0.0,
        "days_exported": exported[0],
        "rows_exported": exported[1],
    }


def drain_table(results: list[dict]) -> str:
    lines = [
        "| syncs x events | syncs per run | runs | failed | tick (s) | median run (s) "
        "| drained in (s) | days exported | rows exported |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['syncs']:,} x {r['events']:,} | {r['per_run']} | {r['runs']} | "
            f"{r['failed_runs']} | {r['tick_seconds']:.1f} | {r['median_run_seconds']:.1f} | "
            f"{r['drain_seconds']:.0f} | {r['days_exported']} | {r['rows_exported']:,} |"
        )
    return "\n".join(lines) + "\n"


def table(results: list[dict]) -> str:
    lines = [
        "| syncs | new-sync sensor tick (s) | backfill requests | daily schedule tick (s) "
        "| runs requested | backfill daemon passes 1, 2 (s) | backfill runs submitted "
        "| partitions per asset |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        passes = ", ".join(f"{s:.1f}" for s in r["backfill_pass_seconds"])
        lines.append(
            f"| {r['syncs']:,} | {r['sensor_tick_seconds']:.2f} | {r['sensor_requests']} "
            f"({r['sensor_request_holds']}) | "
            f"{r['schedule_tick_seconds']:.2f} | {r['schedule_runs']} | {passes} | "
            f"{r['backfill_runs_submitted']} | {r['partitions_per_asset']:,} |"
        )
    return "\n".join(lines) + "\n"


def report_lines(results: list[dict], drained: list[dict]) -> tuple[list[str], list[tuple]]:
    """The RESULTS.md section and targets (bench.run's report)."""
    lines = ["", "## Orchestration at many syncs (`python -m bench.scale`)", ""]
    targets: list[tuple] = []
    if results:
        lines += [
            "PostgreSQL for Dagster's storage and the event store; N enabled syncs new at "
            "once, backfill_days=3; one tick each; the backfill daemon's passes over the "
            "backfill the sensor requested (`execute_backfill_iteration`, real code server).",
            "",
            table(results).rstrip(),
        ]
        for r in results:
            worst = max([r["sensor_tick_seconds"], r["schedule_tick_seconds"]])
            targets.append(
                (
                    f"{r['syncs']:,} syncs: sensor and schedule ticks <= 30 s",
                    f"{r['sensor_tick_seconds']:.2f} s, {r['schedule_tick_seconds']:.2f} s",
                    worst <= 30,
                )
            )
            first = r["backfill_pass_seconds"][0]
            targets.append(
                (
                    f"{r['syncs']:,} syncs: backfill daemon pass <= 30 s",
                    f"first {first:.1f} s ({r['backfill_runs_submitted']} runs created), "
                    f"next {r['backfill_pass_seconds'][1]:.1f} s",
                    first <= 30,
                )
            )
    if drained:
        lines += [
            "",
            "The 03:00 runs drained for real (scheduler tick -> run queue -> run processes, "
            "2 runs at once), one run per sync against the batched default:",
            "",
            drain_table(drained).rstrip(),
        ]
        by_k = {r["per_run"]: r for r in drained}
        if 1 in by_k and len(by_k) > 1:
            base = by_k[1]["drain_seconds"]
            best = min(drained, key=lambda r: r["drain_seconds"])
            lines += [
                "",
                f"Batched: {base / best['drain_seconds']:.1f}x faster than one run per sync "
                f"({best['drain_seconds']:.0f} s vs {base:.0f} s).",
            ]
    return lines, targets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--syncs", default="100,1000", help="comma-separated sync counts")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pg-url", default=os.environ.get("EVENTSYNC_BENCH_PG_URL", PG_DEFAULT))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eventsync-scale")
    p.add_argument("--drain", type=int, default=0, help="syncs of the drain run (0: none)")
    p.add_argument("--events", type=int, default=20_000, help="events per sync in the drain")
    p.add_argument(
        "--drain-per-run", default="1,50", help="EVENTSYNC_SYNCS_PER_RUN values to drain with"
    )
    args = p.parse_args()
    counts = [int(n) for n in args.syncs.split(",") if n]
    results = [measure(n, args.pg_url, args.repeat, args.work) for n in counts]
    if results:
        print(table(results))
    if args.drain:
        drained = [
            drain(args.drain, args.events, int(k), args.pg_url, args.work)
            for k in args.drain_per_run.split(",")
        ]
        print(drain_table(drained))


if __name__ == "__main__":
    main()
