"""`python -m bench.scale [--syncs 100,1000]`: the orchestration at many syncs.

For each N, on PostgreSQL (Dagster's storage and the event store, each a fresh
database on the server of --pg-url): N enabled syncs in one workspace, then the time
of one `new_sync_sensor` tick (all N syncs new), one `daily_sync_schedule` tick, and
how many runs that tick requests. Medians of --repeat ticks (each on fresh state where
the tick changes it). Prints a Markdown table; `bench.run` includes it in RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
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


def measure(n: int, server_url: str, repeat: int, work: Path) -> dict:
    import dagster as dg

    from pipeline.defs.exports.schedules import daily_sync_schedule
    from pipeline.defs.exports.sensors import new_sync_sensor
    from pipeline.defs.resources import EventStoreResource
    from pipeline.syncs.config import create_sync
    from pipeline.workspaces import create_workspace
    from resources.store import engine_for, upgrade

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
            # Each tick sees all N syncs as new: a fresh cursor and no sync partitions.
            for key in instance.get_dynamic_partitions("sync"):
                instance.delete_dynamic_partition("sync", key)
            with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                t0 = time.perf_counter()
                result = new_sync_sensor(ctx)
                sensor_s.append(time.perf_counter() - t0)
            requested = len(getattr(result, "run_requests", None) or [])
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
    return {
        "syncs": n,
        "setup_seconds": setup_s,
        "sensor_tick_seconds": statistics.median(sensor_s),
        "sensor_requests": requested,
        "schedule_tick_seconds": statistics.median(schedule_s),
        "schedule_runs": runs,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| syncs | new-sync sensor tick (s) | backfill requests | daily schedule tick (s) "
        "| runs requested |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['syncs']:,} | {r['sensor_tick_seconds']:.2f} | {r['sensor_requests']} | "
            f"{r['schedule_tick_seconds']:.2f} | {r['schedule_runs']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--syncs", default="100,1000", help="comma-separated sync counts")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pg-url", default=os.environ.get("EVENTSYNC_BENCH_PG_URL", PG_DEFAULT))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eventsync-scale")
    args = p.parse_args()
    results = [measure(int(n), args.pg_url, args.repeat, args.work) for n in args.syncs.split(",")]
    print(table(results))


if __name__ == "__main__":
    main()
