"""`make bench` / `python -m bench.run [--rows N]`: eventsync against the machine's floor.

On the same data, in the same run: the floor (ADBC -> ParquetWriter zstd), eventsync's
export through the functions the assets call, dlt + connectorx / pyarrow (the peer, in
its own virtualenv: bench/dlt_variant.py), interleaved; the same through `dagster asset
materialize`, and pandas.read_sql -> to_parquet, on SQLite and PostgreSQL; then a
365-day backfill of one sync through the Dagster daemon, re-sync detection over 365
days, the re-export of 3 changed days, and hourly syncs (`bench.intraday`: one
hourly tick at 1,000 hourly syncs, the intraday drain of 100 syncs x 20k events).
Writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.erasure import DAYS_PER_GROUP, USERS_PER_GROUP, erasure_bench
from bench.privacy_latency import privacy_latency, report_lines
from eventsync.clock import utc_today

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAY = "2026-01-15"
SMALL_DAY = "2026-01-16"  # 1M rows: the peak-RSS growth reference
PG_DEFAULT = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PG_DB = "eventsync_bench"


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "?"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB"
    import pyarrow

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} RAM, {platform.platform()}, "
        f"Python {platform.python_version()}, pyarrow {pyarrow.__version__}"
    )


# --- stores -----------------------------------------------------------------------------
def pg_store(server_url: str, name: str = PG_DB) -> str:
    from bench.scale import fresh_database

    return fresh_database(server_url, name)


def prepare_store(url: str, rows: int, small_day: bool) -> str:
    """Migrate, create the workspace, load the day (and the 1M-row reference day)."""
    from bench.data import day_table, load
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.workspaces import create_workspace

    upgrade(url)
    ws = create_workspace(engine_for(url), "bench").workspace_id
    started = time.perf_counter()
    chunk = 1_000_000
    for off in range(0, rows, chunk):
        load(url, day_table(ws, DAY, min(chunk, rows - off), offset=off))
    if small_day:
        load(url, day_table(ws, SMALL_DAY, 1_000_000))
    if url.startswith("postgresql"):
        with engine_for(url).begin() as conn:
            from sqlalchemy import text

            conn.execute(text("ANALYZE events"))
    log(f"loaded {rows:,} rows into {url.split('@')[-1]} in {time.perf_counter() - started:.1f}s")
    return ws


def child_env(home: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DAGSTER_HOME=str(home),
        EVENTSYNC_DATABASE_URL=url,
        EVENTSYNC_DATA_DIR=str(home / "eventsync"),
        PYTHONPATH=str(ROOT),
    )
    return env


def variant(
    name: str, url: str, ws: str, day: str, home: Path, env: dict[str, str] | None = None
) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.variants",
            name,
            "--url",
            url,
            "--workspace",
            ws,
            "--day",
            day,
            "--out",
            str(home / f"out-{name}"),
        ],
        env={**child_env(home, url), **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"variant {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dlt_variant(backend: str, url: str, ws: str, day: str, home: Path) -> dict:
    """dlt's sql_table(backend=...) -> filesystem Parquet of the same day, in dlt's own
    virtualenv (bench/dlt_variant.py), one process per run like `variant`."""
    from bench.dlt_variant import ensure_venv
    from eventsync.engine.extract import DayQuery

    proc = subprocess.run(
        [
            str(ensure_venv()),
            str(ROOT / "bench" / "dlt_variant.py"),
            "--backend",
            backend,
            "--url",
            url,
            "--sql",
            DayQuery(ws, day).select_sql(),
            "--out",
            str(home / f"out-dlt-{backend}"),
        ],
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        cwd=home,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dlt {backend} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# The measured variants of the export section, run interleaved (one run of each, then
# the next round); `--variants` picks a subset. eventsync-k4: eventsync reading the day
# over four connections at once (EVENTSYNC_READ_CONNECTIONS=4) instead of the default.
EXPORT_VARIANTS = ("floor", "eventsync", "eventsync-k4", "dlt-connectorx", "dlt-pyarrow")


def measure(name: str, url: str, ws: str, day: str, home: Path) -> dict:
    if name.startswith("dlt-"):
        return dlt_variant(name.removeprefix("dlt-"), url, ws, day, home)
    if name == "eventsync-k4":
        return variant("eventsync", url, ws, day, home, {"EVENTSYNC_READ_CONNECTIONS": "4"})
    return variant(name, url, ws, day, home)


def dagster_materialize(url: str, ws: str, home: Path, runs: int = 3) -> dict:
    """`dagster asset materialize` of the day's partition, `runs` times (each re-exports
    it): the median wall time and the peak RSS of its processes (RUSAGE_CHILDREN of a
    wrapper: the largest, not the sum)."""

    from eventsync.store.connection import engine_for
    from eventsync.syncs.config import create_sync

    sync = create_sync(engine_for(url), ws, str(home / "dagster-dest"), enabled=False)
    os.environ["DAGSTER_HOME"] = str(home)
    only = {"syncs": [sync.id]}
    wrapper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(json.dumps({'rc': r.returncode, 'seconds': time.perf_counter() - t,"
        " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,"
        " 'tail': (r.stdout + r.stderr)[-1500:]}))"
    )
    cmd = [
        sys.executable,
        "-c",
        wrapper,
        str(BIN / "dagster"),
        "asset",
        "materialize",
        "-m",
        "pipeline.definitions",
        "--select",
        "events_daily,events_export",
        "--partition",
        DAY,
        "--config-json",
        json.dumps({"ops": {"events_daily": {"config": only}, "events_export": {"config": only}}}),
    ]
    outs = []
    for _ in range(runs):
        proc = subprocess.run(
            cmd, env=child_env(home, url), cwd=ROOT, capture_output=True, text=True
        )
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        if out["rc"] != 0:
            raise RuntimeError(f"dagster asset materialize failed:\n{out['tail']}")
        outs.append(out)
    return {
        "seconds": statistics.median(o["seconds"] for o in outs),
        "all_seconds": [o["seconds"] for o in outs],
        "peak_rss_mb": max(o["peak_rss_mb"] for o in outs),
        "runs": runs,
    }


# --- the export measurements ------------------------------------------------------------
def export_bench(
    backend: str,
    url: str,
    rows: int,
    runs: int,
    pandas_runs: int,
    work: Path,
    variants: tuple[str, ...] = EXPORT_VARIANTS,
    dagster: bool = True,
) -> dict:
    home = work / backend
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    os.environ.update(child_env(home, url))
    ws = prepare_store(url, rows, small_day=rows > 1_000_000)
    results: dict[str, list[dict]] = {name: [] for name in (*EXPORT_VARIANTS, "pandas")}
    for i in range(runs):
        for name in variants:
            load_before = os.getloadavg()[0]
            r = measure(name, url, ws, DAY, home)
            r["load_average"] = load_before
            results[name].append(r)
            log(
                f"{backend} {name} run {i + 1}: {r['seconds']:.2f}s, {r['peak_rss_mb']:.0f} MB"
                f" (load {load_before:.1f})"
            )
    for i in range(pandas_runs):
        r = variant("pandas", url, ws, DAY, home)
        results["pandas"].append(r)
        log(f"{backend} pandas run {i + 1}: {r['seconds']:.2f}s, {r['peak_rss_mb']:.0f} MB")
    small = (
        variant("eventsync", url, ws, SMALL_DAY, home)
        if rows > 1_000_000 and "eventsync" in variants
        else None
    )
    dag = None
    if dagster:
        dag = dagster_materialize(url, ws, home, runs)
        log(f"{backend} dagster asset materialize: {dag['seconds']:.1f}s")
    out = {"rows": rows, "results": results, "small": small, "dagster": dag, "profile": None}
    if not (results["floor"] and results["eventsync"]):
        return out
    floor_s = statistics.median(r["seconds"] for r in results["floor"])
    ev_s = statistics.median(r["seconds"] for r in results["eventsync"])
    if floor_s / ev_s < 0.8:
        out["profile"] = variant("profile", url, ws, DAY, home)["profile"]
    return out


# --- backfill, re-sync, re-export through the daemon -------------------------------------
def _wait_backfill(instance, backfill_id: str, timeout: float) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = instance.get_backfill(backfill_id).status.value
        if status not in ("REQUESTED", "CANCELING", "FAILING"):
            return status
        time.sleep(2)
    return "TIMEOUT"


def _seeded_store(home: Path, seed: Path | None, days: int, per_day: int) -> tuple[str, str, list]:
    """The store of `days` x `per_day` events and one disabled sync at `home`; with
    `seed`, loaded once into that folder and copied from it on later calls (seeding 7.3M
    events takes minutes; the backfill measurement does not need a fresh one)."""
    from assets.partitions import closed_days
    from bench.data import day_table, load
    from eventsync.store.connection import engine_for, upgrade
    from eventsync.syncs.config import create_sync
    from eventsync.workspaces import create_workspace

    url = f"sqlite:///{home / 'eventsync.db'}"
    saved = seed / "seed.json" if seed else None
    if saved and saved.exists():
        meta = json.loads(saved.read_text())
        if (meta["days"], meta["per_day"], meta["home"]) == (days, per_day, str(home)):
            shutil.copy(seed / "eventsync.db", home / "eventsync.db")
            upgrade(url)
            log(f"reused the seeded store of {seed}")
            return meta["workspace_id"], meta["sync_id"], meta["window"]
    upgrade(url)
    engine = engine_for(url)
    ws = create_workspace(engine, "bench-backfill").workspace_id
    # Disabled: the new-sync sensor would queue its own backfill; this one is submitted
    # explicitly (the asset exports disabled syncs when asked to).
    sync = create_sync(engine, ws, str(home / "dest"), backfill_days=days, enabled=False)
    window = closed_days(days, utc_today())
    started = time.perf_counter()
    load(url, [day_table(ws, d, per_day, seed=n) for n, d in enumerate(window)])
    log(f"loaded {days} days x {per_day:,} events in {time.perf_counter() - started:.1f}s")
    engine.dispose()
    if seed:
        seed.mkdir(parents=True, exist_ok=True)
        shutil.copy(home / "eventsync.db", seed / "eventsync.db")
        meta = {
            "days": days,
            "per_day": per_day,
            "home": str(home),
            "workspace_id": ws,
            "sync_id": sync.id,
            "window": window,
        }
        (seed / "seed.json").write_text(json.dumps(meta))
    return ws, sync.id, window


def daemon_bench(
    work: Path,
    days: int,
    per_day: int,
    timeout: float,
    reuse_seed: bool = False,
    backfill_only: bool = False,
) -> dict:
    import dagster as dg
    from sqlalchemy import func, select

    from bench.daemon import SessionCpu, backfill_breakdown, prepare_home
    from bench.data import day_table, load
    from eventsync.clock import to_us
    from eventsync.store.connection import engine_for
    from eventsync.store.schema import export_ledger
    from eventsync.syncs.config import get_sync
    from eventsync.syncs.resync_plan import plan_resync
    from pipeline.runs.backfills import submit_backfill
    from pipeline.runs.resync import resync_sync

    home = work / "daemon"
    shutil.rmtree(home, ignore_errors=True)
    # dagster.yaml and Dagster's storage created here, before the daemon starts (both
    # creating it at once can leave two alembic heads in the schedule storage).
    prepare_home(home)
    url = f"sqlite:///{home / 'eventsync.db'}"
    os.environ.update(child_env(home, url))
    seed = work / f"daemon-seed-{days}x{per_day}" if reuse_seed else None
    ws, sync_id, window = _seeded_store(home, seed, days, per_day)
    engine = engine_for(url)
    sync = get_sync(engine, sync_id)

    daemon_log = (home / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
        env=child_env(home, url),
        cwd=ROOT,
        stdout=daemon_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    out: dict = {"days": days, "per_day": per_day}
    try:
        with dg.DagsterInstance.get() as instance:
            out["load_average_before"] = os.getloadavg()
            t0 = time.perf_counter()
            with SessionCpu(daemon.pid) as cpu:
                bid = submit_backfill(instance, sync, window, "bench backfill").backfill_id
                out["backfill_status"] = _wait_backfill(instance, bid, timeout)
                out["backfill_seconds"] = time.perf_counter() - t0
            out["load_average_after"] = os.getloadavg()
            out["backfill_cpu_seconds"] = cpu.totals()
            log(
                f"CPU seconds of the daemon's session: {out['backfill_cpu_seconds']}; load "
                f"average {out['load_average_before']} -> {out['load_average_after']}"
            )
            runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": bid}))
            out["backfill_runs"] = len(runs)
            with engine.connect() as conn:
                out["days_exported"] = conn.execute(
                    select(func.count())
                    .select_from(export_ledger)
                    .where(export_ledger.c.sync_id == sync.id, export_ledger.c.status == "exported")
                ).scalar_one()
            log(
                f"backfill {out['backfill_status']} in {out['backfill_seconds']:.0f}s, "
                f"{out['backfill_runs']} runs, {out['days_exported']} days exported"
            )
            out["backfill_breakdown"] = backfill_breakdown(instance, bid)
            log("backfill breakdown: " + json.dumps(out["backfill_breakdown"], indent=1))
            if backfill_only:
                return out

            s = get_sync(engine, sync.id)
            timings, plan = [], None
            for _ in range(3):
                plan = plan_resync(engine, s, days)
                timings.append(plan.seconds)
            out["resync_seconds"] = statistics.median(timings)
            out["resync_days_before"] = len(plan.days)
            changed = [window[10], window[100], window[300]] if days > 300 else window[:3]
            now = to_us(datetime.now(UTC))
            late = []
            for n, d in enumerate(changed):
                t = day_table(ws, d, 5, offset=10_000_000 + n)
                late.append(t.set_column(7, "received_at", __import__("pyarrow").array([now] * 5)))
            load(url, late)
            plan = plan_resync(engine, s, days)
            out["resync_changed_detected"] = plan.days
            out["resync_changed_expected"] = changed
            t0 = time.perf_counter()
            before = datetime.now(UTC).isoformat()
            outcome = resync_sync(engine, instance, sync.id, days)
            out["reexport_status"] = _wait_backfill(instance, outcome.backfill_id, timeout)
            out["reexport_seconds"] = time.perf_counter() - t0
            with engine.connect() as conn:
                out["reexported_days"] = sorted(
                    r[0]
                    for r in conn.execute(
                        select(export_ledger.c.day).where(
                            export_ledger.c.sync_id == sync.id, export_ledger.c.exported_at > before
                        )
                    )
                )
            out["resync_days_after"] = len(plan_resync(engine, s, days).days)
            log(
                f"re-export of {len(changed)} days: {out['reexport_status']} in "
                f"{out['reexport_seconds']:.0f}s: {out['reexported_days']}"
            )
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        daemon_log.close()
    return out


# --- report ------------------------------------------------------------------------------
def _med(rs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in rs)


LABELS = {
    "floor": "floor: ADBC -> ParquetWriter, no checks",
    "eventsync": "eventsync: stage_day + export_day + record_export",
    "eventsync-k4": "eventsync, the day read over 4 connections (EVENTSYNC_READ_CONNECTIONS=4)",
    "dlt-connectorx": 'dlt 1.31 sql_table(backend="connectorx") -> filesystem Parquet',
    "dlt-pyarrow": 'dlt 1.31 sql_table(backend="pyarrow") -> filesystem Parquet',
    "pandas": "pandas.read_sql -> to_parquet",
}


def _export_rows(
    args: argparse.Namespace, backend: str, ex: dict
) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    """The export table's rows of one backend and the targets they decide."""
    res = ex["results"]
    lines: list[str] = []
    targets: list[tuple[str, str, bool | None]] = []
    measured = [r for rs in res.values() for r in rs]
    if not measured:
        return lines, targets
    rows = measured[0]["rows"]
    floor_s = _med(res["floor"]) if res["floor"] else None

    def peak(name: str) -> float:
        return max(r["peak_rss_mb"] for r in res[name])

    for name, label in LABELS.items():
        rs = res.get(name, [])
        if not rs:
            continue
        s = _med(rs)
        x = f"{floor_s / s:.2f}" if floor_s else ""
        loads = [r["load_average"] for r in rs if "load_average" in r]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else ""
        lines.append(
            f"| {backend} | {label} | {len(rs)} | {s:.2f} | {rows / s:,.0f} | {x} | "
            f"{peak(name):,.0f} | {load} |"
        )
        if name.startswith("eventsync"):
            lines.append(
                f"| {backend} | (eventsync split: stage {_med(rs, 'stage_seconds'):.2f} s, "
                f"export {_med(rs, 'export_seconds'):.2f} s, ledger "
                f"{_med(rs, 'record_seconds'):.2f} s) | | | | | | |"
            )
    dag = ex["dagster"]
    if dag:
        x = f"{floor_s / dag['seconds']:.2f}" if floor_s else ""
        lines.append(
            f"| {backend} | `dagster asset materialize` (both assets, 1 run) | {dag['runs']} | "
            f"{dag['seconds']:.2f} | {rows / dag['seconds']:,.0f} | {x} "
            f"| {dag['peak_rss_mb']:,.0f} | |"
        )
    ev = res["eventsync"]
    if not (ev and floor_s):
        return lines, targets
    ev_s = _med(ev)
    ratio = floor_s / ev_s
    targets.append((f"{backend}: export >= 1.0x floor (issue 27)", f"{ratio:.2f}x", ratio >= 1.0))
    cx = res["dlt-connectorx"]
    if cx:
        cx_s, cx_peak = _med(cx), peak("dlt-connectorx")
        targets += [
            (
                f"{backend}: export faster than dlt + connectorx (issue 27)",
                f"{ev_s:.2f} s vs {cx_s:.2f} s ({cx_s / ev_s:.2f}x)",
                ev_s < cx_s,
            ),
            (
                f"{backend}: peak RSS <= 0.5x dlt + connectorx's (issue 27)",
                f"{peak('eventsync'):.0f} MB vs {cx_peak:.0f} MB "
                f"({peak('eventsync') / cx_peak:.2f}x)",
                peak("eventsync") <= 0.5 * cx_peak,
            ),
        ]
    floor_peak = peak("floor")
    ev_peak = peak("eventsync")
    targets.append(
        (
            f"{backend}: peak RSS <= floor + 128 MB (issue 15)",
            f"{ev_peak:.0f} MB (floor {floor_peak:.0f} MB, {ev_peak - floor_peak:+.0f})",
            ev_peak <= floor_peak + 128,
        )
    )
    if dag:
        dag_ratio = floor_s / dag["seconds"]
        targets.append(
            (
                f"{backend}: `dagster asset materialize` >= 0.6x floor (issue 15)",
                f"{dag_ratio:.2f}x",
                dag_ratio >= 0.6,
            )
        )
    if ex["small"]:
        growth = ev_peak - ex["small"]["peak_rss_mb"]
        targets.append(
            (
                f"{backend}: RSS growth 1M -> {args.rows:,} rows < 64 MB",
                f"{growth:+.0f} MB ({ex['small']['peak_rss_mb']:.0f} -> {ev_peak:.0f})",
                growth < 64,
            )
        )
    return lines, targets


