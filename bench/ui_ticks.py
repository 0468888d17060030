"""`python -m bench.ui_ticks [--syncs 1000]`: the 03:00 schedule tick and the new-sync
sensor tick at N syncs under each partition design of issue 24 (bench/ui_location.py).

One event store (PostgreSQL, N enabled local syncs made by `create_sync`) and, per
design, a fresh Dagster storage (PostgreSQL). Design a (and d: same partitions, same
ticks) runs the product's own `daily_sync_schedule` and `new_sync_sensor`. Designs b
and c change what a tick must do; their ticks here do that work on the same store and
storage, as the migration would write them:

- b (date only): the schedule reads the enabled syncs and cuts them into runs of
  EVENTSYNC_SYNCS_PER_RUN, each a RunRequest for the date partition whose run config
  names its syncs; no dynamic partitions. The sensor reads the syncs, finds the new
  ones, and requests one backfill of the date range (AssetGraphSubset of both assets)
  tagged with the new syncs' set (which eventsync's store would keep; not written here).
- c (16 shards): the schedule adds missing sync partitions shard by shard (16 listings)
  and requests partition-range runs of up to EVENTSYNC_SYNCS_PER_RUN consecutive syncs
  per shard; the sensor adds the new syncs' partitions to their shards and requests one
  backfill whose AssetGraphSubset spans every shard's pair.

Each tick: median of --repeat, on fresh state where the tick changes it (the sync
partitions are removed before each sensor tick, so all N syncs are new every time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset

from bench.scale import PG_DEFAULT, _dagster_home, fresh_database
from eventsync.clock import utc_today

PER_RUN = 50
BACKFILL_DAYS = 3  # bench.scale's backfill_days, so the sensor numbers compare


def _closed_days(n: int, today) -> list[str]:  # type: ignore[no-untyped-def]
    return [(today - timedelta(days=i)).isoformat() for i in range(n, 0, -1)]


def _shards(design: str, ids: list[str]) -> list[tuple[object, list[str]]]:
    from bench.ui_populate import shard_syncs

    return shard_syncs(design, ids)


def schedule_b(instance: dg.DagsterInstance, engine, day: str) -> list[dg.RunRequest]:  # type: ignore[no-untyped-def]
    from eventsync.destinations.interface import parse_destination
    from eventsync.syncs.config import list_syncs

    requests, group, kind = [], [], None
    syncs = list_syncs(engine, enabled_only=True)

    def flush() -> None:
        if group:
            ids = [s.id for s in group]
            requests.append(
                dg.RunRequest(
                    run_key=f"daily:{ids[0]}..{ids[-1]}:{day}",
                    partition_key=day,
                    run_config={"ops": {"events_daily": {"config": {"syncs": ids}}}},
                    tags={
                        "eventsync/syncs": f"{ids[0]}..{ids[-1]} ({len(ids)} syncs)",
                        "dagster/priority": "10",
                    },
                )
            )

    for sync in syncs:
        this = parse_destination(sync.destination).kind
        if group and (this != kind or len(group) >= PER_RUN):
            flush()
            group = []
        group.append(sync)
        kind = this
    flush()
    return requests


def schedule_c(instance: dg.DagsterInstance, engine, day: str) -> list[dg.RunRequest]:  # type: ignore[no-untyped-def]
    from dagster._core.storage.tags import (
        ASSET_PARTITION_RANGE_END_TAG,
        ASSET_PARTITION_RANGE_START_TAG,
    )

    from eventsync.syncs.config import list_syncs

    enabled = [s.id for s in list_syncs(engine, enabled_only=True)]
    requests = []
    for pair, members in _shards("c", enabled):
        have = set(instance.get_dynamic_partitions(pair.sync_dimension))
        missing = [s for s in members if s not in have]
        if missing:
            instance.add_dynamic_partitions(pair.sync_dimension, missing)
        mine = set(members)
        order = [s for s in instance.get_dynamic_partitions(pair.sync_dimension) if s in mine]
        for i in range(0, len(order), PER_RUN):
            chunk = order[i : i + PER_RUN]
            requests.append(
                dg.RunRequest(
                    run_key=f"daily:{chunk[0]}..{chunk[-1]}:{day}",
                    job_name=pair.job,
                    tags={
                        ASSET_PARTITION_RANGE_START_TAG: f"{day}|{chunk[0]}",
                        ASSET_PARTITION_RANGE_END_TAG: f"{day}|{chunk[-1]}",
                        "dagster/priority": "10",
                    },
                )
            )
    return requests


def sensor_b(instance: dg.DagsterInstance, engine, cursor: str | None):  # type: ignore[no-untyped-def]
    from bench.ui_location import pairs
    from eventsync.syncs.config import list_syncs

    seen = json.loads(cursor) if cursor else {}
    new = [s for s in list_syncs(engine) if s.enabled and seen.get(s.id) != "enabled"]
    days = _closed_days(BACKFILL_DAYS, utc_today())
    pair = pairs("b")[0]
    subset = pair.partitions_def.empty_subset().with_partition_keys(days)
    request = dg.RunRequest.for_asset_graph_subset(
        AssetGraphSubset(
            partitions_subsets_by_asset_key={
                dg.AssetKey(pair.daily): subset,
                dg.AssetKey(pair.export): subset,
            },
            non_partitioned_asset_keys=set(),
        ),
        tags={"eventsync/syncs": f"{len(new)} syncs, {len(days)} days"},
    )
    state = {s.id: "enabled" for s in new}
    return [request], json.dumps(state, sort_keys=True)


def sensor_c(instance: dg.DagsterInstance, engine, cursor: str | None):  # type: ignore[no-untyped-def]
    from eventsync.syncs.config import list_syncs

    seen = json.loads(cursor) if cursor else {}
    new = [s.id for s in list_syncs(engine) if s.enabled and seen.get(s.id) != "enabled"]
    days = _closed_days(BACKFILL_DAYS, utc_today())
    subsets = {}
    for pair, members in _shards("c", new):
        have = set(instance.get_dynamic_partitions(pair.sync_dimension))
        missing = [s for s in members if s not in have]
        if missing:
            instance.add_dynamic_partitions(pair.sync_dimension, missing)
        keys = [f"{d}|{s}" for s in members for d in days]
        subset = pair.partitions_def.empty_subset().with_partition_keys(keys)
        subsets[dg.AssetKey(pair.daily)] = subset
        subsets[dg.AssetKey(pair.export)] = subset
    request = dg.RunRequest.for_asset_graph_subset(
        AssetGraphSubset(partitions_subsets_by_asset_key=subsets, non_partitioned_asset_keys=set()),
        tags={"eventsync/syncs": f"{len(new)} syncs, {len(days) * len(new)} days"},
    )
    return [request], json.dumps({s: "enabled" for s in new}, sort_keys=True)


def _timed(
    fn: Callable[[], object], repeat: int, reset: Callable[[], None]
) -> tuple[float, object]:
    seconds, out = [], None
    for _ in range(repeat):
        reset()
        t0 = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - t0)
    return statistics.median(seconds), out


def measure(design: str, n: int, store_url: str, server: str, work: Path, repeat: int) -> dict:
    from eventsync.store.connection import engine_for
    from resources import EventStoreResource

    home = _dagster_home(
        work / f"ticks_{design}", fresh_database(server, f"eventsync_ticks_{design}")
    )
    os.environ.update(EVENTSYNC_DATABASE_URL=store_url, EVENTSYNC_DATA_DIR=str(home / "es"))
    os.environ["BENCH_UI_DESIGN"] = design
    engine = engine_for(store_url)
    day = (utc_today() - timedelta(days=1)).isoformat()
    with dg.DagsterInstance.get() as instance:
        names = ["sync"] if design in ("a", "d") else [f"sync_s{i:02d}" for i in range(16)]

        def reset() -> None:
            for name in names:
                for key in instance.get_dynamic_partitions(name):
                    instance.delete_dynamic_partition(name, key)

        if design in ("a", "d"):
            from pipeline.schedules import daily_sync_schedule
            from pipeline.sensors import new_sync_sensor

            resources = {"store": EventStoreResource(database_url=store_url)}

            def sensor():  # type: ignore[no-untyped-def]
                with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
                    result = new_sync_sensor(ctx)
                return list(getattr(result, "run_requests", None) or [])

            tick = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)

            def schedule():  # type: ignore[no-untyped-def]
                with dg.build_schedule_context(
                    instance=instance, resources=resources, scheduled_execution_time=tick
                ) as ctx:
                    return daily_sync_schedule(ctx)
        else:
            sensor_fn = sensor_b if design == "b" else sensor_c
            schedule_fn = schedule_b if design == "b" else schedule_c

            def sensor():  # type: ignore[no-untyped-def]
                return sensor_fn(instance, engine, None)[0]

            def schedule():  # type: ignore[no-untyped-def]
                return schedule_fn(instance, engine, day)

        sensor_s, requests = _timed(sensor, repeat, reset)
        schedule_s, runs = _timed(schedule, repeat, lambda: None)
    return {
        "design": design,
        "syncs": n,
        "sensor_s": sensor_s,
        "sensor_requests": len(requests),  # type: ignore[arg-type]
        "schedule_s": schedule_s,
        "schedule_runs": len(runs),  # type: ignore[arg-type]
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--syncs", type=int, default=1000)
    p.add_argument("--designs", default="a,b,c")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--pg-url", default=os.environ.get("EVENTSYNC_BENCH_PG_URL", PG_DEFAULT))
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eventsync-ticks")
    args = p.parse_args()
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    store_url = fresh_database(args.pg_url, "eventsync_ticks_store")
    upgrade(store_url)
    engine = engine_for(store_url)
    ws = create_workspace(engine, "ticks").workspace_id
    for i in range(args.syncs):
        create_sync(
            engine,
            ws,
            str(args.work / "dest" / f"s{i}"),
            backfill_days=BACKFILL_DAYS,
            title=f"s{i}",
        )
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    rows = [
        measure(d, args.syncs, store_url, args.pg_url, args.work, args.repeat)
        for d in args.designs.split(",")
    ]
    after = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"load average before: {load}; after: {after}")
    print(
        "| design | syncs | new-sync sensor tick (s) | requests "
        "| 03:00 schedule tick (s) | runs requested |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['design']} | {r['syncs']:,} | {r['sensor_s']:.2f} | {r['sensor_requests']} | "
            f"{r['schedule_s']:.2f} | {r['schedule_runs']} |"
        )


if __name__ == "__main__":
    main()
