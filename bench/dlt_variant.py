"""The peer a data engineer would pick instead of eventsync: dlt's `sql_table` source ->
`filesystem` destination (local folder, Parquet), one measured run per process.

Runs in its own virtualenv (bench/.venv-dlt, made by `ensure_venv` on first use), so the
project never depends on dlt: this file imports nothing of eventsync and is started as
`bench/.venv-dlt/bin/python bench/dlt_variant.py --backend connectorx --url U --sql Q
--out DIR`. It prints one JSON line {seconds, rows, peak_rss_mb, cpu_seconds} like
bench.variants. The day's query is eventsync's own (`DayQuery.select_sql`, handed in by
the caller), so both read the same rows in the same order; dlt checks nothing.
Everything else is dlt's defaults (connectorx: the whole result as one Arrow table).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-dlt"
# The versions measured (issue 27); psycopg2 for SQLAlchemy's PostgreSQL dialect.
REQUIREMENTS = [
    "dlt[parquet,sql-database,filesystem]==1.31.0",
    "connectorx==0.4.6",
    "psycopg2-binary",
]
BACKENDS = ("connectorx", "pyarrow")


def ensure_venv(venv: Path = VENV) -> Path:
    """The python of the dlt virtualenv, created with pip on first use."""
    python = venv / "bin" / "python"
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == "\n".join(REQUIREMENTS):
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *REQUIREMENTS],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    stamp.write_text("\n".join(REQUIREMENTS))
    return python


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(backend: str, url: str, sql: str, out: Path) -> dict:
    import dlt
    import sqlalchemy as sa
    from dlt.sources.sql_database import sql_table

    os.environ["DLT_DATA_DIR"] = str(out / "dlt-data")
    os.environ["DLT_PROJECT_DIR"] = str(out)
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    if url.startswith("postgresql") and "+" not in url.split("://", 1)[0]:
        url = url.replace("postgresql://", "postgresql+psycopg2://", 1)

    def the_day(query, table):  # type: ignore[no-untyped-def]
        return sa.text(sql)

    started = time.perf_counter()
    source = sql_table(
        credentials=url,
        table="events",
        backend=backend,
        query_adapter_callback=the_day,
        reflection_level="full",
    )
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{backend}",
        destination=dlt.destinations.filesystem(bucket_url=(out / "dest").as_uri()),
        dataset_name="events_day",
        pipelines_dir=str(out / "pipelines"),
    )
    info = pipeline.run(source, loader_file_format="parquet", write_disposition="replace")
    info.raise_on_failed_jobs()
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("events", 0)
    return {"seconds": seconds, "rows": rows}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=BACKENDS, required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--sql", required=True)
    p.add_argument("--out", required=True, type=Path)
    a = p.parse_args()
    shutil.rmtree(a.out, ignore_errors=True)
    a.out.mkdir(parents=True)
    result = run(a.backend, a.url, a.sql, a.out)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    # dlt normalizes in this process by default; a child process would show up here.
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    result["peak_rss_children_mb"] = round(children, 1)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    shutil.rmtree(a.out, ignore_errors=True)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