def report(args: argparse.Namespace, exports: dict, daemon: dict | None, wall: float) -> str:
    lines = [
        "# eventsync benchmark",
        "",
        f"Command: `{' '.join(['python -m bench.run', *sys.argv[1:]])}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {wall / 60:.1f} min wall  ",
        f"Machine: {machine()}  ",
        "(shared with other work while measured; medians damp but do not remove that)",
        "",
        f"## Export of one {args.rows:,}-row day (Parquet zstd)",
        "",
        f"Medians of {args.runs} runs (pandas: {args.pandas_runs}), interleaved (one run of "
        "each variant, then the next round); each run in its own process; peak RSS = that "
        "process's VmHWM. 0.1% of rows are invalid (properties not a JSON object) so "
        "quarantine does work. dlt runs in its own virtualenv (bench/dlt_variant.py, "
        "dlt's defaults), reads the same query and checks nothing.",
        "",
        "| backend | variant | runs | median s | rows/s | x floor | peak RSS MB | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    targets = []
    for backend, ex in exports.items():
        lines_, targets_ = _export_rows(args, backend, ex)
        lines += lines_
        targets += targets_
    for backend, ex in exports.items():
        if ex["profile"]:
            lines += [
                "",
                f"### stage_day profile ({backend}, below 0.8x the floor)",
                "",
                "```",
                ex["profile"].strip()[:6000],
                "```",
            ]
    if daemon:
        from assets.events import BACKFILL_DAYS_PER_RUN

        lines += [
            "",
            "## Backfill, re-sync, re-export (SQLite store and Dagster storage, daemon)",
            "",
            f"One sync, {daemon['days']} days x {daemon['per_day']:,} events, submitted with "
            "`pipeline.runs.backfills.submit_backfill` to a `dagster-daemon run` "
            "on the project's "
            "dagster.yaml (2 concurrent runs, 1 per destination), BackfillPolicy "
            f"{BACKFILL_DAYS_PER_RUN} days/run, "
            "multiprocess executor.",
            "",
            "| measurement | result |",
            "|---|---|",
            f"| {daemon['days']}-day backfill, submit -> backfill complete | "
            f"{daemon['backfill_seconds']:.0f} s ({daemon['backfill_status']}, "
            f"{daemon['backfill_runs']} runs, {daemon['days_exported']} days exported) |",
            f"| re-sync detection over {daemon['days']} days (median of 3, nothing changed) | "
            f"{daemon['resync_seconds']:.2f} s, {daemon['resync_days_before']} days flagged |",
            f"| late events added to 3 days -> days flagged | "
            f"{', '.join(daemon['resync_changed_detected'])} |",
            f"| re-export of those days through the daemon (submit -> complete) | "
            f"{daemon['reexport_seconds']:.0f} s ({daemon['reexport_status']}); days "
            f"re-exported: {', '.join(daemon['reexported_days'])}; flagged afterwards: "
            f"{daemon['resync_days_after']} |",
        ]
        scale = (
            ""
            if (daemon["days"], daemon["per_day"]) == (365, 20_000)
            else (f" (measured at {daemon['days']} days x {daemon['per_day']:,})")
        )
        targets.append(
            (
                f"365-day backfill at 20k events/day <= 10 min{scale}",
                f"{daemon['backfill_seconds'] / 60:.1f} min",
                daemon["backfill_status"] == "COMPLETED_SUCCESS"
                and daemon["backfill_seconds"] <= 600,
            )
        )
        targets.append(
            (
                "re-sync detection over 365 days <= 5 s",
                f"{daemon['resync_seconds']:.2f} s",
                daemon["resync_seconds"] <= 5,
            )
        )
        exact = (
            daemon["resync_changed_detected"]
            == daemon["resync_changed_expected"]
            == daemon["reexported_days"]
        )
        targets.append(
            (
                "3 changed days -> exactly 3 days re-exported",
                f"{len(daemon['reexported_days'])} re-exported",
                exact,
            )
        )
    erasure = getattr(args, "erasure_result", None)
    if erasure:
        idx, every = erasure["indexed"], erasure["every_day"]
        lines += [
            "",
            "## Erasure (SQLite, local destination, `runner.run_all`: every step incl. verify)",
            "",
            f"One sync, {erasure['days']} exported days x {erasure['per_day']:,} events; "
            f"each group: {USERS_PER_GROUP} users x {DAYS_PER_GROUP} days.",
            "",
            "| measurement | s | days read | days rewritten | rows removed |",
            "|---|---|---|---|---|",
            f"| erasure through the subject -> days index | {idx['seconds']:.2f} | "
            f"{idx['days_visited']} | {idx['days_rewritten']} | {idx['rows_removed']} |",
            f"| same erasure made to read every exported day (no index) | "
            f"{every['seconds']:.2f} | {every['days_visited']} | {every['days_rewritten']} | "
            f"{every['rows_removed']} |",
            f"| rewriting all {erasure['days']} days (re-export of every day) | "
            f"{erasure['export_all_days_s']:.2f} | {erasure['days']} | {erasure['days']} | |",
        ]
        ratio = erasure["export_all_days_s"] / idx["seconds"]
        targets.append(
            (
                "erasure of 10 users over 30 of 365 days >= 5x faster than rewriting 365",
                f"{ratio:.1f}x (vs reading every day without the index: {erasure['speedup']:.1f}x)",
                ratio >= 5 and idx["status"] == every["status"] == "completed",
            )
        )
    else:
        targets.append(
            (
                "erasure of 10 users over 30 of 365 days >= 5x faster than rewriting 365",
                "not run (--skip-erasure)",
                None,
            )
        )
    overhead = getattr(args, "overhead_result", None)
    if overhead:
        from bench.overhead import table as overhead_table

        lines += [
            "",
            "## Per-run overhead (`python -m bench.overhead`)",
            "",
            overhead_table(overhead),
        ]
        for kind in ("export", "erasure"):
            o = overhead[kind]
            targets.append(
                (
                    f"{kind} run overhead <= 2.5 s (wall - warm work)",
                    f"{o['overhead_median_s']:.2f} s (CPU: {o['cpu_overhead_median_s']:.2f} s)",
                    o["overhead_median_s"] <= 2.5,
                )
            )
    scale = getattr(args, "scale_result", None)
    if scale:
        from bench.scale import report_lines as scale_lines

        more_lines, more_targets = scale_lines(*scale)
        lines += more_lines
        targets += more_targets
    intraday = getattr(args, "intraday_result", None)
    if intraday:
        more_lines, more_targets = intraday_lines(intraday)
        lines += more_lines
        targets += more_targets
    privacy = getattr(args, "privacy_result", None)
    if privacy:
        more_lines, more_targets = report_lines(privacy)
        lines += more_lines
        targets += more_targets
    lines += ["", "## Targets", "", "| target | measured | verdict |", "|---|---|---|"]
    for name, value, ok in targets:
        verdict = "not measured" if ok is None else ("met" if ok else "**missed**")
        lines.append(f"| {name} | {value} | {verdict} |")
    return "\n".join(lines) + "\n"


def intraday_bench(syncs: int, drain_syncs: int, events: int, pg_url: str | None) -> dict:
    """`python -m bench.intraday` in its own process (it sets the data dir and the store
    in its environment before importing eventsync)."""
    cmd = [sys.executable, "-m", "bench.intraday", "--syncs", str(syncs)]
    cmd += ["--drain-syncs", str(drain_syncs), "--events", str(events)]
    if pg_url:
        cmd += ["--postgres", pg_url]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"bench.intraday failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def intraday_lines(r: dict) -> tuple[list[str], list[tuple[str, str, bool | None]]]:
    tick, drain = r["tick"], r["drain"]
    lines = [
        "",
        f"## Hourly syncs (`python -m bench.intraday`, {r['store']} store)",
        "",
        "| measure | value |",
        "|---|---|",
        f"| one hourly tick at {tick['hourly_syncs']} hourly syncs | {tick['seconds']} s, "
        f"{tick['runs_created']} runs created |",
        f"| intraday drain: {drain['syncs']} syncs x {drain['events_per_sync']} events so far "
        f"| {drain['seconds']} s, {drain['rows']} rows, {drain['rows_per_second']} rows/s |",
    ]
    targets = [
        (
            "intraday drain of the hourly syncs done before the next tick (3,600 s)",
            f"{drain['seconds']} s",
            drain["seconds"] < 3600,
        )
    ]
    return lines, targets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="rows of the measured day")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--pandas-runs",
        type=int,
        default=None,
        help="default: --runs up to 1M rows, else 1 (pandas needs ~2 GB per 1M rows)",
    )
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument(
        "--variants",
        default=",".join(EXPORT_VARIANTS),
        help="export variants, run interleaved (dlt-*: in bench/.venv-dlt, made on first use)",
    )
    p.add_argument(
        "--skip-dagster", action="store_true", help="no `dagster asset materialize` export row"
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("EVENTSYNC_BENCH_PG_URL", PG_DEFAULT),
        help="a server where the bench may create database eventsync_bench",
    )
    p.add_argument(
        "--pg-db",
        default=PG_DB,
        help="database the bench (re)creates on --pg-url (another name: two runs share a server)",
    )
    p.add_argument("--backfill-days", type=int, default=365)
    p.add_argument("--events-per-day", type=int, default=20_000)
    p.add_argument("--skip-daemon", action="store_true", help="no backfill/re-sync section")
    p.add_argument(
        "--reuse-seed",
        action="store_true",
        help="daemon section: load the backfill's events once into --work/daemon-seed-*, "
        "copy them from there on later runs",
    )
    p.add_argument(
        "--backfill-only",
        action="store_true",
        help="daemon section: the backfill alone (no re-sync, no re-export); no report",
    )
    p.add_argument("--skip-erasure", action="store_true", help="no erasure section")
    p.add_argument("--skip-privacy", action="store_true", help="no privacy-latency section")
    p.add_argument("--timeout", type=float, default=1800, help="per backfill, seconds")
    p.add_argument("--skip-overhead", action="store_true", help="no per-run overhead section")
    p.add_argument("--skip-scale", action="store_true", help="no many-syncs section")
    p.add_argument("--scale-syncs", default="100,1000", help="sync counts of the scale section")
    p.add_argument("--drain", type=int, default=100, help="syncs drained for real (0: none)")
    p.add_argument("--skip-intraday", action="store_true", help="no hourly-syncs section")
    p.add_argument("--intraday-syncs", type=int, default=1000, help="hourly syncs of the tick")
    p.add_argument(
        "--intraday-drain", type=int, default=100, help="hourly syncs drained (x events/day)"
    )
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "eventsync-bench")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = p.parse_args()
    if args.pandas_runs is None:
        args.pandas_runs = args.runs if args.rows <= 1_000_000 else 1
    variants = tuple(v.strip() for v in args.variants.split(",") if v.strip())
    unknown = set(variants) - set(EXPORT_VARIANTS)
    if unknown:
        raise SystemExit(f"--variants: unknown {sorted(unknown)} (of {', '.join(EXPORT_VARIANTS)})")
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    exports = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "sqlite":
            url = f"sqlite:///{args.work / 'sqlite' / 'eventsync.db'}"
            shutil.rmtree(args.work / "sqlite", ignore_errors=True)
        elif backend == "postgresql":
            url = pg_store(args.pg_url, args.pg_db)
        else:
            raise SystemExit(f"--backends: unknown backend {backend!r} (sqlite, postgresql)")
        exports[backend] = export_bench(
            backend,
            url,
            args.rows,
            args.runs,
            args.pandas_runs,
            args.work,
            variants,
            dagster=not args.skip_dagster,
        )
    daemon = None
    if not args.skip_daemon:
        daemon = daemon_bench(
            args.work,
            args.backfill_days,
            args.events_per_day,
            args.timeout,
            reuse_seed=args.reuse_seed,
            backfill_only=args.backfill_only,
        )
        if args.backfill_only:
            return
    args.erasure_result = None
    if not args.skip_erasure:
        home = args.work / "erasure"
        url = f"sqlite:///{home / 'eventsync.db'}"
        args.erasure_result = erasure_bench(
            args.work, args.backfill_days, args.events_per_day, child_env(home, url)
        )
        log(f"erasure: {args.erasure_result}")
    args.overhead_result = None
    if not args.skip_overhead:
        from bench.overhead import measure as overhead_measure

        args.overhead_result = overhead_measure(args.work / "overhead", 5)
        log("overhead: measured")
    args.scale_result = None
    if not args.skip_scale:
        import bench.scale as scale

        counts = [int(n) for n in args.scale_syncs.split(",") if n]
        results = [scale.measure(n, args.pg_url, 1, args.work / "scale") for n in counts]
        drained = [
            scale.drain(args.drain, args.events_per_day, k, args.pg_url, args.work / "scale")
            for k in ((1, 50) if args.drain else ())
        ]
        args.scale_result = (results, drained)
        log(f"scale: {results} {drained}")
    args.intraday_result = None
    if not args.skip_intraday:
        args.intraday_result = intraday_bench(
            args.intraday_syncs, args.intraday_drain, args.events_per_day, None
        )
        log(f"intraday: {args.intraday_result}")
    args.privacy_result = None
    if not args.skip_privacy:
        args.privacy_result = privacy_latency(args.work)
        log(f"privacy latency: {args.privacy_result}")
    text = report(args, exports, daemon, time.perf_counter() - started)
    args.out.write_text(text)
    log(f"wrote {args.out}")
    print(text)


if __name__ == "__main__":
    main()
