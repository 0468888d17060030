"""`python -m bench.intraday [--syncs 1000] [--drain-syncs 100] [--events 20000]
[--postgres URL]`: hourly syncs at scale, through the functions the schedule and the
job call (no Dagster process).

1. One hourly tick at `--syncs` hourly syncs: the time `intraday_requests` takes (the
   schedule's whole evaluation: one query of the syncs, the plan, the run requests)
   and how many runs it creates.
2. The intraday drain: `--drain-syncs` hourly syncs, one workspace each, each with
   `--events` events of today so far; every sync's day staged and exported
   (`export_intraday`, runs of EVENTSYNC_SYNCS_PER_RUN syncs one after another) to a
   local folder: wall time and rows/s.

Prints one JSON object. Defaults are the issue's sizes; a small run
(`--syncs 50 --drain-syncs 4 --events 2000`) checks that it works.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--syncs", type=int, default=1000)
    parser.add_argument("--drain-syncs", type=int, default=100)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres", help="a server URL; default: a SQLite store")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eventsync-bench-intraday-"))
    os.environ["EVENTSYNC_DATA_DIR"] = str(work / "data")
    url = f"sqlite:///{work / 'store.db'}"
    if args.postgres:
        from bench.scale import fresh_database

        url = fresh_database(args.postgres, "eventsync_bench_intraday")
    os.environ["EVENTSYNC_DATABASE_URL"] = url

    import numpy as np
    import pyarrow as pa

    from bench.data import day_table, load
    from eventsync.destinations import open_destination
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync, list_syncs, update_sync
    from eventsync.syncs.intraday import export_intraday, plan_intraday_from_store
    from eventsync.workspaces import create_workspace
    from pipeline.intraday import intraday_requests

    upgrade(url)
    engine = engine_for(url)
    now = datetime.now(UTC).replace(minute=5, second=0, microsecond=0)
    if now.hour == 0:
        now += timedelta(hours=1)  # one day per tick: the plain case
    today = now.date().isoformat()

    # 1. the tick
    ws = create_workspace(engine, "tick").workspace_id
    for i in range(args.syncs):
        create_sync(engine, ws, str(work / "tick" / str(i)), frequency="hourly")
    started = time.perf_counter()
    requests = intraday_requests(engine, now)
    tick_seconds = time.perf_counter() - started
    for sync in list_syncs(engine, ws):  # out of the drain's plan
        update_sync(engine, sync.id, enabled=False)

    # 2. the drain
    day_start = int(datetime.fromisoformat(today).replace(tzinfo=UTC).timestamp() * 1e6)
    # Today so far: every event occurred and was received before the tick's cut-off.
    so_far = int((now - timedelta(minutes=2)).timestamp() * 1e6) - day_start
    for i in range(args.drain_syncs):
        w = create_workspace(engine, f"drain-{i}").workspace_id
        table = day_table(w, today, args.events, seed=i)
        offset = table["occurred_at"].to_numpy() - day_start
        occurred = day_start + (offset * (0.9 * so_far / 86_400e6)).astype(np.int64)
        for name, values in (("occurred_at", occurred), ("received_at", occurred + 1_000_000)):
            index = table.schema.get_field_index(name)
            table = table.set_column(index, name, pa.array(values, pa.int64()))
        load(url, table)
        create_sync(engine, w, str(work / "drain" / str(i)), frequency="hourly")
    runs = plan_intraday_from_store(engine, now)
    started = time.perf_counter()
    rows = exported = 0
    opener = lambda s: open_destination(s.destination, s.options, sync_id=s.id)  # noqa: E731
    for run in runs:
        for outcome in export_intraday(engine, url, run, opener, holder="bench"):
            if outcome.result is not None:
                exported += 1
                rows += outcome.result.rows
    drain_seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "store": url.split(":", 1)[0],
                "tick": {
                    "hourly_syncs": args.syncs,
                    "seconds": round(tick_seconds, 3),
                    "runs_created": len(requests),
                },
                "drain": {
                    "syncs": args.drain_syncs,
                    "events_per_sync": args.events,
                    "exported_syncs": exported,
                    "rows": rows,
                    "seconds": round(drain_seconds, 2),
                    "rows_per_second": round(rows / drain_seconds) if drain_seconds else None,
                },
            },
            indent=2,
        )
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
