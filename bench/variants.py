"""One measured variant per process: `python -m bench.variants NAME --url U ...` prints
one JSON line {seconds, rows, peak_rss_mb, ...}. Peak RSS is the process's VmHWM
(/proc/self/status), so each variant is measured alone, with nothing left over
from another variant."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

from eventsync.settings import defaults


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def floor(url: str, workspace_id: str, day: str, out: Path, batch_rows: int) -> dict:
    """ADBC stream -> pyarrow ParquetWriter (zstd). No sentinel, no cast, no checks."""
    import pyarrow.parquet as pq

    from bench.data import adbc_connect
    from eventsync.engine.extract import DayQuery

    sql = DayQuery(workspace_id, day).select_sql()
    started = time.perf_counter()
    rows = 0
    conn = adbc_connect(url)
    with conn.cursor() as cur:
        if url.startswith("sqlite"):
            cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        with pq.ParquetWriter(out / "floor.parquet", reader.schema, compression="zstd") as w:
            for batch in reader:
                w.write_batch(batch)
                rows += batch.num_rows
    conn.close()
    return {"seconds": time.perf_counter() - started, "rows": rows}


def eventsync(url: str, workspace_id: str, day: str, out: Path, batch_rows: int) -> dict:
    """What the assets call: stage_day (extract + validate + quarantine + stage), then
    export_day to a local folder and record_export (ledger + subject index)."""
    from eventsync.destinations.interface import parse_destination
    from eventsync.destinations.local import LocalDestination
    from eventsync.engine.day_export import export_day
    from eventsync.engine.export_records import record_export
    from eventsync.engine.staging import stage_day
    from eventsync.store.connection import engine_for

    engine = engine_for(url)
    sync_id = "bench_sync"
    dest = LocalDestination(parse_destination(str(out / "dest")))
    started = time.perf_counter()
    stage = stage_day(url, engine, sync_id, workspace_id, day, batch_rows=batch_rows)
    staged = time.perf_counter()
    result = export_day(stage, ["parquet"], "zstd", dest)
    exported = time.perf_counter()
    record_export(engine, stage, result)
    done = time.perf_counter()
    return {
        "seconds": done - started,
        "rows": stage.extracted,
        "valid": stage.valid,
        "quarantined": stage.quarantined,
        "stage_seconds": staged - started,
        "export_seconds": exported - staged,
        "record_seconds": done - exported,
    }


def pandas_ref(url: str, workspace_id: str, day: str, out: Path, batch_rows: int) -> dict:
    """The reference most users would write: pandas.read_sql -> DataFrame.to_parquet."""
    import pandas as pd
    from sqlalchemy import create_engine

    from eventsync.engine.extract import DayQuery

    sql = DayQuery(workspace_id, day).select_sql()
    if url.startswith("postgresql"):
        url = url.replace("postgresql://", "postgresql+psycopg2://", 1)
    engine = create_engine(url)
    started = time.perf_counter()
    df = pd.read_sql(sql, engine)
    df.to_parquet(out / "pandas.parquet", compression="zstd", index=False)
    return {"seconds": time.perf_counter() - started, "rows": len(df)}


def profile_stage(url: str, workspace_id: str, day: str, out: Path, batch_rows: int) -> dict:
    """cProfile of stage_day: the top functions by cumulative and own time."""
    import cProfile
    import io
    import pstats

    from eventsync.engine.staging import stage_day
    from eventsync.store.connection import engine_for

    engine = engine_for(url)
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    stage = stage_day(url, engine, "bench_profile", workspace_id, day, batch_rows=batch_rows)
    prof.disable()
    seconds = time.perf_counter() - started
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    # BENCH_PROFILE_SORT=cumulative, BENCH_PROFILE_N=40: another view of the same run.
    sort = os.environ.get("BENCH_PROFILE_SORT", "tottime")
    stats.sort_stats(sort).print_stats(int(os.environ.get("BENCH_PROFILE_N", "12")))
    return {"seconds": seconds, "rows": stage.extracted, "profile": buf.getvalue()}


VARIANTS = {"floor": floor, "eventsync": eventsync, "pandas": pandas_ref, "profile": profile_stage}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("--url", required=True)
    p.add_argument("--workspace", required=True)
    p.add_argument("--day", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--batch-rows", type=int, default=defaults().batch_rows)
    a = p.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    result = VARIANTS[a.variant](a.url, a.workspace, a.day, a.out, a.batch_rows)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU seconds of the whole process (imports included): on a shared machine the
    # wall time varies with the load, the work done much less.
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    shutil.rmtree(a.out, ignore_errors=True)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
