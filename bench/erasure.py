"""Erasure benchmark: 10 users spread over 30 of 365 exported days.

Measured twice on the same store and destination, each with its own 10 users:
through the subject -> days index (eventsync: only the 30 days that held them are
read and rewritten), and made to visit every exported day, which is what an eraser
without that index must do (read all 365 days to find the subjects). Both runs are
the real `runner.run_all` (suppress, store, staging, quarantine, exports, verify).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
from sqlalchemy import insert, select

from bench.data import day_table, load

USERS_PER_GROUP = 10
DAYS_PER_GROUP = 30
EVENTS_PER_USER_DAY = 3


def _group_rows(ws: str, day: str, users: list[str], offset: int) -> pa.Table:
    n = len(users) * EVENTS_PER_USER_DAY
    table = day_table(ws, day, n, offset=offset)
    ids = pa.array([f"{day}-x{offset + i}" for i in range(n)])
    who = pa.array([users[i % len(users)] for i in range(n)])
    table = table.set_column(table.schema.get_field_index("event_id"), "event_id", ids)
    return table.set_column(table.schema.get_field_index("user_id"), "user_id", who)


def erasure_bench(work: Path, days: int, per_day: int, env: dict[str, str]) -> dict:
    from assets.partitions import closed_days
    from eventsync.clock import utc_today
    from eventsync.destinations import open_destination
    from eventsync.engine.day_export import export_day
    from eventsync.engine.export_records import record_export
    from eventsync.engine.staging import stage_day
    from eventsync.privacy import request_store
    from eventsync.privacy.runner import run_all
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.store.schema import export_subjects
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    home = work / "erasure"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    url = f"sqlite:///{home / 'eventsync.db'}"
    os.environ.update(env)
    upgrade(url)
    engine = engine_for(url)
    ws = create_workspace(engine, "bench-erasure").workspace_id
    sync = create_sync(engine, ws, str(home / "dest"), backfill_days=min(days, 365), enabled=False)
    window = closed_days(days, utc_today())
    groups = {
        "indexed": [f"erase-a-{k}" for k in range(USERS_PER_GROUP)],
        "every_day": [f"erase-b-{k}" for k in range(USERS_PER_GROUP)],
    }
    step = max(1, days // DAYS_PER_GROUP)
    group_days = {
        "indexed": window[::step][:DAYS_PER_GROUP],
        "every_day": window[step // 2 :: step][:DAYS_PER_GROUP],
    }
    tables = [day_table(ws, d, per_day, seed=n) for n, d in enumerate(window)]
    offset = 10_000_000
    for name, users in groups.items():
        for d in group_days[name]:
            tables.append(_group_rows(ws, d, users, offset))
            offset += 1000
    load(url, tables)
    dest = open_destination(sync.destination, sync.options, sync_id=sync.id)
    started = time.perf_counter()
    for d in window:
        stage = stage_day(url, engine, sync.id, ws, d)
        record_export(engine, stage, export_day(stage, ["parquet"], "zstd", dest))
    export_seconds = time.perf_counter() - started

    # Without the index an eraser must look at every exported day: list the second
    # group's users on all days, so the same erasure code visits all of them.
    with engine.begin() as conn:
        have = set(
            conn.execute(
                select(export_subjects.c.subject_id, export_subjects.c.day).where(
                    export_subjects.c.sync_id == sync.id,
                    export_subjects.c.subject_id.in_(groups["every_day"]),
                )
            ).all()
        )
        conn.execute(
            insert(export_subjects),
            [
                {"sync_id": sync.id, "day": d, "subject_type": "user", "subject_id": u}
                for u in groups["every_day"]
                for d in window
                if (u, d) not in have
            ],
        )
    out: dict = {"days": days, "per_day": per_day, "export_all_days_s": export_seconds}
    for name, users in groups.items():
        req = request_store.create_request(engine, ws, "erasure", users, [], "bench")
        t0 = time.perf_counter()
        done = run_all(engine, req.id, "bench", owner="bench")
        seconds = time.perf_counter() - t0
        dest = done.progress.destinations.get(sync.id)
        rewritten = dest.days_rewritten if dest else []
        out[name] = {
            "seconds": seconds,
            "status": str(done.status),
            "days_visited": len(rewritten) + len(dest.days_without_rows if dest else []),
            "days_rewritten": len(rewritten),
            "rows_removed": dest.rows_removed if dest else 0,
        }
    out["speedup"] = out["every_day"]["seconds"] / out["indexed"]["seconds"]
    shutil.rmtree(home, ignore_errors=True)
    return out
